"""The instruction set of the accelerator: one field table per instruction format.

Every instruction is :data:`INSN_BITS` (256) bits, little-endian in ``program.bin`` (32 bytes),
with the opcode in bits ``[0, 3)`` and the four dependency-token bits in ``[3, 7)``
(``rtl/README.md`` section 9). The tables below are the ONE definition of the encoding: the
Python encoder / decoder here and the ``amaranth.lib.data.Struct`` layouts of
:mod:`hwcnn.isa.layout` are both derived from them, fields packed from bit 0 up in table order.
A field is unsigned unless marked signed (two's complement).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import HwcnnError

#: Width of one instruction in bits / bytes.
INSN_BITS = 256
INSN_BYTES = INSN_BITS // 8
#: Buffer word addresses (``hwcnn.hw.params.MAX_DEPTH`` = 2**20 words).
ADDR_BITS = 20
#: DRAM byte offsets (relative to the DRAM base register).
DRAM_BITS = 32


class ProgramError(HwcnnError):
    """An instruction or program that the machine must not run (a field overflow, an address
    outside a buffer or the DRAM window, an illegal opcode, a truncated file)."""


class Opcode(enum.IntEnum):
    """Value of the ``opcode`` field (3 bits; 6 and 7 are illegal)."""

    LOAD = 0
    STORE = 1
    GEMM = 2
    END = 3
    VEC = 4
    LOAD2D = 5   # activation load with im2col addressing (the load address generator)


class Buffer(enum.IntEnum):
    """Value of the ``buffer`` field of LOAD / STORE."""

    ACT = 0
    WGT = 1
    PARAM = 2
    OUT = 3


class MemMode(enum.IntEnum):
    """Value of the ``mode`` field of LOAD / STORE."""

    WORDS = 0    # packed buffer words, byte for byte
    PIXELS = 1   # tensor elements (channels-last) into / out of buffer lanes


class VecOp(enum.IntEnum):
    """Value of the ``pool_op`` field of VEC (the pool descriptor's codes; 3 is free)."""

    MAX = 0
    AVG = 1
    SUM = 2


@dataclass(frozen=True, slots=True)
class Field:
    """One field: ``name``, ``width`` bits, signed or not (bit offset = sum of earlier widths)."""

    name: str
    width: int
    signed: bool = False


_HEAD = (Field("opcode", 3), Field("pop_prev", 1), Field("pop_next", 1), Field("push_prev", 1),
         Field("push_next", 1))
#: the post-processing fields shared by GEMM and VEC (the descriptor's Requant)
_REQUANT = (Field("m0", 31), Field("shift", 6), Field("rounding", 2), Field("wrap", 1),
            Field("lo", 16, True), Field("hi", 16, True))

#: format name -> its fields, bit 0 first
FORMATS: dict[str, tuple[Field, ...]] = {
    # LOAD / STORE: DRAM <-> buffer. WORDS: `rows` words of the buffer's width, contiguous in
    # DRAM. PIXELS: `rows` pixels of `elems` elements each (see rtl/README.md 9.2).
    "MEM": _HEAD + (Field("buffer", 2), Field("mode", 1), Field("sram_base", ADDR_BITS),
                    Field("dram_base", DRAM_BITS), Field("rows", 20), Field("elems", 16),
                    Field("dram_stride", 24), Field("sram_stride", 16),
                    Field("fold_stride", ADDR_BITS)),
    # LOAD2D: the A operand of a GEMM tile gathered with im2col addressing from a
    # channels-last tensor; padding generated on chip.
    "LOAD2D": _HEAD + (Field("sram_base", ADDR_BITS), Field("dram_base", DRAM_BITS),
                       Field("in_h", 12), Field("in_w", 12), Field("pix_stride", 16),
                       Field("out_w", 12), Field("cg", 16), Field("kh", 6), Field("kw", 6),
                       Field("sh", 6), Field("sw", 6), Field("ph", 6), Field("pw", 6),
                       Field("dh", 4), Field("dw", 4), Field("m0", 24), Field("m", 16),
                       Field("k0", 20), Field("k", 16)),
    # GEMM: the tile descriptor of rtl/README.md 4.
    "GEMM": _HEAD + (Field("m", 16), Field("n", 16), Field("k", 16),
                     Field("a_base", ADDR_BITS), Field("b_base", ADDR_BITS),
                     Field("p_base", ADDR_BITS), Field("c_base", ADDR_BITS),
                     Field("per_channel", 1), Field("bias_en", 1), Field("acc_in", 1),
                     Field("acc_out", 1)) + _REQUANT,
    # VEC: the vector unit's pool descriptor (rtl/README.md 4); the average's reciprocal
    # (m, s) comes from the unit's own table, indexed by the tap count.
    "VEC": _HEAD + (Field("pool_op", 2), Field("in_h", 16), Field("in_w", 16),
                    Field("out_h", 16), Field("out_w", 16), Field("win_h", 8), Field("win_w", 8),
                    Field("stride_h", 8), Field("stride_w", 8), Field("pad_top", 8),
                    Field("pad_left", 8), Field("pad_bottom", 8), Field("pad_right", 8),
                    Field("count_pad", 1), Field("pin_base", ADDR_BITS),
                    Field("c_base", ADDR_BITS)) + _REQUANT + (Field("reserved", 6),),
    "END": _HEAD,
}

#: opcode -> format name
FORMAT_OF: dict[Opcode, str] = {Opcode.LOAD: "MEM", Opcode.STORE: "MEM", Opcode.GEMM: "GEMM",
                                Opcode.END: "END", Opcode.VEC: "VEC", Opcode.LOAD2D: "LOAD2D"}

TOKEN_FIELDS = ("pop_prev", "pop_next", "push_prev", "push_next")

#: A GEMM / VEC with a zero in any of its size fields is a NOP (it only moves tokens; the
#: compute core offers status 0 the cycle after its handshake, rtl/README.md 10.1). These are
#: exactly the sizes the tile engine would refuse (GEMM ``m, n, k``; VEC the input and output
#: map, the window and the strides).
SIZE_FIELDS: dict[Opcode, tuple[str, ...]] = {
    Opcode.GEMM: ("m", "n", "k"),
    Opcode.VEC: ("in_h", "in_w", "out_h", "out_w", "win_h", "win_w", "stride_h", "stride_w"),
}


def offsets(fmt: str) -> dict[str, tuple[int, Field]]:
    """``name -> (bit offset, field)`` of a format."""
    out, pos = {}, 0
    for f in FORMATS[fmt]:
        out[f.name] = (pos, f)
        pos += f.width
    return out


def _range(f: Field) -> tuple[int, int]:
    return (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed else (0, (1 << f.width) - 1)


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction: its opcode and every field of its format (unset fields 0)."""

    op: Opcode
    fields: tuple[tuple[str, int], ...]

    def __getitem__(self, name: str) -> int:
        return dict(self.fields)[name]

    def get(self) -> dict[str, int]:
        return dict(self.fields)


def make(op: Opcode, **values: int) -> Insn:
    """An instruction of ``op`` with the given fields (others 0); ProgramError on an unknown
    field or a value that does not fit its field."""
    fmt = FORMATS[FORMAT_OF[op]]
    names = {f.name for f in fmt}
    for name in values:
        if name not in names or name == "opcode":
            raise ProgramError(f"{op.name}: no field {name!r}")
    vals = []
    for f in fmt:
        v = int(op) if f.name == "opcode" else int(values.get(f.name, 0))
        lo, hi = _range(f)
        if not lo <= v <= hi:
            raise ProgramError(f"{op.name}: field {f.name} = {v} does not fit "
                               f"{'signed ' if f.signed else ''}{f.width} bits")
        vals.append((f.name, v))
    return Insn(op, tuple(vals))


def encode(insn: Insn) -> int:
    """The instruction as a :data:`INSN_BITS`-bit integer."""
    word = 0
    for name, (pos, f) in offsets(FORMAT_OF[insn.op]).items():
        word |= (insn[name] & ((1 << f.width) - 1)) << pos
    return word


def decode(word: int) -> Insn:
    """Inverse of :func:`encode`; ProgramError on an illegal opcode or set bits beyond the
    format's fields."""
    code = word & 0b111
    if code not in Opcode._value2member_map_:
        raise ProgramError(f"illegal opcode {code}")
    op = Opcode(code)
    vals, used = [], 0
    for name, (pos, f) in offsets(FORMAT_OF[op]).items():
        v = (word >> pos) & ((1 << f.width) - 1)
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        vals.append((name, v))
        used = pos + f.width
    if word >> used:
        raise ProgramError(f"{op.name}: bits above {used} are set")
    return Insn(op, tuple(vals))


def to_bytes(insns: list[Insn]) -> bytes:
    """``program.bin``: each instruction as :data:`INSN_BYTES` little-endian bytes."""
    return b"".join(encode(i).to_bytes(INSN_BYTES, "little") for i in insns)


def from_bytes(data: bytes) -> list[Insn]:
    """Inverse of :func:`to_bytes`; ProgramError naming the instruction that is truncated or
    illegal."""
    if len(data) % INSN_BYTES:
        raise ProgramError(f"truncated: {len(data)} bytes is not a whole number of "
                           f"{INSN_BYTES}-byte instructions")
    out = []
    for i in range(len(data) // INSN_BYTES):
        try:
            out.append(decode(int.from_bytes(data[i * INSN_BYTES:(i + 1) * INSN_BYTES],
                                             "little")))
        except ProgramError as exc:
            raise ProgramError(f"instruction {i}: {exc}") from None
    return out
