"""``hwcnn report``: per-layer budget table of a network."""

from __future__ import annotations

import click

from ..report import FORMATS, budget_report, render
from .common import emit, load_graph, model_argument, strict_option


@click.command()
@model_argument
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format. JSON: {model, shape_order, formats, layers, totals}.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@strict_option
def report(model: str, fmt: str, output: str | None, strict: bool | None) -> None:
    """Per-layer shapes, parameters, MACs, operations and memory of MODEL.yaml.

    Shapes are channels-first (C, H, W) in JSON/CSV and HxWxC (the lecture's spelling) in
    tables. Totals include the lecture's conv+pool vs dense subtotals.
    """
    g = load_graph(model, strict)
    emit(render(budget_report(g), fmt), output)
