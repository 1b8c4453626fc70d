"""The AXI DMA and the control registers under cocotb + cocotbext-axi (runs in the simulator).

Harness: ``sim/dma_top.py`` (one DMA per bus width, each behind the DRAM timing shim, in front of
an AxiRam). A per-cycle service loop drives the client streams and records every handshake with
its cycle number: at each falling edge it sets this cycle's inputs, waits 1 ns for the
combinational outputs to settle, and samples; a VALID&READY seen then is the handshake of the
rising edge that ends the cycle.

Expected data is computed here byte by byte from the descriptor semantics (``hwcnn.arch.dma``
module docstring): DRAM byte ``x`` of buffer row ``i`` lands in word
``buf_addr + i*buf_stride + (x//B - x0//B)``, lane ``x % B``. Expected cycles come from the
closed form (:mod:`hwcnn.arch.dma_timing`) and the stepped model (:mod:`hwcnn.machine.dmasim`).

Environment: ``HWCNN_DMA_RESULTS`` (JSON file receiving every transfer's measured and modelled
cycles), ``HWCNN_DMA_RANDOM`` (random transfers per width and direction, default 6).
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import FallingEdge

from hwcnn.arch.dma import DmaDesc
from hwcnn.arch.dma import ErrorCode
from hwcnn.hw.axi.regmap import ID_VALUE, VERSION_VALUE
from sim.tb.dma_bench import (
    BUF_WORDS,
    RAM_BYTES,
    REGS,
    WIN,
    Bench,
    dump,
    expected_buffer,
    expected_dram,
    fill,
    model_cycles,
    random_desc,
    record,
    stepped,
)


@cocotb.test()
async def transfers_exact(dut) -> None:  # type: ignore[no-untyped-def]
    """Random 2D/3D reads and writes of every width, 4 KiB-crossing and unaligned: bit-exact
    data, cycles = closed form = stepped model."""
    bench = Bench(dut)
    await bench.start()
    await bench.set_window(*WIN)
    n = int(os.environ.get("HWCNN_DMA_RANDOM", "6"))
    rng = random.Random(11)
    bad = []
    for w, wd in bench.shimmed():
        nb = w // 8
        image = fill(wd.ram, rng)
        fixed = [DmaDesc(dram_addr=0x2000 - 3, row_bytes=7),                 # crosses 4 KiB
                 DmaDesc(dram_addr=0x3000 + 5, row_bytes=300 * nb, rows=2,   # > 256 beats
                         row_stride=0x1800, buf_addr=0, buf_stride=302),
                 DmaDesc(dram_addr=0x9001, row_bytes=1),
                 DmaDesc(dram_addr=0x9000, row_bytes=0, rows=3)]             # empty: no-op
        descs = fixed + [random_desc(rng, nb) for _ in range(n)]
        for write in (False, True):
            for desc in descs:
                client = "store" if write else "load"
                if write:
                    mem = {a: rng.getrandbits(w) for a in range(BUF_WORDS)}
                    wd.store_mem = mem
                    (d,) = await bench.run(wd, [(client, desc, 0)])
                    got = wd.ram.read(0, RAM_BYTES)
                    want_img = expected_dram(desc, image, nb, mem)
                    if got != want_img:
                        diff = next(i for i in range(RAM_BYTES) if got[i] != want_img[i])
                        bad.append(f"{w} write {desc}: DRAM byte {diff:#x} = {got[diff]}, "
                                   f"expected {want_img[diff]}")
                    image = bytearray(got)
                else:
                    before = dict(wd.bufs[client])
                    (d,) = await bench.run(wd, [(client, desc, 0)])
                    want_buf = expected_buffer(desc, image, nb, before)
                    if wd.bufs[client] != want_buf:
                        bad.append(f"{w} read {desc}: buffer differs")
                want = model_cycles(desc, write, w)
                step = stepped(w, [(client, desc, 0)], WIN)[0].cycles
                record("write" if write else "read", w, d, want, step)
                if not (d.status_cycle - d.cmd_cycle == want == step) or d.code != 0:
                    bad.append(f"{w} {'write' if write else 'read'} {desc}: RTL "
                               f"{d.status_cycle - d.cmd_cycle} cycles code {d.code}, closed "
                               f"form {want}, stepped {step}")
    dump()
    assert not bad, "\n".join(bad[:20])


@cocotb.test()
async def arbitration(dut) -> None:  # type: ignore[no-untyped-def]
    """fetch and load offer descriptors in the same cycles while store writes: round robin per
    transfer (fetch first after reset), data exact, every transfer's cycles = stepped model."""
    bench = Bench(dut)
    await bench.start()
    await bench.set_window(*WIN)
    rng = random.Random(5)
    bad = []
    for w, wd in bench.shimmed():
        nb = w // 8
        image = fill(wd.ram, rng)
        mem = {a: rng.getrandbits(w) for a in range(BUF_WORDS)}
        wd.store_mem = mem
        f = [DmaDesc(dram_addr=0x10000 + 4096 * i - 5, row_bytes=3 * nb + 1, rows=2,
                     row_stride=200, buf_addr=64 * i, buf_stride=8) for i in range(3)]
        ld = [DmaDesc(dram_addr=0x20000 + 777 * i, row_bytes=50, rows=3, row_stride=100,
                      buf_addr=300 + 64 * i, buf_stride=16) for i in range(3)]
        st = [DmaDesc(dram_addr=0x40000 + 4096 * i - 9, row_bytes=5 * nb, rows=2,
                      row_stride=333, buf_addr=40 * i, buf_stride=8) for i in range(2)]
        jobs = ([("fetch", d, 0) for d in f] + [("load", d, 0) for d in ld]
                + [("store", d, 3) for d in st])
        befores = {c: dict(wd.bufs[c]) for c in ("fetch", "load")}
        got = await bench.run(wd, jobs)
        model = stepped(w, jobs, WIN)
        # the RTL's finish order per engine, and each transfer's cycles, against the model
        by_desc = {(o.client, o.desc): o for o in model}
        for d in got:
            o = by_desc[(d.client, d.desc)]
            record("arbitration", w, d, None, o.cycles)  # type: ignore[arg-type]
            if (d.cmd_cycle - got[0].cmd_cycle, d.status_cycle - d.cmd_cycle) != \
                    (o.cmd_cycle - min(x.cmd_cycle for x in model), o.cycles) or d.code:
                bad.append(f"{w} {d.client}: RTL cmd {d.cmd_cycle} status {d.status_cycle}, "
                           f"model cmd {o.cmd_cycle} status {o.status_cycle}")
        reads = [d.client for d in got if d.client != "store"]
        if reads != ["fetch", "load"] * 3:
            bad.append(f"{w}: read grant order {reads}")
        for c, descs in (("fetch", f), ("load", ld)):
            want = befores[c]
            for d in descs:
                want = expected_buffer(d, image, nb, want)
            if wd.bufs[c] != want:
                bad.append(f"{w} {c}: buffer differs")
        want_img = image
        for d in st:
            want_img = expected_dram(d, want_img, nb, mem)
        if wd.ram.read(0, RAM_BYTES) != want_img:
            bad.append(f"{w} store: DRAM differs")
    dump()
    assert not bad, "\n".join(bad[:20])


