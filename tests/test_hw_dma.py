"""The AXI DMA RTL in Amaranth's simulator (fast tier; the full Verilator/cocotbext-axi suite is
``tests/test_dma_cocotb.py``): a 64-bit ``Dma`` behind the ``DramShim``, a Python AXI RAM behind
that, a read and a write client. Data is checked byte by byte against the descriptor semantics,
cycles against the closed form and the stepped model."""

from __future__ import annotations

import random
from fractions import Fraction

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hwcnn.arch.dma import DmaDesc, DramTiming
from hwcnn.arch.dma_timing import transfer_cycles
from hwcnn.hw.axi.bufport import WordReader
from hwcnn.hw.axi.dma import Dma
from hwcnn.hw.axi.dramshim import DramShim
from hwcnn.machine.dmasim import DmaModel, Request

NB = 8
TIMING = DramTiming(latency=6, bytes_per_cycle=Fraction(5))     # a beat every 8/5 cycles
WIN = (0x100, 0x8000)


def test_dma_reads_and_writes_exactly() -> None:
    dma = Dma(data_width=64, buf_addr_width=8, outstanding=2, read_clients=("load",),
              write_clients=("store",))
    shim = DramShim(TIMING, addr_width=32, data_width=64)
    rdr = WordReader(8, 64)
    top = Module()
    top.submodules += [dma, shim, rdr]
    wiring.connect(top, dma.m_axi, shim.s_axi)
    wiring.connect(top, dma.store_rd_addr, rdr.addr)
    wiring.connect(top, rdr.words, dma.store_rd_data)
    rng = random.Random(4)
    dram = bytearray(rng.randbytes(0x9000))
    image = bytes(dram)
    bufmem = {a: rng.getrandbits(64) for a in range(256)}
    ram = shim.m_axi
    jobs = [("load", DmaDesc(dram_addr=0x1000 - 5, row_bytes=13, rows=2, row_stride=40,
                             buf_addr=3, buf_stride=3)),
            ("store", DmaDesc(dram_addr=0x2FFD, row_bytes=21, rows=2, row_stride=4097,
                              buf_addr=10, buf_stride=5)),
            ("load", DmaDesc(dram_addr=0x10, row_bytes=8)),                     # outside
            ("load", DmaDesc(dram_addr=0x400, row_bytes=600, buf_addr=100))]    # 76 beats
    seen: list[tuple[int, int, int]] = []   # (cmd cycle, status cycle, code)
    loaded: dict[int, int] = {}

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dma.win_base, WIN[0])
        ctx.set(dma.win_size, WIN[1])
        for c in ("load", "store"):
            ctx.set(getattr(dma, f"{c}_status").ready, 1)
        ctx.set(dma.load_beats.ready, 1)
        reads: list[list[int]] = []      # [addr, beats left]
        aws: list[list[int]] = []
        bq: list[int] = []
        prev_rd = 0
        cycle = 0
        for client, desc in jobs:
            cmd = getattr(dma, f"{client}_cmd")
            ctx.set(cmd.payload, desc.fields())
            ctx.set(cmd.valid, 1)
            start = None
            while True:
                # the backing RAM: always ready, one beat per cycle, B one cycle after WLAST
                ctx.set(ram.arready, 1)
                ctx.set(ram.awready, 1)
                ctx.set(ram.wready, 1)
                rv, bv = bool(reads), bool(bq)
                ctx.set(ram.rvalid, rv)
                if rv:
                    a = reads[0][0]
                    ctx.set(ram.rdata, int.from_bytes(dram[a:a + NB], "little"))
                    ctx.set(ram.rlast, reads[0][1] == 1)
                ctx.set(ram.bvalid, bv)
                ctx.set(rdr.rd_data, bufmem[prev_rd])
                prev_rd = ctx.get(rdr.rd_addr)
                if ctx.get(ram.arvalid):
                    reads.append([ctx.get(ram.araddr), ctx.get(ram.arlen) + 1])
                if ctx.get(ram.awvalid):
                    aws.append([ctx.get(ram.awaddr), 0])
                if rv and ctx.get(ram.rready):
                    reads[0][0] += NB
                    reads[0][1] -= 1
                    if reads[0][1] == 0:
                        reads.pop(0)
                if bv and ctx.get(ram.bready):
                    bq.pop(0)
                if ctx.get(ram.wvalid):
                    a = aws[0][0] + NB * aws[0][1]
                    data, strb = ctx.get(ram.wdata), ctx.get(ram.wstrb)
                    for lane in range(NB):
                        if strb >> lane & 1:
                            dram[a + lane] = data >> 8 * lane & 0xFF
                    aws[0][1] += 1
                    if ctx.get(ram.wlast):
                        aws.pop(0)
                        bq.append(1)
                b = dma.load_beats
                if ctx.get(b.valid):
                    word = loaded.get(ctx.get(b.payload.addr), 0)
                    data, strb = ctx.get(b.payload.data), ctx.get(b.payload.strb)
                    for lane in range(NB):
                        if strb >> lane & 1:
                            word = (word & ~(0xFF << 8 * lane)) | (data & 0xFF << 8 * lane)
                    loaded[ctx.get(b.payload.addr)] = word
                taken = start is None and ctx.get(cmd.ready)
                if taken:
                    start = cycle
                st = getattr(dma, f"{client}_status")
                if ctx.get(st.valid):
                    seen.append((start, cycle, ctx.get(st.payload)))
                    await ctx.tick()
                    cycle += 1
                    break
                await ctx.tick()
                cycle += 1
                if taken:
                    ctx.set(cmd.valid, 0)
                assert cycle < 5000, (seen, client, start, reads, aws, bq)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # data: the store's rows from its buffer words, the loads' buffer words from DRAM
    want = bytearray(image)
    store = jobs[1][1]
    for i, x0 in enumerate(store.row_starts()):
        for x in range(x0, x0 + store.row_bytes):
            word = store.buf_addr + i * store.buf_stride + x // NB - x0 // NB
            want[x] = bufmem[word] >> 8 * (x % NB) & 0xFF
    assert dram == want
    expect: dict[int, int] = {}
    for desc in (jobs[0][1], jobs[3][1]):
        for i, x0 in enumerate(desc.row_starts()):
            for x in range(x0, x0 + desc.row_bytes):
                word = desc.buf_addr + i * desc.buf_stride + x // NB - x0 // NB
                expect[word] = expect.get(word, 0) | image[x] << 8 * (x % NB)
    assert loaded == expect
    # cycles and codes
    assert [s[2] for s in seen] == [0, 0, 1, 0]
    for (client, desc), (c0, c1, _) in zip(jobs, seen, strict=True):
        closed = transfer_cycles(desc, write=client == "store", bus_bytes=NB, dram=TIMING,
                                 outstanding=2, window=WIN)
        model = DmaModel(bus_bytes=NB, dram=TIMING, outstanding=2, read_clients=("load",),
                         write_clients=("store",), window=WIN)
        (out,) = model.run([Request(client=client, desc=desc)])
        assert c1 - c0 == closed == out.cycles, (desc, c1 - c0, closed, out.cycles)


