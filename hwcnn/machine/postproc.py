"""The post-processing side of the stepped model (:mod:`.cyclesim`): delay lines, the
accumulator memory with its synchronous read port, and the back end that turns tokens from the
array into post-processing stages, accumulator writes and output writes (``rtl/README.md`` 5-6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig
from ..numerics import fixedpoint as fp
from ..numerics.golden_ops import Requant

#: Latency (cycles) from a value entering the post-processing pipeline to its buffer write.
POST_STAGES = timing.POST_CYCLES


class PipelineHazard(AssertionError):
    """Two folds in flight met in one register (the fold period is too short)."""


class DelayLines:
    """``lanes`` shift registers; lane ``i`` delays its input by ``delays[i]`` cycles.

    Stored as a ring: column ``head`` takes this cycle's input, so the input of ``d`` cycles
    ago sits ``d`` columns behind it and a lane with delay 0 is a plain wire.
    """

    def __init__(self, delays: np.ndarray, dtype: type = np.int64, fill: int = 0) -> None:
        depth = int(delays.max(initial=0)) + 1
        self.regs: np.ndarray = np.full((len(delays), depth), fill, dtype=dtype)
        self.lanes = np.arange(len(delays))
        self.taps = (np.arange(depth)[:, None] - delays[None, :]) % depth
        self.head = 0
        self.depth = depth

    def output(self, inp: np.ndarray) -> np.ndarray:
        """Combinational output this cycle given this cycle's input."""
        self.regs[:, self.head] = inp
        return self.regs[self.lanes, self.taps[self.head]]

    def clock(self, inp: np.ndarray) -> None:
        self.regs[:, self.head] = inp
        self.head = (self.head + 1) % self.depth


def requant_lanes(lanes: np.ndarray, rq: Requant, cols: slice) -> np.ndarray:
    """Stages 2 and 3 on the lanes of output columns ``cols``: multiply, round, wrap/clamp."""
    acc = lanes[: cols.stop - cols.start]
    m0 = np.asarray(rq.m0, dtype=np.int64)
    sh = np.asarray(rq.shift, dtype=np.int64)
    m0 = m0[cols] if m0.ndim else m0
    sh = sh[cols] if sh.ndim else sh
    y = fp.round_shift(acc * m0, sh, rq.rounding)
    return fp.overflow(y, rq.lo, rq.hi, rq.mode, rq.bits)




#: Tag of accumulator-memory words written before the tile (``acc_in``: the previous chunk).
BEFORE = -2


class AccMemory:
    """The accumulator memory: ``words`` plus the fold that wrote each word (hazard checks).
    The read port is synchronous: a read issued in cycle ``t`` sees the writes of cycles < t."""

    def __init__(self, depth: int, lanes: int) -> None:
        self.words = np.zeros((depth, lanes), dtype=np.int64)
        self.tags = np.full(depth, BEFORE)
        self.port: tuple[np.ndarray, int] = (self.words[0].copy(), BEFORE)

    def read(self, word: int) -> tuple[np.ndarray, int]:
        word %= len(self.words)  # OS rows past the tile edge: a don't-care word, not written
        return self.words[word].copy(), int(self.tags[word])


@dataclass(frozen=True, slots=True, kw_only=True)
class RowToken:
    """One result row's token payload: which fold and row it is and where it goes."""

    fold: int          # fold index in issue order
    nf: int            # N-fold (output columns nf*C ..)
    row: int           # tile row
    arow: int          # OS: array row of the drain multiplexer (WS: 0)
    first: bool        # stage 1 adds the bias (or, with acc_in, the stored partial sum)
    prev: int          # fold that must have written the accumulator word read (hazard check)
    acc_word: int
    wacc: bool         # stage 2 writes the sum to the accumulator memory
    wout: bool         # stage 4 writes the requantized row
    final: bool        # the tile's last row


class BackEnd:
    """Post-processing side: the back-end fold iterator (one :class:`RowToken` per issue), the
    accumulator-memory read one cycle before stage 1, stage 1 (bias or partial sum), the
    accumulator write in stage 2, requantization and the output write in stage 4 (= post
    stage 3), and ``done`` one cycle after the final row's write."""

    def __init__(self, array: ArrayConfig, mem: AccMemory, out: np.ndarray, bias: np.ndarray,
                 rq: Requant, n: int, *, chained: bool, acc_in: bool, acc_out: bool) -> None:
        self.array, self.mem, self.out, self.bias, self.rq, self.n = array, mem, out, bias, rq, n
        self.chained, self.acc_in, self.acc_out = chained, acc_in, acc_out
        self.rows: list[RowToken] = []
        self.next_row = 0
        self.issued: RowToken | None = None           # registered issue -> stage 1
        self.stages: list[tuple[RowToken, np.ndarray] | None] = [None] * POST_STAGES
        self.finished = False
        #: (row, first column, end column) written in the last cycle, or None (for observers)
        self.last_write: tuple[int, int, int] | None = None

    def add(self, **kw: Any) -> None:
        self.rows.append(RowToken(**kw))

    def clock(self, issue: bool, data: Callable[[RowToken], tuple[np.ndarray, tuple[int, int]]]
              ) -> None:
        """One cycle. ``issue``: a token arrived; ``data(row)`` gives the array's values of the
        row in stage 1 and the fold/row tag they carry."""
        c = self.array.cols
        # Stage 1 (registered issue of the previous cycle): add bias or partial sum.
        entering = None
        rec = self.issued
        if rec is not None:
            vals, tag = data(rec)
            if tag != (rec.fold, rec.row):
                raise PipelineHazard(f"post-processing expected fold {rec.fold} row {rec.row}, "
                                     f"the array delivered fold {tag[0]} row {tag[1]}")
            cols = slice(rec.nf * c, min(rec.nf * c + c, self.n))
            if rec.first and not self.acc_in:
                addend = np.zeros(c, dtype=np.int64)
                addend[: cols.stop - cols.start] = self.bias[cols]
            else:
                addend, wrote = self.mem.port
                # Rows past the OS tile edge read don't-care words.
                if (rec.wacc or rec.wout) and wrote != rec.prev:
                    raise PipelineHazard(f"fold {rec.fold} row {rec.row} read a partial sum "
                                         f"of fold {wrote}, expected {rec.prev}")
            entering = (rec, fp.wrap(vals + addend, self.array.acc_bits))
        leaving = self.stages[-1]
        after_s1 = self.stages[0]
        self.stages = [entering, *self.stages[:-1]]
        # Accumulator read for the row issued now (sees writes of earlier cycles only).
        new = None
        if issue:
            new = self.rows[self.next_row]
            self.next_row += 1
            self.mem.port = self.mem.read(new.acc_word)
        # Stage 2: the stage-1 sum goes to the accumulator memory (end of this cycle).
        if after_s1 is not None and after_s1[0].wacc:
            r_, s = after_s1
            self.mem.words[r_.acc_word] = s
            self.mem.tags[r_.acc_word] = r_.fold
        # Stage 4: requantized row written.
        if self.finished:
            raise AssertionError("clocked after done")
        self.last_write = None
        if leaving is not None:
            r_, s = leaving
            if r_.wout:
                self.last_write = (r_.row, r_.nf * c, min(r_.nf * c + c, self.n))
                cols = slice(r_.nf * c, min(r_.nf * c + c, self.n))
                self.out[r_.row, cols] = requant_lanes(s, self.rq, cols)
            self.finished = bool(r_.final)
        self.issued = new
