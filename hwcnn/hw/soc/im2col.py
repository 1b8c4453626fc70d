"""LOAD2D in the load unit: the im2col gather of ``rtl/README.md`` 9.2 into activation words.

:class:`Im2col` holds two walkers over the same instruction, started together after a set-up:

* the **descriptor walker** emits DMA descriptors (``cmd``) for the in-bounds DRAM elements of
  every output pixel ``i = 0 .. m-1`` in (ky, kx, c) order. When the chunk covers whole kernel
  positions (``k0 = 0`` and ``k = kh*kw*cg``) one descriptor per pixel covers the in-bounds
  kernel rectangle: ``planes`` = in-bounds kernel rows, ``rows`` = in-bounds kernel columns,
  ``row_bytes = cg*eb``, ``row_stride = dw*pix_stride*eb``,
  ``plane_stride = dh*in_w*pix_stride*eb``; when the kernel columns are adjacent in DRAM
  (``dw*pix_stride = cg``) and ``ncols*cg*eb < 2**20``, instead ``planes = 1``, ``rows`` =
  in-bounds kernel rows, ``row_bytes = ncols*cg*eb``, ``row_stride = dh*in_w*pix_stride*eb``
  (fewer, fuller beats; the same bytes in the same order). Otherwise (a K-split chunk) one descriptor per
  in-bounds kernel position of the chunk (``row_bytes`` = that position's channels in the
  chunk). A pixel or position wholly in the padding gets no descriptor.
* the **element walker** visits ``A[i, kk]`` for ``i < m``, ``kk < k`` (kk innermost) in
  RUNS, one run per cycle, each run one word write ``wr`` (always accepted): in-bounds
  elements come from the aligner's byte queue (``avail`` = bytes it holds, ``bytes`` = the
  oldest of them, element ``j`` of the run in bytes ``[j*eb, (j+1)*eb)``; the walker returns
  ``take`` = the run's bytes), padding elements are 0 (never read). The in-bounds bytes of
  the descriptors are exactly the in-bounds elements in (i, kk) order (each pixel's
  rectangle, or a K-split chunk's positions, in (ky, kx, c) order; the aligner drops the
  strides), so any consecutive in-bounds elements are consecutive bytes of the queue.
  ``A[i, kk]`` is word ``sram_base + (kk div R)*m + i`` lane ``kk mod R`` (both dataflows);
  the write of the pixel's last element (``kk = k-1``) zeroes the lanes above it. So every
  lane of every word of the tile is written, as ``hw.layout.act_words``.

  The run of a cycle starts at the walker's element ``(i, kk)`` and is the longest stretch
  ``kk .. kk+n-1`` that (a) stays in one word: lanes ``kk mod R`` up to at
  most ``R-1`` (``n <= R - kk mod R``) and inside the pixel (``n <= k - kk``); (b) stays in
  one kernel row, and when ``dw != 1`` in one kernel position (``(ky, kx)`` of
  ``(k0+kk) div cg``); (c) is all padding or all in bounds; and, when in bounds, (d) holds
  at most ``nmax = im2col_run_max(R, B, eb)`` = ``min(R, B div eb)`` (at least 1)
  elements and at most the ``avail div eb`` whole elements the aligner holds at the start
  of the cycle. An in-bounds run with ``avail < eb`` has ``n = 0``: no write, the walker
  waits. (Rule (b) costs little: every kernel row, and with ``dw != 1`` every position, is
  its own DMA row and so at least one beat; a padding run is not bounded by (d).) In the
  hardware (no multiplier): per element of the row ``e = kx*cg + c`` (kept by adding ``n``),
  for ``dw = 1`` an element of an in-bounds kernel row is in bounds iff
  ``-X <= e < in_w*cg - X`` with ``X = x0*cg`` for the pixel's origin column ``x0`` (kept by
  adding ``sw*cg`` per pixel, ``-pw*cg`` on a row wrap), so before (d) ``n`` is the smallest
  of ``R - lane``, ``k - kk``, ``kw*cg - e`` and, in an in-bounds row, those of ``-X - e``
  and ``in_w*cg - X - e`` that are positive; for ``dw != 1`` the position's end
  ``(kx+1)*cg - e`` replaces the last two and the position's column ``x0 + kx*dw`` (kept by
  adding ``dw``) decides in / out.

Cycle behaviour (cycle 0 = the ``start`` pulse, the load unit's START cycle). Set-up: bit-serial
dividers and shift-add multipliers (no DSP; an n-bit one loads in its start cycle s and holds
the result from cycle s + n + 1) in three phases started in cycles 0 (``m0 divmod out_w`` 24
bits, ``k0 divmod cg`` 20, ``in_w*pix_stride*eb`` 12, ``kh*kw`` 6), 25
(``(k0 div cg) divmod kw`` 20, ``oy0*sh`` 6, ``ox0*sw`` 6, ``kh*kw*cg`` 12,
``dh*in_w*pix_stride*eb`` 4, ``dw*pix_stride*eb`` 4, ``sh*pitch``, ``sw*pix``,
``ph*pitch``, ``pw*pix`` 6 each, with ``pitch = in_w*pix_stride*eb``, ``pix =
pix_stride*eb``) and 46 (``ky0*dh`` 4, ``kx0*dw`` 4, ``ky0*dh*pitch`` 6, ``kx0*dw*pix`` 6,
``oy0*sh*pitch`` 13, ``ox0*sw*pix`` 12); in cycle 60 both walkers load their first pixel.

Descriptor walker (states, one cycle each unless said): PIX in cycle 61; per pixel PIX, then
for a whole-position chunk SCAN for ``max(kh, kw)`` cycles (kernel row ``j`` and column ``j``
tested in scan cycle ``j``), RECT, and unless the rectangle is empty ISSUE (``cmd.valid``
until taken); then NEXT: ``4 + max(kh, kw)`` cycles per pixel when ISSUE is taken at once.
The rectangle's address needs no product per pixel: the walker keeps the byte offsets
``y0*pitch`` and ``x0*pix`` of the pixel origin (mod 2**32; loaded from the set-up, then NEXT
adds ``sw*pix`` to the column offset, or on a row wrap adds ``sh*pitch`` to the row offset and
sets the column offset to ``-pw*pix``), SCAN steps a copy of them by ``dh*pitch`` /
``dw*pix`` and latches the first in-bounds row's / column's, and sums ``ncols*cg*eb``.
(``oy0`` enters the set-up product as 13 bits: a pixel row with ``oy0 >= 8192`` lies wholly
in the padding, as do all later ones.)

For a K-split chunk, per kernel position from ``(k0 div cg)``: POS (the bounds test and the
position's channel count), and for an in-bounds position ISSUE; the cycle that ends a
position (POS of one in the padding, ISSUE's handshake) steps to the next position's POS, or
after the position that ends the pixel's ``k`` elements to NEXT: ``2 + positions +
in-bounds positions`` cycles per pixel when every ISSUE is taken at once. Its address needs
no product either: PIX sets the position's byte offsets to the pixel origin's plus
``ky0*dh*pitch`` / ``kx0*dw*pix`` (from the set-up); a step to the next kernel column adds
``dw*pix`` to the column offset, a kernel-row wrap adds ``dh*pitch`` to the row offset and
resets the column offset to the pixel origin's; the descriptor reads ``row_bytes`` = the
position's channels in the chunk times ``eb`` from their sum plus ``c*eb`` (``c = k0 mod cg``
for the pixel's first position, else 0).

NEXT of the last pixel sets ``gen_done`` (visible the next cycle) and returns to IDLE;
otherwise it steps to the next pixel's PIX. The load unit lets an ISSUE complete only while
fewer than 2 of its transfers are outstanding.

Element walker: from cycle 61 one run per cycle (rule above), ``A[i, kk]`` with ``kk``
innermost; a padding run is written in its cycle, an in-bounds run in the cycle it starts in
as far as the aligner holds its elements (the rest is the next run); a cycle whose run is in
bounds with fewer than ``eb`` bytes held writes nothing. The set-up adds the shift-add
products ``kw*cg`` (6 bits), ``in_w*cg`` (12), ``sw*cg``, ``pw*cg`` (6) from cycle 0,
``ox0*sw*cg`` (12) from 25 and ``kx0*cg`` (6) from 46, all ready before cycle 60. ``done``
is visible in the cycle after the write of ``A[m-1, k-1]``.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.soc import IM2COL_PHASES, im2col_run_max
from ...isa.fields import Buffer
from ...isa.layout import struct_layout
from ..axi.desc import desc_layout
from .ports import AXI_ADDR_BITS, DMA_BUF_ADDR_BITS, SocParams

#: Bits of a lane write's word address (wide enough never to wrap before the range check).
WRITE_ADDR_BITS = 40
#: Bits of the signed input coordinates.
COORD_BITS = 36
#: Cycles of each set-up phase.
PHASES = IM2COL_PHASES


def write_layout(lanes: int, elem_bits: int) -> data.StructLayout:
    """A lane write request: word address, lane enables, the element's lane, its value."""
    return data.StructLayout({"addr": WRITE_ADDR_BITS, "en": lanes, "lane": range(max(lanes, 2)),
                              "value": elem_bits})


