"""The numeric contract, checked against exact rational arithmetic (fractions.Fraction)."""

from __future__ import annotations

import doctest
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwcnn.numerics import fixedpoint as fp
from hwcnn.numerics.fixedpoint import Overflow, QFormat, Rounding


def ref_round(q: Fraction, mode: Rounding) -> int:
    """Independent definition of each rounding mode on an exact rational."""
    fl = math.floor(q)
    rem = q - fl
    if mode is Rounding.TRUNCATE:
        return fl
    if rem != Fraction(1, 2):
        return fl + (1 if rem > Fraction(1, 2) else 0)
    match mode:
        case Rounding.HALF_UP:
            return fl + 1
        case Rounding.HALF_AWAY:
            return fl + 1 if q > 0 else fl
        case Rounding.HALF_EVEN:
            return fl if fl % 2 == 0 else fl + 1
    raise AssertionError(mode)


def test_doctests() -> None:
    result = doctest.testmod(fp)
    assert result.attempted > 15 and result.failed == 0


@pytest.mark.parametrize("mode", list(Rounding))
def test_round_shift_exhaustive_small(mode: Rounding) -> None:
    ps = np.arange(-300, 301)
    for s in range(7):
        got = fp.round_shift(ps, s, mode)
        want = [ref_round(Fraction(int(p), 2**s), mode) for p in ps]
        assert got.tolist() == want, (mode, s)


def test_round_shift_ties_named() -> None:
    # Ties at +-0.5, +-1.5, +-2.5 (p / 2 with odd p), per mode, written out by hand.
    p = [1, -1, 3, -3, 5, -5]
    assert fp.round_shift(p, 1, Rounding.TRUNCATE).tolist() == [0, -1, 1, -2, 2, -3]
    assert fp.round_shift(p, 1, Rounding.HALF_UP).tolist() == [1, 0, 2, -1, 3, -2]
    assert fp.round_shift(p, 1, Rounding.HALF_AWAY).tolist() == [1, -1, 2, -2, 3, -3]
    assert fp.round_shift(p, 1, Rounding.HALF_EVEN).tolist() == [0, 0, 2, -2, 2, -2]


@pytest.mark.parametrize("mode", list(Rounding))
def test_round_shift_large_values_and_per_channel(mode: Rounding) -> None:
    rng = np.random.default_rng(1)
    p = rng.integers(-(1 << 61), 1 << 61, size=(50, 4), dtype=np.int64)
    # force exact ties in the first row
    shifts = np.array([1, 17, 40, 62])
    p[0] = (np.int64(1) << (shifts - 1)) * np.array([1, -3, 5, -1])
    got = fp.round_shift(p, shifts, mode)
    for i in range(p.shape[0]):
        for j in range(4):
            assert got[i, j] == ref_round(Fraction(int(p[i, j]), 2 ** int(shifts[j])), mode)


def test_round_shift_rejects_bad_shift_and_floats() -> None:
    with pytest.raises(ValueError):
        fp.round_shift([1], 63)
    with pytest.raises(ValueError):
        fp.round_shift([1], -1)
    with pytest.raises(TypeError):
        fp.round_shift([1.5], 1)


@pytest.mark.parametrize("bits", [2, 3, 8, 16, 32])
def test_wrap_and_saturate_edges(bits: int) -> None:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    xs = [lo - 1, lo, lo + 1, -1, 0, 1, hi - 1, hi, hi + 1, 2 ** bits, -(2 ** bits) - 1]
    want_wrap = [((x - lo) % 2 ** bits) + lo for x in xs]
    assert fp.wrap(xs, bits).tolist() == want_wrap
    assert fp.saturate(xs, lo, hi).tolist() == [min(max(x, lo), hi) for x in xs]
    assert fp.wrap(xs, bits, signed=False).tolist() == [x % 2 ** bits for x in xs]
    assert fp.overflow(xs, lo, hi, Overflow.WRAP, bits=bits).tolist() == want_wrap


def test_overflow_wrap_needs_bits() -> None:
    with pytest.raises(ValueError, match="bits"):
        fp.overflow([1], -128, 127, Overflow.WRAP)


