"""Golden integer kernels against hand-worked examples and deliberately naive loop references."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from hwcnn.frontend.layers import PoolOp
from hwcnn.graph.shapes import Window, out_size
from hwcnn.numerics import golden_ops as G
from hwcnn.numerics.fixedpoint import Rounding

SEED_IMAGE = np.array([
    [3, 0, 1, 2, 7, 4],
    [1, 5, 8, 9, 3, 1],
    [2, 7, 2, 5, 1, 3],
    [0, 1, 3, 1, 7, 8],
    [4, 2, 1, 6, 2, 8],
    [2, 4, 5, 2, 3, 9],
])
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3)
POOL_IMAGE = np.array([[1, 4, 6, 3], [1, 8, 9, 7], [2, 9, 1, 2], [3, 4, 4, 3]])


def make_window(shape, kernel, stride, pads, dilation=None, ceil_mode=False) -> Window:
    dilation = dilation or (1,) * len(kernel)
    out = tuple(out_size(w, f, s, lo, hi, d, ceil_mode)
                for w, f, s, (lo, hi), d in zip(shape, kernel, stride, pads, dilation))
    return Window(kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
                  pads=tuple(pads), out=out, ceil_mode=ceil_mode)


def rand_int8(rng, shape) -> np.ndarray:
    x = rng.integers(-128, 128, size=shape)
    flat = x.reshape(-1)
    flat[0], flat[-1] = -128, 127            # the extremes are always present
    if flat.size > 3:
        flat[1] = -128
    return x


# ---------------------------------------------------------------- naive references (loops)

def naive_conv(x, w, bias, kernel, stride, pads, dilation, groups):
    c, *sp = x.shape
    f = w.shape[0]
    outs = [out_size(n, k, s, lo, hi, d) for n, k, s, (lo, hi), d in
            zip(sp, kernel, stride, pads, dilation)]
    cg, fg = c // groups, f // groups
    y = np.zeros([f, *outs], dtype=object)
    for fo in range(f):
        g = fo // fg
        for pos in itertools.product(*[range(o) for o in outs]):
            total = int(bias[fo]) if bias is not None else 0
            for ci in range(cg):
                for tap in itertools.product(*[range(k) for k in kernel]):
                    idx = [p * s + t * d - lo for p, s, t, d, (lo, _) in
                           zip(pos, stride, tap, dilation, pads)]
                    if all(0 <= i < n for i, n in zip(idx, sp)):
                        total += int(x[(g * cg + ci, *idx)]) * int(w[(fo, ci, *tap)])
            y[(fo, *pos)] = total
    return y


def naive_pool(x, kernel, stride, pads, ceil_mode, op):
    c, *sp = x.shape
    outs = [out_size(n, k, s, p, p, 1, ceil_mode) for n, k, s, p in zip(sp, kernel, stride, pads)]
    y = np.zeros([c, *outs], dtype=object)
    for ch in range(c):
        for pos in itertools.product(*[range(o) for o in outs]):
            vals = []
            for tap in itertools.product(*[range(k) for k in kernel]):
                idx = [p * s + t - pad for p, s, t, pad in zip(pos, stride, tap, pads)]
                if all(0 <= i < n for i, n in zip(idx, sp)):
                    vals.append(int(x[(ch, *idx)]))
            if op is PoolOp.MAX:
                y[(ch, *pos)] = max(vals)
            elif op is PoolOp.SUM:
                y[(ch, *pos)] = sum(vals)
            else:
                q = Fraction(sum(vals), len(vals))
                r = math.floor(abs(q) + Fraction(1, 2))
                y[(ch, *pos)] = min(max(r if q >= 0 else -r, -128), 127)
    return y, outs


def naive_requant(v: int, m0: int, shift: int, lo: int, hi: int) -> int:
    q = Fraction(v * m0, 2 ** shift)
    r = math.floor(q + Fraction(1, 2))           # HALF_UP: ties toward +inf
    return min(max(r, lo), hi)


# ---------------------------------------------------------------- hand-worked seed examples

def test_seed_conv_vertical_edge() -> None:
    x = SEED_IMAGE[None]
    w = VERTICAL_EDGE[None, None]
    win = make_window((6, 6), (3, 3), (1, 1), ((0, 0), (0, 0)))
    acc = G.conv_acc(x, w, None, win)
    assert acc.shape == (1, 4, 4)
    assert acc[0, 0].tolist() == [-5, -4, 0, 8]
    win3 = make_window((6, 6), (3, 3), (3, 3), ((0, 0), (0, 0)))
    assert G.conv_acc(x, w, None, win3)[0].tolist() == [[-5, 8], [-3, -16]]


def test_seed_vertical_edge_detector() -> None:
    x = np.array([[10, 10, 10, 0, 0, 0]] * 6)[None]
    win = make_window((6, 6), (3, 3), (1, 1), ((0, 0), (0, 0)))
    assert G.conv_acc(x, VERTICAL_EDGE[None, None], None, win)[0].tolist() == [[0, 30, 30, 0]] * 4


def test_seed_pools() -> None:
    x = POOL_IMAGE[None]
    win = make_window((4, 4), (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert G.pool(x, win, PoolOp.MAX)[0].tolist() == [[8, 9], [9, 4]]
    # exact averages 3.5 6.25 4.5 2.5 -> half away from zero: 4 6 5 3
    assert G.pool(x, win, PoolOp.AVG)[0].tolist() == [[4, 6], [5, 3]]
    assert G.pool(x, win, PoolOp.SUM, m0=1, shift=0)[0].tolist() == [[14, 25], [18, 10]]
    assert G.pool(-x, win, PoolOp.AVG)[0].tolist() == [[-4, -6], [-5, -3]]


# ---------------------------------------------------------------- conv sweeps

KERNELS = [(1, 1), (3, 3), (2, 3)]
STRIDES = [(1, 1), (2, 2), (3, 1)]
PADS = [((0, 0), (0, 0)), ((1, 1), (1, 1)), ((0, 1), (2, 0))]
DILATIONS = [(1, 1), (2, 1)]
GROUPS = [1, 2, 4]


@pytest.mark.parametrize("kernel,stride,pads,dilation,groups",
                         list(itertools.product(KERNELS, STRIDES, PADS, DILATIONS, GROUPS)))
def test_conv2d_matches_naive(kernel, stride, pads, dilation, groups) -> None:
    rng = np.random.default_rng(hash((kernel, stride, pads, dilation, groups)) % 2**32)
    c, f, sp = 4, 4, (6, 7)
    x = rand_int8(rng, (c, *sp))
    w = rand_int8(rng, (f, c // groups, *kernel))
    bias = rng.integers(-(2**20), 2**20, size=f)
    win = make_window(sp, kernel, stride, pads, dilation)
    got = G.conv_acc(x, w, bias, win, groups)
    want = naive_conv(x, w, bias, kernel, stride, pads, dilation, groups)
    assert got.shape == want.shape
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("kernel,stride,pads,dilation,groups", [
    ((3, 3, 3), (1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1),
    ((2, 3, 1), (2, 1, 2), ((0, 1), (1, 0), (0, 0)), (1, 1, 1), 2),
    ((3, 2, 2), (1, 2, 1), ((0, 0),) * 3, (1, 2, 1), 3),
    ((1, 1, 1), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1),
])
def test_conv3d_matches_naive(kernel, stride, pads, dilation, groups) -> None:
    rng = np.random.default_rng(3)
    c, f, sp = 3 * (max(1, groups)), 6, (4, 5, 4)
    x = rand_int8(rng, (c, *sp))
    w = rand_int8(rng, (f, c // groups, *kernel))
    bias = rng.integers(-1000, 1000, size=f)
    win = make_window(sp, kernel, stride, pads, dilation)
    got = G.conv_acc(x, w, bias, win, groups)
    assert got.tolist() == naive_conv(x, w, bias, kernel, stride, pads, dilation, groups).tolist()


def test_conv_rejects_mismatched_weights() -> None:
    win = make_window((4, 4), (3, 3), (1, 1), ((0, 0), (0, 0)))
    with pytest.raises(ValueError):
        G.conv_acc(np.zeros((4, 4, 4), int), np.zeros((2, 3, 3, 3), int), None, win)


# ---------------------------------------------------------------- pooling sweeps

@pytest.mark.parametrize("op", list(PoolOp))
@pytest.mark.parametrize("kernel,stride,pad,ceil_mode", [
    (k, s, p, cm) for k, s, p, cm in itertools.product(
        [(2, 2), (3, 3), (2, 3), (1, 1)], [(1, 1), (2, 2), (3, 2)], [(0, 0), (1, 1)], [False, True])
    if all(2 * pp <= kk for pp, kk in zip(p, k))
])
def test_pool2d_matches_naive(op, kernel, stride, pad, ceil_mode) -> None:
    rng = np.random.default_rng(11)
    x = rand_int8(rng, (3, 7, 8))
    want, _ = naive_pool(x, kernel, stride, pad, ceil_mode, op)
    win = make_window((7, 8), kernel, stride, tuple((p, p) for p in pad), None, ceil_mode)
    got = G.pool(x, win, op)
    if op is PoolOp.SUM:
        want = np.vectorize(lambda v: naive_requant(v, 1, 2, -128, 127), otypes=[object])(want)
        got = G.pool(x, win, op, m0=1, shift=2)
    assert got.tolist() == want.tolist()


def test_pool3d_and_sum_requant() -> None:
    rng = np.random.default_rng(5)
    x = rand_int8(rng, (2, 4, 5, 5))
    for op in PoolOp:
        want, _ = naive_pool(x, (2, 2, 3), (2, 2, 2), (1, 1, 1), True, op)
        win = make_window((4, 5, 5), (2, 2, 3), (2, 2, 2), ((1, 1),) * 3, None, True)
        if op is PoolOp.SUM:
            got = G.pool(x, win, op, m0=1 << 30, shift=33)   # x 1/8
            want = np.vectorize(lambda v: naive_requant(v, 1 << 30, 33, -128, 127),
                                otypes=[object])(want)
        else:
            got = G.pool(x, win, op)
        assert got.tolist() == want.tolist(), op


def test_global_avg_pool_divisor_49() -> None:
    rng = np.random.default_rng(2)
    x = rand_int8(rng, (5, 7, 7))
    got = G.global_avg_pool(x)
    assert got.shape == (5, 1, 1)
    for c in range(5):
        q = Fraction(int(x[c].sum()), 49)
        r = math.floor(abs(q) + Fraction(1, 2))
        assert got[c, 0, 0] == (r if q >= 0 else -r)


def test_pool_tile_padding_never_wins_and_rejects_empty() -> None:
    vals = np.array([[-100, -50, 99], [5, 6, 7]])
    valid = np.array([[True, True, False], [True, False, False]])
    assert G.pool_tile(vals, valid, PoolOp.MAX).tolist() == [-50, 5]
    assert G.pool_tile(vals, valid, PoolOp.AVG).tolist() == [-75, 5]
    with pytest.raises(ValueError):
        G.pool_tile(vals, np.zeros_like(valid), PoolOp.MAX)


# ---------------------------------------------------------------- GEMM tile, dense, requant

@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("lo,hi", [(-128, 127), (0, 127), (0, 47)])
def test_gemm_tile_matches_naive(per_channel, lo, hi) -> None:
    rng = np.random.default_rng(9)
    m, k, n = 5, 37, 6
    a, b = rand_int8(rng, (m, k)), rand_int8(rng, (k, n))
    bias = rng.integers(-5000, 5000, size=n)
    m0 = rng.integers(1 << 30, 1 << 31, size=n) if per_channel else 1518500250
    shift = rng.integers(36, 42, size=n) if per_channel else 39
    got = G.gemm_tile(a, b, bias, m0, shift, lo, hi)
    for i in range(m):
        for j in range(n):
            acc = int(bias[j]) + sum(int(a[i, t]) * int(b[t, j]) for t in range(k))
            mj = int(m0[j]) if per_channel else m0
            sj = int(shift[j]) if per_channel else shift
            assert got[i, j] == naive_requant(acc, mj, sj, lo, hi)


def test_gemm_tile_rounding_modes_and_acc_wrap() -> None:
    a = np.array([[1], [-1], [3], [-3]])
    b = np.array([[1]])
    assert G.gemm_tile(a, b, None, 1, 1, -128, 127).ravel().tolist() == [1, 0, 2, -1]
    assert G.gemm_tile(a, b, None, 1, 1, -128, 127, Rounding.HALF_EVEN).ravel().tolist() == \
        [0, 0, 2, -2]
    # 16-bit accumulator wraps: 2 * (-128 * -128) = 32768 -> -32768
    acc = G.gemm_acc(np.array([[-128, -128]]), np.array([[-128], [-128]]), None, acc_bits=16)
    assert acc.tolist() == [[-32768]]


def test_dense_matches_naive() -> None:
    rng = np.random.default_rng(4)
    x = rand_int8(rng, (3, 4, 5))
    w = rand_int8(rng, (7, 60))
    bias = rng.integers(-100, 100, size=7)
    flat = [int(v) for c in range(3) for h in range(4) for v in x[c, h]]   # CHW order
    want = [int(bias[j]) + sum(int(w[j, i]) * flat[i] for i in range(60)) for j in range(7)]
    assert G.dense_acc(x, w, bias).tolist() == want


@pytest.mark.parametrize("bits", [8, 12, 16, 24, 28])
def test_exact_matmul_every_operand_width(bits: int) -> None:
    rng = np.random.default_rng(bits)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
    a = rng.integers(lo, hi, size=(4, 300))
    b = rng.integers(lo, hi, size=(300, 3))
    a[0, :] = lo
    b[:, 0] = lo
    want = [[sum(int(a[i, t]) * int(b[t, j]) for t in range(300)) for j in range(3)]
            for i in range(4)]
    assert G.exact_matmul(a, b).tolist() == want


def test_exact_matmul_refuses_int64_overflow() -> None:
    a = np.full((1, 300), -(2**30))
    with pytest.raises(OverflowError):
        G.exact_matmul(a, a.T)


def test_exact_matmul_float32_chunking_is_exact_at_the_bound() -> None:
    # 1032 * 128 * 128 > 2**24: a single float32 GEMM would round, chunking must not.
    k = 5000
    a = np.full((2, k), -128)
    b = np.full((k, 2), -128)
    a[1, ::2] = 127
    assert G.exact_matmul(a, b).tolist() == [[k * 16384] * 2, [k // 2 * 16384 - k // 2 * 16256] * 2]


def test_requant_counts_saturation_not_relu() -> None:
    rq = G.Requant(m0=1, shift=0, lo=0, hi=127, bits=8)
    y, n = G.requantize_counted(np.array([-500, -5, 5, 130, 300]), rq)
    assert y.tolist() == [0, 0, 5, 127, 127] and n == 3   # -500, 130, 300 leave int8
    rq2 = G.Requant(m0=np.array([1, 2]), shift=np.array([0, 1]), lo=-128, hi=127)
    y2, _ = G.requantize_counted(np.array([[3, 3], [5, 5]]).T, rq2, axis=0)
    assert y2.tolist() == [[3, 5], [3, 5]]


def test_add_and_concat_align_formats() -> None:
    rq = G.Requant(m0=1, shift=0, lo=-128, hi=127)
    a, b = np.array([10, -10, 100]), np.array([3, -3, 100])
    # a in scale 0.5, b in scale 0.25, output scale 0.5 -> y = a + b/2, one rounding (half up)
    y, n = G.add([a, b], [2, 1], 1, rq)
    assert y.tolist() == [12, -11, 127] and n == 1
    y2, _ = G.concat([a[None], b[None]], [rq, G.Requant(m0=1, shift=1, lo=-128, hi=127)])
    assert y2.tolist() == [[10, -10, 100], [2, -1, 50]]


def test_golden_ops_doctests() -> None:
    import doctest
    result = doctest.testmod(G)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("amax,bmax,k,want", [
    (128, 127, 4608, np.float32),     # int8 x int8: float32 chunks of 1032
    (512, 511, 10_000, np.float32),   # int10: 64-term chunks, still float32
    (2048, 2047, 100, np.float64),    # int12: float32 chunks would be 4 terms
    (32768, 32767, 65536, np.float64),
    (2**27, 2**27, 300, None),        # 2**54 per term: int64 matmul
])
def test_gemm_dtype_paths(amax, bmax, k, want) -> None:
    assert G.gemm_dtype(k, amax, bmax) is want


# ---------------------------------------------------------------- element-wise kinds, random

@pytest.mark.parametrize("lo,hi", [(0, 127), (0, 47), (-128, 127)])   # relu, relu6 (q6=47), none
def test_clamp_matches_naive(lo, hi) -> None:
    rng = np.random.default_rng(abs(lo) + hi)
    x = rand_int8(rng, (3, 5, 5))
    want = [[[min(max(int(v), lo), hi) for v in row] for row in ch] for ch in x]
    assert G.clamp(x, lo, hi).tolist() == want


@pytest.mark.parametrize("n_in", [2, 3])
@pytest.mark.parametrize("relu", [False, True])
def test_add_matches_naive(n_in, relu) -> None:
    rng = np.random.default_rng(n_in)
    xs = [rand_int8(rng, (2, 4, 3)) for _ in range(n_in)]
    m0s = [int(v) for v in rng.integers(1 << 29, 1 << 31, size=n_in)]
    shift = 31
    rq = G.Requant(m0=1, shift=shift, lo=0 if relu else -128, hi=127, act_lo=0 if relu else None)
    got, n_sat = G.add(xs, m0s, shift, rq)
    sat = 0
    for idx in np.ndindex(2, 4, 3):
        total = sum(int(x[idx]) * m for x, m in zip(xs, m0s))
        r = math.floor(Fraction(total, 2**shift) + Fraction(1, 2))
        sat += (r > 127 or r < -128) and not (relu and r < 0)
        assert got[idx] == min(max(r, rq.lo), rq.hi)
    assert n_sat == sat


def test_concat_and_flatten_match_naive() -> None:
    rng = np.random.default_rng(8)
    a, b = rand_int8(rng, (2, 3, 3)), rand_int8(rng, (3, 3, 3))
    ident = G.Requant(m0=1 << 30, shift=30, lo=-128, hi=127)
    half = G.Requant(m0=1, shift=1, lo=-128, hi=127)
    y, _ = G.concat([a, b], [ident, half])
    want = [ch.tolist() for ch in a] + [[[math.floor(Fraction(int(v), 2) + Fraction(1, 2))
                                          for v in row] for row in ch] for ch in b]
    assert y.tolist() == want
    flat = G.flatten(y)
    assert flat.tolist() == [v for ch in want for row in ch for v in row]   # CHW order


def test_conv1d_and_pool1d_match_naive() -> None:
    rng = np.random.default_rng(12)
    x = rand_int8(rng, (4, 11))
    for kernel, stride, pads, dil, groups in [((3,), (2,), ((1, 2),), (2,), 2), ((1,), (1,), ((0, 0),), (1,), 4)]:
        w = rand_int8(rng, (4, 4 // groups, *kernel))
        win = make_window((11,), kernel, stride, pads, dil)
        want = naive_conv(x, w, None, kernel, stride, pads, dil, groups)
        assert G.conv_acc(x, w, None, win, groups).tolist() == want.tolist()
    for op in PoolOp:
        if op is PoolOp.SUM:
            continue
        want, _ = naive_pool(x, (3,), (2,), (1,), True, op)
        win = make_window((11,), (3,), (2,), ((1, 1),), None, True)
        assert G.pool(x, win, op).tolist() == want.tolist()
