"""The DRAM memory map of a compiled program: regions and where every tensor lives.

Regions, in this order, each aligned to :data:`ALIGN` bytes: ``program`` (the instructions),
``weights`` and ``params`` (packed buffer words, :mod:`hwcnn.hw.layout`), ``input`` (the
network input), then one ``tensor:NAME`` per stored tensor in program order. Tensors are
channels-last (pixel-major, HWC): element ``(c, pixel p)`` at ``offset + (p * pix_stride + c) *
element_bytes``, a pixel being the row-major index over the spatial dimensions.

Which tensor holds a layer's value: a tile layer stores its own; a fused layer (a folded
BatchNorm, a fused ReLU) is its host's tensor; flatten, dropout and a softmax on integer
logits are their input's tensor (flatten keeps the channels-first element order of the
golden model by reading the tensor with its (C, H, W) geometry). A concat owns a tensor and its
producers store straight into it at their channel offsets (a view with the concat's pixel
stride), so concat costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from ..errors import ConfigError
from ..frontend import layers as L
from .plan import Program, Unit

#: Alignment of every region (bytes): a cache line; AXI bursts then start aligned.
ALIGN = 64


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorView:
    """A tensor in DRAM: ``channels`` x ``pixels`` elements at ``rel`` bytes into ``region``,
    ``pix_stride`` elements from one pixel to the next; ``spatial`` is the owner's geometry."""

    owner: str
    region: str
    rel: int
    channels: int
    spatial: tuple[int, ...]
    pix_stride: int

    @property
    def pixels(self) -> int:
        return math.prod(self.spatial)


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    name: str
    offset: int
    size: int


def owners(program: Program) -> dict[str, str]:
    """Every layer -> the layer whose DRAM tensor holds its value (see the module doc)."""
    own: dict[str, str] = {}
    for p in program.layers:
        layer = p.layer
        if p.unit in (Unit.ARRAY, Unit.POOL):
            own[p.name] = p.name
        elif p.unit == Unit.FUSED:
            own[p.name] = own[p.host]
        elif isinstance(layer, (L.Input, L.Concat)):
            own[p.name] = p.name
        elif isinstance(layer, (L.Flatten, L.Dropout, L.Softmax)) or (
                isinstance(layer, L.AdaptiveAvgPool) and p.unit == Unit.FREE):
            own[p.name] = own[layer.inputs[0]]
        else:
            raise ConfigError(f"layer {p.name!r}: {L.kind_name(layer)} runs on the host CPU; "
                              "a compiled program cannot contain it")
    return own


def tensor_views(program: Program, g: nx.DiGraph, own: Mapping[str, str], eb: int
                 ) -> tuple[dict[str, TensorView], list[tuple[str, int]]]:
    """Every layer's :class:`TensorView` and the root tensors ``(region, bytes)`` to allocate
    (input first, then program order)."""
    def shape(o: str) -> tuple[int, tuple[int, ...]]:
        s = g.nodes[o]["out_shape"]
        return s.channels, tuple(s.spatial) or (1,)

    parent: dict[str, tuple[str, int]] = {}
    for p in reversed(program.layers):
        if not isinstance(p.layer, L.Concat):
            continue
        off = 0
        for u in p.layer.inputs:
            o = own[u]
            if o in parent or isinstance(g.nodes[o]["layer"], L.Input):
                raise ConfigError(f"layer {p.name!r}: input {u!r} cannot be stored into the "
                                  "concat (it is the network input or feeds another concat)")
            parent[o] = (p.name, off)
            off += shape(o)[0]
    roots = [o for o in dict.fromkeys(own.values()) if o not in parent]
    roots.sort(key=lambda o: not isinstance(g.nodes[o]["layer"], L.Input))
    alloc = []
    views: dict[str, TensorView] = {}

    def view(o: str) -> TensorView:
        if o in views:
            return views[o]
        c, sp = shape(o)
        if o in parent:
            cat, off = parent[o]
            v = view(cat)
            res = TensorView(owner=o, region=v.region, rel=v.rel + off * eb, channels=c,
                             spatial=v.spatial, pix_stride=v.pix_stride)
        else:
            res = TensorView(owner=o, region="input" if isinstance(g.nodes[o]["layer"], L.Input)
                             else f"tensor:{o}", rel=0, channels=c, spatial=sp, pix_stride=c)
        views[o] = res
        return res

    for o in roots:
        v = view(o)
        alloc.append((v.region, v.pixels * v.channels * eb))
    return {name: view(o) for name, o in own.items()}, alloc
