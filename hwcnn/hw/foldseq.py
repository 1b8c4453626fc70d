"""Fold iterators of the GEMM tile sequencer (:mod:`.controller`): front end and back end.

Both walk the same fold order (OS: M-folds inside N-folds; WS: K-folds inside N-folds). The
front end tracks the fold whose operands are read (WS also the fold whose weights are loaded
next); the back end tracks the fold whose results are in the post-processing, one token at a
time, so a fold's results keep their own addresses while the next fold is already streaming.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Module, Mux, Signal, Value

from ..arch.timing import WS_WEIGHT_BANKS
from .params import DIM_BITS
from .pe import BANK_BITS

#: (m, n, k, a_base, b_base, c_base, p_base) of the latched descriptor.
Sizes = tuple[Signal, Signal, Signal, Signal, Signal, Signal, Signal]


def _next_bank(bank: Signal) -> Value:
    """The bank of the next fold: ``(bank + 1) mod WS_WEIGHT_BANKS``."""
    return Mux(bank == WS_WEIGHT_BANKS - 1, 0, bank + 1)


class FrontState:
    """Read-side fold state. ``last``: the fold being streamed is the tile's last."""

    def __init__(self, m: Module, seq: Any, rows: int, cols: int, is_os: bool,
                 pairs: bool = False) -> None:
        self.m, self.R, self.C, self.is_os, self.pairs = m, rows, cols, is_os, pairs
        self.a_ptr = Signal.like(seq.act_addr)
        self.b_ptr = Signal.like(seq.wgt_addr)      # OS: weight word of kk = 0, this N-fold
        self.rem = Signal(DIM_BITS + 1)             # OS: rows left (m); WS: k left
        self.n_rem = Signal(DIM_BITS + 1)           # columns left, this N-fold included
        self.a_par = Signal(BANK_BITS)              # WS: weight bank of the streamed fold
        self.w_ptr = Signal.like(seq.wgt_addr)      # WS: first weight word of the loaded fold
        self.w_nptr = Signal.like(seq.wgt_addr)     # WS: ... of its N-fold
        self.w_rem = Signal(DIM_BITS + 1)           # WS: k left at the loaded fold
        self.w_par = Signal(BANK_BITS)              # WS: bank being loaded
        self.par = Signal()                         # OS drain_rows 2: fold parity (shadow bank)
        self.last = Signal()
        m.d.comb += self.last.eq((self.rem <= rows) & (self.n_rem <= cols))

    def reset(self, desc: Any) -> None:
        self.m.d.sync += [
            self.a_ptr.eq(desc.a_base), self.b_ptr.eq(desc.b_base),
            self.rem.eq(desc.m if self.is_os else desc.k), self.n_rem.eq(desc.n),
            self.a_par.eq(0), self.w_ptr.eq(desc.b_base), self.w_nptr.eq(desc.b_base),
            self.w_rem.eq(desc.k), self.w_par.eq(0),
        ]
        if self.pairs:
            self.m.d.sync += self.par.eq(0)

    def advance_stream(self, sizes: Sizes) -> None:
        m_, _, k_, a_base = sizes[:4]
        sync = self.m.d.sync
        sync += self.a_par.eq(_next_bank(self.a_par))
        if self.pairs:
            sync += self.par.eq(~self.par)
        with self.m.If(self.rem <= self.R):
            sync += [self.rem.eq(m_ if self.is_os else k_), self.n_rem.eq(self.n_rem - self.C),
                     self.a_ptr.eq(a_base), self.b_ptr.eq(self.b_ptr + k_)]
        with self.m.Else():
            sync += [self.rem.eq(self.rem - self.R),
                     self.a_ptr.eq(self.a_ptr + (self.R if self.is_os else m_))]

    def advance_weights(self, sizes: Sizes) -> None:
        k_ = sizes[2]
        sync = self.m.d.sync
        sync += self.w_par.eq(_next_bank(self.w_par))
        with self.m.If(self.w_rem <= self.R):
            sync += [self.w_rem.eq(k_), self.w_nptr.eq(self.w_nptr + k_),
                     self.w_ptr.eq(self.w_nptr + k_)]
        with self.m.Else():
            sync += [self.w_rem.eq(self.w_rem - self.R), self.w_ptr.eq(self.w_ptr + self.R)]


