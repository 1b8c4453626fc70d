"""The design space of a sweep: axes (models, boards, arrays, dataflows, buffers, bandwidths)
and their cross product as concrete, hashable :class:`Point` records.

Axis values are written as on the command line or in a YAML sweep file:

* arrays: ``16`` (16x16), ``8x32``, or ``8..128`` (every doubling from 8 to 128: 8, 16, ...);
* dataflows: ``ws``, ``os``, ``os2`` (output stationary with two drain rows), ``is`` (input
  stationary only with ``timing: scalesim``);
* buffers (KiB): ``64`` (all three), ``32:128:64`` (activation:weight:output), or ``32..256``;
* bandwidths: GB/s (default: the board's peak, or 1.6 GB/s without a board);
* boards: board ids; none = a generic configuration at ``clock_mhz`` (default 100 MHz).

Every point is resolved here, with the same defaults as ``hwcnn report --board``: the board's
clock, peak bandwidth, buffer split and largest square array when an axis is not given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..arch.config import ArrayConfig, MemoryConfig
from ..boards.profiles import Board, get_board
from ..errors import ConfigError

DEFAULT_ARRAY = (16, 16)
DEFAULT_CLOCK_MHZ = 100.0
TIMINGS = ("native", "scalesim", "machine")
#: ``os2``: output stationary with two drain rows per cycle (``ArrayConfig.drain_rows = 2``)
DATAFLOWS = ("ws", "os", "os2", "is")


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One configuration of the sweep (every field resolved)."""

    model: str
    board: str
    rows: int
    cols: int
    dataflow: str
    act_kib: int
    weight_kib: int
    out_kib: int
    bandwidth_gbps: float
    clock_mhz: float
    timing: str

    @property
    def key(self) -> tuple[object, ...]:
        return (self.model, self.board, self.rows, self.cols, self.dataflow, self.act_kib,
                self.weight_kib, self.out_kib, self.bandwidth_gbps, self.clock_mhz, self.timing)

    @property
    def array(self) -> str:
        return f"{self.rows}x{self.cols}"


#: Names and types of the point fields, in :attr:`Point.key` order (the results' key columns).
KEY_COLUMNS: tuple[tuple[str, type], ...] = (
    ("model", str), ("board", str), ("rows", int), ("cols", int), ("dataflow", str),
    ("act_kib", int), ("weight_kib", int), ("out_kib", int), ("bandwidth_gbps", float),
    ("clock_mhz", float), ("timing", str),
)


def _doubling(lo: int, hi: int, what: str, text: str) -> list[int]:
    if lo < 1 or hi < lo:
        raise ConfigError(f"{what}: range {text!r} must go from a positive value up")
    out, v = [], lo
    while v <= hi:
        out.append(v)
        v *= 2
    return out


def split_items(values: Iterable[object]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return out


def parse_arrays(values: Iterable[object]) -> list[tuple[int, int]]:
    """``["8,16x32", "64..128"]`` -> ``[(8, 8), (16, 32), (64, 64), (128, 128)]``."""
    out: list[tuple[int, int]] = []
    for item in split_items(values):
        if m := re.fullmatch(r"(\d+)\.\.(\d+)", item):
            out += [(v, v) for v in _doubling(int(m[1]), int(m[2]), "--array", item)]
        elif m := re.fullmatch(r"(\d+)(?:[xX](\d+))?", item):
            r, c = int(m[1]), int(m[2] or m[1])
            if r < 1 or c < 1:
                raise ConfigError(f"--array: {item!r} needs at least one row and one column")
            out.append((r, c))
        else:
            raise ConfigError(f"--array: {item!r} is not N, RxC or A..B")
    return list(dict.fromkeys(out))


def parse_buffers(values: Iterable[object]) -> list[tuple[int, int, int]]:
    """``["64", "32:128:64", "16..32"]`` -> KiB triples (activation, weight, output)."""
    out: list[tuple[int, int, int]] = []
    for item in split_items(values):
        if m := re.fullmatch(r"(\d+)\.\.(\d+)", item):
            out += [(v, v, v) for v in _doubling(int(m[1]), int(m[2]), "--buffers", item)]
        elif re.fullmatch(r"\d+(:\d+:\d+)?", item):
            parts = [int(p) for p in item.split(":")]
            a, w, o = parts * 3 if len(parts) == 1 else parts
            if min(a, w, o) < 1:
                raise ConfigError(f"--buffers: {item!r} must be at least 1 KiB each")
            out.append((a, w, o))
        else:
            raise ConfigError(f"--buffers: {item!r} is not KIB, ACT:WEIGHT:OUT or A..B")
    return list(dict.fromkeys(out))


def parse_dataflows(values: Iterable[object]) -> list[str]:
    out = []
    for item in split_items(values):
        if item.lower() not in DATAFLOWS:
            raise ConfigError(f"--dataflow: {item!r} is not ws, os, os2 or is")
        out.append(item.lower())
    return list(dict.fromkeys(out))


def parse_floats(values: Iterable[object], what: str) -> list[float]:
    out = []
    for item in split_items(values):
        try:
            v = float(item)
        except ValueError:
            raise ConfigError(f"{what}: {item!r} is not a number") from None
        if not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{what}: {item!r} must be a positive number")
        out.append(v)
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True, kw_only=True)
class Axes:
    """The sweep's axes; an empty tuple means "the default" (see module docstring), except for
    ``models`` which must not be empty. ``configs`` are fixed (array, dataflow, buffers,
    bytes per cycle or None) tuples from SCALE-Sim ``.cfg`` files, used instead of the array,
    dataflow and buffer axes (None: the bandwidth axis or its default)."""

    models: tuple[str, ...]
    boards: tuple[str, ...] = ()
    arrays: tuple[tuple[int, int], ...] = ()
    dataflows: tuple[str, ...] = ()
    buffers: tuple[tuple[int, int, int], ...] = ()
    bandwidths: tuple[float, ...] = ()
    configs: tuple[tuple[tuple[int, int], str, tuple[int, int, int], float | None], ...] = ()
    clock_mhz: float | None = None
    timing: str = "native"


