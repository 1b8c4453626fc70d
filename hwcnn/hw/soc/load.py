"""The load unit of the complete accelerator: LOAD (WORDS, PIXELS) and LOAD2D from DRAM into
the on-chip buffers through one DMA read client (``rtl/README.md`` 10.2).

``LoadUnit(params, buffers)`` executes exactly what :meth:`hwcnn.machine.program_exec._Machine.mem`
and ``.load2d`` do (``rtl/README.md`` 9.2) for the buffers in ``buffers``:

* **WORDS**: ONE byte stream of ``rows*wb`` bytes from ``dram_base``, cut into descriptors of at
  most :data:`WORD_CHUNK` bytes (one DMA row each); the :class:`~.align.ByteAligner` turns the
  beats into ``wb``-byte words; word ``w`` goes to ``sram_base + w`` with every lane enabled.
* **PIXELS**: contiguous (``dram_stride == elems*eb``, :func:`hwcnn.arch.soc.load_contiguous`:
  the pixels adjacent in DRAM) exactly like WORDS, ONE byte stream of ``rows*elems*eb`` bytes
  in descriptors of at most :data:`WORD_CHUNK` bytes (one DMA row each); the byte count is
  formed without a multiplier as the store unit's: at the handshake ``g_left = 0``,
  ``r = rows``, ``p = elems*eb`` (shift-add by the constant ``eb``), then from cycle 1 while
  ``r != 0`` each cycle ``g_left += (r mod 4)*p``, ``r >>= 2``, ``p <<= 2``: complete from
  cycle :func:`hwcnn.arch.soc.store_count_ready` ``(rows) = 1 + ceil(bitlen(rows)/2)``, and
  the first descriptor is offered from ``max(2, that)``. Other PIXELS loads: descriptors of
  at most :data:`PIXEL_CHUNK` pixels (DMA rows of ``elems*eb`` bytes,
  ``row_stride = dram_stride``). Either way one word piece per write: the piece of pixel ``i``
  from element ``e`` (a multiple of ``L``, :func:`pixel_lanes`: ACT's lanes for ACT, else
  OUT's) is its ``n = min(L, elems - e)`` elements, written in ONE cycle into lanes
  ``0..n-1`` of word ``sram_base + (e div L)*fold_stride + i*sram_stride`` with lanes
  ``n..L-1`` written 0 (the lanes no element covers; only the last piece has any). This
  equals ``_Machine.mem`` whenever distinct (pixel, fold) pairs address distinct words (every
  program the compiler emits); if two coincide, the later pair's zero lanes overwrite the
  earlier pair's elements, where ``_Machine`` (zeroing all words first) keeps them.
* **LOAD2D** (only when ACT is served): :class:`~.im2col.Im2col`.

A write whose word address is ``>=`` the buffer's depth is not made; the instruction goes on
and ends with ``ErrorCode.BUF_RANGE``. A nonzero DMA status stops the descriptors (none is
issued after it), the unit drops what it holds and ends with that code (the buffer words the
instruction wrote until then are unspecified). A LOAD into a buffer the unit does not serve,
PIXELS into PARAM, a LOAD2D without ACT or any other opcode ends with
``ErrorCode.ILLEGAL_OPCODE`` and no effect. ``rows = 0`` (LOAD2D: ``m = 0`` or ``k = 0``) is a
NOP.

Cycle behaviour (cycle 0 = the ``unit.insn`` handshake; ``insn.ready`` is high exactly in
IDLE): a NOP or refused instruction offers its status in cycle 1. Otherwise cycle 1 is START
(the walkers load the instruction; LOAD2D starts its set-up), RUN from cycle 2. In RUN (a
contiguous PIXELS load: once its byte count is complete, see above) a descriptor is offered on ``dma.cmd`` while fewer than :data:`MAX_OUTSTANDING` (2) transfers of
this unit are outstanding (descriptor handshakes minus status handshakes, a register;
``dma.status.ready`` is always high in RUN) and no DMA error was seen, so the next descriptor
is offered from the cycle after the previous one was taken (the DMA chains it: its walker
accepts it once the previous transfer has issued its last burst, ``hw/axi/walker.py``). Writes:
WORDS one word per cycle, PIXELS one word piece per cycle (the aligner's ``size`` is the
piece's ``n*eb`` bytes; ``U`` includes ``L*eb``), each in the cycle the aligner offers it
(it holds the unit's bytes at the start of the cycle); LOAD2D one run per cycle (up to a word of consecutive elements, both dataflows,
``im2col.py``), the aligner's ``size`` being the run's bytes (the aligner back-pressures the
beats only when it holds more than ``U`` bytes after the unit leaving that cycle,
``align.py``; ``U`` includes ``min(R, B div eb)*eb`` when ACT is served). The instruction finishes in
the first cycle in which no transfer is outstanding and either every write is made and every
descriptor issued, or a DMA error was seen; the status is offered from the next cycle until
taken (then IDLE; the aligner and the walkers are cleared in STATUS and IDLE).

Throughput: one buffer word per cycle (WORDS; the bus delivers one beat per cycle, so words
narrower than a beat back-pressure the beats), one word piece of up to ``L`` elements per
cycle (PIXELS: a whole pixel when ``elems <= L``), and LOAD2D up to ``min(R, B div eb)``
in-bounds elements (a padding run up to ``R``) per cycle, in both dataflows. A wider version would overlap the LOAD2D address set-up with the previous
instruction.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import ErrorCode
from ...arch.soc import (
    LOAD_OUTSTANDING,
    LOAD_PIXEL_CHUNK,
    LOAD_WORD_CHUNK,
    im2col_run_max,
)
from ...isa.fields import INSN_BITS, Buffer, MemMode, Opcode
from ...isa.layout import struct_layout
from ...isa.target import Target
from ..params import addr_bits
from .align import ByteAligner
from .im2col import WRITE_ADDR_BITS, Im2col, write_layout
from .ports import DmaReadClientSignature, LaneWriteSignature, SocParams, UnitSignature
from .store import mul_const, serial_mul_step

#: Member name prefix of each buffer's write port.
PORT_NAMES = {Buffer.ACT: "act", Buffer.WGT: "wgt", Buffer.PARAM: "par", Buffer.OUT: "out"}
#: Bytes per WORDS descriptor (the descriptor's 20-bit row_bytes field).
WORD_CHUNK = LOAD_WORD_CHUNK
#: Pixels per PIXELS descriptor (the descriptor's 16-bit rows field).
PIXEL_CHUNK = LOAD_PIXEL_CHUNK
#: DMA transfers of the unit outstanding at most (descriptor taken, status not yet taken).
MAX_OUTSTANDING = LOAD_OUTSTANDING


def load2d_run_max(params: SocParams) -> int:
    """In-bounds elements a LOAD2D cycle takes at most (:func:`hwcnn.arch.soc.im2col_run_max`)."""
    return im2col_run_max(params.target.array.rows, params.bus_bytes, params.target.elem_bytes)


def pixel_lanes(target: Target, buf: Buffer) -> int:
    """Lanes of a PIXELS word piece (``L``): the ACT buffer's lanes for ACT, else OUT's."""
    return target.lanes(Buffer.ACT if buf is Buffer.ACT else Buffer.OUT)


class LoadUnit(wiring.Component):
    """LOAD / LOAD2D into ``buffers`` (see the module docstring)."""

    def __init__(self, params: SocParams, buffers: tuple[Buffer, ...]) -> None:
        self.params, self.buffers = params, tuple(Buffer(b) for b in buffers)
        t = params.target
        self.unit_bytes = max([t.word_bytes(b) for b in self.buffers] + [t.elem_bytes]
                              + [pixel_lanes(t, b) * t.elem_bytes for b in self.buffers
                                 if b is not Buffer.PARAM]
                              + ([t.elem_bytes * load2d_run_max(params)]
                                 if Buffer.ACT in self.buffers else []))
        self.max_lanes = max(t.lanes(b) for b in self.buffers)
        members: dict[str, wiring.Member] = {
            "unit": In(UnitSignature()),
            "dma": Out(DmaReadClientSignature(params.data_width)),
            "dram_base": In(32),
        }
        for b in self.buffers:
            members[f"{PORT_NAMES[b]}_wr"] = Out(LaneWriteSignature(
                addr_bits(t.depth(b)), t.lanes(b), t.lane_bits(b)))
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p, t = self.params, self.params.target
        eb, lmax = t.elem_bytes, self.max_lanes
        clear = Signal()
        al = ByteAligner(p.bus_bytes, self.unit_bytes)
        m.submodules.align = ResetInserter(clear)(al)
        beats = self.dma.beats
        m.d.comb += [al.beats.valid.eq(beats.valid), al.beats.payload.eq(beats.payload),
                     beats.ready.eq(al.beats.ready)]
        serves_act = Buffer.ACT in self.buffers
        im = Im2col(p) if serves_act else None
        if im is not None:
            m.submodules.im2col = ResetInserter(clear)(im)

        insn = Signal(INSN_BITS)
        f = data.View(struct_layout("MEM"), insn)
        pv = data.View(struct_layout("MEM"), self.unit.insn.payload)
        qv = data.View(struct_layout("LOAD2D"), self.unit.insn.payload)
        opc = self.unit.insn.payload[:3]
        served = Cat(*(pv.buffer == b for b in self.buffers)).any()
        is_load = (opc == Opcode.LOAD) & served & ((pv.mode == MemMode.WORDS)
                                                   | (pv.buffer != Buffer.PARAM))
        is_2d = (opc == Opcode.LOAD2D) if serves_act else Const(0)
        nop = Mux(is_2d, (qv.m == 0) | (qv.k == 0),
                  (pv.rows == 0) | ((pv.mode == MemMode.PIXELS) & (pv.elems == 0)))
        kind = Signal(2)          # 0 WORDS, 1 PIXELS, 2 LOAD2D
        cur = Signal(2)           # the buffer written
        code, dma_err = Signal(8), Signal(8)
        range_err = Signal()
        outst = Signal(range(MAX_OUTSTANDING + 1))   # descriptors taken - statuses taken
        start = Signal()

        # ---- WORDS / PIXELS descriptors ----------------------------------------------------
        # contiguous PIXELS load (dram_stride == elems*eb, arch.soc.load_contiguous): one byte
        # stream like WORDS; its byte count rows*(elems*eb) is formed bit-serially into g_left
        # (store.serial_mul_step: 2 bits of rows per cycle from cycle 1, no multiplier)
        seq = Signal()
        pbw = len(pv.elems) + eb.bit_length()
        mr, mpb = Signal(len(pv.rows)), Signal(pbw + len(pv.rows))
        g_addr, g_left, g_done = Signal(32), Signal(len(pv.rows) + pbw + 1), Signal()
        wb = Signal(range(self.unit_bytes + 1))
        total = Signal(28)
        m.d.comb += total.eq(0)
        for b in self.buffers:
            with m.If(f.buffer == b):
                m.d.comb += [wb.eq(t.word_bytes(b)), total.eq(f.rows * t.word_bytes(b))]
        words = kind == 0
        stream_ = words | seq             # one byte stream in WORD_CHUNK descriptors
        chunk = Signal(len(g_left))
        serial_mul_step(m, g_left, mr, mpb)
        m.d.comb += chunk.eq(Mux(stream_, Mux(g_left < WORD_CHUNK, g_left, WORD_CHUNK),
                                 Mux(g_left < PIXEL_CHUNK, g_left, PIXEL_CHUNK)))
        gen_valid, gen_ready = Signal(), Signal()
        gen_done = Signal()
        cmd = self.dma.cmd.payload
        with m.If(kind == 2):
            if im is not None:
                m.d.comb += [cmd.eq(im.cmd.payload), gen_valid.eq(im.cmd.valid),
                             im.cmd.ready.eq(gen_ready), gen_done.eq(im.gen_done)]
        with m.Else():
            m.d.comb += [cmd.dram_addr.eq(g_addr), cmd.planes.eq(1), cmd.buf_addr.eq(0),
                         cmd.buf_stride.eq(0), cmd.plane_stride.eq(0),
                         cmd.row_bytes.eq(Mux(stream_, chunk, mul_const(f.elems, eb))),
                         cmd.rows.eq(Mux(stream_, 1, chunk)),
                         cmd.row_stride.eq(Mux(stream_, 0, f.dram_stride)),
                         gen_valid.eq(~g_done & (mr == 0)), gen_done.eq(g_done)]
            with m.If(gen_valid & gen_ready):
                m.d.sync += [g_addr.eq(g_addr + Mux(stream_, WORD_CHUNK,
                                                    f.dram_stride * PIXEL_CHUNK)),
                             g_left.eq(g_left - chunk), g_done.eq(g_left == chunk)]
        with m.If(start):
            m.d.sync += [g_addr.eq(self.dram_base + f.dram_base), g_done.eq(0)]
            with m.If(~seq):
                m.d.sync += g_left.eq(Mux(f.mode == MemMode.WORDS, total, f.rows))

        # ---- WORDS / PIXELS writes -----------------------------------------------------------
        # PIXELS: one word piece per cycle, the n = min(L, elems - e) elements e.. of pixel i
        # (e a multiple of L), lanes 0..n-1 of word sram_base + (e div L)*fold_stride +
        # i*sram_stride, the lanes above n written 0 (only the last piece has any)
        wreq = Signal(write_layout(lmax, 8 * eb))
        wvalid, wr_done = Signal(), Signal()
        w_i, w_e, w_done = Signal(20), Signal(16), Signal()
        w_fold, w_pix = Signal(WRITE_ADDR_BITS), Signal(WRITE_ADDR_BITS)
        lanes = Signal(range(lmax + 1))
        m.d.comb += lanes.eq(pixel_lanes(t, Buffer.OUT))
        with m.If(f.buffer == Buffer.ACT):
            m.d.comb += lanes.eq(pixel_lanes(t, Buffer.ACT))
        ones = Const((1 << lmax) - 1, lmax)
        units = al.units
        p_left = Signal(16)
        p_n = Signal(range(lmax + 1))
        p_size = Signal(range(self.unit_bytes + 1))
        m.d.comb += [p_left.eq(f.elems - w_e), p_n.eq(Mux(p_left < lanes, p_left, lanes)),
                     p_size.eq(mul_const(p_n, eb))]
        last_p = p_left <= lanes
        with m.If(kind == 2):
            if im is not None:
                iw = im.wr.payload
                m.d.comb += [wreq.addr.eq(iw.addr), wreq.en.eq(iw.en), wvalid.eq(im.wr.valid),
                             im.bytes.eq(units.payload), im.avail.eq(al.count),
                             units.ready.eq(1), wr_done.eq(im.done)]
        with m.Else():
            m.d.comb += [units.ready.eq(~w_done), wvalid.eq(units.valid & ~w_done),
                         wr_done.eq(w_done), wreq.value.eq(units.payload), wreq.en.eq(ones)]
            with m.If(words):
                m.d.comb += wreq.addr.eq(f.sram_base + w_i)
            with m.Else():
                m.d.comb += wreq.addr.eq(f.sram_base + w_fold + w_pix)
            with m.If(wvalid):
                with m.If(words | last_p):
                    m.d.sync += [w_i.eq(w_i + 1), w_e.eq(0), w_fold.eq(0),
                                 w_pix.eq(w_pix + f.sram_stride), w_done.eq(w_i == f.rows - 1)]
                with m.Else():
                    m.d.sync += [w_e.eq(w_e + lanes), w_fold.eq(w_fold + f.fold_stride)]
        with m.If(start):
            m.d.sync += [w_i.eq(0), w_e.eq(0), w_fold.eq(0), w_pix.eq(0), w_done.eq(0)]

        # ---- buffer write ports --------------------------------------------------------------
        inr = Signal()
        for b in self.buffers:
            port = getattr(self, f"{PORT_NAMES[b]}_wr")
            nl, lb, depth = t.lanes(b), t.lane_bits(b), t.depth(b)
            ok = wreq.addr < depth
            with m.If(cur == b):
                m.d.comb += inr.eq(ok)
            spread = Signal(nl * lb, name=f"{PORT_NAMES[b]}_piece")
            if b is not Buffer.PARAM:
                for lane in range(nl):
                    elem = Signal(lb, name=f"{PORT_NAMES[b]}_elem{lane}")
                    m.d.comb += [elem.eq(units.payload[8 * eb * lane:8 * eb * (lane + 1)]
                                         .as_signed()),
                                 spread[lane * lb:(lane + 1) * lb].eq(Mux(lane < p_n, elem, 0))]
            wdata = Mux(words, units.payload[:nl * lb], spread)
            if b is Buffer.ACT and im is not None:
                wdata = Mux(kind == 2, im.wr.payload.data, wdata)
            m.d.comb += [port.addr.eq(wreq.addr), port.en.eq(Mux(
                             wvalid & (cur == b) & ok, Mux(words, (1 << nl) - 1, wreq.en[:nl]),
                             0)),
                         port.data.eq(wdata)]

        # ---- control -------------------------------------------------------------------------
        st = self.dma.status
        m.d.comb += self.unit.status.payload.eq(code)
        m.d.sync += outst.eq(outst + (self.dma.cmd.valid & self.dma.cmd.ready)
                             - (st.valid & st.ready))
        room = outst != MAX_OUTSTANDING
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.unit.insn.ready.eq(1), clear.eq(1)]
                with m.If(self.unit.insn.valid):
                    pb = Signal(pbw)
                    sq = Signal()
                    m.d.comb += [pb.eq(mul_const(pv.elems, eb)),
                                 sq.eq((opc == Opcode.LOAD) & (pv.mode == MemMode.PIXELS)
                                       & (pv.dram_stride == pb))]
                    m.d.sync += [seq.eq(sq), mr.eq(Mux(sq, pv.rows, 0)), mpb.eq(pb),
                                 g_left.eq(0)]
                    m.d.sync += [insn.eq(self.unit.insn.payload), code.eq(0), dma_err.eq(0),
                                 range_err.eq(0), outst.eq(0),
                                 kind.eq(Mux(is_2d, 2, pv.mode)),
                                 cur.eq(Mux(is_2d, Buffer.ACT, pv.buffer))]
                    with m.If(~(is_load | is_2d)):
                        m.d.sync += code.eq(ErrorCode.ILLEGAL_OPCODE)
                        m.next = "STATUS"
                    with m.Elif(nop):
                        m.next = "STATUS"
                    with m.Else():
                        m.next = "START"
            with m.State("START"):
                m.d.comb += start.eq(1)
                m.d.comb += al.size.eq(Mux(words, wb, p_size))
                if im is not None:
                    with m.If(kind == 2):
                        m.d.comb += al.size.eq(im.take)
                if im is not None:
                    m.d.comb += [im.start.eq(kind == 2), im.insn.eq(insn),
                                 im.base.eq(self.dram_base)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [st.ready.eq(1), al.size.eq(Mux(words, wb, p_size)),
                             gen_ready.eq(self.dma.cmd.ready & room & (dma_err == 0)),
                             self.dma.cmd.valid.eq(gen_valid & room & (dma_err == 0))]
                if im is not None:
                    with m.If(kind == 2):
                        m.d.comb += al.size.eq(im.take)
                if im is not None:
                    m.d.comb += [im.insn.eq(insn), im.base.eq(self.dram_base)]
                with m.If(st.valid), m.If((dma_err == 0) & (st.payload != 0)):
                    m.d.sync += dma_err.eq(st.payload)
                with m.If(wvalid & ~inr):
                    m.d.sync += range_err.eq(1)
                with m.If((outst == 0) & ((gen_done & wr_done) | (dma_err != 0))):
                    m.d.sync += code.eq(Mux(dma_err != 0, dma_err,
                                            Mux(range_err, ErrorCode.BUF_RANGE, 0)))
                    m.next = "STATUS"
            with m.State("STATUS"):
                m.d.comb += [self.unit.status.valid.eq(1), clear.eq(1)]
                with m.If(self.unit.status.ready):
                    m.next = "IDLE"
        return m
