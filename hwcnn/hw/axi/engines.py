"""The DMA read and write engines: a :class:`~.walker.BurstWalker` plus one AXI direction each.

Read engine: bursts go out on AR while fewer than ``outstanding`` are in flight; each burst's
buffer address and edge strobes wait in a FIFO until its R beats arrive, which leave on the
``beats`` stream (word address, data, strobes; a beat with an error response has strobes 0).
RREADY follows ``beats.ready``.

Write engine: bursts go out on AW while fewer than ``outstanding`` wait for their B. A beat
walker then asks the buffer for each beat's word (``buf_rd_addr`` stream) and records its strobes
and WLAST in a beat FIFO; the buffer's words come back in order on ``buf_rd_data`` and leave on W
together with the recorded strobes. BREADY is always high.

Both: each burst completion (RLAST / B) pulses the walker's ``ended``, an SLVERR / DECERR
response gives its code on ``resp``; the walker keeps the sticky code and the per-transfer codes
(``walker.py``): after the first error no further burst is issued, the bursts in flight are
finished. ``outstanding`` bounds the bursts in flight of the engine (of both the draining and
the walking transfer). An AR / AW that has been offered stays offered until it is taken (AXI:
VALID never retracted). ``idle`` / ``busy``: no transfer / a transfer in the engine.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import ErrorCode
from ...arch.soc import WRITE_PREFETCH as _WRITE_PREFETCH
from ..params import addr_bits
from .bus import BURST_INCR, AxiSignature, Resp
from .desc import beat_layout, burst_layout, desc_layout
from .walker import BurstWalker

#: Beats the write engine prefetches from the buffer ahead of W.
WRITE_PREFETCH = _WRITE_PREFETCH


def _error_code(resp: Signal) -> object:
    return (resp == Resp.SLVERR) * ErrorCode.DMA_SLVERR + (resp == Resp.DECERR) * ErrorCode.DMA_DECERR


def _edge_strobes(first: object, last: object, head: data.View, ones: int) -> object:
    """Strobes of a beat: the burst's first/last-beat masks at its edges, all ones inside."""
    return Mux(first, head.first_strb, ones) & Mux(last, head.last_strb, ones)


