"""SCALE-Sim 3.0's compute cycles (its ``CALC`` interface-bandwidth mode), as a closed form.

SCALE-Sim maps a GEMM ``Out[M x N] = A[M x K] @ B[K x N]`` (``M`` = output pixels, ``N`` =
filters, ``K`` = window size) onto an ``R x C`` array as a spatial ``Sr x Sc`` problem streamed
over ``T`` cycles (``scalesim/compute/systolic_compute_{os,ws,is}.py``):

* output stationary: ``Sr = M, Sc = N, T = K``; per fold ``L = T + R + C - 2``
  (ifmap demand: ``T`` rows + ``C - 1`` drain rows, skewed over ``R`` columns);
* weight stationary: ``Sr = K, Sc = N, T = M``; per fold ``L = 2R + C + T - 2``
  (``R`` weight-load rows + ``T`` + ``C - 1`` drain rows, skewed over ``R`` columns);
* input stationary: ``Sr = K, Sc = M, T = N``; per fold ``L = 2R + C + T - 2`` (the same
  demand shape with the roles of the operands swapped);

with ``F = ceil(Sr / R) * ceil(Sc / C)`` folds that do not overlap. Its memory model then
walks the demand matrices line by line; with ``InterfaceBandwidth: CALC`` nothing stalls and the
reported "Total Cycles" is the cycle of the last output line, ``F * L - 1`` (lines are numbered
from 0). Convolution outputs are ``ceil((H - Fh + S) / S)`` per axis
(``scalesim/topology_utils.py``, ``topo_calc_hyperparams``; no padding: topologies give the
padded input), which is not hwcnn's floor rule: :func:`conv_gemm_dims` is that rule, once.

hwcnn's own closed forms (:mod:`hwcnn.arch.timing`) count the RTL's real cycles: the same
folds, but pipelined (one fold every ``P`` cycles: OS ``max(K, R, C)``, WS
``max(M, R, 3)``) with fill, drain, read latencies and post-processing paid once
per tile, plus one start cycle. For a layer that is one tile, native minus SCALE-Sim is exactly
``F * (P - L) + fill + 2``: :func:`native_difference` says so per layer. (Before fold
pipelining it was ``F * (R + 4) + 2`` (OS) and ``5 F + 2`` (WS).)

Examples
--------
>>> scalesim_gemm_timing(196, 64, 576, 16, 16, "os").cycles     # 52 folds of 606, minus 1
31511
>>> scalesim_gemm_timing(196, 64, 576, 16, 16, "ws").cycles     # 144 folds of 242, minus 1
34847
"""

from __future__ import annotations

from dataclasses import dataclass

from . import timing
from .config import ArrayConfig

