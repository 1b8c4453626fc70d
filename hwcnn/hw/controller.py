"""Tile sequencer: runs one GEMM tile or one pool tile per ``start`` (rtl/README.md 4-5).

All timing is decoded from one fold counter ``t`` that runs ``0 .. fold_cycles - 1`` for every
fold (GEMM) or output pixel (pool); the event cycles below are the ones ``hwcnn.arch.timing``
counts, so the closed forms hold by construction (and are measured in tests/test_hw_top.py).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import Dataflow, HardwareConfig
from ..arch.timing import POST_CYCLES, READ_LATENCY
from .descriptor import TileKind
from .params import DIM_BITS, M0_BITS, SHIFT_BITS, WIN_BITS, BufferDepths, addr_bits
from .signatures import DescriptorSignature

#: Width of the fold counter: the longest fold is a 16-bit m or k plus array overheads, or a
#: 255 x 255 pool window plus the divider.
T_BITS = 20


class TileSequencer(wiring.Component):
    """FSM ``IDLE -> RUN (folds) -> DONE``; drives buffer addresses and datapath strobes.

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
    feed : Out(1)          the act (OS: and weight) read data of this cycle is a stream element
    clr : Out(1)           OS: clear the PE accumulators
    load, wrow_valid : Out(1)   WS: shift weights down; the word shifted in is a real row of B
    row_sel : Out          OS: array row presented to the post-processing this cycle
    pp_in : Out(1)         a row of C accumulators enters the post-processing this cycle
    pp_first : Out(1)      add the bias, not the accumulator memory word (OS: ``acc_in = 0``;
                           WS: first K-fold and ``acc_in = 0``)
    lane_mask : Out(cols)  output lanes that exist in this N-fold
    pool_clear, pool_acc, pool_div_init, pool_div_step, pool_finish : Out(1)
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
            "feed": Out(1), "clr": Out(1), "load": Out(1), "wrow_valid": Out(1),
            "row_sel": Out(max(1, (arr.rows - 1).bit_length())), "pp_in": Out(1),
            "pp_first": Out(1),
            "lane_mask": Out(arr.cols),
            "pool_clear": Out(1), "pool_acc": Out(1), "pool_div_init": Out(1),
            "pool_div_step": Out(1), "pool_finish": Out(1),
            "kind": Out(1), "pool_op": Out(2), "m0": Out(unsigned(M0_BITS)),
            "shift": Out(unsigned(SHIFT_BITS)), "rounding": Out(2), "wrap": Out(1),
            "per_channel": Out(1), "bias_en": Out(1), "acc_in": Out(1), "acc_out": Out(1),
            "lo": Out(a), "hi": Out(a),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        R, C, qb = arr.rows, arr.cols, arr.act_bits
        is_os = arr.dataflow is Dataflow.OUTPUT_STATIONARY
        desc = self.desc

        # Latched descriptor (fields the sequencer itself uses).
        k_ = Signal(DIM_BITS)
        m_ = Signal(DIM_BITS)
        a_base = Signal.like(desc.a_base)
        pin_base = Signal.like(desc.pin_base)
        in_h, in_w = Signal(DIM_BITS), Signal(DIM_BITS)
        out_h, out_w = Signal(DIM_BITS), Signal(DIM_BITS)
        win_w = Signal(WIN_BITS)
        stride_h, stride_w = Signal(WIN_BITS), Signal(WIN_BITS)
        pad_left = Signal(WIN_BITS)
        passthrough = ("kind", "pool_op", "m0", "shift", "rounding", "wrap", "per_channel",
                       "bias_en", "acc_in", "acc_out", "lo", "hi")

        t = Signal(T_BITS)
        t_last = Signal(T_BITS)
        # GEMM fold state.
        n_rem = Signal(DIM_BITS + 1)          # columns left, this N-fold included
        inner_rem = Signal(DIM_BITS + 1)      # OS: rows left (m); WS: k left, this fold included
        a_ptr = Signal.like(self.act_addr)
        b_nptr = Signal.like(self.wgt_addr)   # first weight word of this N-fold
        b_kptr = Signal.like(self.wgt_addr)   # WS: first weight word of this K-fold
        c_nptr = Signal.like(self.out_wr_addr)
        c_row = Signal.like(self.out_wr_addr)  # OS: output word of array row 0
        first = Signal()
        # Accumulator memory: first word of this N-fold (advances by m only for K-split tiles,
        # so a plain WS tile keeps using words 0..m-1) and, OS, the word of array row 0.
        acc_nptr = Signal.like(self.acc_wr_addr)
        acc_row = Signal.like(self.acc_wr_addr)
        # Pool state.
        ox, oy = Signal(DIM_BITS), Signal(DIM_BITS)
        base_x, base_y = Signal(signed(DIM_BITS + 2)), Signal(signed(DIM_BITS + 2))
        fx, fy = Signal(WIN_BITS), Signal(WIN_BITS)
        win = Signal(2 * WIN_BITS)
        out_ptr = Signal.like(self.out_wr_addr)
        inb_d = Signal()

        run = Signal()
        is_pool = Signal()
        m.d.comb += [self.busy.eq(run), is_pool.eq(self.kind == TileKind.POOL)]
        gemm_run = run & ~is_pool
        pool_run = run & is_pool

        # ---- start: validate, latch, initialise the first fold ------------------------------
        zero_gemm = (desc.m == 0) | (desc.n == 0) | (desc.k == 0)
        zero_pool = ((desc.in_h == 0) | (desc.in_w == 0) | (desc.out_h == 0) |
                     (desc.out_w == 0) | (desc.win_h == 0) | (desc.win_w == 0) |
                     (desc.stride_h == 0) | (desc.stride_w == 0))
        refused = Signal()
        m.d.comb += refused.eq(Mux(desc.kind == TileKind.POOL, zero_pool, zero_gemm))
        if is_os:
            gemm_last = desc.k + (2 * R + C + READ_LATENCY + POST_CYCLES - 3)
        else:
            gemm_last = desc.m + (2 * R + C + 2 * READ_LATENCY + POST_CYCLES - 3)
        win_now = desc.win_h * desc.win_w
        pool_last = win_now + (qb + 3)

        def accept_start() -> None:
            with m.If(self.start):
                m.d.sync += [getattr(self, f).eq(getattr(desc, f)) for f in passthrough]
                m.d.sync += [
                    k_.eq(desc.k), m_.eq(desc.m), a_base.eq(desc.a_base),
                    pin_base.eq(desc.pin_base), in_h.eq(desc.in_h), in_w.eq(desc.in_w),
                    out_h.eq(desc.out_h), out_w.eq(desc.out_w), win_w.eq(desc.win_w),
                    stride_h.eq(desc.stride_h), stride_w.eq(desc.stride_w),
                    pad_left.eq(desc.pad_left),
                    t.eq(0), self.error.eq(refused),
                    n_rem.eq(desc.n), inner_rem.eq(desc.m if is_os else desc.k),
                    a_ptr.eq(desc.a_base), b_nptr.eq(desc.b_base), b_kptr.eq(desc.b_base),
                    c_nptr.eq(desc.c_base), c_row.eq(desc.c_base),
                    self.par_addr.eq(desc.p_base), first.eq(1),
                    acc_nptr.eq(0), acc_row.eq(0),
                    ox.eq(0), oy.eq(0), base_x.eq(-desc.pad_left), base_y.eq(-desc.pad_top),
                    fx.eq(0), fy.eq(0), win.eq(win_now), out_ptr.eq(desc.c_base),
                    t_last.eq(Mux(desc.kind == TileKind.POOL, pool_last, gemm_last)),
                ]
                with m.If(refused):
                    m.next = "DONE"
                with m.Else():
                    m.next = "RUN"

        chained = self.acc_in | self.acc_out

        def next_fold() -> None:
            inner_last = inner_rem <= R
            with m.If(inner_last & (n_rem <= C)):
                m.next = "DONE"
            with m.Elif(inner_last):
                # Next N-fold: back to the first M-fold (OS) / K-fold (WS).
                m.d.sync += [
                    n_rem.eq(n_rem - C), inner_rem.eq(m_ if is_os else k_),
                    b_nptr.eq(b_nptr + k_), b_kptr.eq(b_nptr + k_),
                    c_nptr.eq(c_nptr + m_), c_row.eq(c_nptr + m_),
                    self.par_addr.eq(self.par_addr + 1), a_ptr.eq(a_base), first.eq(1),
                    acc_nptr.eq(Mux(chained, acc_nptr + m_, 0)),
                    acc_row.eq(Mux(chained, acc_nptr + m_, 0)),
                ]
            with m.Else():
                m.d.sync += [inner_rem.eq(inner_rem - R), first.eq(0)]
                if is_os:
                    m.d.sync += [a_ptr.eq(a_ptr + k_), c_row.eq(c_row + R),
                                 acc_row.eq(acc_row + R)]
                else:
                    m.d.sync += [a_ptr.eq(a_ptr + m_), b_kptr.eq(b_kptr + R)]

        def next_pixel() -> None:
            last_x = ox == out_w - 1
            m.d.sync += [fx.eq(0), fy.eq(0), out_ptr.eq(out_ptr + 1)]
            with m.If(last_x & (oy == out_h - 1)):
                m.next = "DONE"
            with m.Elif(last_x):
                m.d.sync += [ox.eq(0), base_x.eq(-pad_left), oy.eq(oy + 1),
                             base_y.eq(base_y + stride_h)]
            with m.Else():
                m.d.sync += [ox.eq(ox + 1), base_x.eq(base_x + stride_w)]

        with m.FSM():
            with m.State("IDLE"):
                accept_start()
            with m.State("RUN"):
                m.d.comb += run.eq(1)
                m.d.sync += t.eq(t + 1)
                with m.If(t == t_last):
                    m.d.sync += t.eq(0)
                    with m.If(is_pool):
                        next_pixel()
                    with m.Else():
                        next_fold()
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
                accept_start()

        # ---- GEMM strobes ------------------------------------------------------------------
        lanes = [n_rem > c for c in range(C)]
        m.d.comb += self.lane_mask.eq(Cat(*lanes))
        if is_os:
            d0 = k_ + (R + C - 2 + READ_LATENCY)          # first drain cycle
            wr0 = d0 + POST_CYCLES
            row_out = (t - wr0)[:DIM_BITS + 1]
            row_acc = (t - (d0 + 1))[:DIM_BITS + 1]       # row whose pp stage-1 sum is ready
            m.d.comb += [
                self.act_addr.eq(a_ptr + t),
                self.wgt_addr.eq(b_nptr + t),
                self.feed.eq(gemm_run & (t >= READ_LATENCY) & (t <= k_)),
                self.clr.eq(gemm_run & (t == 0)),
                self.row_sel.eq((t - d0)[:max(1, (R - 1).bit_length())]),
                self.pp_in.eq(gemm_run & (t >= d0) & (t < d0 + R)),
                self.out_wr_en.eq(gemm_run & ~self.acc_out & (t >= wr0) & (t < wr0 + R)
                                  & (row_out < inner_rem)),
                self.out_wr_addr.eq(c_row + row_out),
                # K-split: the stored partial sum of row i is read one cycle before the row
                # enters the post-processing (added instead of the bias), and the stage-1 sum
                # is written back instead of being requantized.
                self.pp_first.eq(~self.acc_in),
                self.acc_rd_addr.eq(acc_row + (t - (d0 - 1))),
                self.acc_wr_en.eq(gemm_run & self.acc_out & (t >= d0 + 1) & (t < d0 + 1 + R)
                                  & (row_acc < inner_rem)),
                self.acc_wr_addr.eq(acc_row + row_acc),
            ]
        else:
            a0 = R                                         # first activation read
            e0 = 2 * R + C                                 # first de-skewed psum row
            last = inner_rem <= R
            acc_row = (t - (e0 + 1))[:DIM_BITS + 1]
            out_row = (t - (e0 + POST_CYCLES))[:DIM_BITS + 1]
            m.d.comb += [
                self.wgt_addr.eq(b_kptr + (R - 1) - t),
                self.load.eq(gemm_run & (t >= 1) & (t <= R)),
                self.wrow_valid.eq((R - t)[:DIM_BITS + 1] < inner_rem),
                self.act_addr.eq(a_ptr + (t - a0)),
                self.feed.eq(gemm_run & (t >= a0 + READ_LATENCY) & (t <= a0 + m_)),
                self.pp_in.eq(gemm_run & (t >= e0) & (t < e0 + m_)),
                self.pp_first.eq(first & ~self.acc_in),
                self.acc_rd_addr.eq(acc_nptr + (t - (e0 - 1))),
                self.acc_wr_en.eq(gemm_run & (~last | self.acc_out) & (t >= e0 + 1)
                                  & (t < e0 + 1 + m_)),
                self.acc_wr_addr.eq(acc_nptr + acc_row),
                self.out_wr_en.eq(gemm_run & last & ~self.acc_out & (t >= e0 + POST_CYCLES)
                                  & (t < e0 + POST_CYCLES + m_)),
                self.out_wr_addr.eq(c_nptr + out_row),
            ]

        # ---- pool strobes ------------------------------------------------------------------
        iy = Signal(signed(DIM_BITS + 3))
        ix = Signal(signed(DIM_BITS + 3))
        m.d.comb += [iy.eq(base_y + fy), ix.eq(base_x + fx)]
        inb = (iy >= 0) & (iy < in_h) & (ix >= 0) & (ix < in_w)
        reading = pool_run & (t < win)
        m.d.sync += inb_d.eq(reading & inb)
        with m.If(reading):
            with m.If(fx == win_w - 1):
                m.d.sync += [fx.eq(0), fy.eq(fy + 1)]
            with m.Else():
                m.d.sync += fx.eq(fx + 1)
        div0 = win + 2 * READ_LATENCY                        # first divider step
        with m.If(pool_run):
            m.d.comb += [
                self.out_rd_addr.eq(pin_base + iy * in_w + ix),
                self.pool_clear.eq(t == 0),
                self.pool_acc.eq(inb_d),
                self.pool_div_init.eq(t == win + READ_LATENCY),
                self.pool_div_step.eq((t >= div0) & (t < div0 + qb)),
                self.pool_finish.eq(t == div0 + qb),
                self.out_wr_en.eq(t == div0 + qb + 1),
                self.out_wr_addr.eq(out_ptr),
            ]
        return m
