"""The one place a model file is read: ``.onnx`` by the ONNX importer, anything else as YAML."""

from __future__ import annotations

import os

from .layers import NetworkSpec
from .onnx_import import is_onnx, load_onnx
from .spec import load_spec


def load_model(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read a network: an ONNX model (by the ``.onnx`` suffix) or a YAML spec."""
    if is_onnx(path):
        return load_onnx(path).spec
    return load_spec(path)