def test_qformat_ranges_and_validation() -> None:
    for w in range(2, 33):
        f = QFormat(width=w, int_bits=w // 2)
        assert (f.min_int, f.max_int) == (-(2 ** (w - 1)), 2 ** (w - 1) - 1)
        u = QFormat(width=w, int_bits=w // 2, signed=False)
        assert (u.min_int, u.max_int) == (0, 2 ** w - 1)
        assert f.frac_bits == w - w // 2 and f.scale == 2.0 ** -(w - w // 2)
    # ap_fixed<3,2> holds -2.0 .. 1.5 in steps of 0.5 (UG1399)
    f = QFormat(width=3, int_bits=2)
    assert (f.min_value, f.max_value, f.scale) == (-2.0, 1.5, 0.5)
    assert QFormat.q(0, 7) == QFormat(width=8, int_bits=1)
    for bad in (1, 33, 0, 64):
        with pytest.raises(ValueError, match="width"):
            QFormat(width=bad, int_bits=1)
    with pytest.raises(TypeError):
        QFormat(width=8.0, int_bits=1)  # type: ignore[arg-type]


def test_quantize_ties_away_from_zero_never_half_even() -> None:
    f = QFormat(width=8, int_bits=8)  # plain int8
    xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -128.5, -127.5, 0.49999999999999994]
    assert fp.quantize(xs, f).tolist() == [1, 2, 3, -1, -2, -3, 127, 127, -128, -128, 0]
    # ap_fixed<4,4> saturating: 19 -> 7, -19 -> -8 (UG1399 example)
    assert fp.quantize([19.0, -19.0], QFormat(width=4, int_bits=4)).tolist() == [7, -8]
    # ap_fixed<3,2> with rounding: -1.25 -> -1.0 is AP_RND (half up); ours is half away -> -1.5
    assert fp.quantize([-1.25, 1.25], QFormat(width=3, int_bits=2)).tolist() == [-3, 3]
    with pytest.raises(ValueError):
        fp.quantize([np.nan], f)


def test_quantize_scaled_per_channel() -> None:
    x = np.array([[1.0, 1.0], [-0.75, 3.0]])
    scale = np.array([0.5, 2.0])
    assert fp.quantize_scaled(x, scale, -127, 127).tolist() == [[2, 1], [-2, 2]]
    with pytest.raises(ValueError):
        fp.quantize_scaled(x, 0.0, -127, 127)


@pytest.mark.parametrize("a,b", [(8, 8), (4, 4), (2, 3), (16, 8), (8, 16)])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 16, 100, 1024, 4608, 65536])
def test_acc_bits_is_minimal_and_sufficient(a: int, b: int, k: int) -> None:
    bits = fp.acc_bits_for(a, b, k, bias=False)
    extreme_pos = k * (2 ** (a - 1)) * (2 ** (b - 1))          # (-2^(a-1)) * (-2^(b-1)), k times
    extreme_neg = -k * (2 ** (a - 1)) * (2 ** (b - 1) - 1)
    assert -(2 ** (bits - 1)) <= extreme_neg and extreme_pos <= 2 ** (bits - 1) - 1
    assert extreme_pos > 2 ** (bits - 2) - 1                    # one bit fewer overflows
    formula = a + b + math.ceil(math.log2(k))
    if k & (k - 1) == 0:
        assert bits == formula                                  # tight at powers of two
    else:
        assert formula - 1 <= bits <= formula
    assert fp.acc_bits_for(a, b, k) == bits + 1


def test_acc_bits_brute_force_tiny() -> None:
    # Enumerate every 2-term dot product of 3-bit x 2-bit signed values.
    vals_a, vals_b = range(-4, 4), range(-2, 2)
    sums = [x1 * y1 + x2 * y2 for x1 in vals_a for y1 in vals_b for x2 in vals_a for y2 in vals_b]
    need = next(n for n in range(1, 20) if -(2 ** (n - 1)) <= min(sums) and max(sums) < 2 ** (n - 1))
    assert fp.acc_bits_for(3, 2, 2, bias=False) == need
    with pytest.raises(ValueError):
        fp.acc_bits_for(8, 8, 0)


