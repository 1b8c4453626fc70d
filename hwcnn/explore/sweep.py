"""A whole sweep: expand the axes, drop points that do not fit their board, skip the points an
earlier results file already holds (resume), evaluate the rest on an engine, and write the
results (with checkpoints, so an interrupted sweep resumes where it stopped).

Sweep files are YAML mappings with the command line's axes::

    models: [models/resnet50.yaml, models/vgg16.yaml]
    boards: [zcu104, kv260]
    array: 8..64
    dataflow: [ws, os]
    buffers: [128, "64:256:64"]
    bandwidth: [4.8, 9.6]
    timing: native
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ConfigError
from . import engine as eng
from . import results
from .evaluate import ModelSource, fit_error, operand_bits
from .space import Axes, Point, expand

#: keys of a sweep file
FILE_KEYS = ("models", "boards", "array", "dataflow", "buffers", "bandwidth", "timing",
             "clock_mhz")


def read_sweep_file(path: str) -> dict[str, Any]:
    """The axes of a YAML sweep file (values as on the command line)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read sweep file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not a YAML sweep file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping of axes ({', '.join(FILE_KEYS)})")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(FILE_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("timing", "clock_mhz"):
            out[key] = value
            continue
        items = value if isinstance(value, list) else [value]
        if not items or any(v is None or isinstance(v, (dict, list, bool)) for v in items):
            raise ConfigError(f"{path}: {key} must be a value or a list of values")
        out[key] = [str(v) for v in items]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepOutcome:
    """What a sweep did: its rows (point order), what was computed, reused and skipped."""

    rows: tuple[dict[str, Any], ...]
    layer_rows: tuple[dict[str, Any], ...]
    computed: int
    reused: int
    skipped: tuple[tuple[Point, str], ...]


def feasible(models: Mapping[str, ModelSource], axes: Axes
             ) -> tuple[list[Point], list[tuple[Point, str]]]:
    """Points that fit their boards, and (point, reason) for those that do not."""
    bits = {label: operand_bits(src) for label, src in models.items()}
    points = expand(axes, bits)
    keep, skipped = [], []
    for p in points:
        why = fit_error(models[p.model], p)
        if why is None:
            keep.append(p)
        else:
            skipped.append((p, why))
    if not keep:
        first = skipped[0] if skipped else None
        detail = f" (e.g. {first[0].board} {first[0].array}: {first[1]})" if first else ""
        raise ConfigError(f"no point of the sweep fits its board{detail}")
    return keep, skipped


def run_sweep(models: Mapping[str, ModelSource], axes: Axes, *, output: str | None = None,
              layers_output: str | None = None, engine: str = "auto",
              scheduler: str | None = None, workers: int | None = None,
              processes: bool = True, batch_size: int | None = None,
              energy_node: str = "45nm", progress: Callable[[int, int], None] | None = None,
              checkpoint_s: float = 10.0) -> SweepOutcome:
    """Run the sweep of ``axes`` over ``models`` (see module docstring)."""
    if output is not None:
        results.file_format(output)
    if layers_output is not None:
        results.file_format(layers_output)
        if layers_output == output:
            raise ConfigError("--per-layer needs a file of its own, not the results file")
    points, skipped = feasible(models, axes)
    old = results.read(output) if output else []
    old_layers = results.read(layers_output, results.LAYER_COLUMNS) if layers_output else []
    have = {results.key_of(r) for r in old}
    if layers_output:
        have &= {results.key_of(r) for r in old_layers}
    todo = [p for p in points if p.key not in have]
    keys = [p.key for p in points]
    new: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    new_layers: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    last = [time.monotonic()]

    def save() -> None:
        if output:
            results.write(output, results.merge(keys, new, old))
        if layers_output:
            results.write(layers_output, results.merge(keys, new_layers, old_layers),
                          results.LAYER_COLUMNS)

    def on_batch(done: list[tuple[Point, eng.Result]]) -> None:
        for p, (row, layer_rows) in done:
            new[p.key] = [row]
            new_layers[p.key] = layer_rows
        if progress is not None:
            progress(len(points) - len(todo) + len(new), len(points))
        if checkpoint_s and time.monotonic() - last[0] > checkpoint_s and new:
            save()
            last[0] = time.monotonic()

    if progress is not None:
        progress(len(points) - len(todo), len(points))
    if todo:
        try:
            eng.run(models, todo, engine=engine, scheduler=scheduler, workers=workers,
                    processes=processes, batch_size=batch_size, layers=bool(layers_output),
                    energy_node=energy_node, on_batch=on_batch)
        except BaseException:
            if new:  # keep what was finished: a resumed run skips it
                save()
            raise
    save()
    rows = results.merge(keys, new, old)[:len(points)]
    layer_rows = [r for r in results.merge(keys, new_layers, old_layers)
                  if results.key_of(r) in set(keys)]
    return SweepOutcome(rows=tuple(rows), layer_rows=tuple(layer_rows), computed=len(todo),
                        reused=len(points) - len(todo), skipped=tuple(skipped))


__all__ = ["FILE_KEYS", "SweepOutcome", "feasible", "read_sweep_file", "run_sweep"]

