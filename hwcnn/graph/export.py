"""Export the layer graph for people who want to look at it: GraphML and Graphviz DOT.

Both writers produce deterministic text (nodes and edges in topological order, no timestamps).
"""

from __future__ import annotations

import io

import networkx as nx

from ..frontend import layers as L
from .build import ordered_nodes


def _flat(g: nx.DiGraph) -> nx.DiGraph:
    """A copy with only scalar attributes (GraphML cannot store records)."""
    out = nx.DiGraph(name=g.graph.get("name", ""))
    for name, node in ordered_nodes(g):
        cost = node["cost"]
        out.add_node(name, kind=L.kind_name(node["layer"]), shape=" ".join(map(str, node["out_shape"].as_list())),
                     params=cost.params, macs=cost.macs, ops=cost.ops,
                     activation_elements=cost.activation_elements, weight_bytes=cost.weight_bytes)
    for name, node in ordered_nodes(g):
        for src in node["layer"].inputs:
            out.add_edge(src, name)
    return out


def to_graphml(g: nx.DiGraph) -> str:
    buf = io.BytesIO()
    nx.write_graphml(_flat(g), buf, encoding="utf-8", prettyprint=True)
    return buf.getvalue().decode("utf-8")


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(g: nx.DiGraph) -> str:
    lines = [f"digraph {_q(str(g.graph.get('name', 'network')))} {{", "  rankdir=TB;",
             '  node [shape=box, fontname="Helvetica", fontsize=10];']
    for name, node in ordered_nodes(g):
        label = f"{name}\\n{L.kind_name(node['layer'])} {node['out_shape'].lecture()}"
        if node["cost"].params:
            label += f"\\n{node['cost'].params:,} params"
        lines.append(f"  {_q(name)} [label={_q(label).replace(chr(92) * 2 + 'n', chr(92) + 'n')}];")
    for name, node in ordered_nodes(g):
        for src in node["layer"].inputs:
            lines.append(f"  {_q(src)} -> {_q(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
