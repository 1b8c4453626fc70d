"""The store unit (``hwcnn.hw.soc.store.StoreUnit``) in Amaranth's simulator with the real
``Dma`` (one write client) on a Python AXI slave writing a NumPy DRAM (WSTRB applied) and a
1-cycle output-buffer memory filled with known words. Every STORE leaves exactly the DRAM bytes
``program_exec._Machine.mem`` leaves on the same buffer contents and the same (garbage) DRAM:
the STOREs ``hwcnn compile`` emits (tiny_cnn, LeNet-5, a fire module with concat; 4x4 and 2x3
arrays, both dataflows, 64- and 128-bit buses), random ones (odd offsets and strides, elements
not a multiple of C, several folds, 6- and 12-bit lanes, 64/128/256-bit buses, chunked
descriptors, 4 KiB crossings), NOPs, and the error codes. The cycle rules of rtl/README.md 10.3
are checked against a step model written here and, behind ``DramShim``, against the DMA's
closed form."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.dma import FIELDS, DmaDesc, DramTiming, ErrorCode
from hwcnn.arch.dma_timing import transfer_cycles
from hwcnn.hw.axi.dma import Dma
from hwcnn.hw.axi.dramshim import DramShim
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.hw.soc.store import StoreUnit
from hwcnn.isa import Buffer, MemMode, Opcode, make
from hwcnn.isa.fields import Insn, encode
from hwcnn.isa.target import Target
from hwcnn.machine.program_exec import _Machine

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY


@dataclass
class Run:
    """What the bench saw: the DRAM after the run, per instruction (handshake cycle, status
    cycle, code), the AW bursts and the cycles of W beats and DMA statuses."""

    dram: np.ndarray
    status: list[tuple[int, int, int]] = field(default_factory=list)
    aws: list[tuple[int, int]] = field(default_factory=list)
    w_cycles: list[int] = field(default_factory=list)
    dma_status: list[int] = field(default_factory=list)
    cmd_first_valid: list[int] = field(default_factory=list)
    descs: list[DmaDesc] = field(default_factory=list)
    cmd_taken: list[int] = field(default_factory=list)
    rd_valid: list[bool] = field(default_factory=list)    # the unit's rd_data.valid per cycle
    rd_taken: list[int] = field(default_factory=list)     # cycles the DMA took a beat
    rd_asked: list[int] = field(default_factory=list)     # cycles the DMA asked for a beat


def params_for(target: Target, dataflow: Dataflow, data_width: int) -> SocParams:
    a = target.array
    cfg = HardwareConfig(array=ArrayConfig(rows=a.rows, cols=a.cols, dataflow=dataflow,
                                           act_bits=a.act_bits, weight_bits=a.weight_bits,
                                           acc_bits=a.acc_bits))
    depths = BufferDepths(act=target.act, weight=target.weight, out=target.out,
                          param=target.param, acc=target.acc)
    return SocParams(config=cfg, depths=depths, data_width=data_width)


def out_words(lanes: np.ndarray, bits: int) -> list[int]:
    """The buffer words of signed lane values (naive packing: lane c in bits [c*bits, ...))."""
    words = []
    for row in lanes:
        w = 0
        for c, v in enumerate(row):
            w |= (int(v) & ((1 << bits) - 1)) << (c * bits)
        words.append(w)
    return words


def run(params: SocParams, insns: Sequence[Insn], lanes: np.ndarray, dram: np.ndarray, *,
        base: int, window: tuple[int, int] | None = None, seed: int = 0,
        awready_p: float = 1.0, wready_p: float = 1.0, b_delay: int = 2,
        bresp: Callable[[int], int] = lambda i: 0, gap: int = 0, trace: bool = False,
        timing: DramTiming | None = None, status_ready_p: float = 1.0,
        **unit_kw: int) -> Run:
    """Run ``insns`` on the unit; returns the bench's observations."""
    t = params.target
    nb = params.bus_bytes
    unit = StoreUnit(params, **unit_kw)
    dma = Dma(addr_width=32, data_width=params.data_width, buf_addr_width=20,
              outstanding=params.outstanding, read_clients=("load",), write_clients=("store",))
    top = Module()
    mem = Memory(shape=unsigned(t.lanes(Buffer.OUT) * t.lane_bits(Buffer.OUT)), depth=t.out,
                 init=out_words(lanes, t.lane_bits(Buffer.OUT)))
    rp = mem.read_port()
    top.submodules += [unit, dma, mem]
    bus = dma.m_axi
    if timing is not None:      # the DRAM timing model between the DMA and the bench's RAM
        shim = DramShim(timing, addr_width=32, data_width=params.data_width)
        top.submodules.shim = shim
        wiring.connect(top, dma.m_axi, shim.s_axi)
        bus = shim.m_axi
    wiring.connect(top, unit.dma.cmd, dma.store_cmd)
    wiring.connect(top, dma.store_status, unit.dma.status)
    wiring.connect(top, dma.store_rd_addr, unit.dma.rd_addr)
    wiring.connect(top, unit.dma.rd_data, dma.store_rd_data)
    top.d.comb += [rp.addr.eq(unit.out_rd.addr), unit.out_rd.data.eq(rp.data)]
    mem_out = dram.copy()
    res = Run(dram=mem_out)
    rng = random.Random(seed)
    win = window or (0, len(dram))

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dma.win_base, win[0])
        ctx.set(dma.win_size, win[1])
        ctx.set(unit.dram_base, base)
        ctx.set(unit.unit.status.ready, 1)
        aws: list[list[int]] = []      # [addr, beats, beats written]
        bq: list[tuple[int, int]] = []  # (release cycle, resp)
        nburst = 0
        todo = list(insns)
        offered = False
        hs = 0
        wait = 0
        prev_cmd_valid = 0
        cycle = 0
        while len(res.status) < len(insns) or bq or aws:
            assert cycle < 20_000 + 50 * sum(i["rows"] * max(1, i["elems"]) for i in insns)
            awr = rng.random() < awready_p
            wr = rng.random() < wready_p
            ctx.set(bus.awready, awr)
            ctx.set(bus.wready, wr)
            bv = bool(bq) and bq[0][0] <= cycle
            ctx.set(bus.bvalid, bv)
            ctx.set(bus.bresp, bq[0][1] if bv else 0)
            if not offered and todo and wait <= 0:
                ctx.set(unit.unit.insn.payload, encode(todo[0]))
                ctx.set(unit.unit.insn.valid, 1)
                offered = True
            if offered and ctx.get(unit.unit.insn.ready):
                hs = cycle
                todo.pop(0)
                offered = False
                wait = gap
            else:
                wait -= 1
            if awr and ctx.get(bus.awvalid):
                aws.append([ctx.get(bus.awaddr), ctx.get(bus.awlen) + 1, 0])
                res.aws.append((aws[-1][0], aws[-1][1]))
            if wr and ctx.get(bus.wvalid):
                assert aws, "W before its AW"
                a = aws[0][0] + nb * aws[0][2]
                data, strb = ctx.get(bus.wdata), ctx.get(bus.wstrb)
                for lane in range(nb):
                    if strb >> lane & 1:
                        mem_out[a + lane] = data >> 8 * lane & 0xFF
                aws[0][2] += 1
                res.w_cycles.append(cycle)
                assert bool(ctx.get(bus.wlast)) == (aws[0][2] == aws[0][1])
                if aws[0][2] == aws[0][1]:
                    aws.pop(0)
                    bq.append((cycle + b_delay, bresp(nburst)))
                    nburst += 1
            if bv:
                bq.pop(0)
            cv = ctx.get(unit.dma.cmd.valid)
            if cv and not prev_cmd_valid:
                res.cmd_first_valid.append(cycle)
            prev_cmd_valid = cv and not ctx.get(unit.dma.cmd.ready)
            if cv and ctx.get(unit.dma.cmd.ready):
                p = unit.dma.cmd.payload
                res.descs.append(DmaDesc(**{n: ctx.get(getattr(p, n)) for n in FIELDS}))
                res.cmd_taken.append(cycle)
            if ctx.get(dma.store_status.valid) and ctx.get(dma.store_status.ready):
                res.dma_status.append(cycle)
            if trace:
                res.rd_valid.append(bool(ctx.get(unit.dma.rd_data.valid)))
                if res.rd_valid[-1] and ctx.get(unit.dma.rd_data.ready):
                    res.rd_taken.append(cycle)
                if ctx.get(unit.dma.rd_addr.valid) and ctx.get(unit.dma.rd_addr.ready):
                    res.rd_asked.append(cycle)
            sr = rng.random() < status_ready_p
            ctx.set(unit.unit.status.ready, sr)
            if sr and ctx.get(unit.unit.status.valid):
                res.status.append((hs, cycle, ctx.get(unit.unit.status.payload)))
            await ctx.tick()
            cycle += 1
            if not offered:
                ctx.set(unit.unit.insn.valid, 0)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return res


