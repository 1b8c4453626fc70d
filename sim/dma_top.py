"""Host side: the Verilog test harness of the AXI DMA (``tests/test_dma_cocotb.py``).

One top module ``dma_tb_top`` holds, for every data width W in :data:`WIDTHS`, a
:class:`hwcnn.hw.axi.dma.Dma` (clients ``fetch`` / ``load`` read, ``store`` writes) whose AXI
port goes through the DRAM timing shim (:class:`hwcnn.hw.axi.dramshim.DramShim`) to the port
``d<W>_axi`` (cocotbext-axi's AxiRam), plus a 128-bit DMA ``r128`` wired to its AxiRam without the shim, plus one
:class:`ControlRegisters` block on ``csr`` whose
DMA window feeds every DMA. The store client's buffer is a :class:`WordReader` whose 1-cycle
read port (``d<W>_store_mem_addr`` / ``_data``) the testbench serves. Everything else is a
stream port of the DMA, driven and watched by ``sim/tb/tb_dma.py``.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwcnn.arch.dma import DramTiming
from hwcnn.hw.axi.bufport import WordReader
from hwcnn.hw.axi.bus import AxiLiteSignature, AxiSignature
from hwcnn.hw.axi.csr import ControlRegisters
from hwcnn.hw.axi.desc import beat_layout, desc_layout
from hwcnn.hw.axi.dma import Dma
from hwcnn.hw.axi.dramshim import DramShim

WIDTHS = (64, 128, 256)
#: (port prefix, data width, behind the DRAM shim?): one DMA per shimmed width, and one 128-bit
#: DMA wired straight to its AxiRam (so that RAM back-pressure reaches the DMA's own AR/AW/W).
INSTANCES = (*((f"d{w}", w, True) for w in WIDTHS), ("r128", 128, False))
ADDR_WIDTH = 32
BUF_ADDR_WIDTH = 12
OUTSTANDING = 4
READ_CLIENTS = ("fetch", "load")
WRITE_CLIENTS = ("store",)
#: The DRAM model of the harness: Arty A7-35T's 1.33 GB/s at 100 MHz = 13.3 bytes per cycle, so
#: 64-bit beats are bus-limited (1 per cycle) and 128/256-bit beats take 160/133 and 320/133
#: cycles each (the fractional slot server is exercised); latency 12 cycles.
TIMING = DramTiming.from_board(1.33, 100, latency=12)


class DmaHarness(wiring.Component):
    def __init__(self, timing: DramTiming = TIMING) -> None:
        self.timing = timing
        members: dict[str, wiring.Member] = {
            "csr": In(AxiLiteSignature(12)),
            "m_done": In(1), "m_error": In(1), "m_code": In(8),
        }
        desc = stream.Signature(desc_layout(ADDR_WIDTH, BUF_ADDR_WIDTH))
        for key, w, _ in INSTANCES:
            members[f"{key}_axi"] = Out(AxiSignature(ADDR_WIDTH, w))
            for c in READ_CLIENTS + WRITE_CLIENTS:
                members[f"{key}_{c}_cmd"] = In(desc)
                members[f"{key}_{c}_status"] = Out(stream.Signature(8))
            for c in READ_CLIENTS:
                members[f"{key}_{c}_beats"] = Out(stream.Signature(beat_layout(BUF_ADDR_WIDTH, w)))
            members[f"{key}_store_mem_addr"] = Out(BUF_ADDR_WIDTH)
            members[f"{key}_store_mem_data"] = In(w)
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        csr = m.submodules.csr = ControlRegisters(n_bases=4, n_units=2 * len(INSTANCES))
        wiring.connect(m, wiring.flipped(self.csr), csr.s_axil)
        busy = []
        for i, (key, w, shimmed) in enumerate(INSTANCES):
            dma = Dma(addr_width=ADDR_WIDTH, data_width=w, buf_addr_width=BUF_ADDR_WIDTH,
                      outstanding=OUTSTANDING, read_clients=READ_CLIENTS,
                      write_clients=WRITE_CLIENTS)
            rdr = WordReader(BUF_ADDR_WIDTH, w)
            m.submodules[f"dma_{key}"] = dma
            m.submodules[f"reader_{key}"] = rdr
            if shimmed:
                shim = m.submodules[f"shim_{key}"] = DramShim(self.timing, addr_width=ADDR_WIDTH,
                                                              data_width=w)
                wiring.connect(m, dma.m_axi, shim.s_axi)
                wiring.connect(m, shim.m_axi, wiring.flipped(getattr(self, f"{key}_axi")))
            else:
                wiring.connect(m, dma.m_axi, wiring.flipped(getattr(self, f"{key}_axi")))
            m.d.comb += [dma.win_base.eq(csr.win_base), dma.win_size.eq(csr.win_size),
                         csr.unit_busy[2 * i].eq(dma.read_busy),
                         csr.unit_busy[2 * i + 1].eq(dma.write_busy)]
            busy += [dma.read_busy, dma.write_busy]
            for c in READ_CLIENTS + WRITE_CLIENTS:
                wiring.connect(m, wiring.flipped(getattr(self, f"{key}_{c}_cmd")),
                               getattr(dma, f"{c}_cmd"))
                wiring.connect(m, getattr(dma, f"{c}_status"),
                               wiring.flipped(getattr(self, f"{key}_{c}_status")))
            for c in READ_CLIENTS:
                wiring.connect(m, getattr(dma, f"{c}_beats"),
                               wiring.flipped(getattr(self, f"{key}_{c}_beats")))
            wiring.connect(m, dma.store_rd_addr, rdr.addr)
            wiring.connect(m, rdr.words, dma.store_rd_data)
            m.d.comb += [getattr(self, f"{key}_store_mem_addr").eq(rdr.rd_addr),
                         rdr.rd_data.eq(getattr(self, f"{key}_store_mem_data"))]
        any_busy = busy[0]
        for b in busy[1:]:
            any_busy = any_busy | b
        m.d.comb += [csr.busy.eq(any_busy), csr.done.eq(self.m_done), csr.error.eq(self.m_error),
                     csr.error_code.eq(self.m_code)]
        return m


def write_verilog(out_dir: Path, timing: DramTiming = TIMING) -> Path:
    """Write ``dma_tb_top.v`` into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "dma_tb_top.v"
    text = verilog.convert(DmaHarness(timing), name="dma_tb_top", emit_src=False)
    path.write_text(text, encoding="utf-8")
    return path
