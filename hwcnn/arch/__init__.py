"""The accelerator's architecture: its configuration and its closed-form cycle counts.

:class:`HardwareConfig` (:mod:`.config`) is the one object threaded through lowering, the machine
models, the RTL generator and the board fit. :mod:`.timing` holds the exact cycle formulas of every
tile, the one source of truth that the compiler's tile search, the estimator, the stepped model
and the RTL tests share.

Why a package of its own: the compiler needs both (tile sizes depend on the array and on
cycles), the machine models execute the compiler's programs, and the RTL is generated from the
same configuration. Keeping them below all three avoids a compiler <-> machine import cycle.
"""

from .config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from .timing import (
    TileTiming,
    gemm_tile_cycles,
    gemm_tile_timing,
    pool_tile_cycles,
    pool_tile_timing,
)

__all__ = [
    "ArrayConfig", "Dataflow", "HardwareConfig", "MemoryConfig", "TileTiming",
    "gemm_tile_cycles", "gemm_tile_timing", "pool_tile_cycles", "pool_tile_timing",
]
