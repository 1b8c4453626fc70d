"""Tile engine: tile sequencer, systolic array, skews, post-processing and vector unit.

:class:`TileEngine` runs one tile descriptor (rtl/README.md 4) per ``start`` and reaches the
on-chip memories only through its buffer ports, which it drives as an initiator: the
activation / weight / parameter reads, the output buffer's read (vector-unit taps) and write
(GEMM rows and vector results), and the accumulator memory's read and write. It owns no
memory; :class:`hwcnn.hw.top.Accelerator` (``hwcnn_top``) puts it next to
:class:`hwcnn.hw.buffers.Buffers` and the host ports, :class:`hwcnn.hw.soc.compute.ComputeCore`
next to the loaders' buffers and a GEMM/VEC executor. Cycle counts are those of
:mod:`hwcnn.arch.timing` (rtl/README.md 5): ``start`` sampled in cycle 0, ``done`` high in
cycle ``T``, ``busy`` in cycles ``1 .. T-1``; every buffer port has read latency 1.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...arch.config import Dataflow, HardwareConfig
from ..arith import wrap
from ..array import SystolicArray
from ..controller import TileSequencer
from ..descriptor import TileKind
from ..params import M0_BITS, SHIFT_BITS, BufferDepths, addr_bits, param_lane_bits
from ..pe import BANK_BITS
from ..requant import Requant
from ..signatures import DescriptorSignature, ReadSignature, WriteSignature
from ..skew import Skew
from ..vector import VectorUnit


def _lanes(word: Value, count: int, bits: int) -> list[Value]:
    """Split a word into ``count`` signed lanes of ``bits`` (lane 0 = low bits)."""
    return [word[i * bits:(i + 1) * bits].as_signed() for i in range(count)]


def engine_members(config: HardwareConfig, depths: BufferDepths) -> dict[str, wiring.Member]:
    """The engine's buffer ports (initiator side; word widths of rtl/README.md 3)."""
    arr = config.array
    out = (addr_bits(depths.out), arr.cols * arr.act_bits)
    acc = (addr_bits(depths.acc), arr.cols * arr.acc_bits)
    members = {
        "act_rd": Out(ReadSignature(addr_bits(depths.act), arr.rows * arr.act_bits)),
        "wgt_rd": Out(ReadSignature(addr_bits(depths.weight), arr.cols * arr.weight_bits)),
        "par_rd": Out(ReadSignature(addr_bits(depths.param), arr.cols * param_lane_bits(config))),
        "out_rd": Out(ReadSignature(*out)), "out_wr": Out(WriteSignature(*out)),
        "acc_rd": Out(ReadSignature(*acc)), "acc_wr": Out(WriteSignature(*acc)),
    }
    if arr.drain_rows == 2:
        # the second row of a drained pair: always the word after out_wr's / acc_rd's / acc_wr's
        members |= {"out_wr2": Out(WriteSignature(*out)), "acc_rd2": Out(ReadSignature(*acc)),
                    "acc_wr2": Out(WriteSignature(*acc))}
    return members


def connect_buffers(m: Module, eng: TileEngine, buf: wiring.Component, owns_out: Value) -> None:
    """Wire the engine's read/write ports to ``buf`` (:class:`hwcnn.hw.buffers.Buffers`); the
    engine owns the output memory's shared port while ``owns_out``."""
    pair = ("acc_rd2", "acc_wr2") if eng.drain2 else ()
    for name in ("act_rd", "wgt_rd", "par_rd", "acc_rd", "acc_wr", *pair):
        wiring.connect(m, getattr(eng, name), getattr(buf, name))
    if eng.drain2:
        wiring.connect(m, eng.out_wr2, buf.eng_out_wr2)
    wiring.connect(m, eng.out_rd, buf.eng_out_rd)
    wiring.connect(m, eng.out_wr, buf.eng_out_wr)
    m.d.comb += buf.engine_owns_out.eq(owns_out)


