"""Float64 semantics of the layer kinds beyond conv/dense/pool/add (the reference for them).

:mod:`hwcnn.numerics.floatref` dispatches here for tanh, sigmoid, hardsigmoid, hardswish, SiLU,
broadcast multiply, LRN, pad, nearest resize, adaptive average pooling, channel shuffle and the
pooling variants (dilation, ``count_include_pad``). The data-movement kinds (pad, resize,
shuffle) work on any dtype and are shared with the integer model in
:mod:`hwcnn.numerics.golden_act`. Formulas are the ONNX / PyTorch definitions quoted in
:mod:`hwcnn.frontend.layers`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..frontend import layers as L
from ..graph.shapes import Window, adaptive_bounds
from .golden_ops import windows


def nonlinear(fn: L.Fn, x: np.ndarray, alpha: float = 1.0 / 6.0, beta: float = 0.5) -> np.ndarray:
    """The float function of a :class:`~hwcnn.frontend.layers.Nonlinear` layer."""
    x = np.asarray(x, dtype=np.float64)
    match fn:
        case L.Fn.TANH:
            return np.tanh(x)
        case L.Fn.SIGMOID:
            return _sigmoid(x)
        case L.Fn.HARDSIGMOID:
            return np.clip(alpha * x + beta, 0.0, 1.0)
        case L.Fn.HARDSWISH:
            return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
        case L.Fn.SILU:
            return x * _sigmoid(x)
    raise TypeError(f"unknown function {fn!r}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: no overflow either side
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def mul(xs: list[np.ndarray]) -> np.ndarray:
    """Broadcast product: a ``(C, 1, 1)`` or ``(C,)`` factor scales every position of its channel."""
    full = max(xs, key=lambda a: a.size)
    out = np.ones_like(full, dtype=np.float64)
    for a in xs:
        out = out * a.reshape(a.shape[:1] + (1,) * (full.ndim - 1)) if a.shape != full.shape else out * a
    return out


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """Cross-channel LRN (ONNX): window ``c - floor((size-1)/2) .. c + ceil((size-1)/2)``."""
    c = x.shape[0]
    sq = np.asarray(x, dtype=np.float64) ** 2
    lo_off, hi_off = (size - 1) // 2, -(-(size - 1) // 2)
    total = np.zeros_like(sq)
    for ch in range(c):
        total[ch] = sq[max(0, ch - lo_off):min(c, ch + hi_off + 1)].sum(axis=0)
    return x / (bias + alpha / size * total) ** beta


def pad(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float = 0) -> np.ndarray:
    """Constant padding of the spatial dims (channels untouched); keeps ``x``'s dtype."""
    return np.pad(x, ((0, 0), *pads), constant_values=value)


def resize(x: np.ndarray, scale: tuple[int, ...]) -> np.ndarray:
    """Nearest upsampling by integer factors: ``y[c, i, j] = x[c, i // s_h, j // s_w]``."""
    for axis, s in enumerate(scale, start=1):
        x = np.repeat(x, s, axis=axis)
    return x


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """``(g, C/g, ...) -> (C/g, g, ...)``, flattened back to C channels."""
    c = x.shape[0]
    return x.reshape(groups, c // groups, *x.shape[1:]).swapaxes(0, 1).reshape(x.shape)


def adaptive_avg(x: np.ndarray, output: tuple[int, ...]) -> np.ndarray:
    """PyTorch's adaptive average pooling (windows from :func:`adaptive_bounds`)."""
    y = np.asarray(x, dtype=np.float64)
    for axis, (w, o) in enumerate(zip(x.shape[1:], output), start=1):
        parts = [np.take(y, range(lo, hi), axis=axis).mean(axis=axis, keepdims=True)
                 for lo, hi in adaptive_bounds(w, o)]
        y = np.concatenate(parts, axis=axis)
    return y


def pad_counts(shape: tuple[int, ...], win: Window) -> np.ndarray:
    """Per output position the divisor of ``count_include_pad`` average pooling: the window taps
    inside the padded input (positions a ceil-mode window hangs past it do not count)."""
    padded = tuple(w + lo + hi for w, (lo, hi) in zip(shape, win.pads))
    ones = np.ones((1, *padded))
    flat = replace(win, pads=((0, 0),) * len(padded))
    v = windows(ones, flat, pad_value=0)
    return v.reshape(1, math.prod(win.out), math.prod(win.kernel)).sum(axis=2).reshape(win.out)
