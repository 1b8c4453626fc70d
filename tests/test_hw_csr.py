"""The AXI4-Lite control/status registers (``hwcnn.hw.axi.csr``) in Amaranth's simulator:
handshakes cycle by cycle (W before AW, AW before W, B only after both, READY independent of
VALID), the register map of rtl/README.md section 7, SLVERR, start/done/error, counters."""

from __future__ import annotations

from amaranth.sim import Simulator

from hwcnn.hw.axi.csr import ControlRegisters
from hwcnn.hw.axi.regmap import ID_VALUE, offsets

OFF = offsets(4, 2)


def run(bench) -> None:  # type: ignore[no-untyped-def]
    dut = ControlRegisters(n_bases=4, n_units=2)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def tb(ctx) -> None:  # type: ignore[no-untyped-def]
        await bench(ctx, dut)

    sim.add_testbench(tb)
    sim.run()


def test_write_channels_are_independent() -> None:
    async def bench(ctx, dut) -> None:  # type: ignore[no-untyped-def]
        b = dut.s_axil
        ctx.set(b.bready, 0)
        assert ctx.get(b.awready) == 1 and ctx.get(b.wready) == 1   # ready without valid
        # W first, AW three cycles later
        ctx.set(b.wvalid, 1)
        ctx.set(b.wdata, 0xDEADBEEF)
        ctx.set(b.wstrb, 0xF)
        await ctx.tick()
        ctx.set(b.wvalid, 0)
        assert ctx.get(b.wready) == 0          # held, waiting for AW
        for _ in range(3):
            await ctx.tick()
            assert ctx.get(b.bvalid) == 0
        ctx.set(b.awvalid, 1)
        ctx.set(b.awaddr, OFF["PROG_LEN"])
        await ctx.tick()
        ctx.set(b.awvalid, 0)
        assert ctx.get(b.bvalid) == 0          # both held now; the write happens next edge
        await ctx.tick()
        assert ctx.get(b.bvalid) == 1 and ctx.get(b.bresp) == 0
        assert ctx.get(dut.prog_len) == 0xDEADBEEF
        # B is held until BREADY; a second AW is accepted meanwhile, but waits for its W
        ctx.set(b.awvalid, 1)
        ctx.set(b.awaddr, OFF["ID"])
        await ctx.tick()
        ctx.set(b.awvalid, 0)
        assert ctx.get(b.bvalid) == 1 and ctx.get(b.awready) == 0
        ctx.set(b.bready, 1)
        await ctx.tick()
        assert ctx.get(b.bvalid) == 0
        ctx.set(b.wvalid, 1)
        ctx.set(b.wdata, 1)
        await ctx.tick()
        ctx.set(b.wvalid, 0)
        await ctx.tick()
        assert ctx.get(b.bvalid) == 1 and ctx.get(b.bresp) == 2   # read-only: SLVERR
    run(bench)


async def write(ctx, b, addr: int, data: int) -> None:  # type: ignore[no-untyped-def]
    """One AXI4-Lite write: AW and W offered together for one cycle, B taken whenever."""
    ctx.set(b.awvalid, 1)
    ctx.set(b.wvalid, 1)
    ctx.set(b.awaddr, addr)
    ctx.set(b.wdata, data)
    ctx.set(b.wstrb, 0xF)
    ctx.set(b.bready, 1)
    await ctx.tick()
    ctx.set(b.awvalid, 0)
    ctx.set(b.wvalid, 0)


