"""Per-layer performance of a network on a hardware configuration (and optionally a board).

``estimate`` lowers the graph (:mod:`hwcnn.compiler`), gives every tile its exact cycle count
(:mod:`hwcnn.arch.timing`, the closed form the RTL is measured against), runs the double-buffered
DRAM model over the whole program (:mod:`hwcnn.machine.memsim`) and sums per layer:

* ``compute`` = array/pool-unit cycles of the layer's tiles, ``stall`` = cycles the units wait
  for DRAM (memsim: loads not hidden by compute, and the write-back of the layer's output
  that the next layer waits for), ``total = compute + stall``; latency = total / clock;
* utilization = ideal MAC cycles / actual = ``MACs / (R * C) / total`` (GEMM layers only);
* DRAM bytes read + written, on-chip buffer peak, and the roofline bound (compute if the
  layer's compute cycles cover its DRAM transfer time, else memory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..arch.config import HardwareConfig
from ..boards.profiles import Board
from ..compiler.lowering import Program, Unit, lower
from ..frontend import layers as L
from ..machine import memsim


@dataclass(frozen=True, slots=True)
class PerfColumn:
    """A performance column: ``key`` (JSON/CSV), ``header`` (tables) and ``unit``."""

    key: str
    header: str
    unit: str


#: The per-layer performance columns, in report order (fixed).
COLUMNS: tuple[PerfColumn, ...] = (
    PerfColumn("unit", "unit", ""),
    PerfColumn("tiles", "tiles", "count"),
    PerfColumn("compute_cycles", "compute cyc", "cycles"),
    PerfColumn("stall_cycles", "stall cyc", "cycles"),
    PerfColumn("total_cycles", "total cyc", "cycles"),
    PerfColumn("latency_us", "latency us", "us"),
    PerfColumn("utilization", "util %", "%"),
    PerfColumn("dram_bytes", "DRAM bytes", "bytes"),
    PerfColumn("buffer_peak_kib", "buf peak KiB", "KiB"),
    PerfColumn("bound", "bound", ""),
)


class _Timed:
    """Cycles -> latency, defined once for a layer row and for the totals."""

    __slots__ = ()
    compute_cycles: int
    stall_cycles: int
    clock_mhz: float

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def latency_us(self) -> float:
        return self.total_cycles / self.clock_mhz


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPerf(_Timed):
    """Performance of one layer (one row of the report)."""

    name: str
    kind: str
    unit: str
    note: str
    tiles: int
    macs: int
    compute_cycles: int
    stall_cycles: int
    dram_read: int
    dram_write: int
    buffer_peak: int
    pes: int
    clock_mhz: float
    bound: str
    intensity: float


    @property
    def dram_bytes(self) -> int:
        return self.dram_read + self.dram_write

    @property
    def utilization(self) -> float | None:
        """Ideal MAC cycles (MACs / PEs) over actual cycles; None for layers without MACs."""
        if not self.macs or not self.total_cycles:
            return None
        return self.macs / self.pes / self.total_cycles

    def values(self) -> dict[str, Any]:
        """Column key -> value (see :data:`COLUMNS`)."""
        util = self.utilization
        return {"unit": self.unit, "tiles": self.tiles, "compute_cycles": self.compute_cycles,
                "stall_cycles": self.stall_cycles, "total_cycles": self.total_cycles,
                "latency_us": round(self.latency_us, 3),
                "utilization": None if util is None else round(100 * util, 2),
                "dram_bytes": self.dram_bytes,
                "buffer_peak_kib": round(self.buffer_peak / 1024, 1), "bound": self.bound}


@dataclass(frozen=True, slots=True, kw_only=True)
class PerfTotals(_Timed):
    """Whole-network sums: end-to-end cycles, latency, frames per second."""

    tiles: int
    macs: int
    compute_cycles: int
    stall_cycles: int
    dram_bytes: int
    buffer_peak: int
    pes: int
    clock_mhz: float


    @property
    def fps(self) -> float:
        return 1e6 / self.latency_us if self.total_cycles else float("inf")

    @property
    def utilization(self) -> float:
        return self.macs / self.pes / self.total_cycles if self.total_cycles else 0.0

    def values(self) -> dict[str, Any]:
        return {"tiles": self.tiles, "compute_cycles": self.compute_cycles,
                "stall_cycles": self.stall_cycles, "total_cycles": self.total_cycles,
                "latency_us": round(self.latency_us, 3),
                "utilization": round(100 * self.utilization, 2), "dram_bytes": self.dram_bytes,
                "buffer_peak_kib": round(self.buffer_peak / 1024, 1)}


def barriers(g: nx.DiGraph, program: Program) -> np.ndarray:
    """Per tile of ``program``: whether it is the first tile of a layer that reads an earlier
    layer's output (not only the network input), whose loads wait for every earlier store
    (:func:`hwcnn.machine.memsim.simulate`'s ``barrier``; the compiled program's DRAM
    barrier)."""
    flags = []
    for plan in program.layers:
        if plan.tiles:
            preds = list(g.predecessors(plan.name)) if plan.name in g else []
            reads = any(not isinstance(g.nodes[p]["layer"], L.Input) for p in preds)
            flags.append(np.arange(plan.tiles) == 0 if reads else np.zeros(plan.tiles, bool))
    return np.concatenate([np.zeros(0, bool), *flags])


def barrier_reads(program: Program, reads: np.ndarray) -> np.ndarray:
    """Per tile: the bytes of its DRAM read that are its layer's input (what a barrier tile
    reads only after the stores; ``LayerPlan.first_input_read`` for a layer's first tile, all
    of the read otherwise)."""
    out = np.asarray(reads, dtype=np.int64).copy()
    pos = 0
    for plan in program.layers:
        if plan.tiles and plan.first_input_read >= 0:
            out[pos] = min(out[pos], plan.first_input_read)
        pos += plan.tiles
    return out


def estimate(g: nx.DiGraph, hw: HardwareConfig, board: Board | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[LayerPerf, ...]:
    """Per-layer performance rows of graph ``g`` on ``hw`` (checked against ``board``)."""
    return estimate_program(g, hw, board, progress)[0]


def estimate_program(g: nx.DiGraph, hw: HardwareConfig, board: Board | None = None,
                     progress: Callable[[int, int], None] | None = None
                     ) -> tuple[tuple[LayerPerf, ...], Program, memsim.Timeline]:
    """Like :func:`estimate`, also returning the tile program and its DRAM timeline."""
    if board is not None:
        board.check_fit(hw)
    program = lower(g, hw, progress)
    comp, rd, wr, dbl = program.arrays()
    bw = hw.memory.bytes_per_cycle
    bar = barriers(g, program)
    timeline = memsim.simulate(comp, rd, wr, bw, double_buffered=dbl, barrier=bar,
                               barrier_read=barrier_reads(program, rd),
                               load_min=program.load_floors())
    rows = []
    pos = 0
    pes = hw.array.pes
    for plan in program.layers:
        n = plan.tiles
        compute = int(plan.cycles.sum())
        stall = int(timeline.stall[pos:pos + n].sum() + timeline.drain[pos:pos + n].sum())
        read, write = int(plan.dram_read.sum()), int(plan.dram_write.sum())
        pos += n
        if plan.unit in (Unit.ARRAY, Unit.POOL) and n:
            roof = memsim.roofline(macs=plan.macs, dram_bytes=read + write,
                                   compute_cycles=compute, pes=pes, bytes_per_cycle=bw)
            bound, intensity = roof.bound, roof.intensity
        else:
            bound, intensity = "-", 0.0
        rows.append(LayerPerf(name=plan.name, kind=L.kind_name(plan.layer), unit=plan.unit,
                              note=plan.note, tiles=n, macs=plan.macs, compute_cycles=compute,
                              stall_cycles=stall, dram_read=read, dram_write=write,
                              buffer_peak=plan.buffer_peak, pes=pes, clock_mhz=hw.clock_mhz,
                              bound=bound, intensity=intensity))
    return tuple(rows), program, timeline


def totals(rows: tuple[LayerPerf, ...], hw: HardwareConfig) -> PerfTotals:
    """Sum the rows; ``total_cycles`` equals the program's end-to-end cycle count."""
    return PerfTotals(tiles=sum(r.tiles for r in rows), macs=sum(r.macs for r in rows),
                      compute_cycles=sum(r.compute_cycles for r in rows),
                      stall_cycles=sum(r.stall_cycles for r in rows),
                      dram_bytes=sum(r.dram_bytes for r in rows),
                      buffer_peak=max((r.buffer_peak for r in rows), default=0),
                      pes=hw.array.pes, clock_mhz=hw.clock_mhz)