class TileEngine(wiring.Component):
    """One tile per ``start``: GEMM tiles on the array, pool tiles on the vector unit.

    Parameters
    ----------
    config : HardwareConfig
    depths : BufferDepths

    Members
    -------
    start : In(1)                       sampled while not ``busy`` (also in the ``done`` cycle)
    desc : In(DescriptorSignature)      latched with ``start``
    busy, done, error : Out(1)          rtl/README.md 2 and 5
    act_rd, wgt_rd, par_rd : Out(ReadSignature)   operand reads
    out_rd : Out(ReadSignature)         output-buffer reads (vector-unit taps)
    out_wr : Out(WriteSignature)        output-buffer writes (result rows / pixels)
    acc_rd, acc_wr : Out(Read/WriteSignature)    accumulator memory
    """

    def __init__(self, config: HardwareConfig, depths: BufferDepths) -> None:
        self._config, self._depths = config, depths
        self.drain2 = config.array.drain_rows == 2
        super().__init__({
            "start": In(1), "desc": In(DescriptorSignature(config, depths)),
            "busy": Out(1), "done": Out(1), "error": Out(1),
            **engine_members(config, depths),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, arr = self._config, self._config.array
        R, C = arr.rows, arr.cols
        a_bits, b_bits, acc_bits = arr.act_bits, arr.weight_bits, arr.acc_bits
        is_os = arr.dataflow is Dataflow.OUTPUT_STATIONARY

        m.submodules.seq = seq = TileSequencer(cfg, self._depths)
        m.submodules.array = array = SystolicArray(cfg)
        if not is_os:
            m.submodules.skew_a = skew_a = Skew(R, signed(a_bits))
        m.submodules.vector = vec = VectorUnit(cfg, self._depths.out)

        wiring.connect(m, wiring.flipped(self.desc), seq.desc)
        m.d.comb += [seq.start.eq(self.start), self.busy.eq(seq.busy),
                     self.done.eq(seq.done), self.error.eq(seq.error)]

        # Sequencer -> buffer read addresses.
        m.d.comb += [
            self.act_rd.addr.eq(seq.act_addr), self.wgt_rd.addr.eq(seq.wgt_addr),
            self.par_rd.addr.eq(seq.par_addr), self.out_rd.addr.eq(seq.out_rd_addr),
        ]
        # The output memory's write port: GEMM rows from the post-processing, pool results
        # from the vector unit's result stream.
        is_pool = seq.kind == TileKind.POOL
        m.d.comb += [
            self.out_wr.en.eq(Mux(is_pool, vec.result.valid, seq.out_wr_en)),
            self.out_wr.addr.eq(Mux(is_pool, vec.result.payload.addr, seq.out_wr_addr)),
        ]

        # Operands into the array: zero outside the stream, then skewed; the control tokens
        # (OS: last operand of a fold; WS: weight bank of the activation, weight load strobe
        # and bank) are skewed with them. OS: every row shifts its own activation word out,
        # one element per cycle (lane 0 first, zeros behind it); the sequencer reads row r's
        # next word every R cycles, row r + 1's one cycle later, which is the skew.
        wgt = _lanes(self.wgt_rd.data, C, b_bits)
        m.submodules.skew_tok = skew_tok = Skew(R, 1 if is_os else BANK_BITS)
        if is_os:
            word = self.act_rd.data[:R * a_bits]
            for r in range(R):
                held = Signal(R * a_bits, name=f"a_row{r}")
                hit = seq.a_load & (seq.a_row == r)
                now = Mux(hit, word, held)
                m.d.sync += held.eq(now >> a_bits)
                m.d.comb += array.a_in[r].eq(now[:a_bits].as_signed())
        else:
            act = _lanes(self.act_rd.data, R, a_bits)
            for r in range(R):
                m.d.comb += [skew_a.i_data[r].eq(Mux(seq.feed, act[r], 0)),
                             array.a_in[r].eq(skew_a.o_data[r])]
        rows_out = []
        if is_os:
            m.submodules.skew_b = skew_b = Skew(C, signed(b_bits))
            for r in range(R):
                m.d.comb += [skew_tok.i_data[r].eq(seq.a_last),
                             array.last_in[r].eq(skew_tok.o_data[r])]
            if self.drain2:
                m.submodules.skew_par = skew_par = Skew(R, 1)
                for r in range(R):
                    m.d.comb += [skew_par.i_data[r].eq(seq.a_lpar),
                                 array.lpar_in[r].eq(skew_par.o_data[r])]
            for c in range(C):
                m.d.comb += [skew_b.i_data[c].eq(Mux(seq.feed, wgt[c], 0)),
                             array.b_in[c].eq(skew_b.o_data[c])]
            m.d.comb += array.clr.eq(seq.clr)
            if self.drain2:
                # row pair (2q, 2q + 1) of the fold's shadow bank: even rows into the first C
                # lanes, odd rows into the second C (odd R: the last pair has one row)
                def bank_rows(first: int) -> Array:
                    def lane(bank: int, r: int, c: int) -> Value:
                        if r >= R:
                            return Const(0, signed(acc_bits))
                        return (array.res1 if bank else array.res)[r][c]
                    return Array([Array([Array([lane(b, 2 * q + first, c) for c in range(C)])
                                         for q in range(-(-R // 2))]) for b in range(2)])
                even, odd = bank_rows(0), bank_rows(1)
                rows_out = [even[seq.bank_sel][seq.row_sel][c] for c in range(C)]
                rows_out2 = [odd[seq.bank_sel][seq.row_sel][c] for c in range(C)]
            else:
                grid = Array([Array([array.res[r][c] for c in range(C)]) for r in range(R)])
                rows_out = [grid[seq.row_sel][c] for c in range(C)]
        else:
            m.submodules.skew_w = skew_w = Skew(C, signed(b_bits))
            m.submodules.skew_ld = skew_ld = Skew(C, 1 + BANK_BITS)
            m.submodules.deskew = deskew = Skew(C, signed(acc_bits), reverse=True)
            for r in range(R):
                m.d.comb += [skew_tok.i_data[r].eq(seq.a_sel),
                             array.sel_in[r].eq(skew_tok.o_data[r])]
            for c in range(C):
                m.d.comb += [skew_w.i_data[c].eq(Mux(seq.wrow_valid, wgt[c], 0)),
                             array.w_in[c].eq(skew_w.o_data[c]),
                             skew_ld.i_data[c].eq(Cat(seq.load, seq.lsel)),
                             array.load[c].eq(skew_ld.o_data[c][0]),
                             array.lsel[c].eq(skew_ld.o_data[c][1:]),
                             deskew.i_data[c].eq(array.psum_out[c])]
            rows_out = [deskew.o_data[c] for c in range(C)]
        acc_prev = _lanes(self.acc_rd.data, C, acc_bits)
        m.d.comb += self.acc_rd.addr.eq(seq.acc_rd_addr)
        if self.drain2:
            acc_prev2 = _lanes(self.acc_rd2.data, C, acc_bits)
            m.d.comb += self.acc_rd2.addr.eq(seq.acc_rd_addr + 1)

        # Post-processing: bias (or the partial sums of the previous K-folds / K-split tiles,
        # from the accumulator memory) + requantization.
        lane_bits = param_lane_bits(cfg)
        pars = [self.par_rd.data[c * lane_bits:(c + 1) * lane_bits] for c in range(C)]
        results = []

        def lane(c: int, y: Value) -> None:   # GEMM rows and pool results share the lane
            gemm_y = Mux(seq.lane_mask[c], y, 0)
            m.d.comb += vec.sum_q[c].eq(y)
            results.append(Mux(seq.kind == TileKind.POOL, vec.result.payload.y[c],
                               gemm_y)[:a_bits])

        r1, _ = self._post_lanes(m, seq, pars, rows_out, acc_prev, "pp_", "", vec.sum, lane)
        m.d.comb += self.out_wr.data.eq(Cat(*results))
        m.d.comb += [self.acc_wr.en.eq(seq.acc_wr_en), self.acc_wr.addr.eq(seq.acc_wr_addr),
                     self.acc_wr.data.eq(Cat(*[v[:acc_bits] for v in r1]))]
        if self.drain2:
            # The pair's second row: its own stage-1 sums and requantizers (GEMM only).
            r1b, ys2 = self._post_lanes(m, seq, pars, rows_out2, acc_prev2, "pp2_", "2_")
            results2 = [Mux(seq.lane_mask[c], ys2[c], 0)[:a_bits] for c in range(C)]
            m.d.comb += [
                self.out_wr2.en.eq(seq.out_wr_en1), self.out_wr2.addr.eq(seq.out_wr_addr + 1),
                self.out_wr2.data.eq(Cat(*results2)),
                self.acc_wr2.en.eq(seq.acc_wr_en1), self.acc_wr2.addr.eq(seq.acc_wr_addr + 1),
                self.acc_wr2.data.eq(Cat(*[v[:acc_bits] for v in r1b])),
            ]

        # The vector unit reads the output buffer: taps from the sequencer, data one cycle later.
        pix = _lanes(self.out_rd.data, C, a_bits)
        wiring.connect(m, seq.tap, vec.tap)
        for c in range(C):
            m.d.comb += vec.x[c].eq(pix[c])
        m.d.comb += [vec.op.eq(seq.pool_op), vec.lo.eq(seq.lo), vec.hi.eq(seq.hi),
                     seq.pool_final.eq(vec.result.valid & vec.result.payload.final)]
        return m

    def _post_lanes(self, m: Module, seq: TileSequencer, pars: list[Value], rows: list[Value],
                    acc_prev: list[Value], name: str, rq_name: str,
                    pool_sum: Value | None = None,
                    each: Callable[[int, Value], None] | None = None
                    ) -> tuple[list[Signal], list[Value]]:
        """One row's C post-processing lanes: stage 1 (the array's sum + the bias, or the
        accumulator memory's partial sum) with the row's own M0/shift (the next row may belong
        to the next N-fold and read the next parameter word), then a requantizer per lane
        (``pool_sum``: the vector unit's sums on pool tiles). Returns the stage-1 sums and the
        requantized lanes; ``each(c, y)`` is called with every lane's result as it is built."""
        cfg, acc_bits, C = self._config, self._config.array.acc_bits, self._config.array.cols
        r1 = [Signal(signed(acc_bits), name=f"{name}acc{c}") for c in range(C)]
        m0_1 = [Signal(M0_BITS, name=f"{name}m0_{c}") for c in range(C)]
        sh_1 = [Signal(SHIFT_BITS, name=f"{name}shift{c}") for c in range(C)]
        ys = []
        for c in range(C):
            bias = pars[c][:acc_bits].as_signed()
            p_m0 = pars[c][acc_bits:acc_bits + M0_BITS]
            p_shift = pars[c][acc_bits + M0_BITS:acc_bits + M0_BITS + SHIFT_BITS]
            addend = Mux(seq.pp_first, Mux(seq.bias_en, bias, 0), acc_prev[c])
            with m.If(seq.pp_in):
                m.d.sync += [r1[c].eq(wrap(rows[c] + addend, acc_bits)),
                             m0_1[c].eq(p_m0), sh_1[c].eq(p_shift)]
            m.submodules[f"requant{rq_name}{c}"] = rq = Requant(cfg)
            per_ch = (seq.kind == TileKind.GEMM) & seq.per_channel
            m.d.comb += [
                rq.acc.eq(r1[c] if pool_sum is None
                          else Mux(seq.kind == TileKind.POOL, pool_sum[c], r1[c])),
                rq.m0.eq(Mux(per_ch, m0_1[c], seq.m0)),
                rq.shift.eq(Mux(per_ch, sh_1[c], seq.shift)),
                rq.rounding.eq(seq.rounding), rq.wrap.eq(seq.wrap),
                rq.lo.eq(seq.lo), rq.hi.eq(seq.hi),
            ]
            ys.append(rq.y)
            if each is not None:
                each(c, rq.y)
        return r1, ys
