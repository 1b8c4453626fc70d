"""Buffer-side adapters of the DMA: beat stream -> memory write port, address stream -> words.

:class:`BeatWriter` takes the read engine's beats (always ready) and writes them through a
``WriteSignature``-like port with one enable per byte (``Memory.write_port(granularity=8)``).
:class:`WordReader` turns a stream of word addresses into a stream of words read through a
1-cycle-latency read port; it holds up to 3 words (one in the memory's output register, two in a
skid FIFO), so it keeps up one word per cycle under back-pressure.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.soc import WORD_READER_DEPTH
from .desc import beat_layout

#: Words the reader holds (in the memory's output register and its FIFO).
READER_DEPTH = WORD_READER_DEPTH


class BeatWriter(wiring.Component):
    """``beats`` (in) -> ``wr_en`` (one bit per byte), ``wr_addr``, ``wr_data``."""

    def __init__(self, buf_addr_width: int, data_width: int) -> None:
        super().__init__({"beats": In(stream.Signature(beat_layout(buf_addr_width, data_width))),
                          "wr_en": Out(data_width // 8), "wr_addr": Out(buf_addr_width),
                          "wr_data": Out(data_width)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        b = self.beats
        m.d.comb += [b.ready.eq(1), self.wr_addr.eq(b.payload.addr),
                     self.wr_data.eq(b.payload.data),
                     self.wr_en.eq(Mux(b.valid, b.payload.strb, 0))]
        return m


class WordReader(wiring.Component):
    """``addr`` (in stream) -> ``rd_addr`` / ``rd_data`` (1-cycle read port) -> ``words``."""

    def __init__(self, buf_addr_width: int, data_width: int) -> None:
        super().__init__({"addr": In(stream.Signature(buf_addr_width)),
                          "words": Out(stream.Signature(data_width)),
                          "rd_addr": Out(buf_addr_width), "rd_data": In(data_width)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.q = q = fifo.SyncFIFO(width=len(self.rd_data), depth=READER_DEPTH)
        pending = Signal()
        a = self.addr
        m.d.comb += [a.ready.eq(q.level + pending < READER_DEPTH), self.rd_addr.eq(a.payload)]
        m.d.sync += pending.eq(a.valid & a.ready)
        m.d.comb += [q.w_en.eq(pending), q.w_data.eq(self.rd_data),
                     self.words.valid.eq(q.r_rdy), self.words.payload.eq(q.r_data),
                     q.r_en.eq(self.words.ready)]
        return m
