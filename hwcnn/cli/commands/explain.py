"""``hwcnn explain``: the lecture-style worked calculation of each layer."""

from __future__ import annotations

import click

from ...errors import SpecError
from ...frontend import layers as L
from ...report.explanation import explain as explain_text
from ...report.explanation import explain_cycles
from ..options import hardware_for_spec, hardware_options
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, model_argument, strict_option


@click.command()
@model_argument
@click.option("--layer", "layer", metavar="NAME", help="Only this layer.")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@hardware_options()
@strict_option
def explain(model: str, layer: str | None, output: str | None, strict: bool | None,
            **hw_opts: str | None) -> None:
    """Show how each layer's output size, parameters, MACs/ops and memory are calculated,
    e.g. conv1: (227 - 11 + 2*0)/4 + 1 = 55; (11*11*3)*96 + 96 = 34,944.

    With --layer NAME (a conv or dense layer) and any hardware option (--board, --array,
    --dataflow, ...), also work out the layer's cycle count on the systolic array: the GEMM
    dimensions, its tiles, per tile the folds G, the fold period P and its terms, the start,
    steady state, fill and drain, then the DRAM stalls and the total.

    Example: hwcnn explain models/tiny_cnn.yaml --layer conv2 --array 4x4 --dataflow os
    """
    g = load_graph(model, strict)
    if layer is not None and layer not in g:
        raise SpecError(f"no layer named {layer!r}", file=model)
    text = explain_text(g, layer)
    if any(v is not None for v in hw_opts.values()):
        if layer is None:
            raise SpecError("the cycle explanation needs --layer NAME", file=model)
        if not isinstance(g.nodes[layer]["layer"], (L.Conv, L.Dense)):
            raise SpecError(f"{layer}: the cycle explanation needs a conv or dense layer, not "
                            f"{L.kind_name(g.nodes[layer]['layer'])}", file=model)
        hw, board = hardware_for_spec(g, **hw_opts)
        text = text.rstrip("\n") + "\n" + "\n".join(explain_cycles(g, layer, hw, board)) + "\n"
    emit(text, output)
