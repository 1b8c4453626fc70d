"""Processing element: one signed multiply-accumulate, for either dataflow."""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import Dataflow, HardwareConfig
from .arith import mac


class PE(wiring.Component):
    """One PE of the systolic array; every output is a register.

    Parameters
    ----------
    config : HardwareConfig
        Operand widths ``act_bits`` / ``weight_bits``, accumulator ``acc_bits``, dataflow.

    Members (output stationary)
    ---------------------------
    a_in : In(signed(act_bits))       activation from the west
    b_in : In(signed(weight_bits))    weight from the north
    clr : In(1)                       ``acc <= 0`` this cycle (instead of accumulating)
    a_out, b_out : Out                ``a_in`` / ``b_in`` delayed one cycle (east / south)
    acc : Out(signed(acc_bits))       ``acc <= wrap(acc + a_in * b_in, acc_bits)``

    Members (weight stationary)
    ---------------------------
    a_in : In(signed(act_bits))       activation from the west
    w_in : In(signed(weight_bits))    weight shifted in from the north while ``load``
    load : In(1)                      ``w <= w_in`` (the whole column shifts down one row)
    psum_in : In(signed(acc_bits))    partial sum from the north
    a_out : Out                       ``a_in`` delayed one cycle (east)
    w_out : Out(signed(weight_bits))  the held weight (to the PE below)
    psum_out : Out(signed(acc_bits))  ``psum_out <= wrap(psum_in + a_in * w, acc_bits)``
    """

    def __init__(self, config: HardwareConfig) -> None:
        arr = config.array
        self._config = config
        a, b, acc = signed(arr.act_bits), signed(arr.weight_bits), signed(arr.acc_bits)
        if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
            members = {"a_in": In(a), "b_in": In(b), "clr": In(1),
                       "a_out": Out(a), "b_out": Out(b), "acc": Out(acc)}
        else:
            members = {"a_in": In(a), "w_in": In(b), "load": In(1), "psum_in": In(acc),
                       "a_out": Out(a), "w_out": Out(b), "psum_out": Out(acc)}
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        m.d.sync += self.a_out.eq(self.a_in)
        if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
            m.d.sync += self.b_out.eq(self.b_in)
            with m.If(self.clr):
                m.d.sync += self.acc.eq(0)
            with m.Else():
                m.d.sync += self.acc.eq(mac(self.acc, self.a_in, self.b_in, arr.acc_bits))
        else:
            with m.If(self.load):
                m.d.sync += self.w_out.eq(self.w_in)
            m.d.sync += self.psum_out.eq(mac(self.psum_in, self.a_in, self.w_out, arr.acc_bits))
        return m
