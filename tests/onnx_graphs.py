"""Helpers for the ONNX tests: build small models with onnx.helper, check an import against
ONNX's own shape inference and ONNX's reference evaluator (independent of hwcnn)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

from hwcnn.frontend.onnx_import import Imported, import_model
from hwcnn.graph.build import build_graph, output_names
from hwcnn.numerics.floatref import run_float
from hwcnn.numerics.weights import check_params

F = TensorProto.FLOAT


def make(nodes: list[onnx.NodeProto], x_shape: list[int | str], inits: dict[str, np.ndarray],
         out: str, opset: int = 17) -> onnx.ModelProto:
    """One-input model ``x`` -> ``out`` (initializers as float32 unless integer)."""
    tensors = [numpy_helper.from_array(v if v.dtype.kind in "iu" else v.astype(np.float32), k)
               for k, v in inits.items()]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", F, x_shape)],
                              [helper.make_tensor_value_info(out, F, None)], tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def onnx_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape as ONNX's shape inference gives it (graph inputs included)."""
    inf = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    out = {}
    for vi in [*inf.graph.value_info, *inf.graph.input, *inf.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[vi.name] = tuple(d.dim_value for d in dims)
    for init in inf.graph.initializer:
        out[init.name] = tuple(init.dims)
    return out


def check(model: onnx.ModelProto, *, atol: float = 1e-4, seed: int = 0,
          compare: bool = True) -> tuple[Imported, object]:
    """Import, build the graph, compare every layer's shape with ONNX's inference and the
    network output with ONNX's reference evaluator run on the same weights."""
    imp = import_model(model, file="t.onnx")
    g = build_graph(imp.spec)
    shapes = onnx_shapes(model)
    # each layer named after its node: its hwcnn shape is ONNX's for the node's output
    by_node = {n.name: n for n in model.graph.node}
    for name in g:
        node = by_node.get(name)
        if node is not None and node.output[0] in shapes:
            want = shapes[node.output[0]][1:]
            assert tuple(g.nodes[name]["out_shape"].as_list()) == want, (name, want)
    x_shape = shapes["x"]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    if compare:
        params = check_params(imp.weights, g)
        ref = ReferenceEvaluator(model).run(None, {"x": x})[0]
        ours = run_float(g, params, x[0].astype(np.float64))[output_names(g)[-1]]
        assert ours.size == ref.size
        np.testing.assert_allclose(ours.reshape(ref.shape), ref, rtol=1e-4, atol=atol)
    return imp, g


def node(op: str, ins: list[str], outs: list[str], name: str | None = None, **attrs: object
         ) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs, name=name or outs[0], **attrs)


def rand(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)
