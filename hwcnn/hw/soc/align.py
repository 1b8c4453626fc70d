"""Byte realignment of DMA beats into fixed-size units (buffer words or tensor elements).

The DMA preserves byte lanes (``rtl/README.md`` 8): DRAM byte ``x`` arrives in lane ``x mod B``
of its beat and only the strobed lanes are data (the first and last beat of a row are partial;
a beat with an error response has no strobe). The strobed lanes of a beat are always one
contiguous run, and the runs of successive beats are successive DRAM bytes of the transfer, so
the strobed bytes in arrival order ARE the byte stream the load unit asked for.
:class:`ByteAligner` compacts each beat's run and appends it to a byte queue from which it
offers units of ``size`` bytes (``size`` set per instruction: a buffer word of ``wb`` bytes
or a tensor element of ``eb`` bytes; for LOAD2D the im2col element walker sets it every cycle
to the bytes of its run, ``take`` = ``n*eb`` for an in-bounds run of ``n`` elements, at most
``min(R*eb, B)`` and never more than ``cnt``, else 0, ``hw/soc/im2col.py``).

Cycle behaviour (deterministic; ``cnt`` = bytes held at the start of the cycle, capacity
``CAP = U + B``, ``U`` the largest unit size, ``B`` the bus bytes):

* ``units.valid = (size != 0) & (cnt >= size)`` (no combinational path from the beat; with a
  per-cycle ``size`` computed from ``count`` the path is register -> walker -> ``size``);
  the unit is the ``size`` oldest bytes, little-endian in ``units.payload`` (``U`` bytes: the
  load unit makes ``U`` at least ``nmax*eb`` when it serves ACT);
* ``rest = cnt - size`` if a unit leaves this cycle, else ``cnt``;
* ``beats.ready = (rest <= U)`` (room for a whole beat after the unit that leaves; the same
  one subtractor and comparator whatever ``size`` is): a beat
  is back-pressured only in a cycle where ``rest > U``, i.e. only when units are smaller than
  the bytes that arrive (or the consumer stalls); with ``size >= B`` and a consumer that takes
  every offered unit, every beat is taken in the cycle it is offered;
* ``cnt`` of the next cycle = ``rest`` + the strobed bytes of the beat taken (if any);
* ``clear`` empties the queue (next cycle ``cnt = 0``) and wins over everything else.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.desc import beat_layout
from .ports import DMA_BUF_ADDR_BITS


class ByteAligner(wiring.Component):
    """DMA beats (``beats``) -> units of ``size`` bytes (``units``, ``8*unit_bytes`` wide).

    Parameters
    ----------
    bus_bytes : int
        Bytes per beat (the DMA's data width / 8).
    unit_bytes : int
        The largest unit size ``U`` the instructions will ask for.
    """

    def __init__(self, bus_bytes: int, unit_bytes: int) -> None:
        self.bus_bytes, self.unit_bytes = bus_bytes, unit_bytes
        self.capacity = unit_bytes + bus_bytes
        super().__init__({
            "beats": In(stream.Signature(beat_layout(DMA_BUF_ADDR_BITS, 8 * bus_bytes))),
            "size": In(range(unit_bytes + 1)),
            "clear": In(1),
            "units": Out(stream.Signature(8 * unit_bytes)),
            "count": Out(range(self.capacity + 1)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        nb, u, cap = self.bus_bytes, self.unit_bytes, self.capacity
        buf = Signal(8 * cap)
        cnt = Signal(range(cap + 1))
        m.d.comb += self.count.eq(cnt)
        out = self.units
        m.d.comb += [out.valid.eq((self.size != 0) & (cnt >= self.size)),
                     out.payload.eq(buf[:8 * u])]
        take_out = Signal()
        m.d.comb += take_out.eq(out.valid & out.ready)
        rest = Signal(range(cap + 1))
        shifted = Signal(8 * cap)
        m.d.comb += [rest.eq(Mux(take_out, cnt - self.size, cnt)),
                     shifted.eq(Mux(take_out, buf >> (self.size * 8), buf))]
        beat = self.beats.payload
        m.d.comb += self.beats.ready.eq(rest <= u)
        # the strobed run of the beat: first lane and length
        lo = Signal(range(nb))
        for i in reversed(range(nb)):
            with m.If(beat.strb[i]):
                m.d.comb += lo.eq(i)
        n = Signal(range(nb + 1))
        m.d.comb += n.eq(sum(beat.strb[i] for i in range(nb)))
        ones = Const((1 << 8 * nb) - 1, 8 * nb)
        run, gap = Signal(8 * nb), Signal(range(8 * nb + 1))
        m.d.comb += [gap.eq((nb - n) * 8), run.eq((beat.data >> (lo * 8)) & (ones >> gap))]
        take_in = Signal()
        m.d.comb += take_in.eq(self.beats.valid & self.beats.ready)
        with m.If(self.clear):
            m.d.sync += [buf.eq(0), cnt.eq(0)]
        with m.Elif(take_in):
            m.d.sync += [buf.eq(shifted | (run << (rest * 8))), cnt.eq(rest + n)]
        with m.Else():
            m.d.sync += [buf.eq(shifted), cnt.eq(rest)]
        return m