def word_write_layout(lanes: int, lane_bits: int) -> data.StructLayout:
    """A word write request: word address, lane enables, the whole word's lanes."""
    return data.StructLayout({"addr": WRITE_ADDR_BITS, "en": lanes, "data": lanes * lane_bits})


def _mul(m: Module, start: Signal, a: object, b: object, nbits: int) -> Signal:
    """Shift-add ``a * b[:nbits]``; the product is ready ``nbits + 1`` cycles after ``start``
    (the pulse cycle) and stays until the next start."""
    width = len(a) + nbits  # type: ignore[arg-type]
    acc, sa, sb = Signal(width), Signal(width), Signal(nbits)
    with m.If(start):
        m.d.sync += [acc.eq(0), sa.eq(a), sb.eq(b)]
    with m.Else():
        m.d.sync += [acc.eq(acc + Mux(sb[0], sa, 0)), sa.eq(sa << 1), sb.eq(sb >> 1)]
    return acc


def _div(m: Module, start: Signal, n: object, d: object, nbits: int) -> tuple[Signal, Signal]:
    """Restoring ``divmod(n[:nbits], d)``; ready ``nbits + 1`` cycles after ``start``."""
    dw = len(d)  # type: ignore[arg-type]
    q, r, cnt = Signal(nbits), Signal(dw), Signal(range(nbits + 1))
    r2 = Signal(dw + 1)
    m.d.comb += r2.eq((r << 1) | q[-1])
    ge = r2 >= d
    with m.If(start):
        m.d.sync += [q.eq(n), r.eq(0), cnt.eq(nbits)]
    with m.Elif(cnt != 0):
        m.d.sync += [r.eq(Mux(ge, r2 - d, r2)), q.eq((q << 1) | ge), cnt.eq(cnt - 1)]
    return q, r


