"""Reading an ONNX model for import: parse, fold constant subgraphs, fix the shapes.

:func:`prepare` turns a ``ModelProto`` into a :class:`Prepared` graph: every tensor computable
without the network input (initializers, ``Constant``, ``ConstantOfShape`` and any node whose
inputs are all constant, e.g. ``DequantizeLinear`` of int8 weights, ``Unsqueeze`` of BatchNorm
scales, the ``Shape -> Gather -> Concat`` chains PyTorch writes for ``flatten``) becomes a NumPy
array, and the remaining nodes get ONNX's own inferred shapes (``onnx.shape_inference`` in
strict mode, run on the folded model so that folded weights have known shapes). Every problem
raises one :class:`~hwcnn.errors.SpecError` line naming the node, its op type and position.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SpecError

#: Largest constant the folder materializes (elements): more is a bomb, not a network.
MAX_CONST = 1 << 31
#: Constants up to this size are given to shape inference with their values (shape vectors).
_VALUE_LIMIT = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One remaining (non-constant) ONNX node, with its position in the file."""

    index: int
    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]

    def where(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"node {self.index}{label} ({self.op})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """The folded graph: constants, the activation nodes in order, every tensor's shape."""

    name: str
    input: str
    nodes: tuple[Node, ...]
    consts: Mapping[str, np.ndarray]
    shapes: Mapping[str, tuple[int, ...]]
    outputs: tuple[str, ...]
    #: version of the default ("ai.onnx") operator set
    opset: int
    #: constant -> the DequantizeLinear it was folded from (QDQ weights keep their scales)
    dequantized: Mapping[str, Dequantized] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dequantized:
    """A constant made by ``DequantizeLinear(q, scale, zero_point, axis)`` of constants."""

    #: the scale, float64, one value or one per slice along ``axis``
    scale: np.ndarray
    #: the zero point(s) as integers (0 where absent)
    zero_point: np.ndarray
    axis: int
    #: the quantized integer type (``int8``, ``uint8``, ``int32``, ...)
    dtype: str


def fail(node: Node | None, problem: str, file: str | None) -> SpecError:
    """The one-line error: ``<file>: node <i> '<name>' (<Op>): <problem>``."""
    return SpecError(f"{node.where()}: {problem}" if node else problem, file=file)


def load_model(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    """Parse an ``.onnx`` file (``onnx.ModelProto``); unreadable or truncated -> SpecError."""
    import onnx
    from google.protobuf.message import DecodeError

    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read model: {exc.strerror}", file=file) from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        raise SpecError("not a readable ONNX model (truncated or not an ONNX protobuf file)",
                        file=file) from None
    if not model.graph.node:
        raise SpecError("not a readable ONNX model (truncated or not an ONNX protobuf file): "
                        "the graph has no nodes", file=file)
    return model


def _attrs(node) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if a.type == a.TENSOR:
            v = numpy_helper.to_array(v)
        elif a.type == a.FLOAT:  # stored as float32: its shortest decimal (1e-05, not 9.99...e-06)
            v = float(str(np.float32(v)))
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [b.decode("utf-8", "replace") for b in v]
        out[a.name] = v
    return out


# -- constant folding ------------------------------------------------------------------------

def _axes(n: Node, c: list[np.ndarray], ndim_hint: int) -> list[int]:
    ax = n.attrs.get("axes")
    if ax is None and len(c) > 1:
        ax = c[1].tolist()
    return [int(a) % ndim_hint for a in (ax or [])]


def _unsqueeze(n: Node, c: list[np.ndarray]) -> np.ndarray:
    ax = n.attrs.get("axes")
    axes = list(ax) if ax is not None else c[1].tolist()
    rank = c[0].ndim + len(axes)
    out = c[0]
    for a in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


def _squeeze(n: Node, c: list[np.ndarray]) -> np.ndarray:
    axes = _axes(n, c, c[0].ndim)
    return np.squeeze(c[0], axis=tuple(axes)) if axes else np.squeeze(c[0])


def _reshape(n: Node, c: list[np.ndarray]) -> np.ndarray:
    shape = [int(v) for v in (c[1] if len(c) > 1 else n.attrs["shape"])]  # type: ignore[union-attr]
    if not n.attrs.get("allowzero", 0):
        shape = [c[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return c[0].reshape(shape)


def _dequant(n: Node, c: list[np.ndarray]) -> np.ndarray:
    x = c[0].astype(np.float64)
    scale = c[1].astype(np.float64)
    zp = c[2].astype(np.float64) if len(c) > 2 else np.zeros(1)
    axis = int(n.attrs.get("axis", 1))  # type: ignore[call-overload]
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape) if zp.size > 1 else zp
    return ((x - zp) * scale).astype(np.float32)


def _cos(n: Node, c: list[np.ndarray]) -> np.ndarray:
    shape = tuple(int(v) for v in c[0]) if c else ()
    if math.prod(shape) > MAX_CONST:
        raise ValueError(f"a constant of shape {list(shape)} is too large")
    value = n.attrs.get("value")
    fill = np.asarray(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    # a read-only broadcast view: weights made this way cost no memory until written out
    return np.broadcast_to(fill[:1].reshape(()), shape)


def _dtype(to: int) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(to))


def _gather(n: Node, c: list[np.ndarray]) -> np.ndarray:
    return np.take(c[0], c[1], axis=int(n.attrs.get("axis", 0)))  # type: ignore[call-overload]


def _slice(n: Node, c: list[np.ndarray]) -> np.ndarray:
    x = c[0]
    starts, ends = c[1].tolist(), c[2].tolist()
    axes = c[3].tolist() if len(c) > 3 else list(range(len(starts)))
    steps = c[4].tolist() if len(c) > 4 else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        sl[a] = slice(s, e, st)
    return x[tuple(sl)]


_FOLD: dict[str, Callable[[Node, list[np.ndarray]], np.ndarray]] = {
    "Identity": lambda n, c: c[0],
    "Constant": lambda n, c: np.asarray(next(iter(n.attrs.values()))),
    "ConstantOfShape": _cos,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Flatten": lambda n, c: c[0].reshape(math.prod(c[0].shape[:int(n.attrs.get("axis", 1))]), -1),  # type: ignore[call-overload]
    "Cast": lambda n, c: c[0].astype(_dtype(int(n.attrs["to"]))),  # type: ignore[call-overload]
    "DequantizeLinear": _dequant,
    "Add": lambda n, c: c[0] + c[1],
    "Sub": lambda n, c: c[0] - c[1],
    "Mul": lambda n, c: c[0] * c[1],
    "Div": lambda n, c: c[0] / c[1] if c[0].dtype.kind == "f" else c[0] // c[1],
    "Sqrt": lambda n, c: np.sqrt(c[0]),
    "Neg": lambda n, c: -c[0],
    "Reciprocal": lambda n, c: 1.0 / c[0],
    "Transpose": lambda n, c: np.transpose(c[0], n.attrs.get("perm")),  # type: ignore[call-overload]
    "Concat": lambda n, c: np.concatenate(c, axis=int(n.attrs["axis"])),  # type: ignore[call-overload]
    "Gather": _gather,
    "Slice": _slice,
}


def _const_inputs(n: Node, consts: Mapping[str, np.ndarray]) -> list[np.ndarray] | None:
    vals = []
    for t in n.inputs:
        if t == "":
            continue
        if t not in consts:
            return None
        vals.append(consts[t])
    return vals


def _fold_pass(nodes: list[Node], consts: dict[str, np.ndarray],
               shapes: Mapping[str, tuple[int, ...]], file: str | None,
               dequantized: dict[str, Dequantized]) -> list[Node]:
    """Fold every node whose inputs are constant (and ``Shape`` of a known static shape)."""
    rest = []
    for n in nodes:
        if n.op == "Shape" and n.inputs[0] in shapes:
            shape = np.array(shapes[n.inputs[0]], dtype=np.int64)
            consts[n.outputs[0]] = shape[int(n.attrs.get("start", 0)):n.attrs.get("end")]  # type: ignore[call-overload, misc]
            continue
        vals = _const_inputs(n, consts)
        if vals is None or n.op not in _FOLD or (n.op == "Dropout") or len(n.outputs) != 1:
            rest.append(n)
            continue
        try:
            out = np.asarray(_FOLD[n.op](n, vals))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise fail(n, f"cannot fold this constant subgraph ({exc})", file) from None
        if out.size > MAX_CONST:
            raise fail(n, f"constant of shape {list(out.shape)} is too large", file)
        consts[n.outputs[0]] = out
        if n.op == "DequantizeLinear":
            dequantized[n.outputs[0]] = Dequantized(
                scale=vals[1].astype(np.float64).reshape(-1),
                zero_point=(vals[2].astype(np.int64).reshape(-1) if len(vals) > 2
                            else np.zeros(1, np.int64)),
                axis=int(n.attrs.get("axis", 1)), dtype=str(vals[0].dtype))  # type: ignore[call-overload]
    return rest


def prepare(model, file: str | None) -> Prepared:  # type: ignore[no-untyped-def]
    """Fold constants and infer shapes (see module docstring)."""
    from onnx import numpy_helper

    g = model.graph
    consts: dict[str, np.ndarray] = {}
    for init in g.initializer:
        try:
            arr = numpy_helper.to_array(init)
        except (ValueError, TypeError, OSError) as exc:
            raise SpecError(f"initializer {init.name!r} cannot be read ({exc})", file=file) from None
        consts[init.name] = arr
    real_inputs = [i for i in g.input if i.name not in consts]
    if len(real_inputs) != 1:
        names = ", ".join(repr(i.name) for i in real_inputs) or "none"
        raise SpecError(f"hwcnn imports networks with exactly one input, this graph has "
                        f"{len(real_inputs)} ({names})", file=file)
    inp = real_inputs[0]
    in_shape = _input_shape(inp, file)
    nodes = [Node(index=i, name=n.name, op=n.op_type, inputs=tuple(n.input),
                  outputs=tuple(n.output), attrs=_attrs(n)) for i, n in enumerate(g.node)]
    produced = {inp.name, *consts, *(o for n in nodes for o in n.outputs)}
    for n in nodes:
        for t in n.inputs:
            if t and t not in produced:
                raise fail(n, f"input {t!r} is neither an initializer nor the output of a node "
                              "(missing initializer?)", file)
    shapes: dict[str, tuple[int, ...]] = {inp.name: in_shape}
    dequantized: dict[str, Dequantized] = {}
    for _ in range(8):  # fold, infer, fold the Shape nodes that inference resolved, ...
        before = len(nodes)
        nodes = _fold_pass(nodes, consts, shapes, file, dequantized)
        shapes = _infer(model, nodes, consts, inp, in_shape, file)
        nodes = _fold_pass(nodes, consts, shapes, file, dequantized)
        if len(nodes) == before:
            break
    for n in nodes:
        for t in n.outputs:
            if t and t not in shapes and t not in consts and n.op not in ("Dropout", "MaxPool"):
                raise fail(n, f"ONNX shape inference gives no static shape for {t!r}", file)
    return Prepared(name=g.name or "", input=inp.name, nodes=tuple(nodes), consts=consts,
                    shapes=shapes, outputs=tuple(o.name for o in g.output),
                    opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1),
                    dequantized=dequantized)


def _input_shape(inp, file: str | None) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    t = inp.type.tensor_type
    if not t.HasField("shape"):
        raise SpecError(f"input {inp.name!r} has no shape: hwcnn needs fixed sizes", file=file)
    dims: list[int] = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif i == 0:  # a symbolic batch: hwcnn computes per image
            dims.append(1)
        else:
            what = repr(d.dim_param) if d.dim_param else "unknown"
            raise SpecError(f"input {inp.name!r} has a dynamic dimension {what} (axis {i}): "
                            "hwcnn needs fixed sizes (export with a fixed input size)", file=file)
    if len(dims) < 2:
        raise SpecError(f"input {inp.name!r} has shape {dims}: expected [N, C, ...]", file=file)
    return tuple(dims)


def _infer(model, nodes: list[Node], consts: Mapping[str, np.ndarray], inp,  # type: ignore[no-untyped-def]
           in_shape: tuple[int, ...], file: str | None) -> dict[str, tuple[int, ...]]:
    """ONNX's own shape inference on the folded graph (constants as initializers)."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    used = sorted({t for n in nodes for t in n.inputs if t in consts})
    elem = inp.type.tensor_type.elem_type or onnx.TensorProto.FLOAT
    # Small constants (shapes, pads, scales) go in with their values; weights only with their
    # shape and type, as graph inputs (inference needs no values for them).
    small = [t for t in used if consts[t].size <= _VALUE_LIMIT]
    big = [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(consts[t].dtype),
                                         list(consts[t].shape))
           for t in used if consts[t].size > _VALUE_LIMIT]
    graph = helper.make_graph(
        [helper.make_node(n.op, list(n.inputs), list(n.outputs), name=n.name or None,
                          **_raw_attrs(model, n)) for n in nodes],
        model.graph.name or "g",
        [helper.make_tensor_value_info(inp.name, elem, list(in_shape)), *big],
        [],
        [numpy_helper.from_array(np.ascontiguousarray(consts[t]), t) for t in small])
    folded = helper.make_model(graph, opset_imports=list(model.opset_import),
                               ir_version=max(model.ir_version, 4))
    try:
        inferred = shape_inference.infer_shapes(folded, strict_mode=True, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError,
            ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"ONNX shape inference failed: {first}", file=file) from None
    shapes: dict[str, tuple[int, ...]] = {inp.name: in_shape}
    for vi in inferred.graph.value_info:
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    return shapes


def _raw_attrs(model, n: Node) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The node's attributes as ``make_node`` keywords (tensors back to TensorProto)."""
    from onnx import numpy_helper

    out: dict[str, Any] = {}
    for k, v in n.attrs.items():
        out[k] = numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
    return out
