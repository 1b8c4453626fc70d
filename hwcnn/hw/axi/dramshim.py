"""Simulation only: a DRAM timing shim between the DMA and a backing AXI RAM (cocotbext-axi's
AxiRam, or any slave that answers fast), imposing :class:`hwcnn.arch.dma_timing.DramTiming`.

Facing the DMA (``s_axi``) the shim behaves exactly like the model (rtl/README.md section 8):

- AR and AW are always accepted (16-deep queues; the DMA never has more in flight);
- the first beat of a read burst may leave ``latency`` cycles after its AR handshake, later
  beats follow in order;
- R and W beats share one data slot server: with ``tau = B / bytes_per_cycle`` cycles per beat
  (a fraction ``p/q``, below 1 when the DRAM has bandwidth for more than one beat a cycle), a
  beat may move in cycle ``t`` when ``t*q >= next``; when ``n`` move (one per channel at
  most), ``next = max(next, t*q - q + 1) + n*p``. An eligible R beat goes first: while one
  waits, WREADY is high only if the server has room for a second beat,
  ``t*q >= max(next, t*q - q + 1) + p`` (never when ``tau >= 1``; it does not depend on
  RREADY) (:func:`hwcnn.arch.dma.slot_next`);
- B for a burst is offered ``latency`` cycles after its WLAST handshake (and only once the
  backing RAM has answered, whose BRESP it carries, like RRESP).

The backing RAM only has to be faster than the model (its data is queued in 16-deep FIFOs);
back-pressure from it (cocotbext-axi pause generators) delays the DMA but never reorders data.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import DramTiming
from .bus import AxiSignature

ADDR_QUEUE = 16
DATA_QUEUE = 16


class DramShim(wiring.Component):
    """``s_axi`` (from the DMA) -> ``m_axi`` (to the backing RAM) with the model's timing."""

    def __init__(self, timing: DramTiming, *, addr_width: int, data_width: int) -> None:
        self.timing = timing
        self.addr_width, self.data_width = addr_width, data_width
        sig = AxiSignature(addr_width, data_width)
        super().__init__({"s_axi": In(sig), "m_axi": Out(sig)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s, r = self.s_axi, self.m_axi
        lat = self.timing.latency
        p, q = self.timing.shared_slot(self.data_width // 8)
        now = Signal(32)
        nowq = Signal(signed(48))
        nxt = Signal(signed(48))
        m.d.sync += [now.eq(now + 1), nowq.eq(nowq + q)]

        def queue(name: str, sigs: list, depth: int) -> fifo.SyncFIFO:
            q_ = fifo.SyncFIFO(width=sum(len(x) for x in sigs), depth=depth)
            m.submodules[name] = q_
            return q_

        def forward(ch: str, names: tuple[str, ...]) -> fifo.SyncFIFO:
            src = [getattr(s, f"{ch}{n}") for n in names]
            dst = [getattr(r, f"{ch}{n}") for n in names]
            f = queue(f"{ch}q", src, ADDR_QUEUE)
            m.d.comb += [f.w_data.eq(Cat(*src)), Cat(*dst).eq(f.r_data),
                         getattr(r, f"{ch}valid").eq(f.r_rdy),
                         f.r_en.eq(getattr(r, f"{ch}ready"))]
            return f

        addr_fields = ("id", "addr", "len", "size", "burst")
        arq = forward("ar", addr_fields)
        awq = forward("aw", addr_fields)
        # read-burst release times and write-response release times
        ts = queue("ts", [now], ADDR_QUEUE)
        bts = queue("bts", [now], ADDR_QUEUE)
        m.d.comb += [s.arready.eq(arq.w_rdy & ts.w_rdy), arq.w_en.eq(s.arvalid & s.arready),
                     ts.w_en.eq(s.arvalid & s.arready), ts.w_data.eq(now + lat),
                     s.awready.eq(awq.w_rdy), awq.w_en.eq(s.awvalid & s.awready)]

        slot_ok = Signal()
        m.d.comb += slot_ok.eq(nowq >= nxt)
        # R: backing RAM -> queue -> DMA at the model's times
        rq = queue("rq", [r.rdata, r.rresp, r.rlast, r.rid], DATA_QUEUE)
        m.d.comb += [r.rready.eq(rq.w_rdy), rq.w_en.eq(r.rvalid & rq.w_rdy),
                     rq.w_data.eq(Cat(r.rdata, r.rresp, r.rlast, r.rid))]
        first = Signal(init=1)
        r_elig = Signal()
        m.d.comb += r_elig.eq(rq.r_rdy & (~first | (ts.r_rdy & (now >= ts.r_data))))
        m.d.comb += [s.rvalid.eq(r_elig & slot_ok),
                     Cat(s.rdata, s.rresp, s.rlast, s.rid).eq(rq.r_data)]
        r_take = Signal()
        m.d.comb += [r_take.eq(s.rvalid & s.rready), rq.r_en.eq(r_take),
                     ts.r_en.eq(r_take & s.rlast)]
        with m.If(r_take):
            m.d.sync += first.eq(s.rlast)
        # W: DMA -> queue -> backing RAM; B released `lat` cycles after WLAST
        wq = queue("wq", [s.wdata, s.wstrb, s.wlast], DATA_QUEUE)
        base = Signal(signed(48))
        m.d.comb += base.eq(nowq - q + 1)
        floor = Signal(signed(48))                 # max(next, t*q - q + 1)
        m.d.comb += floor.eq(Mux(base > nxt, base, nxt))
        second_ok = Signal()
        m.d.comb += second_ok.eq(nowq >= floor + p)
        m.d.comb += [s.wready.eq(Mux(r_elig, second_ok, slot_ok) & wq.w_rdy & bts.w_rdy),
                     wq.w_en.eq(s.wvalid & s.wready), wq.w_data.eq(Cat(s.wdata, s.wstrb, s.wlast)),
                     Cat(r.wdata, r.wstrb, r.wlast).eq(wq.r_data), r.wvalid.eq(wq.r_rdy),
                     wq.r_en.eq(r.wready)]
        w_take = Signal()
        m.d.comb += [w_take.eq(s.wvalid & s.wready), bts.w_en.eq(w_take & s.wlast),
                     bts.w_data.eq(now + lat)]
        bq = queue("bq", [r.bresp, r.bid], ADDR_QUEUE)
        m.d.comb += [r.bready.eq(bq.w_rdy), bq.w_en.eq(r.bvalid & bq.w_rdy),
                     bq.w_data.eq(Cat(r.bresp, r.bid)), Cat(s.bresp, s.bid).eq(bq.r_data),
                     s.bvalid.eq(bq.r_rdy & bts.r_rdy & (now >= bts.r_data))]
        b_take = Signal()
        m.d.comb += [b_take.eq(s.bvalid & s.bready), bq.r_en.eq(b_take), bts.r_en.eq(b_take)]
        # the data slot server
        with m.If(r_take & w_take):
            m.d.sync += nxt.eq(floor + 2 * p)
        with m.Elif(r_take | w_take):
            m.d.sync += nxt.eq(floor + p)
        return m
