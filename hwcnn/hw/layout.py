"""Buffer word packing for the accelerator host interface (rtl/README.md section 3).

A word is a Python ``int`` holding lanes little-endian: lane ``i`` occupies bits
``[i*w, (i+1)*w)`` in two's complement. Word lists returned here start at the tile's base
offset (word 0 goes to ``base``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..arch.config import HardwareConfig
from .params import M0_BITS, SHIFT_BITS


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def pack_word(lanes: Iterable[int] | np.ndarray, bits: int) -> int:
    """Pack signed lane values into one word.

    >>> hex(pack_word([1, -1, 0, -128], 8))
    '0x8000ff01'
    """
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(lanes):
        v = int(v)
        if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
            raise ValueError(f"lane value {v} does not fit {bits} signed bits")
        word |= (v & mask) << (i * bits)
    return word


def unpack_word(word: int, lanes: int, bits: int) -> list[int]:
    """Inverse of :func:`pack_word`.

    >>> unpack_word(0x8000ff01, 4, 8)
    [1, -1, 0, -128]
    """
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    return [(((word >> (i * bits)) & mask) ^ sign) - sign for i in range(lanes)]


def _padded(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def act_word_count(m: int, k: int, rows: int) -> int:
    """Activation words of an ``m x k`` operand on ``rows`` array rows: ``ceil(k/R) * m``
    (:func:`act_words`; both dataflows)."""
    return _ceil_div(k, rows) * m


def act_words(a: np.ndarray, config: HardwareConfig) -> list[int]:
    """Activation words of ``A[m x k]`` (padding lanes are 0): word ``kf*m + i`` holds
    ``A[i, kf*R .. kf*R + R-1]``, in both dataflows (rtl/README.md 3)."""
    arr = config.array
    a = np.asarray(a, dtype=np.int64)
    m, k = a.shape
    r = arr.rows
    ap = _padded(a, m, _ceil_div(k, r) * r)
    return [pack_word(ap[i, kf * r:(kf + 1) * r], arr.act_bits)
            for kf in range(_ceil_div(k, r)) for i in range(m)]


def pack_bytes(lanes: np.ndarray, bits: int, word_bytes: int) -> bytes:
    """Words of ``lanes[i, :]`` (signed ``bits``-bit lane values, lane 0 lowest) as
    ``word_bytes``-byte little-endian words, concatenated: the bytes of
    ``pack_word(lanes[i], bits).to_bytes(word_bytes, "little")`` for every ``i``, in one
    vectorized pass (a compiled network's weights are millions of words).

    >>> pack_bytes(np.array([[1, -1, 0, -128], [2, 3, 4, 5]]), 8, 4).hex()
    '01ff008002030405'
    >>> pack_bytes(np.array([[1, -1, 2]]), 4, 2).hex()
    '1f02'
    """
    v = np.asarray(lanes, dtype=np.int64)
    if v.ndim != 2:
        raise ValueError(f"lanes must be a 2-D array, not {v.ndim}-D")
    n, c = v.shape
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    if v.size and (v.min() < lo or v.max() >= hi):
        bad = int(v[(v < lo) | (v >= hi)][0])
        raise ValueError(f"lane value {bad} does not fit {bits} signed bits")
    if c * bits > 8 * word_bytes:
        raise ValueError(f"{c} lanes of {bits} bits do not fit a {word_bytes}-byte word")
    u = v & ((1 << bits) - 1)
    if bits == 8 and c == word_bytes:
        return u.astype(np.uint8).tobytes()
    # bits of every lane, least significant first, then whole words padded to word_bytes
    bit = (u[:, :, None] >> np.arange(bits)) & 1
    flat = np.zeros((n, 8 * word_bytes), dtype=np.uint8)
    flat[:, :c * bits] = bit.reshape(n, c * bits)
    return np.packbits(flat, axis=1, bitorder="little").tobytes()


def weight_rows(b: np.ndarray, config: HardwareConfig) -> np.ndarray:
    """The lane values of :func:`weight_words`, one row per word (``ceil(n/C)*k x C``)."""
    c = config.array.cols
    b = np.asarray(b, dtype=np.int64)
    k, n = b.shape
    nf = _ceil_div(n, c)
    bp = _padded(b, k, nf * c)
    return bp.reshape(k, nf, c).transpose(1, 0, 2).reshape(nf * k, c)


def weight_words(b: np.ndarray, config: HardwareConfig) -> list[int]:
    """Weight words of ``B[k x n]``: word ``nf*k + kk`` holds ``B[kk, nf*C:(nf+1)*C]``."""
    arr = config.array
    b = np.asarray(b, dtype=np.int64)
    k, n = b.shape
    c = arr.cols
    bp = _padded(b, k, _ceil_div(n, c) * c)
    return [pack_word(bp[kk, nf * c:(nf + 1) * c], arr.weight_bits)
            for nf in range(_ceil_div(n, c)) for kk in range(k)]


def param_words(bias: np.ndarray, m0: np.ndarray | int, shift: np.ndarray | int,
                config: HardwareConfig) -> list[int]:
    """Parameter words for ``n`` output columns (``m0``/``shift`` scalars are broadcast)."""
    arr = config.array
    bias = np.asarray(bias, dtype=np.int64).reshape(-1)
    n = bias.shape[0]
    m0a = np.broadcast_to(np.asarray(m0, dtype=np.int64), (n,))
    sha = np.broadcast_to(np.asarray(shift, dtype=np.int64), (n,))
    acc, c = arr.acc_bits, arr.cols
    lane_bits = acc + M0_BITS + SHIFT_BITS
    words = []
    for nf in range(_ceil_div(n, c)):
        word = 0
        for lane in range(c):
            j = nf * c + lane
            if j >= n:
                break
            b, m, s = int(bias[j]), int(m0a[j]), int(sha[j])
            if not -(1 << (acc - 1)) <= b < (1 << (acc - 1)):
                raise ValueError(f"bias {b} does not fit {acc} bits")
            if not (0 <= m < (1 << M0_BITS) and 0 <= s < (1 << SHIFT_BITS)):
                raise ValueError(f"m0 {m} / shift {s} out of range")
            v = (b & ((1 << acc) - 1)) | (m << acc) | (s << (acc + M0_BITS))
            word |= v << (lane * lane_bits)
        words.append(word)
    return words


def gemm_out(words: Sequence[int], m: int, n: int, config: HardwareConfig) -> np.ndarray:
    """``Out[m x n]`` from the output words ``[c_base, c_base + ceil(n/C)*m)``."""
    arr = config.array
    c = arr.cols
    out = np.zeros((m, n), dtype=np.int64)
    for nf in range(_ceil_div(n, c)):
        for i in range(m):
            lanes = unpack_word(words[nf * m + i], c, arr.act_bits)
            cols = min(c, n - nf * c)
            out[i, nf * c:nf * c + cols] = lanes[:cols]
    return out


def pool_in_words(x: np.ndarray, config: HardwareConfig) -> list[int]:
    """Pool input words of ``x[ch, h, w]`` (``ch <= C``): word ``y*w + x`` = channels."""
    arr = config.array
    x = np.asarray(x, dtype=np.int64)
    ch, h, w = x.shape
    if ch > arr.cols:
        raise ValueError(f"{ch} channels exceed the {arr.cols} lanes of one pool tile")
    xp = np.zeros((arr.cols, h, w), dtype=np.int64)
    xp[:ch] = x
    return [pack_word(xp[:, yy, xx], arr.act_bits) for yy in range(h) for xx in range(w)]


def pool_out(words: Sequence[int], ch: int, out_h: int, out_w: int,
             config: HardwareConfig) -> np.ndarray:
    """``y[ch, out_h, out_w]`` from the pool output words starting at ``c_base``."""
    arr = config.array
    y = np.zeros((ch, out_h, out_w), dtype=np.int64)
    for oy in range(out_h):
        for ox in range(out_w):
            lanes = unpack_word(words[oy * out_w + ox], arr.cols, arr.act_bits)
            y[:, oy, ox] = lanes[:ch]
    return y
