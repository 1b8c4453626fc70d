"""``hwcnn plot``: per-layer latency bars and a roofline chart of a network on a board."""

from __future__ import annotations

import click

from ...report import perf
from ...report.plot import check_path, plot_estimate
from ..options import hardware_for_spec, hardware_options, progress_bar
from .common import OUTPUT_FILE, OUTPUT_HELP, load_graph, model_argument, strict_option, wrote


@click.command()
@model_argument
@hardware_options()
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help="Chart file (.png or .svg; PNG to a device, FIFO or '-'); " + OUTPUT_HELP)
@strict_option
def plot(model: str, output: str, strict: bool | None, **hw_opts: str | None) -> None:
    """Draw per-layer latency (compute + DRAM stall) and a roofline for MODEL.yaml."""
    check_path(output)  # fail before the estimate, not after
    g = load_graph(model, strict)
    hw, board = hardware_for_spec(g, **hw_opts)
    with progress_bar("estimating") as progress:
        rows = perf.estimate(g, hw, board, progress)
    plot_estimate(output, rows, hw, board, g.graph["spec"].name)
    wrote(output)
