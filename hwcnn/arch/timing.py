"""Exact cycle counts of the accelerator RTL (``hwcnn/hw``): the ONE source of truth.

Every number here is what the Amaranth design does, cycle for cycle; ``tests/test_hw_top.py``
measures the RTL in Amaranth's simulator and compares. The lowering/report code and the
cycle-level simulator import these functions instead of re-deriving the formulas.

A tile's cycle count ``T`` runs from the cycle in which ``start`` is sampled (cycle 0) to the
cycle in which ``done`` is high (cycle ``T``); see ``rtl/README.md`` section 5.

Folds are not overlapped:

* output stationary (OS), per fold ``(mf, nf)``: ``k + R + C - 2`` skewed compute
  + 1 buffer read latency + ``R`` drain + 3 post-processing;
* weight stationary (WS), per fold ``(kf, nf)``: ``R`` preload + ``m + R + C - 2`` skewed
  stream + 2 buffer read latencies + 3 post-processing;
* the K-split flags ``acc_in`` / ``acc_out`` of a GEMM tile never change its count (the
  partial sum replaces the bias in the existing post-processing stage 1), so a K-split chain
  of chunks ``k_1 .. k_s`` takes ``sum_j gemm_tile_cycles(m, n, k_j)`` (rtl/README.md 5);
* pool, per output pixel: ``win_h * win_w`` reads + 1 read latency + 1 divider set-up
  + ``act_bits`` divider steps + 1 select + 1 write.

Examples
--------
>>> from hwcnn.arch.config import ArrayConfig, Dataflow
>>> os4 = ArrayConfig(rows=4, cols=4, dataflow=Dataflow.OUTPUT_STATIONARY)
>>> gemm_tile_cycles(4, 4, 8, os4)          # one fold: 1 + (8 + 4 + 4 - 2) + 1 + 4 + 3
23
>>> ws4 = ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY)
>>> gemm_tile_cycles(5, 4, 4, ws4)          # one fold: 1 + 4 + (5 + 4 + 4 - 2) + 5
21
>>> pool_tile_cycles(2, 2, 2, 2, os4)       # 4 pixels of 4 + 8 + 4
65
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
#: Pool pixel overhead besides window reads and divider steps: read latency, divider set-up,
#: result select/clamp, write.
POOL_PIXEL_EXTRA = 4


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_sizes(**sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, not {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TileTiming:
    """``total = START_CYCLES + folds * fold_cycles`` (one GEMM or pool tile).

    For pool tiles a "fold" is one output pixel. ``macs`` is the useful work (GEMM: ``m*n*k``;
    pool: 0), ``compute_cycles`` the part of ``fold_cycles`` that is skewed array streaming.
    """

    folds: int
    fold_cycles: int
    compute_cycles: int
    macs: int

    @property
    def total(self) -> int:
        return START_CYCLES + self.folds * self.fold_cycles


def gemm_fold_cycles(m: int, k: int, array: ArrayConfig) -> int:
    """Cycles of one GEMM fold (see module docstring); ``m``/``k`` are the TILE's sizes."""
    r, c = array.rows, array.cols
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        return (k + r + c - 2) + READ_LATENCY + r + POST_CYCLES
    return r + (m + r + c - 2) + 2 * READ_LATENCY + POST_CYCLES


def gemm_tile_timing(m: int, n: int, k: int, array: ArrayConfig) -> TileTiming:
    """Breakdown of one GEMM tile ``Out[m x n] = A[m x k] @ B[k x n]`` on ``array``."""
    _check_sizes(m=m, n=n, k=k)
    r, c = array.rows, array.cols
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        folds = _ceil_div(m, r) * _ceil_div(n, c)
        compute = k + r + c - 2
    else:
        folds = _ceil_div(k, r) * _ceil_div(n, c)
        compute = m + r + c - 2
    return TileTiming(folds=folds, fold_cycles=gemm_fold_cycles(m, k, array),
                      compute_cycles=compute, macs=m * n * k)


def gemm_tile_cycles(m: int, n: int, k: int, array: ArrayConfig) -> int:
    """Cycles from ``start`` to ``done`` of one GEMM tile (exact)."""
    return gemm_tile_timing(m, n, k, array).total


def pool_pixel_cycles(win_h: int, win_w: int, array: ArrayConfig) -> int:
    """Cycles per output pixel of a pool tile (the same for MAX, AVG and SUM)."""
    return win_h * win_w + array.act_bits + POOL_PIXEL_EXTRA


def pool_tile_timing(out_h: int, out_w: int, win_h: int, win_w: int,
                     array: ArrayConfig) -> TileTiming:
    """Breakdown of one pool tile (one group of ``array.cols`` channels)."""
    _check_sizes(out_h=out_h, out_w=out_w, win_h=win_h, win_w=win_w)
    return TileTiming(folds=out_h * out_w, fold_cycles=pool_pixel_cycles(win_h, win_w, array),
                      compute_cycles=win_h * win_w, macs=0)


def pool_tile_cycles(out_h: int, out_w: int, win_h: int, win_w: int, array: ArrayConfig) -> int:
    """Cycles from ``start`` to ``done`` of one pool tile (exact)."""
    return pool_tile_timing(out_h, out_w, win_h, win_w, array).total


#: A refused descriptor (a zero size): ``done`` and ``error`` one cycle after ``start``.
REFUSED_TILE_CYCLES = START_CYCLES

__all__ = [
    "POOL_PIXEL_EXTRA", "POST_CYCLES", "READ_LATENCY", "REFUSED_TILE_CYCLES", "START_CYCLES",
    "TileTiming", "gemm_fold_cycles", "gemm_tile_cycles", "gemm_tile_timing",
    "pool_pixel_cycles", "pool_tile_cycles", "pool_tile_timing",
]