def test_walker_setup_length_matches_hand_count() -> None:
    """The BurstWalker alone (Amaranth simulator): cycles from the descriptor handshake to the
    first burst (and to the status of an empty transfer) for several (rows, planes), against a
    hand count of 2 + max(bitlen(rows-1), bitlen(planes-1)) and against setup_cycles."""
    from hwcnn.arch.dma_timing import setup_cycles
    from hwcnn.hw.axi.walker import BurstWalker

    # (rows, planes, row_bytes): hand-counted S (handshake + shift-add steps + CHECK)
    cases = [(1, 1, 8, 2), (2, 1, 8, 3), (3, 1, 8, 4), (4, 1, 8, 4), (5, 1, 8, 5),
             (1, 2, 8, 3), (1, 9, 8, 6), (3, 5, 8, 5), (17, 3, 8, 7), (0, 1, 8, 18),
             (1, 1, 0, 2), (9, 2, 0, 6)]
    w = BurstWalker(addr_width=32, buf_addr_width=8, data_width=64)
    got: list[tuple[int, str]] = []

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(w.win_base, 0)
        ctx.set(w.win_size, 1 << 32)
        ctx.set(w.burst.ready, 1)
        ctx.set(w.status.ready, 1)
        inflight = 0

        async def tick() -> None:   # a trivial engine: one burst completes per cycle
            nonlocal inflight
            fired = ctx.get(w.burst.valid)
            ctx.set(w.ended, inflight > 0)
            inflight += fired - (inflight > 0)
            await ctx.tick()

        for rows, planes, nbytes, _ in cases:
            ctx.set(w.cmd.payload, DmaDesc(dram_addr=0x100, row_bytes=nbytes, rows=rows,
                                           row_stride=64, planes=planes,
                                           plane_stride=4096).fields())
            while not ctx.get(w.idle):
                await tick()
            ctx.set(w.cmd.valid, 1)
            assert ctx.get(w.cmd.ready)
            await tick()
            ctx.set(w.cmd.valid, 0)
            cycle = 1
            while not (ctx.get(w.burst.valid) or ctx.get(w.status.valid)):
                await tick()
                cycle += 1
            got.append((cycle, "burst" if ctx.get(w.burst.valid) else "status"))

    sim = Simulator(w)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for (rows, planes, nbytes, hand), (cycle, what) in zip(cases, got, strict=True):
        empty = rows == 0 or planes == 0 or nbytes == 0
        assert what == ("status" if empty else "burst"), (rows, planes, nbytes, what)
        assert cycle == hand == setup_cycles(rows, planes), (rows, planes, cycle, hand)


