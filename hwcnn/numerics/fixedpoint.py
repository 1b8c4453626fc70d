"""The numeric contract: fixed-point formats, rounding, overflow and requantization on integers.

This is the ONLY place in the software where rounding and overflow are defined. The golden model
(:mod:`hwcnn.numerics.golden`), the cycle simulator and the Amaranth twin (``hwcnn/hw/arith.py``) all
follow these functions bit for bit; keep names and semantics stable.

Everything here works on exact integers (NumPy ``int64`` arrays or Python ints). The only
functions that touch floats are :func:`quantize`, :func:`quantize_scaled`,
:func:`round_half_away` and :func:`quantize_multiplier` (float -> integer conversion of weights,
inputs and real-valued multipliers); none of them ever uses NumPy's half-to-even ``np.round``.

Conventions (see ``docs/numerics.md``):

* two's complement integers; ``>>`` is the arithmetic shift, i.e. floor division by ``2**s``;
* a requantization is ``y = overflow(round_shift(acc * M0, shift, rounding))`` with a single
  rounding (no intermediate rounding stage as in gemmlowp's default path);
* the accumulator wraps (hardware adders wrap); widths are chosen with :func:`acc_bits_for`
  so that it cannot.

Why one file of ~520 lines (over the project's ~400-line guideline): the contract is cited as a
single module by the golden model, the stepped model, the RTL's twin (``hw/arith.py``), the
tests and ``docs/numerics.md``. Splitting rounding from overflow or the integer side from the
float conversions would give the contract two homes, which is exactly what it exists to prevent.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

IntArray: TypeAlias = np.ndarray
#: The widths a :class:`QFormat` may have (the hardware supports 2..32-bit operands).
MIN_BITS, MAX_BITS = 2, 32
#: Largest shift :func:`round_shift` accepts (``acc * M0`` stays below 2**62 in int64).
MAX_SHIFT = 62


class Rounding(enum.Enum):
    """How :func:`round_shift` maps an exact value ``p / 2**s`` to an integer.

    With ``q = p / 2**s`` (exact rational) and ``s > 0``:

    * ``TRUNCATE``  -- floor, toward -inf: ``p >> s`` (``ap_fixed`` AP_TRN).
      2.5 -> 2, -2.5 -> -3, -2.25 -> -3.
    * ``HALF_UP``   -- nearest, ties toward +inf: ``(p + 2**(s-1)) >> s`` (AP_RND, TFLite single
      rounding). 2.5 -> 3, -2.5 -> -2. The DEFAULT and the mode the hardware implements.
    * ``HALF_AWAY`` -- nearest, ties away from zero: ``(p + 2**(s-1) - (p < 0)) >> s``
      (AP_RND_INF, C ``round``). 2.5 -> 3, -2.5 -> -3.
    * ``HALF_EVEN`` -- nearest, ties to even: ``(p + 2**(s-1) - 1 + ((p >> s) & 1)) >> s``
      (AP_RND_CONV, ``np.round``). 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.

    With ``s == 0`` every mode returns ``p`` unchanged.
    """

    TRUNCATE = "truncate"
    HALF_UP = "half_up"
    HALF_AWAY = "half_away"
    HALF_EVEN = "half_even"


class Overflow(enum.Enum):
    """What happens to a value outside the target range ``[lo, hi]`` of a format.

    * ``SATURATE`` -- clamp to ``lo`` / ``hi`` (AP_SAT). The DEFAULT for requantized outputs.
    * ``WRAP``     -- keep the low ``bits`` bits, reinterpreted as two's complement (signed
      formats) or as unsigned (AP_WRAP; what a hardware adder does).
    """

    WRAP = "wrap"
    SATURATE = "saturate"


@dataclass(frozen=True, slots=True, kw_only=True)
class QFormat:
    """A fixed-point number format, ``ap_fixed<width, int_bits>`` (``ap_ufixed`` if unsigned).

    The stored integer ``q`` (``min_int <= q <= max_int``) means ``q * 2**-frac_bits``.
    ``int_bits`` counts the sign bit for signed formats, as in ``ap_fixed``; the ARM/TI
    ``Qm.n`` (sign excluded) is ``QFormat.q(m, n)`` = ``ap_fixed<m+n+1, m+1>``. ``int_bits``
    may be negative or exceed ``width`` (then ``frac_bits`` is larger than the width, or
    negative).

    >>> f = QFormat(width=8, int_bits=4)
    >>> f.frac_bits, f.min_int, f.max_int, f.scale, f.min_value, f.max_value
    (4, -128, 127, 0.0625, -8.0, 7.9375)
    >>> QFormat.q(3, 4) == f
    True
    >>> QFormat(width=8, int_bits=8, signed=False).max_int
    255
    >>> str(f)
    'Q3.4 (ap_fixed<8,4>)'
    """

    width: int
    int_bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise TypeError(f"QFormat width must be an int, not {self.width!r}")
        if not MIN_BITS <= self.width <= MAX_BITS:
            raise ValueError(
                f"QFormat width must be {MIN_BITS}..{MAX_BITS} bits, not {self.width!r}"
            )
        if isinstance(self.int_bits, bool) or not isinstance(self.int_bits, int):
            raise TypeError(f"QFormat int_bits must be an int, not {self.int_bits!r}")
        if abs(self.int_bits) > 64:
            raise ValueError(f"QFormat int_bits must be within -64..64, not {self.int_bits!r}")

    @classmethod
    def q(cls, m: int, n: int, *, signed: bool = True) -> QFormat:
        """``Qm.n``: ``m`` integer bits (sign excluded), ``n`` fractional bits."""
        return cls(width=m + n + int(signed), int_bits=m + int(signed), signed=signed)

    @classmethod
    def integer(cls, bits: int, *, signed: bool = True) -> QFormat:
        """A plain ``bits``-wide integer (no fractional bits), e.g. int8."""
        return cls(width=bits, int_bits=bits, signed=signed)

    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def scale(self) -> float:
        """The value of one LSB, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def min_value(self) -> float:
        return self.min_int * self.scale

    @property
    def max_value(self) -> float:
        return self.max_int * self.scale

    def __str__(self) -> str:
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        m = self.int_bits - int(self.signed)
        return f"{'' if self.signed else 'U'}Q{m}.{self.frac_bits} ({kind}<{self.width},{self.int_bits}>)"