def test_mac_wraps_at_accumulator_width() -> None:
    assert fp.mac(2**31 - 1, 1, 1, 32).tolist() == -(2**31)
    assert fp.mac(0, -128, -128, 16).tolist() == 16384
    assert fp.mac(16384, -128, -128, 16).tolist() == -32768


def test_requantize_matches_exact_rational_per_channel() -> None:
    rng = np.random.default_rng(7)
    acc = rng.integers(-(2**31) + 1, 2**31, size=(40, 3), dtype=np.int64)
    m0 = np.array([1, 1 << 30, (1 << 31) - 1])
    sh = np.array([0, 31, 45])
    for mode in Rounding:
        got = fp.requantize(acc, m0, sh, -(2**20), 2**20, rounding=mode)
        for i in range(40):
            for j in range(3):
                exact = ref_round(Fraction(int(acc[i, j]) * int(m0[j]), 2 ** int(sh[j])), mode)
                assert got[i, j] == min(max(exact, -(2**20)), 2**20)


def test_requantize_tie_cases_and_clamps() -> None:
    # acc * M0 exactly at .5 LSB, both signs: M0 = 2^30, shift 31 -> x/2
    acc = [1, -1, 3, -3, 255, -257]
    assert fp.requantize(acc, 1 << 30, 31, -128, 127).tolist() == [1, 0, 2, -1, 127, -128]
    assert fp.requantize(acc, 1 << 30, 31, -128, 127, rounding=Rounding.HALF_AWAY).tolist() == \
        [1, -1, 2, -2, 127, -128]
    assert fp.requantize(acc, 1 << 30, 31, 0, 127).tolist() == [1, 0, 2, 0, 127, 0]   # ReLU
    # WRAP keeps the low 8 bits: 255/2 -> 128 -> -128
    assert fp.requantize([255], 1 << 30, 31, -128, 127, mode=Overflow.WRAP, bits=8).tolist() \
        == [-128]
    with pytest.raises(ValueError):
        fp.requantize([2**31], 1, 0, -128, 127)
    with pytest.raises(ValueError):
        fp.requantize([1], 2**31, 0, -128, 127)


@pytest.mark.parametrize("real", [1e-12, 1e-9, 2.0**-33, 0.00123, 0.1, 0.5, 0.7499999, 1.0,
                                  1.9999999999, 3.0, 1000.0, 2.0**30])
def test_quantize_multiplier_accuracy(real: float) -> None:
    m0, s = (int(v) for v in fp.quantize_multiplier(real))
    assert 0 <= m0 < 2**31 and 0 <= s <= 62
    approx = Fraction(m0, 2**s)
    if s < 62:
        assert 2**30 <= m0
        assert abs(approx - Fraction(real)) <= Fraction(1, 2**(s + 1))   # half an LSB of m0
    else:
        assert abs(approx - Fraction(real)) <= Fraction(1, 2**63)


def test_quantize_multiplier_edges() -> None:
    assert tuple(map(int, fp.quantize_multiplier(0.0))) == (0, 0)
    # 1 - 2^-40 rounds up to 2^31 -> renormalised
    m0, s = (int(v) for v in fp.quantize_multiplier(1 - 2.0**-40))
    assert (m0, s) == (1 << 30, 30)
    m0, s = fp.quantize_multiplier(np.array([0.5, 0.25]))
    assert m0.tolist() == [1 << 30, 1 << 30] and s.tolist() == [31, 32]
    for bad in (-1.0, float("inf"), 2.0**31):
        with pytest.raises(ValueError):
            fp.quantize_multiplier(bad)


def test_pow2_multiplier() -> None:
    assert fp.pow2_multiplier(-5) == (1, 5)
    assert fp.pow2_multiplier(3) == (8, 0)
    with pytest.raises(ValueError):
        fp.pow2_multiplier(31)


def test_div_round_half_away_against_fractions() -> None:
    for n in range(1, 50):
        s = np.arange(-128 * n, 128 * n + 1)
        got = fp.div_round_half_away(s, n)
        q = [Fraction(int(v), n) for v in s]
        want = [int(math.copysign(math.floor(abs(x) + Fraction(1, 2)), x)) for x in q]
        assert got.tolist() == want, n


