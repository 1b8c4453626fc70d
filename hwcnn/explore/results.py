"""Sweep results files: fixed columns, CSV (default) or Parquet (the ``parquet`` extra), and
reading a previous file back so that a resumed sweep skips the points it already holds.

Both formats are written atomically and reproducibly (rows in the sweep's order, then any
earlier rows this sweep does not cover, in their file order; floats rounded at evaluation).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..fileio import write_bytes_atomic
from .space import KEY_COLUMNS

#: Metric columns after the key columns: (name, type, meaning).
METRICS: tuple[tuple[str, type, str], ...] = (
    ("macs", int, "multiply-accumulates"),
    ("cycles", int, ("end-to-end cycles (native: compute + DRAM stalls; scalesim: compute; "
                    "machine: start to done of the compiled program)")),
    ("compute_cycles", int, "array and pool-unit cycles"),
    ("stall_cycles", int, "cycles waiting for DRAM (native timing)"),
    ("latency_ms", float, "cycles / clock"),
    ("fps", float, "frames per second"),
    ("utilization_pct", float, "MACs / (PEs x cycles)"),
    ("dram_bytes", int, "DRAM bytes read + written (native timing)"),
    ("dsp", int, "DSP multipliers the array needs on the board (PEs without a board)"),
    ("dsp_pct", float, "of the board's multipliers"),
    ("bram_kib", int, "on-chip buffers, activation + weight + output KiB"),
    ("bram_pct", float, "of the board's on-chip RAM"),
    ("energy_uj", float, "ESTIMATE, Horowitz 45 nm figures (hwcnn.report.energy)"),
    ("figure", str, ("where the cycles come from: native (the RTL's closed forms + memsim), "
                    "SCALE-Sim CALC, or the machine model's label (timing: machine)")),
    ("note", str, "why the configuration cannot run the model (metrics empty), else empty"),
)
COLUMNS: tuple[tuple[str, type], ...] = KEY_COLUMNS + tuple((n, t) for n, t, _ in METRICS)
LAYER_COLUMNS: tuple[tuple[str, type], ...] = KEY_COLUMNS + (
    ("layer", str), ("macs", int), ("cycles", int), ("scalesim_cycles", int),
    ("native_one_tile_cycles", int), ("native_minus_scalesim", int), ("why", str),
    ("dram_bytes", int), ("energy_uj", float),
)
FORMATS = (".csv", ".parquet")


def file_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"{path}: results file must end in .csv or .parquet")
    return ext[1:]


def key_of(row: Mapping[str, Any]) -> tuple[object, ...]:
    return tuple(row[name] for name, _ in KEY_COLUMNS)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_csv(rows: Iterable[Mapping[str, Any]],
           columns: Sequence[tuple[str, type]] = COLUMNS) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([n for n, _ in columns])
    for r in rows:
        w.writerow([_cell(r.get(n)) for n, _ in columns])
    return buf.getvalue().encode("utf-8")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError("Parquet output needs pyarrow: pip install 'hwcnn[parquet]' "
                          "(or write .csv)") from None
    return pyarrow


def to_parquet(rows: Sequence[Mapping[str, Any]],
               columns: Sequence[tuple[str, type]] = COLUMNS) -> bytes:
    pa = _pyarrow()
    kinds = {int: pa.int64(), float: pa.float64(), str: pa.string()}
    schema = pa.schema([(n, kinds[t]) for n, t in columns])
    table = pa.Table.from_pylist([{n: r.get(n) for n, _ in columns} for r in rows],
                                 schema=schema)
    sink = pa.BufferOutputStream()
    pa.parquet.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def write(path: str, rows: Sequence[Mapping[str, Any]],
          columns: Sequence[tuple[str, type]] = COLUMNS) -> None:
    data = to_parquet(rows, columns) if file_format(path) == "parquet" else to_csv(rows, columns)
    write_bytes_atomic(path, data)


def _typed(path: str, raw: Mapping[str, Any], columns: Sequence[tuple[str, type]]
           ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in columns:
        v = raw.get(name)
        if v is None or v == "":
            out[name] = "" if typ is str else None
            continue
        try:
            out[name] = typ(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: column {name}: {v!r} is not a {typ.__name__}; "
                              "not a hwcnn sweep results file") from None
    return out


def read(path: str, columns: Sequence[tuple[str, type]] = COLUMNS) -> list[dict[str, Any]]:
    """Rows of an existing results file ([] if there is none)."""
    if not os.path.exists(path):
        return []
    names = [n for n, _ in columns]
    if file_format(path) == "parquet":
        pa = _pyarrow()
        try:
            table = pa.parquet.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ConfigError(f"{path}: not a Parquet file: {exc}") from None
        if table.column_names != names:
            raise ConfigError(f"{path}: columns differ from a hwcnn sweep's; "
                              "write the results to another file")
        raw_rows: list[dict[str, Any]] = table.to_pylist()
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != names:
                raise ConfigError(f"{path}: columns differ from a hwcnn sweep's; "
                                  "write the results to another file")
            raw_rows = list(reader)
    return [_typed(path, r, columns) for r in raw_rows]


def merge(ordered_keys: Sequence[tuple[object, ...]],
          new: Mapping[tuple[object, ...], list[dict[str, Any]]],
          old: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """This sweep's rows in point order (new, or kept from ``old``), then the old rows of
    points outside the sweep. ``new`` maps a point key to its rows (one results row, or the
    point's layer rows)."""
    old_by_key: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for r in old:
        old_by_key.setdefault(key_of(r), []).append(r)
    wanted = set(ordered_keys)
    rows: list[dict[str, Any]] = []
    for k in ordered_keys:
        rows += new[k] if k in new else old_by_key.get(k, [])
    rows += [r for r in old if key_of(r) not in wanted]
    return rows
