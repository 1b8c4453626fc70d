"""Integer layer kernels of the golden model, on NumPy arrays, independent of the graph.

Every kernel is exact integer arithmetic expressed with :mod:`hwcnn.numerics.fixedpoint`; convolutions
are im2col + one exact GEMM per group (:func:`exact_matmul`). Tensors are channels-first, one
image: ``(C, *spatial)``. Window geometry comes resolved (:class:`hwcnn.graph.shapes.Window`), so
stride, per-side padding, dilation and ceil_mode are already decided by :mod:`hwcnn.graph.shapes`.

Hardware-facing entry points with stable signatures: :func:`gemm_tile` (one GEMM tile of the
systolic array plus its requantization) and :func:`pool_tile` (the pool unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..frontend.layers import PoolOp
from ..graph.shapes import Window
from . import fixedpoint as fp
from .fixedpoint import Overflow, Rounding

#: float32 represents every integer of magnitude <= 2**24 exactly; float64 up to 2**53.
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


def gemm_dtype(k: int, amax: int, bmax: int) -> type | None:
    """The BLAS float type that computes a ``k``-term integer dot product exactly, or None.

    float32 when chunks of at least ``min(k, 64)`` terms satisfy ``chunk * amax * bmax <=
    2**24``, else float64 under the ``2**53`` bound, else None (integer matmul needed). See
    :func:`exact_matmul` for the proof.
    """
    term = amax * bmax
    if term == 0:
        return np.float32
    for dtype, limit in ((np.float32, F32_EXACT), (np.float64, F64_EXACT)):
        # Tiny chunks would turn one GEMM into thousands; prefer the wider float then.
        if limit // term >= min(k, 64):
            return dtype
    return None


def exact_matmul(a: np.ndarray, b: np.ndarray, *, amax: int | None = None,
                 bmax: int | None = None) -> np.ndarray:
    """Exact integer ``a @ b`` (int64 result) computed on BLAS floating point.

    Why this is exact: with ``|a| <= amax`` and ``|b| <= bmax`` every partial sum of a ``k``-term
    dot product -- whatever order or fused multiply-add the BLAS uses -- is an integer of
    magnitude at most ``k * amax * bmax``. Floating point adds and multiplies integers without
    error while all operands and results stay within the exactly representable range
    (``2**24`` for float32, ``2**53`` for float64), so each BLAS call is exact if
    ``k * amax * bmax <= 2**24`` (float32) or ``<= 2**53`` (float64). The K axis is therefore
    cut into chunks that satisfy the float32 bound (int8 x int8: chunks of 1032 terms), each
    chunk product is converted to int64 and the chunks are summed in int64. When even one term
    per chunk exceeds the bound (operands wider than ~12 bits), float64 chunks are used, and
    when that fails too, NumPy's int64 matmul (exact, not BLAS, slow).

    ``a`` is ``(..., m, k)``, ``b`` is ``(..., k, n)`` (batched over leading axes), integer or
    integer-valued float arrays. ``amax``/``bmax`` are bounds on ``|a|``/``|b|`` when known
    (saves a pass over big weight matrices); they must be true bounds.
    """
    k = a.shape[-1]
    if amax is None:
        amax = int(np.abs(a).max()) if a.size else 0
    if bmax is None:
        bmax = int(np.abs(b).max()) if b.size else 0
    term = amax * bmax
    if term == 0 or k == 0:
        return np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]),
                        dtype=np.int64)
    dtype = gemm_dtype(k, amax, bmax)
    if dtype is not None:
        chunk = (F32_EXACT if dtype is np.float32 else F64_EXACT) // term
        af: np.ndarray = a.astype(dtype, copy=False)
        bf: np.ndarray = b.astype(dtype, copy=False)
        out: np.ndarray | None = None
        for k0 in range(0, k, chunk):
            part = np.matmul(af[..., k0:k0 + chunk], bf[..., k0:k0 + chunk, :])
            part = part.astype(np.int64)
            out = part if out is None else out + part
        assert out is not None      # k > 0, so at least one chunk ran
        return out
    if term * k >= 1 << 63:
        raise OverflowError(f"dot product of {k} terms of up to {term} overflows int64")
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


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
    m0 = np.asarray(rq.m0, dtype=np.int64)
    sh = np.asarray(rq.shift, dtype=np.int64)
    if m0.ndim or sh.ndim:
        shape = [1] * acc.ndim
        shape[axis] = -1
        m0 = m0.reshape(shape) if m0.ndim else m0
        sh = sh.reshape(shape) if sh.ndim else sh
    if m0.size and (int(m0.min()) < 0 or int(m0.max()) >= 1 << 31):
        raise ValueError("multiplier must be within 0..2**31-1")
    a = np.asarray(acc, dtype=np.int64)
    # acc * m0 must stay below 2**62 so round_shift cannot overflow int64.
    if a.size and m0.size and int(np.abs(a).max()) * int(m0.max()) >= 1 << 62:
        raise ValueError("acc * m0 exceeds 2**62; the requantizer's product width is 63 bits")
    r = fp.round_shift(a * m0, sh, rq.rounding)
    flo, fhi = fp.int_range(rq.bits)
    outside = (r < flo) | (r > fhi)
    if rq.act_lo is not None:
        outside &= r >= rq.act_lo
    if rq.act_hi is not None:
        outside &= r <= rq.act_hi
    n_sat = int(np.count_nonzero(outside))
    return fp.overflow(r, rq.lo, rq.hi, rq.mode, rq.bits), n_sat


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
              acc_bits: int = 32) -> np.ndarray:
    """The pool unit: reduce each row of window elements to one output -- the RTL reference.

    Parameters
    ----------
    values : (p, e) int array
        ``p`` output positions, ``e`` window elements each (padding positions hold anything).
    valid : (p, e) bool array or None
        True where the element is inside the input (padding never contributes); None = all.
    op : PoolOp
        MAX: maximum of the valid elements (input format, no clamp needed).
        AVG: ``div_round_half_away(sum, n)`` with ``n`` = number of valid elements (padding
        excluded, TFLite convention), clamped to ``[lo, hi]``; the input scale is kept.
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


