"""``hwcnn explain``: the lecture-style worked calculation of each layer."""

from __future__ import annotations

import click

from ...errors import SpecError
from ...report.explanation import explain as explain_text
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, model_argument, strict_option


@click.command()
@model_argument
@click.option("--layer", "layer", metavar="NAME", help="Only this layer.")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@strict_option
def explain(model: str, layer: str | None, output: str | None, strict: bool | None) -> None:
    """Show how each layer's output size, parameters, MACs/ops and memory are calculated,
    e.g. conv1: (227 - 11 + 2*0)/4 + 1 = 55; (11*11*3)*96 + 96 = 34,944."""
    g = load_graph(model, strict)
    if layer is not None and layer not in g:
        raise SpecError(f"no layer named {layer!r}", file=model)
    emit(explain_text(g, layer), output)
