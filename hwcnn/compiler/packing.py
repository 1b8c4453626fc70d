"""Group packing of grouped GEMMs (:mod:`hwcnn.compiler`): ``P`` groups per array GEMM.

A grouped conv is ``groups`` independent GEMMs ``M x N x K`` (``N`` = filters / groups,
``K`` = kernel volume x channels / groups); a depthwise conv has ``N = 1`` and ``K = kh*kw``,
so one GEMM per channel uses one array column and a ``K``-row fold of ``R``. Packing ``P``
consecutive groups into one GEMM of ``M x PN x PK`` with a block-diagonal ``B`` (group ``p``'s
weights in rows ``p*K ..``, columns ``p*N ..``, zeros elsewhere) computes the same outputs:
the A operand of the packed GEMM is the im2col of ``P * channels/groups`` consecutive input
channels (the im2col of the conv with ``groups / P`` groups), and every zero weight adds an
exact 0 to the integer accumulator, so the results are bit-identical. The array then works
on ``P`` channels at once: a depthwise 3x3 on a 32x32 weight-stationary array takes
``ceil(9P/R)`` folds of ``m`` rows for ``P`` channels instead of ``P`` folds (``P = 32``:
9 instead of 32), and its im2col gather reads each pixel's ``P`` channels as one DRAM run
instead of ``P`` one-byte rows. The price is ``P`` times the weight bytes (``P*K x P*N`` per
packed group) and zero products in the array's slots: the report's utilization counts only the
layer's real MACs.

:func:`choose_pack` picks ``P`` among the divisors of ``groups`` with ``P*N`` at most the
array's columns (beyond that the zero blocks only add folds) by the tile search's score
(:func:`hwcnn.compiler.search.choose_gemm`: predicted cycles with DRAM stalls), so a layer is
packed only when that is faster; :func:`pack_a` / :func:`pack_b` build the packed operands in
the golden im2col order (channel-major ``K``) for the compiler and the tile-level executors.
"""

from __future__ import annotations

import numpy as np

from ..arch.config import HardwareConfig
from ..errors import ConfigError
from ..numerics import fixedpoint as fp
from .gather import Gather
from .plan import _cdiv
from .search import _GemmChoice, choose_gemm

__all__ = ["choose_pack", "pack_a", "pack_and_tiling", "pack_b", "packed_dims"]


def _tiles(ch: _GemmChoice, m: int, n: int, k: int, groups: int) -> int:
    return groups * _cdiv(m, ch.mt) * _cdiv(n, ch.nt) * (_cdiv(k, ch.kc) if ch.kc else 1)


def choose_pack(name: str, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
                gather: Gather | None = None) -> int:
    """Groups per GEMM (:func:`pack_and_tiling`)."""
    return pack_and_tiling(name, hw, m, n, k, groups, gather)[0]


def pack_and_tiling(name: str, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
                    gather: Gather | None = None) -> tuple[int, _GemmChoice]:
    """Groups per GEMM for ``groups`` GEMMs ``M x N x K`` on ``hw`` and the tiling of the
    packed GEMMs: the divisor ``P`` of ``groups`` (``P*N <= C``, accumulators wide enough for
    ``P*K`` terms) whose packed tiling has the lowest score, then the least DRAM traffic, then
    the fewest tiles (1: unpacked). Planned for the complete accelerator (a ``gather``,
    :func:`hwcnn.compiler.gather.gather_of`), every tile's load lasts at least its im2col
    gather, ``M`` pixels per GEMM whatever ``P``: DRAM traffic alone favours few groups per
    GEMM (the block-diagonal weights grow with ``P``), while the machine walks every pixel
    once per GEMM (MobileNetV2's 14x14x384 depthwise 3x3 on the KV260's 32x32 array and
    128-bit port: 12 GEMMs of 32 groups, about 60,000 machine cycles, rather than 128 of 3,
    about 530,000)."""
    arr = hw.array
    if groups == 1:
        return 1, choose_gemm(name, arr, hw, m, n, k, 1, gather)
    best: tuple[tuple[float, int, int], int, _GemmChoice] | None = None
    error: ConfigError | None = None
    for p in range(1, groups + 1):
        if groups % p or (p > 1 and (p * n > arr.cols or fp.acc_bits_for(
                arr.act_bits, arr.weight_bits, p * k) > arr.acc_bits)):
            continue
        try:
            ch = choose_gemm(name, arr, hw, m, p * n, p * k, groups // p, gather, p)
        except ConfigError as e:
            error = error or e
            continue
        key = (ch.cost, ch.traffic,
               _tiles(ch, m, p * n, p * k, groups // p))
        if best is None or key < best[0]:
            best = (key, p, ch)
    if best is None:
        assert error is not None
        raise error
    return best[1], best[2]


def packed_dims(name: str, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
                gather: Gather | None = None) -> tuple[int, int, int, int]:
    """``(P, P*N, P*K, groups/P)``: the GEMMs the array runs for ``groups`` GEMMs
    ``M x N x K`` (:func:`choose_pack`)."""
    p = choose_pack(name, hw, m, n, k, groups, gather) if groups > 1 else 1
    return p, p * n, p * k, groups // p


def pack_a(a: np.ndarray, p: int) -> np.ndarray:
    """A operands ``(groups, M, K)`` -> ``(groups/P, M, P*K)``: group ``p`` of a pack in the
    columns ``p*K ..`` (the im2col of ``groups/P`` groups, channel-major K)."""
    if p == 1:
        return a
    g, m, k = a.shape
    return a.reshape(g // p, p, m, k).transpose(0, 2, 1, 3).reshape(g // p, m, p * k)


def pack_b(b: np.ndarray, p: int) -> np.ndarray:
    """B operands ``(groups, K, N)`` -> block-diagonal ``(groups/P, P*K, P*N)``."""
    if p == 1:
        return b
    g, k, n = b.shape
    out = np.zeros((g // p, p, k, p, n), dtype=b.dtype)
    blocks = b.reshape(g // p, p, k, n)
    for i in range(p):
        out[:, i, :, i, :] = blocks[:, i]
    return out.reshape(g // p, p * k, p * n)
