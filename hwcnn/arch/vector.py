"""The vector unit's fixed widths (pooling, adds, activations; ``rtl/README.md`` 4).

Average pooling divides by multiplying with a reciprocal and shifting
(:func:`hwcnn.numerics.fixedpoint.avg_reciprocal`): per lane a ``t_bits x m_bits`` unsigned
product of ``t = |sum| + n//2`` and ``m``, then a right shift by ``s``; the pairs ``(m, s)``
for ``n = 1 .. VECTOR_AVG_MAX_TAPS`` sit in a table. The widths here are the RTL's
(``hwcnn/hw/vector.py``) and the resource count's (``hwcnn/boards``); ``tests/test_fixedpoint.py``
checks that every pair of the contract's table fits them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest tap count an average can divide by (the reciprocal table's size); equals
#: :data:`hwcnn.numerics.fixedpoint.AVG_MAX_TAPS`.
VECTOR_AVG_MAX_TAPS = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorWidths:
    """``t_bits``: ``|sum| + n//2`` for ``n <= 256`` taps of ``act_bits`` (unsigned);
    ``m_bits``/``s_bits``: the reciprocal and its shift (the proof of ``avg_reciprocal``
    bounds ``m < 2 * t_max + 1``, so ``m_bits = t_bits + 1``)."""

    t_bits: int
    m_bits: int
    s_bits: int


def vector_widths(act_bits: int) -> VectorWidths:
    """Widths of the average path for ``act_bits``-bit activations.

    >>> vector_widths(8)
    VectorWidths(t_bits=16, m_bits=17, s_bits=5)
    """
    t_max = VECTOR_AVG_MAX_TAPS * (1 << (act_bits - 1)) + VECTOR_AVG_MAX_TAPS // 2
    t_bits = t_max.bit_length()
    # s <= bits(m) + log2(n) - 1 <= t_bits + 1 + 8.
    return VectorWidths(t_bits=t_bits, m_bits=t_bits + 1, s_bits=(t_bits + 9).bit_length())


__all__ = ["VECTOR_AVG_MAX_TAPS", "VectorWidths", "vector_widths"]
