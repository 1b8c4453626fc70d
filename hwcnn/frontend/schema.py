"""JSON Schema of the network spec format (YAML files in ``models/``).

The schema checks structure: known kinds, known fields per kind, types and ranges. Semantics that
need shapes (kernel larger than the input, mismatched branches ...) are checked by
:mod:`hwcnn.graph`. ``hwcnn schema`` prints this schema for editors that validate YAML.
"""

from __future__ import annotations

import functools
from typing import Any

#: Largest size accepted for a channel count / unit count / spatial dimension: bigger is absurd.
MAX_DIM = 1 << 20
MAX_KERNEL = 1 << 12

#: Names (layers, block uses, the model) are matched in full: letters, digits, ``_ . -``, and ``/``
#: between parts; the name starts with a letter or ``_``, every later part with a letter, digit or
#: ``_`` (so no ``.``/``..`` part, no leading or doubled ``/``, no spaces, quotes, ``|`` or newlines:
#: names are safe in Markdown, DOT and as ``.npz`` member names). ``conv1/7x7_s2`` is a name.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$"
#: Block template names: one part of a layer name.
BLOCK_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
#: Block parameter names (referenced as ``$name``).
PARAM_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_NAME = 200

_NAME = {"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME}


def _pos(maximum: int = MAX_DIM) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum}


def _nonneg(maximum: int = MAX_KERNEL) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": maximum}


def _int_or_list(item: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 3}]}


_ACTIVATION = {"enum": ["relu", "relu6", "none", None]}
_INPUTS = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 64}
_COMMON = {"name": _NAME, "kind": {"type": "string"}, "inputs": _INPUTS}

#: Per spatial dim a ``[low, high]`` pair (asymmetric padding, as ONNX ``pads``).
_PAIRS = {"type": "array", "items": {"type": "array", "items": _nonneg(), "minItems": 2, "maxItems": 2},
          "minItems": 1, "maxItems": 3}
_PADS = {"oneOf": [_int_or_list(_nonneg()), _PAIRS]}
_REAL = {"type": "number"}

_CONV = {
    "filters": _pos(),
    "kernel": _int_or_list(_pos(MAX_KERNEL)),
    "stride": _int_or_list(_pos(MAX_KERNEL)),
    "padding": {"oneOf": [_int_or_list(_nonneg()), _PAIRS, {"enum": ["same", "valid"]}]},
    "dilation": _int_or_list(_pos(MAX_KERNEL)),
    "groups": _pos(),
    "bias": {"type": "boolean"},
    "activation": _ACTIVATION,
}
_POOL = {
    "kernel": _int_or_list(_pos(MAX_KERNEL)),
    "stride": _int_or_list(_pos(MAX_KERNEL)),
    "padding": _PADS,
    "ceil_mode": {"type": "boolean"},
    "dilation": _int_or_list(_pos(MAX_KERNEL)),
    "count_include_pad": {"type": "boolean"},
}

#: kind -> (fields beyond the common ones, required fields)
KINDS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "conv2d": (_CONV, ("filters", "kernel")),
    "conv3d": (_CONV, ("filters", "kernel")),
    "maxpool": (_POOL, ("kernel",)),
    "avgpool": (_POOL, ("kernel",)),
    "sumpool": (_POOL, ("kernel",)),
    "global_avgpool": ({}, ()),
    "dense": ({"units": _pos(), "bias": {"type": "boolean"}, "activation": _ACTIVATION}, ("units",)),
    "relu": ({}, ()),
    "relu6": ({}, ()),
    "batchnorm": ({"eps": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}, ()),
    "add": ({}, ("inputs",)),
    "concat": ({}, ("inputs",)),
    "flatten": ({}, ()),
    "dropout": ({"rate": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}}, ()),
    "softmax": ({}, ()),
    "tanh": ({}, ()),
    "sigmoid": ({}, ()),
    "hardsigmoid": ({"alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e3},
                     "beta": _REAL}, ()),
    "hardswish": ({}, ()),
    "silu": ({}, ()),
    "mul": ({}, ("inputs",)),
    "lrn": ({"size": _pos(MAX_KERNEL), "alpha": _REAL,
             "beta": {"type": "number", "minimum": 0, "maximum": 16},
             "bias": {"type": "number", "exclusiveMinimum": 0}}, ("size",)),
    "pad": ({"padding": _PADS, "value": _REAL}, ("padding",)),
    "resize": ({"scale": _int_or_list(_pos(MAX_KERNEL))}, ("scale",)),
    "adaptive_avgpool": ({"output": _int_or_list(_pos())}, ("output",)),
    "channel_shuffle": ({"groups": _pos()}, ("groups",)),
}


@functools.cache
def layer_schema(kind: str) -> dict[str, Any]:
    """Schema of one layer entry of ``kind`` (one object per kind: validators are cached by it)."""
    fields, required = KINDS[kind]
    return {
        "type": "object",
        "properties": {**_COMMON, **fields},
        "required": ["kind", *required],
        "additionalProperties": False,
    }


_SCALAR = {"type": ["integer", "number", "string", "boolean", "null"], "maxLength": MAX_NAME}
#: A block argument is a field value: a scalar, or a list of up to 3 (one per spatial dimension).
_ARG = {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR, "maxItems": 3}],
        "description": "a number, string, boolean or a list of up to 3 of them"}

BLOCK_USE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": _NAME,
        "block": {"type": "string", "maxLength": MAX_NAME},
        "args": {"type": "object", "propertyNames": {"pattern": PARAM_PATTERN, "maxLength": MAX_NAME},
                 "additionalProperties": _ARG},
        "inputs": _INPUTS,
        "repeat": _pos(1024),
    },
    "required": ["name", "block"],
    "additionalProperties": False,
}

TOP: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": _NAME,
        "description": {"type": "string", "maxLength": 10_000},
        "input": {"type": "array", "items": _pos(), "minItems": 1, "maxItems": 4},
        "formats": {
            "type": "object",
            "properties": {
                "weight_bits": {"type": "integer", "minimum": 2, "maximum": 32},
                "activation_bits": {"type": "integer", "minimum": 2, "maximum": 32},
                "bias_bits": {"type": "integer", "minimum": 2, "maximum": 64},
            },
            "additionalProperties": False,
        },
        "strict": {"type": "boolean"},
        "blocks": {
            "type": "object",
            "propertyNames": {"pattern": BLOCK_NAME_PATTERN, "maxLength": MAX_NAME},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "params": {"type": "array", "uniqueItems": True, "maxItems": 64,
                               "items": {"type": "string", "pattern": PARAM_PATTERN, "maxLength": MAX_NAME}},
                    "layers": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                },
                "required": ["layers"],
                "additionalProperties": False,
            },
        },
        "layers": {"type": "array", "items": {"type": "object"}, "minItems": 1},
    },
    "required": ["name", "input", "layers"],
    "additionalProperties": False,
}


def full_schema() -> dict[str, Any]:
    """One JSON Schema document for the whole file (for editors and ``hwcnn schema``)."""
    layer_variants = [
        {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": layer_schema(kind),
        }
        for kind in KINDS
    ]
    layer = {
        "oneOf": [
            {"allOf": [{"required": ["kind"]}, {"properties": {"kind": {"enum": list(KINDS)}}},
                       *layer_variants]},
            BLOCK_USE,
        ]
    }
    top = {**TOP, "properties": dict(TOP["properties"])}
    top["properties"]["layers"] = {"type": "array", "items": layer, "minItems": 1}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "hwcnn network spec", **top}
