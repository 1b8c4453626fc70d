"""Integer layer kernels of the golden model, on NumPy arrays, independent of the graph.

Every kernel is exact integer arithmetic expressed with :mod:`hwcnn.numerics.fixedpoint`; convolutions
and dense layers are exact blocked GEMMs on BLAS (:mod:`hwcnn.numerics.exactgemm`). Tensors are
channels-first, one image: ``(C, *spatial)``. Window geometry comes resolved (:class:`hwcnn.graph.shapes.Window`), so
stride, per-side padding, dilation and ceil_mode are already decided by :mod:`hwcnn.graph.shapes`.

Hardware-facing entry points with stable signatures: :func:`gemm_tile` (one GEMM tile of the
systolic array plus its requantization) and :func:`pool_tile` (the vector unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..frontend.layers import PoolOp
from ..graph.shapes import Window
from . import fixedpoint as fp
from .exactgemm import (
    F32_EXACT,
    F64_EXACT,
    conv_blocks,
    dense_exact,
    exact_matmul,
    gemm_dtype,
    im2col,
    windows,
)
from .fixedpoint import Overflow, Rounding


@dataclass(frozen=True, slots=True, kw_only=True)
class Requant:
    """Requantization parameters of one layer output: ``overflow(round_shift(acc*m0, shift))``.

    ``m0``/``shift`` are ints (per tensor) or 1-d int arrays (per output channel); ``lo``/``hi``
    are the clamp bounds (activation range narrowed by a fused ReLU/ReLU6); ``bits`` is the
    output width (the WRAP width and the range saturation is counted against).
    """

    m0: int | np.ndarray
    shift: int | np.ndarray
    lo: int
    hi: int
    bits: int = 8
    rounding: Rounding = Rounding.HALF_UP
    mode: Overflow = Overflow.SATURATE
    #: Clipping a fused activation intends (ReLU: below 0, ReLU6: also above q6); values cut
    #: there are not counted as saturated.
    act_lo: int | None = None
    act_hi: int | None = None

    def __post_init__(self) -> None:
        flo, fhi = fp.int_range(self.bits)
        if not flo <= self.lo <= self.hi <= fhi:
            raise ValueError(f"clamp [{self.lo}, {self.hi}] is not inside int{self.bits}")


def requantize_counted(acc: np.ndarray, rq: Requant, axis: int = -1) -> tuple[np.ndarray, int]:
    """Requantize ``acc`` with per-channel parameters along ``axis``; also count saturations.

    The count is the number of values whose rounded result lies outside the ``bits``-wide
    format, except where a fused ReLU/ReLU6 clips them anyway (``act_lo``/``act_hi``).
    """
    a = np.asarray(acc)
    m0, sh, m0max = _requant_params(rq, a.ndim, axis)
    return _requant_core(a if a.dtype.kind in "iu" else a.astype(np.int64), m0, sh, m0max, rq)


def _requant_params(rq: Requant, ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``rq``'s multiplier and shift as int64 arrays broadcasting along ``axis``, and max m0."""
    m0 = np.asarray(rq.m0, dtype=np.int64)
    sh = np.asarray(rq.shift, dtype=np.int64)
    if m0.ndim or sh.ndim:
        shape = [1] * ndim
        shape[axis] = -1
        m0 = m0.reshape(shape) if m0.ndim else m0
        sh = sh.reshape(shape) if sh.ndim else sh
    if m0.size and (int(m0.min()) < 0 or int(m0.max()) >= 1 << 31):
        raise ValueError("multiplier must be within 0..2**31-1")
    return m0, sh, int(m0.max()) if m0.size else 0


