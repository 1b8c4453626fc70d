"""ONNX data-layout and bookkeeping operators -> spec layer entries: Flatten/Reshape/Squeeze,
the Reshape -> Transpose -> Reshape channel shuffle, Dropout, Identity, Pad, Resize/Upsample,
Softmax, QuantizeLinear/DequantizeLinear pairs (removed, scales kept) and LRN."""

from __future__ import annotations

import math

import numpy as np

from .onnx_fold import Node
from .onnx_translate import Translator, ints, one


def flatten_like(t: Translator, n: Node) -> None:
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


def transpose(t: Translator, n: Node) -> None:
    x = n.inputs[0]
    perm = ints(n.attrs.get("perm", []))
    if x in t.pending and t.pending[x][2] == 1 and perm == [0, 2, 1, 3, 4]:
        layer, g, _ = t.pending.pop(x)
        t.pending[n.outputs[0]] = (layer, g, 2)
        return
    raise t.err(n, f"Transpose with perm {perm} is not supported (only inside a channel shuffle)")


def dropout(t: Translator, n: Node) -> None:
    rate = n.attrs.get("ratio", 0.5)
    if len(n.inputs) > 1 and n.inputs[1]:
        rate = float(t.const(n, 1, "ratio"))  # type: ignore[arg-type]
    t.emit(n, "dropout", [t.act(n, n.inputs[0])], rate=float(rate))  # type: ignore[arg-type]


def identity(t: Translator, n: Node) -> None:
    t.alias(n, n.inputs[0])


def pad(t: Translator, n: Node) -> None:
    mode = str(n.attrs.get("mode", "constant"))
    if mode != "constant":
        raise t.err(n, f"Pad mode {mode!r} is not supported (constant is)")
    rank = len(t.shape(n.inputs[0]))
    pads = ints(n.attrs["pads"]) if "pads" in n.attrs else ints(t.const(n, 1, "pads"))  # type: ignore[arg-type]
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


def resize(t: Translator, n: Node) -> None:
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
    t.emit(n, "resize", [t.act(n, n.inputs[0])], scale=one(scale))


def softmax(t: Translator, n: Node) -> None:
    shape = t.shape(n.inputs[0])
    # opset < 13: axis (default 1) flattens the tensor to [prod(before), prod(from axis)]
    axis = int(n.attrs.get("axis", 1 if t.opset < 13 else -1)) % len(shape)  # type: ignore[call-overload]
    over_channels = axis == 1 and (t.opset >= 13 or math.prod(shape[2:]) == 1)
    if not over_channels:
        raise t.err(n, f"Softmax along axis {axis} of a {list(shape)} tensor is not supported "
                       "(the channel axis is)")
    t.emit(n, "softmax", [t.act(n, n.inputs[0])])


def quantize(t: Translator, n: Node) -> None:
    """A QuantizeLinear of an activation: its scale becomes ``<layer>.act_scale``."""
    from onnx import helper

    from .onnx_ops import zero_point_offset

    x = t.act(n, n.inputs[0])
    scale = t.const(n, 1, "scale")
    assert scale is not None
    if scale.size != 1:
        raise t.err(n, "per-channel activation quantization is not supported")
    zp = t.const(n, 2, "zero_point", optional=True)
    if zp is not None:
        dtype = str(zp.dtype)
    else:  # no zero point: output_dtype (opset 21), else uint8
        to = int(n.attrs.get("output_dtype", 0)) or 2  # type: ignore[call-overload]
        dtype = str(np.dtype(helper.tensor_dtype_to_np_dtype(to)))
        zp = np.zeros(1, np.int64)
    zero = zero_point_offset(dtype, zp)
    if zero is None:   # not an 8-bit type: imported, its scale left to calibration
        t.quantized.add(n.outputs[0])
        t.src[n.outputs[0]] = x
        return
    value = float(scale.reshape(-1)[0])
    if not value > 0 or not math.isfinite(value):
        raise t.err(n, f"scale {value!r} is not a positive number")
    if t.act_scales.get(x, value) != value:
        raise t.err(n, f"quantizes {n.inputs[0]!r} again with another scale ({value!r}, before "
                       f"{t.act_scales[x]!r})")
    t.act_scales[x] = value
    t.params[f"{x}.act_scale"] = np.array(value, dtype=np.float64)
    if zero:   # kept so that quantize refuses it (report and explain do not need it)
        t.params[f"{x}.act_zero_point"] = np.array(float(zero))
    t.quantized.add(n.outputs[0])
    t.src[n.outputs[0]] = x


def dequantize(t: Translator, n: Node) -> None:
    if n.inputs[0] not in t.quantized:
        raise t.err(n, "DequantizeLinear of an activation that no QuantizeLinear produced")
    t.alias(n, n.inputs[0])


def lrn(t: Translator, n: Node) -> None:
    t.emit(n, "lrn", [t.act(n, n.inputs[0])], size=int(t.req(n, "size")),  # type: ignore[call-overload]
           alpha=float(n.attrs.get("alpha", 1e-4)), beta=float(n.attrs.get("beta", 0.75)),  # type: ignore[arg-type]
           bias=float(n.attrs.get("bias", 1.0)))  # type: ignore[arg-type]
