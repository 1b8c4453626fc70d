"""Command-line interface: ``hwcnn <command> ...``.

Subcommands live in :mod:`hwcnn.cli.commands` (one module each) and are imported only when used,
so ``hwcnn report`` never pays for importing Amaranth or cocotb. Every user error is a
:class:`hwcnn.errors.HwcnnError`: it is printed as one line on stderr and the exit status is 2.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any

import click

from .. import __version__, fileio
from ..errors import HwcnnError, SpecError

#: Longest message printed for a usage error (values echoed by click are cut short).
MAX_MESSAGE = 240
#: Longest ``hwcnn: error:`` line: a safety net for messages that echo a huge value.
MAX_ERROR_LINE = 300


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so every ``finally`` (temporary files) runs.

    A BaseException, not an Exception: no ``except Exception`` in the pipeline swallows it.
    """


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise Terminated


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 3] + "..."


def _error_line(exc: BaseException | str) -> str:
    """``hwcnn: error: <message>`` on one line: line breaks escaped, cut at MAX_ERROR_LINE."""
    text = str(exc).replace("\r", "\\r").replace("\n", "\\n")
    line = f"hwcnn: error: {text}"
    return line if len(line) <= MAX_ERROR_LINE else line[:MAX_ERROR_LINE - 3] + "..."


def _located(exc: HwcnnError, model: str | None) -> HwcnnError | str:
    """Name the model file in a later stage's error about one of its layers.

    Spec errors carry their file already; hardware and data errors raised about a layer
    (``layer 'conv1': ...``) get the model path in front, as ``file: layer: problem``.
    """
    text = str(exc)
    if model is None or isinstance(exc, SpecError) or not text.startswith("layer ") \
            or text.startswith(model):
        return exc
    return f"{model}: {text}"


def _usage_line(exc: click.UsageError, args: list[str]) -> str:
    """``hwcnn: error: <click's message> (see 'hwcnn CMD --help')``: one line.

    Some parser errors carry no context; then the command is the first argument naming one.
    """
    if exc.ctx is not None:  # the root's name is "hwcnn" whatever the caller named it
        path = " ".join(["hwcnn", *exc.ctx.command_path.split()[1:]])
    else:
        named = next((a for a in args if a in COMMANDS), None)
        path = f"hwcnn {named}" if named else "hwcnn"
    return f"hwcnn: error: {_one_line(exc.format_message())} (see '{path} --help')"

#: command name -> "module:attribute" of its click command, in ``--help`` order.
COMMANDS: dict[str, str] = {
    "report": "hwcnn.cli.commands.report:report",
    "explain": "hwcnn.cli.commands.explain:explain",
    "graph": "hwcnn.cli.commands.graph:graph",
    "schema": "hwcnn.cli.commands.schema:schema",
    "rtl": "hwcnn.cli.commands.rtl:rtl",
    "quantize": "hwcnn.cli.commands.quantize:quantize",
    "run": "hwcnn.cli.commands.run:run",
    "plot": "hwcnn.cli.commands.plot:plot",
    "compare": "hwcnn.cli.commands.compare:compare",
    "verify": "hwcnn.cli.commands.verify:verify",
    "sweep": "hwcnn.cli.commands.sweep:sweep",
    "import": "hwcnn.cli.commands.import_:import_",
    "trace": "hwcnn.cli.commands.trace:trace",
    "wave": "hwcnn.cli.commands.wave:wave",
    "compile": "hwcnn.cli.commands.compile_:compile_",
    "disasm": "hwcnn.cli.commands.disasm:disasm",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """click's ``main`` with hwcnn's error conventions (also under click's CliRunner).

        Usage errors (unknown option, missing argument, bad choice, bad value) become one line
        and exit status 2; SIGINT and SIGTERM remove temporary outputs and exit 130 / 143.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: leave signals alone
            pass
        code: Any = 0
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.UsageError as exc:
            click.echo(_usage_line(exc, list(sys.argv[1:] if args is None else args)), err=True)
            code = 2
        except click.ClickException as exc:
            click.echo(f"hwcnn: error: {_one_line(exc.format_message())}", err=True)
            code = exc.exit_code
        except click.Abort:  # SIGINT (click turns KeyboardInterrupt into Abort)
            fileio.cleanup()
            click.echo("hwcnn: interrupted", err=True)
            code = 130
        except Terminated:
            fileio.cleanup()
            click.echo("hwcnn: terminated", err=True)
            code = 143
        except BrokenPipeError:  # `hwcnn report ... | head`: the reader left; stay quiet
            _silence_stdout()
            code = 1
        finally:
            fileio.cleanup()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except HwcnnError as exc:
            click.echo(_error_line(_located(exc, ctx.meta.get("hwcnn.model"))), err=True)
            ctx.exit(2)
        except OSError as exc:  # an output file or directory that cannot be written
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"hwcnn: error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwcnn")
def cli() -> None:
    """hwcnn: CNN layer description -> per-layer budgets, bit-exact golden model,
    systolic-array RTL and cycle-level estimates for FPGA boards."""


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="hwcnn")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
