"""Sweep charts: the two Pareto objectives as a scatter with the front labelled, and a heat map
of utilization by array size and dataflow (matplotlib, imported only when drawing; the file
bytes are reproducible, as in :mod:`hwcnn.report.plot`)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..fileio import write_bytes_atomic
from ..report.plot import check_path
from .pareto import OBJECTIVES, fronts_by_model


def _label(r: Mapping[str, Any]) -> str:
    board = f" {r['board']}" if r["board"] else ""
    return (f"{r['model']}{board} {r['rows']}x{r['cols']} {r['dataflow']} "
            f"{r['act_kib']}/{r['weight_kib']}/{r['out_kib']}K {r['bandwidth_gbps']:g}GB/s")


def render(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str], fmt: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    (xc, _), (yc, _) = OBJECTIVES[objectives[0]], OBJECTIVES[objectives[1]]
    pts = [r for r in rows if r.get(xc) is not None and r.get(yc) is not None]
    on = set(fronts_by_model(pts, objectives))
    arrays = sorted({(r["rows"], r["cols"]) for r in rows})
    flows = sorted({r["dataflow"] for r in rows})
    with plt.rc_context({"svg.hashsalt": "hwcnn", "font.size": 7, "svg.fonttype": "path"}):
        fig = Figure(figsize=(11.0, 5.0), dpi=100)
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        others = [r for i, r in enumerate(pts) if i not in on]
        ax1.scatter([r[xc] for r in others], [r[yc] for r in others], s=10, color="#9bb7d4",
                    label="configurations")
        best = sorted((pts[i] for i in on), key=lambda r: (r["model"], r[xc]))
        for n, model in enumerate(dict.fromkeys(r["model"] for r in best)):
            ours = [r for r in best if r["model"] == model]
            ax1.plot([r[xc] for r in ours], [r[yc] for r in ours], "o-", markersize=4,
                     label=f"Pareto front, {model} ({len(ours)})", color=f"C{n + 3}")
        for r in best:
            ax1.annotate(_label(r), (r[xc], r[yc]), fontsize=5, xytext=(3, 3),
                         textcoords="offset points")
        ax1.set_xscale("log")
        ax1.set_yscale("log")
        ax1.set_xlabel(xc)
        ax1.set_ylabel(yc)
        ax1.grid(True, which="both", linewidth=0.3)
        ax1.legend(loc="upper right")
        grid: list[list[float]] = []
        for arr in arrays:
            line: list[float] = []
            for df in flows:
                u = [r["utilization_pct"] for r in rows
                     if (r["rows"], r["cols"]) == arr and r["dataflow"] == df
                     and r.get("utilization_pct") is not None]
                line.append(sum(u) / len(u) if u else float("nan"))
            grid.append(line)
        im = ax2.imshow(grid, cmap="viridis", aspect="auto", vmin=0, vmax=100)
        ax2.set_xticks(range(len(flows)), [f.upper() for f in flows])
        ax2.set_yticks(range(len(arrays)), [f"{r}x{c}" for r, c in arrays])
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                if not math.isnan(v):
                    ax2.text(j, i, f"{v:.1f}", ha="center", va="center", color="white")
        ax2.set_title("mean utilization % (over the other axes)")
        fig.colorbar(im, ax=ax2)
        fig.tight_layout()
        buf = io.BytesIO()
        meta = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def write_plot(path: str, rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> None:
    """Render and write atomically (``.png`` or ``.svg``)."""
    fmt = check_path(path)
    write_bytes_atomic(path, render(rows, objectives, fmt))
