"""Exact integer GEMMs on floating-point BLAS, blocked so that no temporary grows with the model.

The exactness bound (``docs/numerics.md`` section 7): with ``|a| <= amax`` and ``|b| <= bmax``
every partial sum of a ``k``-term integer dot product, in any order and with or without fused
multiply-add, is an integer of magnitude at most ``k * amax * bmax``; IEEE arithmetic on
integers is exact while every operand and result stays within ``2**24`` (float32) or ``2**53``
(float64). So K is cut into chunks of at most ``limit // (amax * bmax)`` terms, each chunk is
one BLAS call (exact), and the chunk results are summed in integers.

Blocking never changes a result (every value is an exact integer, whatever the order), only
the size of the temporaries: convolutions build the im2col matrix transposed, ``(K, columns)``
(one copy whose inner runs are output rows), a block of output rows and groups at a time
(:data:`BLOCK_ELEMS`), and multiply the layer's own ``(F, K)`` weight layout from the left, so
the product is already channels-first; dense layers cast their int weights to float a block
of rows x one K chunk at a time. Float copies of the weights live for one layer (conv) or one
block (dense).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..graph.shapes import Window

#: float32 represents every integer of magnitude <= 2**24 exactly; float64 up to 2**53.
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
#: Largest im2col block (K x columns elements) a convolution builds at once: 16 MiB in float32.
BLOCK_ELEMS = 1 << 22
#: Largest float weight block (rows x K chunk) a dense layer casts at once: 2 MiB in float32.
DENSE_BLOCK_ELEMS = 1 << 19


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


def _row_blocks(n: int, most: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into as few ranges of at most ``max(most, 1)`` as possible, their sizes
    differing by at most one."""
    if n <= 0:
        return []
    nb = -(-n // max(1, most))
    size, extra = divmod(n, nb)        # the first `extra` ranges take one more
    cuts = [i * size + min(i, extra) for i in range(nb + 1)]
    return list(itertools.pairwise(cuts))


def k_chunks(k: int, term: int, dtype: type) -> list[tuple[int, int]]:
    """K ranges ``[k0, k1)`` of at most ``limit // term`` terms each, as equal as possible.

    ``limit`` is ``2**24`` for float32 and ``2**53`` for float64; ``term = amax * bmax > 0``.
    """
    limit = F32_EXACT if dtype is np.float32 else F64_EXACT
    return _row_blocks(k, limit // term)


def _check_int64(k: int, term: int) -> None:
    if term * k >= 1 << 63:
        raise OverflowError(f"dot product of {k} terms of up to {term} overflows int64")


def exact_matmul(a: np.ndarray, b: np.ndarray, *, amax: int | None = None,
                 bmax: int | None = None) -> np.ndarray:
    """Exact integer ``a @ b`` (int64 result) computed on BLAS floating point.

    Why this is exact: every partial sum of a ``k``-term dot product of ``|a| <= amax`` by
    ``|b| <= bmax`` -- whatever order or fused multiply-add the BLAS uses -- is an integer of
    magnitude at most ``k * amax * bmax``, and floating point adds and multiplies integers
    without error while all operands and results stay within ``2**24`` (float32) or ``2**53``
    (float64). The K axis is therefore cut into chunks that satisfy the float32 bound (int8 x
    int8: at most 1032 terms), each chunk is cast to float and multiplied by BLAS (exact), its
    product converted to int64, and the chunks are summed in int64. When even 64-term chunks
    exceed the bound (operands wider than ~10 bits), float64 chunks are used, and when that
    fails too, NumPy's int64 matmul (exact, not BLAS, slow).

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
    if dtype is None:
        _check_int64(k, term)
        return np.matmul(a.astype(np.int64), b.astype(np.int64))
    out: np.ndarray | None = None
    for k0, k1 in k_chunks(k, term, dtype):
        part = np.matmul(a[..., k0:k1].astype(dtype), b[..., k0:k1, :].astype(dtype))
        part = part.astype(np.int64)
        out = part if out is None else np.add(out, part, out=out)
    assert out is not None      # k > 0, so at least one chunk ran
    return out


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


def im2col_blocks(x: np.ndarray, win: Window, groups: int, *, transposed: bool = True,
                  per_position: int | None = None, most: int | None = None
                  ) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """im2col of ``x`` (C, *sp) in blocks: ``(g0, g1, o0, o1, a)``, ``a`` in ``x``'s dtype.

    A block covers groups ``g0..g1-1`` and the output positions whose first spatial index lies
    in ``[o0, o1)`` (row-major over the output). ``transposed``: ``a`` is ``(g1 - g0, K,
    positions)`` with ``a[g, c * vol + t, p]`` = input channel ``c`` of the group at kernel tap
    ``t`` (row-major) of position ``p``, zero in the padding; else ``(g1 - g0, positions, K)``,
    the rows of :func:`im2col` (same memory layout). Blocks are sized so that ``groups x
    positions x per_position`` (default ``K``, the patch elements) is at most ``most``, or one
    group and one output row (default ``most``: :data:`BLOCK_ELEMS`).
    """
    most = BLOCK_ELEMS if most is None else most
    c, r = x.shape[0], len(win.kernel)
    cg = c // groups
    kernel = tuple(win.kernel)
    k = cg * math.prod(kernel)
    rest = tuple(win.out[1:])
    cost = k if per_position is None else per_position
    per_group = cost * math.prod(win.out)
    if per_group <= most:
        gblocks = _row_blocks(groups, most // max(per_group, 1))
        oblocks = [(0, win.out[0])]
    else:
        gblocks = [(g, g + 1) for g in range(groups)]
        oblocks = _row_blocks(win.out[0], most // (cost * math.prod(rest)))
    v = windows(x, win)                                 # (C, *out, *kernel), a view
    s = len(rest) + 1
    for g0, g1 in gblocks:
        for o0, o1 in oblocks:
            gb, ob = g1 - g0, o1 - o0
            # (groups, channels, rows, *rest, *kernel): a view; one copy into the layout below
            blk = v[g0 * cg:g1 * cg, o0:o1].reshape(gb, cg, ob, *rest, *kernel)
            if transposed:              # (g, c, *kernel, rows, *rest): runs are output rows
                perm = (0, 1, *range(s + 2, s + 2 + r), *range(2, s + 2))
                a = np.empty((gb, cg, *kernel, ob, *rest), dtype=x.dtype)
                a[...] = blk.transpose(perm)
                yield g0, g1, o0, o1, a.reshape(gb, k, -1)
            else:                       # (g, rows, *rest, c, *kernel): the rows of im2col
                perm = (0, *range(2, s + 2), 1, *range(s + 2, s + 2 + r))
                a = np.empty((gb, ob, *rest, cg, *kernel), dtype=x.dtype)
                a[...] = blk.transpose(perm)
                yield g0, g1, o0, o1, a.reshape(gb, -1, k)


def conv_blocks(x: np.ndarray, w: np.ndarray, win: Window, groups: int, *, acc_bits: int = 32,
                wmax: int | None = None) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """Exact convolution products ``sum_{c, t} w[f, c, t] * x[c, p*S + t*d - P_lo]`` in blocks.

    Yields ``(g0, g1, o0, o1, acc)`` with ``acc`` of shape ``(g1 - g0, F/groups, columns)`` for
    the blocks of :func:`im2col_blocks`; no bias. The dtype is int32 when every chunk result
    fits it exactly (float32 chunks) and ``acc_bits <= 32``: chunk sums then wrap modulo
    ``2**32``, which is what the accumulator's ``wrap(acc_bits)`` needs anyway; else int64.
    ``x`` and ``w`` (F, C/groups, *kernel) are integer arrays (any width).
    """
    f = w.shape[0]
    fg = f // groups
    k = w.size // f
    xmax = int(np.abs(x).max()) if x.size else 0
    if wmax is None:
        wmax = int(np.abs(w).max()) if w.size else 0
    term = xmax * wmax
    wm = w.reshape(groups, fg, k)
    if term == 0:
        m = math.prod(win.out)
        zeros = np.zeros((groups, fg, m), dtype=np.int32 if acc_bits <= 32 else np.int64)
        yield 0, groups, 0, win.out[0], zeros
        return
    dtype = gemm_dtype(k, xmax, wmax)
    if dtype is None:
        _check_int64(k, term)
    work = np.int64 if dtype is None else dtype
    acc_dtype = np.int32 if dtype is np.float32 and acc_bits <= 32 else np.int64
    chunks = [(0, k)] if dtype is None else k_chunks(k, term, dtype)
    wf: np.ndarray | None = None
    wg = (-1, -1)
    # a block's cost per output position: its patch column (k floats) and the requantization
    # temporaries of its fg accumulators (a few int64 each)
    for g0, g1, o0, o1, at in im2col_blocks(np.asarray(x, dtype=work), win, groups,
                                            per_position=k + 8 * fg):
        if (g0, g1) != wg:              # the float weights of these groups, once per layer
            wf, wg = wm[g0:g1].astype(work), (g0, g1)
        assert wf is not None
        acc: np.ndarray | None = None
        for k0, k1 in chunks:
            part = np.matmul(wf[:, :, k0:k1], at[:, k0:k1]).astype(acc_dtype)
            acc = part if acc is None else np.add(acc, part, out=acc)
        assert acc is not None
        yield g0, g1, o0, o1, acc


def dense_exact(x: np.ndarray, w: np.ndarray, *, wmax: int | None = None) -> np.ndarray:
    """Exact ``w @ x`` (int64, shape ``(N,)``) for int ``w`` (N, K) and int ``x`` (K,)."""
    n, k = w.shape
    xmax = int(np.abs(x).max()) if x.size else 0
    if wmax is None:
        wmax = int(np.abs(w).max()) if w.size else 0
    term = xmax * wmax
    if term == 0 or k == 0:
        return np.zeros(n, dtype=np.int64)
    dtype = gemm_dtype(k, xmax, wmax)
    if dtype is None:
        _check_int64(k, term)
        return np.asarray(w, dtype=np.int64) @ np.asarray(x, dtype=np.int64)
    xf: np.ndarray = np.asarray(x, dtype=dtype)
    out = np.zeros(n, dtype=np.int64)
    for k0, k1 in k_chunks(k, term, dtype):
        for n0, n1 in _row_blocks(n, DENSE_BLOCK_ELEMS // (k1 - k0)):
            part = w[n0:n1, k0:k1].astype(dtype) @ xf[k0:k1]
            out[n0:n1] += part.astype(np.int64)
    return out