def _pauses(rng: random.Random, p: float):  # type: ignore[no-untyped-def]
    while True:
        yield rng.random() < p


@cocotb.test()
async def backpressure(dut) -> None:  # type: ignore[no-untyped-def]
    """Random stalls on all five AxiRam channels: data stays exact, every transfer ends."""
    bench = Bench(dut)
    await bench.start()
    await bench.set_window(*WIN)
    rng = random.Random(3)
    bad = []
    for w, wd in bench.every():
        nb = w // 8
        image = fill(wd.ram, rng)
        for ch in (wd.ram.write_if.aw_channel, wd.ram.write_if.w_channel,
                   wd.ram.write_if.b_channel, wd.ram.read_if.ar_channel,
                   wd.ram.read_if.r_channel):
            ch.set_pause_generator(_pauses(random.Random(rng.random()), 0.4))
        for _ in range(3):
            rdesc, wdesc = random_desc(rng, nb), random_desc(rng, nb)
            mem = {a: rng.getrandbits(w) for a in range(BUF_WORDS)}
            wd.store_mem = mem
            before = dict(wd.bufs["load"])
            got = await bench.run(wd, [("load", rdesc, 0), ("store", wdesc, 0)])
            assert all(d.code == 0 for d in got)
            # the read and the write run concurrently: the write may land first or last
            want_buf = expected_buffer(rdesc, image, nb, before)
            alt_buf = expected_buffer(rdesc, expected_dram(wdesc, image, nb, mem), nb, before)
            if wd.bufs["load"] not in (want_buf, alt_buf):
                bad.append(f"{w}: buffer differs under back-pressure ({rdesc})")
            image = expected_dram(wdesc, image, nb, mem)
            if wd.ram.read(0, RAM_BYTES) != image:
                bad.append(f"{w}: DRAM differs under back-pressure ({wdesc})")
            image = bytearray(wd.ram.read(0, RAM_BYTES))
        for ch in (wd.ram.write_if.aw_channel, wd.ram.write_if.w_channel,
                   wd.ram.write_if.b_channel, wd.ram.read_if.ar_channel,
                   wd.ram.read_if.r_channel):
            ch.clear_pause_generator()
    assert not bad, "\n".join(bad)


