"""One requantization lane: multiplier + single rounding shift + overflow + clamp."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import HardwareConfig
from .arith import round_shift, saturate, wrap
from .params import M0_BITS, SHIFT_BITS

#: Cycles from an input to its output (stage 1: product; stage 2: round/overflow/clamp).
REQUANT_LATENCY = 2


class Requant(wiring.Component):
    """``y = clamp(overflow(round_shift(acc * m0, shift, rounding)), lo, hi)`` in 2 stages.

    Bit-exact with :func:`hwcnn.numerics.fixedpoint.requantize` (``bits = act_bits``). All inputs are
    sampled together; ``y`` shows the result ``REQUANT_LATENCY`` cycles later.

    Parameters
    ----------
    config : HardwareConfig

    Members
    -------
    acc : In(signed(acc_bits))
    m0 : In(unsigned(31))           0 <= m0 < 2**31
    shift : In(unsigned(6))         0..62
    rounding : In(2)                ``descriptor.ROUNDING_CODE``
    wrap : In(1)                    1: Overflow.WRAP (low act_bits bits), then clamp
    lo, hi : In(signed(act_bits))   clamp range (lo <= hi)
    y : Out(signed(act_bits))
    """

    def __init__(self, config: HardwareConfig) -> None:
        arr = config.array
        self._config = config
        a = signed(arr.act_bits)
        super().__init__({
            "acc": In(signed(arr.acc_bits)), "m0": In(unsigned(M0_BITS)),
            "shift": In(unsigned(SHIFT_BITS)), "rounding": In(2), "wrap": In(1),
            "lo": In(a), "hi": In(a), "y": Out(a),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        p = Signal(signed(arr.acc_bits + M0_BITS + 1))
        shift = Signal.like(self.shift)
        rounding = Signal.like(self.rounding)
        wrap_en = Signal()
        lo, hi = Signal.like(self.lo), Signal.like(self.hi)
        m.d.sync += [p.eq(self.acc * self.m0), shift.eq(self.shift),
                     rounding.eq(self.rounding), wrap_en.eq(self.wrap),
                     lo.eq(self.lo), hi.eq(self.hi)]
        r = Signal(signed(arr.acc_bits + M0_BITS + 2))
        m.d.comb += r.eq(round_shift(p, shift, rounding))
        v = Mux(wrap_en, wrap(r, arr.act_bits), r)
        m.d.sync += self.y.eq(saturate(v, lo, hi))
        return m
