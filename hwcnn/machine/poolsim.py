"""Stage 5b: the stepped model of the pool unit (max / average / sum pooling, residual adds).

Like :mod:`.cyclesim` for the array, it advances one clock at a time through the pool unit of
``rtl/README.md``: the window walk, the restoring divider of average pooling and the output
write; its cycle counts equal :func:`hwcnn.arch.timing.pool_tile_cycles` and its outputs
:func:`hwcnn.numerics.golden_ops.pool_tile` (``tests/test_cyclesim.py``).
"""

from __future__ import annotations

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig
from ..frontend.layers import PoolOp
from ..numerics import fixedpoint as fp


def fast_pool_cycles(out_h: int, out_w: int, win_h: int, win_w: int, array: ArrayConfig) -> int:
    """The fast per-tile model of a pool tile (exact)."""
    return timing.pool_tile_cycles(out_h, out_w, win_h, win_w, array)


def _restoring_divide(t: np.ndarray, n: np.ndarray, steps: int) -> np.ndarray:
    """``t // n`` one quotient bit per step, MSB first (valid while ``t < n * 2**steps``)."""
    rem = t >> steps
    if np.any(rem >= n):
        raise AssertionError("divider overflow: t >= n * 2**act_bits")
    q = np.zeros_like(t)
    for bit in range(steps - 1, -1, -1):  # one clock cycle each
        rem = (rem << 1) | ((t >> bit) & 1)
        q_bit = rem >= n
        rem = rem - np.where(q_bit, n, 0)
        q = q | (q_bit.astype(np.int64) << bit)
    return q


def run_pool_tile(x: np.ndarray, op: PoolOp, *, win: tuple[int, int], stride: tuple[int, int],
                  pad: tuple[int, int], out_hw: tuple[int, int], array: ArrayConfig,
                  lo: int | None = None, hi: int | None = None, m0: int = 1, shift: int = 0,
                  rounding: fp.Rounding = fp.Rounding.HALF_UP, wrap: bool = False
                  ) -> tuple[np.ndarray, int]:
    """Run one pool tile (one group of up to ``array.cols`` channels) through the pool unit.

    Parameters
    ----------
    x : (channels, in_h, in_w) int array
        Input map, ``channels <= array.cols`` (one lane per channel).
    op : PoolOp
        MAX, AVG or SUM (see ``rtl/README.md`` section 4).
    win, stride, pad, out_hw : (h, w) pairs
        Window, stride, top/left padding and output size; window ``(oy, ox)`` covers rows
        ``oy*stride_h - pad_top + [0, win_h)`` (out-of-bounds positions are skipped).
    lo, hi : int, optional
        Output clamp of AVG and SUM (MAX ignores it); defaults to the full ``act_bits`` range.
    m0, shift, rounding, wrap
        Requantization of SUM.

    Returns
    -------
    (outputs, cycles)
        ``(channels, out_h, out_w)`` int64 outputs and the cycle count from start to done.
    """
    x = np.asarray(x, dtype=np.int64)
    ch, in_h, in_w = x.shape
    if not 1 <= ch <= array.cols:
        raise ValueError(f"a pool tile has 1..{array.cols} channels, got {ch}")
    bits = array.act_bits
    flo, fhi = fp.int_range(bits)
    lo = flo if lo is None else lo
    hi = fhi if hi is None else hi
    (wh, ww), (sh_, sw), (pt, pl), (oh, ow) = win, stride, pad, out_hw
    lanes = array.cols
    words = np.zeros((in_h * in_w, lanes), dtype=np.int64)  # output-buffer words, C lanes
    words[:, :ch] = x.reshape(ch, -1).T
    out = np.zeros((ch, oh, ow), dtype=np.int64)
    cycles = timing.START_CYCLES
    for oy in range(oh):
        for ox in range(ow):
            mem, mem_ok = np.zeros(lanes, np.int64), False   # read-port output register
            best = np.full(lanes, np.iinfo(np.int64).min)
            total = np.zeros(lanes, np.int64)
            count = 0
            t = 0
            for e in range(wh * ww + 1):   # reads 0..W-1, each lands one cycle later
                if mem_ok:
                    best, total, count = np.maximum(best, mem), total + mem, count + 1
                if e < wh * ww:
                    y, xx = oy * sh_ - pt + e // ww, ox * sw - pl + e % ww
                    mem_ok = 0 <= y < in_h and 0 <= xx < in_w
                    mem = words[y * in_w + xx] if mem_ok else np.zeros(lanes, np.int64)
                t += 1
            if count == 0:
                raise ValueError(f"pool window ({oy}, {ox}) lies entirely in the padding")
            total = fp.wrap(total, array.acc_bits)
            n = np.full(lanes, count, np.int64)
            dividend = np.abs(total) + n // 2          # divider set-up
            t += 1
            quotient = _restoring_divide(dividend, n, bits)
            t += bits
            match op:                                   # result select and clamp
                case PoolOp.MAX:                        # MAX ignores lo/hi (rtl/README.md 4)
                    y_val = best
                case PoolOp.AVG:
                    y_val = fp.saturate(np.where(total >= 0, quotient, -quotient), lo, hi)
                case PoolOp.SUM:
                    y_val = fp.overflow(fp.round_shift(total * m0, shift, rounding), lo, hi,
                                        fp.Overflow.WRAP if wrap else fp.Overflow.SATURATE, bits)
            t += 1
            out[:, oy, ox] = y_val[:ch]                 # write
            t += 1
            cycles += t
    return out, cycles