def expected(target: Target, insns: Sequence[Insn], lanes: np.ndarray, dram: np.ndarray,
             base: int) -> np.ndarray:
    """The interpreter's DRAM after the same STOREs on the same buffer and DRAM."""
    want = dram.copy()
    mach = _Machine(target, want[base:], 0)
    mach.buf[Buffer.OUT] = lanes.astype(np.int64)
    for insn in insns:
        mach.mem(insn)
    return want


def random_lanes(target: Target, seed: int) -> np.ndarray:
    bits = target.lane_bits(Buffer.OUT)
    rng = np.random.default_rng(seed)
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1),
                        size=(target.out, target.lanes(Buffer.OUT)))


def check(params: SocParams, insns: Sequence[Insn], *, base: int, dram_bytes: int,
          seed: int = 0, **kw: object) -> Run:
    t = params.target
    lanes = random_lanes(t, seed)
    dram = np.random.default_rng(seed + 1).integers(0, 256, size=base + dram_bytes,
                                                    dtype=np.uint8)
    res = run(params, insns, lanes, dram, base=base, seed=seed, **kw)  # type: ignore[arg-type]
    want = expected(t, insns, lanes, dram, base)
    assert [s[2] for s in res.status] == [0] * len(insns)
    bad = np.flatnonzero(res.dram != want)
    assert not bad.size, (f"{bad.size} bytes differ, first at {bad[0]}: "
                          f"{res.dram[bad[0]]} != {want[bad[0]]}")
    # not vacuous: the STOREs changed the DRAM, and one flipped bit of the last word stored
    # would show (negative control)
    live = [i for i in insns if i["rows"] and (i["mode"] == MemMode.WORDS or i["elems"])]
    if live:
        assert not np.array_equal(want, dram)
        flipped = lanes.copy()
        flipped[live[-1]["sram_base"], 0] ^= 1
        assert not np.array_equal(res.dram, expected(t, insns, flipped, dram, base))
    return res


