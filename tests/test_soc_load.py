"""The load unit (hwcnn.hw.soc.load) in Amaranth's simulator, behind the real DMA.

``LoadUnit`` drives the read client of a real :class:`hwcnn.hw.axi.dma.Dma`, whose ``m_axi`` is
served by a small testbench AXI slave over a NumPy DRAM (fixed latency, optional random RVALID
stalls, optional SLVERR bytes). Every lane write of the unit is applied to a NumPy model of the
buffers; after each instruction's status the model must equal what
``hwcnn.machine.program_exec._Machine`` (the behavioural reference) leaves in its buffers, both
started with the same garbage. Instructions: every LOAD / LOAD2D that ``hwcnn compile`` emits
for tiny_cnn and LeNet-5, random ones (odd offsets, strides, padding, dilation, K-split
chunks), NOPs and the error codes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hwcnn.arch.config import Dataflow, HardwareConfig
from hwcnn.hw.axi.dma import Dma
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.load import PORT_NAMES, LoadUnit
from hwcnn.hw.soc.ports import SocParams
from hwcnn.isa.fields import Buffer, Insn, MemMode, Opcode, encode, make
from hwcnn.isa.target import Target
from hwcnn.machine.program_exec import _Machine

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
ALL = (Buffer.ACT, Buffer.WGT, Buffer.PARAM, Buffer.OUT)


@dataclass
class Outcome:
    code: int
    accepted: int      # cycle of the insn handshake
    status: int        # cycle of the status handshake
    after: dict[Buffer, np.ndarray] | None = None   # the buffers after an error status


def _lane_bits(t: Target, b: Buffer) -> int:
    return t.lane_bits(b)


def buffer_words(mach: _Machine, t: Target, b: Buffer) -> np.ndarray:
    """The machine's buffer ``b`` as unsigned lane values (object array, depth x lanes)."""
    a = t.array
    if b is Buffer.PARAM:
        p = mach.param.astype(object)
        return ((p[..., 0] & ((1 << a.acc_bits) - 1)) | (p[..., 1] << a.acc_bits)
                | (p[..., 2] << (a.acc_bits + 31)))
    return (mach.buf[b] & ((1 << t.lane_bits(b)) - 1)).astype(object)


def simulate(params: SocParams, buffers: Sequence[Buffer], dram: np.ndarray,
             insns: Sequence[Insn], *, base0: int = 0, window: tuple[int, int] | None = None,
             latency: int = 3, stall: float = 0.0, slverr: frozenset[int] = frozenset(),
             resp: int = 2,
             seed: int = 0, check: bool = True, skew: int = 0,
             model: dict[Buffer, np.ndarray] | None = None
             ) -> tuple[list[Outcome], dict[Buffer, np.ndarray]]:
    """Run ``insns`` through a LoadUnit + Dma; the DRAM seen by the unit is ``dram`` from byte
    ``base0`` (the BASE0 register). ``stall``: probability that RVALID and the status READY
    are held low in a cycle; a beat holding a byte of ``slverr`` answers RRESP ``resp``. With ``check`` every instruction's buffers are compared
    with ``_Machine`` after its status (after an error status the model is reset to the
    reference's buffers, the error's own writes kept in ``Outcome.after``); every lane write
    must be inside its buffer. Returns the outcomes and the final buffer model."""
    t = params.target
    unit = LoadUnit(params, tuple(buffers))
    dma = Dma(data_width=params.data_width, buf_addr_width=20, outstanding=params.outstanding,
              read_clients=("load",), write_clients=("store",))
    top = Module()
    top.submodules += [unit, dma]
    wiring.connect(top, unit.dma.cmd, dma.load_cmd)
    wiring.connect(top, dma.load_status, unit.dma.status)
    wiring.connect(top, dma.load_beats, unit.dma.beats)
    nb = params.bus_bytes
    mach = _Machine(t, dram[base0 + skew:].copy(), seed)     # skew: negative controls
    bufs = model if model is not None else {b: buffer_words(mach, t, b) for b in buffers}
    ports = [(b, getattr(unit, f"{PORT_NAMES[b]}_wr"), t.lanes(b), t.lane_bits(b))
             for b in buffers]
    win = window or (0, len(dram))
    rng = random.Random(seed)
    out: list[Outcome] = []
    bus = dma.m_axi

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dma.win_base, win[0])
        ctx.set(dma.win_size, win[1])
        ctx.set(unit.dram_base, base0)
        ctx.set(unit.unit.status.ready, 1)
        ctx.set(bus.arready, 1)
        bursts: list[list[int]] = []     # [addr, beats left, release cycle]
        todo = list(insns)
        accepted = None
        cycle = 0
        limit = 400_000
        while todo or accepted is not None:
            if todo and accepted is None:
                ctx.set(unit.unit.insn.valid, 1)
                ctx.set(unit.unit.insn.payload, encode(todo[0]))
            else:
                ctx.set(unit.unit.insn.valid, 0)
            rv = bool(bursts) and cycle >= bursts[0][2] and rng.random() >= stall
            ctx.set(bus.rvalid, rv)
            if rv:
                a = bursts[0][0]
                ctx.set(bus.rdata, int.from_bytes(dram[a:a + nb].tobytes(), "little"))
                ctx.set(bus.rlast, bursts[0][1] == 1)
                ctx.set(bus.rresp, resp if any(x in slverr for x in range(a, a + nb)) else 0)
            if ctx.get(bus.arvalid):
                bursts.append([ctx.get(bus.araddr), ctx.get(bus.arlen) + 1, cycle + latency])
            if rv and ctx.get(bus.rready):
                bursts[0][0] += nb
                bursts[0][1] -= 1
                if bursts[0][1] == 0:
                    bursts.pop(0)
            for b, port, lanes, lb in ports:
                en = ctx.get(port.en)
                if en:
                    addr, word = ctx.get(port.addr), ctx.get(port.data)
                    assert addr < t.depth(b), (b, addr)
                    for lane in range(lanes):
                        if en >> lane & 1:
                            bufs[b][addr, lane] = word >> (lane * lb) & ((1 << lb) - 1)
            if todo and accepted is None and ctx.get(unit.unit.insn.ready):
                accepted = cycle
            take = rng.random() >= stall      # the dispatcher may hold the status too
            ctx.set(unit.unit.status.ready, take)
            if (accepted is not None and cycle > accepted and take
                    and ctx.get(unit.unit.status.valid)):
                insn = todo.pop(0)
                code = ctx.get(unit.unit.status.payload)
                out.append(Outcome(code=code, accepted=accepted, status=cycle))
                accepted = None
                if code:    # no reference for an error: keep its buffers, resync the model
                    out[-1].after = {x: bufs[x].copy() for x in buffers}
                    for x in buffers:
                        bufs[x][:] = buffer_words(mach, t, x)
                elif check:
                    mach.execute(insn)
                    for b in buffers:
                        want = buffer_words(mach, t, b)
                        bad = np.argwhere(want != bufs[b])
                        assert not len(bad), (insn, b, bad[:5].tolist(),
                                              [(want[tuple(x)], bufs[b][tuple(x)])
                                               for x in bad[:5]])
            await ctx.tick()
            cycle += 1
            assert cycle < limit, (todo[:1], accepted, bursts)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out, bufs


