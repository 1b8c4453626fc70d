"""Stepped cycle model: bit-exact with the golden model, cycle-exact with the closed form.

Cycle counts in the hand-worked cases are computed in the comments from rtl/README.md section 5,
not taken from :mod:`hwcnn.arch.timing`; the random sweeps then check that the stepped model (which
derives its counts from tokens moving through registers) and the closed form agree exactly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwcnn.arch import timing
from hwcnn.arch.config import ArrayConfig, Dataflow
from hwcnn.frontend.layers import PoolOp
from hwcnn.machine import cyclesim, poolsim
from hwcnn.numerics import golden_ops as golden
from hwcnn.numerics.fixedpoint import Overflow, Rounding
from hwcnn.numerics.golden_ops import Requant

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY


def arr(r: int, c: int, df: Dataflow, **kw: int) -> ArrayConfig:
    return ArrayConfig(rows=r, cols=c, dataflow=df, **kw)


def naive_gemm(a, b, bias, m0, shift, lo, hi):  # type: ignore[no-untyped-def]
    """Independent reference: Python ints, HALF_UP single rounding, saturate."""
    m, k = len(a), len(a[0])
    n = len(b[0])
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = int(bias[j]) + sum(int(a[i][kk]) * int(b[kk][j]) for kk in range(k))
            mm = int(m0[j]) if np.ndim(m0) else int(m0)
            s = int(shift[j]) if np.ndim(shift) else int(shift)
            p = acc * mm
            y = (p + (1 << (s - 1))) >> s if s else p
            out[i, j] = min(max(y, lo), hi)
    return out


def random_case(rng: np.random.Generator, m: int, n: int, k: int):  # type: ignore[no-untyped-def]
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    bias = rng.integers(-20000, 20000, n)
    m0 = rng.integers(1 << 29, 1 << 31, n)
    shift = rng.integers(30, 40, n)
    return a, b, bias, m0, shift


# -- hand-worked cycle counts ------------------------------------------------------------------

@pytest.mark.parametrize("df, expected", [
    # OS, 4x4 array, m=n=k=4, one fold: k=4 reads, C=4 until row 0's last product is in its
    # shadow register, R=4 drain rows, 3 post-processing stages, 1 to done, + the start cycle:
    # 1 + 4 + 4 + 4 + 3 = 16.
    (OS, 16),
    # WS, one fold: R=4 weight loads, m=4 activation rows, R+C=8 through the array and the
    # de-skew, 3 post, 1 to done -> 1 + 4 + 4 + 8 + 3 = 20.
    (WS, 20),
])
def test_gemm_that_fits_the_array_exactly(df: Dataflow, expected: int) -> None:
    rng = np.random.default_rng(0)
    a, b, bias, m0, shift = random_case(rng, 4, 4, 4)
    out, cycles = cyclesim.run_gemm_tile(a, b, bias, Requant(m0=m0, shift=shift, lo=-128, hi=127),
                                         arr(4, 4, df))
    assert cycles == expected
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()


@pytest.mark.parametrize("df, expected", [
    # OS 4x4, m=10, n=9, k=11: F_M = 3, F_N = 3 -> 9 folds, period max(R*ceil(k/R), C) = 12
    # (3 activation words per row); the last fold takes k + R + C + 3 = 22
    # -> 1 + 8*12 + 22 = 119.
    (OS, 119),
    # WS 4x4: F_K = 3, F_N = 3 -> 9 folds, period max(m=10, ceil(10/2) + 4 - 1 = 8, 3) = 10;
    # the last fold m + 2R + C + 3 = 25 -> 1 + 8*10 + 25 = 106.
    (WS, 106),
])
def test_gemm_with_several_folds_in_each_dimension(df: Dataflow, expected: int) -> None:
    rng = np.random.default_rng(1)
    a, b, bias, m0, shift = random_case(rng, 10, 9, 11)
    out, cycles = cyclesim.run_gemm_tile(a, b, bias, Requant(m0=m0, shift=shift, lo=-128, hi=127),
                                         arr(4, 4, df))
    assert cycles == expected
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()


def test_non_square_array_hand_count() -> None:
    # WS 2 rows x 3 cols, m=5, n=4, k=3: F_K=2, F_N=2 -> 4 folds, P = max(5, 3 + 1, 3) = 5,
    # last fold 5 + 4 + 3 + 3 = 15 -> 1 + 3*5 + 15 = 31. OS: F_M=3, F_N=2 -> 6 folds,
    # P = max(2*ceil(3/2), 3) = 4, last fold 3 + 2 + 3 + 3 = 11 -> 1 + 5*4 + 11 = 32.
    rng = np.random.default_rng(2)
    a, b, bias, m0, shift = random_case(rng, 5, 4, 3)
    rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
    assert cyclesim.run_gemm_tile(a, b, bias, rq, arr(2, 3, WS))[1] == 31
    assert cyclesim.run_gemm_tile(a, b, bias, rq, arr(2, 3, OS))[1] == 32


@pytest.mark.parametrize("df, r, c, m, n, k, period", [
    # Each term of the fold period is needed: one cycle less and two folds meet in a register.
    (WS, 4, 2, 2, 2, 8, 4),    # R = 4: the next fold's R weight rows are read in this window
    (WS, 1, 1, 1, 1, 3, 3),    # 3: a K-fold reads the partial sum before it is written
    (WS, 2, 2, 2, 2, 4, 3),    # 3 (the 2x2 trace in tests/test_timing.py)
    (OS, 1, 4, 2, 4, 1, 4),    # C = 4: a shadow register overwritten before it is drained
    (OS, 4, 1, 8, 1, 1, 4),    # R*ceil(k/R) = 4: a fold reads R activation words (one per
                               # cycle: a shorter period is refused, it cannot be read)
    (OS, 2, 1, 4, 1, 3, 4),    # R*ceil(k/R) = 4 > k = 3: the ragged last block's word
    # Two drain rows ("os2"): 2P >= C + floor(R/2), fold g + 2 overwrites row 0's shadow
    # register before pair 0 is read (the pairs shorten P on arrays wider than R*ceil(k/R)).
    ("os2", 2, 8, 8, 16, 1, 5), ("os2", 2, 6, 8, 6, 2, 4), ("os2", 3, 9, 12, 18, 1, 5),
    ("os2", 4, 12, 16, 24, 1, 7),
])
def test_fold_period_is_minimal(df, r, c, m, n, k, period) -> None:  # type: ignore[no-untyped-def]
    array = os2(r, c) if df == "os2" else arr(r, c, df)
    assert timing.gemm_fold_cycles(m, k, array) == period
    rng = np.random.default_rng(r * 10 + c)
    a, b, bias, m0, shift = random_case(rng, m, n, k)
    rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
    out, _ = cyclesim.run_gemm_tile(a, b, bias, rq, array, fold_period=period)
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()
    if array.dataflow is OS and period == timing.os_act_reads(k, array):
        with pytest.raises(ValueError, match=f"fold period {period - 1} is shorter than the "
                                             f"fold's stream of {period}"):
            cyclesim.run_gemm_tile(a, b, bias, rq, array, fold_period=period - 1)
        return
    with pytest.raises(cyclesim.PipelineHazard):
        cyclesim.run_gemm_tile(a, b, bias, rq, array, fold_period=period - 1)


def test_third_weight_bank_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    # WS 4x4, m=5, k=16 (the trace in tests/test_timing.py): with three banks P = max(5, 4, 3)
    # = 5 is exact; with two, fold 2 reloads bank 0 while fold 0 still uses it, and the
    # stepped model (which tags every bank register with its fold) reports the hazard.
    rng = np.random.default_rng(5)
    a, b, bias, m0, shift = random_case(rng, 5, 4, 16)
    rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
    out, cycles = cyclesim.run_gemm_tile(a, b, bias, rq, arr(4, 4, WS))
    assert cycles == 36
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()
    monkeypatch.setattr(timing, "WS_WEIGHT_BANKS", 2)
    with pytest.raises(cyclesim.PipelineHazard):
        cyclesim.run_gemm_tile(a, b, bias, rq, arr(4, 4, WS), fold_period=5)
    out, _ = cyclesim.run_gemm_tile(a, b, bias, rq, arr(4, 4, WS), fold_period=6)
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()


def test_pool_hand_count() -> None:
    # 2x2 max pool, stride 2, on a 4x4 map: 4 output pixels of 4 taps, one tap per cycle,
    # back to back. Worked by hand:
    #   cycle 0        start, descriptor latched
    #   cycles 1..16   tap reads (pixel p reads in cycles 4p+1 .. 4p+4)
    #   cycle 17       last tap's data arrives, accumulated
    #   cycle 18       pixel 3 final: |sum| + n//2, reciprocal table read
    #   cycle 19       multiply / shift / clamp (MAX passes through)
    #   cycle 20       pixel 3 written
    #   cycle 21       done
    x = np.arange(3 * 16).reshape(3, 4, 4) - 20
    out, cycles = poolsim.run_pool_tile(x, PoolOp.MAX, win=(2, 2), stride=(2, 2), pad=(0, 0),
                                         out_hw=(2, 2), array=arr(4, 4, WS))
    assert cycles == 21
    expected = x.reshape(3, 2, 2, 2, 2).max(axis=(2, 4))
    assert (out == expected).all()
    # A residual add of 3 inputs over 5 pixels (a 1 x 3 window): 1 + 5*3 + 4 = 20; a
    # stand-alone ReLU over 7 pixels (1 tap, AVG of one element with lo = 0): 1 + 7 + 4 = 12.
    y = np.arange(2 * 15).reshape(2, 5, 3) - 9
    out, cycles = poolsim.run_pool_tile(y, PoolOp.SUM, win=(1, 3), stride=(1, 1), pad=(0, 0),
                                        out_hw=(5, 1), array=arr(2, 2, OS))
    assert cycles == 20 and (out[:, :, 0] == y.sum(axis=2)).all()
    z = np.arange(7).reshape(1, 7, 1) - 3
    out, cycles = poolsim.run_pool_tile(z, PoolOp.AVG, win=(1, 1), stride=(1, 1), pad=(0, 0),
                                        out_hw=(7, 1), array=arr(1, 1, OS), lo=0)
    assert cycles == 12 and out.ravel().tolist() == [0, 0, 0, 0, 1, 2, 3]


def test_pool_count_include_pad_by_hand() -> None:
    # 3x3 average, stride 1, padding 1 on a 2x2 map of ones+: every window holds all 4 inputs
    # (sum 10); valid taps n = 4; count_include_pad n = 9 (the whole window lies in the
    # padded 4x4 input). 10/4 = 2.5 -> 3 (half away); 10/9 = 1.1 -> 1.
    x = np.array([[[1, 2], [3, 4]]])
    kw = {"win": (3, 3), "stride": (1, 1), "pad": (1, 1), "out_hw": (2, 2), "array": arr(1, 1, OS)}
    assert poolsim.run_pool_tile(x, PoolOp.AVG, **kw)[0].ravel().tolist() == [3, 3, 3, 3]
    out, cycles = poolsim.run_pool_tile(x, PoolOp.AVG, count_pad=True, pad_far=(1, 1), **kw)
    assert out.ravel().tolist() == [1, 1, 1, 1] and cycles == 1 + 4 * 9 + 4
    # Ceil mode: a 2x2 stride-2 window hanging past a 3x3 map with no far padding counts only
    # the taps inside the (unpadded) input: the last window has n = 1 in both conventions.
    y = np.array([[[4, 8, -7], [2, 6, 1], [5, 3, 9]]])
    kw = {"win": (2, 2), "stride": (2, 2), "pad": (0, 0), "out_hw": (2, 2), "array": arr(1, 1, OS)}
    assert poolsim.run_pool_tile(y, PoolOp.AVG, count_pad=True, **kw)[0].ravel().tolist() == [
        5, -3, 4, 9]                       # 20/4, -6/2, 8/2, 9/1


# -- random sweeps: stepped == golden (bit-exact), stepped == closed form (cycles) -------------

def sweep(count: int, seed: int, max_arr: int, max_dim: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(count):
        r, c = (int(v) for v in rng.integers(1, max_arr + 1, 2))
        m, n, k = (int(v) for v in rng.integers(1, max_dim + 1, 3))
        df = (OS, WS)[i % 2]
        a, b, bias, m0, shift = random_case(rng, m, n, k)
        per_tensor = i % 3 == 0
        if per_tensor:
            m0, shift = int(m0[0]), int(shift[0])
        lo = 0 if i % 4 == 0 else -128
        rq = Requant(m0=m0, shift=shift, lo=lo, hi=127)
        array = arr(r, c, df)
        out, cycles = cyclesim.run_gemm_tile(a, b, bias, rq, array)
        case = f"case {i}: {df.value} {r}x{c} m={m} n={n} k={k}"
        assert cycles == timing.gemm_tile_cycles(m, n, k, array), case
        assert cycles == cyclesim.fast_gemm_cycles(m, n, k, array), case
        assert (out == golden.gemm_tile(a, b, bias, m0, shift, lo, 127)).all(), case


def test_random_tiles_fast() -> None:
    sweep(300, seed=10, max_arr=4, max_dim=9)


@pytest.mark.slow
def test_random_tiles_thousands() -> None:
    sweep(2000, seed=11, max_arr=5, max_dim=12)


def test_random_tiles_many_folds() -> None:
    # Small arrays, larger tiles: 4 .. 100+ folds per tile, streams shorter and longer than P.
    sweep(50, seed=12, max_arr=3, max_dim=16)


def test_random_ksplit_chains_equal_whole_gemm_and_closed_form() -> None:
    rng = np.random.default_rng(13)
    for i in range(40):
        r, c = (int(v) for v in rng.integers(1, 4, 2))
        m, n, k = (int(v) for v in rng.integers(1, 9, 3))
        k += 1
        cuts = sorted({0, k, *(int(v) for v in rng.integers(1, k, int(rng.integers(1, 3))))})
        df = (OS, WS)[i % 2]
        a, b, bias, m0, shift = random_case(rng, m, n, k)
        rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
        out, cycles = run_chain(a, b, bias, rq, arr(r, c, df), cuts)
        case = f"case {i}: {df.value} {r}x{c} m={m} n={n} cuts={cuts}"
        assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all(), case
        assert cycles == [timing.gemm_tile_cycles(m, n, k1 - k0, arr(r, c, df))
                          for k0, k1 in itertools.pairwise(cuts)], case


def test_ragged_edges_every_remainder() -> None:
    # Every remainder of m, n, k modulo a 3x2 array, both dataflows.
    rng = np.random.default_rng(3)
    for df in (OS, WS):
        array = arr(3, 2, df)
        for m in range(1, 7):
            for n in range(1, 5):
                for k in (1, 2, 4, 5):
                    a, b, bias, m0, shift = random_case(rng, m, n, k)
                    out, cycles = cyclesim.run_gemm_tile(
                        a, b, bias, Requant(m0=m0, shift=shift, lo=-128, hi=127), array)
                    assert cycles == timing.gemm_tile_cycles(m, n, k, array)
                    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()


def test_rounding_wrap_and_accumulator_wrap() -> None:
    rng = np.random.default_rng(4)
    a, b, bias, _, _ = random_case(rng, 5, 3, 7)
    for rounding in Rounding:
        rq = Requant(m0=3, shift=9, lo=-128, hi=127, rounding=rounding, mode=Overflow.WRAP)
        for df in (OS, WS):
            out, _ = cyclesim.run_gemm_tile(a, b, bias, rq, arr(2, 2, df))
            exp = golden.gemm_tile(a, b, bias, 3, 9, -128, 127, rounding, mode=Overflow.WRAP, bits=8)
            assert (out == exp).all()
    # 16-bit accumulators wrap inside the PEs exactly as the golden model's wrap(acc, 16).
    big_a = np.full((2, 4), 127)
    big_b = np.full((4, 2), 127)
    for df in (OS, WS):
        out, _ = cyclesim.run_gemm_tile(big_a, big_b, None, Requant(m0=1, shift=0, lo=-128, hi=127),
                                        arr(2, 2, df, acc_bits=16))
        exp = golden.gemm_tile(big_a, big_b, None, 1, 0, -128, 127, acc_bits=16)
        assert (out == exp).all()


def test_bad_shapes_rejected() -> None:
    with pytest.raises(ValueError):
        cyclesim.run_gemm_tile(np.zeros((2, 3)), np.zeros((4, 2)), None,
                               Requant(m0=1, shift=0, lo=-128, hi=127), arr(2, 2, OS))


def naive_pool(x, op, win, stride, pad, out_hw, m0=1, shift=0, far=None):  # type: ignore[no-untyped-def]
    """Naive loops; ``far`` = (bottom, right) padding: average by the taps inside the padded
    input (count_include_pad) instead of by the valid taps."""
    ch, h, w = x.shape
    out = np.zeros((ch, *out_hw), dtype=np.int64)
    for c in range(ch):
        for oy in range(out_hw[0]):
            for ox in range(out_hw[1]):
                vals = [int(x[c, y, xx]) for y in range(oy * stride[0] - pad[0], oy * stride[0] - pad[0] + win[0])
                        for xx in range(ox * stride[1] - pad[1], ox * stride[1] - pad[1] + win[1])
                        if 0 <= y < h and 0 <= xx < w]
                s = sum(vals)
                if op is PoolOp.MAX:
                    y = max(vals)
                elif op is PoolOp.AVG:
                    n = len(vals)
                    if far is not None:
                        rows = [y for y in range(oy * stride[0] - pad[0], oy * stride[0] - pad[0] + win[0])
                                if y < h + far[0]]
                        cols = [xx for xx in range(ox * stride[1] - pad[1], ox * stride[1] - pad[1] + win[1])
                                if xx < w + far[1]]
                        n = len(rows) * len(cols)
                    y = (s + n // 2) // n if s >= 0 else -((-s + n // 2) // n)
                else:
                    p = s * m0
                    y = (p + (1 << (shift - 1))) >> shift if shift else p
                out[c, oy, ox] = min(max(y, -128), 127)
    return out


def test_pool_random_against_naive_and_closed_form() -> None:
    rng = np.random.default_rng(5)
    done = 0
    while done < 120:
        lanes = int(rng.integers(1, 5))
        array = arr(2, lanes, WS)
        ch = int(rng.integers(1, lanes + 1))
        h, w = (int(v) for v in rng.integers(1, 7, 2))
        win = tuple(int(v) for v in rng.integers(1, 4, 2))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        pad = (int(rng.integers(0, win[0])), int(rng.integers(0, win[1])))
        out_hw = ((h + pad[0] - win[0]) // stride[0] + 1, (w + pad[1] - win[1]) // stride[1] + 1)
        if min(out_hw) < 1:
            continue
        op = (PoolOp.MAX, PoolOp.AVG, PoolOp.SUM, PoolOp.AVG)[done % 4]
        far = (int(rng.integers(0, win[0])), int(rng.integers(0, win[1]))) if done % 4 == 3 else None
        x = rng.integers(-128, 128, (ch, h, w))
        m0, shift = int(rng.integers(1 << 29, 1 << 31)), int(rng.integers(28, 34))
        out, cycles = poolsim.run_pool_tile(x, op, win=win, stride=stride, pad=pad, out_hw=out_hw,
                                             array=array, m0=m0, shift=shift,
                                             count_pad=far is not None, pad_far=far or (0, 0))
        assert cycles == timing.pool_tile_cycles(*out_hw, *win, array)
        assert (out == naive_pool(x, op, win, stride, pad, out_hw, m0, shift, far)).all()
        done += 1


def test_pool_matches_golden_pool_tile() -> None:
    x = np.array([[[1, -4, 7], [3, 8, -2], [5, 5, 5]]])
    out, _ = poolsim.run_pool_tile(x, PoolOp.AVG, win=(2, 2), stride=(1, 1), pad=(1, 1),
                                    out_hw=(3, 3), array=arr(1, 1, OS))
    for oy in range(3):
        for ox in range(3):
            vals = [x[0, y, xx] for y in (oy - 1, oy) for xx in (ox - 1, ox) if 0 <= y < 3 and 0 <= xx < 3]
            assert out[0, oy, ox] == golden.pool_tile([vals], None, PoolOp.AVG)[0]


def test_pool_clamp_applies_to_avg_and_sum_not_max() -> None:
    x = np.array([[[-50, -20], [-30, -40]]])
    kw = {"win": (2, 2), "stride": (1, 1), "pad": (0, 0), "out_hw": (1, 1), "array": arr(1, 1, WS),
          "lo": 0, "hi": 127}
    assert poolsim.run_pool_tile(x, PoolOp.MAX, **kw)[0].item() == -20   # MAX ignores lo
    assert poolsim.run_pool_tile(x, PoolOp.AVG, **kw)[0].item() == 0     # -35 clamped
    assert poolsim.run_pool_tile(x, PoolOp.SUM, **kw)[0].item() == 0


# -- the same tiles through the Amaranth RTL (pysim) and the stepped model ---------------------

@pytest.mark.parametrize("df", ["os", "ws"])
@pytest.mark.parametrize("rows, cols", [(2, 3), (3, 2), (4, 4)])
def test_stepped_model_equals_rtl(df: str, rows: int, cols: int) -> None:
    from tests import test_hw_top as rtl

    cfg = rtl.config(rows, cols, df)
    gemms = rtl.gemm_corpus(rows * 7 + cols, rows, cols)[:5]
    pools = rtl.pool_corpus(3, cols)
    results = rtl.simulate(cfg, gemms + pools)
    ops = {rtl.PoolOpCode.MAX: PoolOp.MAX, rtl.PoolOpCode.AVG: PoolOp.AVG,
           rtl.PoolOpCode.SUM: PoolOp.SUM}
    for case, (name, rtl_cycles, err, rtl_out) in zip(gemms + pools, results, strict=True):
        assert err == 0, name
        if isinstance(case, rtl.GemmCase):
            rq = Requant(m0=case.m0, shift=case.shift, lo=case.lo, hi=case.hi,
                         rounding=case.rounding, mode=case.overflow)
            out, cycles = cyclesim.run_gemm_tile(case.a, case.b,
                                                 case.bias if case.bias_en else None, rq, cfg.array)
        else:
            out, cycles = poolsim.run_pool_tile(case.x, ops[case.op], win=case.win,
                                                 stride=case.stride, pad=case.pad, out_hw=case.out,
                                                 array=cfg.array, lo=case.lo, hi=case.hi,
                                                 m0=case.m0, shift=case.shift,
                                                 count_pad=case.far is not None,
                                                 pad_far=case.far or (0, 0))
        assert cycles == rtl_cycles, (name, cycles, rtl_cycles)
        assert (out == rtl_out).all(), name


# -- K-split chains (acc_in / acc_out) ---------------------------------------------------------

def run_chain(a, b, bias, rq, array, cuts):  # type: ignore[no-untyped-def]
    """Chunks ``[cuts[i], cuts[i+1])`` of K as consecutive tiles; (output, cycles per tile)."""
    part, cycles = None, []
    last = len(cuts) - 2
    for i, (k0, k1) in enumerate(itertools.pairwise(cuts)):
        part, t = cyclesim.run_gemm_tile(a[:, k0:k1], b[k0:k1], bias, rq, array,
                                         acc_in=part, acc_out=i < last)
        cycles.append(t)
    return part, cycles


@pytest.mark.parametrize("df", [OS, WS])
@pytest.mark.parametrize("r, c, m, n, cuts", [(2, 3, 5, 7, [0, 3, 8]), (3, 2, 4, 5, [0, 1, 5, 11]),
                                              (4, 4, 9, 6, [0, 7, 13, 14]), (1, 1, 2, 2, [0, 2, 3])])
def test_ksplit_chain_equals_whole_gemm(df: Dataflow, r, c, m, n, cuts) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(r * 31 + m)
    a, b, bias, m0, shift = random_case(rng, m, n, cuts[-1])
    rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
    out, cycles = run_chain(a, b, bias, rq, arr(r, c, df), cuts)
    assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all()
    assert cycles == [timing.gemm_tile_cycles(m, n, k1 - k0, arr(r, c, df))
                      for k0, k1 in itertools.pairwise(cuts)]


def test_ksplit_partial_sums_hand_worked() -> None:
    """acc_out returns bias + A @ B unrequantized; acc_in replaces the bias by the partials."""
    a = np.array([[1, 2, 3], [-4, 5, 6]])
    b = np.array([[1, 0], [0, 1], [2, -1]])
    bias = np.array([100, -100])
    rq = Requant(m0=1, shift=0, lo=-128, hi=127)
    for df in (OS, WS):
        p, _ = cyclesim.run_gemm_tile(a[:, :2], b[:2], bias, rq, arr(2, 2, df), acc_out=True)
        assert p.tolist() == [[101, -98], [96, -95]]
        y, _ = cyclesim.run_gemm_tile(a[:, 2:], b[2:], bias, rq, arr(2, 2, df), acc_in=p)
        assert y.tolist() == [[107, -101], [108, -101]]
        # acc_in and acc_out together: partials in, partials out (beyond the int8 range).
        q, _ = cyclesim.run_gemm_tile(a[:, 2:], b[2:], None, rq, arr(2, 2, df), acc_in=p * 3,
                                      acc_out=True)
        assert q.tolist() == [[309, -297], [300, -291]]


def test_ksplit_partials_wrap_at_acc_bits() -> None:
    """Intermediate partial sums wrap at acc_bits; the chain is exact when the total fits."""
    a = np.array([[127] * 4 + [-127] * 4])
    b = np.full((8, 1), 127)
    rq = Requant(m0=3, shift=1, lo=-128, hi=127)
    for df in (OS, WS):
        small = arr(1, 1, df, acc_bits=16)
        p, _ = cyclesim.run_gemm_tile(a[:, :4], b[:4], np.array([5]), rq, small, acc_out=True)
        assert p.item() == 4 * 127 * 127 + 5 - (1 << 16)    # 64521 wraps to -1015
        y, _ = cyclesim.run_gemm_tile(a[:, 4:], b[4:], None, rq, small, acc_in=p)
        assert y.item() == 8                                 # (-1015 - 64516) mod 2**16 = 5; 15/2


@pytest.mark.parametrize("df", ["os", "ws"])
def test_stepped_model_equals_rtl_ksplit(df: str) -> None:
    from tests import test_hw_ksplit as ks
    from tests import test_hw_top as rtl

    cfg = rtl.config(3, 2, df)
    rng = np.random.default_rng(17)
    case = rtl.gemm_case(rng, "ksplit", 5, 3, 8, per_channel=True, lo=-50)
    cuts = [0, 2, 7, 8]
    rtl_out, rtl_cycles, _, _ = ks.run_chain(cfg, case, cuts, seed=3)
    rq = Requant(m0=case.m0, shift=case.shift, lo=case.lo, hi=case.hi)
    out, cycles = run_chain(case.a, case.b, case.bias, rq, cfg.array, cuts)
    assert cycles == rtl_cycles
    assert (out == rtl_out).all()


# -- two drain rows (ArrayConfig.drain_rows = 2) -----------------------------------------------

def os2(r: int, c: int) -> ArrayConfig:
    return ArrayConfig(rows=r, cols=c, dataflow=OS, drain_rows=2)


def test_two_drain_rows_random_tiles_and_ksplit() -> None:
    """Stepped == closed form (which the RTL measures, tests/test_hw_top.py) and == the naive
    GEMM, odd and even R, ragged m/n/k, K-split chains."""
    rng = np.random.default_rng(21)
    for i in range(200):
        r, c = int(rng.integers(2, 6)), int(rng.integers(1, 6))
        m, n, k = (int(v) for v in rng.integers(1, 13, 3))
        a, b, bias, m0, shift = random_case(rng, m, n, k)
        rq = Requant(m0=m0, shift=shift, lo=-128, hi=127)
        case = f"case {i}: os2 {r}x{c} m={m} n={n} k={k}"
        if i % 4 == 0 and k > 1:
            cuts = [0, int(rng.integers(1, k)), k]
            out, cycles = run_chain(a, b, bias, rq, os2(r, c), cuts)
            assert cycles == [timing.gemm_tile_cycles(m, n, k1 - k0, os2(r, c))
                              for k0, k1 in itertools.pairwise(cuts)], case
        else:
            out, cyc = cyclesim.run_gemm_tile(a, b, bias, rq, os2(r, c))
            assert cyc == timing.gemm_tile_cycles(m, n, k, os2(r, c)), case
        assert (out == naive_gemm(a, b, bias, m0, shift, -128, 127)).all(), case