class _EngineBase(wiring.Component):
    def __init__(self, members: dict, *, addr_width: int, data_width: int, buf_addr_width: int,
                 outstanding: int) -> None:
        self.addr_width, self.data_width = addr_width, data_width
        self.buf_addr_width, self.outstanding = buf_addr_width, outstanding
        super().__init__({
            "cmd": In(stream.Signature(desc_layout(addr_width, buf_addr_width))),
            "status": Out(stream.Signature(8)),
            "win_base": In(64), "win_size": In(64),
            "busy": Out(1),           # a transfer in the engine (= ~idle)
            "idle": Out(1),
            **members,
        })

    def _front(self, m: Module) -> tuple[BurstWalker, Signal]:
        w = BurstWalker(addr_width=self.addr_width, buf_addr_width=self.buf_addr_width,
                        data_width=self.data_width, outstanding=self.outstanding)
        m.submodules.walker = w
        wiring.connect(m, wiring.flipped(self.cmd), w.cmd)
        wiring.connect(m, w.status, wiring.flipped(self.status))
        m.d.comb += [w.win_base.eq(self.win_base), w.win_size.eq(self.win_size)]
        inflight = Signal(range(self.outstanding + 1))
        m.d.comb += [self.busy.eq(~w.idle), self.idle.eq(w.idle)]
        return w, inflight

    def _issue(self, m: Module, w: BurstWalker, inflight: Signal, ch: str,
               info_w: fifo.SyncFIFO) -> Signal:
        """Drive AR or AW from the walker's bursts; returns the handshake signal."""
        bus = self.m_axi
        valid, ready = getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready")
        hold = Signal(name=f"{ch}_hold")   # offered and not yet taken: keep offering
        can = (inflight < self.outstanding) & ~w.stop & info_w.w_rdy
        m.d.comb += [valid.eq(w.burst.valid & (hold | can)),
                     getattr(bus, f"{ch}addr").eq(w.burst.payload.addr),
                     getattr(bus, f"{ch}len").eq(w.burst.payload.len),
                     getattr(bus, f"{ch}size").eq(addr_bits(self.data_width // 8)),
                     getattr(bus, f"{ch}burst").eq(BURST_INCR),
                     getattr(bus, f"{ch}id").eq(0),
                     w.burst.ready.eq(ready & (hold | can)),
                     w.abort.eq(w.stop & ~hold)]
        fire = Signal(name=f"{ch}_fire")
        m.d.comb += fire.eq(valid & ready)
        m.d.sync += hold.eq(valid & ~ready)
        m.d.comb += [info_w.w_en.eq(fire), info_w.w_data.eq(w.burst.payload)]
        return fire


class DmaReadEngine(_EngineBase):
    """DRAM -> buffer. Members: ``cmd``, ``status``, ``m_axi`` (AR/R used), ``beats`` (out)."""

    def __init__(self, *, addr_width: int = 32, data_width: int = 64, buf_addr_width: int = 12,
                 outstanding: int = 4) -> None:
        super().__init__({"m_axi": Out(AxiSignature(addr_width, data_width)),
                          "beats": Out(stream.Signature(beat_layout(buf_addr_width,
                                                                    data_width)))},
                         addr_width=addr_width, data_width=data_width,
                         buf_addr_width=buf_addr_width, outstanding=outstanding)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.m_axi
        w, inflight = self._front(m)
        lay = burst_layout(self.addr_width, self.buf_addr_width, self.data_width)
        m.submodules.info = info = fifo.SyncFIFO(width=lay.size, depth=self.outstanding)
        fire = self._issue(m, w, inflight, "ar", info)
        head = data.View(lay, info.r_data)
        beat = Signal(8)
        nb = self.data_width // 8
        ones = (1 << nb) - 1
        take = Signal()
        m.d.comb += [bus.rready.eq(self.beats.ready), self.beats.valid.eq(bus.rvalid),
                     take.eq(bus.rvalid & bus.rready)]
        strb = Signal(nb)
        m.d.comb += strb.eq(_edge_strobes(beat == 0, bus.rlast, head, ones))
        p = self.beats.payload
        m.d.comb += [p.addr.eq(head.buf_addr + beat), p.data.eq(bus.rdata),
                     p.strb.eq(strb)]
        with m.If(bus.rresp[1]):
            m.d.comb += p.strb.eq(0)
        last = Signal()
        m.d.comb += last.eq(take & bus.rlast)
        with m.If(take):
            m.d.sync += beat.eq(beat + 1)
        with m.If(take & bus.rresp[1]):
            m.d.comb += w.resp.eq(_error_code(bus.rresp))
        with m.If(last):
            m.d.sync += beat.eq(0)
        m.d.comb += [info.r_en.eq(last), w.ended.eq(last)]
        m.d.sync += inflight.eq(inflight + fire - last)
        # unused write channels idle
        m.d.comb += [bus.awvalid.eq(0), bus.wvalid.eq(0), bus.bready.eq(1)]
        return m


class DmaWriteEngine(_EngineBase):
    """Buffer -> DRAM. Members: ``cmd``, ``status``, ``m_axi`` (AW/W/B used), ``buf_rd_addr``
    (out: word addresses), ``buf_rd_data`` (in: the words, in order)."""

    def __init__(self, *, addr_width: int = 32, data_width: int = 64, buf_addr_width: int = 12,
                 outstanding: int = 4) -> None:
        super().__init__({"m_axi": Out(AxiSignature(addr_width, data_width)),
                          "buf_rd_addr": Out(stream.Signature(buf_addr_width)),
                          "buf_rd_data": In(stream.Signature(data_width))},
                         addr_width=addr_width, data_width=data_width,
                         buf_addr_width=buf_addr_width, outstanding=outstanding)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.m_axi
        w, inflight = self._front(m)
        lay = burst_layout(self.addr_width, self.buf_addr_width, self.data_width)
        m.submodules.info = info = fifo.SyncFIFO(width=lay.size, depth=self.outstanding)
        fire = self._issue(m, w, inflight, "aw", info)
        nb = self.data_width // 8
        ones = (1 << nb) - 1
        # beat walker: one buffer read per beat, strobes + last into the beat FIFO
        head = data.View(lay, info.r_data)
        m.submodules.beatq = beatq = fifo.SyncFIFO(width=nb + 1, depth=WRITE_PREFETCH)
        j = Signal(8)
        is_last = Signal()
        strb = Signal(nb)
        m.d.comb += [is_last.eq(j == head.len),
                     strb.eq(_edge_strobes(j == 0, is_last, head, ones))]
        ra = self.buf_rd_addr
        m.d.comb += [ra.valid.eq(info.r_rdy & beatq.w_rdy), ra.payload.eq(head.buf_addr + j)]
        step = Signal()
        m.d.comb += [step.eq(ra.valid & ra.ready), beatq.w_en.eq(step),
                     beatq.w_data.eq(strb | (is_last << nb)), info.r_en.eq(step & is_last)]
        with m.If(step):
            m.d.sync += j.eq(j + 1)
            with m.If(is_last):
                m.d.sync += j.eq(0)
        # W: buffer word + recorded strobes
        rd = self.buf_rd_data
        m.d.comb += [bus.wvalid.eq(rd.valid & beatq.r_rdy), bus.wdata.eq(rd.payload),
                     bus.wstrb.eq(beatq.r_data[:nb]), bus.wlast.eq(beatq.r_data[nb]),
                     rd.ready.eq(bus.wready & beatq.r_rdy), beatq.r_en.eq(bus.wready & bus.wvalid)]
        # B
        m.d.comb += bus.bready.eq(1)
        done = Signal()
        m.d.comb += done.eq(bus.bvalid)
        with m.If(done & bus.bresp[1]):
            m.d.comb += w.resp.eq(_error_code(bus.bresp))
        m.d.comb += w.ended.eq(done)
        m.d.sync += inflight.eq(inflight + fire - done)
        m.d.comb += [bus.arvalid.eq(0), bus.rready.eq(1)]
        return m