def soc_params(rows: int, cols: int, df: Dataflow, *, depths: BufferDepths | None = None,
               data_width: int = 64) -> SocParams:
    from hwcnn.arch.config import ArrayConfig

    cfg = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols, dataflow=df))
    return SocParams(config=cfg, depths=depths or BufferDepths(act=64, weight=64, out=64,
                                                               param=16, acc=64),
                     data_width=data_width)


def garbage(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=n, dtype=np.uint8)


# ---- hand-written instructions ------------------------------------------------------------

def test_words_every_buffer_odd_offsets() -> None:
    """WORDS into all four buffers (PARAM words of 35 bytes), unaligned DRAM offsets."""
    p = soc_params(4, 4, WS)
    dram = garbage(4096, 1)
    insns = [make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=3,
                  dram_base=13, rows=17),
             make(Opcode.LOAD, buffer=Buffer.PARAM, mode=MemMode.WORDS, sram_base=5,
                  dram_base=301, rows=7),
             make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, sram_base=0,
                  dram_base=1001, rows=64),
             make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.WORDS, sram_base=60,
                  dram_base=7, rows=1)]
    assert p.target.word_bytes(Buffer.PARAM) == 35
    out, _ = simulate(p, ALL, dram, insns, base0=0x41)
    assert [o.code for o in out] == [0, 0, 0, 0]


def test_nop_and_status_timing() -> None:
    """rows = 0 / m = 0: status offered in the cycle after the handshake, nothing written."""
    p = soc_params(4, 4, WS)
    dram = garbage(512, 2)
    insns = [make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, rows=0, pop_prev=1),
             make(Opcode.LOAD2D, m=0, k=9, kh=3, kw=3, cg=1),
             make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.PIXELS, rows=5, elems=0)]
    out, _ = simulate(p, ALL, dram, insns)
    assert [(o.code, o.status - o.accepted) for o in out] == [(0, 1)] * 3


# ---- what the compiler emits ----------------------------------------------------------------

def compiled(name: str, df: Dataflow, r: int, c: int, kib: int = 64):  # type: ignore[no-untyped-def]
    from tests.test_program import _compiled

    return _compiled(name, df, r, c, kib)[3]


def loads_of(comp) -> list[Insn]:  # type: ignore[no-untyped-def]
    return [i for i in comp.insns if i.op in (Opcode.LOAD, Opcode.LOAD2D)]


def run_compiled(comp, data_width: int, buffers: Sequence[Buffer] = ALL,  # type: ignore[no-untyped-def]
                 **kw) -> list[Outcome]:
    t = comp.target
    p = SocParams(config=HardwareConfig(array=t.array),
                  depths=BufferDepths(act=t.act, weight=t.weight, out=t.out, param=t.param,
                                      acc=t.acc), data_width=data_width)
    assert p.target == t
    size = comp.regions[-1].offset + comp.regions[-1].size
    base0 = 0x23
    dram = garbage(base0 + size + 64, 5)
    dram[base0:base0 + len(comp.image)] = np.frombuffer(comp.image, np.uint8)
    insns = [i for i in loads_of(comp) if i.op is Opcode.LOAD2D or i["buffer"] in buffers]
    out, _ = simulate(p, buffers, dram, insns, base0=base0, **kw)
    return out


@pytest.mark.parametrize("df", [WS, OS])
@pytest.mark.parametrize("r, c, dw", [(4, 4, 64), (2, 3, 128)])
def test_tiny_cnn_loads(df: Dataflow, r: int, c: int, dw: int) -> None:
    comp = compiled("tiny_cnn", df, r, c)
    out = run_compiled(comp, dw)
    assert len(out) == len(loads_of(comp)) and all(o.code == 0 for o in out)


def test_negative_control_one_byte_off() -> None:
    """The comparison is not vacuous: the reference reading DRAM one byte later disagrees."""
    comp = compiled("tiny_cnn", WS, 4, 4)
    with pytest.raises(AssertionError):
        run_compiled(comp, 64, skew=1)


@pytest.mark.slow
@pytest.mark.parametrize("df", [WS, OS])
# 4x4 / 64-bit LeNet-5 loads run inside the whole network on the Verilog (test_soc_cocotb,
# both dataflows); here the 2x3 array (lanes not a power of two) on a 128-bit bus.
@pytest.mark.parametrize("r, c, dw, kib", [(2, 3, 128, 64)])
def test_lenet5_loads(df: Dataflow, r: int, c: int, dw: int, kib: int) -> None:
    """Every LOAD / LOAD2D of LeNet-5 (kib = 1: K-split chunks and pool bands); 50-150 s each
    on a loaded 2-core machine."""
    comp = compiled("lenet5", df, r, c, kib)
    out = run_compiled(comp, dw)
    assert len(out) == len(loads_of(comp)) and all(o.code == 0 for o in out)


# ---- errors -----------------------------------------------------------------------------------

