"""The command line: ``hwcnn <command> ...`` (click).

:mod:`.main` holds the group and the console-script entry point; every subcommand is a module of
:mod:`.commands`, imported only when used, so ``hwcnn report`` never pays for Amaranth or cocotb.
:mod:`.options` holds the hardware options shared by several commands.
"""

from .main import COMMANDS, cli, main

__all__ = ["COMMANDS", "cli", "main"]