def _ints(x: object) -> IntArray:
    """``x`` as an int64 array; refuses floats (the contract is integer-only)."""
    a = np.asarray(x)
    if a.dtype == np.int64:
        return a
    if a.dtype.kind not in "iub":
        raise TypeError(f"expected integers, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) >= 1 << 63:
        raise OverflowError("uint64 value does not fit int64")
    return a.astype(np.int64)


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 64:
        raise ValueError(f"bit width must be an int in 1..64, not {bits!r}")


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """``(lo, hi)`` of a ``bits``-wide integer.

    >>> int_range(8), int_range(8, signed=False), int_range(2)
    ((-128, 127), (0, 255), (-2, 1))
    """
    _check_bits(bits)
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def round_shift(p: object, shift: object, rounding: Rounding = Rounding.HALF_UP) -> IntArray:
    """Divide exact integers by ``2**shift`` and round (see :class:`Rounding`).

    Parameters
    ----------
    p : int or array of int
        Exact integers with ``|p| < 2**62`` (e.g. ``acc * M0`` for a 32-bit ``acc`` and a
        31-bit ``M0``).
    shift : int or array of int
        ``0 <= shift <= 62``; broadcast against ``p`` (per-channel shifts go on the last axis).
    rounding : Rounding
        Default ``HALF_UP`` (ties toward +inf), as the hardware.

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> [int(round_shift(p, 1, m)) for m in Rounding for p in (5,)]
    [2, 3, 3, 2]
    >>> [int(round_shift(p, 1, m)) for m in Rounding for p in (-5,)]
    [-3, -2, -3, -2]
    >>> round_shift([7, -7], 0).tolist()
    [7, -7]
    """
    p = _ints(p)
    s = _ints(shift)
    if s.size and (int(s.min()) < 0 or int(s.max()) > MAX_SHIFT):
        raise ValueError(f"shift must be within 0..{MAX_SHIFT}, got {s.min()}..{s.max()}")
    pos = s > 0
    # 2**(s-1) where s > 0, else 0 (np.left_shift with a negative count is undefined).
    half = np.where(pos, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), np.int64(0))
    match rounding:
        case Rounding.TRUNCATE:
            return np.right_shift(p, s)
        case Rounding.HALF_UP:
            return np.right_shift(p + half, s)
        case Rounding.HALF_AWAY:
            return np.right_shift(p + half - ((p < 0) & pos), s)
        case Rounding.HALF_EVEN:
            odd = np.right_shift(p, s) & 1
            return np.right_shift(p + np.where(pos, half - 1 + odd, 0), s)
    raise ValueError(f"not a Rounding: {rounding!r}")