def _word(dram: np.ndarray, at: int, lanes: int, lb: int) -> list[int]:
    v = int.from_bytes(dram[at:at + -(-lanes * lb // 8)].tobytes(), "little")
    return [v >> (i * lb) & ((1 << lb) - 1) for i in range(lanes)]


def test_buf_range_writes_nothing_outside() -> None:
    """Words at or beyond the depth are not written (the bench asserts every write is inside);
    the words below are, and the status is BUF_RANGE (5); the next instruction runs."""
    p = soc_params(4, 4, WS)
    dram = garbage(2048, 7)
    base0 = 0x11
    over = [make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=62,
                 dram_base=99, rows=5),
            make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, sram_base=60, rows=3,
                 elems=6, dram_base=3, dram_stride=7, sram_stride=3, fold_stride=1),
            make(Opcode.LOAD2D, sram_base=60, dram_base=0, in_h=3, in_w=3, pix_stride=1,
                 out_w=3, cg=1, kh=3, kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, m=9, k=9),
            make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, sram_base=0,
                 dram_base=5, rows=64)]
    mach = _Machine(p.target, dram[base0:].copy(), 0)
    before = buffer_words(mach, p.target, Buffer.WGT)
    out, _ = simulate(p, ALL, dram, over, base0=base0)
    assert [o.code for o in out] == [5, 5, 5, 0]
    wgt = out[0].after
    assert wgt is not None
    for w in range(64):
        want = _word(dram, base0 + 99 + (w - 62) * 4, 4, 8) if w >= 62 else before[w].tolist()
        assert wgt[Buffer.WGT][w].tolist() == want, w


def test_dma_window_and_slverr_codes() -> None:
    """A transfer outside the DMA window gives DMA_WINDOW (1) (a refused first transfer writes
    nothing; a LOAD2D refused at a later pixel stops there); an AXI SLVERR
    gives DMA_SLVERR (2); the unit never hangs and the next instruction is exact."""
    p = soc_params(2, 3, OS, data_width=128)
    dram = garbage(3000, 8)
    win = (0, 2048)
    insns = [make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, dram_base=2040, rows=8),
             make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.PIXELS, rows=3, elems=5,
                  dram_base=2010, dram_stride=20, sram_stride=2, fold_stride=1),
             make(Opcode.LOAD2D, sram_base=0, dram_base=2030, in_h=4, in_w=4, pix_stride=2,
                  out_w=4, cg=2, kh=3, kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, m=6, k=18),
             make(Opcode.LOAD, buffer=Buffer.PARAM, mode=MemMode.WORDS, dram_base=100, rows=4),
             make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, dram_base=700, rows=30),
             make(Opcode.LOAD2D, sram_base=2, dram_base=600, in_h=4, in_w=4, pix_stride=2,
                  out_w=4, cg=2, kh=3, kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, m=6, k=18),
             make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.WORDS, dram_base=3, rows=9)]
    mach = _Machine(p.target, dram.copy(), 0)
    init = {b: buffer_words(mach, p.target, b) for b in ALL}
    bad = frozenset({720, 615})        # inside the 5th and the 6th instruction's bytes
    out, _ = simulate(p, ALL, dram, insns, window=win, slverr=bad, stall=0.2)
    assert [o.code for o in out] == [1, 1, 1, 0, 2, 2, 0]
    for o in out[:2]:     # refused before any byte moved (the LOAD2D's third pixel is refused)
        assert o.after is not None
        assert all(np.array_equal(o.after[b], init[b]) for b in ALL)


def test_unserved_and_illegal_instructions() -> None:
    """ILLEGAL_OPCODE (4): a GEMM, a LOAD into a buffer the unit does not serve, PIXELS into
    PARAM, a LOAD2D on the OUT loader."""
    p = soc_params(4, 4, WS)
    dram = garbage(1024, 9)
    load_q = [make(Opcode.GEMM, m=1, n=1, k=1),
              make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.WORDS, rows=2),
              make(Opcode.LOAD, buffer=Buffer.PARAM, mode=MemMode.PIXELS, rows=2, elems=2),
              make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, rows=2, dram_base=9)]
    out, _ = simulate(p, (Buffer.ACT, Buffer.WGT, Buffer.PARAM), dram, load_q)
    assert [o.code for o in out] == [4, 4, 4, 0]
    cload = [make(Opcode.LOAD2D, m=1, k=1, kh=1, kw=1, cg=1, in_h=1, in_w=1, out_w=1,
                  pix_stride=1, sh=1, sw=1, dh=1, dw=1),
             make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, rows=2),
             make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=4, elems=4,
                  dram_base=1, dram_stride=4, sram_stride=1, fold_stride=0)]
    out, _ = simulate(p, (Buffer.OUT,), dram, cload)
    assert [o.code for o in out] == [4, 4, 0]


# ---- random instructions ----------------------------------------------------------------------

def _rand_words(rng: random.Random, t: Target, buffers: Sequence[Buffer], room: int) -> Insn:
    b = rng.choice(list(buffers))
    rows = rng.randint(1, min(t.depth(b), 40))
    return make(Opcode.LOAD, buffer=b, mode=MemMode.WORDS, rows=rows,
                sram_base=rng.randint(0, t.depth(b) - rows),
                dram_base=rng.randint(0, room - rows * t.word_bytes(b)))


