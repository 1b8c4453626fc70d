"""Exact cycle counts of the accelerator RTL (``hwcnn/hw``): the ONE source of truth.

Every number here is what the Amaranth design does, cycle for cycle; ``tests/test_hw_top.py``
measures the RTL in Amaranth's simulator and compares. The lowering/report code and the
cycle-level simulator import these functions instead of re-deriving the formulas.

A tile's cycle count ``T`` runs from the cycle in which ``start`` is sampled (cycle 0) to the
cycle in which ``done`` is high (cycle ``T``); see ``rtl/README.md`` section 5.

Folds are pipelined: a fold of the next (or previous) fold is in flight in the array while the
current fold streams, so fill and drain are paid once per tile, and consecutive folds start
``P`` cycles apart (the fold period, rtl/README.md 5):

* output stationary (OS), folds ``(mf, nf)``, ``G = F_M * F_N``:
  ``P = max(R*ceil(k/R), C)``; the activation words are those of WS (``R`` consecutive
  elements of one im2col row, rtl/README.md 3), and every array row holds one word in a shift
  register that feeds it one element per cycle: the word of row ``r``'s block ``b`` (elements
  ``b*R .. b*R + R-1``) is read in cycle ``b*R + r`` of the fold, one read per cycle, so a fold
  reads ``R*ceil(k/R)`` words (the skew is in the read order; at least ``R``, so the ``R``
  drain rows of a fold finish within the next fold's period). Every PE keeps its finished
  sum in a shadow register (the ``last`` token travelling with the final operand moves it
  there and restarts the accumulator), and the drain reads the shadow rows while the next
  fold accumulates. ``T = 1 + (G - 1) * P + (k + R + C + 3)``: ``k`` weight reads (the last
  operand), ``C`` until row 0's last product is in its shadow register, ``R`` drain rows, 3
  post-processing stages (the last one writes), 1 cycle to ``done``.
* OS with ``drain_rows = 2``: ``P = max(R*ceil(k/R), ceil(R/2), ceil((C + floor(R/2))/2))``,
  ``T`` as above. Two shadow registers per PE (even / odd folds), a row pair read per cycle
  into ``2C`` lanes: pair ``q`` is read ``floor(R/2) + q`` cycles after row 0 is complete
  (rows complete one per cycle), and pair 0 must be read before PE(0, 0) finishes fold
  ``g + 2`` into the same register (``2P >= C + floor(R/2)``). (Since the activation reads
  take ``R*ceil(k/R) >= R`` cycles a fold, the pairs no longer shorten ``P``: it equals the
  one-row drain's whenever ``C <= R*ceil(k/R)``.)
* weight stationary (WS), folds ``(kf, nf)``, ``G = F_K * F_N``:
  ``P = max(m, R, 3)``; every PE holds three weight banks (:data:`WS_WEIGHT_BANKS`), the
  fold's bank number (``g mod 3``) travels with its activations and selects the bank, and the
  next fold's weights shift into a free bank in the last ``R`` cycles of the current fold's
  window. ``T = 1 + (G - 1) * P + (m + 2R + C + 3)``: ``R`` weight loads of the first fold,
  ``m`` activation rows, ``R + C`` through the array and the de-skew, 3 post-processing, 1 to
  ``done``. ``R``: a fold's ``R`` weight words are read in its predecessor's window (one
  weight read port); a bank is reloaded (``R`` skewed shifts) after its last use by fold
  ``g - 3`` and before the first use by fold ``g``, so ``3P >= m + 2R - 2``, which
  ``P >= max(m, R)`` always satisfies (with two banks it was ``2P >= m + 2R - 2``, i.e.
  ``P >= ceil(m/2) + R - 1``); ``3``: a K-fold's partial sum is written back to the
  accumulator memory before the next K-fold reads it.
* the K-split flags ``acc_in`` / ``acc_out`` of a GEMM tile never change its count (the
  partial sum replaces the bias in the existing post-processing stage 1), so a K-split chain
  of chunks ``k_1 .. k_s`` takes ``sum_j gemm_tile_cycles(m, n, k_j)`` (rtl/README.md 5);
* vector unit (max / average / sum pooling, element-wise adds, stand-alone ReLU/ReLU6;
  rtl/README.md 4-5): C lanes, one window tap per cycle, output pixels issued back to back,
  so a tile of ``P = out_h * out_w`` pixels of ``taps = win_h * win_w`` takes
  ``T = 1 + P * taps + VECTOR_DEPTH``: 1 to latch the descriptor, one read per tap, then the
  last pixel's pipeline (``VECTOR_DEPTH = 4``: read latency, accumulate, reciprocal lookup,
  multiply/shift/clamp; the write is in cycle ``T - 1``), paid once per tile.

Examples
--------
>>> from hwcnn.arch.config import ArrayConfig, Dataflow
>>> os4 = ArrayConfig(rows=4, cols=4, dataflow=Dataflow.OUTPUT_STATIONARY)
>>> gemm_tile_cycles(4, 4, 8, os4)          # one fold: 1 + 8 + 4 + 4 + 3
20
>>> gemm_tile_cycles(8, 8, 8, os4)          # 4 folds, P = 8: 1 + 3 * 8 + 19
44
>>> gemm_tile_cycles(8, 4, 6, os4)          # 2 folds, P = max(4*ceil(6/4), 4) = 8: 1 + 8 + 17
26
>>> os4d2 = ArrayConfig(rows=4, cols=4, dataflow=Dataflow.OUTPUT_STATIONARY, drain_rows=2)
>>> gemm_tile_cycles(8, 4, 1, os4d2)        # 2 folds, P = max(4, 2, 3) = 4: 1 + 4 + 12
17
>>> ws4 = ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY)
>>> gemm_tile_cycles(5, 4, 4, ws4)          # one fold: 1 + 5 + 8 + 4 + 3
21
>>> gemm_tile_cycles(5, 4, 8, ws4)          # 2 folds, P = max(5, 4, 3) = 5: 1 + 5 + 20
26
>>> gemm_tile_cycles(2, 4, 8, ws4)          # 2 folds, P = max(2, 4, 3) = 4: 1 + 4 + 17
22
>>> pool_tile_cycles(2, 2, 2, 2, os4)       # 4 pixels of 4 taps: 1 + 16 + 4
21
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ArrayConfig, Dataflow

#: Cycle 0 (``start`` sampled) -> first fold cycle: the descriptor is latched.
START_CYCLES = 1
#: Buffer (``amaranth.lib.memory`` synchronous read port) read latency.
READ_LATENCY = 1
#: Post-processing pipeline: bias/partial-sum add, multiply by M0, round/shift/clamp (+ write).
POST_CYCLES = 3
#: Vector unit pipeline after the last tap's read: read latency, accumulate, reciprocal
#: lookup, multiply/shift/clamp (the result is written in the cycle after, ``done`` one later).
VECTOR_DEPTH = 4


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_sizes(**sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, not {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TileTiming:
    """``total = START_CYCLES + folds * fold_cycles + fill_cycles`` (one GEMM or pool tile).

    ``fold_cycles`` is the steady-state fold period ``P`` (GEMM) or the cycles per output pixel
    (vector unit, a "fold" is one pixel); ``fill_cycles`` the fill and drain paid once per tile
    (the last fold's latency beyond ``P``; vector unit: ``VECTOR_DEPTH``). ``compute_cycles``
    is the useful stream of one fold (OS: ``k``, WS: ``m`` operand words; vector unit: the
    taps), ``macs`` the useful
    work (GEMM: ``m*n*k``; pool: 0).
    """

    folds: int
    fold_cycles: int
    fill_cycles: int
    compute_cycles: int
    macs: int

    @property
    def total(self) -> int:
        return START_CYCLES + self.folds * self.fold_cycles + self.fill_cycles


#: WS: a K-fold's partial sum must be in the accumulator memory (written in post-processing
#: stage 2) before the next K-fold's read of the same word (one cycle before its stage 1).
WS_MIN_FOLD_PERIOD = 3
#: WS: weight banks per PE. Fold ``g`` multiplies with bank ``g mod 3``; the bank that fold
#: ``g + 1`` loads was last used by fold ``g - 2``, so a reload needs ``3P >= m + 2R - 2``,
#: implied by ``P >= max(m, R)`` (rtl/README.md 5).
WS_WEIGHT_BANKS = 3


def drain_slots(array: ArrayConfig) -> int:
    """OS drain reads per fold: ``R`` rows, or ``ceil(R/2)`` row pairs (``drain_rows = 2``)."""
    return _ceil_div(array.rows, 2) if array.drain_rows == 2 else array.rows


def os_act_reads(k: int, array: ArrayConfig) -> int:
    """OS: activation words read per fold, ``R*ceil(k/R)`` (row ``r``'s word of block ``b`` in
    cycle ``b*R + r``; the lanes past ``k`` of the last block are 0)."""
    return _ceil_div(k, array.rows) * array.rows


def gemm_period_terms(m: int, k: int, array: ArrayConfig) -> tuple[tuple[str, int], ...]:
    """The named terms whose maximum is the fold period ``P`` (for explanations).

    OS: ``("R*ceil(k/R)", ...), ("C", C)`` (the activation words a fold reads, one per
    cycle, which is at least the ``R`` drain rows); OS with ``drain_rows = 2``: ``("R*ceil(k/R)", ...), ("ceil(R/2)", ...),
    ("ceil((C+floor(R/2))/2)", ...)`` (a row pair per drain cycle; each
    PE's two shadow registers keep a fold's sums for ``2P`` cycles, and the first pair is read
    ``floor(R/2)`` cycles after row 0 is complete, so ``2P >= C + floor(R/2)``);
    WS: ``("m", m), ("R", R), ("3", 3)``.
    """
    r, c = array.rows, array.cols
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        reads = os_act_reads(k, array)
        if array.drain_rows == 2:
            return (("R*ceil(k/R)", reads), ("ceil(R/2)", drain_slots(array)),
                    ("ceil((C+floor(R/2))/2)", _ceil_div(c + r // 2, 2)))
        return (("R*ceil(k/R)", reads), ("C", c))
    return (("m", m), ("R", r), ("3", WS_MIN_FOLD_PERIOD))


def gemm_fold_cycles(m: int, k: int, array: ArrayConfig) -> int:
    """Fold period ``P`` (cycles between consecutive folds' streams); ``m``/``k`` are the
    TILE's sizes (see module docstring)."""
    return max(v for _, v in gemm_period_terms(m, k, array))


def gemm_last_fold_terms(m: int, k: int, array: ArrayConfig) -> tuple[tuple[str, int], ...]:
    """The named terms whose sum is the one-fold latency (:func:`gemm_last_fold_cycles`).

    OS: ``k`` operand reads, ``C`` read latency + skew, ``R`` drain rows, 3 post-processing;
    WS: ``R`` weight loads, ``m`` activation rows, ``R + C`` array and de-skew, 3 post.
    """
    r, c = array.rows, array.cols
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        if array.drain_rows == 2:
            return (("k (reads)", k), ("C (latency + skew)", c),
                    ("floor(R/2) (until row pair 0 is complete)", r // 2),
                    ("ceil(R/2) (drain row pairs)", drain_slots(array)),
                    ("3 (post-processing)", POST_CYCLES))
        return (("k (reads)", k), ("C (latency + skew)", c), ("R (drain rows)", r),
                ("3 (post-processing)", POST_CYCLES))
    return (("R (weight loads)", r), ("m (activation rows)", m), ("R+C (array, de-skew)", r + c),
            ("3 (post-processing)", POST_CYCLES))


def gemm_last_fold_cycles(m: int, k: int, array: ArrayConfig) -> int:
    """Cycles from the last fold's first read to ``done`` minus one: the one-fold latency."""
    return sum(v for _, v in gemm_last_fold_terms(m, k, array))


def gemm_fold_grid(m: int, n: int, k: int, array: ArrayConfig) -> tuple[tuple[str, int], ...]:
    """The named factors whose product is the tile's fold count ``G``.

    OS: ``ceil(m/R) * ceil(n/C)``; WS: ``ceil(k/R) * ceil(n/C)``.
    """
    r, c = array.rows, array.cols
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        return (("ceil(m/R)", _ceil_div(m, r)), ("ceil(n/C)", _ceil_div(n, c)))
    return (("ceil(k/R)", _ceil_div(k, r)), ("ceil(n/C)", _ceil_div(n, c)))


def gemm_tile_timing(m: int, n: int, k: int, array: ArrayConfig) -> TileTiming:
    """Breakdown of one GEMM tile ``Out[m x n] = A[m x k] @ B[k x n]`` on ``array``."""
    _check_sizes(m=m, n=n, k=k)
    (_, f1), (_, f2) = gemm_fold_grid(m, n, k, array)
    folds = f1 * f2
    stream = k if array.dataflow is Dataflow.OUTPUT_STATIONARY else m
    period = gemm_fold_cycles(m, k, array)
    return TileTiming(folds=folds, fold_cycles=period,
                      fill_cycles=gemm_last_fold_cycles(m, k, array) - period,
                      compute_cycles=stream, macs=m * n * k)


def gemm_tile_cycles(m: int, n: int, k: int, array: ArrayConfig) -> int:
    """Cycles from ``start`` to ``done`` of one GEMM tile (exact)."""
    return gemm_tile_timing(m, n, k, array).total


def pool_pixel_cycles(win_h: int, win_w: int, array: ArrayConfig) -> int:
    """Issue cycles per output pixel on the vector unit: one per window tap (MAX, AVG, SUM,
    adds: ``taps`` = the number of inputs, ReLU: 1), the same for every op."""
    _check_sizes(win_h=win_h, win_w=win_w)
    return win_h * win_w


def pool_tile_timing(out_h: int, out_w: int, win_h: int, win_w: int,
                     array: ArrayConfig) -> TileTiming:
    """Breakdown of one vector-unit tile (one group of ``array.cols`` channels): a "fold" is
    one output pixel of ``taps`` cycles, the pipeline depth is paid once (``fill_cycles``)."""
    _check_sizes(out_h=out_h, out_w=out_w, win_h=win_h, win_w=win_w)
    taps = pool_pixel_cycles(win_h, win_w, array)
    return TileTiming(folds=out_h * out_w, fold_cycles=taps, fill_cycles=VECTOR_DEPTH,
                      compute_cycles=taps, macs=0)


def pool_tile_cycles(out_h: int, out_w: int, win_h: int, win_w: int, array: ArrayConfig) -> int:
    """Cycles from ``start`` to ``done`` of one vector-unit tile (exact):
    ``1 + out_h * out_w * win_h * win_w + VECTOR_DEPTH``."""
    return pool_tile_timing(out_h, out_w, win_h, win_w, array).total


#: A refused descriptor (a zero size): ``done`` and ``error`` one cycle after ``start``.
REFUSED_TILE_CYCLES = START_CYCLES

#: Compute core (``hwcnn.hw.soc.compute``, rtl/README.md 10.1): the GEMM/VEC executor computes
#: the instruction's buffer extents bit-serially, one step per bit of ``ceil(u/D)`` (u a 16-bit
#: size, D <= 2**16 a lane count, so ``u + D - 1`` has 17 bits); the products are final
#: ``COMPUTE_EXTENT_CYCLES`` cycles after the instruction handshake.
COMPUTE_EXTENT_CYCLES = 17
#: Instruction handshake (cycle 0) -> the cycle the engine samples ``start``, or, for an
#: instruction outside its buffers, the range check's cycle (status BUF_RANGE one cycle later).
COMPUTE_ISSUE_CYCLES = COMPUTE_EXTENT_CYCLES + 1
#: Engine ``done`` -> the first cycle the status is offered.
COMPUTE_STATUS_CYCLES = 1
#: Instruction handshake -> the first cycle the status (0) of a zero-size GEMM / VEC (a NOP,
#: ``hwcnn.isa.fields.SIZE_FIELDS``) is offered.
COMPUTE_NOP_CYCLES = 1


def compute_insn_cycles(tile_cycles: int | None) -> int:
    """Cycles from a GEMM/VEC instruction's handshake (cycle 0) to the first cycle its status
    is offered: ``18 + T + 1`` for a tile of ``T`` start -> done cycles
    (:func:`gemm_tile_cycles`, :func:`pool_tile_cycles`), ``18 + 1`` for ``None``: refused
    by the range check. (A zero-size instruction never reaches the engine: a NOP,
    :data:`COMPUTE_NOP_CYCLES`.)"""
    if tile_cycles is None:
        return COMPUTE_ISSUE_CYCLES + 1
    return COMPUTE_ISSUE_CYCLES + tile_cycles + COMPUTE_STATUS_CYCLES

__all__ = [
    "COMPUTE_EXTENT_CYCLES",
    "COMPUTE_ISSUE_CYCLES",
    "COMPUTE_NOP_CYCLES",
    "COMPUTE_STATUS_CYCLES",
    "POST_CYCLES",
    "READ_LATENCY",
    "REFUSED_TILE_CYCLES",
    "START_CYCLES",
    "VECTOR_DEPTH",
    "WS_MIN_FOLD_PERIOD",
    "WS_WEIGHT_BANKS",
    "TileTiming",
    "compute_insn_cycles",
    "gemm_fold_cycles",
    "gemm_fold_grid",
    "gemm_last_fold_cycles",
    "gemm_last_fold_terms",
    "gemm_period_terms",
    "gemm_tile_cycles",
    "gemm_tile_timing",
    "os_act_reads",
    "pool_pixel_cycles",
    "pool_tile_cycles",
    "pool_tile_timing",
]
