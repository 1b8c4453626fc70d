"""Stage 1, front ends: a network description -> :class:`NetworkSpec`.

``load_spec(path)`` reads a YAML spec (validated against the JSON Schema of :mod:`.schema`, with
line numbers from :mod:`.yamlload`) into a :class:`NetworkSpec`, a tuple of frozen layer records
(:mod:`.layers`). Every later stage consumes those records, so they live here, with the stage that
makes them; a new front end (ONNX import) produces the same records.
"""

from .layers import (
    Act,
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Input,
    Layer,
    NetworkSpec,
    NumberFormats,
    Padding,
    Pool,
    PoolOp,
    Softmax,
    TensorShape,
    kind_name,
)
from .schema import full_schema
from .spec import INPUT_NAME, load_spec, parse_spec

__all__ = [
    "INPUT_NAME",
    "Act",
    "Activation",
    "Add",
    "BatchNorm",
    "Concat",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "Input",
    "Layer",
    "NetworkSpec",
    "NumberFormats",
    "Padding",
    "Pool",
    "PoolOp",
    "Softmax",
    "TensorShape",
    "full_schema",
    "kind_name",
    "load_spec",
    "parse_spec",
]
