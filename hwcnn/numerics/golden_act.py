"""Integer model of the host-side layer kinds: activation look-up tables and data movement.

Numeric contract (see ``docs/numerics.md``) for tanh, sigmoid, hardsigmoid, hardswish, SiLU:
the quantizer tabulates the function once per layer over EVERY input code of its ``bits``-wide
input format,

    table[q - lo] = saturate(round_half_away(f(q * s_in) / s_out), lo, hi)   for q in lo..hi

(float64 ``f`` from :func:`hwcnn.numerics.floatkinds.nonlinear`, ``lo = -2**(bits-1)``,
``hi = 2**(bits-1) - 1``, ``s_out`` from calibration), and the integer model is the look-up
``y = table[x - lo]``. The table is part of the quantized network (like the weights), so every
consumer (golden model, host) applies the same integers: bit-exact by construction. The float
error of one element is at most half an output step, ``s_out / 2``, plus the saturation at
``hi * s_out`` (a property the tests check against the float reference).

Zero padding, nearest resize and channel shuffle move integers unchanged (zero point 0, so a
padded zero is the real 0) and keep their input's scale.

A two-input ``mul`` (``x * g``, a ``(C, 1, 1)`` or ``(C,)`` operand broadcast over the other's
positions) is one exact product and one requantization to its calibrated output scale:
``y = requantize(x * g, M0, shift)`` with ``M0 * 2**-shift ~= s_x * s_g / s_y``
(:func:`hwcnn.numerics.fixedpoint.quantize_multiplier`, per tensor; the product of two
``bits``-wide values fits the 32-bit accumulator for ``bits <= 16``).

Averages the vector unit cannot compute keep their input's scale and divide the exact integer
sum half away from zero (:func:`hwcnn.numerics.fixedpoint.div_round_half_away`): adaptive
average pooling by each PyTorch window's element count, ``count_include_pad`` pooling by the
window's taps inside the padded input; dilated max / average pooling is the golden pool.

LRN: the window sum of squares ``S`` is exact (integers), and the per-``S`` real factor
``(s_in / s_out) / (bias + alpha/size * S * s_in**2) ** beta`` is tabulated at quantization time
for every possible ``S`` (``0 .. size * 2**(2*bits-2)``) as a multiplier + shift
(:func:`hwcnn.numerics.fixedpoint.quantize_multiplier`); the integer model is one
requantization ``y = saturate(round_shift(x * M0[S], shift[S]))``.

Kinds without an integer model (mul of three or more inputs, pad with a non-zero value,
sum pooling with dilation or ``count_include_pad``) are refused by :func:`check_integer_support` with one
line before quantization starts.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from ..errors import ConfigError, SpecError
from ..frontend import layers as L
from ..graph.build import ordered_nodes
from ..graph.shapes import Window, adaptive_bounds, pad_pairs
from . import fixedpoint as fp
from . import floatkinds as FK
from .golden_ops import Requant, pool, requantize_counted, windows


def _no_model(layer: L.Layer, node: dict) -> str | None:  # type: ignore[type-arg]
    """Why ``layer`` has no integer model (None when it has one)."""
    match layer:
        case L.Mul(inputs=ins) if len(ins) != 2:
            return f"kind 'mul' with {len(ins)} inputs has no integer model yet"
        case L.Pad(value=v) if v != 0.0:
            return f"kind 'pad' with a non-zero value ({v:g}) has no integer model yet"
        case L.Pool(op=L.PoolOp.SUM) if layer.count_include_pad or any(
                d > 1 for d in node["window"].dilation):
            return "kind 'sumpool' with dilation or count_include_pad has no integer model yet"
    return None


#: Largest LRN multiplier table (entries): 8-bit activations with size <= 64.
MAX_LRN_TABLE = 1 << 20


def lrn_tables(layer: L.LRN, s_in: float, s_out: float, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M0, shift)`` for every window sum of squares ``S`` (module docstring)."""
    top = layer.size * (1 << (2 * bits - 2))
    if top + 1 > MAX_LRN_TABLE:
        raise ConfigError(f"layer {layer.name!r}: the lrn integer model tabulates every sum of "
                          f"squares ({top + 1:,} entries for {bits}-bit activations and size "
                          f"{layer.size}), more than {MAX_LRN_TABLE:,}")
    s = np.arange(top + 1, dtype=np.float64)
    real = (s_in / s_out) / (layer.bias + layer.alpha / layer.size * s * s_in * s_in) ** layer.beta
    return fp.quantize_multiplier(real)


def lrn(x: np.ndarray, size: int, m0: np.ndarray, shift: np.ndarray, rq: Requant) -> np.ndarray:
    """Integer LRN: exact window sums of squares across channels, one requantization."""
    xi = np.asarray(x, dtype=np.int64)
    c = xi.shape[0]
    sq = np.cumsum(np.concatenate([np.zeros((1, *xi.shape[1:]), np.int64), xi * xi]), axis=0)
    lo_off, hi_off = (size - 1) // 2, -(-(size - 1) // 2)
    first = np.clip(np.arange(c) - lo_off, 0, c)
    last = np.clip(np.arange(c) + hi_off + 1, 0, c)
    ssum = sq[last] - sq[first]
    r = fp.round_shift(xi * m0[ssum], shift[ssum], rq.rounding)
    return fp.saturate(r, rq.lo, rq.hi)


def is_host_integer(layer: L.Layer) -> bool:
    """Layers whose integer model lives here (the golden model dispatches on this)."""
    return isinstance(layer, HOST_INTEGER_KINDS) or (
        isinstance(layer, L.Pool) and layer.op is L.PoolOp.AVG and layer.count_include_pad)


