"""Records of the lowering (:mod:`hwcnn.compiler`): tiles, layer plans, the program, buffer caps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..arch.config import HardwareConfig
from ..frontend import layers as L

#: Descriptor size fields are 16 bits wide.
MAX_DESC = (1 << 16) - 1


class Unit:
    """Where a layer runs (plain string constants, shown in reports)."""

    ARRAY = "array"
    POOL = "pool"
    FUSED = "fused"
    FREE = "free"
    HOST = "host"


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmTile:
    """One GEMM tile: ``Out[m0:m0+m, n0:n0+n] = requant(bias + A[m0:m0+m, :k] @ B[:k, n0:n0+n])``
    of GEMM ``group``; occupancy and DRAM traffic in bytes.

    K-split tiles (``rtl/README.md`` 4) cover ``A[.., k0:k0+k] @ B[k0:k0+k, ..]``: ``acc_in``
    starts from the partial sums of the previous chunk, ``acc_out`` keeps the int32 sums in the
    accumulator buffer instead of writing outputs. A whole-K tile has ``k0 = 0`` and neither.
    """

    layer: str
    index: int
    group: int
    m0: int
    m: int
    n0: int
    n: int
    k: int
    act_bytes: int
    weight_bytes: int
    out_bytes: int
    dram_read: int
    dram_write: int
    double_buffered: bool
    k0: int = 0
    acc_in: bool = False
    acc_out: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolTile:
    """One vector-unit tile: channels ``c0:c0+channels``, output rows ``oy0:oy0+out_h`` computed
    from input rows ``iy0:iy0+in_h`` (window/stride/pad in band-local coordinates)."""

    layer: str
    index: int
    c0: int
    channels: int
    oy0: int
    out_h: int
    out_w: int
    iy0: int
    in_h: int
    in_w: int
    win: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out_bytes: int
    dram_read: int
    dram_write: int
    double_buffered: bool
    #: AVG ``count_include_pad``: divide by the taps inside the input padded by ``pad``
    #: (top/left) and ``pad_far`` (bottom/right), not by the in-bounds taps.
    count_pad: bool = False
    pad_far: tuple[int, int] = (0, 0)


Tile = GemmTile | PoolTile


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPlan:
    """How one layer runs: its unit, tiling choice, and per-tile arrays (program order).

    ``cycles``/``dram_read``/``dram_write``/``occupancy`` have one entry per tile;
    ``occupancy`` is the bytes the tile holds in the three on-chip memories.
    """

    name: str
    layer: L.Layer
    unit: str
    note: str
    macs: int
    cycles: np.ndarray
    dram_read: np.ndarray
    dram_write: np.ndarray
    occupancy: np.ndarray
    double_buffered: np.ndarray
    make_tiles: Callable[[], Iterator[Tile]] = field(repr=False, compare=False)
    #: the layer whose tiles compute this layer's value (itself, or what it is fused into)
    host: str = ""
    #: bytes of the first tile's ``dram_read`` that are the layer's input (activations, which
    #: an earlier layer writes); the rest (weights, parameters) does not wait for it. -1: all.
    first_input_read: int = -1
    #: GEMM layers: groups per array GEMM (:mod:`hwcnn.compiler.packing`; 1: unpacked). The
    #: tiles' ``group``, ``k0`` and ``n0`` address the packed GEMMs.
    pack: int = 1
    #: per tile, the fewest cycles its load takes on the complete accelerator's load unit
    #: (:mod:`hwcnn.compiler.gather`: an im2col gather of its A slice), or None: bytes alone
    load_min: np.ndarray | None = None

    @property
    def tiles(self) -> int:
        return len(self.cycles)

    @property
    def buffer_peak(self) -> int:
        """Peak on-chip bytes in use: a double-buffered tile shares the memories with the
        prefetch of the next one, so it counts twice."""
        if not len(self.occupancy):
            return 0
        return int((self.occupancy * np.where(self.double_buffered, 2, 1)).max())


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """The ordered tile program of a network on one hardware configuration."""

    hw: HardwareConfig
    layers: tuple[LayerPlan, ...]

    def tiles(self) -> Iterator[Tile]:
        """Every tile, in execution order (generated on demand)."""
        for plan in self.layers:
            yield from plan.make_tiles()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated per-tile compute cycles, DRAM reads, DRAM writes, double-buffer flags."""
        cat = np.concatenate
        z = [np.zeros(0, np.int64)]
        return (cat(z + [p.cycles for p in self.layers]), cat(z + [p.dram_read for p in self.layers]),
                cat(z + [p.dram_write for p in self.layers]),
                cat([np.zeros(0, bool)] + [p.double_buffered for p in self.layers]))

    def load_floors(self) -> np.ndarray:
        """Concatenated per-tile ``load_min`` (0 where a layer has none)."""
        return np.concatenate([np.zeros(0, np.int64)] + [
            p.load_min if p.load_min is not None else np.zeros(p.tiles, np.int64)
            for p in self.layers])


@dataclass(frozen=True, slots=True)
class _Caps:
    """Capacities: act/weight/out memories in bytes, parameter and accumulator memories in
    words."""

    act: int
    weight: int
    out: int
    param: int
    acc: int


def _caps(hw: HardwareConfig) -> _Caps:
    m = hw.memory
    return _Caps(m.act_kib * 1024, m.weight_kib * 1024, m.out_kib * 1024, m.param_words,
                 m.acc_words)


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)
