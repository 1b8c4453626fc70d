"""The bit-exact golden model: integer execution of a quantized network.

The per-layer integer kernels live in :mod:`hwcnn.golden_ops`; this module re-exports the two
hardware-facing entry points with stable signatures, :func:`gemm_tile` and :func:`pool_tile`.
"""

from __future__ import annotations

from .golden_ops import gemm_tile, pool_tile

__all__ = ["gemm_tile", "pool_tile"]
