"""Processing element: one signed multiply-accumulate, for either dataflow, fold-pipelined."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import Dataflow, HardwareConfig
from ..arch.timing import WS_WEIGHT_BANKS
from .arith import mac

#: Width of a WS weight-bank number (``0 .. WS_WEIGHT_BANKS - 1``).
BANK_BITS = (WS_WEIGHT_BANKS - 1).bit_length()


class PE(wiring.Component):
    """One PE of the systolic array; every output is a register (``w_out`` is a bank select).

    Parameters
    ----------
    config : HardwareConfig
        Operand widths ``act_bits`` / ``weight_bits``, accumulator ``acc_bits``, dataflow.

    Members (output stationary)
    ---------------------------
    a_in : In(signed(act_bits))       activation from the west
    last_in : In(1)                   ``a_in`` is the last operand of its fold
    b_in : In(signed(weight_bits))    weight from the north
    clr : In(1)                       ``acc <= 0`` this cycle (instead of accumulating)
    a_out, last_out, b_out : Out      ``a_in`` / ``last_in`` / ``b_in`` delayed one cycle
    res : Out(signed(acc_bits))       shadow register: with ``last_in``,
                                      ``res <= wrap(acc + a_in * b_in)`` and ``acc <= 0``,
                                      so the drain reads ``res`` while the next fold accumulates
    acc : Out(signed(acc_bits))       otherwise ``acc <= wrap(acc + a_in * b_in, acc_bits)``
    lpar_in, lpar_out, res1           ``drain_rows = 2`` only: the fold's parity travels east
                                      with ``last``; odd folds finish into ``res1``

    Members (weight stationary)
    ---------------------------
    a_in : In(signed(act_bits))       activation from the west
    sel_in : In(BANK_BITS)            weight bank of ``a_in`` (its fold number mod 3)
    w_in : In(signed(weight_bits))    weight shifted in from the north while ``load``
    load : In(1)                      ``w[lsel] <= w_in`` (bank ``lsel`` of the column shifts)
    lsel : In(BANK_BITS)              the bank being loaded
    psum_in : In(signed(acc_bits))    partial sum from the north
    a_out, sel_out : Out              ``a_in`` / ``sel_in`` delayed one cycle (east)
    w_out : Out(signed(weight_bits))  ``w[lsel]`` (combinational, to the PE below)
    psum_out : Out(signed(acc_bits))  ``psum_out <= wrap(psum_in + a_in * w[sel_in])``
    """

    def __init__(self, config: HardwareConfig) -> None:
        arr = config.array
        self._config = config
        a, b, acc = signed(arr.act_bits), signed(arr.weight_bits), signed(arr.acc_bits)
        if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
            members = {"a_in": In(a), "last_in": In(1), "b_in": In(b), "clr": In(1),
                       "a_out": Out(a), "last_out": Out(1), "b_out": Out(b),
                       "res": Out(acc), "acc": Out(acc)}
            if arr.drain_rows == 2:
                members |= {"lpar_in": In(1), "lpar_out": Out(1), "res1": Out(acc)}
        else:
            members = {"a_in": In(a), "sel_in": In(BANK_BITS), "w_in": In(b), "load": In(1),
                       "lsel": In(BANK_BITS), "psum_in": In(acc),
                       "a_out": Out(a), "sel_out": Out(BANK_BITS), "w_out": Out(b),
                       "psum_out": Out(acc)}
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        m.d.sync += self.a_out.eq(self.a_in)
        if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
            m.d.sync += [self.b_out.eq(self.b_in), self.last_out.eq(self.last_in)]
            if arr.drain_rows == 2:
                m.d.sync += self.lpar_out.eq(self.lpar_in)
            total = mac(self.acc, self.a_in, self.b_in, arr.acc_bits)
            with m.If(self.clr):
                m.d.sync += self.acc.eq(0)
            with m.Elif(self.last_in):
                m.d.sync += self.acc.eq(0)
                if arr.drain_rows == 2:
                    with m.If(self.lpar_in):
                        m.d.sync += self.res1.eq(total)
                    with m.Else():
                        m.d.sync += self.res.eq(total)
                else:
                    m.d.sync += self.res.eq(total)
            with m.Else():
                m.d.sync += self.acc.eq(total)
        else:
            banks = [Signal(signed(arr.weight_bits), name=f"w{i}")
                     for i in range(WS_WEIGHT_BANKS)]
            m.d.sync += self.sel_out.eq(self.sel_in)
            m.d.comb += self.w_out.eq(_pick(self.lsel, banks))
            for i, w_i in enumerate(banks):
                with m.If(self.load & (self.lsel == i)):
                    m.d.sync += w_i.eq(self.w_in)
            w = _pick(self.sel_in, banks)
            m.d.sync += self.psum_out.eq(mac(self.psum_in, self.a_in, w, arr.acc_bits))
        return m


def _pick(sel: Value, banks: list[Signal]) -> Value:
    """``banks[sel]`` as a multiplexer chain (``sel`` beyond the last bank: the last one)."""
    out: Value = banks[-1]
    for i in range(len(banks) - 2, -1, -1):
        out = Mux(sel == i, banks[i], out)
    return out
