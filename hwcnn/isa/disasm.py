"""Disassembler: one line per instruction with its queue, fields and tokens."""

from __future__ import annotations

from .fields import (
    FORMAT_OF,
    FORMATS,
    SIZE_FIELDS,
    TOKEN_FIELDS,
    Buffer,
    Insn,
    MemMode,
    Opcode,
    VecOp,
)
from .queues import queue_of, token_queue

_ENUMS = {"buffer": Buffer, "mode": MemMode, "pool_op": VecOp}
_QUEUE = "LGS"   # load, compute (GEMM unit), store


def is_nop(insn: Insn) -> bool:
    """A zero-size LOAD / STORE / LOAD2D, or a GEMM / VEC with a zero size field
    (:data:`~hwcnn.isa.fields.SIZE_FIELDS`): it only moves tokens."""
    if insn.op in SIZE_FIELDS:
        return any(insn[f] == 0 for f in SIZE_FIELDS[insn.op])
    return ((insn.op in (Opcode.LOAD, Opcode.STORE) and insn["rows"] == 0)
            or (insn.op is Opcode.LOAD2D and insn["m"] == 0))


def tokens(insn: Insn) -> str:
    """``pop l2g push g2l,g2s`` style summary of the token bits (empty if none)."""
    q = queue_of(insn)
    pops = [token_queue(q, b) or b for b in TOKEN_FIELDS[:2] if insn[b]]
    pushes = [token_queue(q, b) or b for b in TOKEN_FIELDS[2:] if insn[b]]
    parts = ([f"pop {','.join(pops)}"] if pops else []) + (
        [f"push {','.join(pushes)}"] if pushes else [])
    return " ".join(parts)


def line(index: int, insn: Insn) -> str:
    """One disassembly line: index, queue letter, mnemonic, fields (zero-size: NOP), tokens."""
    q = _QUEUE[queue_of(insn)]
    name = insn.op.name
    skip = {"opcode", *TOKEN_FIELDS, "reserved"}
    if insn.op in (Opcode.LOAD, Opcode.STORE) and insn["mode"] == MemMode.WORDS:
        skip |= {"elems", "dram_stride", "sram_stride", "fold_stride"}
    if is_nop(insn):
        body = "nop"
    else:
        vals = []
        for f in FORMATS[FORMAT_OF[insn.op]]:
            if f.name in skip:
                continue
            v = insn[f.name]
            enum_ = _ENUMS.get(f.name)
            vals.append(f"{f.name}={enum_(v).name if enum_ else v}")
        body = " ".join(vals)
    tok = tokens(insn)
    return (f"{index:6d}  {q}  {name:<6} {body}".rstrip() + (f"  ; {tok}" if tok else ""))


def disassemble(insns: list[Insn]) -> str:
    return "".join(line(i, x) + "\n" for i, x in enumerate(insns))
