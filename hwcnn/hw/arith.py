"""Amaranth twin of :mod:`hwcnn.numerics.fixedpoint`: the same operations as HDL expressions.

Each function returns an Amaranth value with exactly the semantics of the NumPy function of the
same name (``tests/test_hw_requant.py`` and ``tests/test_hw_pe.py`` sweep one against the
other). Widths: results are wide enough to be exact; callers truncate only where the contract
wraps.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value

from ..numerics.fixedpoint import Rounding
from .descriptor import ROUNDING_CODE

__all__ = ["ROUNDING_CODE", "mac", "round_shift", "saturate", "wrap"]


def wrap(x: Value, bits: int) -> Value:
    """Keep the low ``bits`` bits of ``x`` as a signed value (``fixedpoint.wrap``)."""
    return x[:bits].as_signed()


def mac(acc: Value, a: Value, b: Value, acc_bits: int) -> Value:
    """``wrap(acc + a * b, acc_bits)`` (``fixedpoint.mac``): the PE's multiply-accumulate."""
    return wrap(acc + a * b, acc_bits)


def saturate(x: Value, lo: Value, hi: Value) -> Value:
    """Clamp ``x`` to ``[lo, hi]`` (``fixedpoint.saturate``; requires ``lo <= hi``)."""
    return Mux(x < lo, lo, Mux(x > hi, hi, x))


def round_shift(p: Value, shift: Value, rounding: Value) -> Value:
    """``fixedpoint.round_shift(p, shift, mode)`` with the mode chosen at run time.

    Parameters
    ----------
    p : signed Value
        The exact product.
    shift : unsigned Value
        0..62; ``shift == 0`` returns ``p``.
    rounding : 2-bit Value
        ``ROUNDING_CODE`` of the :class:`hwcnn.numerics.fixedpoint.Rounding` mode.

    All four modes are "add a rounding term, then arithmetic shift right" (floor): the term is
    0 (TRUNCATE), ``2**(s-1)`` (HALF_UP), ``2**(s-1) - [p < 0]`` (HALF_AWAY) or
    ``2**(s-1) - 1 + bit_s(p)`` (HALF_EVEN), and 0 for every mode when ``s == 0``.
    """
    p = p.as_signed()
    pos = shift != 0
    # 2**(s-1) for s >= 1 and 0 for s == 0, as a non-negative signed value.
    half = Cat((Const(1, 1) << shift)[1:], Const(0, 1)).as_signed()
    neg = (p < 0) & pos
    odd = (p >> shift)[0]
    term = Mux(rounding == ROUNDING_CODE[Rounding.TRUNCATE], 0,
           Mux(rounding == ROUNDING_CODE[Rounding.HALF_UP], half,
           Mux(rounding == ROUNDING_CODE[Rounding.HALF_AWAY], half - neg,
               Mux(pos, half - 1 + odd, 0))))
    total = (p + term).as_signed()
    return total >> shift


def signed_width(lo: int, hi: int) -> int:
    """Smallest signed width that holds ``[lo, hi]`` (elaboration-time helper)."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))):
        bits += 1
    return bits

