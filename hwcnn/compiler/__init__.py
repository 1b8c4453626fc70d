"""Stage 4, the compiler: layer graph + :class:`HardwareConfig` -> :class:`Program` of tiles.

:func:`lower` (:mod:`.lowering`) walks the graph in order; :mod:`.gemm` lowers conv and dense
layers to GEMM tiles (im2col, the tile search, K-split chains, :mod:`.packing` of grouped
convs), :mod:`.pool` lowers pooling and residual adds to pool-unit tiles, and :mod:`.plan`
defines the frozen values they produce (tiles, layer plans, the program).
"""

from .gemm import plan_gemm
from .lowering import lower
from .plan import GemmTile, LayerPlan, PoolTile, Program, Tile, Unit
from .pool import PoolGeom, plan_pool
from .search import choose_gemm

__all__ = [
    "GemmTile", "LayerPlan", "PoolGeom", "PoolTile", "Program", "Tile", "Unit", "choose_gemm",
    "lower", "plan_gemm", "plan_pool",
]
