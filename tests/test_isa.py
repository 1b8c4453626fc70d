"""The instruction set: field tables, encoding (hand-worked and against the Amaranth layouts),
decoding, token replay, disassembly and their one-line refusals."""

from __future__ import annotations

import random

import pytest

from hwcnn.isa import (
    FORMATS,
    INSN_BITS,
    Buffer,
    MemMode,
    Opcode,
    ProgramError,
    decode,
    encode,
    from_bytes,
    line,
    make,
    replay,
    to_bytes,
)
from hwcnn.isa.fields import FORMAT_OF, offsets
from hwcnn.isa.layout import struct_layout


def test_every_format_fits_256_bits_with_the_opcode_and_tokens_first() -> None:
    for name, fields in FORMATS.items():
        assert sum(f.width for f in fields) <= INSN_BITS, name
        names = [f.name for f in fields]
        assert len(set(names)) == len(names)
        assert names[:5] == ["opcode", "pop_prev", "pop_next", "push_prev", "push_next"]
        assert [f.width for f in fields[:5]] == [3, 1, 1, 1, 1]


def test_hand_worked_encodings() -> None:
    # END, push_next: opcode 3 in bits 0..2, push_next is bit 6.
    assert encode(make(Opcode.END, push_next=1)) == 3 | 1 << 6
    # MEM: buffer at 7 (2 bits), mode at 9, sram_base at 10 (20 bits), dram_base at 30.
    ins = make(Opcode.LOAD, buffer=Buffer.PARAM, mode=MemMode.PIXELS, sram_base=5,
               dram_base=0x12345678, pop_next=1)
    assert encode(ins) == 0 | 1 << 4 | 2 << 7 | 1 << 9 | 5 << 10 | 0x12345678 << 30
    # GEMM: m at 7, n at 23, k at 39; lo (signed 16) at 7+48+80+4+40 = 179, hi at 195.
    g = make(Opcode.GEMM, m=3, n=2, k=1, lo=-1, hi=5)
    assert encode(g) == 2 | 3 << 7 | 2 << 23 | 1 << 39 | 0xFFFF << 179 | 5 << 195
    assert offsets("GEMM")["lo"][0] == 179


@pytest.mark.parametrize("op", list(Opcode))
def test_amaranth_layout_gives_the_same_bits(op: Opcode) -> None:
    rng = random.Random(int(op))
    fmt = FORMAT_OF[op]
    layout = struct_layout(fmt)
    assert layout.size == INSN_BITS
    for _ in range(20):
        vals = {}
        for f in FORMATS[fmt][1:]:
            lo, hi = ((-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed
                      else (0, (1 << f.width) - 1))
            vals[f.name] = rng.randint(lo, hi)
        ins = make(op, **vals)
        const = layout.const({"opcode": int(op), **vals}).as_value()
        assert const.value & ((1 << INSN_BITS) - 1) == encode(ins)
        assert decode(encode(ins)) == ins


def test_field_overflow_is_one_line() -> None:
    with pytest.raises(ProgramError) as e:
        make(Opcode.GEMM, m=1 << 16)
    assert str(e.value) == "GEMM: field m = 65536 does not fit 16 bits"
    with pytest.raises(ProgramError) as e:
        make(Opcode.VEC, lo=-32769)
    assert str(e.value) == "VEC: field lo = -32769 does not fit signed 16 bits"
    with pytest.raises(ProgramError) as e:
        make(Opcode.LOAD, dram_base=-1)
    assert str(e.value) == "LOAD: field dram_base = -1 does not fit 32 bits"


def test_decoding_refuses_illegal_opcodes_and_truncated_programs() -> None:
    good = to_bytes([make(Opcode.END)])
    assert from_bytes(good) == [make(Opcode.END)]
    with pytest.raises(ProgramError) as e:
        from_bytes(good + bytes([6]) + bytes(31))
    assert str(e.value) == "instruction 1: illegal opcode 6"
    with pytest.raises(ProgramError) as e:
        from_bytes(good[:-1])
    assert str(e.value) == "truncated: 31 bytes is not a whole number of 32-byte instructions"
    with pytest.raises(ProgramError) as e:
        decode(3 | 1 << 200)
    assert str(e.value) == "END: bits above 7 are set"


def _ins(op: Opcode, **kw: int):  # type: ignore[no-untyped-def]
    return make(op, **kw)


def test_replay_counts_tokens_and_refuses_deadlocks_overflows_and_imbalance() -> None:
    load = lambda **kw: _ins(Opcode.LOAD, buffer=Buffer.WGT, rows=1, **kw)
    gemm = lambda **kw: _ins(Opcode.GEMM, m=1, n=1, k=1, **kw)
    store = lambda **kw: _ins(Opcode.STORE, buffer=Buffer.OUT, rows=1, **kw)
    # one tile: load pops a WAR credit and pushes l2g; GEMM pops l2g and an output credit,
    # pushes both back; the store drains; END after the credits are popped.
    prog = [load(pop_next=1, push_next=1), gemm(pop_prev=1, pop_next=1, push_prev=1,
                                                  push_next=1),
            store(pop_prev=1, push_prev=1),
            _ins(Opcode.LOAD, buffer=Buffer.OUT, pop_next=1), _ins(Opcode.LOAD, buffer=Buffer.OUT,
                                                                    pop_next=1),
            _ins(Opcode.LOAD, buffer=Buffer.ACT, pop_next=1), _ins(Opcode.LOAD, buffer=Buffer.ACT,
                                                                    pop_next=1),
            _ins(Opcode.END)]
    peaks = replay(prog)
    assert peaks == {"l2g": 1, "g2l": 2, "g2s": 1, "s2g": 2}
    with pytest.raises(ProgramError) as e:
        replay([gemm(pop_prev=1)] + prog)
    assert str(e.value) == "instruction 0: pop_prev finds no l2g token (deadlock)"
    with pytest.raises(ProgramError) as e:
        replay([load(push_next=1)] * 9 + prog)
    assert str(e.value) == "instruction 8: push_next overfills the l2g queue (depth 8)"
    with pytest.raises(ProgramError) as e:
        replay(prog[:3] + [prog[-1]])
    assert str(e.value) == "unbalanced tokens at END: g2l 2, s2g 2 left in the queues"
    with pytest.raises(ProgramError) as e:
        replay([store(pop_next=1)] + prog)
    assert str(e.value) == "instruction 0: STORE on the store queue cannot pop_next"
    with pytest.raises(ProgramError) as e:
        replay(prog[:-1])
    assert str(e.value) == "the program does not end with END"


def test_disassembly_line() -> None:
    ins = make(Opcode.STORE, buffer=Buffer.OUT, mode=MemMode.PIXELS, sram_base=8, dram_base=64,
               rows=4, elems=3, dram_stride=3, sram_stride=1, fold_stride=4, pop_prev=1,
               push_prev=1)
    assert line(7, ins) == ("     7  S  STORE  buffer=OUT mode=PIXELS sram_base=8 dram_base=64 "
                            "rows=4 elems=3 dram_stride=3 sram_stride=1 fold_stride=4  ; "
                            "pop g2s push s2g")
    assert line(0, make(Opcode.LOAD, buffer=Buffer.OUT, pop_next=1)) == (
        "     0  G  LOAD   nop  ; pop s2g")
