"""Charts of a performance estimate: per-layer latency bars, per-layer array utilization and a
roofline with every layer labelled (matplotlib, Agg).

Output is PNG or SVG chosen by the file suffix, written atomically, and reproducible: the same
estimate gives byte-identical files (no timestamps, fixed SVG id salt, no software tag).
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Sequence
from typing import Any

from ..arch.config import HardwareConfig
from ..boards.profiles import Board
from ..errors import ConfigError
from ..fileio import is_descriptor, write_bytes_atomic
from .perf import LayerPerf, PerfTotals, totals

FORMATS = {".png": "png", ".svg": "svg"}


def check_path(path: str | os.PathLike[str]) -> str:
    """The image format of ``path`` from its suffix; ConfigError unless .png or .svg.

    A stream (``-``, ``/dev/stdout``, a character device or FIFO) without one of those suffixes
    gets PNG.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS and _is_stream(path):
        return "png"
    if ext not in FORMATS:
        raise ConfigError(f"plot file {os.fspath(path)!r} must end in .png or .svg")
    return FORMATS[ext]


#: (unit, microseconds per unit): the latency axis uses the largest unit the bars reach
_TIME_UNITS = (("s", 1e6), ("ms", 1e3), ("us", 1.0))


def time_unit(max_us: float) -> tuple[str, float]:
    """The unit a latency axis reaching ``max_us`` microseconds is labelled in.

    >>> time_unit(850.0), time_unit(4_396_270.0), time_unit(12_000.0)
    (('us', 1.0), ('s', 1000000.0), ('ms', 1000.0))
    """
    for unit, scale in _TIME_UNITS:
        if max_us >= scale:
            return unit, scale
    return "us", 1.0


def figure(rows: Sequence[LayerPerf], tot: PerfTotals, *, title: str,
           peak_ops_per_cycle: float, bytes_per_cycle: float) -> Any:
    """The matplotlib Figure: per-layer latency bars (compute + DRAM stall), per-layer array
    utilization, and a roofline whose points are labelled with the layer names."""
    from matplotlib.figure import Figure

    shown = [r for r in rows if r.tiles]
    n = len(shown)
    fig = Figure(figsize=(max(8.0, 0.22 * n + 3), 11.0), dpi=100)
    ax1, ax3, ax2 = fig.subplots(3, 1, gridspec_kw={"height_ratios": [3, 2, 3]})
    x = list(range(n))
    comp_us = [r.compute_cycles / r.clock_mhz for r in shown]
    stall_us = [r.stall_cycles / r.clock_mhz for r in shown]
    top_us = max([c + s for c, s in zip(comp_us, stall_us, strict=True)] + [0.0])
    unit, scale = time_unit(top_us)
    comp = [v / scale for v in comp_us]
    stall = [v / scale for v in stall_us]
    ax1.bar(x, comp, color="#3b75af", label="compute")
    ax1.bar(x, stall, bottom=comp, color="#ef8636", label="DRAM stall")
    ax1.set_xticks(x, [r.name for r in shown], rotation=90)
    ax1.set_ylabel(f"latency ({unit})")
    ax1.set_title(f"{title}: {tot.latency_us / 1000:.3f} ms, {tot.fps:.2f} FPS, "
                  f"utilization {100 * tot.utilization:.1f} %")
    ax1.legend(loc="upper right")
    # no bar touches the frame: half a bar of room at the sides, 12 % above the tallest
    ax1.set_xlim(-0.9, n - 0.1)
    ax1.set_ylim(0, (top_us / scale) * 1.12 or 1.0)

    util = [100 * (r.utilization or 0.0) for r in shown]
    ax3.bar(x, util, color="#5a9e6f")
    ax3.set_xticks(x, [r.name for r in shown], rotation=90)
    ax3.set_ylabel("array utilization (%)")
    ax3.set_xlim(-0.9, n - 0.1)
    ax3.set_ylim(0, 112)
    ax3.axhline(100, color="black", linewidth=0.5)

    # Roofline in ops/cycle (ops = 2 x MACs): memory roof = intensity x bytes/cycle.
    gemm = [r for r in shown if r.macs and r.dram_bytes]
    ridge = peak_ops_per_cycle / bytes_per_cycle
    lo = min([r.macs * 2 / r.dram_bytes for r in gemm] + [ridge]) / 2
    hi = max([r.macs * 2 / r.dram_bytes for r in gemm] + [ridge]) * 2
    xs = [lo, ridge, hi]
    ax2.plot(xs, [min(v * bytes_per_cycle, peak_ops_per_cycle) for v in xs], color="black",
             label=f"roof: {peak_ops_per_cycle:g} ops/cycle, {bytes_per_cycle:.3g} B/cycle")
    points: dict[tuple[float, float], list[LayerPerf]] = {}
    for r in gemm:   # layers of identical shape land on one point: label it once
        px, py = 2 * r.macs / r.dram_bytes, 2 * r.macs / r.total_cycles
        points.setdefault((round(math.log10(px), 2), round(math.log10(py), 2)), []).append(r)
    for same in points.values():
        r = same[0]
        px, py = 2 * r.macs / r.dram_bytes, 2 * r.macs / r.total_cycles
        ax2.scatter([px], [py], s=12, color="#3b75af" if r.bound == "compute" else "#ef8636")
        label = r.name if len(same) == 1 else f"{r.name} (+{len(same) - 1})"
        ax2.annotate(label, (px, py), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_ylim(top=peak_ops_per_cycle * 3)
    ax2.set_xlabel("operational intensity (ops / DRAM byte)")
    ax2.set_ylabel("attained ops / cycle")
    ax2.legend(loc="lower right")
    ax2.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    return fig
def _is_stream(path: str | os.PathLike[str]) -> bool:
    if is_descriptor(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def render(rows: Sequence[LayerPerf], tot: PerfTotals, *, title: str, fmt: str,
           peak_ops_per_cycle: float, bytes_per_cycle: float) -> bytes:
    """Draw the charts and return the file bytes (``fmt`` = ``png`` or ``svg``; SVG keeps its
    text as text, so labels stay searchable and editable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"svg.hashsalt": "hwcnn", "font.size": 8, "svg.fonttype": "none"}):
        fig = figure(rows, tot, title=title, peak_ops_per_cycle=peak_ops_per_cycle,
                     bytes_per_cycle=bytes_per_cycle)
        buf = io.BytesIO()
        meta = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def write_plot(path: str | os.PathLike[str], rows: Sequence[LayerPerf], tot: PerfTotals, *,
               title: str, peak_ops_per_cycle: float, bytes_per_cycle: float) -> None:
    """Render and write atomically (no partial file if anything fails)."""
    fmt = check_path(path)
    data = render(rows, tot, title=title, fmt=fmt, peak_ops_per_cycle=peak_ops_per_cycle,
                  bytes_per_cycle=bytes_per_cycle)
    write_bytes_atomic(path, data)


def plot_estimate(path: str | os.PathLike[str], rows: Sequence[LayerPerf], hw: HardwareConfig,
                  board: Board | None, model: str) -> None:
    """:func:`write_plot` with the title and roofs taken from the configuration."""
    a = hw.array
    where = f" on {board.id}" if board else ""
    title = f"{model}{where}, {a.rows}x{a.cols} {a.dataflow.value.upper()} @ {hw.clock_mhz:g} MHz"
    write_plot(path, rows, totals(tuple(rows), hw), title=title, peak_ops_per_cycle=2.0 * a.pes,
               bytes_per_cycle=hw.memory.bytes_per_cycle)
