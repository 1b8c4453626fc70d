"""Stage 2, the layer graph: :class:`NetworkSpec` -> ``networkx.DiGraph`` with shapes and budgets.

:func:`build_graph` wires the layers (:mod:`.build`), infers every output shape (:mod:`.shapes`,
the output-size formulas) and attaches each layer's budget (:mod:`.costs`: parameters, MACs,
operations, memory; the one source of those formulas). :mod:`.export` writes DOT and GraphML.
"""

from .build import build_graph, ordered_nodes, output_names
from .costs import Group, LayerCost, group_of, layer_cost
from .export import to_dot, to_graphml
from .shapes import GemmDims, Window, gemm_dims, out_size, same_pads

__all__ = [
    "GemmDims", "Group", "LayerCost", "Window", "build_graph", "gemm_dims", "group_of",
    "layer_cost", "ordered_nodes", "out_size", "output_names", "same_pads", "to_dot",
    "to_graphml",
]
