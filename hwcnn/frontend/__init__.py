"""Stage 1, front ends: a network description -> :class:`NetworkSpec`.

``load_model(path)`` reads either kind of model file: an ``.onnx`` file through the ONNX importer
(:mod:`.onnx_import`), anything else through ``load_spec(path)``, which reads a YAML spec (validated against the JSON Schema of :mod:`.schema`, with
line numbers from :mod:`.yamlload`) into a :class:`NetworkSpec`, a tuple of frozen layer records
(:mod:`.layers`). Every later stage consumes those records, so they live here, with the stage that
makes them; a new front end (ONNX import) produces the same records.
"""

from .layers import (
    LRN,
    Act,
    Activation,
    AdaptiveAvgPool,
    Add,
    BatchNorm,
    ChannelShuffle,
    Concat,
    Conv,
    Dense,
    Dropout,
    Flatten,
    Fn,
    GlobalAvgPool,
    Input,
    Layer,
    Mul,
    NetworkSpec,
    Nonlinear,
    NumberFormats,
    Pad,
    Padding,
    Pads,
    Pool,
    PoolOp,
    Resize,
    Softmax,
    TensorShape,
    kind_name,
)
from .load import load_model
from .onnx_import import Imported, import_model, is_onnx, load_onnx
from .schema import full_schema
from .spec import INPUT_NAME, load_spec, parse_spec

__all__ = [
    "INPUT_NAME",
    "LRN",
    "Act",
    "Activation",
    "AdaptiveAvgPool",
    "Add",
    "BatchNorm",
    "ChannelShuffle",
    "Concat",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Fn",
    "GlobalAvgPool",
    "Imported",
    "Input",
    "Layer",
    "Mul",
    "NetworkSpec",
    "Nonlinear",
    "NumberFormats",
    "Pad",
    "Padding",
    "Pads",
    "Pool",
    "PoolOp",
    "Resize",
    "Softmax",
    "TensorShape",
    "full_schema",
    "import_model",
    "is_onnx",
    "kind_name",
    "load_model",
    "load_onnx",
    "load_spec",
    "parse_spec",
]