def _requant_core(acc: np.ndarray, m0: np.ndarray, sh: np.ndarray, m0max: int, rq: Requant
                  ) -> tuple[np.ndarray, int]:
    # acc * m0 must stay below 2**62 so round_shift cannot overflow int64 (always true for
    # accumulators of at most 32 bits: 2**31 * (2**31 - 1) < 2**62).
    narrow = acc.dtype.kind == "i" and acc.dtype.itemsize <= 4
    if not narrow and acc.size and m0.size and int(np.abs(acc).max()) * m0max >= 1 << 62:
        raise ValueError("acc * m0 exceeds 2**62; the requantizer's product width is 63 bits")
    r = fp.round_shift(np.multiply(acc, m0, dtype=np.int64), sh, rq.rounding)
    flo, fhi = fp.int_range(rq.bits)
    # saturated: r outside [flo, fhi] but inside the fused activation's range [act_lo, act_hi]
    # (the two sides are disjoint; a test implied by the side's own bound is skipped)
    alo, ahi = rq.act_lo, rq.act_hi
    n_sat = 0
    if alo is None or alo < flo:
        low = r < flo
        if alo is not None:
            low &= r >= alo
        if ahi is not None and ahi < flo - 1:
            low &= r <= ahi
        n_sat += int(np.count_nonzero(low))
    if ahi is None or ahi > fhi:
        high = r > fhi
        if ahi is not None:
            high &= r <= ahi
        if alo is not None and alo > fhi + 1:
            high &= r >= alo
        n_sat += int(np.count_nonzero(high))
    return fp.overflow(r, rq.lo, rq.hi, rq.mode, rq.bits), n_sat


