"""Stage 2: :class:`NetworkSpec` -> ``networkx.DiGraph`` with every shape and budget inferred.

Nodes are layer names; an edge ``u -> v`` means v reads u's output. Node attributes:

``layer``      the frozen layer record (:mod:`hwcnn.frontend.layers`)
``in_shapes``  tuple of :class:`TensorShape`, in ``layer.inputs`` order
``out_shape``  :class:`TensorShape` (channels-first)
``window``     :class:`hwcnn.graph.shapes.Window` for conv/pool layers, else None
``gemm``       :class:`hwcnn.graph.shapes.GemmDims` for conv/dense layers, else None
``cost``       :class:`hwcnn.graph.costs.LayerCost`
``order``      position in the spec file (topological order breaks ties with it)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from ..errors import SpecError, shorten
from ..frontend import layers as L
from .costs import layer_cost
from .shapes import gemm_dims, infer

#: Sizes beyond these are typos, not networks (checked so later stages never allocate them).
MAX_WEIGHTS = 1 << 36
MAX_MACS = 1 << 48


def build_graph(spec: L.NetworkSpec, *, strict: bool | None = None) -> nx.DiGraph:
    """Build the layer graph and infer shapes and budgets.

    Parameters
    ----------
    spec : NetworkSpec
    strict : bool, optional
        Reject windows that do not tile their input exactly; defaults to ``spec.strict``.

    Raises
    ------
    SpecError
        On a cycle, a dangling input, or any impossible shape.
    """
    g = nx.DiGraph(name=spec.name, spec=spec)
    for order, layer in enumerate(spec.layers):
        g.add_node(layer.name, layer=layer, order=order)
    for layer in spec.layers:
        for src in layer.inputs:
            if src not in g:
                raise SpecError(f"input {src!r} is not a layer name", layer=layer.name, line=layer.line)
            g.add_edge(src, layer.name)
    try:
        _check_structure(g)
        _infer_all(g, spec, spec.strict if strict is None else strict)
    except SpecError as exc:
        raise exc.located(file=spec.source) from None
    return g


def _infer_all(g: nx.DiGraph, spec: L.NetworkSpec, strict: bool) -> None:
    for name in _topo(g):
        node = g.nodes[name]
        layer = node["layer"]
        in_shapes = tuple(g.nodes[src]["out_shape"] for src in layer.inputs)
        out_shape, window = infer(layer, in_shapes, strict)
        gemm = gemm_dims(layer, in_shapes[0], window, out_shape) if in_shapes else None
        cost = layer_cost(layer, in_shapes, out_shape, window, gemm, spec.formats)
        for what, value, limit in (("weights", cost.weights, MAX_WEIGHTS), ("MACs", cost.macs, MAX_MACS)):
            if value > limit:
                raise SpecError(f"layer has {value:,} {what}, more than the {limit:,} hwcnn accepts",
                                layer=name, line=layer.line)
        node.update(in_shapes=in_shapes, out_shape=out_shape, window=window, gemm=gemm, cost=cost)


def _check_structure(g: nx.DiGraph) -> None:
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = [u for u, _ in cycle]
        layer = g.nodes[names[0]]["layer"]
        raise SpecError("layers form a cycle: " + shorten(" -> ".join([*names, names[0]]), limit=120, quote=False),
                        layer=layer.name, line=layer.line)
    sources = [n for n in g if g.in_degree(n) == 0]
    for n in sources:
        layer = g.nodes[n]["layer"]
        if not isinstance(layer, L.Input):
            raise SpecError("layer has no input", layer=n, line=layer.line)


def _topo(g: nx.DiGraph) -> Iterator[str]:
    return nx.lexicographical_topological_sort(g, key=lambda n: g.nodes[n]["order"])


def ordered_nodes(g: nx.DiGraph) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, attributes)`` in topological order (spec-file order where free)."""
    for name in _topo(g):
        yield name, g.nodes[name]


def output_names(g: nx.DiGraph) -> list[str]:
    """Layers nobody reads: the network outputs, in file order."""
    return sorted((n for n in g if g.out_degree(n) == 0), key=lambda n: g.nodes[n]["order"])