@cocotb.test()
async def errors(dut) -> None:  # type: ignore[no-untyped-def]
    """SLVERR on reads and writes, out-of-window descriptors: the documented code, no hang,
    and the next transfer works."""
    bench = Bench(dut)
    await bench.start()
    await bench.set_window(*WIN)
    rng = random.Random(9)
    bad_lo, bad_hi = 0x50000, 0x50100

    def hit(addr: int, length: int) -> bool:
        return addr < bad_hi and addr + length > bad_lo

    for w, wd in bench.every():
        fill(wd.ram, rng)
        orig_read, orig_write = wd.ram.read_if._read, wd.ram.write_if._write

        async def bad_read(address, length, _orig=orig_read):  # type: ignore[no-untyped-def]
            if hit(address, length):
                raise OSError("injected read error")
            return await _orig(address, length)

        async def bad_write(address, data, _orig=orig_write):  # type: ignore[no-untyped-def]
            if hit(address, len(data)):
                raise OSError("injected write error")
            return await _orig(address, data)

        wd.ram.read_if._read, wd.ram.write_if._write = bad_read, bad_write
        # three rows; the second hits the bad range: SLVERR, the transfer still ends
        desc = DmaDesc(dram_addr=bad_lo - 3000, row_bytes=64, rows=3, row_stride=3000,
                       buf_addr=0, buf_stride=16)
        outside = [DmaDesc(dram_addr=WIN[0] - 1, row_bytes=4),
                   DmaDesc(dram_addr=WIN[0] + WIN[1] - 8, row_bytes=9),
                   DmaDesc(dram_addr=WIN[0], row_bytes=8, rows=3, row_stride=WIN[1] // 2)]
        ok = DmaDesc(dram_addr=0x8000, row_bytes=40, rows=2, row_stride=64)
        for client in ("load", "store"):
            (d,) = await bench.run(wd, [(client, desc, 0)])
            assert d.code == ErrorCode.DMA_SLVERR, (w, client, d.code)
            for o in outside:
                (d,) = await bench.run(wd, [(client, o, 0)])
                assert d.code == ErrorCode.DMA_WINDOW, (w, client, o, d.code)
                want = model_cycles(o, client == "store", w)
                assert d.status_cycle - d.cmd_cycle == want == stepped(
                    w, [(client, o, 0)], WIN)[0].cycles, (d, want)
            (d,) = await bench.run(wd, [(client, ok, 0)])
            assert d.code == 0, (w, client, d.code)
            if wd.shimmed:
                assert d.status_cycle - d.cmd_cycle == model_cycles(ok, client == "store", w)
        wd.ram.read_if._read, wd.ram.write_if._write = orig_read, orig_write


@cocotb.test()
async def control_registers(dut) -> None:  # type: ignore[no-untyped-def]
    """AXI4-Lite: ID/VERSION, read-back, SLVERR for unmapped and read-only, start/done/error,
    the cycle counter (busy cycles since the start) and the busy counters = the DMA's measured
    busy cycles."""
    bench = Bench(dut)
    await bench.start()
    host = bench.host

    async def rd(name_or_addr) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        addr = REGS[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        r = await host.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def wr(name_or_addr, value: int, strb: bytes | None = None) -> int:  # type: ignore[no-untyped-def]
        addr = REGS[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        return int((await host.write(addr, value.to_bytes(4, "little"))).resp)

    assert await rd("ID") == (ID_VALUE, 0)
    assert await rd("VERSION") == (VERSION_VALUE, 0)
    for name in ("PROG_BASE_LO", "PROG_BASE_HI", "PROG_LEN", "BASE3_HI", "WIN_SIZE_LO"):
        value = random.Random(name).getrandbits(32)
        assert await wr(name, value) == 0
        assert await rd(name) == (value, 0), name
    # a byte write changes one byte only
    assert await wr("PROG_LEN", 0x11223344) == 0
    r = await host.write(REGS["PROG_LEN"] + 2, b"\xAA")
    assert int(r.resp) == 0
    assert await rd("PROG_LEN") == (0x11AA3344, 0)
    # unmapped and read-only: SLVERR, nothing changes, reads give 0
    top = max(REGS.values()) + 4
    assert await rd(top) == (0, 2)
    assert await rd(0xFFC) == (0, 2)
    assert await wr(top, 5) == 2
    assert await wr("ID", 5) == 2
    assert await rd("ID") == (ID_VALUE, 0)
    assert await wr("STATUS", 7) == 2
    # cycle counter: counts busy cycles only, so it holds while every DMA is idle
    lo1, _ = await rd("CYCLES_LO")
    hi1, _ = await rd("CYCLES_HI")
    lo2, _ = await rd("CYCLES_LO")
    assert hi1 == 0 and lo2 == lo1
    # start clears done/error and the busy counters; done and error (first code) are sticky
    assert await wr("CTRL", 1) == 0
    assert (await rd("STATUS"))[0] == 0
    await FallingEdge(dut.clk)
    dut.m_done.value = 1
    dut.m_error.value = 1
    dut.m_code.value = 0x5A
    await FallingEdge(dut.clk)
    dut.m_done.value = 0
    dut.m_code.value = 0x33
    await FallingEdge(dut.clk)
    dut.m_error.value = 0
    assert (await rd("STATUS"))[0] == 0b110 | (0x5A << 8)
    assert await wr("CTRL", 1) == 0
    assert (await rd("STATUS"))[0] == 0
    # busy counters: one read of the 64-bit DMA, its busy cycles = its measured duration
    await bench.set_window(*WIN)
    assert await wr("CTRL", 1) == 0
    desc = DmaDesc(dram_addr=0x7000 - 20, row_bytes=100, rows=2, row_stride=500)
    (d,) = await bench.run(bench.widths["d64"], [("load", desc, 0)])
    busy0, _ = await rd("BUSY0")
    busy1, _ = await rd("BUSY1")
    assert busy0 == d.status_cycle - d.cmd_cycle == model_cycles(desc, False, 64), busy0
    assert busy1 == 0
    # CYCLES restarted at the start: the busy input here is "some DMA busy", so it equals BUSY0
    assert await rd("CYCLES_LO") == (busy0, 0) and await rd("CYCLES_HI") == (0, 0)
    # a start while a unit is busy is ignored: status stays done
    wd = bench.widths["d64"]
    wd.queues["load"].append((DmaDesc(dram_addr=0x8000, row_bytes=4000, rows=4,
                                      row_stride=4096), bench.cycle + 1))
    while not wd.active:
        await FallingEdge(dut.clk)
    assert await wr("CTRL", 1) == 0
    assert (await rd("BUSY0"))[0] > 0      # not cleared: the start was ignored
    while wd.active:
        await FallingEdge(dut.clk)