def _rand_pixels(rng: random.Random, t: Target, buffers: Sequence[Buffer], room: int) -> Insn:
    """Distinct words for distinct (pixel, fold) (see load.py: zero lanes of a later pixel
    would overwrite an earlier one's elements in a shared word)."""
    b = rng.choice([x for x in buffers if x is not Buffer.PARAM])
    lanes, eb = t.lanes(b), t.elem_bytes
    while True:
        rows, elems = rng.randint(1, 6), rng.randint(1, 3 * lanes)
        folds = -(-elems // lanes)
        fs = rng.choice([1, rows, rng.randint(0, 9)])
        ss = rng.choice([1, folds, rng.randint(0, 9)])
        base = rng.randint(0, 20)
        words = [base + f * fs + i * ss for i in range(rows) for f in range(folds)]
        if len(set(words)) == len(words) and max(words) < t.depth(b):
            break
    stride = elems * eb + rng.choice([0, rng.randint(0, 9)])   # half contiguous
    return make(Opcode.LOAD, buffer=b, mode=MemMode.PIXELS, rows=rows, elems=elems,
                sram_base=base, fold_stride=fs, sram_stride=ss, dram_stride=stride,
                dram_base=rng.randint(0, room - rows * stride))


def _rand_load2d(rng: random.Random, t: Target, room: int) -> Insn:
    r = t.array.rows
    while True:
        in_h, in_w, cg = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 5)
        dense = rng.random() < 0.15
        kh, kw = (in_h, in_w) if dense else (rng.randint(1, 3), rng.randint(1, 3))
        sh, sw, dh, dw = (1, 1, 1, 1) if dense else tuple(rng.randint(1, 2) for _ in range(4))
        ph, pw = (0, 0) if dense else (rng.randint(0, 2), rng.randint(0, 2))
        out_h = (in_h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (in_w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if out_h < 1 or out_w < 1:
            continue
        total = kh * kw * cg
        m0 = rng.randint(0, out_h * out_w - 1)
        m = rng.randint(1, min(10, out_h * out_w - m0))
        if rng.random() < 0.5:
            k0, k = 0, total
        else:
            k0 = rng.randint(0, total - 1)
            k = rng.randint(1, total - k0)
        words = -(-k // r) * m                 # both dataflows (rtl/README.md 3)
        ps = cg + rng.randint(0, 2)
        span = (in_h * in_w * ps) * t.elem_bytes
        if words <= t.act and span + 8 < room:
            break
    return make(Opcode.LOAD2D, sram_base=rng.randint(0, t.act - words),
                dram_base=rng.randint(0, room - span - 8) + rng.randint(0, ps - cg),
                in_h=in_h, in_w=in_w, pix_stride=ps, out_w=out_w, cg=cg, kh=kh, kw=kw,
                sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw, m0=m0, m=m, k0=k0, k=k)


def random_insns(t: Target, buffers: Sequence[Buffer], n: int, room: int,
                 seed: int) -> list[Insn]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rng.choice(["words", "pixels", "load2d", "load2d"]
                          if Buffer.ACT in buffers else ["words", "pixels"])
        if kind == "words":
            out.append(_rand_words(rng, t, buffers, room))
        elif kind == "pixels":
            out.append(_rand_pixels(rng, t, buffers, room))
        else:
            out.append(_rand_load2d(rng, t, room))
    return out


@pytest.mark.parametrize("r, c, df, dw, seed", [(4, 4, WS, 64, 1), (4, 4, OS, 64, 2),
                                                (2, 3, WS, 128, 3), (2, 3, OS, 256, 4),
                                                (3, 2, OS, 128, 5)])
def test_random_instructions(r: int, c: int, df: Dataflow, dw: int, seed: int) -> None:
    """Random WORDS / PIXELS / LOAD2D (odd offsets, strides, padding, dilation, dense kernels,
    K-split chunks) with random RVALID stalls and an odd BASE0, all four buffers served."""
    p = soc_params(r, c, df, data_width=dw)
    room = 1500
    dram = garbage(room + 0x40, seed)
    insns = random_insns(p.target, ALL, 14, room, seed)
    out, _ = simulate(p, ALL, dram, insns, base0=0x3B, stall=0.25, latency=4 + seed, seed=seed)
    assert len(out) == len(insns) and all(o.code == 0 for o in out)


def test_random_on_the_two_soc_loaders() -> None:
    """The SoC's two instances: (ACT, WGT, PARAM) for the load queue and (OUT,) for the
    compute queue's LOAD into OUT."""
    p = soc_params(4, 4, OS)
    dram = garbage(1200, 11)
    main = (Buffer.ACT, Buffer.WGT, Buffer.PARAM)
    out, _ = simulate(p, main, dram, random_insns(p.target, main, 8, 1100, 12), base0=7)
    assert all(o.code == 0 for o in out)
    out, _ = simulate(p, (Buffer.OUT,), dram, random_insns(p.target, (Buffer.OUT,), 8, 1100,
                                                           13), base0=7)
    assert all(o.code == 0 for o in out)


def test_load2d_wide_fields() -> None:
    """Large dilation, stride and padding (every bit of the bit-serial set-up products used),
    an m0 deep into the map, a K-split chunk and a full chunk, both dataflows."""
    for df in (WS, OS):
        p = soc_params(4, 4, df)
        dram = garbage(3000, 14)
        geo = {"in_h": 20, "in_w": 13, "pix_stride": 5, "out_w": 3, "cg": 3, "kh": 2,
               "kw": 3, "sh": 5, "sw": 4, "ph": 7, "pw": 6, "dh": 15, "dw": 9}
        # the K-split chunk starts at (ky, kx, c) = (1, 1, 1), in bounds for pixel 1
        insns = [make(Opcode.LOAD2D, sram_base=1, dram_base=17, m0=4, m=5, k0=0, k=18, **geo),
                 make(Opcode.LOAD2D, sram_base=3, dram_base=2, m0=1, m=8, k0=13, k=5, **geo),
                 make(Opcode.LOAD2D, sram_base=0, dram_base=2, m0=1, m=3, k0=4, k=11, **geo)]
        out, _ = simulate(p, ALL, dram, insns, base0=5)
        assert [o.code for o in out] == [0, 0, 0]


def _events(p: SocParams, insn: Insn) -> dict[str, list[int]]:
    """Cycles (0 = the insn handshake) of the unit's DMA commands, its lane writes and its
    status, with a slave that answers every burst 3 cycles after AR and never stalls."""
    unit = LoadUnit(p, ALL)
    dma = Dma(data_width=p.data_width, buf_addr_width=20, read_clients=("load",),
              write_clients=("store",))
    top = Module()
    top.submodules += [unit, dma]
    wiring.connect(top, unit.dma.cmd, dma.load_cmd)
    wiring.connect(top, dma.load_status, unit.dma.status)
    wiring.connect(top, dma.load_beats, unit.dma.beats)
    ev: dict[str, list[int]] = {"cmd": [], "wr": [], "status": [], "beat": [], "dma": []}
    bus = dma.m_axi

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dma.win_size, 1 << 20)
        ctx.set(unit.unit.status.ready, 1)
        ctx.set(bus.arready, 1)
        ctx.set(unit.unit.insn.payload, encode(insn))
        ctx.set(unit.unit.insn.valid, 1)
        await ctx.tick().until(unit.unit.insn.ready)
        ctx.set(unit.unit.insn.valid, 0)
        bursts: list[list[int]] = []
        for cyc in range(1, 2000):
            rv = bool(bursts) and cyc >= bursts[0][2]
            ctx.set(bus.rvalid, rv)
            ctx.set(bus.rlast, rv and bursts[0][1] == 1)
            if ctx.get(bus.arvalid):
                bursts.append([0, ctx.get(bus.arlen) + 1, cyc + 3])
            if rv and ctx.get(bus.rready):
                ev["beat"].append(cyc)
                bursts[0][1] -= 1
                if bursts[0][1] == 0:
                    bursts.pop(0)
            if ctx.get(unit.dma.cmd.valid) and ctx.get(unit.dma.cmd.ready):
                ev["cmd"].append(cyc)
            if ctx.get(unit.dma.status.valid):
                ev["dma"].append(cyc)
            if any(ctx.get(getattr(unit, f"{PORT_NAMES[b]}_wr").en) for b in ALL):
                ev["wr"].append(cyc)
            if ctx.get(unit.unit.status.valid):
                ev["status"].append(cyc)
                break
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return ev


def test_cycle_behaviour_as_documented() -> None:
    """The numbers of load.py's and im2col.py's docstrings (rtl/README.md 10.2): descriptor in
    cycle 2, the DMA's set-up (2 cycles for one row, 3 for two), one word / PIXELS word piece per
    cycle once the aligner holds its bytes,
    the status two cycles after the last write; LOAD2D's 60-cycle set-up, padding written
    from cycle 62, the first rectangle descriptor after PIX + max(kh, kw) + RECT."""
    p = soc_params(4, 4, WS)
    ev = _events(p, make(Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.WORDS, rows=6,
                         dram_base=3))
    # 24 bytes from offset 3: 4 beats from cycle 7 (2 set-up, AR in 4, 3 latency)
    assert ev["cmd"] == [2] and ev["beat"] == [7, 8, 9, 10]
    assert ev["wr"] == list(range(8, 14)) and ev["status"] == [15]
    ev = _events(p, make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=2,
                         elems=5, dram_stride=9, sram_stride=2, fold_stride=1))
    # two rows of 5 bytes (pixel 0: bytes 0-4 of beat 0; pixel 1: bytes 9-13 = lanes 1-5 of
    # beat 1): AR in 5, beats in 8 and 9; one word piece per cycle (C = 4 lanes): pixel 0's
    # fold 0 (4 elements, 5 bytes held) in 9, its fold 1 (1 element) in 10, pixel 1's in 11, 12
    assert ev["beat"] == [8, 9]
    assert ev["wr"] == [9, 10, 11, 12] and ev["status"] == [14]
    ev = _events(p, make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=2,
                         elems=4, dram_stride=6, sram_stride=1, fold_stride=1))
    # pixel 1 (bytes 6-9) straddles two beats: its whole-word piece waits for the second
    # beat (beats 8 | 9, 10: 2 + 2 bytes), so the writes are 9 (pixel 0) and 11 (pixel 1)
    assert ev["beat"] == [8, 9, 10]
    assert ev["wr"] == [9, 11] and ev["status"] == [13]
    # contiguous (dram_stride = elems*eb): ONE DMA row of 3*4 = 12 bytes, its byte count done
    # bit-serially from cycle 1 + ceil(bitlen(3)/2) = 2, so the descriptor is offered in 2 as
    # for WORDS; beats 7 (8 bytes) and 8 (4), pieces of 4 in 8, 9 and 10 (beat 8's bytes)
    ev = _events(p, make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=3,
                         elems=4, dram_stride=4, sram_stride=1, fold_stride=1))
    assert ev["cmd"] == [2] and ev["beat"] == [7, 8]
    assert ev["wr"] == [8, 9, 10] and ev["status"] == [12]
    # rows = 20 (5 bits): the count is complete from 1 + ceil(5/2) = 4, the descriptor then;
    # its first beat 5 cycles later (as the descriptor in 2 above gave its beat in 7), then
    # one piece per cycle (the aligner back-pressures the 8-byte beats to 4 bytes a cycle)
    ev = _events(p, make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=20,
                         elems=4, dram_stride=4, sram_stride=1, fold_stride=1))
    assert ev["cmd"] == [4] and ev["beat"][0] == 9 and len(ev["dma"]) == 1
    assert ev["wr"] == list(range(10, 30)) and ev["status"] == [31]
    ev = _events(p, make(Opcode.LOAD2D, in_h=2, in_w=2, pix_stride=1, out_w=2, cg=1, kh=3,
                         kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, m=2, k=9))
    # WS runs (im2col.py): pixel 0 = padding row kk 0-2 (lanes 0-2) in 62, padding kk 3 (lane
    # 3) in 63, then in-bounds kk 4-5 (lanes 0-1 of the next word) once its beat has arrived
    assert ev["wr"][:3] == [62, 63, ev["beat"][0] + 1] and ev["cmd"][0] == 62 + 1 + 3 + 1
    # pixel 1's descriptor is offered (and taken) once its walker has run NEXT, PIX, SCAN (3),
    # RECT after pixel 0's ISSUE (the byte offsets are summed during SCAN, no ADDR state);
    # pixel 0's transfer is still outstanding (1 < 2), so it does not wait for its status
    walk = ev["cmd"][0] + 1 + 1 + 3 + 1 + 1
    assert walk < ev["dma"][0]
    # 6 runs per pixel: kk 0-2 | 3 | 4-5 | 6 | 7 | 8 and 0-2 | 3 | 4 | 5 | 6-7 | 8 (a run ends
    # at a word's last lane, a kernel row's end, and where padding meets in-bounds elements)
    assert len(ev["wr"]) == 12 and ev["cmd"][1] == walk
    assert ev["status"] == [ev["wr"][-1] + 2]