#: SCALE-Sim's dataflow names (``Dataflow`` in its ``.cfg``).
SCALESIM_DATAFLOWS = ("os", "ws", "is")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _positive(**sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, not {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleSimTiming:
    """One layer on SCALE-Sim's array: ``cycles = folds * fold_cycles - 1``.

    ``sr x sc`` is the spatial problem, ``t`` its streamed dimension (see module docstring).
    """

    dataflow: str
    sr: int
    sc: int
    t: int
    row_folds: int
    col_folds: int
    fold_cycles: int

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def cycles(self) -> int:
        return self.folds * self.fold_cycles - 1


def conv_gemm_dims(ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                   filters: int, stride_h: int, stride_w: int) -> tuple[int, int, int, int, int]:
    """SCALE-Sim's convolution -> ``(ofmap_h, ofmap_w, M, N, K)`` (ceil-mode outputs).

    >>> conv_gemm_dims(224, 224, 11, 11, 3, 96, 4, 4)   # ceil(217/4) = 55 (floor rule: 54)
    (55, 55, 3025, 96, 363)
    """
    _positive(ifmap_h=ifmap_h, ifmap_w=ifmap_w, filter_h=filter_h, filter_w=filter_w,
              channels=channels, filters=filters, stride_h=stride_h, stride_w=stride_w)
    if filter_h > ifmap_h or filter_w > ifmap_w:
        raise ValueError(f"filter {filter_h}x{filter_w} is larger than the ifmap "
                         f"{ifmap_h}x{ifmap_w}")
    oh = _cdiv(ifmap_h - filter_h + stride_h, stride_h)
    ow = _cdiv(ifmap_w - filter_w + stride_w, stride_w)
    return oh, ow, oh * ow, filters, filter_h * filter_w * channels


def spatial_mapping(m: int, n: int, k: int, dataflow: str) -> tuple[int, int, int]:
    """``(Sr, Sc, T)`` of GEMM ``M x N x K`` under SCALE-Sim's ``dataflow``."""
    match dataflow:
        case "os":
            return m, n, k
        case "ws":
            return k, n, m
        case "is":
            return k, m, n
    raise ValueError(f"unknown SCALE-Sim dataflow {dataflow!r}; expected os, ws or is")


def scalesim_gemm_timing(m: int, n: int, k: int, rows: int, cols: int,
                         dataflow: str) -> ScaleSimTiming:
    """Folds and per-fold cycles of GEMM ``M x N x K`` on an ``rows x cols`` array."""
    _positive(m=m, n=n, k=k, rows=rows, cols=cols)
    sr, sc, t = spatial_mapping(m, n, k, dataflow)
    if dataflow == "os":
        fold = t + rows + cols - 2
    else:
        fold = 2 * rows + cols + t - 2
    return ScaleSimTiming(dataflow=dataflow, sr=sr, sc=sc, t=t, row_folds=_cdiv(sr, rows),
                          col_folds=_cdiv(sc, cols), fold_cycles=fold)


def scalesim_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """SCALE-Sim's "Total Cycles" of one GEMM in ``CALC`` mode: ``F * L - 1``."""
    return scalesim_gemm_timing(m, n, k, rows, cols, dataflow).cycles


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeDifference:
    """hwcnn's one-tile cycles of a GEMM versus SCALE-Sim's, and what the difference is made of.

    Native: ``start + F * P + fill`` (pipelined folds: one fold every ``P`` cycles, fill and
    drain once per tile, :func:`hwcnn.arch.timing.gemm_tile_timing`); SCALE-Sim:
    ``F * L - 1`` (folds back to back, each paying its whole latency ``L``). So
    ``native - scalesim = F * (P - L) + fill + start + 1``.
    """

    native: int
    scalesim: int
    folds: int
    period: int
    scalesim_fold: int
    fill: int
    start: int

    @property
    def difference(self) -> int:
        return self.native - self.scalesim

    def explain(self, array: ArrayConfig) -> str:
        """E.g. ``F*(P-L)+fill+2 = 52*(576-606)+35+2 = -1,523``."""
        return (f"F*(P-L)+fill+{self.start + 1} = {self.folds}*({self.period}-"
                f"{self.scalesim_fold})+{self.fill}+{self.start + 1} = {self.difference:,}")


def native_difference(m: int, n: int, k: int, array: ArrayConfig) -> NativeDifference:
    """Compare :func:`hwcnn.arch.timing.gemm_tile_cycles` (the GEMM as one tile) with SCALE-Sim.

    Both models fold identically (OS: ``ceil(M/R) ceil(N/C)``, WS: ``ceil(K/R) ceil(N/C)``);
    hwcnn's RTL overlaps consecutive folds (period ``P``) and pays fill, drain, read latencies
    and post-processing once per tile, SCALE-Sim pays each fold's latency ``L`` in full.
    """
    ss = scalesim_gemm_timing(m, n, k, array.rows, array.cols, array.dataflow.value)
    tile = timing.gemm_tile_timing(m, n, k, array)
    if tile.folds != ss.folds:  # cannot happen: both count the same folds
        raise AssertionError(f"fold counts differ: native {tile.folds}, SCALE-Sim {ss.folds}")
    return NativeDifference(native=tile.total, scalesim=ss.cycles, folds=ss.folds,
                            period=tile.fold_cycles, scalesim_fold=ss.fold_cycles,
                            fill=tile.fill_cycles, start=timing.START_CYCLES)


__all__ = [
    "SCALESIM_DATAFLOWS", "NativeDifference", "ScaleSimTiming", "conv_gemm_dims",
    "native_difference", "scalesim_cycles", "scalesim_gemm_timing", "spatial_mapping",
]
