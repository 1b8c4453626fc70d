"""``hwcnn plot``: per-layer latency bars and a roofline chart of a network on a board."""

from __future__ import annotations

import click

from .. import perf
from ..perf_cli import hardware_for_spec, hardware_options, progress_bar
from ..plot import check_path, write_plot
from .common import load_graph, model_argument, strict_option


@click.command()
@model_argument
@hardware_options()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Chart file (.png or .svg).")
@strict_option
def plot(model: str, output: str, strict: bool | None, **hw_opts: str | None) -> None:
    """Draw per-layer latency (compute + DRAM stall) and a roofline for MODEL.yaml."""
    check_path(output)  # fail before the estimate, not after
    g = load_graph(model, strict)
    hw, board = hardware_for_spec(g, **hw_opts)
    with progress_bar("estimating") as progress:
        rows = perf.estimate(g, hw, board, progress)
    tot = perf.totals(rows, hw)
    a = hw.array
    where = f" on {board.id}" if board else ""
    title = f"{g.graph['spec'].name}{where}, {a.rows}x{a.cols} {a.dataflow.value.upper()}"
    write_plot(output, rows, tot, title=title, peak_ops_per_cycle=2.0 * a.pes,
               bytes_per_cycle=hw.memory.dram_bytes_per_cycle)
    click.echo(f"wrote {output}", err=True)
