"""``hwcnn disasm``: print a compiled program, one line per instruction."""

from __future__ import annotations

import os

import click

from .common import OUTPUT_FILE, OUTPUT_HELP, emit


@click.command()
@click.argument("path", metavar="PROGRAM")
@click.option("-o", "--output", type=OUTPUT_FILE, help="Write the listing here. " + OUTPUT_HELP)
def disasm(path: str, output: str | None) -> None:
    """Disassemble PROGRAM (a program.bin, or the directory `hwcnn compile` wrote): index,
    queue (L load, G compute, S store), mnemonic, fields, tokens popped and pushed.

    A truncated file or an illegal opcode is one line, exit status 2.
    """
    from ...errors import DataError
    from ...isa.disasm import disassemble
    from ...isa.fields import ProgramError, from_bytes

    file = os.path.join(path, "program.bin") if os.path.isdir(path) else path
    try:
        with open(file, "rb") as fh:
            data = fh.read(1 << 30)
    except OSError as exc:
        raise DataError(f"{file}: {exc.strerror or exc}") from None
    try:
        insns = from_bytes(data)
    except ProgramError as exc:
        raise ProgramError(f"{file}: {exc}") from None
    emit(disassemble(insns), output)
