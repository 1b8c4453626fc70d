"""The integer parameters a tile layer computes with: which QLayer, which output clamp, the
GEMM B operand and per-channel requantization, the pool unit's settings.

Shared by the tile executor (:mod:`hwcnn.machine.execution`) and the program back end
(:mod:`hwcnn.compiler.codegen`), so both compute a layer from the same numbers. The lowering
decides which layers are fused (``LayerPlan.host``); the numbers come from the
:class:`~hwcnn.numerics.quantize.QuantizedNetwork`. Where the lowering fuses an activation that
the quantizer keeps as a separate clamp, the clamps are intersected (``clamp(clamp(y, a), b)``
is one clamp, under SATURATE and WRAP alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..frontend import layers as L
from ..numerics import fixedpoint as fp
from ..numerics import golden_ops as G
from ..numerics.quantize import QLayer, QuantizedNetwork


class ExecutionError(ConfigError):
    """The lowered program cannot be executed exactly with the quantized parameters."""


def tile_qlayer(qnet: QuantizedNetwork, name: str) -> QLayer:
    """The QLayer of a layer that has tiles of its own."""
    ql = qnet.by_name.get(name)
    if ql is None:
        raise ExecutionError(f"layer {name!r} has tiles of its own but the quantizer fused it "
                             f"into {qnet.alias.get(name)!r}")
    return ql


def output_clamp(qnet: QuantizedNetwork, ql: QLayer, fused: Sequence[str]) -> tuple[int, int]:
    """The output clamp of a tile layer: its own, intersected with every activation the
    lowering fused into it that the quantizer kept as a separate clamp."""
    lo, hi = ql.lo, ql.hi
    for n in fused:
        head = qnet.alias[n]
        layer = qnet.graph.nodes[n]["layer"]
        if head == ql.name:
            continue   # the quantizer fused it too: already in ql.lo/hi (or the folded BN)
        if isinstance(layer, L.BatchNorm):
            raise ExecutionError(f"batchnorm {n!r}: the lowering folds it into {ql.name!r} "
                                 f"but the quantizer computes it separately (in {head!r})")
        assert isinstance(layer, L.Activation), n
        other = qnet.by_name[head]
        lo, hi = max(lo, other.lo), min(hi, other.hi)
    if lo > hi:
        raise ExecutionError(f"layer {ql.name!r}: fused clamps leave an empty range")
    return lo, hi


def gemm_b(layer: L.Layer, weight: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """The GEMM B operand ``(groups, K, N)`` of a conv / dense / stand-alone BatchNorm, K in
    the golden im2col order (channel, then kernel positions), as ``dtype`` (wide enough for
    the weights: the compiler packs them from the narrowest one, VGG16's fc6 is 103 M
    weights)."""
    wq: np.ndarray = weight.astype(dtype, copy=False)
    match layer:
        case L.Conv(groups=groups):
            return G.conv_matrix(wq, groups)
        case L.Dense():
            return wq.T[None]
        case L.BatchNorm():
            c = wq.shape[0]
            return wq.reshape(c, 1, 1)
    raise TypeError(f"not a GEMM layer: {layer!r}")


def gemm_columns(ql: QLayer, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output channel (``f`` = groups x N): int bias (0 without one), M0 and shift."""
    rq = ql.requant
    assert rq is not None
    bias = np.zeros(f, np.int64) if ql.bias is None else ql.bias.astype(np.int64)
    m0 = np.broadcast_to(np.asarray(rq.m0, np.int64), (f,)).copy()
    shift = np.broadcast_to(np.asarray(rq.shift, np.int64), (f,)).copy()
    return bias, m0, shift


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolParams:
    """What the pool unit applies for one layer: operation, clamp, SUM's requantization."""

    op: L.PoolOp
    lo: int
    hi: int
    m0: int = 1
    shift: int = 0
    rounding: fp.Rounding = fp.Rounding.HALF_UP
    mode: fp.Overflow = fp.Overflow.SATURATE


def pool_params(name: str, layer: L.Layer, ql: QLayer, lo: int, hi: int) -> PoolParams:
    """The pool unit's settings for a pool / global-average / add / activation layer."""
    rq = ql.requant
    match layer:
        case L.Add():
            assert rq is not None
            if len(set(ql.add_m0)) != 1:
                raise ExecutionError(f"add {name!r}: its inputs need different multipliers "
                                     f"{list(ql.add_m0)}; the vector unit applies one")
            return PoolParams(op=L.PoolOp.SUM, lo=lo, hi=hi, m0=ql.add_m0[0],
                              shift=ql.add_shift, rounding=rq.rounding, mode=rq.mode)
        case L.Pool(op=L.PoolOp.SUM):
            assert rq is not None
            return PoolParams(op=L.PoolOp.SUM, lo=lo, hi=hi, m0=int(rq.m0), shift=int(rq.shift),
                              rounding=rq.rounding, mode=rq.mode)
        case L.Pool(op=op):
            return PoolParams(op=op, lo=lo, hi=hi)
        case L.GlobalAvgPool() | L.Activation():
            return PoolParams(op=L.PoolOp.AVG, lo=lo, hi=hi)
    raise TypeError(f"not a pool-unit layer: {layer!r}")
