"""Pareto fronts over named objectives of sweep results.

A row dominates another when it is no worse in every objective and better in at least one;
the front is the set of rows no other row dominates. Objectives are minimized except those
whose direction is ``max`` in :data:`OBJECTIVES`.

>>> rows = [{"latency_ms": 1.0, "dsp": 64}, {"latency_ms": 2.0, "dsp": 16},
...         {"latency_ms": 2.0, "dsp": 64}, {"latency_ms": 0.5, "dsp": 256}]
>>> front(rows, ("latency", "dsp"))
[0, 1, 3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

#: objective name -> (results column, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "latency": ("latency_ms", "min"),
    "cycles": ("cycles", "min"),
    "dsp": ("dsp", "min"),
    "bram": ("bram_kib", "min"),
    "energy": ("energy_uj", "min"),
    "dram": ("dram_bytes", "min"),
    "utilization": ("utilization_pct", "max"),
    "fps": ("fps", "max"),
}


def parse_objectives(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    if len(names) < 2:
        raise ConfigError(f"--pareto needs at least two objectives (e.g. latency,dsp), "
                          f"not {text!r}")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ConfigError(f"--pareto: unknown objective {unknown[0]!r}; known: "
                          f"{', '.join(OBJECTIVES)}")
    return names


def front(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[int]:
    """Indices (ascending) of the rows on the Pareto front; rows lacking an objective's value
    (e.g. energy under SCALE-Sim timing) take no part."""
    cols = [OBJECTIVES[o] for o in objectives]
    usable = [i for i, r in enumerate(rows) if all(r.get(c) is not None for c, _ in cols)]
    if not usable:
        return []
    v = np.array([[float(rows[i][c]) * (-1.0 if d == "max" else 1.0) for c, d in cols]
                  for i in usable])
    keep = []
    for j in range(len(usable)):
        no_worse = (v <= v[j]).all(axis=1)
        better = (v < v[j]).any(axis=1)
        if not (no_worse & better).any():
            keep.append(usable[j])
    return keep


def fronts_by_model(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[int]:
    """:func:`front` of each model's rows (models are not alternatives to each other)."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(str(r["model"]), []).append(i)
    keep = [idx[j] for idx in groups.values() for j in front([rows[i] for i in idx], objectives)]
    return sorted(keep)