def saturate(x: object, lo: int, hi: int) -> IntArray:
    """Clamp integers to ``[lo, hi]`` (``Overflow.SATURATE``).

    >>> saturate([-300, -128, 0, 127, 300], -128, 127).tolist()
    [-128, -128, 0, 127, 127]
    """
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    return np.clip(_ints(x), lo, hi)


def wrap(x: object, bits: int, signed: bool = True) -> IntArray:
    """Keep the low ``bits`` bits of two's complement integers (``Overflow.WRAP``).

    >>> wrap([127, 128, 255, 256, -129, -128], 8).tolist()
    [127, -128, -1, 0, 127, -128]
    >>> wrap([-1, 256, 257], 8, signed=False).tolist()
    [255, 0, 1]
    """
    _check_bits(bits)
    a = _ints(x)
    if bits == 64:
        return a
    mask = np.int64((1 << bits) - 1)
    low = a & mask
    if signed:
        sign = np.int64(1 << (bits - 1))
        return (low ^ sign) - sign
    return low


def overflow(x: object, lo: int, hi: int, mode: Overflow = Overflow.SATURATE,
             bits: int | None = None, signed: bool = True) -> IntArray:
    """Bring integers into ``[lo, hi]`` with the given :class:`Overflow` mode.

    ``SATURATE`` clamps. ``WRAP`` first keeps the low ``bits`` bits (required), then clamps to
    ``[lo, hi]`` -- the clamp only matters when ``[lo, hi]`` is narrower than the format, i.e.
    for a fused ReLU/ReLU6, which hardware applies after the wrapped write-back.

    >>> overflow([130, -3], 0, 127, Overflow.WRAP, bits=8).tolist()
    [0, 0]
    >>> overflow([130, -3], 0, 127).tolist()
    [127, 0]
    """
    match mode:
        case Overflow.SATURATE:
            return saturate(x, lo, hi)
        case Overflow.WRAP:
            if bits is None:
                raise ValueError("Overflow.WRAP needs the format width 'bits'")
            return saturate(wrap(x, bits, signed), lo, hi)
    raise ValueError(f"not an Overflow: {mode!r}")


def requantize(acc: object, m0: object, shift: object, lo: int, hi: int, *,
               rounding: Rounding = Rounding.HALF_UP, mode: Overflow = Overflow.SATURATE,
               bits: int | None = None) -> IntArray:
    """Requantize accumulators: ``overflow(round_shift(acc * m0, shift, rounding), lo, hi)``.

    One rounding only (the "single rounding" of TFLite with ``TFLITE_SINGLE_ROUNDING``).

    Parameters
    ----------
    acc : array of int
        Accumulators, ``|acc| < 2**31`` (any shape; channels on the LAST axis when
        ``m0``/``shift`` are per channel).
    m0 : int or 1-d array of int
        Multiplier(s), ``0 <= m0 < 2**31`` (``1`` = power-of-two mode).
    shift : int or 1-d array of int
        ``0 <= shift <= 62``.
    lo, hi : int
        Output range (activation bounds, e.g. ``0, 127`` for a fused ReLU on int8).
    rounding, mode : Rounding, Overflow
        Defaults HALF_UP and SATURATE; ``mode=WRAP`` needs ``bits``.

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> requantize([100, -100, 3, -3], 1, 1, -128, 127).tolist()   # /2, ties -> +inf
    [50, -50, 2, -1]
    >>> requantize([100, 100], [1 << 30, 3 << 29], 31, -128, 127).tolist()  # *0.5, *0.75
    [50, 75]
    """
    a = _ints(acc)
    m = _ints(m0)
    if m.size and (int(m.min()) < 0 or int(m.max()) >= 1 << 31):
        raise ValueError(f"multiplier must be within 0..2**31-1, got {m.min()}..{m.max()}")
    if a.size and int(np.abs(a).max()) >= 1 << 31:
        raise ValueError("accumulator exceeds 32 bits; requantize takes |acc| < 2**31")
    return overflow(round_shift(a * m, shift, rounding), lo, hi, mode, bits)


