"""Pooling unit: per-lane window max / exact sum / in-bounds count, and the average divider."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import HardwareConfig
from .arith import saturate
from .descriptor import PoolOpCode
from .params import WIN_BITS, pool_sum_bits


class PoolUnit(wiring.Component):
    """C lanes (channels) of window reduction, driven step by step by the tile sequencer.

    Per output pixel the sequencer pulses ``clear``; asserts ``acc_en`` once per in-bounds
    window element (with the element on ``x``); pulses ``div_init``; asserts ``div_step`` for
    exactly ``act_bits`` cycles; pulses ``finish``. Then ``y`` holds, per lane,

    * MAX: the largest accumulated element,
    * AVG: ``div_round_half_away(sum, n)`` (``fixedpoint`` contract; exact, see below),
    * SUM: unspecified here -- the sum (``sum``) goes through the requantizer instead;

    only AVG is clamped to ``[lo, hi]`` (the contract's MAX keeps the input format). The divider computes ``q = t // n`` for ``t = |sum| + n // 2`` by
    restoring division, one quotient bit per step for ``act_bits`` steps; it is exact because
    ``|sum| <= n * 2**(act_bits-1)`` implies ``t < n * 2**act_bits``.

    Parameters
    ----------
    config : HardwareConfig

    Members
    -------
    x : In(signed(act_bits)).array(cols)   window element, one per lane
    clear, acc_en, div_init, div_step, finish : In(1)   sequencer strobes
    op : In(2)                              ``PoolOpCode``
    lo, hi : In(signed(act_bits))
    sum : Out(signed(sum_bits)).array(cols)  exact window sums
    y : Out(signed(act_bits)).array(cols)    result after ``finish``
    """

    def __init__(self, config: HardwareConfig) -> None:
        arr = config.array
        self._config = config
        a = signed(arr.act_bits)
        super().__init__({
            "x": In(a).array(arr.cols),
            "clear": In(1), "acc_en": In(1), "div_init": In(1), "div_step": In(1),
            "finish": In(1), "op": In(2), "lo": In(a), "hi": In(a),
            "sum": Out(signed(pool_sum_bits(config))).array(arr.cols),
            "y": Out(a).array(arr.cols),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        abits = arr.act_bits
        sbits = pool_sum_bits(self._config)
        nbits = 2 * WIN_BITS + 1
        n = Signal(nbits)
        # Divisor shifted to the quotient bit being decided: n << (act_bits - 1) downwards.
        div = Signal(nbits + abits)
        with m.If(self.clear):
            m.d.sync += n.eq(0)
        with m.Elif(self.acc_en):
            m.d.sync += n.eq(n + 1)
        with m.If(self.div_init):
            m.d.sync += div.eq(n << (abits - 1))
        with m.Elif(self.div_step):
            m.d.sync += div.eq(div >> 1)
        for c in range(arr.cols):
            x = self.x[c]
            mx = Signal(signed(abits), name=f"max{c}")
            rem = Signal(unsigned(sbits + 1), name=f"rem{c}")
            q = Signal(unsigned(abits), name=f"q{c}")
            neg = Signal(name=f"neg{c}")
            s = self.sum[c]
            with m.If(self.clear):
                m.d.sync += [s.eq(0), mx.eq(-(1 << (abits - 1)))]
            with m.Elif(self.acc_en):
                m.d.sync += [s.eq(s + x), mx.eq(Mux(x > mx, x, mx))]
            with m.If(self.div_init):
                mag = Mux(s < 0, -s, s)
                m.d.sync += [rem.eq(mag + (n >> 1)), neg.eq(s < 0), q.eq(0)]
            with m.Elif(self.div_step):
                fits = rem >= div
                m.d.sync += [rem.eq(Mux(fits, rem - div, rem)), q.eq((q << 1) | fits)]
            avg = saturate(Mux(neg, -q, q), self.lo, self.hi)
            with m.If(self.finish):
                m.d.sync += self.y[c].eq(Mux(self.op == PoolOpCode.MAX, mx, avg))
        return m
