"""Charts of a performance estimate: per-layer latency bars and a roofline (matplotlib, Agg).

Output is PNG or SVG chosen by the file suffix, written atomically, and reproducible: the same
estimate gives byte-identical files (no timestamps, fixed SVG id salt, no software tag).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence

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
    """Draw the two charts and return the file bytes (``fmt`` = ``png`` or ``svg``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    shown = [r for r in rows if r.tiles]
    with plt.rc_context({"svg.hashsalt": "hwcnn", "font.size": 8, "svg.fonttype": "path"}):
        fig = Figure(figsize=(max(8.0, 0.22 * len(shown) + 3), 8.0), dpi=100)
        ax1, ax2 = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
        x = range(len(shown))
        comp = [r.compute_cycles / r.clock_mhz for r in shown]
        stall = [r.stall_cycles / r.clock_mhz for r in shown]
        ax1.bar(x, comp, color="#3b75af", label="compute")
        ax1.bar(x, stall, bottom=comp, color="#ef8636", label="DRAM stall")
        ax1.set_xticks(list(x), [r.name for r in shown], rotation=90)
        ax1.set_ylabel("latency (us)")
        ax1.set_title(f"{title}: {tot.latency_us / 1000:.3f} ms, {tot.fps:.2f} FPS, "
                      f"utilization {100 * tot.utilization:.1f} %")
        ax1.legend(loc="upper right")
        ax1.margins(x=0.01)

        # Roofline in ops/cycle (ops = 2 x MACs): memory roof = intensity x bytes/cycle.
        gemm = [r for r in shown if r.macs and r.dram_bytes]
        lo = min([r.macs * 2 / r.dram_bytes for r in gemm] + [0.1]) / 2
        hi = max([r.macs * 2 / r.dram_bytes for r in gemm] + [peak_ops_per_cycle / bytes_per_cycle]) * 2
        ridge = peak_ops_per_cycle / bytes_per_cycle
        xs = [lo, ridge, hi]
        ax2.plot(xs, [min(v * bytes_per_cycle, peak_ops_per_cycle) for v in xs], color="black",
                 label=f"roof: {peak_ops_per_cycle:g} ops/cycle, {bytes_per_cycle:.3g} B/cycle")
        for r in gemm:
            attained = 2 * r.macs / r.total_cycles
            ax2.scatter([2 * r.macs / r.dram_bytes], [attained], s=12,
                        color="#3b75af" if r.bound == "compute" else "#ef8636")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlabel("operational intensity (ops / DRAM byte)")
        ax2.set_ylabel("attained ops / cycle")
        ax2.legend(loc="lower right")
        ax2.grid(True, which="both", linewidth=0.3)
        fig.tight_layout()
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
               bytes_per_cycle=hw.memory.dram_bytes_per_cycle)
