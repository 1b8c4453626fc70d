"""Triangular delay lines: input skew and output de-skew around the systolic array."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, ShapeCastable, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Skew(wiring.Component):
    """Delay lane ``i`` of a vector by ``i`` cycles (skew) or ``lanes - 1 - i`` (de-skew).

    Lane ``i`` with delay 0 is a wire. The design keeps lanes that are not streaming at 0, so
    the registers need no enable.

    Parameters
    ----------
    lanes : int
    shape : shape-castable
    reverse : bool
        ``False``: skew (lane i delayed i); ``True``: de-skew (lane i delayed lanes-1-i).

    Members
    -------
    i_data : In(shape).array(lanes)
    o_data : Out(shape).array(lanes)
    """

    def __init__(self, lanes: int, shape: ShapeCastable | Shape, *, reverse: bool = False):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes!r}")
        self._lanes, self._shape, self._reverse = lanes, shape, reverse
        super().__init__({"i_data": In(shape).array(lanes), "o_data": Out(shape).array(lanes)})

    def delay(self, lane: int) -> int:
        """Delay of ``lane`` in cycles."""
        return self._lanes - 1 - lane if self._reverse else lane

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for i in range(self._lanes):
            prev = self.i_data[i]
            for d in range(self.delay(i)):
                reg = Signal(self._shape, name=f"lane{i}_d{d}")
                m.d.sync += reg.eq(prev)
                prev = reg
            m.d.comb += self.o_data[i].eq(prev)
        return m