def facts(hw: HardwareConfig, board: Board | None) -> dict[str, Any]:
    """Header facts of a performance report (configuration summary)."""
    a, m = hw.array, hw.memory
    out: dict[str, Any] = {
        "array": f"{a.rows}x{a.cols}", "dataflow": a.dataflow.value,
        **({"drain_rows": a.drain_rows} if a.drain_rows != 1 else {}),
        "clock_mhz": hw.clock_mhz,
        "dram_bytes_per_cycle": round(m.dram_bytes_per_cycle, 4),
        **({"port_bytes_per_cycle": round(m.port_bytes_per_cycle, 4)}
           if m.port_bytes_per_cycle is not None else {}),
        "buffers_kib": {"act": m.act_kib, "weight": m.weight_kib, "out": m.out_kib},
        "memory_words": {"param": m.param_words, "acc": m.acc_words},
    }
    if board is not None:
        out["board"] = board.id
        use = board.usage(hw)
        out["resources"] = (
            f"{use.multipliers}/{board.dsp_plan(a).available} {use.multiplier_type}, "
            f"{use.blocks:g}/{board.ram_blocks} {use.block}"
            + (f", {use.large_blocks}/{board.large_ram_blocks} {use.large}"
               if board.large_ram_blocks else "")
            + f", ~{use.luts}/{int(board.luts.value)} LUTs")
    return out


def report_rows(rows: tuple[LayerPerf, ...]) -> dict[str, Mapping[str, Any]]:
    """Layer name -> column values, for :func:`hwcnn.report.extend`."""
    return {r.name: r.values() for r in rows}


def report_columns() -> tuple[Any, ...]:
    """:data:`COLUMNS` as :class:`hwcnn.report.Column` records (header carries the unit)."""
    from .tables import Column

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if v < 1e5 else f"{v:,.0f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    return tuple(Column(c.key, c.header, fmt) for c in COLUMNS)


def extend_report(report: Any, rows: tuple[LayerPerf, ...], hw: HardwareConfig,
                  board: Board | None = None) -> Any:
    """Add the performance columns, totals (with FPS) and facts to a budget report.

    ``rows`` come from :func:`estimate` (computed once, so ``--plot`` can reuse them).
    """
    from .tables import extend

    tot = totals(rows, hw)
    return extend(report, report_columns(), report_rows(rows), {"total": tot.values()},
                  {**facts(hw, board), "fps": round(tot.fps, 2),
                   "latency_ms": round(tot.latency_us / 1000, 3)})