def test_decerr_code() -> None:
    """An AXI DECERR response gives DMA_DECERR (3); the next instruction is exact."""
    p = soc_params(4, 4, OS)
    dram = garbage(1024, 15)
    insns = [make(Opcode.LOAD2D, sram_base=0, dram_base=40, in_h=3, in_w=3, pix_stride=2,
                  out_w=3, cg=2, kh=2, kw=2, sh=1, sw=1, ph=0, pw=0, dh=1, dw=1, m=4, k=8),
             make(Opcode.LOAD, buffer=Buffer.PARAM, mode=MemMode.WORDS, dram_base=300, rows=3)]
    out, _ = simulate(p, ALL, dram, insns, slverr=frozenset({50}), resp=3, stall=0.3)
    assert [o.code for o in out] == [3, 0]


@pytest.mark.parametrize("geo", [
    # 1xN kernel, stride 2, padding on every side (a whole padding row of pixels first)
    {"in_h": 3, "in_w": 6, "out_w": 4, "cg": 1, "kh": 1, "kw": 5, "sh": 1, "sw": 2, "ph": 1, "pw": 2, "dh": 1, "dw": 1, "m": 12},
    # Nx1 kernel, dilation 2, ragged bottom edge
    {"in_h": 5, "in_w": 3, "out_w": 3, "cg": 2, "kh": 4, "kw": 1, "sh": 2, "sw": 1, "ph": 1, "pw": 0, "dh": 2, "dw": 1, "m": 9},
    # k = 1 (1x1 kernel, stride 3)
    {"in_h": 7, "in_w": 7, "out_w": 3, "cg": 1, "kh": 1, "kw": 1, "sh": 3, "sw": 3, "ph": 0, "pw": 0, "dh": 1, "dw": 1, "m": 9},
])
def test_load2d_descriptor_pace(geo: dict[str, int]) -> None:
    """Hand count of the incremental descriptor walker: the first descriptor in cycle
    62 + (3 + max(kh, kw)) * (empty pixels before it) + 1 + max(kh, kw) + 1, each later one
    4 + max(kh, kw) + (3 + max(kh, kw)) * (empty pixels between) cycles after the previous
    handshake (these pixels' transfers are short enough that the outstanding limit never
    delays an ISSUE); data exactness of the same geometries against the reference."""
    p = soc_params(4, 4, WS)
    g = dict(geo, pix_stride=geo["cg"], k=geo["kh"] * geo["kw"] * geo["cg"])
    ev = _events(p, make(Opcode.LOAD2D, **g))
    s = max(g["kh"], g["kw"])
    nonempty = []
    for i in range(g["m"]):
        oy, ox = divmod(i, g["out_w"])
        ys = [oy * g["sh"] - g["ph"] + j * g["dh"] for j in range(g["kh"])]
        xs = [ox * g["sw"] - g["pw"] + j * g["dw"] for j in range(g["kw"])]
        nonempty.append(any(0 <= y < g["in_h"] for y in ys)
                        and any(0 <= x < g["in_w"] for x in xs))
    want, cyc = [], 62
    for ne in nonempty:
        if ne:
            want.append(cyc + 1 + s + 1)
            cyc += 4 + s
        else:
            cyc += 3 + s
    assert ev["cmd"] == want
    # WS runs: at most one write per element (test_ws_element_runs_hand_counted counts them)
    assert len(ev["wr"]) <= g["m"] * g["k"] and ev["status"] == [ev["wr"][-1] + 2]
    dram = garbage(512, 3)
    out, _ = simulate(p, ALL, dram, [make(Opcode.LOAD2D, dram_base=5, **g)], base0=3)
    assert [o.code for o in out] == [0]