def test_convert_between_formats() -> None:
    a = QFormat(width=8, int_bits=4)
    b = QFormat(width=16, int_bits=4)
    assert fp.convert([5, -128], a, b).tolist() == [5 * 256, -128 * 256]
    assert fp.convert([5 * 256 + 128, -5 * 256 - 128], b, a).tolist() == [6, -5]   # half up


@settings(max_examples=300, deadline=None)
@given(acc=st.integers(-(2**31) + 1, 2**31 - 1), m0=st.integers(0, 2**31 - 1),
       shift=st.integers(0, 62), mode=st.sampled_from(list(Rounding)),
       bits=st.integers(2, 16))
def test_requantize_property(acc: int, m0: int, shift: int, mode: Rounding, bits: int) -> None:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    exact = ref_round(Fraction(acc * m0, 2**shift), mode)
    assert int(fp.requantize([acc], m0, shift, lo, hi, rounding=mode)[0]) == min(max(exact, lo), hi)
    wrapped = ((exact - lo) % 2**bits) + lo
    assert int(fp.requantize([acc], m0, shift, lo, hi, rounding=mode, mode=Overflow.WRAP,
                             bits=bits)[0]) == wrapped


# -- the vector unit's average: reciprocal multiply == half-away division ----------------------

@pytest.mark.parametrize("act_bits", [2, 3, 4, 5, 6, 7, 8])
def test_div_by_reciprocal_exhaustive(act_bits: int) -> None:
    # Every n the reciprocal table holds, every sum of n act_bits-bit values
    # (-2**(a-1) * n .. (2**(a-1) - 1) * n): the reciprocal form equals the division, checked
    # here against Python's exact integer arithmetic (not against div_round_half_away alone).
    half = 1 << (act_bits - 1)
    for n in range(1, fp.AVG_MAX_TAPS + 1):
        s = np.arange(-half * n, (half - 1) * n + 1, dtype=np.int64)
        m, sh = fp.avg_reciprocal(n, act_bits)
        assert 0 < m < 1 << (act_bits + 10) and sh <= act_bits + 16
        exact = np.where(s >= 0, (s + n // 2) // n, -((-s + n // 2) // n))
        assert (fp.div_by_reciprocal(s, n, act_bits) == exact).all(), (act_bits, n)
        assert (fp.div_round_half_away(s, n) == exact).all()


def test_avg_reciprocal_is_minimal_enough_and_fails_one_lower() -> None:
    # Published minimal pairs (HARDWARE.md 8.2): n=9 -> (911, 13), 25 -> (1311, 15),
    # 49 -> (2675, 17); powers of two are plain shifts.
    assert [fp.avg_reciprocal(n, 8) for n in (9, 25, 49, 196, 64)] == [
        (911, 13), (1311, 15), (2675, 17), (2675, 19), (1, 6)]
    # Negative control: one bit less of shift (m = ceil(2**(s-1)/n)) breaks exactness for n=9.
    m, s = fp.avg_reciprocal(9, 8)
    m2 = -(-(1 << (s - 1)) // 9)
    t = np.arange(0, 128 * 9 + 5)
    assert ((t * m2) >> (s - 1) != t // 9).any()
    assert ((t * m) >> s == t // 9).all()


def test_reciprocal_table_fits_the_vector_unit_widths() -> None:
    from hwcnn.arch.vector import VECTOR_AVG_MAX_TAPS, vector_widths

    assert VECTOR_AVG_MAX_TAPS == fp.AVG_MAX_TAPS
    for a in range(2, 17):
        w = vector_widths(a)
        assert (fp.AVG_MAX_TAPS * (1 << (a - 1)) + fp.AVG_MAX_TAPS // 2) < 1 << w.t_bits
        for n in range(1, fp.AVG_MAX_TAPS + 1):
            m, s = fp.avg_reciprocal(n, a)
            assert m < 1 << w.m_bits and s < 1 << w.s_bits, (a, n)


def test_avg_reciprocal_rejects_bad_n() -> None:
    for bad in (0, 257, True, 2.0):
        with pytest.raises(ValueError, match=r"divisor must be an integer in 1\.\.256"):
            fp.avg_reciprocal(bad, 8)  # type: ignore[arg-type]
