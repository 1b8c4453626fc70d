"""ONNX operators -> spec layer entries (used by :mod:`.onnx_import`).

A :class:`Translator` walks the folded nodes of :class:`~.onnx_fold.Prepared` in file order and
appends one spec entry (a dict, as the YAML would hold it) per layer, plus the layer's
parameters. Patterns spanning nodes are recognized here: Mul/Add by per-channel constants
(BatchNorm written out), a conv/dense followed by the Add of its bias, ``x * Sigmoid(x)``
(SiLU), ``x * HardSigmoid(x)`` (hardswish), Reshape -> Transpose -> Reshape (channel shuffle)
and QuantizeLinear -> DequantizeLinear pairs on activations (removed, scales kept).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import SpecError
from .onnx_fold import Node, Prepared, fail
from .spec import INPUT_NAME

_BN_EPS = 1e-5


def _ints(v: object) -> list[int]:
    return [int(x) for x in v]  # type: ignore[attr-defined]


def _f32(a: np.ndarray) -> np.ndarray:
    """float32 without a copy when it already is (broadcast weights stay views)."""
    return a if a.dtype == np.float32 else a.astype(np.float32)


def _num(v: object) -> float:
    assert isinstance(v, (int, float))
    return float(v)


def _one(values: list[int]) -> int | list[int]:
    """One number when every dim agrees (as a hand-written spec would say it)."""
    return values[0] if len(set(values)) == 1 else values


class Translator:
    """State of one import: entries, parameters, tensor -> layer map."""

    def __init__(self, prep: Prepared, file: str | None) -> None:
        self.p = prep
        self.file = file
        self.entries: list[dict[str, object]] = []
        self.by_name: dict[str, dict[str, object]] = {}
        self.params: dict[str, np.ndarray] = {}
        self.layer_shapes: dict[str, tuple[int, ...]] = {}
        self.act_scales: dict[str, float] = {}
        self.src: dict[str, str] = {prep.input: INPUT_NAME}
        self.uses = Counter(t for n in prep.nodes for t in n.inputs if t)
        self.uses.update(prep.outputs)
        self.pending: dict[str, tuple[str, int, int]] = {}  # shuffle: tensor -> (layer, g, stage)
        self.quantized: set[str] = set()
        self.names: set[str] = {INPUT_NAME}
        self.opset = prep.opset
        shape = prep.shapes[prep.input]
        self.input_shape = tuple(shape[1:])
        self.layer_shapes[INPUT_NAME] = self.input_shape

    # -- helpers ---------------------------------------------------------------------------

    def err(self, n: Node, problem: str) -> SpecError:
        return fail(n, problem, self.file)

    def shape(self, t: str) -> tuple[int, ...]:
        return self.p.shapes[t]

    def const(self, n: Node, i: int, what: str, optional: bool = False) -> np.ndarray | None:
        t = n.inputs[i] if i < len(n.inputs) else ""
        if not t:
            if optional:
                return None
            raise self.err(n, f"missing {what} input")
        if t not in self.p.consts:
            raise self.err(n, f"{what} {t!r} is not a constant (hwcnn needs weights given by "
                              "initializers or constant subgraphs)")
        return self.p.consts[t]

    def req(self, n: Node, key: str) -> Any:
        """A required attribute."""
        if key not in n.attrs:
            raise self.err(n, f"missing required attribute {key!r}")
        return n.attrs[key]

    def act(self, n: Node, t: str) -> str:
        """The layer computing activation tensor ``t``."""
        if t in self.pending:
            raise self.err(n, f"reads {t!r}, part of a Reshape/Transpose sequence that is not "
                              "a channel shuffle")
        if t in self.src:
            return self.src[t]
        if t in self.p.consts:
            raise self.err(n, f"expected an activation input, got the constant {t!r}")
        raise self.err(n, f"input {t!r} is not computed by a supported node")

    def entry(self, layer: str) -> dict[str, object]:
        return self.by_name[layer]

    def new_name(self, n: Node) -> str:
        raw = (n.name or n.outputs[0]).lstrip("/") or f"{n.op.lower()}{n.index}"
        s = re.sub(r"[^A-Za-z0-9_.\-/]", "_", raw)[:190]
        if not re.match(r"^[A-Za-z_]", s):
            s = "_" + s
        base, i = s, 1
        while s in self.names:
            i += 1
            s = f"{base}_{i}"
        self.names.add(s)
        return s

    def emit(self, n: Node, kind: str, inputs: list[str], **fields: object) -> str:
        name = self.new_name(n)
        e: dict[str, object] = {"name": name, "kind": kind, "inputs": inputs, **fields}
        self.entries.append(e)
        self.by_name[name] = e
        self.src[n.outputs[0]] = name
        self.layer_shapes[name] = tuple(self.shape(n.outputs[0])[1:])
        return name

    def alias(self, n: Node, t_in: str) -> None:
        self.src[n.outputs[0]] = self.act(n, t_in)

    def sole_use(self, t: str) -> bool:
        return self.uses[t] == 1

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> None:
        for n in self.p.nodes:
            handler = _HANDLERS.get(n.op)
            if handler is None:
                raise self.err(n, f"unsupported operator {n.op!r} (hwcnn import --help lists "
                                  "the supported ones)")
            try:
                handler(self, n)
            except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError) as exc:
                # a malformed node (a required attribute or input missing, a wrong type):
                # still one line, naming the node
                raise self.err(n, f"malformed node ({type(exc).__name__}: {exc})") from None
        for t in self.pending:
            if self.uses[t]:
                raise fail(None, f"tensor {t!r}: a Reshape/Transpose sequence that is not a "
                                 "channel shuffle", self.file)

    # -- window attributes -----------------------------------------------------------------

    def pads(self, n: Node, rank: int, kernel: list[int], strides: list[int],
             dil: list[int]) -> int | list[int] | list[list[int]]:
        auto = str(n.attrs.get("auto_pad", "NOTSET"))
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            ins, outs = self.shape(n.inputs[0])[2:], self.shape(n.outputs[0])[2:]
            pairs = []
            for w, o, k, s, d in zip(ins, outs, kernel, strides, dil):
                total = max((o - 1) * s + d * (k - 1) + 1 - w, 0)
                small, big = total // 2, total - total // 2
                pairs.append([small, big] if auto == "SAME_UPPER" else [big, small])
        elif auto == "VALID":
            pairs = [[0, 0]] * rank
        elif auto == "NOTSET":
            p = _ints(n.attrs.get("pads", [0] * (2 * rank)))
            if len(p) != 2 * rank or min(p) < 0:
                raise self.err(n, f"pads {p} do not give a non-negative begin and end per "
                                  f"spatial axis ({2 * rank} values)")
            pairs = [[p[i], p[i + rank]] for i in range(rank)]
        else:
            raise self.err(n, f"unknown auto_pad {auto!r}")
        if all(lo == hi for lo, hi in pairs):
            return _one([lo for lo, _ in pairs])
        return pairs

    def window(self, n: Node, kernel: list[int]) -> dict[str, object]:
        rank = len(kernel)
        strides = _ints(n.attrs.get("strides", [1] * rank))
        dil = _ints(n.attrs.get("dilations", [1] * rank))
        f: dict[str, object] = {"kernel": _one(kernel), "stride": _one(strides),
                                "padding": self.pads(n, rank, kernel, strides, dil)}
        if set(dil) != {1}:
            f["dilation"] = _one(dil)
        return f


# -- operators --------------------------------------------------------------------------------

def _conv(t: Translator, n: Node) -> None:
    x = t.act(n, n.inputs[0])
    w = t.const(n, 1, "weight")
    assert w is not None
    b = t.const(n, 2, "bias", optional=True)
    rank = w.ndim - 2
    if rank not in (2, 3):
        raise t.err(n, f"{rank}-D convolutions are not supported (conv2d and conv3d are)")
    kernel = _ints(n.attrs.get("kernel_shape", w.shape[2:]))
    if kernel != list(w.shape[2:]):
        raise t.err(n, f"kernel_shape {kernel} does not match the weight shape {list(w.shape)}")
    fields: dict[str, object] = {"filters": int(w.shape[0]), **t.window(n, kernel)}
    groups = int(n.attrs.get("group", 1))  # type: ignore[call-overload]
    if groups != 1:
        fields["groups"] = groups
    fields["bias"] = b is not None
    name = t.emit(n, f"conv{rank}d", [x], **fields)
    t.params[f"{name}.weight"] = _f32(w)
    if b is not None:
        t.params[f"{name}.bias"] = _f32(b.reshape(-1))


def _dense(t: Translator, n: Node, weight: np.ndarray, bias: np.ndarray | None) -> None:
    x = t.act(n, n.inputs[0])
    if len(t.shape(n.inputs[0])) != 2:
        raise t.err(n, f"expects a [N, features] input, got shape {list(t.shape(n.inputs[0]))}")
    name = t.emit(n, "dense", [x], units=int(weight.shape[0]), bias=bias is not None)
    t.params[f"{name}.weight"] = _f32(weight)
    if bias is not None:
        t.params[f"{name}.bias"] = _f32(bias)


def _gemm(t: Translator, n: Node) -> None:
    if int(n.attrs.get("transA", 0)):  # type: ignore[call-overload]
        raise t.err(n, "transA=1 is not supported (the activation must be the A operand)")
    b = t.const(n, 1, "weight")
    c = t.const(n, 2, "bias", optional=True)
    assert b is not None
    alpha = float(n.attrs.get("alpha", 1.0))  # type: ignore[arg-type]
    beta = float(n.attrs.get("beta", 1.0))  # type: ignore[arg-type]
    w = b if int(n.attrs.get("transB", 0)) else b.T  # type: ignore[call-overload]
    if alpha != 1.0:
        w = w * alpha
    bias = None if c is None else np.broadcast_to(c.reshape(-1) * beta, (w.shape[0],)).copy()
    _dense(t, n, w, bias)


def _matmul(t: Translator, n: Node) -> None:
    b = t.const(n, 1, "weight")
    assert b is not None
    if b.ndim != 2:
        raise t.err(n, f"MatMul by a constant of shape {list(b.shape)} is not supported (a 2-D "
                       "weight is)")
    _dense(t, n, b.T, None)


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
            elif gate["kind"] == "hardsigmoid" and abs(_num(gate["alpha"]) - 1 / 6) < 1e-6 \
                    and abs(_num(gate["beta"]) - 0.5) < 1e-6:
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
    kernel = _ints(t.req(n, "kernel_shape"))
    fields = t.window(n, kernel)
    if int(n.attrs.get("ceil_mode", 0)):  # type: ignore[call-overload]
        fields["ceil_mode"] = True
    if n.op == "AveragePool" and int(n.attrs.get("count_include_pad", 0)):  # type: ignore[call-overload]
        fields["count_include_pad"] = True
    t.emit(n, "maxpool" if n.op == "MaxPool" else "avgpool", [t.act(n, n.inputs[0])], **fields)


def _global_max(t: Translator, n: Node) -> None:
    sp = list(t.shape(n.inputs[0])[2:])
    t.emit(n, "maxpool", [t.act(n, n.inputs[0])], kernel=_one(sp), stride=_one(sp))


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


def _flatten_like(t: Translator, n: Node) -> None:
    src, dst = t.shape(n.inputs[0]), t.shape(n.outputs[0])
    x = n.inputs[0]
    if n.op == "Reshape" and x in t.pending:
        layer, g, stage = t.pending.pop(x)
        if stage == 2 and len(dst) == 4:
            t.emit(n, "channel_shuffle", [layer], groups=g)
            return
        raise t.err(n, "Reshape/Transpose sequence is not a channel shuffle")
    if n.op == "Reshape" and len(src) == 4 and len(dst) == 5 and dst[0] == src[0] \
            and dst[1] * dst[2] == src[1] and tuple(dst[3:]) == tuple(src[2:]):
        t.pending[n.outputs[0]] = (t.act(n, x), dst[1], 1)
        return
    if n.op == "Flatten" and int(n.attrs.get("axis", 1)) != 1:  # type: ignore[call-overload]
        raise t.err(n, f"Flatten with axis {n.attrs.get('axis')} is not supported (axis 1 is)")
    if len(dst) == 2 and dst[0] == src[0]:
        if len(src) == 2:
            t.alias(n, x)
        else:
            t.emit(n, "flatten", [t.act(n, x)])
        return
    raise t.err(n, f"{n.op} from {list(src)} to {list(dst)} is not supported (flatten to "
                   "[N, features] and channel shuffles are)")


def _transpose(t: Translator, n: Node) -> None:
    x = n.inputs[0]
    perm = _ints(n.attrs.get("perm", []))
    if x in t.pending and t.pending[x][2] == 1 and perm == [0, 2, 1, 3, 4]:
        layer, g, _ = t.pending.pop(x)
        t.pending[n.outputs[0]] = (layer, g, 2)
        return
    raise t.err(n, f"Transpose with perm {perm} is not supported (only inside a channel shuffle)")


def _dropout(t: Translator, n: Node) -> None:
    rate = n.attrs.get("ratio", 0.5)
    if len(n.inputs) > 1 and n.inputs[1]:
        rate = float(t.const(n, 1, "ratio"))  # type: ignore[arg-type]
    t.emit(n, "dropout", [t.act(n, n.inputs[0])], rate=float(rate))  # type: ignore[arg-type]


def _identity(t: Translator, n: Node) -> None:
    t.alias(n, n.inputs[0])


def _pad(t: Translator, n: Node) -> None:
    mode = str(n.attrs.get("mode", "constant"))
    if mode != "constant":
        raise t.err(n, f"Pad mode {mode!r} is not supported (constant is)")
    rank = len(t.shape(n.inputs[0]))
    pads = _ints(n.attrs["pads"]) if "pads" in n.attrs else _ints(t.const(n, 1, "pads"))  # type: ignore[arg-type]
    axes = list(range(rank))
    if len(n.inputs) > 3 and n.inputs[3]:
        axes = [int(a) % rank for a in t.const(n, 3, "axes")]  # type: ignore[union-attr]
    full = [0] * (2 * rank)
    for i, a in enumerate(axes):
        full[a], full[a + rank] = pads[i], pads[i + len(axes)]
    if full[0] or full[1] or full[rank] or full[rank + 1] or min(full) < 0:
        raise t.err(n, f"pads {pads} are not supported (non-negative padding of the spatial "
                       "axes is)")
    value = n.attrs.get("value", 0.0)
    if len(n.inputs) > 2 and n.inputs[2]:
        value = float(np.asarray(t.const(n, 2, "constant_value")).reshape(-1)[0])
    pairs = [[full[i], full[i + rank]] for i in range(2, rank)]
    fields: dict[str, object] = {"padding": pairs}
    if float(value) != 0.0:  # type: ignore[arg-type]
        fields["value"] = float(value)  # type: ignore[arg-type]
    t.emit(n, "pad", [t.act(n, n.inputs[0])], **fields)


def _nearest_index(ct: str, nm: str, i: np.ndarray, w: int, o: int) -> np.ndarray:
    """ONNX Resize's source index of output ``i`` (nearest mode), see the operator spec."""
    scale = o / w
    match ct:
        case "half_pixel":
            x = (i + 0.5) / scale - 0.5
        case "pytorch_half_pixel":
            x = (i + 0.5) / scale - 0.5 if o > 1 else np.zeros_like(i, dtype=float)
        case "align_corners":
            x = i * (w - 1) / (o - 1) if o > 1 else np.zeros_like(i, dtype=float)
        case "tf_half_pixel_for_nn":
            x = (i + 0.5) / scale
        case _:  # asymmetric
            x = i / scale
    match nm:
        case "round_prefer_ceil":
            r = np.floor(x + 0.5)
        case "floor":
            r = np.floor(x)
        case "ceil":
            r = np.ceil(x)
        case _:  # round_prefer_floor
            r = np.ceil(x - 0.5)
    return np.clip(r, 0, w - 1).astype(np.int64)


