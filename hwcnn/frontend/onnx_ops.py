"""ONNX operators -> spec layer entries: the weight-carrying and element-wise operators, and
the table of every handler (:data:`HANDLERS`, data-layout operators in :mod:`.onnx_layout`).

Patterns spanning nodes are recognized here: Mul/Add by per-channel constants (BatchNorm written
out), a conv/dense followed by the Add of its bias, ``x * Sigmoid(x)`` (SiLU) and
``x * HardSigmoid(x)`` (hardswish).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import onnx_layout as lay
from .onnx_fold import Node
from .onnx_translate import Translator, f32, ints, num, one

_BN_EPS = 1e-5


#: ONNX 8-bit integer types -> the zero point that makes them hwcnn's symmetric int8 codes
SYMMETRIC_ZERO = {"int8": 0, "uint8": 128}


def zero_point_offset(dtype: str, zp: np.ndarray) -> int | None:
    """The zero point in int8 codes (0: the symmetric contract; uint8 ``u`` is ``u - 128``),
    the first nonzero one of a per-channel zero point; None for a type other than 8 bits."""
    if dtype not in SYMMETRIC_ZERO:
        return None
    offs = [int(v) - SYMMETRIC_ZERO[dtype] for v in zp.reshape(-1)]
    return next((o for o in offs if o), 0)


def _weight_scale(t: Translator, n: Node, i: int, out_axis: int, channels: int
                  ) -> np.ndarray | None:
    """A DequantizeLinear weight keeps its scale: ``<layer>.weight_scale`` (per output channel).

    ``out_axis`` is the weight constant's output-channel axis; a per-channel scale along another
    axis (or a weight changed after dequantization) is left to the quantizer's own scales.
    """
    dq = t.p.dequantized.get(n.inputs[i]) if i < len(n.inputs) else None
    if dq is None:
        return None
    zero = zero_point_offset(dq.dtype, dq.zero_point)
    if zero is None:   # not 8-bit: the quantizer's own scales
        return None
    w = t.p.consts[n.inputs[i]]
    if dq.scale.size == 1:
        scale = np.full(channels, float(dq.scale[0]))
    elif dq.scale.size == channels and dq.axis % w.ndim == out_axis:
        scale = dq.scale.copy()
    else:
        return None
    if zero:   # kept so that quantize refuses it (the float weights themselves are right)
        t.weight_zero[n.outputs[0]] = zero
    return scale


def _weight_zero(t: Translator, n: Node, name: str) -> None:
    zero = t.weight_zero.pop(n.outputs[0], 0)
    if zero:
        t.params[f"{name}.weight_zero_point"] = np.array(float(zero))


def _conv(t: Translator, n: Node) -> None:
    x = t.act(n, n.inputs[0])
    w = t.const(n, 1, "weight")
    assert w is not None
    b = t.const(n, 2, "bias", optional=True)
    rank = w.ndim - 2
    if rank not in (2, 3):
        raise t.err(n, f"{rank}-D convolutions are not supported (conv2d and conv3d are)")
    kernel = ints(n.attrs.get("kernel_shape", w.shape[2:]))
    if kernel != list(w.shape[2:]):
        raise t.err(n, f"kernel_shape {kernel} does not match the weight shape {list(w.shape)}")
    fields: dict[str, object] = {"filters": int(w.shape[0]), **t.window(n, kernel)}
    groups = int(n.attrs.get("group", 1))  # type: ignore[call-overload]
    if groups != 1:
        fields["groups"] = groups
    fields["bias"] = b is not None
    wscale = _weight_scale(t, n, 1, 0, int(w.shape[0]))
    name = t.emit(n, f"conv{rank}d", [x], **fields)
    t.params[f"{name}.weight"] = f32(w)
    if wscale is not None:
        t.params[f"{name}.weight_scale"] = wscale
        _weight_zero(t, n, name)
    if b is not None:
        t.params[f"{name}.bias"] = f32(b.reshape(-1))


def _dense(t: Translator, n: Node, weight: np.ndarray, bias: np.ndarray | None,
           wscale: np.ndarray | None = None) -> None:
    x = t.act(n, n.inputs[0])
    if len(t.shape(n.inputs[0])) != 2:
        raise t.err(n, f"expects a [N, features] input, got shape {list(t.shape(n.inputs[0]))}")
    name = t.emit(n, "dense", [x], units=int(weight.shape[0]), bias=bias is not None)
    t.params[f"{name}.weight"] = f32(weight)
    if wscale is not None:
        t.params[f"{name}.weight_scale"] = wscale
        _weight_zero(t, n, name)
    if bias is not None:
        t.params[f"{name}.bias"] = f32(bias)


def _gemm(t: Translator, n: Node) -> None:
    if int(n.attrs.get("transA", 0)):  # type: ignore[call-overload]
        raise t.err(n, "transA=1 is not supported (the activation must be the A operand)")
    b = t.const(n, 1, "weight")
    c = t.const(n, 2, "bias", optional=True)
    assert b is not None
    alpha = float(n.attrs.get("alpha", 1.0))  # type: ignore[arg-type]
    beta = float(n.attrs.get("beta", 1.0))  # type: ignore[arg-type]
    trans_b = int(n.attrs.get("transB", 0))  # type: ignore[call-overload]
    w = b if trans_b else b.T
    wscale = None
    if alpha != 1.0:
        w = w * alpha
    elif b.ndim == 2:
        wscale = _weight_scale(t, n, 1, 0 if trans_b else 1, int(w.shape[0]))
    bias = None if c is None else np.broadcast_to(c.reshape(-1) * beta, (w.shape[0],)).copy()
    _dense(t, n, w, bias, wscale)


def _matmul(t: Translator, n: Node) -> None:
    b = t.const(n, 1, "weight")
    assert b is not None
    if b.ndim != 2:
        raise t.err(n, f"MatMul by a constant of shape {list(b.shape)} is not supported (a 2-D "
                       "weight is)")
    _dense(t, n, b.T, None, _weight_scale(t, n, 1, 1, int(b.shape[1])))


def _per_channel(t: Translator, n: Node, c: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray | None:
    """A constant as one value per channel of ``x_shape`` (None when it is not)."""
    ch = x_shape[1]
    arr = np.asarray(c, dtype=np.float64)
    if arr.size == 1:
        return np.full(ch, float(arr.reshape(-1)[0]))
    dims = list(arr.shape)
    while dims and dims[0] == 1 and len(dims) > len(x_shape) - 1:
        dims.pop(0)
    # (C,), (C, 1, 1) or (1, C, 1, 1) against (N, C, H, W)
    if dims and dims[0] == ch and math.prod(dims) == ch and len(dims) <= len(x_shape) - 1:
        return arr.reshape(ch)
    return None


def _affine(t: Translator, n: Node, scale: np.ndarray | None, shift: np.ndarray | None) -> None:
    """``x * scale + shift`` per channel: merged into the layer before when possible."""
    xt = next(i for i in n.inputs if i not in t.p.consts)
    x = t.act(n, xt)
    prev = t.by_name.get(x)
    if prev is not None and t.sole_use(xt):
        kind = prev["kind"]
        if shift is not None and scale is None and kind in ("conv2d", "conv3d", "dense") \
                and not prev["bias"]:
            prev["bias"] = True
            t.params[f"{x}.bias"] = shift.astype(np.float32)
            t.src[n.outputs[0]] = x
            return
        if prev.get("_affine"):  # a Mul/Add already written as a batchnorm: compose
            g, b = t.params[f"{x}.gamma"].astype(np.float64), t.params[f"{x}.beta"].astype(np.float64)
            if scale is not None:
                g, b = g * scale, b * scale
            if shift is not None:
                b = b + shift
            t.params[f"{x}.gamma"], t.params[f"{x}.beta"] = g.astype(np.float32), b.astype(np.float32)
            prev["_n"] = int(prev["_n"]) + 1  # type: ignore[call-overload]
            t.src[n.outputs[0]] = x
            t.layer_shapes[x] = tuple(t.shape(n.outputs[0])[1:])
            return
    ch = t.shape(xt)[1]
    name = t.emit(n, "batchnorm", [x], _affine=True, _n=1)
    t.params[f"{name}.gamma"] = (np.ones(ch) if scale is None else scale).astype(np.float32)
    t.params[f"{name}.beta"] = (np.zeros(ch) if shift is None else shift).astype(np.float32)
    t.params[f"{name}.mean"] = np.zeros(ch, np.float32)
    # gamma * (x - 0) / sqrt((1 - eps) + eps) + beta = gamma * x + beta
    t.params[f"{name}.var"] = np.full(ch, 1.0 - _BN_EPS, np.float32)


def _binary(t: Translator, n: Node) -> None:
    ins = [i for i in n.inputs if i]
    consts = [i for i in ins if i in t.p.consts]
    acts = [i for i in ins if i not in t.p.consts]
    if not consts:
        if len(acts) == 1:
            t.alias(n, acts[0])
            return
        if n.op in ("Add", "Sum"):
            t.emit(n, "add", [t.act(n, a) for a in acts])
            return
        if n.op == "Mul":
            _mul(t, n, acts)
            return
        raise t.err(n, f"{n.op} of two activations is not supported")
    if len(acts) != 1 or len(consts) != 1 or n.op == "Sum":
        raise t.err(n, f"{n.op} of {len(acts)} activation(s) and {len(consts)} constant(s) is "
                       "not supported")
    if n.op in ("Sub", "Div") and n.inputs[0] in t.p.consts:
        raise t.err(n, f"{n.op} with the constant first is not supported")
    c = _per_channel(t, n, t.p.consts[consts[0]], t.shape(acts[0]))
    if c is None:
        raise t.err(n, f"{n.op} by a constant of shape {list(t.p.consts[consts[0]].shape)} is "
                       "not supported (scalars and per-channel constants are)")
    match n.op:
        case "Add":
            _affine(t, n, None, c)
        case "Sub":
            _affine(t, n, None, -c)
        case "Mul":
            _affine(t, n, c, None)
        case "Div":
            _affine(t, n, 1.0 / c, None)


def _mul(t: Translator, n: Node, acts: list[str]) -> None:
    if len(acts) == 2:
        for a, b in (acts, acts[::-1]):
            gate = t.by_name.get(t.src.get(b, ""))
            if gate is None or not t.sole_use(b) or gate["inputs"] != [t.act(n, a)]:
                continue
            if gate["kind"] == "sigmoid":
                gate["kind"] = "silu"
            elif gate["kind"] == "hardsigmoid" and abs(num(gate["alpha"]) - 1 / 6) < 1e-6 \
                    and abs(num(gate["beta"]) - 0.5) < 1e-6:
                gate["kind"] = "hardswish"
                del gate["alpha"], gate["beta"]
            else:
                continue
            t.src[n.outputs[0]] = str(gate["name"])
            return
    t.emit(n, "mul", [t.act(n, a) for a in acts])


def _batchnorm(t: Translator, n: Node) -> None:
    x = t.act(n, n.inputs[0])
    if len([o for o in n.outputs if o]) > 1 and any(t.uses[o] for o in n.outputs[1:] if o):
        raise t.err(n, "training-mode BatchNormalization (running statistics outputs) is not "
                       "supported")
    vals = [t.const(n, i, w) for i, w in enumerate(("scale", "bias", "mean", "var"), start=1)]
    eps = float(n.attrs.get("epsilon", 1e-5))  # type: ignore[arg-type]
    if not 0 < eps <= 1:
        raise t.err(n, f"epsilon {eps!r} is outside (0, 1]")
    name = t.emit(n, "batchnorm", [x], eps=eps)
    for key, v in zip(("gamma", "beta", "mean", "var"), vals):
        assert v is not None
        t.params[f"{name}.{key}"] = v.reshape(-1).astype(np.float32)


def _clip(t: Translator, n: Node) -> None:
    lo = n.attrs.get("min")
    hi = n.attrs.get("max")
    if len(n.inputs) > 1 and n.inputs[1]:
        lo = float(t.const(n, 1, "min"))  # type: ignore[arg-type]
    if len(n.inputs) > 2 and n.inputs[2]:
        hi = float(t.const(n, 2, "max"))  # type: ignore[arg-type]
    x = t.act(n, n.inputs[0])
    if lo == 0 and hi == 6:
        t.emit(n, "relu6", [x])
    elif lo == 0 and (hi is None or hi == float("inf")):
        t.emit(n, "relu", [x])
    else:
        raise t.err(n, f"Clip to [{lo}, {hi}] is not supported (Clip(0, 6) is relu6)")


def _unary(kind: str) -> Callable[[Translator, Node], None]:
    def handler(t: Translator, n: Node) -> None:
        t.emit(n, kind, [t.act(n, n.inputs[0])])
    return handler


def _hardsigmoid(t: Translator, n: Node) -> None:
    t.emit(n, "hardsigmoid", [t.act(n, n.inputs[0])],
           alpha=float(n.attrs.get("alpha", 0.2)), beta=float(n.attrs.get("beta", 0.5)))  # type: ignore[arg-type]


def _swish(t: Translator, n: Node) -> None:
    if float(n.attrs.get("alpha", 1.0)) != 1.0:  # type: ignore[arg-type]
        raise t.err(n, "Swish with alpha != 1 is not supported (alpha = 1 is silu)")
    t.emit(n, "silu", [t.act(n, n.inputs[0])])


def _pool(t: Translator, n: Node) -> None:
    if len(n.outputs) > 1 and n.outputs[1] and t.uses[n.outputs[1]]:
        raise t.err(n, "MaxPool indices output is not supported")
    kernel = ints(t.req(n, "kernel_shape"))
    fields = t.window(n, kernel)
    if int(n.attrs.get("ceil_mode", 0)):  # type: ignore[call-overload]
        fields["ceil_mode"] = True
    if n.op == "AveragePool" and int(n.attrs.get("count_include_pad", 0)):  # type: ignore[call-overload]
        fields["count_include_pad"] = True
    t.emit(n, "maxpool" if n.op == "MaxPool" else "avgpool", [t.act(n, n.inputs[0])], **fields)


def _global_max(t: Translator, n: Node) -> None:
    sp = list(t.shape(n.inputs[0])[2:])
    t.emit(n, "maxpool", [t.act(n, n.inputs[0])], kernel=one(sp), stride=one(sp))


def _concat(t: Translator, n: Node) -> None:
    rank = len(t.shape(n.outputs[0]))
    if int(n.attrs.get("axis", 1)) % rank != 1:  # type: ignore[call-overload]
        raise t.err(n, f"Concat along axis {n.attrs.get('axis')} is not supported (the channel "
                       "axis 1 is)")
    acts = [i for i in n.inputs if i]
    if len(acts) == 1:
        t.alias(n, acts[0])
    else:
        t.emit(n, "concat", [t.act(n, a) for a in acts])


HANDLERS: dict[str, Callable[[Translator, Node], None]] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _unary("global_avgpool"),
    "GlobalMaxPool": _global_max,
    "BatchNormalization": _batchnorm,
    "Add": _binary,
    "Sub": _binary,
    "Mul": _binary,
    "Div": _binary,
    "Sum": _binary,
    "Concat": _concat,
    "Relu": _unary("relu"),
    "Clip": _clip,
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "HardSigmoid": _hardsigmoid,
    "HardSwish": _unary("hardswish"),
    "Swish": _swish,
    "Flatten": lay.flatten_like,
    "Reshape": lay.flatten_like,
    "Squeeze": lay.flatten_like,
    "Transpose": lay.transpose,
    "Dropout": lay.dropout,
    "Identity": lay.identity,
    "Pad": lay.pad,
    "Resize": lay.resize,
    "Upsample": lay.resize,
    "Softmax": lay.softmax,
    "QuantizeLinear": lay.quantize,
    "DequantizeLinear": lay.dequantize,
    "LRN": lay.lrn,
}