def _walker_descriptors(p: SocParams, insn: Insn, base: int) -> tuple[list, int]:
    """The im2col descriptor walker alone (``hw.soc.im2col.Im2col``), its DMA command always
    ready and the aligner always holding bytes: (cycle, dram_addr, row_bytes, rows, planes) of
    every descriptor handshake and the first cycle with ``gen_done`` high (cycle 0 = ``start``)."""
    from hwcnn.hw.soc.im2col import Im2col

    dut = Im2col(p)
    got: list[tuple[int, int, int, int, int]] = []
    done: list[int] = []

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dut.insn.as_value(), encode(insn))
        ctx.set(dut.base, base)
        ctx.set(dut.cmd.ready, 1)
        ctx.set(dut.avail, 0xFFFF)              # the aligner always holds bytes
        ctx.set(dut.start, 1)
        for cyc in range(4000):
            if cyc == 1:
                ctx.set(dut.start, 0)
            if ctx.get(dut.cmd.valid):
                d = ctx.get(dut.cmd.payload)
                got.append((cyc, d.dram_addr, d.row_bytes, d.rows, d.planes))
            if cyc > 0 and ctx.get(dut.gen_done):
                done.append(cyc)
                break
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, done[0]


@pytest.mark.parametrize("geo", [
    # 3x3, stride 2, padding 1 on top / left; the chunk starts at (ky, kx, c) = (0, 1, 1) and
    # ends at (1, 2, 1), crossing a kernel-row wrap (positions 1..5, 2 + 3 + 3 + 3 + 2)
    {"in_h": 5, "in_w": 6, "pix_stride": 4, "out_w": 3, "cg": 3, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "ph": 1, "pw": 1,
         "dh": 1, "dw": 1, "m0": 1, "m": 5, "k0": 4, "k": 13},
    # 3x3, dilation 2, padding 2 on top: positions 1..6 (1 + 2 + 2 + 2 + 2 + 1), two wraps
    {"in_h": 7, "in_w": 7, "pix_stride": 2, "out_w": 3, "cg": 2, "kh": 3, "kw": 3, "sh": 1, "sw": 1, "ph": 2, "pw": 0,
         "dh": 2, "dw": 2, "m0": 0, "m": 6, "k0": 3, "k": 10},
    # 5x5 from position 13 = (2, 3) (nonzero ky0*dh*pitch and kx0*dw*pix), stride 3 / 2,
    # dilation 3 / 2, left padding 3, a ragged bottom edge: positions 13..16 (3 + 5 + 5 + 3)
    {"in_h": 12, "in_w": 11, "pix_stride": 7, "out_w": 5, "cg": 5, "kh": 5, "kw": 5, "sh": 3, "sw": 2, "ph": 0, "pw": 3,
         "dh": 3, "dw": 2, "m0": 7, "m": 4, "k0": 67, "k": 16},
])
def test_load2d_ksplit_descriptor_pace(geo: dict[str, int]) -> None:
    """Hand count of the K-split descriptor walker (im2col.py's docstring): PIX in cycle 61,
    then per pixel PIX, per kernel position of the chunk POS and, when the position is in
    bounds, ISSUE (its handshake, the command always ready, steps to the next position), then
    NEXT; ``gen_done`` in the cycle after the last NEXT. Each descriptor reads that position's
    channels of the chunk at ``(y*in_w + x)*pix_stride*eb + c*eb`` (a naive loop here); then the
    same instructions' data against the reference."""
    p = soc_params(4, 4, WS)
    eb = p.target.elem_bytes
    base = 0x3000
    insn = make(Opcode.LOAD2D, sram_base=0, dram_base=21, **geo)
    g = geo
    want, cyc = [], 61
    for i in range(g["m"]):
        oy, ox = divmod(g["m0"] + i, g["out_w"])
        cyc += 1                                                  # PIX
        kk = 0
        while kk < g["k"]:
            pos, c = divmod(g["k0"] + kk, g["cg"])
            n = min(g["cg"] - c, g["k"] - kk)
            ky, kx = divmod(pos, g["kw"])
            y = oy * g["sh"] - g["ph"] + ky * g["dh"]
            x = ox * g["sw"] - g["pw"] + kx * g["dw"]
            if 0 <= y < g["in_h"] and 0 <= x < g["in_w"]:          # POS, ISSUE
                addr = base + 21 + ((y * g["in_w"] + x) * g["pix_stride"] + c) * eb
                want.append((cyc + 1, addr, n * eb, 1, 1))
                cyc += 2
            else:                                                 # POS
                cyc += 1
            kk += n
        cyc += 1                                                  # NEXT
    got, done = _walker_descriptors(p, insn, base)
    assert got == want
    assert done == cyc
    dram = garbage(1200, 4)
    for df in (WS, OS):
        out, _ = simulate(soc_params(4, 4, df), ALL, dram, [insn], base0=3)
        assert [o.code for o in out] == [0]
