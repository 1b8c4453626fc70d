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
             seed: int = 0, check: bool = True, skew: int = 0,
             model: dict[Buffer, np.ndarray] | None = None
             ) -> tuple[list[Outcome], dict[Buffer, np.ndarray]]:
    """Run ``insns`` through a LoadUnit + Dma; the DRAM seen by the unit is ``dram`` from byte
    ``base0`` (the BASE0 register). With ``check`` every instruction's buffers are compared
    with ``_Machine`` after its status; returns the outcomes and the final buffer model."""
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
                ctx.set(bus.rresp, 2 if any(x in slverr for x in range(a, a + nb)) else 0)
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
            if accepted is not None and cycle > accepted and ctx.get(unit.unit.status.valid):
                insn = todo.pop(0)
                code = ctx.get(unit.unit.status.payload)
                out.append(Outcome(code=code, accepted=accepted, status=cycle))
                accepted = None
                if check:
                    assert code == 0, (insn, code)
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
