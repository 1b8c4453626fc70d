"""Command-line interface: ``hwcnn <command> ...``.

Subcommands live in :mod:`hwcnn.cli.commands` (one module each) and are imported only when used,
so ``hwcnn report`` never pays for importing Amaranth or cocotb. Every user error is a
:class:`hwcnn.errors.HwcnnError`: it is printed as one line on stderr and the exit status is 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import HwcnnError

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
    "import": "hwcnn.cli.commands.import_:import_",
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

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except HwcnnError as exc:
            click.echo(f"hwcnn: error: {exc}", err=True)
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="hwcnn")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