def _resize(t: Translator, n: Node) -> None:
    mode = str(n.attrs.get("mode", "nearest"))
    if mode != "nearest":
        raise t.err(n, f"{n.op} mode {mode!r} is not supported (nearest is)")
    src, dst = t.shape(n.inputs[0]), t.shape(n.outputs[0])
    if len(src) < 3 or src[:2] != dst[:2]:
        raise t.err(n, f"{n.op} from {list(src)} to {list(dst)} is not supported (spatial "
                       "upsampling is)")
    ct = "asymmetric" if n.op == "Upsample" else str(
        n.attrs.get("coordinate_transformation_mode", "half_pixel"))
    nm = "floor" if n.op == "Upsample" else str(n.attrs.get("nearest_mode", "round_prefer_floor"))
    scale = []
    for w, o in zip(src[2:], dst[2:]):
        i = np.arange(o)
        if o % w or not np.array_equal(_nearest_index(ct, nm, i, w, o), i // (o // w)):
            raise t.err(n, f"{n.op} from {list(src)} to {list(dst)} with "
                           f"coordinate_transformation_mode {ct!r} and nearest_mode {nm!r} is "
                           "not an integer nearest upsampling")
        scale.append(o // w)
    t.emit(n, "resize", [t.act(n, n.inputs[0])], scale=_one(scale))


def _softmax(t: Translator, n: Node) -> None:
    shape = t.shape(n.inputs[0])
    # opset < 13: axis (default 1) flattens the tensor to [prod(before), prod(from axis)]
    axis = int(n.attrs.get("axis", 1 if t.opset < 13 else -1)) % len(shape)  # type: ignore[call-overload]
    over_channels = axis == 1 and (t.opset >= 13 or math.prod(shape[2:]) == 1)
    if not over_channels:
        raise t.err(n, f"Softmax along axis {axis} of a {list(shape)} tensor is not supported "
                       "(the channel axis is)")
    t.emit(n, "softmax", [t.act(n, n.inputs[0])])


def _quantize(t: Translator, n: Node) -> None:
    x = t.act(n, n.inputs[0])
    scale = t.const(n, 1, "scale")
    assert scale is not None
    if scale.size != 1:
        raise t.err(n, "per-channel activation quantization is not supported")
    t.act_scales[x] = float(scale.reshape(-1)[0])
    t.quantized.add(n.outputs[0])
    t.src[n.outputs[0]] = x


def _dequantize(t: Translator, n: Node) -> None:
    if n.inputs[0] not in t.quantized:
        raise t.err(n, "DequantizeLinear of an activation that no QuantizeLinear produced")
    t.alias(n, n.inputs[0])


def _lrn(t: Translator, n: Node) -> None:
    t.emit(n, "lrn", [t.act(n, n.inputs[0])], size=int(t.req(n, "size")),  # type: ignore[call-overload]
           alpha=float(n.attrs.get("alpha", 1e-4)), beta=float(n.attrs.get("beta", 0.75)),  # type: ignore[arg-type]
           bias=float(n.attrs.get("bias", 1.0)))  # type: ignore[arg-type]


_HANDLERS: dict[str, Callable[[Translator, Node], None]] = {
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
    "Flatten": _flatten_like,
    "Reshape": _flatten_like,
    "Squeeze": _flatten_like,
    "Transpose": _transpose,
    "Dropout": _dropout,
    "Identity": _identity,
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": _resize,
    "Softmax": _softmax,
    "QuantizeLinear": _quantize,
    "DequantizeLinear": _dequantize,
    "LRN": _lrn,
}