class Im2col(wiring.Component):
    """LOAD2D descriptor and element walkers (see the module docstring)."""

    def __init__(self, params: SocParams) -> None:
        self.params = params
        t = params.target
        self.rows = t.array.rows
        self.eb = t.elem_bytes
        self.lane_bits = t.lane_bits(Buffer.ACT)
        self.nmax = im2col_run_max(self.rows, params.bus_bytes, self.eb)
        super().__init__({
            "insn": In(struct_layout("LOAD2D")),
            "start": In(1),
            "base": In(AXI_ADDR_BITS),
            "cmd": Out(stream.Signature(desc_layout(AXI_ADDR_BITS, DMA_BUF_ADDR_BITS))),
            "gen_done": Out(1),
            "bytes": In(8 * self.eb * self.nmax),
            "avail": In(16),
            "take": Out(range(self.eb * self.nmax + 1)),
            "wr": Out(stream.Signature(word_write_layout(self.rows, self.lane_bits),
                                       always_ready=True)),
            "done": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        f, eb, r = self.insn, self.eb, self.rows
        # ---- set-up ---------------------------------------------------------------------
        t = Signal(range(sum(PHASES) + 2))
        setup = Signal()
        go_a, go_b, go_c, run = Signal(), Signal(), Signal(), Signal()
        with m.If(self.start):
            m.d.sync += [t.eq(0), setup.eq(1)]
        with m.Elif(setup):
            m.d.sync += t.eq(t + 1)
            with m.If(t == sum(PHASES) - 1):
                m.d.sync += setup.eq(0)
        m.d.comb += [go_a.eq(self.start), go_b.eq(setup & (t == PHASES[0] - 1)),
                     go_c.eq(setup & (t == PHASES[0] + PHASES[1] - 1)),
                     run.eq(setup & (t == sum(PHASES) - 1))]
        pix = Signal(18)
        m.d.comb += pix.eq(f.pix_stride * eb)
        oy0, ox0 = _div(m, go_a, f.m0, f.out_w, 24)
        pos0, c0 = _div(m, go_a, f.k0, f.cg, 20)
        pitch = _mul(m, go_a, pix, f.in_w, 12)                   # in_w*pix_stride*eb
        khw = _mul(m, go_a, f.kh, f.kw, 6)
        ky0, kx0 = _div(m, go_b, pos0, f.kw, 20)
        oysh = _mul(m, go_b, oy0, f.sh, 6)
        oxsw = _mul(m, go_b, ox0, f.sw, 6)
        ktot = _mul(m, go_b, f.cg, khw, 12)
        plane_st = _mul(m, go_b, pitch, f.dh, 4)
        row_st = _mul(m, go_b, pix, f.dw, 4)
        ky0dh = _mul(m, go_c, ky0, f.dh, 4)
        kx0dw = _mul(m, go_c, kx0, f.dw, 4)
        ky0p = _mul(m, go_c, plane_st, ky0, 6)                  # ky0*dh*pitch (ky0 < kh < 64)
        kx0p = _mul(m, go_c, row_st, kx0, 6)                    # kx0*dw*pix (kx0 < kw < 64)
        # byte offsets of the first pixel's origin and of the per-pixel steps (no DSP)
        shp = _mul(m, go_b, pitch, f.sh, 6)                      # sh*in_w*pix_stride*eb
        swp = _mul(m, go_b, pix, f.sw, 6)                        # sw*pix_stride*eb
        php = _mul(m, go_b, pitch, f.ph, 6)
        pwp = _mul(m, go_b, pix, f.pw, 6)
        oyp = _mul(m, go_c, shp, oy0, 13)                        # oy0*sh*pitch
        oxp = _mul(m, go_c, swp, ox0, 12)                        # ox0*sw*pix
        full = Signal()
        m.d.comb += full.eq((f.k0 == 0) & (f.k == ktot))

        def inside(y: Signal, x: Signal) -> object:
            return (y >= 0) & (y < f.in_h) & (x >= 0) & (x < f.in_w)

        def origin(name: str) -> tuple[Signal, Signal, Signal, Signal, Signal, Signal]:
            """A pixel-origin register set (ox, y0, x0) and its successor (comb)."""
            ox, y0, x0 = Signal(24, name=f"{name}_ox"), Signal(signed(COORD_BITS),
                                                               name=f"{name}_y0"), \
                Signal(signed(COORD_BITS), name=f"{name}_x0")
            nox, ny0, nx0 = Signal.like(ox), Signal.like(y0), Signal.like(x0)
            wrap = ox == f.out_w - 1
            m.d.comb += [nox.eq(Mux(wrap, 0, ox + 1)), ny0.eq(Mux(wrap, y0 + f.sh, y0)),
                         nx0.eq(Mux(wrap, -f.pw, x0 + f.sw))]
            with m.If(run):
                m.d.sync += [ox.eq(ox0), y0.eq(oysh - f.ph), x0.eq(oxsw - f.pw)]
            return ox, y0, x0, nox, ny0, nx0

        self._descriptors(m, run, full, origin("d"), inside, c0, kx0, ky0dh, kx0dw,
                          plane_st, row_st, (oyp - php, oxp - pwp, shp, swp, pwp, ky0p, kx0p))
        # ---- element walker -----------------------------------------------------------------
        # element-space set-up (shift-add, no DSP): RL = kw*cg elements per kernel row,
        # IW = in_w*cg, the origin column times cg (X) and its steps, kx0*cg
        rl = _mul(m, go_a, f.cg, f.kw, 6)
        iw = _mul(m, go_a, f.cg, f.in_w, 12)
        swcg = _mul(m, go_a, f.cg, f.sw, 6)
        pwcg = _mul(m, go_a, f.cg, f.pw, 6)
        oxswcg = _mul(m, go_b, swcg, ox0, 12)
        kx0cg = _mul(m, go_c, f.cg, kx0, 6)
        ox, y0, x0, nox, ny0, nx0 = origin("e")
        i, kk = Signal(16), Signal(16)
        e, pe = Signal(24), Signal(24)          # element in the kernel row; end of its position
        xc = Signal(signed(COORD_BITS + 24))    # X = (origin column) * cg
        y, x = Signal(signed(COORD_BITS)), Signal(signed(COORD_BITS))
        lane = Signal(range(max(r, 2)))
        fold = Signal(WRITE_ADDR_BITS)
        busy = Signal()
        with m.If(run):
            m.d.sync += [busy.eq(1), i.eq(0), kk.eq(0), e.eq(kx0cg + c0), pe.eq(kx0cg + f.cg),
                         xc.eq(oxswcg - pwcg), y.eq(oysh - f.ph + ky0dh),
                         x.eq(oxsw - f.pw + kx0dw), lane.eq(0), fold.eq(0), self.done.eq(0)]
        dw1 = f.dw == 1
        xl, xh = Signal.like(xc), Signal.like(xc)             # in-bounds e: xl <= e < xh (dw 1)
        m.d.comb += [xl.eq(-xc), xh.eq(iw - xc)]
        es = Signal(signed(len(e) + 1))
        m.d.comb += es.eq(e)
        rowok = (y >= 0) & (y < f.in_h)
        inb = Signal()
        m.d.comb += inb.eq(rowok & Mux(dw1, (es >= xl) & (es < xh),
                                       (x >= 0) & (x < f.in_w)))
        # the run: at most the word's remaining lanes and the pixel's remaining elements,
        # up to the next boundary (kernel row end; dw 1: the in-bounds column edges of an
        # in-bounds row; dw != 1: the kernel position's end); in-bounds: at most the elements
        # the aligner holds, at most nmax
        nmax = self.nmax
        nw = range(r + 1)
        n0 = Signal(nw)
        lim = [Signal(nw, name=f"run_lim{j}") for j in range(5)]
        room, left = r - lane, f.k - kk
        m.d.comb += lim[0].eq(Mux(left < room, left, room))

        def cap(a: Signal, b: Signal, d: object, active: object) -> None:
            m.d.comb += b.eq(Mux(active & (d < a), d, a))

        cap(lim[0], lim[1], rl - e, 1)
        cap(lim[1], lim[2], xl - es, dw1 & rowok & (xl > es))
        cap(lim[2], lim[3], xh - es, dw1 & rowok & (xh > es))
        cap(lim[3], lim[4], pe - e, ~dw1)
        m.d.comb += n0.eq(lim[4])
        avail = Signal(range(nmax + 1))
        m.d.comb += avail.eq(sum((self.avail >= j * eb).as_unsigned()
                                 for j in range(1, nmax + 1)))
        n = Signal(nw)
        m.d.comb += n.eq(Mux(inb, Mux(avail < n0, avail, n0), n0))
        go = Signal()
        m.d.comb += go.eq(busy & (n != 0))
        m.d.comb += self.take.eq(Mux(go & inb, sum(n << b for b in range(eb.bit_length())
                                                   if eb >> b & 1), 0))
        ne, nk = Signal(len(e) + 1), Signal(17)
        m.d.comb += [ne.eq(e + n), nk.eq(kk + n)]
        last_k, last_i = nk == f.k, i == f.m - 1
        ones = Const((1 << r) - 1, r)
        w = self.wr.payload
        low, runmask = Signal(r), Signal(r)                  # lanes [0, n), [lane, lane + n)
        m.d.comb += [self.wr.valid.eq(go), low.eq(~(ones << n)), runmask.eq(low << lane)]
        m.d.comb += w.en.eq(runmask | Mux(last_k, (ones << (lane + n))[:r], 0))
        # the run's elements (little-endian eb-byte units of ``bytes``, low lane bits) shifted
        # to their lanes by a barrel shifter; lanes outside the run and padding lanes are 0
        lb = self.lane_bits
        word = Signal(r * lb)
        m.d.comb += word.eq(Cat(*(self.bytes[8 * eb * j:8 * eb * j + lb] for j in range(nmax))))
        for b in range(max(r - 1, 1).bit_length()):
            shifted = Signal(r * lb, name=f"lane_shift{b}")
            m.d.comb += shifted.eq(Mux(lane[b], word << (lb << b), word))
            word = shifted
        m.d.comb += w.data.eq(Cat(*(Mux(runmask[j] & inb, word[j * lb:(j + 1) * lb], 0)
                                    for j in range(r))))
        m.d.comb += w.addr.eq(f.sram_base + fold + i)
        with m.If(go):
            with m.If(last_k):
                m.d.sync += [kk.eq(0), e.eq(kx0cg + c0), pe.eq(kx0cg + f.cg), i.eq(i + 1),
                             y.eq(ny0 + ky0dh), x.eq(nx0 + kx0dw), ox.eq(nox), y0.eq(ny0),
                             x0.eq(nx0),
                             xc.eq(Mux(ox == f.out_w - 1, -pwcg, xc + swcg))]
                m.d.sync += [lane.eq(0), fold.eq(0)]
                with m.If(last_i):
                    m.d.sync += [busy.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += kk.eq(nk)
                wrap = lane + n == r
                m.d.sync += [lane.eq(Mux(wrap, 0, lane + n)),
                             fold.eq(Mux(wrap, fold + f.m, fold))]
                with m.If(ne == rl):
                    m.d.sync += [e.eq(0), pe.eq(f.cg), x.eq(x0), y.eq(y + f.dh)]
                with m.Else():
                    m.d.sync += e.eq(ne)
                    with m.If(ne == pe):
                        m.d.sync += [pe.eq(pe + f.cg), x.eq(x + f.dw)]
        return m

    def _descriptors(self, m: Module, run: Signal, full: Signal, org: tuple, inside: Any,
                     c0: Signal, kx0: Signal, ky0dh: Signal, kx0dw: Signal,
                     plane_st: Signal, row_st: Signal, offs: tuple) -> None:
        f, eb = self.insn, self.eb
        ox, y0, x0, nox, ny0, nx0 = org
        y0p_init, x0p_init, shp, swp, pwp, ky0p, kx0p = offs
        # byte offsets (mod 2**AXI_ADDR_BITS) of the pixel origin, the scanned kernel row /
        # column (K-split: the current kernel position's row / column) and the rectangle's
        # first row / column: y*pitch and x*pix, added up
        y0p, x0p = Signal(AXI_ADDR_BITS), Signal(AXI_ADDR_BITS)
        syp, sxp = Signal(AXI_ADDR_BITS), Signal(AXI_ADDR_BITS)
        ylop, xlop = Signal(AXI_ADDR_BITS), Signal(AXI_ADDR_BITS)
        with m.If(run):
            m.d.sync += [y0p.eq(y0p_init), x0p.eq(x0p_init)]
        i = Signal(16)
        j, nky, nkx = Signal(7), Signal(7), Signal(7)
        sy, sx = Signal(signed(COORD_BITS)), Signal(signed(COORD_BITS))
        kx = Signal(16)
        clo, left, n = Signal(16), Signal(17), Signal(17)
        rbytes = Signal(20)
        # kernel columns adjacent in DRAM (dw*pix_stride = cg): one DMA row per kernel row
        cgeb = Signal(18)
        m.d.comb += cgeb.eq(f.cg * eb)
        span = Signal(26)                                        # nkx*cg*eb (SCAN sums it)
        merge = Signal()
        m.d.comb += merge.eq(full & (row_st == cgeb) & (span < (1 << 20)))
        cmd = self.cmd.payload
        off = Mux(full, ylop + xlop, syp + sxp + clo * eb)
        m.d.comb += [cmd.dram_addr.eq(self.base + f.dram_base + off),
                     cmd.row_bytes.eq(Mux(merge, span, rbytes)),
                     cmd.row_stride.eq(Mux(merge, plane_st, row_st)),
                     cmd.plane_stride.eq(plane_st), cmd.buf_addr.eq(0), cmd.buf_stride.eq(0),
                     cmd.rows.eq(Mux(merge, nky, Mux(full, nkx, 1))),
                     cmd.planes.eq(Mux(merge | ~full, 1, nky))]

        # one kernel row / column on (SCAN and the K-split steps share these adders)
        sy_n, sx_n = Signal.like(sy), Signal.like(sx)
        syp_n, sxp_n = Signal.like(syp), Signal.like(sxp)
        m.d.comb += [sy_n.eq(sy + f.dh), sx_n.eq(sx + f.dw), syp_n.eq(syp + plane_st),
                     sxp_n.eq(sxp + row_st)]
        used = Signal(17)                                        # elements of the position

        def advance() -> None:
            """K-split: step to the next kernel position (or NEXT after the pixel's k)."""
            m.d.sync += [left.eq(left - used), clo.eq(0)]
            with m.If(kx == f.kw - 1):
                m.d.sync += [kx.eq(0), sx.eq(x0), sy.eq(sy_n), sxp.eq(x0p), syp.eq(syp_n)]
            with m.Else():
                m.d.sync += [kx.eq(kx + 1), sx.eq(sx_n), sxp.eq(sxp_n)]
            m.next = "POS"
            with m.If(left == used):
                m.next = "NEXT"

        with m.FSM():
            with m.State("IDLE"), m.If(run):
                m.d.sync += [i.eq(0), self.gen_done.eq(0)]
                m.next = "PIX"
            with m.State("PIX"):
                m.d.sync += [j.eq(0), sy.eq(Mux(full, y0, y0 + ky0dh)),
                             sx.eq(Mux(full, x0, x0 + kx0dw)), nky.eq(0), nkx.eq(0),
                             kx.eq(kx0), clo.eq(c0), left.eq(f.k),
                             syp.eq(Mux(full, y0p, y0p + ky0p)),
                             sxp.eq(Mux(full, x0p, x0p + kx0p)), span.eq(0)]
                m.next = "SCAN"
                with m.If(~full):
                    m.next = "POS"
            with m.State("SCAN"):
                with m.If((sy >= 0) & (sy < f.in_h) & (j < f.kh)):
                    m.d.sync += nky.eq(nky + 1)
                    with m.If(nky == 0):
                        m.d.sync += ylop.eq(syp)
                with m.If((sx >= 0) & (sx < f.in_w) & (j < f.kw)):
                    m.d.sync += [nkx.eq(nkx + 1), span.eq(span + cgeb)]
                    with m.If(nkx == 0):
                        m.d.sync += xlop.eq(sxp)
                m.d.sync += [sy.eq(sy_n), sx.eq(sx_n), j.eq(j + 1), syp.eq(syp_n),
                             sxp.eq(sxp_n)]
                with m.If((j + 1 >= f.kh) & (j + 1 >= f.kw)):
                    m.next = "RECT"
            with m.State("RECT"):
                m.d.sync += [rbytes.eq(f.cg * eb), clo.eq(0)]
                m.next = "ISSUE"
                with m.If((nky == 0) | (nkx == 0)):
                    m.next = "NEXT"
            with m.State("POS"):
                room = Signal(17)
                m.d.comb += room.eq(Mux(f.cg > clo, f.cg - clo, left))
                nc = Signal(17)
                m.d.comb += nc.eq(Mux(room < left, room, left))
                m.d.sync += [n.eq(nc), rbytes.eq(nc * eb)]
                m.d.comb += used.eq(nc)
                with m.If(inside(sy, sx)):
                    m.next = "ISSUE"
                with m.Else():
                    advance()
            with m.State("ISSUE"):
                m.d.comb += [self.cmd.valid.eq(1), used.eq(n)]
                with m.If(self.cmd.ready):
                    with m.If(full):
                        m.next = "NEXT"
                    with m.Else():
                        advance()
            with m.State("NEXT"):
                with m.If(i == f.m - 1):
                    m.d.sync += self.gen_done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [i.eq(i + 1), ox.eq(nox), y0.eq(ny0), x0.eq(nx0)]
                    with m.If(ox == f.out_w - 1):
                        m.d.sync += [y0p.eq(y0p + shp), x0p.eq(-pwp)]
                    with m.Else():
                        m.d.sync += x0p.eq(x0p + swp)
                    m.next = "PIX"