def _chain_codes(jobs: list[DmaDesc], bad: tuple[int, int],
                 wait: int | None = None) -> list[tuple[int, int, int]]:
    """A 64-bit Dma (one read client) on a testbench AXI slave that answers each AR 3 cycles
    later, one beat per cycle, with SLVERR on every beat inside ``bad``; the client offers
    its descriptors back to back (the next one from the cycle after a handshake; descriptor
    ``wait`` only once every earlier status has been taken). Returns
    (handshake cycle, status cycle, code) per descriptor."""
    dma = Dma(data_width=64, buf_addr_width=8, outstanding=2, read_clients=("load",),
              write_clients=("store",))
    out: list[tuple[int, int, int]] = []

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        bus = dma.m_axi
        ctx.set(dma.win_base, WIN[0])
        ctx.set(dma.win_size, WIN[1])
        ctx.set(dma.load_status.ready, 1)
        ctx.set(dma.load_beats.ready, 1)
        ctx.set(bus.arready, 1)
        reads: list[list[int]] = []          # [release cycle, addr, beats left]
        taken: list[int] = []
        k, cycle = 0, 0
        cmd = dma.load_cmd
        while len(out) < len(jobs):
            offer = k < len(jobs) and (k != wait or len(out) == k)
            if offer:
                ctx.set(cmd.payload, jobs[k].fields())
            ctx.set(cmd.valid, offer)
            rv = bool(reads) and reads[0][0] <= cycle
            ctx.set(bus.rvalid, rv)
            if rv:
                a = reads[0][1]
                ctx.set(bus.rresp, 2 if bad[0] <= a < bad[1] else 0)
                ctx.set(bus.rlast, reads[0][2] == 1)
            if ctx.get(bus.arvalid):
                reads.append([cycle + 3, ctx.get(bus.araddr), ctx.get(bus.arlen) + 1])
            if rv and ctx.get(bus.rready):
                reads[0][1] += NB
                reads[0][2] -= 1
                if reads[0][2] == 0:
                    reads.pop(0)
                elif reads:
                    reads[0][0] = cycle + 1
            if offer and ctx.get(cmd.ready):
                taken.append(cycle)
                k += 1
            if ctx.get(dma.load_status.valid):
                i = len(out)
                out.append((taken[i], cycle, ctx.get(dma.load_status.payload)))
            await ctx.tick()
            cycle += 1
            assert cycle < 3000, out

    sim = Simulator(dma)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_chained_transfers_error_codes() -> None:
    """The sticky code with chained transfers (walker.py): the transfer whose burst gets the
    error response and every transfer accepted after it until the engine is idle carry it,
    no burst is issued meanwhile; an earlier transfer whose status was already offered keeps
    0; a window refusal (1) is not sticky; a fresh grant of the idle engine clears the code."""
    row = DmaDesc(dram_addr=0x1000, row_bytes=64, rows=2, row_stride=256)
    bad = (0x4000, 0x4100)
    hit = DmaDesc(dram_addr=0x4000, row_bytes=16)
    outside = DmaDesc(dram_addr=0x10, row_bytes=8)
    # clean, then the error, then one chained behind it: 0, 2, 2
    codes = [c for _, _, c in _chain_codes([row, hit, row], bad)]
    assert codes == [0, 2, 2]
    # error first: the chained transfers after it carry it too
    assert [c for _, _, c in _chain_codes([hit, row, row], bad)] == [2, 2, 2]
    # a refused descriptor in the chain: 1 for it alone
    assert [c for _, _, c in _chain_codes([row, outside, row], bad)] == [0, 1, 0]
    # a descriptor offered once the engine is idle again (a fresh grant) starts clean
    out = _chain_codes([hit, row, row, row], bad, wait=3)
    assert [c for _, _, c in out] == [2, 2, 2, 0]
    assert out[1][0] <= out[0][1] and out[3][0] > out[2][1]
