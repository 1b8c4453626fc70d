"""Which layers the quantizer fuses and which tensors share one scale.

A conv / dense / add / BatchNorm absorbs the BatchNorm and the ReLU / ReLU6 that only it feeds
(:func:`fusion_chains`); pools, stand-alone activations and flatten keep their input's scale
(:func:`inherits_scale`); the inputs of an add, and the inputs and output of a concat, share one
scale (:func:`scale_groups`), because the accelerator adds with one requantizer and concatenates
by writing producers side by side. Split from :mod:`.quantize`, which applies these decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from ..frontend import layers as L
from ..graph.build import ordered_nodes


def fusion_chains(g: nx.DiGraph) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Chains head -> absorbed layers, and alias layer -> head."""
    chains: dict[str, tuple[str, ...]] = {}
    alias: dict[str, str] = {}

    def only_consumer(n: str) -> str | None:
        succ = list(g.successors(n))
        return succ[0] if len(succ) == 1 else None

    for name, node in ordered_nodes(g):
        if name in alias:
            continue
        layer = node["layer"]
        chain: list[str] = []
        if isinstance(layer, L.Conv | L.Dense | L.Add | L.BatchNorm):
            tail = name
            nxt = only_consumer(tail)
            own_act = getattr(layer, "activation", None)
            # BatchNorm folds only into a linear output (not after the layer's own ReLU).
            if (isinstance(layer, L.Conv | L.Dense) and own_act is None and nxt
                    and isinstance(g.nodes[nxt]["layer"], L.BatchNorm)):
                chain.append(nxt)
                tail = nxt
                nxt = only_consumer(tail)
            if own_act is None and nxt and isinstance(g.nodes[nxt]["layer"], L.Activation):
                chain.append(nxt)
        chains[name] = tuple(chain)
        for c in chain:
            alias[c] = name
        if isinstance(layer, L.Dropout | L.Softmax):
            # identity in the integer domain (softmax: the integer model outputs the logits)
            alias[name] = alias.get(layer.inputs[0], layer.inputs[0])
            del chains[name]
    return chains, alias


def inherits_scale(layer: L.Layer) -> bool:
    """Layers whose output keeps the input's scale (no requantization of their own)."""
    match layer:
        case L.Pool(op=L.PoolOp.SUM):
            return False
        case (L.Pool() | L.GlobalAvgPool() | L.Activation() | L.Flatten() | L.Pad() | L.Resize()
              | L.ChannelShuffle() | L.AdaptiveAvgPool()):
            return True
    return False


def scale_groups(g: nx.DiGraph, chains: Mapping[str, tuple[str, ...]],
                  alias: Mapping[str, str]) -> dict[str, str]:
    """Tensors that must share one scale, as a union-find: head name -> group root.

    The accelerator adds on the vector unit with ONE requantizer (so all inputs of an add share a
    scale) and concatenates by writing producers side by side (inputs and output of a concat
    share a scale); max/avg pools, stand-alone activations and flatten keep their input's scale.
    """
    parent = {n: n for n in chains}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for name in chains:
        layer = g.nodes[name]["layer"]
        ins = [alias.get(s, s) for s in layer.inputs]
        if inherits_scale(layer):
            union(name, ins[0])
        elif isinstance(layer, L.Add):
            for other in ins[1:]:
                union(ins[0], other)
        elif isinstance(layer, L.Concat):
            for other in ins:
                union(name, other)
    return {n: find(n) for n in chains}