def avg_include_pad(x: np.ndarray, win: Window, lo: int, hi: int) -> np.ndarray:
    """``count_include_pad`` average: the in-bounds sum divided, half away, by the window's
    taps inside the padded input (:func:`hwcnn.numerics.floatkinds.pad_counts`)."""
    c = x.shape[0]
    m, vol = math.prod(win.out), math.prod(win.kernel)
    s = windows(np.asarray(x, dtype=np.int64), win, pad_value=0).reshape(c, m, vol).sum(axis=2)
    n = FK.pad_counts(x.shape[1:], win).reshape(1, m).astype(np.int64)
    return fp.saturate(fp.div_round_half_away(s, np.broadcast_to(n, s.shape)), lo, hi).reshape(c, *win.out)


def adaptive_avg(x: np.ndarray, output: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """Adaptive average pooling in integers: per window (PyTorch's bounds) the exact sum
    divided, half away from zero, by the window's element count; the input scale is kept."""
    xi = np.asarray(x, dtype=np.int64)
    sums, counts = xi, np.ones((1,) * xi.ndim, dtype=np.int64)
    for axis, (w, o) in enumerate(zip(x.shape[1:], output), start=1):
        bounds = adaptive_bounds(w, o)
        sums = np.concatenate([np.take(sums, range(a, b), axis=axis).sum(axis=axis, keepdims=True)
                               for a, b in bounds], axis=axis)
        shape = [1] * xi.ndim
        shape[axis] = o
        counts = counts * np.array([b - a for a, b in bounds], dtype=np.int64).reshape(shape)
    return fp.saturate(fp.div_round_half_away(sums, np.broadcast_to(counts, sums.shape)), lo, hi)


def check_integer_support(g: nx.DiGraph) -> None:
    """Raise one :class:`SpecError` for the first layer the integer model cannot compute."""
    spec = g.graph.get("spec")
    for name, node in ordered_nodes(g):
        why = _no_model(node["layer"], node)
        if why is not None:
            raise SpecError(why, layer=name, file=getattr(spec, "source", None))


def act_table(layer: L.Nonlinear, s_in: float, s_out: float, bits: int) -> np.ndarray:
    """The look-up table of the module docstring: ``2**bits`` int64 entries, index ``q - lo``."""
    lo, hi = fp.int_range(bits)
    q = np.arange(lo, hi + 1, dtype=np.int64)
    y = FK.nonlinear(layer.fn, q * s_in, layer.alpha, layer.beta)
    return fp.saturate(fp.round_half_away(y / s_out).astype(np.int64), lo, hi).astype(np.int64)


def lookup(x: np.ndarray, table: np.ndarray, bits: int) -> np.ndarray:
    """``table[x - lo]`` for integer ``x`` in the ``bits``-wide format."""
    lo, hi = fp.int_range(bits)
    xi = np.asarray(x, dtype=np.int64)
    if xi.size and (int(xi.min()) < lo or int(xi.max()) > hi):
        raise ValueError(f"look-up input outside {lo}..{hi}")
    return table[xi - lo]


def mul(xs: list[np.ndarray], rq: Requant) -> tuple[np.ndarray, int]:
    """Broadcast product of two integer tensors, requantized once (module docstring)."""
    a, b = (np.asarray(v, dtype=np.int64) for v in xs)
    full, small = (a, b) if a.size >= b.size else (b, a)
    if small.shape != full.shape:
        small = small.reshape(small.shape[:1] + (1,) * (full.ndim - 1))
    return requantize_counted(full * small, rq)


def run_host(layer: L.Layer, node: dict, ins: list[np.ndarray], table: np.ndarray | None,  # type: ignore[type-arg]
             bits: int, rq: Requant | None = None, shifts: np.ndarray | None = None
             ) -> tuple[np.ndarray, int]:
    """Integer output (and saturation count) of one host kind: a table look-up, a product, an
    average the vector unit cannot compute, or data movement."""
    lo, hi = fp.int_range(bits)
    match layer:
        case L.Mul():
            assert rq is not None
            return mul(ins, rq)
        case L.LRN(size=size):
            assert rq is not None and table is not None and shifts is not None
            return lrn(ins[0], size, table, shifts, rq), 0
        case L.AdaptiveAvgPool():
            return adaptive_avg(ins[0], node["out_shape"].spatial, lo, hi), 0
        case L.Pool(op=L.PoolOp.AVG, count_include_pad=True):
            return avg_include_pad(ins[0], node["window"], lo, hi), 0
        case L.Pool(op=op):  # dilated max / average pooling: the golden pool on the host
            return pool(ins[0], node["window"], op, lo=lo, hi=hi), 0
    return _move(layer, node, ins[0], table, bits), 0


def _move(layer: L.Layer, node: dict, x: np.ndarray, table: np.ndarray | None,  # type: ignore[type-arg]
          bits: int) -> np.ndarray:
    match layer:
        case L.Nonlinear():
            assert table is not None
            return lookup(x, table, bits)
        case L.Pad():
            return FK.pad(x, pad_pairs(layer, node["in_shapes"][0]), 0)
        case L.Resize():
            scale = tuple(o // i for o, i in zip(node["out_shape"].spatial, node["in_shapes"][0].spatial))
            return FK.resize(x, scale)
        case L.ChannelShuffle(groups=groups):
            return FK.channel_shuffle(x, groups)
    raise TypeError(f"not a host kind with an integer model: {layer!r}")


HOST_INTEGER_KINDS = (L.Nonlinear, L.Pad, L.Resize, L.ChannelShuffle, L.Mul, L.AdaptiveAvgPool,
                      L.LRN)