def windows(x: np.ndarray, win: Window, pad_value: int = 0) -> np.ndarray:
    """View ``x`` (C, *spatial) as ``(C, *out, *kernel)`` window elements (a strided view).

    Padding is per side (``win.pads``); the high side is extended when ceil_mode windows run
    past it. Padding positions hold ``pad_value``.
    """
    r = len(win.kernel)
    if x.ndim != r + 1:
        raise ValueError(f"expected a (C, {r} spatial dims) tensor, got shape {x.shape}")
    ext = [d * (f - 1) + 1 for f, d in zip(win.kernel, win.dilation)]
    pads = [(0, 0)]
    for w, (lo, hi), o, s, e in zip(x.shape[1:], win.pads, win.out, win.stride, ext):
        need = (o - 1) * s + e
        pads.append((lo, max(hi, need - w - lo)))
    xp = np.pad(x, pads, constant_values=pad_value) if any(p != (0, 0) for p in pads) else x
    v = sliding_window_view(xp, ext, axis=tuple(range(1, r + 1)))
    sl = (slice(None),) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(win.out, win.stride)) \
        + tuple(slice(None, None, d) for d in win.dilation)
    return v[sl]


def im2col(x: np.ndarray, win: Window, groups: int = 1) -> np.ndarray:
    """``(groups, M, K)`` patches: M = output pixels, K = (C/groups) * kernel volume (c-major)."""
    c = x.shape[0]
    v = windows(x, win)                                 # (C, *out, *kernel)
    m, vol = math.prod(win.out), math.prod(win.kernel)
    v = v.reshape(groups, c // groups, m, vol)          # copies once (strided view -> dense)
    return v.transpose(0, 2, 1, 3).reshape(groups, m, (c // groups) * vol)


def conv_matrix(w: np.ndarray, groups: int, dtype: type | None = None) -> np.ndarray:
    """Conv weights ``(F, C/g, *kernel)`` as the GEMM B operand ``(g, K, F/g)`` (optionally cast)."""
    f = w.shape[0]
    b = w.reshape(groups, f // groups, -1).transpose(0, 2, 1)
    return np.ascontiguousarray(b, dtype=dtype)


def conv_acc(x: np.ndarray, w: np.ndarray | None, bias: np.ndarray | None, win: Window,
             groups: int = 1, acc_bits: int = 32, *, wmat: np.ndarray | None = None,
             wmax: int | None = None) -> np.ndarray:
    """Convolution accumulators ``(F, *out)`` of ``x`` (C, *sp) with ``w`` (F, C/groups, *kernel).

    ``acc[f, p] = bias[f] + sum_{c in group(f), t} w[f, c, t] * x[c, p*S + t*d - P_lo]``
    (cross-correlation, zero padding), one exact GEMM per group, wrapped to ``acc_bits``.
    ``wmat`` (from :func:`conv_matrix`) and ``wmax`` (max ``|w|``) may be given precomputed,
    in which case ``w`` may be None.
    """
    if wmat is None:
        if w is None:
            raise ValueError("conv_acc needs w or wmat")
        if tuple(w.shape[2:]) != tuple(win.kernel):
            raise ValueError(f"weights {w.shape} do not match kernel {win.kernel}")
        if x.shape[0] % groups or w.shape[0] % groups or w.shape[1] * groups != x.shape[0]:
            raise ValueError(f"weights {w.shape} do not fit input {x.shape} with groups={groups}")
        wmat = conv_matrix(w, groups)
    g, k, fg = wmat.shape
    if g != groups or k * groups != x.shape[0] * math.prod(win.kernel):
        raise ValueError(f"weight matrix {wmat.shape} does not fit input {x.shape}")
    if wmax is None:
        wmax = int(np.abs(wmat).max()) if wmat.size else 0
    xmax = int(np.abs(x).max()) if x.size else 0
    dtype = gemm_dtype(k, xmax, wmax)
    # im2col directly in the BLAS type: the patch matrix is the biggest temporary.
    a = im2col(np.asarray(x, dtype=dtype or np.int64), win, groups)     # (g, M, K)
    acc = exact_matmul(a, wmat, amax=xmax, bmax=wmax)                    # (g, M, F/g)
    f = g * fg
    acc = acc.transpose(0, 2, 1).reshape(f, *win.out)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64).reshape((f,) + (1,) * len(win.out))
    return fp.wrap(acc, acc_bits)


def dense_acc(x: np.ndarray, w: np.ndarray | None, bias: np.ndarray | None,
              acc_bits: int = 32, *, wmat: np.ndarray | None = None,
              wmax: int | None = None) -> np.ndarray:
    """Dense accumulators ``(N,)``: ``bias[j] + sum_i w[j, i] * x.flatten()[i]`` (CHW order).

    ``wmat`` = ``w.T`` (K, N) and ``wmax`` may be given precomputed (then ``w`` may be None).
    """
    flat = np.asarray(x).reshape(1, -1)
    if wmat is None:
        if w is None:
            raise ValueError("dense_acc needs w or wmat")
        wmat = np.asarray(w).T
    if wmat.shape[0] != flat.shape[1]:
        raise ValueError(f"weights for {wmat.shape[0]} inputs do not fit {flat.shape[1]} inputs")
    acc = exact_matmul(flat, wmat, bmax=wmax)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return fp.wrap(acc, acc_bits)[0]


def pool(x: np.ndarray, win: Window, op: PoolOp, *, lo: int = -128, hi: int = 127,
         m0: int = 1, shift: int = 0, acc_bits: int = 32) -> np.ndarray:
    """Max / avg / sum pooling of ``x`` (C, *sp) -> (C, *out); semantics of :func:`pool_tile`."""
    c = x.shape[0]
    m, vol = math.prod(win.out), math.prod(win.kernel)
    vals = windows(np.asarray(x, dtype=np.int64), win).reshape(c * m, vol)
    ones = np.ones((1,) + x.shape[1:], dtype=np.int8)
    valid = windows(ones, win, pad_value=0).reshape(m, vol).astype(bool)
    valid = np.broadcast_to(valid[None], (c, m, vol)).reshape(c * m, vol)
    if op is PoolOp.MAX and bool(valid.all()):
        out = vals.max(axis=1)          # fast path: no padding inside any window
    else:
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