# ---- the WS element walker's runs (hand counts of im2col.py's rule) ---------------------------

def _golden_a(f: dict[str, int], dram: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Naive im2col of ``f`` over the DRAM bytes (eb = 1): ``A[m x k]`` and the in-bounds
    element stream in (i, kk) order (the bytes the aligner hands over)."""
    a = np.zeros((f["m"], f["k"]), dtype=np.int64)
    stream = []
    for i in range(f["m"]):
        oy, ox = divmod(f["m0"] + i, f["out_w"])
        for kk in range(f["k"]):
            pos, c = divmod(f["k0"] + kk, f["cg"])
            ky, kx = divmod(pos, f["kw"])
            y = oy * f["sh"] - f["ph"] + ky * f["dh"]
            x = ox * f["sw"] - f["pw"] + kx * f["dw"]
            if 0 <= y < f["in_h"] and 0 <= x < f["in_w"]:
                b = int(dram[f["dram_base"] + (y * f["in_w"] + x) * f["pix_stride"] + c])
                stream.append(b)
                a[i, kk] = b - 256 if b >= 128 else b
    return a, stream


def _walk(p: SocParams, insn: Insn, dram: np.ndarray, rate: int | None
          ) -> list[tuple[int, int, int, int]]:
    """Im2col alone (descriptors always taken): its aligner is a byte queue holding the whole
    in-bounds stream from the start (``rate`` None) or receiving ``rate`` bytes at the end of
    every cycle from cycle 61; returns its writes (cycle, word address, lane enables, data),
    cycle 0 = the start pulse."""
    from hwcnn.hw.soc.im2col import Im2col

    im = Im2col(p)
    _, stream = _golden_a(insn.get(), dram)
    held = list(stream) if rate is None else []
    todo = [] if rate is None else list(stream)
    writes: list[tuple[int, int, int, int]] = []

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(im.insn.as_value(), encode(insn))
        ctx.set(im.cmd.ready, 1)
        ctx.set(im.start, 1)
        await ctx.tick()
        ctx.set(im.start, 0)
        for cyc in range(1, 2000):
            ctx.set(im.avail, len(held))
            ctx.set(im.bytes, int.from_bytes(bytes(held[:8]), "little"))
            if ctx.get(im.wr.valid):
                w = im.wr.payload
                writes.append((cyc, ctx.get(w.addr), ctx.get(w.en), ctx.get(w.data)))
            del held[:ctx.get(im.take)]
            if ctx.get(im.done):
                break
            if cyc >= 61 and rate is not None:
                held.extend(todo[:rate])
                del todo[:rate]
            await ctx.tick()

    sim = Simulator(im)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return writes


def _check_words(p: SocParams, insn: Insn, dram: np.ndarray,
                 writes: list[tuple[int, int, int, int]]) -> None:
    """The written lanes are exactly ``hw.layout.act_words`` of the golden im2col."""
    from hwcnn.hw.layout import act_words, unpack_word

    t, f = p.target, insn.get()
    a, _ = _golden_a(f, dram)
    want = [unpack_word(w, t.array.rows, t.array.act_bits) for w in act_words(a, p.config)]
    got = [[None] * t.array.rows for _ in want]
    for _, addr, en, data in writes:
        for lane in range(t.array.rows):
            if en >> lane & 1:
                assert got[addr - f["sram_base"]][lane] is None, (addr, lane)   # written once
                got[addr - f["sram_base"]][lane] = data >> (8 * lane) & 0xFF
    assert got == [[v & 0xFF for v in w] for w in want]


def _g(**kw: int) -> dict[str, int]:
    d = {"sh": 1, "sw": 1, "ph": 0, "pw": 0, "dh": 1, "dw": 1, "m0": 0, "k0": 0, "dram_base": 3}
    d.update(kw)
    d.setdefault("pix_stride", d["cg"])
    d.setdefault("k", d["kh"] * d["kw"] * d["cg"])
    return d


# (geometry, runs as (word offset, lanes of the run, the write's lane enables)), cycle 61 on
RUNS = [
    # cg = 1, 3x3 kernel, padding 1 on the top and left (pixel 0) / top (pixel 1), m = 2:
    # a run ends at a kernel row's end, at lane 3, and where padding meets in-bounds elements
    (_g(in_h=3, in_w=3, out_w=3, cg=1, kh=3, kw=3, ph=1, pw=1, m=2),
     [(0, 0b0111, 0b0111), (0, 0b1000, 0b1000), (2, 0b0011, 0b0011), (2, 0b0100, 0b0100),
      (2, 0b1000, 0b1000), (4, 0b0001, 0b1111),
      (1, 0b0111, 0b0111), (1, 0b1000, 0b1000), (3, 0b0011, 0b0011), (3, 0b1100, 0b1100),
      (5, 0b0001, 0b1111)]),
    # cg = 6, 1x1 kernel (k = 6): lanes 0-3, then 4-5 with lanes 2-3 zeroed, per pixel
    (_g(in_h=2, in_w=2, out_w=2, cg=6, kh=1, kw=1, m=3),
     [(0, 0b1111, 0b1111), (3, 0b0011, 0b1111), (1, 0b1111, 0b1111), (4, 0b0011, 0b1111),
      (2, 0b1111, 0b1111), (5, 0b0011, 0b1111)]),
    # cg = 3, 2x2 kernel, padding 1 on all sides (out 3x3), pixels 0-2 (left and top padding,
    # top, top and right): the padding row's 6 elements cross a word boundary (4 + 2); in
    # pixel 1 kk 8-11 of two kernel positions are one run
    (_g(in_h=2, in_w=2, out_w=3, cg=3, kh=2, kw=2, ph=1, pw=1, m=3),
     [(0, 0b1111, 0b1111), (3, 0b0011, 0b0011), (3, 0b1100, 0b1100), (6, 0b0001, 0b0001),
      (6, 0b1110, 0b1110),
      (1, 0b1111, 0b1111), (4, 0b0011, 0b0011), (4, 0b1100, 0b1100), (7, 0b1111, 0b1111),
      (2, 0b1111, 0b1111), (5, 0b0011, 0b0011), (5, 0b1100, 0b1100), (8, 0b0001, 0b0001),
      (8, 0b1110, 0b1110)]),
    # dilation dw = 2: a run ends at every kernel position (cg = 1: one element per run)
    (_g(in_h=1, in_w=5, out_w=1, cg=1, kh=1, kw=3, dw=2, m=1),
     [(0, 0b0001, 0b0001), (0, 0b0010, 0b0010), (0, 0b0100, 0b1100)]),
    # a K-split chunk: k0 = 2 (kernel position 0, channel 2), k = 7 of cg = 3, 1x3 kernel,
    # pixel 0 with left padding 1: kk 0 padding, kk 1-3 in bounds, kk 4 | 5-6
    (_g(in_h=1, in_w=3, out_w=3, cg=3, kh=1, kw=3, pw=1, m=1, k0=2, k=7),
     [(0, 0b0001, 0b0001), (0, 0b1110, 0b1110), (1, 0b0111, 0b1111)]),
]


@pytest.mark.parametrize("df", [WS, OS])
@pytest.mark.parametrize("geo, runs", RUNS)
def test_element_runs_hand_counted(geo: dict[str, int], runs: list, df: Dataflow) -> None:
    """4x4, 64-bit bus (at most 4 in-bounds elements a cycle): with every byte already in
    the aligner, one run per cycle from cycle 61, each run and its lane enables as counted by
    hand from im2col.py's rule; the written words are act_words of the golden im2col; the
    stepped model (machine.socload.Im2colModel) makes the same runs in the same cycles. The
    same in both dataflows: OS and WS share the activation words (rtl/README.md 3)."""
    from hwcnn.machine.socload import Im2colModel

    p = soc_params(4, 4, df)
    insn = make(Opcode.LOAD2D, sram_base=1, **geo)
    dram = garbage(256, 21)
    writes = _walk(p, insn, dram, None)
    # the hand table's runs cover each pixel's k elements once (lanes above k-1: zeroed)
    assert sum((lanes).bit_count() for _, lanes, _ in runs) == geo["m"] * geo["k"]
    assert all(lanes & en == lanes for _, lanes, en in runs)
    assert [(c, a - 1, en) for c, a, en, _ in writes] == [
        (61 + j, w, en) for j, (w, _, en) in enumerate(runs)]
    _check_words(p, insn, dram, writes)
    model = Im2colModel(insn.get(), 0, 1, 4, 4)
    cycles, cyc = [], 1
    while not model.done:
        if model.busy and model._elems(1 << 20):
            cycles.append(cyc)
        model.update(False, 1 << 20)
        cyc += 1
    assert cycles == [c for c, *_ in writes]


def test_ws_runs_take_what_the_aligner_holds() -> None:
    """Bytes arriving 3 per cycle (end of cycle 61 on): cg = 6, 1x1 kernel, one pixel: no write
    in 61 (nothing held), kk 0-2 in 62 (3 held), kk 3 in 63 (the word's last lane; 2 left),
    kk 4-5 in 64 (5 held) with lanes 2-3 zeroed."""
    p = soc_params(4, 4, WS)
    insn = make(Opcode.LOAD2D, sram_base=0, **_g(in_h=1, in_w=1, out_w=1, cg=6, kh=1, kw=1,
                                                  m=1))
    dram = garbage(64, 22)
    writes = _walk(p, insn, dram, 3)
    assert [(c, a, en) for c, a, en, _ in writes] == [(62, 0, 0b0111), (63, 0, 0b1000),
                                                      (64, 1, 0b1111)]
    _check_words(p, insn, dram, writes)


def test_ws_runs_capped_at_the_bus_width() -> None:
    """16 rows on a 64-bit bus: at most B div eb = 8 in-bounds elements a cycle (a padding run
    fills up to the 16 lanes): cg = 16, 1x1 kernel, pixel 0 in the padding (one write of 16
    lanes), pixel 1 in bounds (lanes 0-7, then 8-15)."""
    p = soc_params(16, 2, WS, depths=BufferDepths(act=64, weight=64, out=64, param=16, acc=64))
    insn = make(Opcode.LOAD2D, sram_base=0, **_g(in_h=1, in_w=1, out_w=3, cg=16, kh=1, kw=1,
                                                  pw=1, m=2))
    dram = garbage(64, 23)
    writes = _walk(p, insn, dram, None)
    assert [(c, a, en) for c, a, en, _ in writes] == [(61, 0, 0xFFFF), (62, 1, 0x00FF),
                                                      (63, 1, 0xFF00)]
