"""Test helper: run a program on the Amaranth simulation of ``Soc`` behind the DRAM timing
shim (``hw.axi.dramshim.DramShim``, a fast backing RAM behind it) and record the probes the
whole-machine model reports: the done cycle (watched on the Frontend, and the CYCLES register
read after the stop), BUSY0..3, every executor handshake and status
handshake (per queue, in order) and every W handshake at the Soc's AXI port."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hwcnn.arch.dma import DramTiming
from hwcnn.hw.axi.dramshim import DramShim
from hwcnn.hw.soc.ports import AXI_ADDR_BITS, SocParams
from hwcnn.hw.soc.top import Soc
from tests.test_soc_fetch import AxiRam
from tests.test_soc_top import Host

PORTS = ("load", "cload", "gemm", "store")


class _Top(wiring.Component):
    def __init__(self, params: SocParams, timing: DramTiming) -> None:
        self.soc = Soc(params)
        self.shim = DramShim(timing, addr_width=AXI_ADDR_BITS, data_width=params.data_width)
        super().__init__({})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.soc, m.submodules.shim = self.soc, self.shim
        wiring.connect(m, self.soc.m_axi, self.shim.s_axi)
        return m


def rtl_run(params: SocParams, dram: np.ndarray, *, base: int, prog_base: int, prog_len: int,
            win: tuple[int, int], timing: DramTiming, limit: int = 400_000) -> dict:
    top = _Top(params, timing)
    soc, fe = top.soc, top.soc.frontend
    ram = AxiRam(top.shim.m_axi, dram, params.bus_bytes, latency=1)
    host = Host(soc.s_axil)
    res: dict = {"ports": {p: [] for p in PORTS}, "w": []}

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        for name, value in (("WIN_BASE_LO", win[0]), ("WIN_SIZE_LO", win[1]),
                            ("BASE0_LO", base), ("PROG_BASE_LO", prog_base),
                            ("PROG_LEN", prog_len)):
            assert await host.write(ctx, name, value) == 0
        assert await host.write(ctx, "CTRL", 1) == 0
        t0 = host.cycle
        while True:
            status = await host.read(ctx, "STATUS")
            if not status & 1:
                break
            assert host.cycle - t0 < limit, "a hang"
        res["status"] = status
        res["busy"] = tuple([await host.read(ctx, f"BUSY{i}") for i in range(4)])
        lo = await host.read(ctx, "CYCLES_LO")
        res["cycles_reg"] = lo | await host.read(ctx, "CYCLES_HI") << 32

    async def monitor(ctx) -> None:  # type: ignore[no-untyped-def]
        sigs = [fe.start, fe.done | fe.error, soc.m_axi.wvalid & soc.m_axi.wready]
        for p in PORTS:
            port = getattr(fe, p)
            sigs += [port.insn.valid & port.insn.ready, port.status.valid & port.status.ready]
        cycle, t0 = 0, None
        async for _, _, *vals in ctx.tick().sample(*sigs):
            st, end, w = vals[:3]
            if st:
                t0 = cycle
            if t0 is not None:
                rel = cycle - t0
                if w:
                    res["w"].append(rel)
                for j, p in enumerate(PORTS):
                    if vals[3 + 2 * j]:
                        res["ports"][p].append(("start", rel))
                    if vals[4 + 2 * j]:
                        res["ports"][p].append(("finish", rel))
                if end and "cycles" not in res:
                    res["cycles"] = rel
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(ram.run, background=True)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return res


def timing(latency: int, bpc: int | Fraction) -> DramTiming:
    return DramTiming(latency=latency, bytes_per_cycle=Fraction(bpc))
