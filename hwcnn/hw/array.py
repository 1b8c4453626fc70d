"""The R x C systolic array: a grid of PEs chained to their neighbours, nothing else.

Control tokens travel with the data like the operands: OS ``last`` east with the activations,
WS the weight-bank select east with the activations and the load strobe per column.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import Dataflow, HardwareConfig
from .pe import BANK_BITS, PE


class SystolicArray(wiring.Component):
    """``rows`` x ``cols`` PEs; no skew, no control logic (see :mod:`.skew`, :mod:`.controller`).

    Parameters
    ----------
    config : HardwareConfig

    Members (output stationary)
    ---------------------------
    a_in : In(signed(act_bits)).array(rows)     west edge, row r
    last_in : In(1).array(rows)                 ``a_in[r]`` is the last operand of its fold
    b_in : In(signed(weight_bits)).array(cols)  north edge, column c
    clr : In(1)                                 clear every accumulator
    res : Out(signed(acc_bits)).array(rows, cols)  shadow (finished-fold) register of PE(r, c)
    lpar_in : In(1).array(rows), res1 : Out(...).array(rows, cols)   ``drain_rows = 2``: the
                                                fold parity with ``last_in``; odd folds' shadows

    Members (weight stationary)
    ---------------------------
    a_in : In(signed(act_bits)).array(rows)     west edge, row r
    sel_in : In(BANK_BITS).array(rows)          weight bank of ``a_in[r]`` (fold number mod 3)
    w_in : In(signed(weight_bits)).array(cols)  weight shifted into row 0 of column c
    load : In(1).array(cols)                    shift bank ``lsel[c]`` of column c down a row
    lsel : In(BANK_BITS).array(cols)
    psum_out : Out(signed(acc_bits)).array(cols)  bottom edge, column c (psum_in of row 0 is 0)
    """

    def __init__(self, config: HardwareConfig) -> None:
        arr = config.array
        self._config = config
        r, c = arr.rows, arr.cols
        a, b, acc = signed(arr.act_bits), signed(arr.weight_bits), signed(arr.acc_bits)
        if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
            members = {"a_in": In(a).array(r), "last_in": In(1).array(r),
                       "b_in": In(b).array(c), "clr": In(1), "res": Out(acc).array(r, c)}
            if arr.drain_rows == 2:
                members |= {"lpar_in": In(1).array(r), "res1": Out(acc).array(r, c)}
        else:
            members = {"a_in": In(a).array(r), "sel_in": In(BANK_BITS).array(r),
                       "w_in": In(b).array(c), "load": In(1).array(c),
                       "lsel": In(BANK_BITS).array(c),
                       "psum_out": Out(acc).array(c)}
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        arr = self._config.array
        rows, cols = arr.rows, arr.cols
        pes = [[PE(self._config) for _ in range(cols)] for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                m.submodules[f"pe_{i}_{j}"] = pe = pes[i][j]
                west = self.a_in[i] if j == 0 else pes[i][j - 1].a_out
                m.d.comb += pe.a_in.eq(west)
                if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
                    north = self.b_in[j] if i == 0 else pes[i - 1][j].b_out
                    west_l = self.last_in[i] if j == 0 else pes[i][j - 1].last_out
                    m.d.comb += [pe.b_in.eq(north), pe.last_in.eq(west_l),
                                 pe.clr.eq(self.clr), self.res[i][j].eq(pe.res)]
                    if arr.drain_rows == 2:
                        west_p = self.lpar_in[i] if j == 0 else pes[i][j - 1].lpar_out
                        m.d.comb += [pe.lpar_in.eq(west_p), self.res1[i][j].eq(pe.res1)]
                else:
                    west_s = self.sel_in[i] if j == 0 else pes[i][j - 1].sel_out
                    north_w = self.w_in[j] if i == 0 else pes[i - 1][j].w_out
                    north_p = 0 if i == 0 else pes[i - 1][j].psum_out
                    m.d.comb += [pe.sel_in.eq(west_s), pe.w_in.eq(north_w),
                                 pe.psum_in.eq(north_p), pe.load.eq(self.load[j]),
                                 pe.lsel.eq(self.lsel[j])]
        if arr.dataflow is Dataflow.WEIGHT_STATIONARY:
            for j in range(cols):
                m.d.comb += self.psum_out[j].eq(pes[rows - 1][j].psum_out)
        return m