class BackState:
    """Post-processing-side fold state; :meth:`issue` fills one stage record per result row."""

    def __init__(self, m: Module, seq: Any, rows: int, cols: int, is_os: bool,
                 pairs: int = 0) -> None:
        self.m, self.seq, self.R, self.C, self.is_os = m, seq, rows, cols, is_os
        self.pairs = pairs                          # OS drain_rows 2: row pairs per fold
        self.bank = Signal()                        # ... and the drained fold's shadow bank
        self.i = Signal(DIM_BITS)                   # WS: row of the fold; OS: drain row (pair)
        self.draining = Signal()                    # OS: drain rows 1 .. R-1 follow
        self.rem = Signal(DIM_BITS + 1)             # OS: rows left (m); WS: k left
        self.n_rem = Signal(DIM_BITS + 1)
        self.first = Signal()                       # WS: first K-fold of the N-fold
        self.c_nptr = Signal.like(seq.out_wr_addr)  # output word of row 0 of the N-fold
        self.c_row = Signal.like(seq.out_wr_addr)   # OS: output word of array row 0
        self.acc_nptr = Signal.like(seq.acc_wr_addr)
        self.acc_row = Signal.like(seq.acc_wr_addr)
        self.par = Signal.like(seq.par_addr)

    def reset(self, desc: Any) -> None:
        self.m.d.sync += [
            self.i.eq(0), self.draining.eq(0), self.rem.eq(desc.m if self.is_os else desc.k),
            self.n_rem.eq(desc.n), self.first.eq(1), self.c_nptr.eq(desc.c_base),
            self.c_row.eq(desc.c_base), self.acc_nptr.eq(0), self.acc_row.eq(0),
            self.par.eq(desc.p_base),
        ]
        if self.pairs:
            self.m.d.sync += self.bank.eq(0)

    def _next_n_fold(self, sizes: Sizes) -> None:
        m_, k_ = sizes[0], sizes[2]
        seq, sync = self.seq, self.m.d.sync
        # The accumulator words advance by m only for K-split tiles (a plain WS tile keeps
        # using words 0 .. m-1 for its K-folds).
        acc_next = Mux(seq.acc_in | seq.acc_out, self.acc_nptr + m_, 0)
        sync += [self.rem.eq(m_ if self.is_os else k_), self.n_rem.eq(self.n_rem - self.C),
                 self.c_nptr.eq(self.c_nptr + m_), self.c_row.eq(self.c_nptr + m_),
                 self.acc_nptr.eq(acc_next), self.acc_row.eq(acc_next),
                 self.par.eq(self.par + 1), self.first.eq(1)]

    def issue(self, tok: Value, gemm_run: Value, rec: Any, sizes: Sizes) -> None:
        m, seq, R, C = self.m, self.seq, self.R, self.C
        m_ = sizes[0]
        sync, comb = m.d.sync, m.d.comb
        n_last = self.n_rem <= C
        inner_last = self.rem <= R
        mask = Cat(*[self.n_rem > c for c in range(C)])
        if self.is_os:
            go = (tok | self.draining) & gemm_run
            # drain slot: a row, or a row pair
            slot = Signal(DIM_BITS, name="slot" if self.pairs else "row")
            comb += slot.eq(Mux(self.draining, self.i, 0))
            row: Value = slot                   # first array row of the slot
            if self.pairs:
                row = Signal(DIM_BITS + 1, name="row")
                comb += row.eq(slot << 1)
                row_last = slot == self.pairs - 1
                ok1 = (row + 1 < self.rem) & (row + 1 < R)
                comb += [rec.wacc1.eq(seq.acc_out & ok1), rec.wout1.eq(~seq.acc_out & ok1),
                         rec.bank.eq(self.bank)]
            else:
                row_last = slot == R - 1
            ok = row < self.rem
            comb += [
                seq.acc_rd_addr.eq(self.acc_row + row), seq.par_addr.eq(self.par),
                rec.valid.eq(go), rec.final.eq(n_last & inner_last & row_last),
                rec.first.eq(~seq.acc_in), rec.wacc.eq(seq.acc_out & ok),
                rec.wout.eq(~seq.acc_out & ok), rec.row.eq(slot),
                rec.acc_addr.eq(self.acc_row + row), rec.out_addr.eq(self.c_row + row),
                rec.mask.eq(mask),
            ]
            with m.If(go):
                with m.If(row_last):
                    sync += self.draining.eq(0)
                    if self.pairs:
                        sync += self.bank.eq(~self.bank)
                    with m.If(inner_last):
                        self._next_n_fold(sizes)
                    with m.Else():
                        sync += [self.rem.eq(self.rem - R), self.c_row.eq(self.c_row + R),
                                 self.acc_row.eq(self.acc_row + R)]
                with m.Else():
                    sync += [self.draining.eq(1), self.i.eq(slot + 1)]
            return
        go = tok & gemm_run
        row_last = self.i == m_ - 1
        comb += [
            seq.acc_rd_addr.eq(self.acc_nptr + self.i), seq.par_addr.eq(self.par),
            rec.valid.eq(go), rec.final.eq(n_last & inner_last & row_last),
            rec.first.eq(self.first & ~seq.acc_in),
            rec.wacc.eq(~inner_last | seq.acc_out), rec.wout.eq(inner_last & ~seq.acc_out),
            rec.row.eq(0), rec.acc_addr.eq(self.acc_nptr + self.i),
            rec.out_addr.eq(self.c_nptr + self.i), rec.mask.eq(mask),
        ]
        with m.If(go):
            with m.If(row_last):
                sync += self.i.eq(0)
                with m.If(inner_last):
                    self._next_n_fold(sizes)
                with m.Else():
                    sync += [self.rem.eq(self.rem - R), self.first.eq(0)]
            with m.Else():
                sync += self.i.eq(self.i + 1)
