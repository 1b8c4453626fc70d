"""Stage 5b: the stepped model of the vector unit (max / average / sum pooling, residual adds,
stand-alone activations).

Like :mod:`.cyclesim` for the array, it advances one clock at a time through the vector unit of
``rtl/README.md`` 4: the sequencer issues one window tap per cycle, output pixels back to back;
each tap's read data arrives a cycle later and is accumulated; a finished pixel then takes the
reciprocal lookup, the multiply/shift/clamp (average: ``((|sum| + n//2) * m) >> s``, the
contract's :func:`hwcnn.numerics.fixedpoint.avg_reciprocal`; sums: the requantizer) and the
write. Its cycle counts equal :func:`hwcnn.arch.timing.pool_tile_cycles` and its outputs
:func:`hwcnn.numerics.golden_ops.pool_tile` (``tests/test_cyclesim.py``).
"""

from __future__ import annotations

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig
from ..frontend.layers import PoolOp
from ..numerics import fixedpoint as fp


def fast_pool_cycles(out_h: int, out_w: int, win_h: int, win_w: int, array: ArrayConfig) -> int:
    """The fast per-tile model of a vector-unit tile (exact)."""
    return timing.pool_tile_cycles(out_h, out_w, win_h, win_w, array)


def _taps(in_hw: tuple[int, int], win: tuple[int, int], stride: tuple[int, int],
          pad: tuple[int, int], far: tuple[int, int], out_hw: tuple[int, int], count_pad: bool):
    """The sequencer's issue order: ``(y, x, inb, count, first, last, pixel)`` per cycle."""
    (in_h, in_w), (wh, ww), (sh, sw), (pt, pl), (pb, pr), (oh, ow) = (
        in_hw, win, stride, pad, far, out_hw)
    pixel = 0
    for oy in range(oh):
        for ox in range(ow):
            for fy in range(wh):
                for fx in range(ww):
                    y, x = oy * sh - pt + fy, ox * sw - pl + fx
                    inb = 0 <= y < in_h and 0 <= x < in_w
                    count = (y < in_h + pb and x < in_w + pr) if count_pad else inb
                    yield y, x, inb, count, fy == fx == 0, fy == wh - 1 and fx == ww - 1, pixel
            pixel += 1


def run_pool_tile(x: np.ndarray, op: PoolOp, *, win: tuple[int, int], stride: tuple[int, int],
                  pad: tuple[int, int], out_hw: tuple[int, int], array: ArrayConfig,
                  lo: int | None = None, hi: int | None = None, m0: int = 1, shift: int = 0,
                  rounding: fp.Rounding = fp.Rounding.HALF_UP, wrap: bool = False,
                  count_pad: bool = False, pad_far: tuple[int, int] = (0, 0)
                  ) -> tuple[np.ndarray, int]:
    """Run one tile (one group of up to ``array.cols`` channels) through the vector unit.

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
    count_pad, pad_far
        AVG divides by the taps inside the input padded by ``pad`` (top/left) and ``pad_far``
        (bottom/right) instead of by the in-bounds taps (``count_include_pad``).

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
    oh, ow = out_hw
    lanes = array.cols
    words = np.zeros((in_h * in_w, lanes), dtype=np.int64)  # output-buffer words, C lanes
    words[:, :ch] = x.reshape(ch, -1).T
    out = np.full((lanes, oh * ow), np.iinfo(np.int64).min, dtype=np.int64)
    issue = _taps((in_h, in_w), win, stride, pad, pad_far, out_hw, count_pad)
    amin = np.full(lanes, flo, np.int64)
    # Pipeline registers (None = empty): read port -> A (accumulators) -> B -> C -> write.
    rd = None                        # (tap flags, read data) arriving this cycle
    acc_s, acc_m, acc_n = np.zeros(lanes, np.int64), amin.copy(), 0
    a = b = c = None
    written = 0
    cycle = timing.START_CYCLES      # cycle 0 latches the descriptor
    while True:
        # Stage D (write): the result registered in stage C last cycle.
        if c is not None:
            pixel, y = c
            out[:, pixel] = y
            written += 1
            if written == oh * ow:
                cycle += 1           # done is high the cycle after the last write
                break
        # Stage C: multiply by the reciprocal, shift, restore the sign, clamp (SUM: requant).
        c = None
        if b is not None:
            pixel, s, mx, n = b
            if op is PoolOp.MAX:
                y = mx
            elif op is PoolOp.AVG:
                m, sh = fp.avg_reciprocal(n, bits)          # the table word read in stage B
                q = ((np.abs(s) + n // 2) * m) >> sh
                y = fp.saturate(np.where(s < 0, -q, q), lo, hi)
            else:
                y = fp.overflow(fp.round_shift(fp.wrap(s, array.acc_bits) * m0, shift, rounding),
                                lo, hi, fp.Overflow.WRAP if wrap else fp.Overflow.SATURATE, bits)
            c = (pixel, y)
        # Stage B: the finished pixel's sums, maximum and count (from stage A's registers).
        b = a
        # Stage A: accumulate the tap whose data arrives now.
        a = None
        if rd is not None:
            (_, _, inb, count, first, last, pixel), data = rd
            if first:
                acc_s, acc_m, acc_n = np.zeros(lanes, np.int64), amin.copy(), 0
            if inb:
                acc_s, acc_m = acc_s + data, np.maximum(acc_m, data)
            acc_n += int(count)
            if last:
                if acc_n == 0:
                    raise ValueError(f"pool window {pixel} lies entirely in the padding")
                a = (pixel, acc_s.copy(), acc_m.copy(), acc_n)
        # Issue: one tap's read address per cycle (data lands next cycle).
        tap = next(issue, None)
        rd = None
        if tap is not None:
            y_, x_, inb = tap[0], tap[1], tap[2]
            rd = (tap, words[y_ * in_w + x_] if inb else np.zeros(lanes, np.int64))
        cycle += 1
    return out[:ch].reshape(ch, oh, ow), cycle
