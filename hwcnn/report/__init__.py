"""Stage 7, reports: per-layer budget tables, performance, worked explanations and plots.

:mod:`.tables` renders the budget report (table, CSV, JSON, Markdown); :mod:`.perf` adds tiles,
cycles, latency and DRAM traffic on a hardware configuration or board; :mod:`.explanation` works
each number out lecture style; :mod:`.plot` draws latency bars and the roofline (matplotlib is
imported only when a plot is drawn).
"""

from .explanation import explain, explain_layer
from .perf import LayerPerf, PerfTotals, estimate, estimate_program, extend_report, totals
from .plot import plot_estimate, write_plot
from .tables import FORMATS, Column, Report, budget_report, extend, render

__all__ = [
    "FORMATS", "Column", "LayerPerf", "PerfTotals", "Report", "budget_report", "estimate",
    "estimate_program", "explain", "explain_layer", "extend", "extend_report", "plot_estimate",
    "render", "totals", "write_plot",
]
