"""Float parameters of a network: the .npz layout, loading with validation, seeded He init.

Layout of a weights file (``numpy.savez``), one array per key ``"<layer>.<param>"`` where
``<layer>`` is the layer name as in the graph (block layers included, e.g. ``layer1_1/conv1``):

=========== ============ ================================================ ===================
layer kind  param        shape                                            meaning
=========== ============ ================================================ ===================
conv2d/3d   ``weight``   ``(filters, in_channels/groups, *kernel)``       PyTorch layout
conv2d/3d   ``bias``     ``(filters,)``; only when the layer has a bias
dense       ``weight``   ``(units, inputs)``; inputs in CHW flatten order PyTorch layout
dense       ``bias``     ``(units,)``; only when the layer has a bias
batchnorm   ``gamma``,   ``(channels,)`` each                             y = gamma (x - mean)
            ``beta``,                                                     / sqrt(var + eps)
            ``mean``,                                                     + beta
            ``var``
=========== ============ ================================================ ===================

Every expected key must be present, no other key may be, shapes must match exactly, values
must be finite (and ``var >= 0``). Violations raise :class:`hwcnn.errors.DataError` with one
line naming the file, the key and the problem.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping

import networkx as nx
import numpy as np

from ..errors import DataError
from ..frontend import layers as L
from ..graph.build import ordered_nodes

#: Parameters in a "<layer>.<param>" -> float64 array mapping.
Params = dict[str, np.ndarray]


def expected_shapes(g: nx.DiGraph) -> dict[str, tuple[int, ...]]:
    """Every parameter key of the network and its shape, in layer order."""
    out: dict[str, tuple[int, ...]] = {}
    for name, node in ordered_nodes(g):
        layer = node["layer"]
        match layer:
            case L.Conv():
                cin = node["in_shapes"][0].channels
                out[f"{name}.weight"] = (layer.filters, cin // layer.groups, *layer.kernel)
                if layer.bias:
                    out[f"{name}.bias"] = (layer.filters,)
            case L.Dense():
                out[f"{name}.weight"] = (layer.units, node["in_shapes"][0].size)
                if layer.bias:
                    out[f"{name}.bias"] = (layer.units,)
            case L.BatchNorm():
                c = node["in_shapes"][0].channels
                for p in ("gamma", "beta", "mean", "var"):
                    out[f"{name}.{p}"] = (c,)
    return out


def load_weights(path: str | os.PathLike[str], g: nx.DiGraph) -> Params:
    """Load and validate a .npz weights file against the graph (see module docstring)."""
    where = os.fspath(path)
    try:
        with np.load(where, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{where}: weights file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{where}: not a readable .npz file ({exc})") from None
    return check_params(raw, g, where)


def check_params(raw: Mapping[str, np.ndarray], g: nx.DiGraph, where: str = "weights") -> Params:
    """Validate a parameter mapping; returns float64 copies."""
    want = expected_shapes(g)
    missing = [k for k in want if k not in raw]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{where}: missing tensor {missing[0]!r}{more}")
    extra = sorted(k for k in raw if k not in want)
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise DataError(f"{where}: unexpected tensor {extra[0]!r}{more}; keys are "
                        "'<layer>.<param>' for the network's conv/dense/batchnorm layers")
    params: Params = {}
    for key, shape in want.items():
        arr = np.asarray(raw[key])
        if arr.dtype.kind not in "fiu":
            raise DataError(f"{where}: tensor {key!r} has dtype {arr.dtype}, expected a number type")
        if tuple(arr.shape) != shape:
            raise DataError(f"{where}: tensor {key!r} has shape {list(arr.shape)}, "
                            f"expected {list(shape)}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{where}: tensor {key!r} contains NaN or infinity")
        if key.endswith(".var") and np.any(arr < 0):
            raise DataError(f"{where}: tensor {key!r} has negative variances")
        params[key] = arr
    return params


def init_weights(g: nx.DiGraph, seed: int = 0) -> Params:
    """Seeded random parameters: He-normal weights, small biases, mild BatchNorm statistics.

    Weights ~ N(0, 2 / fan_in) (He et al. 2015; fan_in = in_channels/groups * kernel volume,
    or the dense inputs); biases ~ U(-0.1, 0.1); BatchNorm gamma ~ U(0.5, 1.5),
    beta ~ U(-0.1, 0.1), mean ~ U(-0.1, 0.1), var ~ U(0.5, 1.5). Keys are drawn in layer
    order from one ``numpy.random.default_rng(seed)``, so the result is reproducible.
    """
    rng = np.random.default_rng(seed)
    params: Params = {}
    for key, shape in expected_shapes(g).items():
        param = key.rsplit(".", 1)[1]
        match param:
            case "weight":
                fan_in = math.prod(shape[1:])
                params[key] = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
            case "gamma" | "var":
                params[key] = rng.uniform(0.5, 1.5, size=shape)
            case _:
                params[key] = rng.uniform(-0.1, 0.1, size=shape)
    return params


def load_input(path: str | os.PathLike[str], shape: L.TensorShape, *, integer: bool,
               lo: int = -128, hi: int = 127) -> np.ndarray:
    """Load a .npy input: one image of ``shape`` or a batch ``(N, *shape)``; returns a batch.

    ``integer=True`` demands an integer dtype and values in ``[lo, hi]`` (an already quantized
    input); otherwise any finite float/int array is accepted and returned as float64.
    """
    where = os.fspath(path)
    try:
        arr = np.load(where, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{where}: input file not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{where}: not a readable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{where}: expected a .npy array, got an archive")
    want = tuple(shape.as_list())
    if tuple(arr.shape) == want:
        arr = arr[None]
    if tuple(arr.shape[1:]) != want or arr.ndim != len(want) + 1:
        raise DataError(f"{where}: input has shape {list(arr.shape)}, expected {list(want)} "
                        f"or [N, {', '.join(map(str, want))}]")
    if integer:
        if arr.dtype.kind not in "iu":
            raise DataError(f"{where}: input has dtype {arr.dtype}, expected an integer type "
                            "(already quantized activations)")
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise DataError(f"{where}: input values {int(arr.min())}..{int(arr.max())} are "
                            f"outside the input format's range {lo}..{hi}")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{where}: input has dtype {arr.dtype}, expected numbers")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: input contains NaN or infinity")
    return arr