def test_reads_start_done_error() -> None:
    async def read(ctx, b, addr: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        ctx.set(b.arvalid, 1)
        ctx.set(b.araddr, addr)
        ctx.set(b.rready, 1)
        await ctx.tick()
        ctx.set(b.arvalid, 0)
        assert ctx.get(b.rvalid) == 1           # R one cycle after the AR handshake
        return ctx.get(b.rdata), ctx.get(b.rresp)

    async def bench(ctx, dut) -> None:  # type: ignore[no-untyped-def]
        b = dut.s_axil
        assert await read(ctx, b, OFF["ID"]) == (ID_VALUE, 0)
        await ctx.tick()
        assert await read(ctx, b, 0x800) == (0, 2)
        await ctx.tick()
        # start: a one-cycle pulse in the cycle the write happens, only while not busy
        ctx.set(dut.busy, 1)
        await write(ctx, b, OFF["CTRL"], 1)
        assert ctx.get(dut.start) == 0          # busy: ignored
        await ctx.tick()
        ctx.set(dut.busy, 0)
        await write(ctx, b, OFF["CTRL"], 1)
        assert ctx.get(dut.start) == 1
        await ctx.tick()
        assert ctx.get(dut.start) == 0
        # unit 1 busy for 5 cycles, then done + error (code 7), then a second error (code 9)
        ctx.set(dut.unit_busy, 0b10)
        await ctx.tick().repeat(5)
        ctx.set(dut.unit_busy, 0)
        ctx.set(dut.done, 1)
        ctx.set(dut.error, 1)
        ctx.set(dut.error_code, 7)
        await ctx.tick()
        ctx.set(dut.done, 0)
        ctx.set(dut.error_code, 9)
        await ctx.tick()
        ctx.set(dut.error, 0)
        assert await read(ctx, b, OFF["STATUS"]) == (0b110 | 7 << 8, 0)
        await ctx.tick()
        assert await read(ctx, b, OFF["BUSY1"]) == (5, 0)
        await ctx.tick()
        assert await read(ctx, b, OFF["BUSY0"]) == (0, 0)
    run(bench)


def test_cycles_count_the_busy_cycles_since_the_last_start() -> None:
    """CYCLES is 0 from reset, counts the cycles with ``busy`` high, holds while it is low
    and restarts from 0 at ``start``: a machine busy from the cycle after its start pulse to
    its done pulse leaves the start-to-done count."""
    async def read(ctx, b, name: str) -> int:  # type: ignore[no-untyped-def]
        ctx.set(b.arvalid, 1)
        ctx.set(b.araddr, OFF[name])
        ctx.set(b.rready, 1)
        await ctx.tick()
        ctx.set(b.arvalid, 0)
        assert ctx.get(b.rvalid) == 1 and ctx.get(b.rresp) == 0
        value = ctx.get(b.rdata)
        await ctx.tick()
        return int(value)

    async def bench(ctx, dut) -> None:  # type: ignore[no-untyped-def]
        b = dut.s_axil
        await ctx.tick().repeat(4)
        assert await read(ctx, b, "CYCLES_LO") == 0 and await read(ctx, b, "CYCLES_HI") == 0
        ctx.set(dut.busy, 1)
        await ctx.tick().repeat(7)
        ctx.set(dut.busy, 0)
        await ctx.tick().repeat(5)
        assert await read(ctx, b, "CYCLES_LO") == 7          # held while not busy
        # a run: start pulse (cycle 0), busy in cycles 1 .. 40, done in cycle 40
        await write(ctx, b, OFF["CTRL"], 1)
        assert ctx.get(dut.start) == 1
        await ctx.tick()                                      # cycle 0: the start pulse
        ctx.set(dut.busy, 1)
        for cycle in range(1, 41):
            # counting while busy: the value read in cycle t is the busy cycles before it
            if cycle == 20:
                ctx.set(b.arvalid, 1)
                ctx.set(b.araddr, OFF["CYCLES_LO"])
            if cycle == 21:
                ctx.set(b.arvalid, 0)
                assert ctx.get(b.rdata) == 19
            if cycle == 40:
                ctx.set(dut.done, 1)
            await ctx.tick()
        ctx.set(dut.busy, 0)
        ctx.set(dut.done, 0)
        await ctx.tick().repeat(3)
        assert await read(ctx, b, "STATUS") == 0b10
        assert await read(ctx, b, "CYCLES_LO") == 40 and await read(ctx, b, "CYCLES_HI") == 0
    run(bench)


def test_readme_register_table_is_the_map() -> None:
    import re
    from pathlib import Path

    from hwcnn.hw.axi.regmap import register_map

    text = (Path(__file__).resolve().parent.parent / "rtl" / "README.md").read_text()
    section = text.split("## 7. Control/status registers")[1].split("## 8.")[0]
    rows = re.findall(r"^\| `(0x[0-9a-f]+)` \| `(\w+)` \|", section, re.MULTILINE)
    assert [(int(o, 16), n) for o, n in rows] == [(r.offset, r.name) for r in register_map()]


def test_readme_lists_every_error_code() -> None:
    """rtl/README.md section 7 names every ErrorCode with its value; each has a meaning."""
    from pathlib import Path

    from hwcnn.arch.dma import ErrorCode

    text = (Path(__file__).resolve().parent.parent / "rtl" / "README.md").read_text()
    section = " ".join(text.split("## 7. Control/status registers")[1].split("## 8.")[0].split())
    for code in ErrorCode:
        if code:
            assert f"{int(code)} `{code.name}`" in section, code
        assert code.meaning, code
