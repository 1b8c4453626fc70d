"""The complete accelerator (Verilog module ``hwcnn_soc``, ``rtl/README.md`` section 10).

:class:`Soc` is the whole machine: the AXI4-Lite :class:`~hwcnn.hw.axi.csr.ControlRegisters`
(port ``s_axil``), the shared AXI4 :class:`~hwcnn.hw.axi.dma.Dma` (port ``m_axi``; read clients
``fetch``, ``load``, ``cload``, write client ``store``), the :class:`Frontend`, the
ComputeCore (buffers + tile engine; executes GEMM / VEC), two LoadUnits (ACT / WGT / PARAM on
the load queue, OUT on the compute queue) and the StoreUnit. Registers: ``PROG_BASE`` = byte
address of instruction 0 (the low 32 bits: the AXI address), ``PROG_LEN`` = instructions,
``BASE0`` = the DRAM base added by the units to every instruction's ``dram_base`` offset,
``WIN_BASE`` / ``WIN_SIZE`` = the DMA window, ``BUSY0..3`` = cycles fetch, load, compute and
store were busy (:attr:`Frontend.unit_busy`), ``STATUS`` = busy / done / error + code,
``CYCLES`` = the cycles busy since the start (after done / error: that pulse's cycle, counted
from the start pulse).

:class:`Frontend` is the instruction side: :class:`~.fetch.Fetch`, the token counters
(:class:`~.tokens.Tokens`) and the three :class:`~.dispatch.Dispatcher`\\ s, plus the run
control. It drives four executor ports (``load``, ``gemm``, ``cload``, ``store``) and the
fetch DMA client, so tests can run it against executors written in the test.

Run control (cycle ``0`` = the ``start`` pulse): ``start`` resets the fetch unit, the
instruction FIFOs, the token counters (:data:`hwcnn.isa.queues.INITIAL`) and every code;
``busy`` is high from cycle 1 until the machine stops. The first nonzero code of fetch or a
dispatcher (fetch, load, compute, store in that priority when several appear in one cycle)
is kept and raises ``stop`` at once: no further instruction is dispatched or routed, and the
units finish what they have. The machine stops in the first cycle ``e >= 1`` in which fetch is
not busy and every dispatcher is IDLE and

* a code is kept: ``error`` is pulsed in cycle ``e`` with ``code`` (never a hang: nothing
  waits on a stopped unit);
* no code, every instruction FIFO empty and END executed: ``done`` is pulsed in cycle ``e``;
* no code, every FIFO empty and no END executed (fetch has routed all ``PROG_LEN``
  instructions and every one has finished, none of them END; a program the compiler refuses):
  ``error`` is pulsed in cycle ``e`` with ``code`` = :attr:`~hwcnn.arch.dma.ErrorCode.NO_END`
  (7). ``PROG_LEN`` = 0 (with an aligned ``PROG_BASE``) gives it at once: ``e = 1``.

A code kept from fetch or a unit takes precedence over ``NO_END`` (``PROG_LEN`` = 0 with a
misaligned ``PROG_BASE`` stops with ``PROG_ALIGN`` in cycle 1).

``busy`` is low from ``e + 1``. ``unit_busy`` = (fetch, load, compute, store) busy, the CSR's
per-unit busy counters (fetch: :attr:`Fetch.busy`; a queue: an instruction is at its
executor, :attr:`Dispatcher.busy`).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import ErrorCode
from ...isa.fields import Buffer
from ...isa.queues import Queue
from ..axi.bus import AxiLiteSignature, AxiSignature
from ..axi.csr import ControlRegisters
from ..axi.dma import Dma
from .compute import ComputeCore
from .dispatch import Dispatcher
from .fetch import BUFFER, CHUNK, QUEUE_DEPTH, QUEUES, Fetch
from .load import LoadUnit
from .ports import (
    AXI_ADDR_BITS,
    DMA_BUF_ADDR_BITS,
    STATUS_BITS,
    DmaReadClientSignature,
    SocParams,
    UnitSignature,
)
from .store import StoreUnit
from .tokens import Tokens

#: AXI4-Lite address bits of the register block.
CSR_ADDR_BITS = 12
#: DMA clients (the order is the arbiters' round-robin order, client 0 first after reset).
READ_CLIENTS = ("fetch", "load", "cload")
WRITE_CLIENTS = ("store",)

#: executor port of the Frontend -> (queue, the dispatcher's member)
EXECUTOR_PORTS = {"load": (Queue.LOAD, "unit"), "gemm": (Queue.COMPUTE, "gemm"),
                  "cload": (Queue.COMPUTE, "cload"), "store": (Queue.STORE, "unit")}


class Frontend(wiring.Component):
    """Fetch + instruction FIFOs + tokens + dispatchers + run control.

    Members: ``start``, ``prog_base`` (32), ``prog_len`` (32) in; ``dma`` (fetch's DMA read
    client); ``load``, ``gemm``, ``cload``, ``store`` (executor ports, UnitSignature);
    ``busy``, ``done``, ``error``, ``code`` (8), ``unit_busy`` (4) out.
    """

    def __init__(self, data_width: int, *, chunk: int = CHUNK, buffer: int = BUFFER,
                 queue_depth: int = QUEUE_DEPTH) -> None:
        self.fetch_args = {"chunk": chunk, "buffer": buffer, "queue_depth": queue_depth}
        self.data_width = data_width
        super().__init__({
            "start": In(1), "prog_base": In(AXI_ADDR_BITS), "prog_len": In(32),
            "dma": Out(DmaReadClientSignature(data_width)),
            **{n: Out(UnitSignature()) for n in EXECUTOR_PORTS},
            "busy": Out(1), "done": Out(1), "error": Out(1), "code": Out(STATUS_BITS),
            "unit_busy": Out(4),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fetch = m.submodules.fetch = Fetch(self.data_width, **self.fetch_args)
        tokens = m.submodules.tokens = Tokens()
        disp = {q: Dispatcher(q) for q in Queue}
        for q, d in disp.items():
            m.submodules[f"{QUEUES[q]}_dispatch"] = d
            wiring.connect(m, getattr(fetch, QUEUES[q]), d.insn)
            for bit, tq in d.links.items():
                side = "pop" if bit.startswith("pop") else "push"
                wiring.connect(m, getattr(d, bit), getattr(tokens, f"{tq}_{side}"))
        for port, (q, member) in EXECUTOR_PORTS.items():
            wiring.connect(m, getattr(disp[q], member), wiring.flipped(getattr(self, port)))
        wiring.connect(m, fetch.dma, wiring.flipped(self.dma))
        m.d.comb += [fetch.start.eq(self.start), fetch.prog_base.eq(self.prog_base),
                     fetch.prog_len.eq(self.prog_len), tokens.start.eq(self.start)]

        codes = [fetch.code] + [disp[q].code for q in Queue]
        stop = Signal()
        m.d.comb += stop.eq(Cat(c != 0 for c in codes).any())
        first = Signal(STATUS_BITS)           # the kept code, or this cycle's first new one
        kept = Signal(STATUS_BITS)
        m.d.comb += first.eq(kept)
        with m.If(kept == 0):
            for c in reversed(codes):
                with m.If(c != 0):
                    m.d.comb += first.eq(c)
        m.d.sync += kept.eq(first)
        m.d.comb += fetch.stop.eq(stop)
        for d in disp.values():
            m.d.comb += [d.stop.eq(stop), d.start.eq(self.start)]

        running, ended = Signal(), Signal()
        quiet = Signal()
        m.d.comb += quiet.eq(~fetch.busy & ~disp[Queue.LOAD].busy & ~disp[Queue.COMPUTE].busy
                             & ~disp[Queue.STORE].busy)
        with m.If(disp[Queue.COMPUTE].end):
            m.d.sync += ended.eq(1)
        no_end = Signal()
        with m.If(running & quiet):
            with m.If(stop):
                m.d.comb += self.error.eq(1)
                m.d.sync += running.eq(0)
            with m.Elif(fetch.empty):
                with m.If(ended):
                    m.d.comb += self.done.eq(1)
                with m.Else():
                    m.d.comb += [self.error.eq(1), no_end.eq(1)]
                m.d.sync += running.eq(0)
        with m.If(self.start):
            m.d.sync += [running.eq(1), ended.eq(0), kept.eq(0)]
        m.d.comb += [self.busy.eq(running),
                     self.code.eq(Mux(no_end, ErrorCode.NO_END, first)),
                     self.unit_busy.eq(fetch.busy | (disp[Queue.LOAD].busy << 1)
                                       | (disp[Queue.COMPUTE].busy << 2)
                                       | (disp[Queue.STORE].busy << 3))]
        return m


def _connect_client(m: Module, port: wiring.PureInterface, dma: Dma, name: str) -> None:
    """A unit's DMA port (``cmd``, ``status``, ``beats`` / ``rd_addr``, ``rd_data``) to the
    Dma's ``<name>_*`` members."""
    for member in port.signature.members:
        wiring.connect(m, getattr(port, member), getattr(dma, f"{name}_{member}"))


