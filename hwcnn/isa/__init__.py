"""The accelerator's instruction set: formats, encoding, token queues, disassembler.

A contract shared by the compiler (which emits programs), the machine models (which execute
them) and the RTL (whose fetch and queues decode them through :func:`layout.struct_layout`).
``rtl/README.md`` section 9 documents the encoding.
"""

from .disasm import disassemble, is_nop, line
from .fields import (
    FORMATS,
    INSN_BITS,
    INSN_BYTES,
    Buffer,
    Field,
    Insn,
    MemMode,
    Opcode,
    ProgramError,
    VecOp,
    decode,
    encode,
    from_bytes,
    make,
    to_bytes,
)
from .queues import HALVES, TOKEN_DEPTH, Queue, queue_of, replay
from .target import DEFAULT_DRAM_BYTES, Target

__all__ = [
    "DEFAULT_DRAM_BYTES", "FORMATS", "HALVES", "INSN_BITS", "INSN_BYTES", "TOKEN_DEPTH", "Buffer",
    "Field", "Insn", "MemMode", "Opcode", "ProgramError", "Queue", "Target", "VecOp", "decode",
    "disassemble", "encode", "from_bytes", "is_nop", "line", "make", "queue_of", "replay",
    "to_bytes",
]
