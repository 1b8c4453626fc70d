"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import click
import networkx as nx

from ...errors import HwcnnError
from ...fileio import write_text_atomic


def model_argument(func):  # type: ignore[no-untyped-def]
    """``MODEL`` positional argument: a YAML spec or an ``.onnx`` file (checked by the loader)."""
    return click.argument("model", metavar="MODEL")(func)


def strict_option(func):  # type: ignore[no-untyped-def]
    return click.option("--strict/--no-strict", default=None,
                        help="Reject windows that do not fit their input exactly "
                             "(default: the spec's 'strict' switch, off).")(func)


def load_graph(model: str, strict: bool | None = None) -> nx.DiGraph:
    """Model file (YAML spec, or ONNX by the ``.onnx`` suffix) -> layer graph; errors name the file."""
    from ...frontend.load import load_model
    from ...graph.build import build_graph

    spec = load_model(model)
    try:
        return build_graph(spec, strict=strict)
    except HwcnnError as exc:
        located = getattr(exc, "located", None)
        raise (located(file=model) if located else exc) from None


def emit(text: str, output: str | None) -> None:
    """Print ``text`` or write it atomically to ``output``."""
    if output:
        write_text_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
