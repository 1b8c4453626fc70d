"""A test fixture with the complete accelerator's ports (MACHINE.md) that tests the whole-network
harness itself (``hwcnn.rtlsim``) independently of the real machine: :class:`CopyMachine`.

Its behaviour is small and fully known, so a test can predict every DRAM byte it leaves: on
start it reads the program (PROG_LEN * 32 bytes from PROG_BASE, one DMA transfer on the
``fetch`` client) into a word buffer and writes those bytes back to DRAM right behind the
program (``PROG_BASE + PROG_LEN * 32`` rounded up to the bus width, on the ``store`` client);
then it pulses ``done``. A DMA status with a nonzero code pulses ``error`` with that code
instead, so the DMA's window check and AXI error responses reach STATUS exactly as they will in
the machine. BUSY0 counts the fetch transfer, BUSY3 the store transfer.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hwcnn.hw.axi.bufport import BeatWriter, WordReader
from hwcnn.hw.axi.bus import AxiLiteSignature, AxiSignature
from hwcnn.hw.axi.csr import ControlRegisters
from hwcnn.hw.axi.dma import Dma

BUF_BITS = 10


class CopyMachine(wiring.Component):
    def __init__(self, data_width: int = 64) -> None:
        self.dw = data_width
        super().__init__({"s_axil": In(AxiLiteSignature(12)),
                          "m_axi": Out(AxiSignature(32, data_width))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        nb = self.dw // 8
        csr = m.submodules.csr = ControlRegisters(n_bases=4, n_units=4)
        dma = m.submodules.dma = Dma(addr_width=32, data_width=self.dw, buf_addr_width=BUF_BITS,
                                     read_clients=("fetch",), write_clients=("store",))
        mem = m.submodules.mem = memory.Memory(shape=self.dw, depth=1 << BUF_BITS, init=[])
        wr = mem.write_port(granularity=8)
        rp = mem.read_port()
        bw = m.submodules.bw = BeatWriter(BUF_BITS, self.dw)
        rdr = m.submodules.rdr = WordReader(BUF_BITS, self.dw)
        wiring.connect(m, wiring.flipped(self.s_axil), csr.s_axil)
        wiring.connect(m, dma.m_axi, wiring.flipped(self.m_axi))
        wiring.connect(m, dma.fetch_beats, bw.beats)
        wiring.connect(m, dma.store_rd_addr, rdr.addr)
        wiring.connect(m, rdr.words, dma.store_rd_data)
        m.d.comb += [wr.en.eq(bw.wr_en), wr.addr.eq(bw.wr_addr), wr.data.eq(bw.wr_data),
                     rp.addr.eq(rdr.rd_addr), rdr.rd_data.eq(rp.data),
                     dma.win_base.eq(csr.win_base), dma.win_size.eq(csr.win_size)]
        nbytes = Signal(20)
        m.d.comb += nbytes.eq(csr.prog_len << 5)
        dst = Signal(32)
        m.d.comb += dst.eq((csr.prog_base[:32] + nbytes + nb - 1) & ~(nb - 1))
        busy = Signal()
        m.d.comb += [csr.busy.eq(busy), dma.fetch_status.ready.eq(1),
                     dma.store_status.ready.eq(1)]
        with m.FSM():
            with m.State("idle"), m.If(csr.start):
                m.d.sync += busy.eq(1)
                m.next = "fetch"
            with m.State("fetch"):
                m.d.comb += [dma.fetch_cmd.valid.eq(1),
                             dma.fetch_cmd.payload.dram_addr.eq(csr.prog_base[:32]),
                             dma.fetch_cmd.payload.row_bytes.eq(nbytes),
                             dma.fetch_cmd.payload.rows.eq(1),
                             dma.fetch_cmd.payload.planes.eq(1), csr.unit_busy[0].eq(1)]
                with m.If(dma.fetch_cmd.ready):
                    m.next = "fetch_wait"
            with m.State("fetch_wait"):
                m.d.comb += csr.unit_busy[0].eq(1)
                with m.If(dma.fetch_status.valid):
                    with m.If(dma.fetch_status.payload != 0):
                        m.d.comb += [csr.error.eq(1),
                                     csr.error_code.eq(dma.fetch_status.payload)]
                        m.d.sync += busy.eq(0)
                        m.next = "idle"
                    with m.Else():
                        m.next = "store"
            with m.State("store"):
                m.d.comb += [dma.store_cmd.valid.eq(1),
                             dma.store_cmd.payload.dram_addr.eq(dst),
                             dma.store_cmd.payload.row_bytes.eq(nbytes),
                             dma.store_cmd.payload.rows.eq(1),
                             dma.store_cmd.payload.planes.eq(1), csr.unit_busy[3].eq(1)]
                with m.If(dma.store_cmd.ready):
                    m.next = "store_wait"
            with m.State("store_wait"):
                m.d.comb += csr.unit_busy[3].eq(1)
                with m.If(dma.store_status.valid):
                    with m.If(dma.store_status.payload != 0):
                        m.d.comb += [csr.error.eq(1),
                                     csr.error_code.eq(dma.store_status.payload)]
                    with m.Else():
                        m.d.comb += csr.done.eq(1)
                    m.d.sync += busy.eq(0)
                    m.next = "idle"
        return m
