"""The store unit's data path (private to :mod:`hwcnn.hw.soc.store`): output-buffer word reads
-> DRAM-lane byte packing -> bus beats.

:class:`StoreDatapath` takes read requests (an output-buffer word address plus how the word's
bytes enter the DRAM byte stream), reads the words through a 1-cycle read port, turns each into
a *piece* of bytes (mode WORDS: the packed word, ``wb`` bytes; mode PIXELS: its first ``k``
lanes, each sign-extended to ``eb`` bytes) and packs the pieces of one DRAM row (a pixel, or
the whole WORDS transfer) into bus beats in DRAM byte lanes: the row's first byte goes to lane
``off`` = its DRAM address mod ``B``, the lanes below it and above the row's end are don't-care
(the DMA's strobes are off there). Beats leave on ``beats`` in the order the DMA's beat walker
asks for them (row by row, beat by beat).

Timing (exact; ``t`` = the cycle a request is taken on ``req``):

* reader (like :class:`hwcnn.hw.axi.bufport.WordReader`): ``req.ready`` = fewer than
  :data:`READER_DEPTH` (3) words held (``pending`` + FIFO level); the word of a request taken
  in ``t`` enters the piece FIFO in ``t+1`` and can be packed from ``t+2``;
* packer, per cycle, with ``cnt`` bytes held (``cnt`` < ``B + Pmax``, ``Pmax`` the largest
  piece) and ``tail`` (the held bytes end a row): it *absorbs* the head piece iff
  ``~tail & cnt < B`` (a row's first piece starts at ``off`` instead of ``cnt``, which is 0
  then); with ``total`` = bytes held including an absorbed piece it *offers* a beat iff
  ``total >= B`` or the row ends (``tail`` or the absorbed piece is the row's last); an offered
  beat is taken iff the beat FIFO has room. Taken: ``total > B`` keeps ``total - B`` bytes
  (and ``tail``), else the packer is empty and ``tail`` clears. Absorbing and emitting happen
  in the same cycle, so a piece per cycle goes in and at most one beat per cycle comes out;
* beat FIFO: :data:`BEAT_FIFO` (4) beats; a beat offered in ``u`` is on ``beats`` from ``u+1``.

So, with the DMA taking beats: ``min(n, B)`` bytes per cycle for pieces of ``n`` bytes, plus
one extra cycle for every further ``B`` bytes a row still holds after its last piece.
``clear`` (the SoC holds it while the unit is idle) empties everything in one cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.soc import STORE_BEAT_FIFO, STORE_READER_DEPTH
from ..signatures import ReadSignature

#: Words the reader holds (the memory's output register and its FIFO).
READER_DEPTH = STORE_READER_DEPTH
#: Beats buffered between the packer and the DMA.
BEAT_FIFO = STORE_BEAT_FIFO


def piece_bytes(lanes: int, lane_bits: int) -> tuple[int, int, int]:
    """``(eb, wb, pmax)``: element bytes, packed word bytes, the largest piece."""
    eb = -(-lane_bits // 8)
    wb = -(-lanes * lane_bits // 8)
    return eb, wb, max(wb, lanes * eb)


def request_layout(addr_width: int, lanes: int, lane_bits: int, bus_bytes: int
                   ) -> data.StructLayout:
    """One read request: word ``addr``; the piece's byte count ``n``, ``pixels`` (lanes
    sign-extended to elements, else the packed word), ``first`` / ``last`` piece of its DRAM
    row and ``off`` (the row's first DRAM byte mod B, used with ``first``)."""
    _, _, pmax = piece_bytes(lanes, lane_bits)
    return data.StructLayout({"addr": addr_width, "n": range(pmax + 1), "pixels": 1,
                              "first": 1, "last": 1, "off": range(bus_bytes)})


class StoreDatapath(wiring.Component):
    """``req`` (read requests) -> ``out_rd`` (1-cycle read port) -> ``beats`` (bus words)."""

    def __init__(self, *, addr_width: int, lanes: int, lane_bits: int, bus_bytes: int) -> None:
        self.addr_width, self.lanes, self.lane_bits = addr_width, lanes, lane_bits
        self.bus_bytes = bus_bytes
        self.eb, self.wb, self.pmax = piece_bytes(lanes, lane_bits)
        self.req_layout = request_layout(addr_width, lanes, lane_bits, bus_bytes)
        super().__init__({
            "req": In(stream.Signature(self.req_layout)),
            "out_rd": Out(ReadSignature(addr_width, lanes * lane_bits)),
            "beats": Out(stream.Signature(8 * bus_bytes)),
        })

    def _piece(self, word: Signal, pixels: Signal) -> object:
        """The piece's bytes, piece byte 0 in bits [0, 8)."""
        a, eb = self.lane_bits, self.eb
        elems = []
        for c in range(self.lanes):
            lane = word[c * a:(c + 1) * a]
            elems.append(lane if 8 * eb == a else Cat(lane, lane[-1].replicate(8 * eb - a)))
        return Mux(pixels, Cat(*elems), word)      # pmax = lanes * eb >= wb

    def elaborate(self, platform: object) -> Module:
        m = Module()
        nb, pmax = self.bus_bytes, self.pmax
        lay = self.req_layout
        meta_lay = data.StructLayout({k: v for k, v in lay.members.items() if k != "addr"})
        word_bits = self.lanes * self.lane_bits
        # --- reader: request -> word + its metadata in the piece FIFO -------------------
        m.submodules.pieces = pq = fifo.SyncFIFO(width=word_bits + meta_lay.size,
                                                 depth=READER_DEPTH)
        pending = Signal()
        meta_p = Signal(meta_lay)
        r = self.req
        m.d.comb += [r.ready.eq(pq.level + pending < READER_DEPTH),
                     self.out_rd.addr.eq(r.payload.addr)]
        m.d.sync += pending.eq(r.valid & r.ready)
        with m.If(r.valid & r.ready):
            m.d.sync += meta_p.eq(Cat(*(getattr(r.payload, k) for k in meta_lay.members)))
        m.d.comb += [pq.w_en.eq(pending), pq.w_data.eq(Cat(self.out_rd.data, meta_p))]
        word = pq.r_data[:word_bits]
        meta = data.View(meta_lay, pq.r_data[word_bits:])
        # --- packer ----------------------------------------------------------------------
        nacc = nb - 1 + pmax
        acc = Signal(8 * nacc)
        cnt = Signal(range(nacc + 1))
        tail = Signal()
        piece = Signal(8 * pmax)
        m.d.comb += piece.eq(self._piece(word, meta.pixels))
        can = ~tail & (cnt < nb)
        absorb = Signal()
        m.d.comb += [absorb.eq(pq.r_rdy & can), pq.r_en.eq(absorb)]
        ecnt = Signal(range(nb))
        m.d.comb += ecnt.eq(Mux(meta.first, meta.off, cnt))
        sh = Cat(Const(0, 3), ecnt)            # ecnt bytes in bits
        ones = Const((1 << 8 * nacc) - 1, 8 * nacc)
        merged = Signal(8 * nacc)
        total = Signal(range(nacc + 1))
        with m.If(absorb):
            m.d.comb += [merged.eq((acc & ~(ones << sh)) | (piece << sh)),
                         total.eq(ecnt + meta.n)]
        with m.Else():
            m.d.comb += [merged.eq(acc), total.eq(cnt)]
        end = Signal()
        m.d.comb += end.eq(tail | (absorb & meta.last))
        m.submodules.beatq = bq = fifo.SyncFIFO(width=8 * nb, depth=BEAT_FIFO)
        want = Signal()
        m.d.comb += [want.eq((total >= nb) | (end & (total != 0))),
                     bq.w_en.eq(want), bq.w_data.eq(merged[:8 * nb])]
        with m.If(want & bq.w_rdy):
            with m.If(total > nb):
                m.d.sync += [acc.eq(merged >> 8 * nb), cnt.eq(total - nb), tail.eq(end)]
            with m.Else():
                m.d.sync += [cnt.eq(0), tail.eq(0)]
        with m.Else():
            m.d.sync += [acc.eq(merged), cnt.eq(total), tail.eq(end)]
        b = self.beats
        m.d.comb += [b.valid.eq(bq.r_rdy), b.payload.eq(bq.r_data), bq.r_en.eq(b.ready)]
        return m
