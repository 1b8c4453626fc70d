"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import click
import networkx as nx

from ...errors import HwcnnError
from ...fileio import (
    STDOUT,
    OutputError,
    check_output,
    check_output_dir,
    is_descriptor,
    write_text_atomic,
)

#: How ``-o`` behaves, for the commands' ``--help`` (README.md says the same at more length).
OUTPUT_HELP = ("'-' is standard output; a file is replaced atomically (keeping its mode), a "
               "device or FIFO written into; the directory must exist.")


def _not_empty(value: str, param: click.Parameter | None) -> None:
    """``-o ''`` is a mistake (an unset shell variable), not "standard output" or ".". """
    if value == "":
        opt = param.opts[-1] if param is not None and param.opts else "-o"
        raise OutputError(f"{opt}: the path is empty")


class OutputFile(click.ParamType):
    """An ``-o`` file: checked while the options are parsed, before any work.

    ``-``, an existing regular file, character device or FIFO (symlinks followed), or a new
    name in an existing directory; anything else is a one-line OutputError.
    """

    name = "file"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        _not_empty(value, param)
        check_output(value)
        return value


OUTPUT_FILE = OutputFile()


class OutputDir(click.ParamType):
    """An ``-o`` directory: ``-``, an existing directory or a new name in an existing one."""

    name = "directory"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        _not_empty(value, param)
        check_output_dir(value)
        return value


OUTPUT_DIR = OutputDir()


#: key of the model path in ``click.Context.meta`` (shared by the whole context chain), so the
#: CLI can name the file in errors that later stages raise about one of its layers
MODEL_META = "hwcnn.model"


def _remember_model(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ctx.meta[MODEL_META] = value
    return value


def model_argument(func):  # type: ignore[no-untyped-def]
    """``MODEL`` positional argument: a YAML spec or an ``.onnx`` file (checked by the loader)."""
    return click.argument("model", metavar="MODEL", callback=_remember_model)(func)


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
    """Print ``text`` (no ``output``, or ``-``) or write it to ``output`` (see hwcnn.fileio)."""
    if output and output != STDOUT:
        write_text_atomic(output, text)
        wrote(output)
    else:
        click.echo(text, nl=False)


def wrote(output: str, detail: str = "") -> None:
    """``wrote FILE`` on stderr (not for ``-`` or ``/dev/stdout``: the output went there)."""
    if not is_descriptor(output):
        click.echo(f"wrote {output}{detail}", err=True)
