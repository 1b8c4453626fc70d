"""``hwcnn graph``: export the layer graph as GraphML or Graphviz DOT."""

from __future__ import annotations

import click

from ...graph.export import to_dot, to_graphml
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, model_argument, strict_option


@click.command()
@model_argument
@click.option("-f", "--format", "fmt", type=click.Choice(["dot", "graphml"]), default="dot", show_default=True)
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@strict_option
def graph(model: str, fmt: str, output: str | None, strict: bool | None) -> None:
    """Export MODEL.yaml's layer graph (nodes = layers with shape and budget, edges = data flow).

    Render DOT with Graphviz, e.g. `dot -Tsvg net.dot -o net.svg`; open GraphML in yEd/Gephi.
    """
    g = load_graph(model, strict)
    emit(to_dot(g) if fmt == "dot" else to_graphml(g), output)