class Soc(wiring.Component):
    """The complete accelerator (Verilog ``hwcnn_soc``): ports ``s_axil`` (AXI4-Lite slave,
    12-bit addresses, 32-bit data) and ``m_axi`` (AXI4 master, 32-bit addresses,
    ``params.data_width`` data), nothing else but the clock and reset."""

    def __init__(self, params: SocParams) -> None:
        self.params = params
        #: the instruction side (tests sample its ``busy`` / ``done`` / ``error`` directly)
        self.frontend = Frontend(params.data_width)
        super().__init__({"s_axil": In(AxiLiteSignature(CSR_ADDR_BITS)),
                          "m_axi": Out(AxiSignature(AXI_ADDR_BITS, params.data_width))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self.params
        csr = m.submodules.csr = ControlRegisters(n_bases=4, n_units=4,
                                                  addr_width=CSR_ADDR_BITS)
        dma = m.submodules.dma = Dma(addr_width=AXI_ADDR_BITS, data_width=p.data_width,
                                     buf_addr_width=DMA_BUF_ADDR_BITS,
                                     outstanding=p.outstanding, read_clients=READ_CLIENTS,
                                     write_clients=WRITE_CLIENTS)
        fe = m.submodules.frontend = self.frontend
        core = m.submodules.compute = ComputeCore(p)
        load = m.submodules.load = LoadUnit(p, (Buffer.ACT, Buffer.WGT, Buffer.PARAM))
        cload = m.submodules.cload = LoadUnit(p, (Buffer.OUT,))
        store = m.submodules.store = StoreUnit(p)

        wiring.connect(m, wiring.flipped(self.s_axil), csr.s_axil)
        wiring.connect(m, dma.m_axi, wiring.flipped(self.m_axi))
        m.d.comb += [dma.win_base.eq(csr.win_base), dma.win_size.eq(csr.win_size),
                     fe.start.eq(csr.start), fe.prog_base.eq(csr.prog_base[:AXI_ADDR_BITS]),
                     fe.prog_len.eq(csr.prog_len),
                     csr.busy.eq(fe.busy), csr.done.eq(fe.done), csr.error.eq(fe.error),
                     csr.error_code.eq(fe.code), csr.unit_busy.eq(fe.unit_busy)]
        for unit in (load, cload, store):
            m.d.comb += unit.dram_base.eq(csr.bases[0][:AXI_ADDR_BITS])
        _connect_client(m, fe.dma, dma, "fetch")
        _connect_client(m, load.dma, dma, "load")
        _connect_client(m, cload.dma, dma, "cload")
        _connect_client(m, store.dma, dma, "store")
        wiring.connect(m, fe.load, load.unit)
        wiring.connect(m, fe.gemm, core.gemm)
        wiring.connect(m, fe.cload, cload.unit)
        wiring.connect(m, fe.store, store.unit)
        for name in ("act_wr", "wgt_wr", "par_wr"):
            wiring.connect(m, getattr(load, name), getattr(core, name))
        wiring.connect(m, cload.out_wr, core.out_wr)
        wiring.connect(m, store.out_rd, core.out_rd)
        return m