def storage_dtype(lo: int, hi: int) -> type:
    """The narrowest of int8/int16/int32/int64 holding ``[lo, hi]`` (layer output storage)."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.int64


def gemm_acc(a: np.ndarray, b: np.ndarray, bias: np.ndarray | int | None = None,
             acc_bits: int = 32) -> np.ndarray:
    """Accumulators of one GEMM: ``wrap(bias[j] + sum_k a[i, k] * b[k, j], acc_bits)`` (int64)."""
    acc = exact_matmul(np.asarray(a), np.asarray(b))
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return fp.wrap(acc, acc_bits)


def gemm_tile(a: np.ndarray, b: np.ndarray, bias: np.ndarray | int | None,
              m0: int | np.ndarray, shift: int | np.ndarray, lo: int, hi: int,
              rounding: Rounding = Rounding.HALF_UP, *, acc_bits: int = 32,
              mode: Overflow = Overflow.SATURATE, bits: int | None = None) -> np.ndarray:
    """One GEMM tile of the systolic array, requantized -- the RTL/cycle-sim reference.

    ``y[i, j] = overflow(round_shift(wrap(bias[j] + sum_k a[i,k] * b[k,j], acc_bits) * m0[j],
    shift[j], rounding), lo, hi)``

    Parameters
    ----------
    a : (m, k) int array
        Activations (im2col rows).
    b : (k, n) int array
        Weights, one column per output channel.
    bias : (n,) int array, int or None
        Accumulator-scale bias (None or 0 for none).
    m0, shift : int or (n,) int arrays
        Requantization multiplier (``0 <= m0 < 2**31``) and shift (``0..62``), per tensor or
        per output column.
    lo, hi : int
        Output clamp (activation bounds).
    rounding : Rounding
        Default HALF_UP (the hardware's).
    acc_bits : int
        Accumulator register width; the sum wraps at this width as hardware adders do.
    mode, bits : Overflow, int
        Output overflow mode; WRAP needs the output width ``bits``.

    Returns
    -------
    (m, n) int64 array

    Examples
    --------
    >>> gemm_tile([[1, 2], [3, 4]], [[1, 0], [0, 1]], [0, 1], 1, 0, -128, 127).tolist()
    [[1, 3], [3, 5]]
    >>> gemm_tile([[100, 100]], [[1], [1]], None, 1, 1, -128, 127).tolist()   # 200/2
    [[100]]
    """
    acc = gemm_acc(np.asarray(a), np.asarray(b), bias, acc_bits)
    return fp.requantize(acc, m0, shift, lo, hi, rounding=rounding, mode=mode, bits=bits)


def pool_tile(values: np.ndarray, valid: np.ndarray | None, op: PoolOp, *,
              lo: int = -128, hi: int = 127, m0: int = 1, shift: int = 0,
              acc_bits: int = 32, count: np.ndarray | None = None) -> np.ndarray:
    """The vector unit: reduce each row of window elements to one output -- the RTL reference.

    Parameters
    ----------
    values : (p, e) int array
        ``p`` output positions, ``e`` window elements each (padding positions hold anything).
    valid : (p, e) bool array or None
        True where the element is inside the input (padding never contributes); None = all.
    op : PoolOp
        MAX: maximum of the valid elements (input format, no clamp needed).
        AVG: ``div_round_half_away(sum, n)`` with ``n`` = number of valid elements (padding
        excluded, TFLite convention) or ``count`` (``count_include_pad``: the taps inside the
        padded input), clamped to ``[lo, hi]``; the input scale is kept. The vector unit's
        reciprocal multiply (``fixedpoint.div_by_reciprocal``) gives the same bits.
        SUM: exact sum wrapped to ``acc_bits``, then requantized ``(m0, shift)`` HALF_UP and
        saturated to ``[lo, hi]``.

    Returns
    -------
    (p,) int64 array

    Examples
    --------
    >>> v = [[1, 4, 1, 8], [6, 3, 9, 7], [2, 9, 3, 4], [1, 2, 4, 3]]
    >>> pool_tile(v, None, PoolOp.MAX).tolist(), pool_tile(v, None, PoolOp.AVG).tolist()
    ([8, 9, 9, 4], [4, 6, 5, 3])
    """
    v = np.asarray(values, dtype=np.int64)
    if v.ndim != 2:
        raise ValueError(f"pool_tile takes a (positions, elements) array, got shape {v.shape}")
    ok = np.ones(v.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    n = ok.sum(axis=1)
    if v.shape[1] and int(n.min()) == 0:
        raise ValueError("a pooling window lies entirely in the padding")
    if count is not None:
        n = np.asarray(count, dtype=np.int64).reshape(n.shape)
    match op:
        case PoolOp.MAX:
            return np.where(ok, v, np.iinfo(np.int64).min).max(axis=1)
        case PoolOp.AVG:
            s = np.where(ok, v, 0).sum(axis=1)
            return fp.saturate(fp.div_round_half_away(s, n), lo, hi)
        case PoolOp.SUM:
            s = fp.wrap(np.where(ok, v, 0).sum(axis=1), acc_bits)
            return fp.requantize(s, m0, shift, lo, hi)
    raise ValueError(f"not a PoolOp: {op!r}")


def conv_matrix(w: np.ndarray, groups: int, dtype: type | None = None) -> np.ndarray:
    """Conv weights ``(F, C/g, *kernel)`` as the GEMM B operand ``(g, K, F/g)`` (optionally cast)."""
    f = w.shape[0]
    b = w.reshape(groups, f // groups, -1).transpose(0, 2, 1)
    return np.ascontiguousarray(b, dtype=dtype)


def _check_conv(x: np.ndarray, w: np.ndarray, win: Window, groups: int) -> None:
    if tuple(w.shape[2:]) != tuple(win.kernel):
        raise ValueError(f"weights {w.shape} do not match kernel {win.kernel}")
    if x.shape[0] % groups or w.shape[0] % groups or w.shape[1] * groups != x.shape[0]:
        raise ValueError(f"weights {w.shape} do not fit input {x.shape} with groups={groups}")


def _finish_acc(acc: np.ndarray, bias: np.ndarray | None, acc_bits: int) -> np.ndarray:
    """``wrap(acc + bias, acc_bits)``; int32 sums already wrap modulo 2**32, so a 32-bit
    accumulator stays int32 (two's-complement addition is the wrap)."""
    if bias is not None:
        b = np.asarray(bias, dtype=np.int64).astype(acc.dtype)     # modulo 2**(8*itemsize)
        acc = np.add(acc, b, out=acc if acc.flags.writeable else None)
    if acc.dtype == np.int32 and acc_bits == 32:
        return acc
    return fp.wrap(acc, acc_bits)


def conv_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, win: Window,
             groups: int = 1, acc_bits: int = 32, *, wmax: int | None = None) -> np.ndarray:
    """Convolution accumulators ``(F, *out)`` of ``x`` (C, *sp) with ``w`` (F, C/groups, *kernel).

    ``acc[f, p] = bias[f] + sum_{c in group(f), t} w[f, c, t] * x[c, p*S + t*d - P_lo]``
    (cross-correlation, zero padding), exact blocked GEMMs (:func:`conv_blocks`), wrapped to
    ``acc_bits``. ``wmax`` (max ``|w|``) may be given precomputed.
    """
    w = np.asarray(w)
    _check_conv(x, w, win, groups)
    f = w.shape[0]
    rest = math.prod(win.out[1:])
    out: np.ndarray | None = None
    for g0, g1, o0, o1, acc in conv_blocks(x, w, win, groups, acc_bits=acc_bits, wmax=wmax):
        if out is None:
            out = np.empty((groups, f // groups, math.prod(win.out)), dtype=acc.dtype)
        out[g0:g1, :, o0 * rest:o1 * rest] = acc
    assert out is not None
    b = None if bias is None else np.asarray(bias, dtype=np.int64).reshape(groups, f // groups, 1)
    return _finish_acc(out, b, acc_bits).reshape(f, *win.out)


def conv_requant(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, win: Window,
                 rq: Requant, groups: int = 1, acc_bits: int = 32, *,
                 wmax: int | None = None) -> tuple[np.ndarray, int]:
    """``requantize_counted(conv_acc(...), rq, axis=0)``, block by block (same values).

    Each block's accumulators are requantized while they are small, so no full-size int64
    temporary exists; the output ``(F, *out)`` is stored in :func:`storage_dtype` of
    ``[rq.lo, rq.hi]``. Returns the output and its saturation count.
    """
    w = np.asarray(w)
    _check_conv(x, w, win, groups)
    f = w.shape[0]
    fg = f // groups
    rest = math.prod(win.out[1:])
    m0, sh, m0max = _requant_params(rq, 1, 0)
    m0 = np.broadcast_to(m0, (f,)).reshape(groups, fg, 1)
    sh = np.broadcast_to(sh, (f,)).reshape(groups, fg, 1)
    b = None if bias is None else np.asarray(bias, dtype=np.int64).reshape(groups, fg, 1)
    y = np.empty((groups, fg, math.prod(win.out)), dtype=storage_dtype(rq.lo, rq.hi))
    n_sat = 0
    for g0, g1, o0, o1, acc in conv_blocks(x, w, win, groups, acc_bits=acc_bits, wmax=wmax):
        acc = _finish_acc(acc, None if b is None else b[g0:g1], acc_bits)
        q, n = _requant_core(acc, m0[g0:g1], sh[g0:g1], m0max, rq)
        y[g0:g1, :, o0 * rest:o1 * rest] = q
        n_sat += n
    return y.reshape(f, *win.out), n_sat


def dense_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
              acc_bits: int = 32, *, wmax: int | None = None) -> np.ndarray:
    """Dense accumulators ``(N,)``: ``bias[j] + sum_i w[j, i] * x.flatten()[i]`` (CHW order).

    ``w`` is ``(N, K)`` (PyTorch layout); ``wmax`` (max ``|w|``) may be given precomputed.
    """
    flat = np.asarray(x).reshape(-1)
    w = np.asarray(w)
    if w.ndim != 2 or w.shape[1] != flat.shape[0]:
        raise ValueError(f"weights {list(w.shape)} do not fit {flat.shape[0]} inputs")
    acc = dense_exact(flat, w, wmax=wmax)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return fp.wrap(acc, acc_bits)


def pool(x: np.ndarray, win: Window, op: PoolOp, *, lo: int = -128, hi: int = 127,
         m0: int = 1, shift: int = 0, acc_bits: int = 32) -> np.ndarray:
    """Max / avg / sum pooling of ``x`` (C, *sp) -> (C, *out); semantics of :func:`pool_tile`."""
    c = x.shape[0]
    m, vol = math.prod(win.out), math.prod(win.kernel)
    ones = np.ones((1,) + x.shape[1:], dtype=np.int8)
    valid = windows(ones, win, pad_value=0).reshape(m, vol).astype(bool)
    if op is PoolOp.MAX and bool(valid.all()):
        # fast path: no padding inside any window; the running max over the kernel taps of
        # the strided view (no copy of the window elements)
        v = windows(np.asarray(x), win)
        taps = iter(np.ndindex(*win.kernel))
        out = v[(Ellipsis, *next(taps))].astype(np.int64)
        for t in taps:
            np.maximum(out, v[(Ellipsis, *t)], out=out)
        return out
    vals = windows(np.asarray(x, dtype=np.int64), win).reshape(c * m, vol)
    valid = np.broadcast_to(valid[None], (c, m, vol)).reshape(c * m, vol)
    out = pool_tile(vals, valid, op, lo=lo, hi=hi, m0=m0, shift=shift, acc_bits=acc_bits)
    return out.reshape(c, *win.out)


def global_avg_pool(x: np.ndarray, lo: int = -128, hi: int = 127) -> np.ndarray:
    """Average over all spatial positions: (C, *sp) -> (C, 1, ...), half-away divide by H*W."""
    c = x.shape[0]
    flat = np.asarray(x, dtype=np.int64).reshape(c, -1)
    out = pool_tile(flat, None, PoolOp.AVG, lo=lo, hi=hi)
    return out.reshape((c,) + (1,) * (x.ndim - 1))


def clamp(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """ReLU (``lo = 0``) / ReLU6 (``hi = q6``) as a clamp in the integer domain."""
    return fp.saturate(x, lo, hi)


def add(xs: list[np.ndarray], m0s: list[int], shift: int, rq: Requant) -> tuple[np.ndarray, int]:
    """Residual add of operands in different scales, one rounding.

    ``y = overflow(round_shift(sum_i x_i * m0s[i], shift))``: each operand is brought to a
    common scale by its integer multiplier (``m0s[i] / 2**shift`` = s_i / s_out) and the exact
    sum is rounded once. Returns the result and its saturation count.
    """
    if len(xs) != len(m0s):
        raise ValueError("one multiplier per operand")
    total = np.zeros(np.shape(xs[0]), dtype=np.int64)
    for x, m in zip(xs, m0s):
        total = total + np.asarray(x, dtype=np.int64) * np.int64(m)
    return requantize_counted(total, replace(rq, m0=1, shift=shift))


def concat(xs: list[np.ndarray], rqs: list[Requant]) -> tuple[np.ndarray, int]:
    """Channel concat: each operand requantized to the output scale by its own ``Requant``."""
    parts, sat = [], 0
    for x, rq in zip(xs, rqs, strict=True):
        y, n = requantize_counted(np.asarray(x, dtype=np.int64), rq)
        parts.append(y)
        sat += n
    return np.concatenate(parts, axis=0), sat


def flatten(x: np.ndarray) -> np.ndarray:
    """(C, *sp) -> (C*prod(sp),) in channels-first order."""
    return np.asarray(x).reshape(-1)


__all__ = [
    "F32_EXACT", "F64_EXACT", "Requant", "add", "clamp", "concat", "conv_acc", "conv_matrix",
    "conv_requant", "dense_acc", "exact_matmul", "flatten", "gemm_acc", "gemm_dtype",
    "gemm_tile", "global_avg_pool", "im2col", "pool", "pool_tile", "requantize_counted",
    "storage_dtype", "windows",
]