def quantize_multiplier(real: float | np.ndarray) -> tuple[IntArray, IntArray]:
    """Represent positive real multipliers as ``m0 * 2**-shift`` with a 31-bit ``m0``.

    ``m0`` lies in ``[2**30, 2**31)`` (full precision) and ``0 <= shift <= 62``; ``m0`` is
    rounded half away from zero (as TFLite's ``QuantizeMultiplier``). Multipliers below
    ``2**-32`` lose precision (``shift`` is capped at 62 and ``m0`` shrinks; tiny values give
    ``m0 = 0``); multipliers ``>= 2**31`` are not representable and raise ``ValueError``.
    ``real == 0`` gives ``(0, 0)``.

    Examples
    --------
    >>> m0, s = quantize_multiplier(0.75)
    >>> int(m0), int(s), int(m0) / 2 ** int(s)
    (1610612736, 31, 0.75)
    >>> [tuple(map(int, quantize_multiplier(r))) for r in (1.0, 0.5, 3.0)]
    [(1073741824, 30), (1073741824, 31), (1610612736, 29)]
    """
    r = np.asarray(real, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("multipliers must be finite and >= 0")
    flat = r.reshape(-1)
    m0 = np.zeros(flat.shape, dtype=np.int64)
    sh = np.zeros(flat.shape, dtype=np.int64)
    for i, v in enumerate(flat.tolist()):
        if v == 0.0:
            continue
        frac, exp = math.frexp(v)          # v = frac * 2**exp, frac in [0.5, 1)
        shift = 31 - exp
        if shift < 0:
            raise ValueError(f"multiplier {v!r} >= 2**31 is not representable")
        q = int(round_half_away(math.ldexp(frac, 31)))
        if q == 1 << 31:                   # rounding carried into bit 31
            q, shift = q >> 1, shift - 1
            if shift < 0:
                raise ValueError(f"multiplier {v!r} >= 2**31 is not representable")
        if shift > MAX_SHIFT:              # too small: trade mantissa bits for range
            q = int(round_half_away(math.ldexp(v, MAX_SHIFT)))
            shift = MAX_SHIFT
        m0[i], sh[i] = q, shift
    return m0.reshape(r.shape), sh.reshape(r.shape)


def pow2_multiplier(log2_real: int) -> tuple[int, int]:
    """Power-of-two requantization ``2**log2_real`` as ``(m0, shift)``: ``m0 = 1`` for shifts.

    A left shift (``log2_real > 0``) becomes ``m0 = 2**log2_real, shift = 0``.

    >>> pow2_multiplier(-3), pow2_multiplier(0), pow2_multiplier(4)
    ((1, 3), (1, 0), (16, 0))
    """
    k = int(log2_real)
    if k <= 0:
        if -k > MAX_SHIFT:
            raise ValueError(f"shift {-k} exceeds {MAX_SHIFT}")
        return 1, -k
    if k > 30:
        raise ValueError(f"left shift {k} does not fit a 31-bit multiplier")
    return 1 << k, 0


def acc_bits_for(a_bits: int, b_bits: int, k: int, bias: bool = True, *,
                 a_signed: bool = True, b_signed: bool = True) -> int:
    """Minimum signed accumulator width for a ``k``-term dot product of a-bit by b-bit values.

    Exact (the smallest width that can hold every possible sum): for signed operands the
    largest-magnitude product is ``(-2**(a-1)) * (-2**(b-1)) = 2**(a+b-2)``, so the sum lies in
    ``[k * pmin, k * 2**(a+b-2)]`` and needs ``a + b + ceil(log2 k)`` bits when ``k`` is a power
    of two; for other ``k`` it can be one bit fewer than that formula (HARDWARE.md 2.4 quotes
    the formula as an upper bound). ``bias=True`` adds one bit for a bias of (at most) the same
    range added in the same register.

    >>> acc_bits_for(8, 8, 1, bias=False), acc_bits_for(8, 8, 2, bias=False)
    (16, 17)
    >>> acc_bits_for(8, 8, 3, bias=False), acc_bits_for(8, 8, 4608, bias=False)
    (17, 28)
    >>> acc_bits_for(8, 8, 4608)
    29
    """
    _check_bits(a_bits)
    _check_bits(b_bits)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, not {k!r}")
    alo, ahi = int_range(a_bits, a_signed)
    blo, bhi = int_range(b_bits, b_signed)
    prods = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
    lo, hi = int(k) * min(prods), int(k) * max(prods)
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits + int(bias)


def mac(acc: object, a: object, b: object, acc_bits: int) -> IntArray:
    """One multiply-accumulate step of a PE: ``wrap(acc + a * b, acc_bits)``.

    >>> mac(10, -3, 4, 32).tolist(), mac((1 << 31) - 1, 1, 1, 32).tolist()
    (-2, -2147483648)
    """
    return wrap(_ints(acc) + _ints(a) * _ints(b), acc_bits)


def div_round_half_away(s: object, n: object) -> IntArray:
    """Integer divide with round half away from zero (the average-pool divide).

    ``(s + n//2) // n`` if ``s >= 0`` else ``-((-s + n//2) // n)``, for ``n >= 1``. Ties
    (only possible for even ``n``) go away from zero, as TFLite's integer AveragePool.

    >>> div_round_half_away([14, 25, 18, 10, -14, -10, -11], 4).tolist()   # 3.5 6.25 4.5 2.5
    [4, 6, 5, 3, -4, -3, -3]
    >>> div_round_half_away([7, -7, 8], 3).tolist()
    [2, -2, 3]
    """
    s = _ints(s)
    n = _ints(n)
    if n.size and int(n.min()) < 1:
        raise ValueError("divisor must be >= 1")
    half = n // 2
    return np.where(s >= 0, (s + half) // n, -((-s + half) // n))


#: Largest divisor ``n`` of the vector unit's reciprocal table (:func:`avg_reciprocal`): an
#: average over more taps (a global average pool of a map larger than 16x16) runs on the host.
AVG_MAX_TAPS = 256


def avg_reciprocal(n: int, act_bits: int) -> tuple[int, int]:
    """The reciprocal pair ``(m, s)`` for dividing a sum of ``n`` ``act_bits``-bit values.

    ``m = ceil(2**s / n)`` with the smallest ``s`` such that ``e * t_max < 2**s``, where
    ``e = m*n - 2**s`` (``0 <= e < n``) and ``t_max = n * 2**(act_bits-1) + n//2`` bounds
    ``t = |sum| + n//2``. Then ``(t * m) >> s == t // n`` for every ``0 <= t <= t_max``
    (proof: ``t*m / 2**s = t/n + t*e / (n * 2**s)``; the fraction of ``t/n`` is at most
    ``(n-1)/n`` and the error term is below ``1/n``, so the floor is unchanged), which makes
    :func:`div_by_reciprocal` equal to :func:`div_round_half_away` (``docs/numerics.md`` 5;
    checked exhaustively in ``tests/test_fixedpoint.py``). Powers of two give ``m = 1``.

    >>> avg_reciprocal(9, 8), avg_reciprocal(4, 8), avg_reciprocal(1, 8), avg_reciprocal(49, 8)
    ((911, 13), (1, 2), (1, 0), (2675, 17))
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= AVG_MAX_TAPS:
        raise ValueError(f"divisor must be an integer in 1..{AVG_MAX_TAPS}, not {n!r}")
    _check_bits(act_bits)
    t_max = n * (1 << (act_bits - 1)) + n // 2
    s = 0
    while True:
        m = -(-(1 << s) // n)
        if (m * n - (1 << s)) * t_max < (1 << s):
            return m, s
        s += 1


def div_by_reciprocal(s: object, n: object, act_bits: int) -> IntArray:
    """The vector unit's average divide: ``sign(s) * (((|s| + n//2) * m) >> sh)`` with
    ``(m, sh) = avg_reciprocal(n, act_bits)``; bit-exact with :func:`div_round_half_away`
    for every sum of ``n`` values of ``act_bits`` bits (``|s| <= n * 2**(act_bits-1)``).

    >>> div_by_reciprocal([14, 25, 18, 10, -14, -10, -11], 4, 8).tolist()
    [4, 6, 5, 3, -4, -3, -3]
    """
    s = _ints(s)
    n = np.broadcast_to(_ints(n), s.shape)
    out = np.zeros(s.shape, dtype=np.int64)
    for v in np.unique(n):
        m, sh = avg_reciprocal(int(v), act_bits)
        sel = n == v
        q = ((np.abs(s[sel]) + int(v) // 2) * m) >> sh
        out[sel] = np.where(s[sel] < 0, -q, q)
    return out


def round_half_away(x: object) -> np.ndarray:
    """Round floats to the nearest integer, ties away from zero (never ``np.round``).

    Exact: ``x - trunc(x)`` is computed without error, so 0.49999999999999994 -> 0.

    >>> round_half_away([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, -1.4]).tolist()
    [1.0, 2.0, 3.0, -1.0, -3.0, 0.0, -1.0]
    """
    a0 = np.asarray(x, dtype=np.float64)
    a = a0.reshape(-1)          # 1-d so the in-place ops below never meet NumPy scalars
    mag = np.abs(a)
    f = np.floor(mag)
    # |a| - floor(|a|) is exact, so the tie test is exact; in-place ops keep big tensors cheap.
    np.subtract(mag, f, out=mag)
    f += mag >= 0.5
    return np.copysign(f, a, out=f).reshape(a0.shape)


def quantize_scaled(x: object, scale: object, lo: int, hi: int) -> IntArray:
    """Float values -> integers ``q = saturate(round_half_away(x / scale), lo, hi)``.

    ``scale`` may be per channel (broadcast against ``x``). Non-finite inputs raise.

    >>> quantize_scaled([0.26, -0.25, 100.0], 0.5, -128, 127).tolist()
    [1, -1, 127]
    """
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("cannot quantize non-finite values")
    sc = np.asarray(scale, dtype=np.float64)
    if np.any(sc <= 0) or not np.all(np.isfinite(sc)):
        raise ValueError("scale must be finite and > 0")
    r = round_half_away(a / sc)
    return np.clip(r, lo, hi).astype(np.int64)


def quantize(x: object, fmt: QFormat) -> IntArray:
    """Float values -> stored integers of ``fmt`` (round half away from zero, then saturate).

    >>> f = QFormat(width=8, int_bits=4)     # LSB = 1/16
    >>> quantize([0.03125, -0.03125, 0.09375, 100.0, -100.0], f).tolist()
    [1, -1, 2, 127, -128]
    """
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("cannot quantize non-finite values")
    # Scaling by a power of two is exact in float64, so only the rounding is inexact.
    r = round_half_away(np.ldexp(a, fmt.frac_bits))
    return np.clip(r, fmt.min_int, fmt.max_int).astype(np.int64)


def dequantize(q: object, fmt: QFormat) -> np.ndarray:
    """Stored integers of ``fmt`` -> float64 values ``q * 2**-frac_bits``.

    >>> dequantize([16, -3], QFormat(width=8, int_bits=4)).tolist()
    [1.0, -0.1875]
    """
    return np.ldexp(_ints(q).astype(np.float64), -fmt.frac_bits)


def convert(q: object, src: QFormat, dst: QFormat, rounding: Rounding = Rounding.HALF_UP,
            mode: Overflow = Overflow.SATURATE) -> IntArray:
    """Re-express stored integers of ``src`` in ``dst`` (shift by the fraction-bit difference).

    >>> convert([5, -5], QFormat(width=8, int_bits=4), QFormat(width=8, int_bits=5)).tolist()
    [3, -2]
    >>> convert([100], QFormat(width=8, int_bits=4), QFormat(width=8, int_bits=2)).tolist()
    [127]
    """
    d = src.frac_bits - dst.frac_bits
    a = _ints(q)
    if d >= 0:
        y = round_shift(a, d, rounding)
    else:
        y = a << np.int64(-d)
    return overflow(y, dst.min_int, dst.max_int, mode, dst.width, dst.signed)


__all__ = [
    "AVG_MAX_TAPS", "MAX_BITS", "MAX_SHIFT", "MIN_BITS", "Overflow", "QFormat", "Rounding",
    "acc_bits_for", "avg_reciprocal", "convert", "dequantize", "div_by_reciprocal",
    "div_round_half_away", "int_range", "mac", "overflow",
    "pow2_multiplier", "quantize", "quantize_multiplier", "quantize_scaled", "requantize",
    "round_half_away", "round_shift", "saturate", "wrap",
]