def small_target(r: int = 4, c: int = 4, out: int = 64, act_bits: int = 8) -> Target:
    return Target(array=ArrayConfig(rows=r, cols=c, act_bits=act_bits),
                  act=16, weight=16, param=4, out=out, acc=16)


def store(**f: int) -> Insn:
    return make(Opcode.STORE, buffer=Buffer.OUT, **f)


# --- compiled programs --------------------------------------------------------------------

def _compiled_stores(name: str, df: Dataflow, r: int, c: int, kib: int):  # type: ignore[no-untyped-def]
    from tests.test_program import _compiled
    _prog, _q, _x, comp = _compiled(name, df, r, c, kib)
    insns = [i for i in comp.insns if i.op is Opcode.STORE]
    size = comp.regions[-1].offset + comp.regions[-1].size
    return comp.target, insns, size


COMPILED = [("tiny_cnn", df, r, c, 64, 64) for df in (WS, OS) for (r, c) in ((4, 4), (2, 3))
            ] + [("fire", WS, 4, 4, 64, 64), ("fire", OS, 2, 3, 64, 128)]
COMPILED_SLOW = [("tiny_cnn", df, r, c, 64, 128) for df in (WS, OS)
                 for (r, c) in ((4, 4), (2, 3))] + [("lenet5", df, r, c, 1, dw) for df in (WS, OS) for (r, c) in ((4, 4), (2, 3))
                 for dw in (64, 128)] + [("fire", df, r, c, 64, dw) for df in (WS, OS)
                                         for (r, c) in ((4, 4), (2, 3)) for dw in (64, 128)]


