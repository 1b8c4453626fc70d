"""Float64 reference forward pass of a network: the yardstick for quantization error.

Same layer semantics as the golden model (cross-correlation convs with zero padding, average
pooling over the in-bounds elements only, dense on the CHW-flattened input), but in float64,
unquantized, and with BatchNorm applied as written (not folded).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import networkx as nx
import numpy as np

from ..frontend import layers as L
from ..graph.build import ordered_nodes
from ..graph.shapes import Window, pad_pairs
from . import floatkinds as FK
from .exactgemm import im2col_blocks, windows
from .weights import Params

#: Largest float64 im2col block (elements) the reference builds at once: 16 MiB.
FLOAT_BLOCK_ELEMS = 1 << 21


def conv_float(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, win: Window,
               groups: int) -> np.ndarray:
    """Float convolution ``(C, *sp) -> (F, *out)``: im2col + matmul, a block of rows at a time.

    The im2col blocks (:func:`hwcnn.numerics.exactgemm.im2col_blocks`, in the row-major
    layout of :func:`~hwcnn.numerics.exactgemm.im2col`) bound the temporary whatever the layer
    size. A layer that fits one block makes the BLAS call of the whole matrix; a bigger one
    makes it on blocks of at least ``FLOAT_BLOCK_ELEMS / 2`` elements, which OpenBLAS computes
    with the same kernel: every shipped model's reference is bit-identical to the unblocked
    one (tiny blocks would take its small-matrix kernels and round differently).
    """
    f = w.shape[0]
    fg = f // groups
    rest = math.prod(win.out[1:])
    bm = w.reshape(groups, fg, -1).transpose(0, 2, 1)          # (g, K, F/g)
    prod = np.empty((groups, math.prod(win.out), fg))
    for g0, g1, o0, o1, a in im2col_blocks(np.asarray(x, dtype=np.float64), win, groups,
                                           transposed=False, most=FLOAT_BLOCK_ELEMS):
        # (g, M, K) rows of the patch matrix (the layout of im2col) times (g, K, F/g)
        prod[g0:g1, o0 * rest:o1 * rest] = np.matmul(a, bm[g0:g1])
    # (with one group a strided view: later reductions see the memory order they always saw)
    y = prod.transpose(0, 2, 1).reshape(f, *win.out)
    if b is not None:
        y += b.reshape((f,) + (1,) * len(win.out))
    return y


def pool_float(x: np.ndarray, win: Window, op: L.PoolOp, count_include_pad: bool = False
               ) -> np.ndarray:
    """Float max / average (in-bounds divisor, or the padded window's with
    ``count_include_pad``) / sum pooling."""
    c = x.shape[0]
    m, vol = math.prod(win.out), math.prod(win.kernel)
    vals = windows(x, win).reshape(c, m, vol)
    valid = windows(np.ones((1,) + x.shape[1:]), win, pad_value=0).reshape(1, m, vol) > 0
    match op:
        case L.PoolOp.MAX:
            out = np.where(valid, vals, -np.inf).max(axis=2)
        case L.PoolOp.AVG if count_include_pad:
            div = FK.pad_counts(x.shape[1:], win).reshape(1, m)
            out = np.where(valid, vals, 0.0).sum(axis=2) / div
        case L.PoolOp.AVG:
            out = np.where(valid, vals, 0.0).sum(axis=2) / valid.sum(axis=2)
        case L.PoolOp.SUM:
            out = np.where(valid, vals, 0.0).sum(axis=2)
    return out.reshape(c, *win.out)


def run_float(g: nx.DiGraph, params: Params, x: np.ndarray) -> dict[str, np.ndarray]:
    """Forward one image ``x`` (input shape, float) through the network in float64.

    Returns every layer's output by layer name.
    """
    return dict(iter_float(g, params, x))


def iter_float(g: nx.DiGraph, params: Params, x: np.ndarray
               ) -> Iterator[tuple[str, np.ndarray]]:
    """:func:`run_float` as a stream: yields ``(layer name, output)`` in layer order.

    Holds a tensor only until its last reader has run (the caller keeps what it wants), so a
    pass over a big network holds a few activations, not all of them.
    """
    readers = Counter(s for _, node in ordered_nodes(g) for s in node["layer"].inputs)
    out: dict[str, np.ndarray] = {}
    for name, node in ordered_nodes(g):
        layer = node["layer"]
        ins = [out[s] for s in layer.inputs]
        match layer:
            case L.Input():
                y = np.asarray(x, dtype=np.float64)
            case L.Conv():
                y = conv_float(ins[0], params[f"{name}.weight"], params.get(f"{name}.bias"),
                               node["window"], layer.groups)
                y = _act(y, layer.activation)
            case L.Dense():
                y = params[f"{name}.weight"] @ ins[0].reshape(-1)
                if layer.bias:
                    y = y + params[f"{name}.bias"]
                y = _act(y, layer.activation)
            case L.Pool():
                y = pool_float(ins[0], node["window"], layer.op, layer.count_include_pad)
            case L.GlobalAvgPool():
                c = ins[0].shape[0]
                y = ins[0].reshape(c, -1).mean(axis=1).reshape((c,) + (1,) * (ins[0].ndim - 1))
            case L.BatchNorm():
                shape = (-1,) + (1,) * (ins[0].ndim - 1)
                p = {k: params[f"{name}.{k}"].reshape(shape) for k in ("gamma", "beta", "mean", "var")}
                y = p["gamma"] * (ins[0] - p["mean"]) / np.sqrt(p["var"] + layer.eps) + p["beta"]
            case L.Activation():
                y = _act(ins[0], layer.fn)
            case L.Add():
                y = sum(ins[1:], ins[0])
            case L.Concat():
                y = np.concatenate(ins, axis=0)
            case L.Flatten():
                y = ins[0].reshape(-1)
            case L.Dropout():
                y = ins[0]
            case L.Softmax():
                e = np.exp(ins[0] - ins[0].max(axis=0, keepdims=True))
                y = e / e.sum(axis=0, keepdims=True)
            case L.Nonlinear():
                y = FK.nonlinear(layer.fn, ins[0], layer.alpha, layer.beta)
            case L.Mul():
                y = FK.mul(ins)
            case L.LRN():
                y = FK.lrn(ins[0], layer.size, layer.alpha, layer.beta, layer.bias)
            case L.Pad():
                y = FK.pad(ins[0], _pads_of(node), layer.value)
            case L.Resize():
                y = FK.resize(ins[0], _scale_of(node))
            case L.AdaptiveAvgPool():
                y = FK.adaptive_avg(ins[0], node["out_shape"].spatial)
            case L.ChannelShuffle():
                y = FK.channel_shuffle(ins[0], layer.groups)
            case _:
                raise TypeError(f"unknown layer record {layer!r}")
        for s in layer.inputs:
            readers[s] -= 1
            if not readers[s]:
                out.pop(s, None)
        if readers[name]:
            out[name] = y
        del ins
        yield name, y


def _pads_of(node: dict) -> tuple[tuple[int, int], ...]:  # type: ignore[type-arg]
    """A pad layer's per-dim (low, high) for its resolved input shape."""
    return pad_pairs(node["layer"], node["in_shapes"][0])


def _scale_of(node: dict) -> tuple[int, ...]:  # type: ignore[type-arg]
    """A resize layer's integer factor per spatial dim (output / input)."""
    return tuple(o // i for o, i in zip(node["out_shape"].spatial, node["in_shapes"][0].spatial))


def _act(y: np.ndarray, act: L.Act | None) -> np.ndarray:
    match act:
        case None:
            return y
        case L.Act.RELU:
            return np.maximum(y, 0.0)
        case L.Act.RELU6:
            return np.clip(y, 0.0, 6.0)
    raise TypeError(f"unknown activation {act!r}")
