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
from ..arch.soc import (
    IM2COL_PHASES,
    im2col_run_max,
    load2d_chunk_cycles,
    load2d_descriptor,
    load2d_pixel_terms,
    row_beats,
)
from ..frontend import layers as L

__all__ = ["IM2COL_SETUP", "Gather", "gather_of"]

#: Cycles from a LOAD2D's start to its walkers' first pixel (the bit-serial set-up's three
#: phases, ``hw/soc/im2col.py``: the first element in cycle 62 of the instruction).
IM2COL_SETUP = sum(IM2COL_PHASES) + 2


@dataclass(frozen=True, slots=True)
class Gather:
    """A GEMM's im2col geometry as its LOAD2D sees it: kernel rows and columns, the channels
    of one group (``cg``: one kernel position's contiguous elements), the memory port's beat,
    the element bytes and the array's rows (``lanes``: an activation word's elements)."""

    kh: int
    kw: int
    cg: int
    bus_bytes: int
    elem_bytes: int
    lanes: int
    pix: int = 0           # the input's elements per pixel in DRAM (0: the group's, cg)

    def _pace(self, k: int, pack: int) -> tuple[float, str]:
        """Cycles per output pixel of a gather of ``k`` elements, and how they were found."""
        cg = self.cg * pack
        eb, bus, lat = self.elem_bytes, self.bus_bytes, DEFAULT_LATENCY
        align = cg * eb                     # kernel rows start at whole pixels' channels
        nmax = im2col_run_max(self.lanes, bus, eb)
        runs = -(-k // nmax)
        if k % (self.kw * cg) == 0:
            # whole kernel rows (all of K, or a chunk that codegen.row_window gathers as the
            # whole K of a shorter kernel): one rectangle descriptor per pixel; the kernel
            # columns adjacent in DRAM (the pixel holds just these channels): one DMA row per
            # kernel row, else one per kernel position
            kh = k // (self.kw * cg)
            merged = self.pix in (0, cg)
            rows, s = load2d_descriptor(kh, self.kw, merged)
            rb = (self.kw if merged else 1) * cg * eb
            beats, walk, wait, _ = load2d_pixel_terms(kh, self.kw, rb, bus, lat,
                                                      align=align, runs=runs, merged=merged)
            pace = max(beats, walk, wait, runs)
            per_row = row_beats(rb, bus, align)
            return pace, (f"one descriptor of {rows} DMA row{'s' if rows > 1 else ''} "
                          f"of {rb} bytes) = max(beats, 4 + max(kh, kw), (latency + S + beats "
                          f"+ 1)/2, runs) = max({beats:g}, {walk:g}, {wait:g}, {runs}), beats "
                          f"= {rows}*{per_row:g} (a row's beats on the {bus}-byte port), S "
                          f"= {s}, latency {lat}, runs = ceil(k/{nmax})")
        # a K-split chunk that cuts kernel rows (from a kernel position's start): a one-row
        # descriptor per position
        sizes = (cg,) * (k // cg) + ((k % cg,) if k % cg else ())
        pace = load2d_chunk_cycles(tuple(n * eb for n in sizes), bus, lat, align=align,
                                   runs=runs)
        return pace, (f"a descriptor per kernel position, {len(sizes)} of up to {cg * eb} "
                      f"bytes) = max(sum of max(beats, (latency + 2 + beats + 1)/2), 2 + "
                      f"2*positions, runs) = {pace:g}, latency {lat}")

    def tile_cycles(self, rows: int, k: int, pack: int = 1) -> int:
        """The fewest cycles in which the load unit gathers ``rows`` im2col rows of ``k``
        elements (a whole K, or a chunk of it) of a GEMM of ``pack`` groups."""
        if rows <= 0 or k <= 0:
            return 0
        return IM2COL_SETUP + math.ceil(rows * self._pace(k, pack)[0])

    def explain(self, rows: int, k: int, pack: int = 1) -> str:
        """:meth:`tile_cycles` worked out, for ``hwcnn explain``."""
        total = self.tile_cycles(rows, k, pack)
        pace, how = self._pace(k, pack)
        return (f"{IM2COL_SETUP} (set-up) + ceil(m*pace) = {IM2COL_SETUP} + ceil({rows}*"
                f"{pace:g}) = {total:,} cycles; pace per output pixel ({how}")


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
                  elem_bytes=-(-hw.array.act_bits // 8), lanes=hw.array.rows,
                  pix=x.channels)
