"""Tile sequencer: runs one GEMM tile or one pool tile per ``start`` (rtl/README.md 4-5).

GEMM tiles have a front end and a back end. The front end issues the buffer reads: one fold
window of ``P`` cycles (``hwcnn.arch.timing.gemm_fold_cycles``) per fold, back to back (WS:
the next fold's weights are read at the end of the current window into a free weight bank).
The back end runs the post-processing: it is driven by tokens that the front end emits with
its reads and that travel through a delay line as long as the array's latency (WS: one token
per activation row, OS: one per fold, at its last operand), so each result row carries its own
addresses and flags through the post-processing stages and folds in flight never mix. ``done``
follows the tile's final row out of the write stage. Vector-unit (pool) tiles issue one window
tap per cycle, pixels back to back, as a ``tap`` stream to :class:`hwcnn.hw.vector.VectorUnit`;
``done`` follows the tile's final result out of it (``pool_final``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import Dataflow, HardwareConfig
from ..arch.timing import WS_MIN_FOLD_PERIOD, drain_slots, gemm_period_terms
from .descriptor import TileKind
from .foldseq import BackState as _BackState
from .foldseq import FrontState as _FrontState
from .params import DIM_BITS, M0_BITS, SHIFT_BITS, WIN_BITS, BufferDepths, addr_bits
from .pe import BANK_BITS
from .signatures import DescriptorSignature
from .vector import tap_layout

#: Width of the fold counter: the longest fold is a 16-bit m or k plus array overheads.
T_BITS = 20


def stage_layout(config: HardwareConfig, depths: BufferDepths) -> data.StructLayout:
    """One result row in the post-processing pipeline (the token's payload)."""
    arr = config.array
    fields = {
        "valid": 1, "final": 1,        # a row is here; it is the tile's last row
        "first": 1,                    # add the bias (else the accumulator-memory word)
        "wacc": 1, "wout": 1,          # write the stage-1 sum / the requantized row
        "row": row_sel_bits(config),   # OS: array row (drain_rows 2: row pair) of the drain mux
        "acc_addr": addr_bits(depths.acc), "out_addr": addr_bits(depths.out),
        "mask": arr.cols,              # output lanes that exist in this N-fold
    }
    if arr.drain_rows == 2:
        # the pair's second row (acc_addr + 1, out_addr + 1) and the shadow bank (fold parity)
        fields |= {"wacc1": 1, "wout1": 1, "bank": 1}
    return data.StructLayout(fields)


def row_sel_bits(config: HardwareConfig) -> int:
    """Width of the drain mux's select (a row, or a row pair)."""
    return max(1, (drain_slots(config.array) - 1).bit_length())


class TileSequencer(wiring.Component):
    """FSM ``IDLE -> RUN -> DONE``; drives buffer addresses and datapath strobes.

    Parameters
    ----------
    config : HardwareConfig
    depths : BufferDepths

    Members
    -------
    start : In(1)
    desc : In(DescriptorSignature)           latched when ``start`` is accepted
    busy, done, error : Out(1)               see rtl/README.md section 2
    act_addr, wgt_addr, par_addr : Out       engine read addresses
    acc_rd_addr, acc_wr_en, acc_wr_addr : Out   accumulator memory (WS K-folds; K-split tiles
                           ``acc_in``/``acc_out``: word ``nf*m + i`` of N-fold ``nf``, row ``i``)
    out_rd_addr, out_wr_en, out_wr_addr : Out   output memory (pool reads, results)
    feed : Out(1)          the act (OS: the weight) read data of this cycle is a stream element
    a_load, a_row : Out    OS: the act word read last cycle is array row ``a_row``'s next
                           block (its shift register loads it), a real row of the fold
    a_last : Out(1)        OS: ... and it is the last operand of its fold
    a_sel : Out(BANK_BITS) WS: ... and its fold's weight bank (fold number mod 3)
    clr : Out(1)           OS: clear the PE accumulators (first cycle of a GEMM tile)
    load, wrow_valid : Out(1), lsel : Out(BANK_BITS)   WS: the weight read data of this cycle
                           is shifted into bank ``lsel``; it is a real row of B (else 0)
    row_sel : Out          OS: array row presented to the post-processing this cycle
    pp_in : Out(1)         a row of C accumulators enters the post-processing this cycle
    pp_first : Out(1)      add the bias, not the accumulator memory word (OS: ``acc_in = 0``;
                           WS: first K-fold and ``acc_in = 0``)
    lane_mask : Out(cols)  output lanes of the row written this cycle that exist
    tap : Out(stream.Signature(tap_layout))   vector unit: one window tap per cycle
                           (registered: it arrives with the tap's read data)
    pool_final : In(1)     vector unit: the tile's final result is written this cycle
    a_lpar, bank_sel : Out(1)   OS ``drain_rows = 2``: the streamed fold's shadow bank (with
                           ``a_last``); the bank of the drained row pair
    acc_wr_en1, out_wr_en1 : Out(1)   ... the pair's second row is written (the word after
                           ``acc_wr_addr`` / ``out_wr_addr``)
    kind, pool_op, m0, shift, rounding, wrap, per_channel, bias_en, acc_in, acc_out, lo, hi : Out
        the latched descriptor fields the datapath needs
    """

    def __init__(self, config: HardwareConfig, depths: BufferDepths) -> None:
        arr = config.array
        self._config, self._depths = config, depths
        a = signed(arr.act_bits)
        super().__init__({
            "start": In(1), "desc": In(DescriptorSignature(config, depths)),
            "busy": Out(1), "done": Out(1), "error": Out(1),
            "act_addr": Out(addr_bits(depths.act)), "wgt_addr": Out(addr_bits(depths.weight)),
            "par_addr": Out(addr_bits(depths.param)),
            "acc_rd_addr": Out(addr_bits(depths.acc)), "acc_wr_en": Out(1),
            "acc_wr_addr": Out(addr_bits(depths.acc)),
            "out_rd_addr": Out(addr_bits(depths.out)), "out_wr_en": Out(1),
            "out_wr_addr": Out(addr_bits(depths.out)),
            "feed": Out(1), "a_last": Out(1), "a_sel": Out(BANK_BITS), "clr": Out(1),
            "load": Out(1), "lsel": Out(BANK_BITS), "wrow_valid": Out(1),
            "row_sel": Out(row_sel_bits(config)), "pp_in": Out(1),
            "pp_first": Out(1),
            "lane_mask": Out(arr.cols),
            "tap": Out(stream.Signature(tap_layout(addr_bits(depths.out)), always_ready=True)),
            "pool_final": In(1),
            "kind": Out(1), "pool_op": Out(2), "m0": Out(unsigned(M0_BITS)),
            "shift": Out(unsigned(SHIFT_BITS)), "rounding": Out(2), "wrap": Out(1),
            "per_channel": Out(1), "bias_en": Out(1), "acc_in": Out(1), "acc_out": Out(1),
            "lo": Out(a), "hi": Out(a),
            **({"a_load": Out(1), "a_row": Out(range(max(arr.rows, 2)))}
               if arr.dataflow is Dataflow.OUTPUT_STATIONARY else {}),
            **({"a_lpar": Out(1), "bank_sel": Out(1), "acc_wr_en1": Out(1),
                "out_wr_en1": Out(1)} if arr.drain_rows == 2 else {}),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        R, C = arr.rows, arr.cols
        is_os = arr.dataflow is Dataflow.OUTPUT_STATIONARY
        desc = self.desc

        # Latched descriptor (fields the sequencer itself uses).
        k_ = Signal(DIM_BITS)
        m_ = Signal(DIM_BITS)
        n_ = Signal(DIM_BITS)
        a_base = Signal.like(desc.a_base)
        b_base = Signal.like(desc.b_base)
        c_base = Signal.like(desc.c_base)
        p_base = Signal.like(desc.p_base)
        pin_base = Signal.like(desc.pin_base)
        in_h, in_w = Signal(DIM_BITS), Signal(DIM_BITS)
        out_h, out_w = Signal(DIM_BITS), Signal(DIM_BITS)
        win_w, win_h = Signal(WIN_BITS), Signal(WIN_BITS)
        stride_h, stride_w = Signal(WIN_BITS), Signal(WIN_BITS)
        pad_left, pad_bottom, pad_right = Signal(WIN_BITS), Signal(WIN_BITS), Signal(WIN_BITS)
        count_pad = Signal()
        passthrough = ("kind", "pool_op", "m0", "shift", "rounding", "wrap", "per_channel",
                       "bias_en", "acc_in", "acc_out", "lo", "hi")

        t = Signal(T_BITS)
        period = Signal(DIM_BITS + 1)     # GEMM WS: fold period P (OS: ``period_v``)
        stream = Signal(DIM_BITS)         # GEMM WS: reads per fold, m (OS: ``kpad``)
        # OS: activation reads per fold R*ceil(k/R), formed without a divider: R from the
        # start, + R per cycle while below k (final after ceil(k/R) - 1 cycles, before any
        # compare that uses it)
        kpad = Signal(DIM_BITS + 1 + max(R, 2).bit_length())
        # Pool state.
        ox, oy = Signal(DIM_BITS), Signal(DIM_BITS)
        base_x, base_y = Signal(signed(DIM_BITS + 2)), Signal(signed(DIM_BITS + 2))
        fx, fy = Signal(WIN_BITS), Signal(WIN_BITS)
        out_ptr = Signal.like(self.out_wr_addr)
        issuing = Signal()      # pool: taps are still being read

        run = Signal()
        is_pool = Signal()
        m.d.comb += [self.busy.eq(run), is_pool.eq(self.kind == TileKind.POOL)]
        gemm_run = run & ~is_pool
        pool_run = run & is_pool

        # ---- start: validate, latch ----------------------------------------------------------
        zero_gemm = (desc.m == 0) | (desc.n == 0) | (desc.k == 0)
        zero_pool = ((desc.in_h == 0) | (desc.in_w == 0) | (desc.out_h == 0) |
                     (desc.out_w == 0) | (desc.win_h == 0) | (desc.win_w == 0) |
                     (desc.stride_h == 0) | (desc.stride_w == 0))
        refused = Signal()
        m.d.comb += refused.eq(Mux(desc.kind == TileKind.POOL, zero_pool, zero_gemm))

        def vmax(*vals: Value | int) -> Value:
            out: Value | int = vals[0]
            for v in vals[1:]:
                out = Mux(out > v, out, v)
            return out  # type: ignore[return-value]

        drain2 = arr.drain_rows == 2
        if is_os:
            # the constant terms of hwcnn.arch.timing.gemm_period_terms
            const = max(v for name, v in gemm_period_terms(1, 1, arr)[1:])
        else:
            # max(m, R, 3): three weight banks make 3P >= m + 2R - 2 hold (arch/timing.py)
            period_now = vmax(desc.m, max(R, WS_MIN_FOLD_PERIOD))

        # Front end: phase LOAD0 (WS: weights of the first fold), STREAM (fold windows of P
        # cycles), TAIL (reads finished, the back end drains).
        fe_load0, fe_stream = Signal(), Signal()
        starting = Signal()   # a GEMM / pool tile is accepted this cycle
        fe = _FrontState(m, self, R, C, is_os, drain2)
        be = _BackState(m, self, R, C, is_os, drain_slots(arr) if drain2 else 0)

        def accept_start() -> None:
            with m.If(self.start):
                m.d.comb += starting.eq(~refused)
                m.d.sync += [getattr(self, f).eq(getattr(desc, f)) for f in passthrough]
                m.d.sync += [
                    k_.eq(desc.k), m_.eq(desc.m), n_.eq(desc.n), a_base.eq(desc.a_base),
                    b_base.eq(desc.b_base), c_base.eq(desc.c_base), p_base.eq(desc.p_base),
                    pin_base.eq(desc.pin_base), in_h.eq(desc.in_h), in_w.eq(desc.in_w),
                    out_h.eq(desc.out_h), out_w.eq(desc.out_w), win_w.eq(desc.win_w),
                    win_h.eq(desc.win_h), stride_h.eq(desc.stride_h), stride_w.eq(desc.stride_w),
                    pad_left.eq(desc.pad_left), pad_bottom.eq(desc.pad_bottom),
                    pad_right.eq(desc.pad_right), count_pad.eq(desc.count_pad),
                    t.eq(0), self.error.eq(refused),
                    *([] if is_os else [period.eq(period_now), stream.eq(desc.m)]),
                    fe_load0.eq(0 if is_os else 1), fe_stream.eq(1 if is_os else 0),
                    ox.eq(0), oy.eq(0), base_x.eq(-desc.pad_left), base_y.eq(-desc.pad_top),
                    fx.eq(0), fy.eq(0), out_ptr.eq(desc.c_base),
                    issuing.eq(desc.kind == TileKind.POOL),
                ]
                if is_os:
                    m.d.sync += kpad.eq(desc.k if R == 1 else R)
                fe.reset(desc)
                be.reset(desc)
                with m.If(refused):
                    m.next = "DONE"
                with m.Else():
                    m.next = "RUN"

        sizes = (m_, n_, k_, a_base, b_base, c_base, p_base)
        s3 = Signal(stage_layout(self._config, self._depths))
        with m.FSM():
            with m.State("IDLE"):
                accept_start()
            with m.State("RUN"):
                m.d.comb += run.eq(1)
                m.d.sync += t.eq(t + 1)
                with m.If(is_pool), m.If(self.pool_final):
                    m.next = "DONE"
                with m.Elif(s3.valid & s3.final):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
                accept_start()

        # ---- GEMM front end: reads and the tokens that travel with them ---------------------
        reading = Signal()        # an activation (OS: a weight) word is read this cycle
        w_reading = Signal()      # WS: a weight word is read this cycle
        wrow = Signal(DIM_BITS + 1)   # WS: array row the weight word is for
        streaming = gemm_run & fe_stream
        # OS: the fold reads R*ceil(k/R) activation words and k weight words
        stream_v = kpad if is_os else stream
        period_v = vmax(kpad, const) if is_os else period
        m.d.comb += reading.eq(streaming & (t < (k_ if is_os else stream)))
        with m.If(gemm_run & fe_stream):
            with m.If(fe.last & (t == stream_v - 1)):
                m.d.sync += fe_stream.eq(0)          # TAIL: the back end finishes the tile
            with m.Elif(t == period_v - 1):
                m.d.sync += t.eq(0)
                fe.advance_stream(sizes)
        m.d.sync += self.feed.eq(reading)
        if is_os:
            # row r's word of block b (elements b*R ..) in cycle b*R + r of the fold: word
            # a_ptr + b*m + r of the WS layout (a_ptr: the fold's first row)
            a_reading = Signal()
            a_rrow = Signal(range(max(R, 2)))
            a_blk = Signal.like(self.act_addr)
            m.d.comb += [a_reading.eq(streaming & (t < kpad)),
                         self.act_addr.eq(fe.a_ptr + a_blk + a_rrow)]
            with m.If(gemm_run & (kpad < k_)):
                m.d.sync += kpad.eq(kpad + R)
            with m.If(starting | (streaming & (t == period_v - 1))):
                m.d.sync += [a_rrow.eq(0), a_blk.eq(0)]
            with m.Elif(a_reading):
                with m.If(a_rrow == R - 1):
                    m.d.sync += [a_rrow.eq(0), a_blk.eq(a_blk + m_)]
                with m.Else():
                    m.d.sync += a_rrow.eq(a_rrow + 1)
            m.d.sync += [self.a_load.eq(a_reading & (a_rrow < fe.rem)), self.a_row.eq(a_rrow)]
            m.d.comb += self.wgt_addr.eq(fe.b_ptr + t)
            m.d.sync += [self.a_last.eq(reading & (t == k_ - 1)),
                         self.clr.eq(starting & (desc.kind == TileKind.GEMM))]
            token = reading & (t == k_ - 1)
            token_delay = C
            if drain2:
                # the fold's shadow bank; the first row pair is complete floor(R/2) cycles
                # after row 0 (rows finish one per cycle)
                m.d.sync += self.a_lpar.eq(fe.par)
                token_delay += R // 2
        else:
            m.d.comb += self.act_addr.eq(fe.a_ptr + t)
            with m.If(gemm_run & fe_load0), m.If(t == R - 1):
                m.d.sync += [t.eq(0), fe_load0.eq(0), fe_stream.eq(1)]
                fe.advance_weights(sizes)
            w_window = streaming & ~fe.last & (t + R >= period)
            with m.If(w_window & (t == period - 1)):
                fe.advance_weights(sizes)
            m.d.comb += [
                w_reading.eq((gemm_run & fe_load0) | w_window),
                wrow.eq(Mux(fe_load0, (R - 1) - t, (period - 1) - t)[:DIM_BITS + 1]),
                self.wgt_addr.eq(fe.w_ptr + wrow),
            ]
            m.d.sync += [self.a_sel.eq(fe.a_par), self.load.eq(w_reading),
                         self.lsel.eq(fe.w_par), self.wrow_valid.eq(wrow < fe.w_rem)]
            token = reading
            token_delay = R + C - 1

        # Token delay line: the back end sees a read's token when its data is one cycle before
        # the post-processing (WS: the de-skewed psum row; OS: the first drain row).
        tok = token
        for d in range(token_delay):
            reg = Signal(name=f"tok_d{d}")
            m.d.sync += reg.eq(tok)
            tok = reg

        # ---- GEMM back end: post-processing stages s0 (add) .. s3 (write) ---------------------
        layout = stage_layout(self._config, self._depths)
        issue = Signal(layout)
        be.issue(tok, gemm_run, issue, sizes)
        s0, s1, s2 = Signal(layout), Signal(layout), Signal(layout)
        m.d.sync += [s0.eq(issue), s1.eq(s0), s2.eq(s1), s3.eq(s2)]
        with m.If(~gemm_run):
            m.d.sync += [s0.valid.eq(0), s1.valid.eq(0), s2.valid.eq(0), s3.valid.eq(0)]
        m.d.comb += [
            self.row_sel.eq(s0.row), self.pp_in.eq(s0.valid), self.pp_first.eq(s0.first),
            self.acc_wr_en.eq(s1.valid & s1.wacc), self.acc_wr_addr.eq(s1.acc_addr),
            self.lane_mask.eq(s3.mask),
        ]
        if drain2:
            m.d.comb += [self.bank_sel.eq(s0.bank), self.acc_wr_en1.eq(s1.valid & s1.wacc1),
                         self.out_wr_en1.eq(s3.valid & s3.wout1 & ~is_pool)]

        # ---- vector unit: one window tap per cycle, output pixels back to back ----------------
        iy = Signal(signed(DIM_BITS + 3))
        ix = Signal(signed(DIM_BITS + 3))
        m.d.comb += [iy.eq(base_y + fy), ix.eq(base_x + fx)]
        inb = (iy >= 0) & (iy < in_h) & (ix >= 0) & (ix < in_w)
        # count_include_pad: every tap inside the padded input counts (iy >= -pad_top holds).
        in_pad = (iy < in_h + pad_bottom) & (ix < in_w + pad_right)
        last_fx, last_fy = fx == win_w - 1, fy == win_h - 1
        last_x, last_y = ox == out_w - 1, oy == out_h - 1
        tap_now = pool_run & issuing
        final = last_fx & last_fy & last_x & last_y
        tp = self.tap.payload
        m.d.sync += [self.tap.valid.eq(tap_now), tp.inb.eq(inb),
                     tp.count.eq(Mux(count_pad, in_pad, inb)),
                     tp.first.eq((fx == 0) & (fy == 0)), tp.last.eq(last_fx & last_fy),
                     tp.final.eq(final), tp.addr.eq(out_ptr)]
        with m.If(tap_now):
            with m.If(~last_fx):
                m.d.sync += fx.eq(fx + 1)
            with m.Elif(~last_fy):
                m.d.sync += [fx.eq(0), fy.eq(fy + 1)]
            with m.Else():                              # next pixel
                m.d.sync += [fx.eq(0), fy.eq(0), out_ptr.eq(out_ptr + 1)]
                with m.If(final):
                    m.d.sync += issuing.eq(0)
                with m.Elif(last_x):
                    m.d.sync += [ox.eq(0), base_x.eq(-pad_left), oy.eq(oy + 1),
                                 base_y.eq(base_y + stride_h)]
                with m.Else():
                    m.d.sync += [ox.eq(ox + 1), base_x.eq(base_x + stride_w)]
        with m.If(pool_run):
            m.d.comb += self.out_rd_addr.eq(pin_base + iy * in_w + ix)
        with m.If(~is_pool):
            m.d.comb += [self.out_wr_en.eq(s3.valid & s3.wout),
                         self.out_wr_addr.eq(s3.out_addr)]
        return m