def expand(axes: Axes, bits: Mapping[str, tuple[int, int]] | None = None) -> list[Point]:
    """The cross product, in a fixed order (models, boards, arrays, dataflows, buffers,
    bandwidths). ``bits`` gives a model's (activation, weight) widths for the board's default
    array (default 8, 8). Contradictory axes raise :class:`ConfigError`."""
    if not axes.models:
        raise ConfigError("the sweep has no models")
    if len(set(axes.models)) != len(axes.models):
        raise ConfigError("the sweep names a model twice")
    if axes.timing not in TIMINGS:
        raise ConfigError(f"--timing must be native, scalesim or machine, not {axes.timing!r}")
    if axes.configs and (axes.arrays or axes.dataflows or axes.buffers):
        raise ConfigError("--scalesim-config fixes the array, dataflow and buffers: do not also "
                          "give --array, --dataflow or --buffers")
    flows = list(axes.dataflows) or ["ws"]
    if axes.timing != "scalesim" and "is" in flows + [c[1] for c in axes.configs]:
        raise ConfigError("the input-stationary dataflow exists only in SCALE-Sim's timing: add "
                          "--timing scalesim or drop 'is'")
    if axes.timing == "scalesim" and "os2" in flows:
        raise ConfigError("SCALE-Sim has no two-drain-row output stationary: drop 'os2' or use "
                          "--timing native or machine")
    boards: Sequence[Board | None] = [get_board(b) for b in axes.boards] or [None]
    if len({b.id for b in boards if b is not None}) != len([b for b in boards if b]):
        raise ConfigError("the sweep names a board twice")
    points: list[Point] = []
    for model in axes.models:
        for board in boards:
            clock = axes.clock_mhz or (board.clock_mhz.value if board else DEFAULT_CLOCK_MHZ)
            if board is not None:
                side = board.max_square_array(*(bits or {}).get(model, (8, 8)))
                default_array, default_buf = (side, side), None   # per array, below
                peak = board.dram_gbps.value
            else:
                m = MemoryConfig()
                default_array, default_buf = DEFAULT_ARRAY, (m.act_kib, m.weight_kib, m.out_kib)
                peak = m.dram_bytes_per_cycle * DEFAULT_CLOCK_MHZ / 1000.0
            if axes.configs:
                combos = [(arr, df, buf, bw) for arr, df, buf, bw in axes.configs]
            else:
                combos = [(arr, df, buf, None) for arr in (axes.arrays or [default_array])
                          for df in flows
                          for buf in (axes.buffers or [default_buf or _board_buffers(
                              board, arr, (bits or {}).get(model, (8, 8)))])]
            for arr, df, buf, cfg_bw in combos:
                # a SCALE-Sim USER bandwidth is bytes per cycle at this point's clock
                bws = [cfg_bw * clock / 1000.0] if cfg_bw is not None else \
                    (list(axes.bandwidths) or [peak])
                for bw in bws:
                    points.append(Point(model=model, board=board.id if board else "",
                                        rows=arr[0], cols=arr[1], dataflow=df, act_kib=buf[0],
                                        weight_kib=buf[1], out_kib=buf[2],
                                        bandwidth_gbps=float(bw), clock_mhz=float(clock),
                                        timing=axes.timing))
    return list(dict.fromkeys(points))


def _board_buffers(board: Board | None, arr: tuple[int, int],
                   bits: tuple[int, int]) -> tuple[int, int, int]:
    """The board's default buffer KiB for this array (as ``hwcnn report --board`` sizes them)."""
    assert board is not None
    return board.default_buffer_kib(ArrayConfig(rows=arr[0], cols=arr[1], act_bits=bits[0],
                                                weight_bits=bits[1]))
