"""Stage 4: layer graph + :class:`HardwareConfig` -> :class:`Program` (an ordered tile schedule).

What runs where (the accelerator of ``rtl/README.md``):

* conv (any rank) and dense -> GEMM tiles, im2col mapping from :func:`hwcnn.graph.shapes.gemm_dims`
  (M = output pixels, K = kernel volume x C_in/groups, N = filters/groups), one GEMM per group,
  or ``P`` groups per GEMM with block-diagonal weights when that is faster
  (:mod:`hwcnn.compiler.packing`: a depthwise conv packs up to ``C`` channels). A tile keeps
  the layer's whole K when such a tile fits the buffers, otherwise K is split into chunks run as
  chained tiles that carry int32 partial sums in the accumulator buffer (``acc_in`` /
  ``acc_out``, :mod:`hwcnn.compiler.gemm`); a tile covers ``m x n`` (x a K chunk) of one group.
* max/avg/sum pooling and global average pooling -> vector-unit tiles (one tile = up to ``C``
  channels x a band of output rows; one window tap per cycle). Averages divide by the taps
  inside the input, or with ``count_include_pad`` by the taps inside the padded input.
* add -> vector-unit SUM tiles: the ``n`` inputs of each pixel are stacked as a 1 x n window
  (n taps; requantized with one M0/shift, so the quantizer gives the inputs one scale).
* relu/relu6 -> the output clamp of the layer that produces their input (conv, dense, add,
  avg/sum pool; MAX pooling ignores the clamp) when they are its only reader; otherwise a
  1 x 1 AVG tile with ``lo = 0`` (an average of one element is the element; 1 tap).
* batchnorm -> folded into the preceding conv/dense (only reader); otherwise a depthwise
  1 x 1 GEMM (groups = C, K = 1, N = 1; packed like a depthwise conv).
* concat, flatten, dropout and an adaptive average pool whose output size is its input's (one
  element per window) -> free (producers write to the right DRAM offsets); softmax -> host.
* host layers (the CPU computes them between accelerator layers; no tiles, no cycles counted):
  tanh, sigmoid, hardsigmoid, hardswish, SiLU, mul, LRN, pad, resize, adaptive average pooling
  (to another size),
  channel shuffle, and pooling the vector unit cannot do (dilation > 1, or an average over more
  than ``VECTOR_AVG_MAX_TAPS`` = 256 taps, the reciprocal table's size: e.g. the squeeze-excite
  global averages of a 56x56 map).

Buffers. ``act_kib``/``weight_kib``/``out_kib`` of :class:`MemoryConfig` are the three on-chip
memories; the output memory also holds the accumulator words (WS: ``m`` x C x acc_bits; K-split
tiles, both dataflows: ``F_N * m`` x C x acc_bits) and the
vector unit's input and output maps; the weight memory also holds the parameter words
(C x (acc_bits + 37) bits per column fold). A tile whose footprint fits HALF of every memory is
double-buffered (its loads overlap the previous tile's compute, see :mod:`hwcnn.machine.memsim`);
otherwise it uses the whole memory and runs single-buffered.

DRAM traffic counts the data a tile needs that is not already on chip: the im2col-expanded A
slice (the design re-reads overlapping input windows, counted honestly), the B slice plus
parameters, and the requantized outputs; zero padding lanes are generated on chip, not read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace

import networkx as nx
import numpy as np

from ..arch.config import HardwareConfig
from ..arch.vector import VECTOR_AVG_MAX_TAPS
from ..frontend import layers as L
from ..graph.build import ordered_nodes
from .gather import gather_of
from .gemm import plan_gemm
from .plan import LayerPlan, Program, Tile, Unit
from .pool import PoolGeom, plan_pool, pool_geoms

__all__ = ["lower"]


# -- the graph walk ----------------------------------------------------------------------------

def _has_clamp(layer: L.Layer) -> bool:
    """Whether the unit computing ``layer`` applies the ``[lo, hi]`` output clamp (a fused
    ReLU/ReLU6): GEMM requantization, AVG/SUM pooling and adds do; MAX pooling ignores it."""
    return not (isinstance(layer, L.Pool) and layer.op is L.PoolOp.MAX)


def _empty(name: str, layer: L.Layer, unit: str, note: str) -> LayerPlan:
    z = np.zeros(0, dtype=np.int64)
    return LayerPlan(name=name, layer=layer, unit=unit, note=note, macs=0, cycles=z, dram_read=z,
                     dram_write=z, occupancy=z, double_buffered=np.zeros(0, bool),
                     make_tiles=lambda: iter(()))


def lower(g: nx.DiGraph, hw: HardwareConfig,
          progress: Callable[[int, int], None] | None = None) -> Program:
    """Lower every layer of ``g`` (from :func:`hwcnn.graph.build_graph`) onto ``hw``.

    ``progress(done, total)`` is called after each layer (for a progress bar).
    """
    nodes = list(ordered_nodes(g))
    host: dict[str, str] = {}        # node -> node whose tile produces its value
    act: dict[str, bool] = {}        # an activation clamp is already applied at the host
    excl: dict[str, bool] = {}       # the value is read only along this chain (fusable)
    runs: set[str] = set()           # nodes with tiles of their own
    plans: list[LayerPlan] = []
    cache: dict[tuple[object, ...], LayerPlan] = {}
    for i, (name, attrs) in enumerate(nodes):
        layer = attrs["layer"]
        u: str = layer.inputs[0] if len(layer.inputs) == 1 else ""
        sole = bool(u) and g.out_degree(u) == 1 and excl.get(u, False)
        host[name], act[name], excl[name] = name, False, True
        plan: LayerPlan
        match layer:
            case L.Input():
                plan = _empty(name, layer, Unit.FREE, "network input (in DRAM)")
                excl[name] = False
            case L.Dropout() | L.Flatten():
                assert u
                host[name], act[name] = host[u], act[u]
                excl[name] = excl[u] and g.out_degree(u) == 1
                plan = _empty(name, layer, Unit.FREE, "identity on the stored tensor")
            case L.AdaptiveAvgPool() if (tuple(attrs["out_shape"].spatial)
                                         == tuple(attrs["in_shapes"][0].spatial)):
                # every window is one element: the average is the element (torchvision
                # AlexNet's 6x6 pool on a 6x6 map)
                assert u
                host[name], act[name] = host[u], act[u]
                excl[name] = excl[u] and g.out_degree(u) == 1
                plan = _empty(name, layer, Unit.FREE, "identity on the stored tensor (output "
                              "size = input size)")
            case L.Concat():
                plan = _empty(name, layer, Unit.FREE, "producers write at channel offsets")
                excl[name] = False
            case L.Softmax():
                plan = _empty(name, layer, Unit.HOST, "runs on the host CPU")
                excl[name] = False
            case (L.Nonlinear() | L.Mul() | L.LRN() | L.Pad() | L.Resize() | L.AdaptiveAvgPool()
                  | L.ChannelShuffle()):
                plan = _empty(name, layer, Unit.HOST, f"{L.kind_name(layer)} runs on the host CPU "
                              "(no accelerator unit)")
                excl[name] = False
            case L.Pool() if _pool_on_host(layer, attrs["window"]):
                plan = _empty(name, layer, Unit.HOST, "pooling the vector unit cannot do "
                              "(dilation, or an average of more than "
                              f"{VECTOR_AVG_MAX_TAPS} taps) runs on the host CPU")
                excl[name] = False
            case L.GlobalAvgPool() if math.prod(
                    attrs["in_shapes"][0].spatial) > VECTOR_AVG_MAX_TAPS:
                plan = _empty(name, layer, Unit.HOST, "a global average of more than "
                              f"{VECTOR_AVG_MAX_TAPS} taps runs on the host CPU")
                excl[name] = False
            # Fold only straight after the conv/dense (as the quantizer does): not through a
            # dropout/flatten, not a second BatchNorm onto an already folded one.
            case L.BatchNorm() if sole and not act[u] and host[u] == u and isinstance(
                    g.nodes[u]["layer"], (L.Conv, L.Dense)) and u in runs:
                assert u
                host[name] = host[u]
                plan = _empty(name, layer, Unit.FUSED, f"folded into {host[u]}")
            case L.Activation() if sole and host[u] in runs and _has_clamp(g.nodes[host[u]]["layer"]):
                assert u
                host[name], act[name] = host[u], True
                plan = _empty(name, layer, Unit.FUSED, f"output clamp of {host[u]}")
            case L.BatchNorm():
                x = attrs["out_shape"]
                plan = plan_gemm(name, layer, hw, m=math.prod(x.spatial), n=1, k=1,
                                 groups=x.channels, note="batchnorm as depthwise 1x1",
                                 gather=gather_of(attrs, hw))
                runs.add(name)
            case L.Activation():
                x = attrs["out_shape"]
                p = math.prod(x.spatial)
                geom = PoolGeom(channels=x.channels, in_h=p, in_w=1, out_h=p, out_w=1,
                                win=(1, 1), stride=(1, 1), pad=(0, 0))
                plan = plan_pool(name, layer, hw, (geom,), "1x1 avg pool with clamp lo=0")
                act[name] = True
                runs.add(name)
            case L.Conv() | L.Dense():
                gd = attrs["gemm"]
                gat = gather_of(attrs, hw)
                # the packing and the gather depend on the window, not only the GEMM
                key: tuple[object, ...] = ("gemm", gd.m, gd.n, gd.k, gd.groups, gat,
                                           getattr(layer, "kernel", None),
                                           getattr(layer, "stride", None),
                                           str(getattr(layer, "padding", None)))
                plan = _reuse(cache, key, name, layer) or plan_gemm(
                    name, layer, hw, gd.m, gd.n, gd.k, gd.groups, gather=gat)
                cache.setdefault(key, plan)
                act[name] = getattr(layer, "activation", None) is not None
                runs.add(name)
            case L.Add():
                x = attrs["out_shape"]
                p, n_in = math.prod(x.spatial), len(layer.inputs)
                geom = PoolGeom(channels=x.channels, in_h=p, in_w=n_in, out_h=p, out_w=1,
                                win=(1, n_in), stride=(1, 1), pad=(0, 0))
                key = ("add", p, n_in, x.channels)
                plan = _reuse(cache, key, name, layer) or plan_pool(
                    name, layer, hw, (geom,), f"sum pool over the {n_in} inputs")
                cache.setdefault(key, plan)
                runs.add(name)
            case L.Pool() | L.GlobalAvgPool():
                x = attrs["in_shapes"][0]
                geoms = pool_geoms(name, layer, x, attrs["window"])
                kind = "global average" if isinstance(layer, L.GlobalAvgPool) else layer.op.value
                plan = plan_pool(name, layer, hw, geoms, f"{kind} pool")
                runs.add(name)
            case _:
                raise TypeError(f"lower: unknown layer record {layer!r}")
        plans.append(replace(plan, host=host[name]))
        if progress is not None:
            progress(i + 1, len(nodes))
    return Program(hw=hw, layers=tuple(plans))


def _pool_on_host(layer: L.Pool, win: object) -> bool:
    """Dilated windows, and averages over more taps than the reciprocal table holds, are not
    vector-unit work."""
    dil = getattr(win, "dilation", ())
    kernel = getattr(win, "kernel", ())
    return any(d > 1 for d in dil) or (layer.op is L.PoolOp.AVG
                                       and math.prod(kernel) > VECTOR_AVG_MAX_TAPS)


def _reuse(cache: dict[tuple[object, ...], LayerPlan], key: tuple[object, ...], name: str, layer: L.Layer) -> LayerPlan | None:
    """A plan for an identical earlier layer, renamed (ResNet/VGG repeat their shapes)."""
    old = cache.get(key)
    if old is None:
        return None
    make = old.make_tiles

    def tiles() -> Iterator[Tile]:
        for t in make():
            yield type(t)(**{**{f: getattr(t, f) for f in t.__slots__}, "layer": name})

    return LayerPlan(name=name, layer=layer, unit=old.unit, note=old.note, macs=old.macs,
                     cycles=old.cycles, dram_read=old.dram_read, dram_write=old.dram_write,
                     occupancy=old.occupancy, double_buffered=old.double_buffered,
                     make_tiles=tiles, first_input_read=old.first_input_read, pack=old.pack,
                     load_min=old.load_min)
