"""Vector unit: C lanes of pooling, element-wise adds and activations, one tap per cycle.

The tile sequencer streams window taps (``tap``, one per cycle, output pixels back to back);
every lane reduces its pixel's taps (maximum, exact sum, and the count of taps the average
divides by), then the pipeline turns each finished pixel into its result and streams it to the
output buffer (``result``) while the next pixels' taps accumulate. Average pooling divides by
multiplying with a reciprocal and shifting: ``q = ((|sum| + n//2) * m) >> s`` with the sign
restored and the clamp applied, ``(m, s)`` read from a table of
:func:`hwcnn.numerics.fixedpoint.avg_reciprocal` (no divider; bit-exact with
``div_round_half_away``). SUM results (pool sums, adds) go through the shared requantizer.

Pipeline of a pixel whose last tap is read in cycle ``c`` (``hwcnn.arch.timing.VECTOR_DEPTH``):
``c+1`` read data + tap flags arrive, accumulate; ``c+2`` the pixel's sum/max/count are final:
``t = |sum| + n//2`` and the table look-up (index ``n - 1``, a constant table in logic,
registered), the requantizer samples the sum;
``c+3`` multiply, shift, sign, clamp; ``c+4`` the result is written (``result.valid``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import HardwareConfig
from ..arch.vector import VECTOR_AVG_MAX_TAPS, vector_widths
from ..numerics.fixedpoint import avg_reciprocal
from .arith import saturate
from .descriptor import PoolOpCode
from .params import WIN_BITS, addr_bits, pool_sum_bits

#: Width of a pixel's tap count (a 255 x 255 window).
COUNT_BITS = 2 * WIN_BITS + 1


def tap_layout(out_addr_bits: int) -> data.StructLayout:
    """One window tap, sent in the cycle its read data arrives (the payload of ``tap``)."""
    return data.StructLayout({
        "inb": 1,            # inside the input map: the read data is an element
        "count": 1,          # counts towards the average's divisor n
        "first": 1, "last": 1,   # first / last tap of its pixel
        "final": 1,          # last tap of the tile
        "addr": out_addr_bits,   # output-buffer word of its pixel
    })


def result_layout(config: HardwareConfig, out_addr_bits: int) -> data.StructLayout:
    """One output pixel (C lanes), the payload of ``result``."""
    arr = config.array
    return data.StructLayout({
        "y": data.ArrayLayout(signed(arr.act_bits), arr.cols),
        "addr": out_addr_bits, "final": 1,
    })


def reciprocal_table(act_bits: int) -> list[int]:
    """Table words ``m | s << m_bits`` for ``n = 1 .. VECTOR_AVG_MAX_TAPS`` (index ``n-1``)."""
    w = vector_widths(act_bits)
    out = []
    for n in range(1, VECTOR_AVG_MAX_TAPS + 1):
        m, s = avg_reciprocal(n, act_bits)
        out.append(m | (s << w.m_bits))
    return out


class VectorUnit(wiring.Component):
    """C lanes of window reduction with a reciprocal-multiply average (see module docstring).

    Parameters
    ----------
    config : HardwareConfig
    out_depth : int
        Output-buffer depth (width of the result address).

    Members
    -------
    tap : In(stream.Signature(tap_layout, always_ready=True))   one tap per cycle
    x : In(signed(act_bits)).array(cols)       the tap's read data (one word, C lanes)
    op : In(2)                                 ``PoolOpCode``
    lo, hi : In(signed(act_bits))              clamp of AVG (MAX keeps the input format)
    sum : Out(signed(sum_bits)).array(cols)    the finished pixel's exact sums, for the
                                               requantizer (valid in stage ``c+2``)
    sum_q : In(signed(act_bits)).array(cols)   the requantizer's result, 2 cycles later
    result : Out(stream.Signature(result_layout, always_ready=True))   to the output buffer
    """

    def __init__(self, config: HardwareConfig, out_depth: int) -> None:
        arr = config.array
        self._config = config
        ab = addr_bits(out_depth)
        a = signed(arr.act_bits)
        super().__init__({
            "tap": In(stream.Signature(tap_layout(ab), always_ready=True)),
            "x": In(a).array(arr.cols),
            "op": In(2), "lo": In(a), "hi": In(a),
            "sum": Out(signed(pool_sum_bits(config))).array(arr.cols),
            "sum_q": In(a).array(arr.cols),
            "result": Out(stream.Signature(result_layout(config, ab), always_ready=True)),
        })
        self._ab = ab

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        abits, C = arr.act_bits, arr.cols
        sbits = pool_sum_bits(self._config)
        w = vector_widths(abits)
        tap = self.tap.payload
        amin = -(1 << (abits - 1))

        # The reciprocal table (a constant look-up: logic, not block RAM), registered in stage B.
        rm = Signal(w.m_bits)
        rs = Signal(w.s_bits)

        # Stage A (accumulate) -> registers holding the pixel whose last tap came last cycle.
        n = Signal(COUNT_BITS)
        a_done, a_final = Signal(), Signal()
        a_addr = Signal(self._ab)
        sums = [Signal(signed(sbits), name=f"sum{c}") for c in range(C)]
        maxs = [Signal(signed(abits), name=f"max{c}") for c in range(C)]
        m.d.sync += a_done.eq(self.tap.valid & tap.last)
        with m.If(self.tap.valid):
            m.d.sync += [n.eq(Mux(tap.first, 0, n) + tap.count), a_addr.eq(tap.addr),
                         a_final.eq(tap.final)]
            for c in range(C):
                x = self.x[c]
                s0 = Mux(tap.first, 0, sums[c])
                mx0 = Mux(tap.first, amin, maxs[c])
                m.d.sync += [sums[c].eq(s0 + Mux(tap.inb, x, 0)),
                             maxs[c].eq(Mux(tap.inb & (x > mx0), x, mx0))]

        # Stage B: t = |sum| + n//2 and the sign; table read at n - 1; sums to the requantizer.
        b_done, b_final = Signal(), Signal()
        b_addr = Signal(self._ab)
        b_t = [Signal(unsigned(w.t_bits), name=f"t{c}") for c in range(C)]
        b_neg = [Signal(name=f"neg{c}") for c in range(C)]
        b_max = [Signal(signed(abits), name=f"bmax{c}") for c in range(C)]
        with m.Switch((n - 1)[:(VECTOR_AVG_MAX_TAPS - 1).bit_length()]):
            for i, word in enumerate(reciprocal_table(abits)):
                with m.Case(i):
                    m.d.sync += [rm.eq(word & ((1 << w.m_bits) - 1)), rs.eq(word >> w.m_bits)]
        m.d.sync += [b_done.eq(a_done), b_final.eq(a_final), b_addr.eq(a_addr)]
        for c in range(C):
            s = sums[c]
            m.d.comb += self.sum[c].eq(s)
            m.d.sync += [b_t[c].eq(Mux(s < 0, -s, s) + (n >> 1)), b_neg[c].eq(s < 0),
                         b_max[c].eq(maxs[c])]

        # Stage C: multiply by m, shift by s, restore the sign, clamp; MAX passes through.
        c_done, c_final = Signal(), Signal()
        c_addr = Signal(self._ab)
        c_y = [Signal(signed(abits), name=f"y{c}") for c in range(C)]
        m.d.sync += [c_done.eq(b_done), c_final.eq(b_final), c_addr.eq(b_addr)]
        for c in range(C):
            q = Signal(unsigned(w.t_bits + w.m_bits), name=f"q{c}")
            m.d.comb += q.eq((b_t[c] * rm) >> rs)
            sq = Signal(signed(w.t_bits + w.m_bits + 1), name=f"sq{c}")
            m.d.comb += sq.eq(Mux(b_neg[c], -q, q))
            avg = saturate(sq, self.lo, self.hi)
            m.d.sync += c_y[c].eq(Mux(self.op == PoolOpCode.MAX, b_max[c], avg))

        # Stage D: the result (SUM: the requantizer's output, sampled in stage B).
        res = self.result.payload
        m.d.comb += [self.result.valid.eq(c_done), res.addr.eq(c_addr), res.final.eq(c_final)]
        for c in range(C):
            m.d.comb += res.y[c].eq(Mux(self.op == PoolOpCode.SUM, self.sum_q[c], c_y[c]))
        return m