@pytest.mark.parametrize("name, df, r, c, kib, dw", COMPILED)
def test_compiled_stores(name: str, df: Dataflow, r: int, c: int, kib: int, dw: int) -> None:
    target, insns, size = _compiled_stores(name, df, r, c, kib)
    assert insns and any(i["mode"] == MemMode.PIXELS for i in insns)
    res = check(params_for(target, df, dw), insns, base=3, dram_bytes=size + 64)
    assert res.descs == [d for i in insns for d in chunks(target, i, 3, dw // 8, 1 << 19, 65535)]


@pytest.mark.slow
@pytest.mark.parametrize("name, df, r, c, kib, dw", COMPILED_SLOW)
def test_compiled_stores_slow(name: str, df: Dataflow, r: int, c: int, kib: int,
                              dw: int) -> None:
    target, insns, size = _compiled_stores(name, df, r, c, kib)
    check(params_for(target, df, dw), insns, base=5, dram_bytes=size + 64,
          wready_p=0.7, awready_p=0.8)


def chunks(t: Target, insn: Insn, base: int, nb: int, chunk: int, max_rows: int
           ) -> list[DmaDesc]:
    """The descriptors rtl/README.md 10.3 says a STORE issues (written out here)."""
    f = insn.get()
    s = base + f["dram_base"]
    out = []
    contiguous = f["mode"] == MemMode.PIXELS and f["dram_stride"] == f["elems"] * t.elem_bytes
    if f["mode"] == MemMode.WORDS or contiguous:
        left = f["rows"] * (f["elems"] * t.elem_bytes if contiguous else t.word_bytes(Buffer.OUT))
        while left:
            n = min(left, chunk - s % chunk)
            out.append(DmaDesc(dram_addr=s, row_bytes=n))
            s, left = s + n, left - n
        return out
    for r0 in range(0, f["rows"], max_rows):
        out.append(DmaDesc(dram_addr=s + r0 * f["dram_stride"], row_bytes=f["elems"] * t.elem_bytes,
                           rows=min(max_rows, f["rows"] - r0), row_stride=f["dram_stride"]))
    return out


# --- random STOREs ------------------------------------------------------------------------

def random_stores(t: Target, rng: random.Random, n: int) -> tuple[list[Insn], int]:
    """``n`` in-range STOREs (both modes, odd offsets and strides, partial and several folds);
    returns them and the DRAM bytes they reach."""
    c, eb, wb = t.lanes(Buffer.OUT), t.elem_bytes, t.word_bytes(Buffer.OUT)
    insns, end = [], 0
    for _ in range(n):
        base = rng.randrange(0, 41)
        if rng.random() < 0.3:
            rows = rng.randrange(1, 13)
            insns.append(store(mode=MemMode.WORDS, sram_base=rng.randrange(0, t.out - rows + 1),
                               dram_base=base, rows=rows))
            end = max(end, base + rows * wb)
            continue
        elems = rng.randrange(1, 3 * c + 3)
        rows = rng.randrange(1, 8)
        nf = -(-elems // c)
        ss, fs = rng.randrange(0, 5), rng.randrange(0, 10)
        top = (nf - 1) * fs + (rows - 1) * ss
        if top >= t.out:
            ss, fs = 1, nf and 1
            top = (nf - 1) * fs + (rows - 1) * ss
        ds = elems * eb + rng.choice((0, 0, 1, 3, 5))
        insns.append(store(mode=MemMode.PIXELS, sram_base=rng.randrange(0, t.out - top),
                           dram_base=base, rows=rows, elems=elems, dram_stride=ds,
                           sram_stride=ss, fold_stride=fs))
        end = max(end, base + (rows - 1) * ds + elems * eb)
    return insns, end


TARGETS = {"4x4": small_target(4, 4), "2x3": small_target(2, 3),
           "3x5a12": small_target(3, 5, act_bits=12), "2x3a6": small_target(2, 3, act_bits=6),
           "4x8": small_target(4, 8)}


@pytest.mark.parametrize("tname, dw", [(n, 64) for n in TARGETS] + [("4x4", 256)] + [
    pytest.param(n, dw, marks=pytest.mark.slow) for n, dw in [(n, 128) for n in TARGETS]
    + [("3x5a12", 256)]])
def test_random_stores(tname: str, dw: int) -> None:
    t = TARGETS[tname]
    rng = random.Random(f"{tname}{dw}")
    insns, end = random_stores(t, rng, 8)
    check(params_for(t, WS, dw), insns, base=rng.randrange(0, 9), dram_bytes=end + 16,
          seed=len(tname) + dw, wready_p=0.75, awready_p=0.85)


@pytest.mark.parametrize("tname", ["4x4", "2x3a6"])
def test_chunked_descriptors(tname: str) -> None:
    """Small chunks (2 beats per WORDS descriptor, 2 pixels per PIXELS descriptor) cut every
    STORE into several DMA transfers; the bytes stay exact."""
    t = TARGETS[tname]
    rng = random.Random(tname)
    insns, end = random_stores(t, rng, 8)
    insns.append(store(mode=MemMode.WORDS, sram_base=3, dram_base=5, rows=13))
    res = check(params_for(t, WS, 64), insns, base=1, dram_bytes=max(end, 5 + 13 * 4) + 16,
                chunk_bytes=16, max_rows=2)
    assert len(res.dma_status) > len(insns) + 4
    assert res.descs == [d for i in insns for d in chunks(t, i, 1, 8, 16, 2)]
    # negative control of the harness: the same run without chunking gives one per STORE
    plain = check(params_for(t, WS, 64), insns, base=1, dram_bytes=max(end, 5 + 13 * 4) + 16)
    assert len(plain.dma_status) == len(insns)


def test_words_lanes_and_pixels_sign_extension() -> None:
    """Hand-worked: 3 lanes of 6 bits, word [-1, 5, -32] = 0b100000_000101_111111 = 0x2017f
    -> WORDS bytes 7f 01 02 (3 bytes); PIXELS one byte per element, sign-extended: ff 05."""
    t = small_target(2, 3, out=4, act_bits=6)
    lanes = np.array([[-1, 5, -32]] * 4)
    dram = np.full(40, 0xAA, np.uint8)
    insns = [store(mode=MemMode.WORDS, sram_base=1, dram_base=1, rows=1),
             store(mode=MemMode.PIXELS, sram_base=2, dram_base=9, rows=2, elems=2,
                   dram_stride=3, sram_stride=1, fold_stride=0)]
    res = run(params_for(t, WS, 64), insns, lanes, dram, base=2)
    want = np.full(40, 0xAA, np.uint8)
    want[3:6] = [0x7F, 0x01, 0x02]
    want[11:13] = [0xFF, 0x05]
    want[14:16] = [0xFF, 0x05]
    assert res.dram.tolist() == want.tolist()
    assert [s[2] for s in res.status] == [0, 0]


# --- NOPs, errors, cycles -------------------------------------------------------------------

def _plain(t: Target, insns: Sequence[Insn], **kw: object) -> tuple[Run, np.ndarray]:
    lanes = random_lanes(t, 7)
    dram = np.random.default_rng(8).integers(0, 256, size=1024, dtype=np.uint8)
    return run(params_for(t, WS, 64), insns, lanes, dram, base=3, **kw), dram  # type: ignore[arg-type]


def test_nop_gives_status_at_once() -> None:
    t = TARGETS["4x4"]
    insns = [store(mode=MemMode.WORDS, rows=0), store(mode=MemMode.PIXELS, rows=0, elems=4),
             store(mode=MemMode.PIXELS, rows=5, elems=0, sram_base=t.out + 9)]
    res, dram = _plain(t, insns)
    assert [(c - h, code) for h, c, code in res.status] == [(2, 0)] * 3
    assert not res.aws and np.array_equal(res.dram, dram)


@pytest.mark.parametrize("fields", [
    {"mode": MemMode.WORDS, "sram_base": 62, "rows": 3},                     # word 64
    {"mode": MemMode.PIXELS, "rows": 1, "elems": 5, "fold_stride": 64},      # fold 1 -> 64
    {"mode": MemMode.PIXELS, "rows": 3, "elems": 4, "sram_stride": 32},      # pixel 2 -> 64
    {"mode": MemMode.PIXELS, "sram_base": 60, "rows": 2, "elems": 9, "sram_stride": 1,
     "fold_stride": 1, "dram_stride": 9},                                    # 60 + 2 + 1 = 63 ok
])
def test_buffer_range(fields: dict[str, int]) -> None:
    """A word at or beyond the OUT depth (64): BUF_RANGE (5) in cycle 3, no DMA traffic; the
    last case reaches word 63 exactly and runs (negative control)."""
    t = TARGETS["4x4"]
    insn = store(dram_base=10, **fields)
    top = (fields.get("sram_base", 0) + ((fields.get("elems", 1) - 1) // 4)
           * fields.get("fold_stride", 0) + (fields["rows"] - 1) * fields.get("sram_stride", 0))
    if fields["mode"] == MemMode.WORDS:
        top = fields["sram_base"] + fields["rows"] - 1
    res, dram = _plain(t, [insn])
    if top >= t.out:
        assert [(c - h, code) for h, c, code in res.status] == [(3, ErrorCode.BUF_RANGE)]
        assert ErrorCode.BUF_RANGE == 5
        assert not res.aws and not res.cmd_first_valid and np.array_equal(res.dram, dram)
    else:
        assert top == 63 and [s[2] for s in res.status] == [0] and res.aws


def test_dma_window_refusal_then_a_good_store() -> None:
    """A STORE outside the DMA window gets DMA_WINDOW (1) with nothing written; the next STORE
    (inside) is exact."""
    t = TARGETS["2x3"]
    bad = store(mode=MemMode.PIXELS, dram_base=150, rows=4, elems=3, dram_stride=5,
                sram_stride=1)
    good = store(mode=MemMode.PIXELS, dram_base=7, rows=4, elems=3, dram_stride=5,
                 sram_stride=1)
    lanes = random_lanes(t, 1)
    dram = np.random.default_rng(2).integers(0, 256, size=256, dtype=np.uint8)
    res = run(params_for(t, WS, 64), [bad, good], lanes, dram, base=3, window=(0, 120))
    assert [s[2] for s in res.status] == [ErrorCode.DMA_WINDOW, 0] and ErrorCode.DMA_WINDOW == 1
    assert np.array_equal(res.dram, expected(t, [good], lanes, dram, 3))


def test_address_beyond_32_bits_is_a_window_error() -> None:
    t = TARGETS["4x4"]
    lanes = random_lanes(t, 1)
    dram = np.zeros(64, np.uint8)
    res = run(params_for(t, WS, 64), [store(mode=MemMode.WORDS, dram_base=8, rows=2)], lanes,
              dram, base=(1 << 32) - 4, window=(0, 1 << 32))
    assert [s[2] for s in res.status] == [ErrorCode.DMA_WINDOW] and not res.aws


@pytest.mark.parametrize("resp, code", [(2, ErrorCode.DMA_SLVERR), (3, ErrorCode.DMA_DECERR)])
def test_axi_error_response(resp: int, code: ErrorCode) -> None:
    """BRESP SLVERR / DECERR on the second burst: the STORE reports 2 / 3 after the DMA has
    drained (never a hang), its leftover beats are dropped and the next STORE is exact (the
    first is not contiguous: one burst per pixel)."""
    t = TARGETS["4x4"]
    first = store(mode=MemMode.PIXELS, dram_base=0, rows=12, elems=6, dram_stride=7,
                  sram_stride=2, fold_stride=1)
    second = store(mode=MemMode.PIXELS, dram_base=100, rows=5, elems=7, dram_stride=9,
                   sram_stride=3, fold_stride=1)
    lanes = random_lanes(t, 4)
    dram = np.random.default_rng(5).integers(0, 256, size=256, dtype=np.uint8)
    res = run(params_for(t, WS, 64), [first, second], lanes, dram, base=3,
              bresp=lambda i: resp if i == 1 else 0)
    assert [s[2] for s in res.status] == [code, 0] and int(code) == resp
    want = expected(t, [second], lanes, dram, 3)
    assert np.array_equal(res.dram[100:], want[100:])


def test_cycles_of_a_store() -> None:
    """The documented timing: descriptor offered in cycle 3 after the handshake, the unit's
    status one cycle after the DMA's; WORDS with wb = B (8 lanes of 8 bits, 64-bit bus) moves a
    beat every cycle, wb = B/2 (4 lanes) a beat every 2 cycles once the FIFOs are drained."""
    for tname, gap in (("4x8", 1), ("4x4", 2)):
        t = TARGETS[tname]
        insn = store(mode=MemMode.WORDS, sram_base=0, dram_base=6, rows=60)
        res, _ = _plain(t, [insn], b_delay=3)
        (hs, st, code), = res.status
        assert code == 0 and res.cmd_first_valid == [hs + 3] and res.dma_status == [st - 1]
        steps = np.diff(res.w_cycles)
        assert len(res.w_cycles) == -(-((3 + 6) % 8 + 60 * t.word_bytes(Buffer.OUT)) // 8)
        assert set(steps[8:-1].tolist()) == {gap}, steps   # the row's tail beat follows at once


def test_cycles_of_a_contiguous_pixels_store() -> None:
    """Hand-counted (rtl/README.md 10.3): 5 pixels of 8 one-byte elements on 8 lanes, 64-bit
    bus, S = 3 + 5 = 8 (beat-aligned). dram_stride 8 = elems*eb: contiguous, so one DMA row of
    5*8 = 40 bytes (one descriptor offered in cycle 3: the count of rows = 0b101 is complete
    from 1 + ceil(3/2) = 3), one AW of 5 beats, the beats in cycles 8..12 (a piece of 8 bytes
    = one beat per cycle), B 3 cycles after the last beat (15), the DMA's status in 16, the
    unit's in 17. The same STORE with dram_stride 9 keeps one DMA row per pixel: one
    descriptor of 5 rows, 5 AWs (the pixel at 8 in one beat, the later ones straddle two beats:
    9 beats in 11..19), statuses 23 / 24."""
    t = TARGETS["4x8"]
    got = []
    for ds in (8, 9):
        insn = store(mode=MemMode.PIXELS, sram_base=0, dram_base=5, rows=5, elems=8,
                     dram_stride=ds, sram_stride=1)
        res, dram = _plain(t, [insn], b_delay=3)
        assert np.array_equal(res.dram, expected(t, [insn], random_lanes(t, 7), dram, 3))
        got.append((res.status, res.cmd_first_valid, res.descs, res.aws, res.w_cycles,
                    res.dma_status))
    assert got[0] == ([(0, 17, 0)], [3], [DmaDesc(dram_addr=8, row_bytes=40)], [(8, 5)],
                      [8, 9, 10, 11, 12], [16])
    assert got[1] == ([(0, 24, 0)], [3], [DmaDesc(dram_addr=8, row_bytes=8, rows=5,
                                                  row_stride=9)],
                      [(8, 1), (16, 2), (24, 2), (32, 2), (40, 2)], list(range(11, 20)), [23])


@pytest.mark.parametrize("rows, ds, cmd", [(1, 1, 3), (3, 1, 3), (4, 1, 3), (15, 1, 3),
                                           (16, 1, 4), (60, 1, 4), (1000, 1, 6),
                                           (400, 2, 3)])
def test_contiguous_byte_count_cycles(rows: int, ds: int, cmd: int) -> None:
    """The bit-serial count rows*(elems*eb), 2 bits of rows per cycle from cycle 1, delays the
    first descriptor beyond cycle 3 only for rows >= 16: bitlen 1..4 -> ready by cycle 3,
    16 (bitlen 5) and 60 (6) -> 4, 1000 (10) -> 6; a non-contiguous store (dram_stride 2 for
    1-byte pixels) does not count: cycle 3. sram_stride 0 rereads word 0 (any rows fit)."""
    t = TARGETS["4x4"]
    insn = store(mode=MemMode.PIXELS, sram_base=0, dram_base=5, rows=rows, elems=1,
                 dram_stride=ds, sram_stride=0)
    res, dram = _plain(t, [insn])
    assert [s[2] for s in res.status] == [0] and res.cmd_first_valid == [cmd]
    assert res.descs == ([DmaDesc(dram_addr=8, row_bytes=rows)] if ds == 1 else
                         [DmaDesc(dram_addr=8, row_bytes=1, rows=rows, row_stride=ds)])
    assert np.array_equal(res.dram, expected(t, [insn], random_lanes(t, 7), dram, 3))


def test_contiguous_store_in_chunks() -> None:
    """With 16-byte chunks: 7 pixels of 5 one-byte elements (2 folds on 4 lanes) from S = 1 + 4
    = 5, 35 bytes -> descriptors [5, 16), [16, 32), [32, 40) continuing one byte stream."""
    t = TARGETS["4x4"]
    insn = store(mode=MemMode.PIXELS, sram_base=2, dram_base=4, rows=7, elems=5, dram_stride=5,
                 sram_stride=2, fold_stride=1)
    res = check(params_for(t, WS, 64), [insn], base=1, dram_bytes=60, chunk_bytes=16)
    assert res.descs == [DmaDesc(dram_addr=5, row_bytes=11), DmaDesc(dram_addr=16, row_bytes=16),
                         DmaDesc(dram_addr=32, row_bytes=8)]


@pytest.mark.parametrize("base, dram_base", [((1 << 32) - 4, 8), ((1 << 32) - 24, 0)])
def test_contiguous_store_beyond_32_bits(base: int, dram_base: int) -> None:
    """A contiguous store starting at 2**32 + 4 is not offered (the unit's check); one of 32
    bytes starting 24 bytes below 2**32 is cut at 2**32 (a multiple of the chunk), its first
    descriptor (24 bytes) reaches beyond the window's end 2**32 - 16 and is refused by the DMA:
    DMA_WINDOW, nothing written, never a wrap to address 0."""
    t = TARGETS["4x4"]
    lanes = random_lanes(t, 1)
    dram = np.zeros(64, np.uint8)
    insn = store(mode=MemMode.PIXELS, dram_base=dram_base, rows=8, elems=4, dram_stride=4,
                 sram_stride=1)
    res = run(params_for(t, WS, 64), [insn], lanes, dram, base=base,
              window=(0, (1 << 32) - 16))
    assert [s[2] for s in res.status] == [ErrorCode.DMA_WINDOW] and not res.aws
    assert res.descs == ([DmaDesc(dram_addr=(1 << 32) - 24, row_bytes=24)] if dram_base == 0
                         else [])


def test_rows_across_a_4k_page() -> None:
    """Rows that cross a 4 KiB boundary are split into two bursts by the DMA; the beat stream
    continues across them."""
    t = TARGETS["2x3a6"]
    insns = [store(mode=MemMode.WORDS, sram_base=2, dram_base=4096 - 29, rows=21),
             store(mode=MemMode.PIXELS, sram_base=1, dram_base=2 * 4096 - 22, rows=3, elems=8,
                   dram_stride=11, sram_stride=2, fold_stride=3)]
    res = check(params_for(t, WS, 128), insns, base=6, dram_bytes=3 * 4096)
    assert len(res.aws) == 2 + 3 + 1


def model_valid(t: Target, insn: Insn, base: int, nb: int, start: int, end: int,
                taken: set[int], asked: set[int], reader: int = 3) -> list[bool]:
    """rd_data.valid per cycle in [start, end) by the rules of rtl/README.md 10.3 and
    hw/soc/pack.py (reader of 3 words, packer, 4-beat FIFO; a beat the DMA asked for in ``u``
    is answered from ``u+2``), given the cycles the DMA asks for and takes beats; ``start`` =
    the first RUN cycle (handshake + 3)."""
    f = insn.get()
    c, eb, wb = t.lanes(Buffer.OUT), t.elem_bytes, t.word_bytes(Buffer.OUT)
    s = base + f["dram_base"]
    pieces = []        # (bytes, first, last, lane of the row's first byte)
    if f["mode"] == MemMode.WORDS:
        pieces = [(wb, i == 0, i == f["rows"] - 1, s % nb) for i in range(f["rows"])]
    else:
        nf = -(-f["elems"] // c)
        seq = f["dram_stride"] == f["elems"] * eb     # one byte stream: one DRAM row
        for i in range(f["rows"]):
            pieces += [(min(c, f["elems"] - j * c) * eb, j == 0 and (i == 0 or not seq),
                        j == nf - 1 and (i == f["rows"] - 1 or not seq),
                        (s + i * f["dram_stride"]) % nb) for j in range(nf)]
    pq: list[tuple[int, bool, bool, int]] = []
    pending = None
    gi = cnt = bq = cred = 0
    tail = False
    out = []
    for cyc in range(start, end):
        out.append(bq > 0 and cred > 0)
        req = gi < len(pieces) and len(pq) + (pending is not None) < reader
        absorb = bool(pq) and not tail and cnt < nb
        total, end_row = cnt, tail
        if absorb:
            n, first, last, off = pq.pop(0)
            total, end_row = (off if first else cnt) + n, last
        emit = (total >= nb or (end_row and total > 0)) and bq < 4
        if emit:
            cnt, tail = (total - nb, end_row) if total > nb else (0, False)
        else:
            cnt, tail = total, end_row
        take = cyc in taken and bq > 0 and cred > 0
        cred += int(cyc - 1 in asked) - int(take)
        if pending is not None:
            pq.append(pending)
        pending = pieces[gi] if req else None
        gi += req
        bq += int(emit) - int(take)
    return out


@pytest.mark.parametrize("tname, dw, wready", [("4x4", 64, 0.6), ("2x3a6", 64, 0.6),
                                               ("3x5a12", 128, 0.6), ("4x8", 64, 1.0)])
def test_beat_timing_matches_the_documented_rules(tname: str, dw: int, wready: float) -> None:
    """The cycle-exact rules (what a machine model must mirror): the unit's rd_data.valid in
    every cycle equals a step model of the documented reader / packer / beat FIFO, under
    random W back-pressure; the same model with a 2-word reader disagrees (negative control)."""
    t = TARGETS[tname]
    rng = random.Random(tname)
    insns, end = random_stores(t, rng, 6)
    insns.append(store(mode=MemMode.WORDS, sram_base=0, dram_base=3, rows=30))
    lanes = random_lanes(t, 3)
    dram = np.random.default_rng(4).integers(0, 256, size=end + 200, dtype=np.uint8)
    res = run(params_for(t, WS, dw), insns, lanes, dram, base=1, trace=True, wready_p=wready,
              gap=2)
    assert [s[2] for s in res.status] == [0] * len(insns)
    taken, asked = set(res.rd_taken), set(res.rd_asked)
    for insn, (hs, st, _code) in zip(insns, res.status, strict=True):
        got = res.rd_valid[hs + 3:st]
        want = model_valid(t, insn, 1, dw // 8, hs + 3, st, taken, asked)
        assert got == want, (insn, got, want)
        assert not any(res.rd_valid[hs:hs + 3]) and sum(got) > 0
    assert any(res.rd_valid[hs + 3:st] != model_valid(t, insn, 1, dw // 8, hs + 3, st, taken,
                                                            asked, reader=2)
               for insn, (hs, st, _c) in zip(insns, res.status, strict=True))


@pytest.mark.parametrize("k", [0, 1, 3, 5, 7, 8, 11, 65535, 43691, 0x5556])
def test_constant_arithmetic(k: int) -> None:
    """mul_const (shift-and-add by canonical signed digits) and div_const equal x*k and x // d
    on random 16-bit x (and their edges) in the simulator."""
    from amaranth.hdl import Signal

    from hwcnn.hw.soc.store import csd, div_const, mul_const

    assert sum(s << p for s, p in csd(k)) == k
    x = Signal(16)
    prod = Signal(40)
    quo = {d: Signal(16) for d in (3, 5, 7, 4)}
    m = Module()
    m.d.comb += prod.eq(mul_const(x, k))
    m.d.comb += [q.eq(div_const(x, 16, d)) for d, q in quo.items()]
    xs = [0, 1, 2, 0xFFFF, 0xFFFE] + random.Random(k).sample(range(1 << 16), 40)

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        for v in xs:
            ctx.set(x, v)
            assert ctx.get(prod) == v * k
            for d, q in quo.items():
                assert ctx.get(q) == v // d

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("tname, bpc, keeps_up", [("4x8", 8, True), ("4x4", 4, True),
                                                  ("4x4", 8, False)])
def test_dma_timing_when_the_packer_keeps_up(tname: str, bpc: int, keeps_up: bool) -> None:
    """Behind the DRAM timing shim (latency 12, ``bpc`` bytes per cycle, 64-bit bus): the unit
    answers the DMA exactly like WordReader, so a STORE whose packer keeps up with the DRAM
    (4x8: 8-byte words and pixels; 4x4 at a beat per 2 cycles) takes the DMA's closed-form
    cycles per descriptor, offered in cycle 3 and answered one cycle after the DMA's status.
    At a beat per cycle 4-byte pieces cannot keep up with a long stream (WORDS, contiguous
    PIXELS): slower than the closed form (the machine model must add the packer's rate;
    negative control)."""
    t = TARGETS[tname]
    timing = DramTiming(latency=12, bytes_per_cycle=Fraction(bpc))
    c = t.lanes(Buffer.OUT)
    insns = [store(mode=MemMode.WORDS, sram_base=1, dram_base=3, rows=40),
             store(mode=MemMode.PIXELS, sram_base=0, dram_base=1, rows=9, elems=c,
                   dram_stride=c + 4, sram_stride=2, fold_stride=1),
             store(mode=MemMode.PIXELS, sram_base=0, dram_base=7, rows=6, elems=2 * c,
                   dram_stride=2 * c, sram_stride=1, fold_stride=9)]
    lanes = random_lanes(t, 9)
    dram = np.random.default_rng(9).integers(0, 256, size=1024, dtype=np.uint8)
    params = params_for(t, WS, 64)
    res = run(params, insns, lanes, dram, base=5, timing=timing)
    assert np.array_equal(res.dram, expected(t, insns, lanes, dram, 5))
    got = [d1 - d0 for d0, d1 in zip(res.cmd_taken, res.dma_status, strict=True)]
    closed = [transfer_cycles(d, write=True, bus_bytes=8, dram=timing,
                              outstanding=params.outstanding,
                              window=(0, 1024)) for d in res.descs]
    assert [h + 3 for h, _s, _c in res.status] == res.cmd_taken
    assert [s - 1 for _h, s, _c in res.status] == res.dma_status
    if keeps_up:
        assert got == closed
    else:
        # the WORDS store and the contiguous PIXELS one (one 48-byte stream) are slower than
        # the closed form; the non-contiguous one (8 bytes in 2 pieces per DMA row) keeps up
        assert got[0] > closed[0] and got[1] == closed[1] and got[2] > closed[2]


def test_slow_dispatcher() -> None:
    """The dispatcher takes statuses late and offers instructions back to back: still one
    status per STORE, in order, and the bytes exact."""
    t = TARGETS["2x3"]
    insns, end = random_stores(t, random.Random(11), 6)
    insns.insert(2, store(mode=MemMode.WORDS, rows=0))
    check(params_for(t, WS, 64), insns, base=2, dram_bytes=end + 8, status_ready_p=0.3)


def test_converts_to_verilog() -> None:
    from amaranth.back import verilog

    text = verilog.convert(StoreUnit(params_for(TARGETS["2x3"], OS, 128)), name="store")
    assert "module store" in text and "out_rd__addr" in text and "dma__rd_data__valid" in text


@pytest.mark.slow
def test_contiguous_store_across_a_2_19_boundary() -> None:
    """The real chunk size: 65,540 pixels of 8 one-byte elements (8 lanes, sram_stride 0), S = 3
    + 5 = 8: 524,320 bytes in two descriptors, [8, 2**19) and [2**19, 2**19 + 40), the beats one
    stream (every byte exact); more than 65,535 pixels in one descriptor, and the count of
    rows (bitlen 17) is complete from cycle 1 + ceil(17/2) = 10, so the first descriptor is
    offered in cycle 10."""
    t = TARGETS["4x8"]
    rows = 65_540
    insn = store(mode=MemMode.PIXELS, sram_base=1, dram_base=5, rows=rows, elems=8,
                 dram_stride=8, sram_stride=0)
    res = check(params_for(t, WS, 64), [insn], base=3, dram_bytes=5 + rows * 8 + 16)
    assert res.descs == [DmaDesc(dram_addr=8, row_bytes=(1 << 19) - 8),
                         DmaDesc(dram_addr=1 << 19, row_bytes=40)]
    assert res.cmd_first_valid[0] == res.status[0][0] + 10
