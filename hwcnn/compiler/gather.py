"""How the complete accelerator loads a GEMM's A operand, for planning (:mod:`hwcnn.compiler`).

The tile engine of memsim takes a tile's bytes at the memory port's bandwidth. The complete
accelerator (``hwcnn_soc``, rtl/README.md 9.2 and 10.2) loads A with its load unit, and
when that gathers im2col rows it is slower than the bytes: a LOAD2D walks one rectangle
descriptor per output pixel (:func:`hwcnn.arch.soc.load2d_pixel_cycles`; both dataflows
share the activation word layout, rtl/README.md 3). A :class:`Gather` gives a tile's A load that floor in cycles;
the tile search and memsim take a load as lasting at least that long (the load unit holds
the port meanwhile). It applies only when the plan is for the complete accelerator, i.e. the
memory has a port (:attr:`hwcnn.arch.config.MemoryConfig.port_bytes_per_cycle`: a board, or
``--bus-bits``); the tile engine alone is fed by bytes.

A pointwise window (1x1, stride 1, no padding, and a dense layer on a 1x1 map) is a PIXELS
load, bytes-bound, so no floor (:func:`hwcnn.compiler.codegen.pointwise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..arch.config import HardwareConfig
from ..arch.dma import DEFAULT_LATENCY
from ..arch.soc import IM2COL_PHASES, load2d_pixel_cycles, load2d_pixel_terms
from ..frontend import layers as L

__all__ = ["IM2COL_SETUP", "Gather", "gather_of"]

#: Cycles from a LOAD2D's start to its walkers' first pixel (the bit-serial set-up's three
#: phases, ``hw/soc/im2col.py``: the first element in cycle 62 of the instruction).
IM2COL_SETUP = sum(IM2COL_PHASES) + 2


@dataclass(frozen=True, slots=True)
class Gather:
    """A GEMM's im2col geometry as its LOAD2D sees it: kernel rows and columns and the
    channels of one group (``cg``: one kernel position's contiguous elements)."""

    kh: int
    kw: int
    cg: int
    bus_bytes: int
    elem_bytes: int

    def _rows(self, k: int, pack: int) -> tuple[int, int, int]:
        """``(kh, kw, row_bytes)`` of one pixel's descriptor: whole
        kernel rows, or (a chunk that cuts kernel rows) one DMA row per kernel position."""
        cg = self.cg * pack
        row = self.kw * cg                    # one kernel row's elements
        if k % row == 0:
            return k // row, self.kw, row * self.elem_bytes
        return -(-k // cg), 1, min(k, cg) * self.elem_bytes

    def tile_cycles(self, rows: int, k: int, pack: int = 1) -> int:
        """The fewest cycles in which the load unit gathers ``rows`` im2col rows of ``k``
        elements (a whole K, or a chunk of it) of a GEMM of ``pack`` groups."""
        if rows <= 0 or k <= 0:
            return 0
        pace = load2d_pixel_cycles(*self._rows(k, pack), self.bus_bytes, DEFAULT_LATENCY)
        return IM2COL_SETUP + math.ceil(rows * pace)

    def explain(self, rows: int, k: int, pack: int = 1) -> str:
        """:meth:`tile_cycles` worked out, for ``hwcnn explain``."""
        total = self.tile_cycles(rows, k, pack)
        kh, kw, rb = self._rows(k, pack)
        beats, walk, wait = load2d_pixel_terms(kh, kw, rb, self.bus_bytes, DEFAULT_LATENCY)
        return (f"{IM2COL_SETUP} (set-up) + ceil(m*pace) = {IM2COL_SETUP} + ceil({rows}*"
                f"{max(walk, wait):g}) = {total:,} cycles; pace per output pixel (one descriptor of "
                f"{kh} DMA row{'s' if kh > 1 else ''} of {rb} bytes) = max(4 + max(kh, kw) + "
                f"beats, (latency + beats + 3)/2) = max({walk:g}, {wait:g}), beats = "
                f"{kh}*(({rb} - 1)/{self.bus_bytes} + 1) = {beats:g}, latency "
                f"{DEFAULT_LATENCY}")


def gather_of(node: dict[str, Any], hw: HardwareConfig) -> Gather | None:
    """The :class:`Gather` of a conv / dense / stand-alone BatchNorm graph node planned for
    the complete accelerator (``hw.memory`` has a port), or ``None``: no port (the tile
    engine), or a PIXELS load (a pointwise window)."""
    port = hw.memory.port_bytes_per_cycle
    if port is None:
        return None
    layer = node["layer"]
    x = node["in_shapes"][0]
    spatial = tuple(x.spatial)
    match layer:
        case L.Conv():
            w = node["window"]
            kernel, stride = w.kernel, w.stride
            kh, kw = (1, kernel[0]) if len(kernel) == 1 else kernel[-2:]
            cg = x.channels // layer.groups
            point = (all(v == 1 for v in kernel) and all(v == 1 for v in stride)
                     and not any(v for p in w.pads for v in p))
        case L.Dense():
            kh, kw = (spatial[-2], spatial[-1]) if len(spatial) >= 2 else (
                1, spatial[0] if spatial else 1)
            cg = x.channels
            point = math.prod(spatial) == 1
        case _:                               # stand-alone BatchNorm: a depthwise 1x1
            kh = kw = cg = 1
            point = True
    if point:
        return None
    # beats are the port's width (the DRAM's pace, when slower, is the load's bytes / bandwidth)
    return Gather(kh=kh, kw=kw, cg=cg, bus_bytes=max(1, int(port)),
                  elem_bytes=-(-hw.array.act_bits // 8))
