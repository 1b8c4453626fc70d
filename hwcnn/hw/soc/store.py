"""The store unit of the complete accelerator: STORE (output buffer -> DRAM) through the DMA's
write client, bit-exact with :meth:`hwcnn.machine.program_exec._Machine.mem` (rtl/README.md
9.2 and 10.3).

``StoreUnit(params)`` members: ``unit`` (``In(UnitSignature())``: STORE instructions in, one
status out per instruction), ``dma`` (``Out(DmaWriteClientSignature(dw))``), ``dram_base``
(``In(32)``, the CSR register BASE0, added to every ``dram_base`` field) and ``out_rd``
(``Out(ReadSignature(addr_bits(out), C*act_bits))``, the output buffer's 1-cycle read port).
The ``buffer`` field is not looked at (a STORE always reads OUT: progcheck).

DRAM transfers. mode WORDS: one DMA row of ``rows*wb`` contiguous bytes from
``S = BASE0 + dram_base``; a descriptor carries at most ``chunk_bytes`` (2**19) bytes and every
descriptor but the first starts at a multiple of ``chunk_bytes`` (so every descriptor boundary
is beat-aligned and the beats of consecutive descriptors continue one byte stream). mode
PIXELS with ``dram_stride == elems*eb`` (*contiguous*, :func:`hwcnn.arch.soc.store_contiguous`):
the pixels are adjacent in DRAM, so they are sent exactly like WORDS as one DMA row of
``rows*elems*eb`` bytes (same chunking), one byte stream through all the pixels; the packer sees
one row (first piece: pixel 0's first, last: pixel ``rows-1``'s last), the strobes cover exactly
``[S, S + rows*elems*eb)``, the bytes :meth:`_Machine.mem` writes. Other PIXELS stores: one
DMA row per pixel, ``row_bytes = elems*eb``, ``row_stride = dram_stride``, at most
``max_rows`` (65535) pixels per descriptor; the bytes between pixels are not written (their
strobes are off). Byte ``x`` of a beat is DRAM byte ``x`` mod ``B`` (the DMA's lanes); the beat
data come from :class:`hwcnn.hw.soc.pack.StoreDatapath` in the DMA's beat order, so the unit
does not need the address (the descriptors' ``buf_addr`` / ``buf_stride`` are 0). It answers the
requests with :class:`hwcnn.hw.axi.bufport.WordReader`'s handshake: ``rd_addr.ready`` iff fewer
than 3 requests are unanswered (taken last cycle + older ones), and a request taken in ``u`` is
answered (``rd_data.valid``) from ``u+2`` on, as soon as the packer has its beat. So whenever the
packer keeps up, the DMA transfer takes exactly the cycles of
:func:`hwcnn.arch.dma_timing.transfer_cycles` / :class:`hwcnn.machine.dmasim.DmaModel`.

Cycle behaviour (exact; cycle 0 = the instruction handshake, taken whenever the unit is idle):

* the byte count of a contiguous store (no multiplier): at the handshake ``acc = 0``,
  ``r = rows``, ``p = elems*eb`` (shift-and-add by the constant ``eb``) are loaded; from cycle 1,
  while ``r != 0``, each cycle does ``acc += (r mod 4)*p`` (two shifted, gated adds),
  ``r >>= 2``, ``p <<= 2`` (:data:`hwcnn.arch.soc.STORE_COUNT_BITS` = 2 bits of ``rows`` per
  cycle, LSB first, stopping when no bit is left): complete from cycle
  ``1 + ceil(bitlen(rows)/2)`` (:func:`hwcnn.arch.soc.store_count_ready`), so only
  ``rows >= 16`` delays the first descriptor beyond cycle 3. Other stores do not count;
* cycle 1 (DECODE): ``S``, ``(rows-1)*sram_stride`` and ``(elems-1) div C`` are registered
  (the two range-check products are the unit's only multipliers; constant products are
  shift-and-add).
  A NOP (``rows = 0``, or mode PIXELS with ``elems = 0``: no byte to move) offers status 0 from
  cycle 2;
* cycle 2 (CHECK): the largest word address (WORDS ``sram_base + rows - 1``; PIXELS
  ``sram_base + ((elems-1) div C)*fold_stride + (rows-1)*sram_stride``) is compared with the
  OUT depth: beyond it, status ``BUF_RANGE`` (5) from cycle 3, no DMA transfer;
* from cycle 3 (RUN): the first descriptor is offered (held until taken; a contiguous store's
  from ``max(3, 1 + ceil(bitlen(rows)/2))``) and the word reads
  start, one request per cycle while the data path's reader holds fewer than 3 words. Read
  order: WORDS ``sram_base + i``; PIXELS pixel by pixel, fold by fold (word
  ``sram_base + f*fold_stride + i*sram_stride``, piece of ``min(C, elems - f*C)`` elements).
  Packing and beat timing: :mod:`hwcnn.hw.soc.pack` (a piece of ``n`` bytes per cycle, at
  most one beat per cycle: WORDS ``min(wb, B)`` bytes per cycle, PIXELS ``min(C*eb, B)``
  bytes per cycle, i.e. at least one element per cycle; a DRAM row (a pixel, or a whole
  contiguous store) whose bytes still fill more than ``B`` after its last piece takes one more
  cycle per further beat). The packer runs
  ahead of the DMA by up to 4 beats (+3 words in the reader); it stalls only on those FIFOs;
* a descriptor whose start is at or beyond 2**32 (``S`` or a later chunk overflowing 32 bits)
  is not offered: status ``DMA_WINDOW`` (1). Otherwise the unit takes the DMA status in the
  cycle it is offered (``status.ready`` = 1); nonzero: that code; zero: the next descriptor is
  offered in the following cycle, or after the last one the unit's status (0) is offered in the
  following cycle. Earlier descriptors of a chunked transfer stay written when a later one fails;
* STATUS: the status is offered until taken; then the unit is idle (``insn.ready`` = 1) in the
  next cycle. While not in RUN the data path is held in reset, so beats left over from a
  transfer that stopped on an error are dropped (never a hang: the DMA drains its own bursts).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, ResetInserter, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import DIM_BITS, ROW_BYTES_BITS, ErrorCode
from ...arch.soc import STORE_CHUNK_BYTES, STORE_COUNT_BITS, STORE_MAX_ROWS
from ...isa.fields import ADDR_BITS, Buffer, MemMode
from ...isa.layout import struct_layout
from ..params import addr_bits
from ..signatures import ReadSignature
from .pack import READER_DEPTH, StoreDatapath, piece_bytes
from .ports import AXI_ADDR_BITS, DmaWriteClientSignature, SocParams, UnitSignature

#: Largest WORDS descriptor (bytes; a multiple of every bus width, below 2**ROW_BYTES_BITS).
CHUNK_BYTES = STORE_CHUNK_BYTES
#: Largest PIXELS descriptor (pixels = DMA rows).
MAX_ROWS = STORE_MAX_ROWS


def csd(k: int) -> list[tuple[int, int]]:
    """Canonical signed digits of ``k >= 0``: ``[(sign, shift), ...]`` with
    ``k = sum(sign << shift)`` and no two adjacent nonzero digits."""
    out, shift = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)          # +1 if k = 1 mod 4, -1 if k = 3 mod 4
            out.append((d, shift))
            k -= d
        k >>= 1
        shift += 1
    return out


def mul_const(x: Value, k: int) -> Value:
    """``x * k`` for unsigned ``x`` and a constant ``k >= 0`` as shifts and adds (canonical
    signed digits), so that synthesis spends no multiplier on it."""
    if k == 0:
        return Const(0, 1)
    terms = csd(k)
    width = len(x) + k.bit_length() + 1
    acc: Value = Const(0, width)
    for sign, shift in terms:
        acc = (acc + (x << shift)) if sign > 0 else (acc - (x << shift))
    return acc.as_unsigned()[:width]


def serial_mul_step(m: Module, acc: Signal, mr: Signal, mpb: Signal) -> None:
    """One cycle of a bit-serial product ``acc += mr * mpb`` (no multiplier): while
    ``mr != 0``, add ``mpb`` times the low :data:`~hwcnn.arch.soc.STORE_COUNT_BITS` bits of
    ``mr`` (shift-adds) to ``acc`` and shift ``mr`` right, ``mpb`` left by as many bits. The
    caller loads ``acc = 0``, ``mr``, ``mpb`` (its assignments, later in the module, take
    precedence); the product is complete in the first cycle with ``mr == 0``
    (:func:`hwcnn.arch.soc.store_count_ready`)."""
    with m.If(mr != 0):
        add = Const(0, len(acc))
        for b in range(STORE_COUNT_BITS):
            add = add + Mux(mr[b], mpb << b, 0)
        m.d.sync += [acc.eq(acc + add), mr.eq(mr >> STORE_COUNT_BITS),
                     mpb.eq(mpb << STORE_COUNT_BITS)]


def div_const(x: Value, width: int, d: int) -> Value:
    """``x div d`` for an unsigned ``width``-bit ``x`` (at most 20 bits) and a constant ``d``:
    a shift for powers of two, else ``x * ceil(2**k / d) >> k`` with the smallest ``k`` that
    is exact for every ``x`` (checked exhaustively)."""
    if d & (d - 1) == 0:
        return x >> (d.bit_length() - 1)
    if width > 20:
        raise ValueError("div_const checks every x: at most 20 bits")
    xs = np.arange(1 << width, dtype=np.int64)
    k = width
    while not np.array_equal((xs * -(-(1 << k) // d)) >> k, xs // d):
        k += 1
    return mul_const(x, -(-(1 << k) // d)) >> k


class StoreUnit(wiring.Component):
    """STORE executor (see the module docstring for the exact cycle behaviour)."""

    def __init__(self, params: SocParams, *, chunk_bytes: int = CHUNK_BYTES,
                 max_rows: int = MAX_ROWS) -> None:
        self.params = params
        t = params.target
        nb = params.bus_bytes
        if chunk_bytes % nb or chunk_bytes & (chunk_bytes - 1) or chunk_bytes >> ROW_BYTES_BITS:
            raise ValueError(f"chunk_bytes {chunk_bytes} must be a power of two multiple of the "
                             f"bus width below 2**{ROW_BYTES_BITS}")
        if not 1 <= max_rows <= MAX_ROWS:
            raise ValueError(f"max_rows must be between 1 and {MAX_ROWS}, not {max_rows}")
        self.chunk_bytes, self.max_rows = chunk_bytes, max_rows
        self.lanes, self.lane_bits = t.lanes(Buffer.OUT), t.lane_bits(Buffer.OUT)
        self.eb, self.wb, _ = piece_bytes(self.lanes, self.lane_bits)
        if ((1 << 16) - 1) * self.eb >> ROW_BYTES_BITS:
            raise ValueError("a pixel's bytes must fit the DMA's row_bytes field")
        self.depth = t.out
        self.out_aw = addr_bits(t.out)
        super().__init__({
            "unit": In(UnitSignature()),
            "dma": Out(DmaWriteClientSignature(params.data_width)),
            "dram_base": In(AXI_ADDR_BITS),
            "out_rd": Out(ReadSignature(self.out_aw, self.lanes * self.lane_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        nb, lanes, eb, wb = self.params.bus_bytes, self.lanes, self.eb, self.wb
        lg = addr_bits(nb)
        dp = StoreDatapath(addr_width=self.out_aw, lanes=lanes, lane_bits=self.lane_bits,
                           bus_bytes=nb)
        clear = Signal()
        m.submodules.dp = ResetInserter(clear)(dp)
        m.d.comb += [self.out_rd.addr.eq(dp.out_rd.addr), dp.out_rd.data.eq(self.out_rd.data)]
        dma = self.dma
        # the DMA's beat requests, answered with WordReader's handshake: a request taken in t
        # may be answered from t+2, at most READER_DEPTH requests unanswered
        pend = Signal()
        cred = Signal(range(READER_DEPTH + 1))
        give = Signal()
        m.d.comb += [dma.rd_addr.ready.eq(pend + cred < READER_DEPTH),
                     dma.rd_data.valid.eq(dp.beats.valid & (cred != 0)),
                     dma.rd_data.payload.eq(dp.beats.payload),
                     dp.beats.ready.eq(dma.rd_data.ready & (cred != 0)),
                     give.eq(dma.rd_data.valid & dma.rd_data.ready)]
        m.d.sync += [pend.eq(dma.rd_addr.valid & dma.rd_addr.ready),
                     cred.eq(cred + pend - give)]
        with m.If(clear):
            m.d.sync += [pend.eq(0), cred.eq(0)]

        f = Signal(struct_layout("MEM"))
        pixels = f.mode == MemMode.PIXELS
        # contiguous PIXELS store (dram_stride == elems*eb): one byte stream like WORDS, its
        # byte count rows*(elems*eb) formed bit-serially (STORE_COUNT_BITS bits of rows per
        # cycle, shift-add, no multiplier) into `rem` from the handshake on
        seq = Signal()
        mr = Signal(len(f.rows))
        pbw = len(f.elems) + eb.bit_length()
        mpb = Signal(pbw + len(f.rows))
        code = Signal(8)
        start = Signal(AXI_ADDR_BITS + 1)
        prod_r = Signal(ADDR_BITS + 16)
        fmax = Signal(16)
        # generator
        ga, pa = Signal(ADDR_BITS + 1), Signal(ADDR_BITS + 1)
        erem, grem = Signal(16), Signal(20)
        roff = Signal(lg)
        gfirst, active = Signal(), Signal()
        # descriptors
        cur = Signal(AXI_ADDR_BITS + DIM_BITS + 24)
        rem = Signal(max(20 + addr_bits(wb) + 1, len(f.rows) + pbw + 1))
        chunk = Signal(ROW_BYTES_BITS + 1)
        m.d.comb += self.unit.status.payload.eq(code)

        # the bit-serial byte count (the FSM's assignments below take precedence: it loads
        # these registers at the handshake; CHECK and CMD write `rem` only when mr == 0)
        serial_mul_step(m, rem, mr, mpb)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.unit.insn.ready.eq(1), clear.eq(1)]
                with m.If(self.unit.insn.valid):
                    pl = Signal(struct_layout("MEM"))
                    pb = Signal(pbw)
                    sq = Signal()
                    m.d.comb += [pl.eq(self.unit.insn.payload), pb.eq(mul_const(pl.elems, eb)),
                                 sq.eq((pl.mode == MemMode.PIXELS) & (pl.dram_stride == pb))]
                    m.d.sync += [f.eq(self.unit.insn.payload), seq.eq(sq),
                                 mr.eq(Mux(sq, pl.rows, 0)), mpb.eq(pb), rem.eq(0)]
                    m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += clear.eq(1)
                m.d.sync += [start.eq(self.dram_base + f.dram_base),
                             prod_r.eq((f.rows - 1) * f.sram_stride),
                             fmax.eq(div_const((f.elems - 1)[:16], 16, lanes)),
                             code.eq(0)]
                with m.If((f.rows == 0) | (pixels & (f.elems == 0))):
                    m.next = "STATUS"
                with m.Else():
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += clear.eq(1)
                maxw = Signal(ADDR_BITS + 38)
                m.d.comb += maxw.eq(Mux(pixels, f.sram_base + fmax * f.fold_stride + prod_r,
                                        f.sram_base + f.rows - 1))
                m.d.sync += [ga.eq(f.sram_base), pa.eq(f.sram_base), erem.eq(f.elems),
                             grem.eq(f.rows), roff.eq(start[:lg]), gfirst.eq(1),
                             cur.eq(start)]
                with m.If(~seq):
                    m.d.sync += rem.eq(Mux(pixels, f.rows, mul_const(f.rows, wb)))
                with m.If(maxw >= self.depth):
                    m.d.sync += code.eq(ErrorCode.BUF_RANGE)
                    m.next = "STATUS"
                with m.Else():
                    m.d.sync += active.eq(1)
                    m.next = "CMD"
            with m.State("CMD"):
                cmd = dma.cmd
                p = cmd.payload
                lc = addr_bits(self.chunk_bytes)
                room = self.chunk_bytes - cur[:lc]
                rowsm = pixels & ~seq             # one DMA row per pixel
                m.d.comb += chunk.eq(Mux(rowsm, Mux(rem < self.max_rows, rem, self.max_rows),
                                         Mux(rem < room, rem, room)))
                m.d.comb += [p.dram_addr.eq(cur), p.rows.eq(Mux(rowsm, chunk, 1)),
                             p.row_bytes.eq(Mux(rowsm, mul_const(f.elems, eb), chunk)),
                             p.row_stride.eq(Mux(rowsm, f.dram_stride, 0)),
                             p.planes.eq(1), p.plane_stride.eq(0), p.buf_addr.eq(0),
                             p.buf_stride.eq(0)]
                with m.If(mr != 0):
                    pass                          # the byte count is not complete yet
                with m.Elif(cur[AXI_ADDR_BITS:] != 0):
                    m.d.sync += [code.eq(ErrorCode.DMA_WINDOW), active.eq(0)]
                    m.next = "STATUS"
                with m.Else():
                    m.d.comb += cmd.valid.eq(1)
                    with m.If(cmd.ready):
                        m.d.sync += [cur.eq(cur + Mux(rowsm,
                                                      mul_const(f.dram_stride, self.max_rows),
                                                      chunk)),
                                     rem.eq(rem - chunk)]
                        m.next = "WAIT"
            with m.State("WAIT"):
                st = dma.status
                m.d.comb += st.ready.eq(1)
                with m.If(st.valid):
                    with m.If(st.payload != 0):
                        m.d.sync += [code.eq(st.payload), active.eq(0)]
                        m.next = "STATUS"
                    with m.Elif(rem == 0):
                        m.d.sync += active.eq(0)
                        m.next = "STATUS"
                    with m.Else():
                        m.next = "CMD"
            with m.State("STATUS"):
                m.d.comb += [self.unit.status.valid.eq(1), clear.eq(1)]
                with m.If(self.unit.status.ready):
                    m.next = "IDLE"

        # read-request generator (runs in CMD / WAIT while `active`)
        r = dp.req
        k = Signal(range(lanes + 1))
        lastpix = Signal()
        m.d.comb += [lastpix.eq(erem <= lanes), k.eq(Mux(lastpix, erem, lanes)),
                     r.valid.eq(active), r.payload.addr.eq(ga),
                     r.payload.n.eq(Mux(pixels, mul_const(k, eb), wb)), r.payload.pixels.eq(pixels),
                     r.payload.first.eq(gfirst),
                     r.payload.last.eq(Mux(pixels, lastpix & (~seq | (grem == 1)), grem == 1)),
                     r.payload.off.eq(roff)]
        with m.If(r.valid & r.ready):
            m.d.sync += gfirst.eq(0)
            with m.If(~pixels):
                m.d.sync += [ga.eq(ga + 1), grem.eq(grem - 1)]
                with m.If(grem == 1):
                    m.d.sync += active.eq(0)
            with m.Elif(lastpix):
                nxt = pa + f.sram_stride
                m.d.sync += [pa.eq(nxt), ga.eq(nxt), erem.eq(f.elems), grem.eq(grem - 1),
                             roff.eq(roff + f.dram_stride[:lg]), gfirst.eq(~seq)]
                with m.If(grem == 1):
                    m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += [ga.eq(ga + f.fold_stride), erem.eq(erem - lanes)]
        return m
