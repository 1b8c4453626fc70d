"""Stage 1, ONNX front end: an ``.onnx`` model -> spec YAML text, :class:`NetworkSpec` and weights.

``hwcnn import model.onnx -o model.yaml --weights-out w.npz`` and every command given a
``.onnx`` file use :func:`load_onnx`. The model is read and folded by :mod:`.onnx_fold` (constant
subgraphs become arrays, every tensor gets ONNX's inferred static shape), then each remaining
node becomes a spec layer (the mapping is :data:`SUPPORTED`, printed by ``hwcnn import --help``).
The result is spec YAML, parsed by the ordinary YAML front end, so an imported network and a
hand-written one are the same records. Initializers become the ``<layer>.<param>`` weights of
:mod:`hwcnn.numerics.weights` (conv/dense ``weight`` in PyTorch layout, ``bias``; BatchNorm
``gamma``, ``beta``, ``mean``, ``var``); QuantizeLinear/DequantizeLinear scales become the
optional ``<layer>.act_scale`` and ``<layer>.weight_scale`` (docs/numerics.md, "Given scales").
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..errors import SpecError
from . import layers as L
from .onnx_ops import HANDLERS
from .onnx_translate import Translator
from .spec import parse_spec

#: ONNX operator -> what it becomes (``hwcnn import --help`` prints this table).
SUPPORTED: dict[str, str] = {
    "Conv": "conv2d / conv3d (strides, pads, auto_pad, dilations, group)",
    "Gemm": "dense (transB, alpha and beta folded into the weights)",
    "MatMul": "dense without bias (+ a following Add of a constant becomes its bias)",
    "MaxPool": "maxpool (pads, ceil_mode, dilations, auto_pad)",
    "AveragePool": "avgpool (pads, ceil_mode, count_include_pad, dilations, auto_pad)",
    "GlobalAveragePool": "global_avgpool",
    "GlobalMaxPool": "maxpool over the whole map",
    "BatchNormalization": "batchnorm (scale, bias, mean, var, epsilon)",
    "Add, Sum": "add; with a per-channel constant: the bias of the conv/dense before it, or a "
                "batchnorm (BatchNorm written as Mul/Add)",
    "Sub, Div": "with a constant: as Add / Mul",
    "Mul": "mul (broadcast (C,1,1), squeeze-excitation); with a per-channel constant: "
           "batchnorm; x * Sigmoid(x): silu; x * HardSigmoid(x): hardswish",
    "Concat": "concat (channel axis)",
    "Relu, Clip": "relu; Clip(0, 6): relu6",
    "Sigmoid, Tanh, HardSigmoid, HardSwish": "sigmoid, tanh, hardsigmoid, hardswish",
    "Flatten, Reshape, Squeeze": "flatten (to [N, features])",
    "Reshape + Transpose + Reshape": "channel_shuffle (ShuffleNet)",
    "Dropout": "dropout",
    "Identity": "(removed)",
    "Pad": "pad (constant mode, spatial axes)",
    "Resize, Upsample": "resize (nearest, integer factors)",
    "Softmax": "softmax (channel axis)",
    "QuantizeLinear, DequantizeLinear": "removed; weight and activation scales kept as "
                                        "'<layer>.weight_scale' / '.act_scale' weights "
                                        "(symmetric int8, or uint8 with zero point 128)",
    "LRN": "lrn",
    "Constant, ConstantOfShape, Shape, ...": "folded when their inputs are constant",
}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Imported:
    """An imported model: the spec, its YAML text, the float weights, ONNX's shapes."""

    spec: L.NetworkSpec
    yaml: str
    weights: Mapping[str, np.ndarray]
    #: layer name -> ONNX's inferred shape of the tensor it computes, batch dimension dropped
    onnx_shapes: Mapping[str, tuple[int, ...]]
    #: layer name -> activation scale of a QuantizeLinear/DequantizeLinear pair on its output
    act_scales: Mapping[str, float]

    def write_npz(self, path: str | os.PathLike[str]) -> None:
        """Write the weights to ``path`` as a reproducible ``.npz`` (sorted keys, fixed zip
        timestamps), atomically, streaming one array at a time (a VGG's 575 MB of weights
        never sit in memory twice)."""
        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                self._write_npz(fh)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _write_npz(self, fh: io.IOBase | io.BufferedWriter) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[arg-type]
            for key in sorted(self.weights):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as member:
                    arr = self.weights[key]   # (ascontiguousarray would make a scalar 1-D)
                    np.lib.format.write_array(member, np.ascontiguousarray(arr) if arr.ndim
                                              else np.asarray(arr), allow_pickle=False)


def load_onnx(path: str | os.PathLike[str]) -> Imported:
    """Import an ``.onnx`` file; every problem raises a one-line :class:`SpecError`."""
    from .onnx_fold import load_model

    file = os.fspath(path)
    return import_model(load_model(file), file=file)


def import_model(model, file: str | None = None) -> Imported:  # type: ignore[no-untyped-def]
    """Import an ``onnx.ModelProto`` (``file`` labels errors and names the network)."""
    from .onnx_fold import prepare

    prep = prepare(model, file)
    tr = Translator(prep, file, HANDLERS)
    tr.run()
    stem = os.path.splitext(os.path.basename(file))[0] if file else ""
    name = _name(prep.name or stem or "onnx_model")
    text = _yaml(name, tr.input_shape, tr.entries, tr.act_scales, stem or name)
    try:
        spec = parse_spec(text, file=None)
    except SpecError as exc:  # a value the spec format cannot hold (e.g. an absurd size)
        raise SpecError(exc.message, file=file, layer=exc.layer) from None
    spec = replace(spec, layers=tuple(replace(layer, line=None) for layer in spec.layers),
                   source=file)
    return Imported(spec=spec, yaml=text, weights=tr.params, onnx_shapes=tr.layer_shapes,
                    act_scales=tr.act_scales)


def _name(raw: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.\-/]", "_", raw)[:200]
    return s if re.match(r"^[A-Za-z_]", s) else "_" + s[:199]


def _value(v: object) -> str:
    """YAML flow value: JSON for strings/lists/bools, floats always with a dot."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        s = repr(v)
        mant, _, exp = s.partition("e")
        return (mant if "." in mant else mant + ".0") + (f"e{exp}" if exp else "")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)


def _yaml(name: str, shape: tuple[int, ...], entries: list[dict[str, object]],
          scales: Mapping[str, float], stem: str) -> str:
    lines = [f"# imported from {stem}.onnx by hwcnn import",
             f"name: {json.dumps(name)}",
             f"input: {_value(list(shape))}"]
    if scales:
        lines.append("# QuantizeLinear/DequantizeLinear activation scales (layer: scale):")
        lines.extend(f"#   {k}: {_value(float(v))}" for k, v in sorted(scales.items()))
    lines.append("layers:")
    for e in entries:
        body = ", ".join(f"{k}: {_value(v)}" for k, v in e.items() if not k.startswith("_"))
        lines.append(f"  - {{{body}}}")
    return "\n".join(lines) + "\n"


def is_onnx(path: str | os.PathLike[str]) -> bool:
    """Whether a model path names an ONNX file (by its suffix)."""
    return os.fspath(path).lower().endswith(".onnx")


__all__ = ["SUPPORTED", "Imported", "import_model", "is_onnx", "load_onnx"]
