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

Optional keys (:func:`optional_shapes`) carry scales given by the model, e.g. an imported
QuantizeLinear/DequantizeLinear (QDQ) ONNX model; the quantizer uses them instead of
calibrating (see ``docs/numerics.md``, "Given scales"):

* ``<layer>.act_scale``, shape ``()``, any layer: the scale of its output tensor (real = q * s);
* ``<layer>.weight_scale``, shape ``(filters,)`` / ``(units,)``, conv/dense: one weight scale per
  output channel (a per-tensor scale repeated);
* ``<layer>.act_zero_point`` / ``<layer>.weight_zero_point``, shape ``()``: a nonzero zero point
  in int8 codes (an asymmetric QDQ tensor), which the quantizer refuses.

Every expected key must be present, no key other than those and the optional ones may be,
shapes must match exactly; scales must be positive, finite and at most :data:`MAX_ABS`.
Violations raise :class:`hwcnn.errors.DataError` with one line naming the file, the key and
the problem.

Side inputs (``--weights W.npz``, ``--calib X.npy``, ``--input X.npy``) are checked from their
headers before any data is read (:func:`npy_header`, :func:`npz_members`): a ``.npy`` must have
a version 1.0/2.0 header, a plain integer or float dtype (object/pickle, structured, string,
bool and complex arrays are refused) and exactly as many data bytes as its header declares
(so a header declaring TiBs is refused by the file's size); a ``.npz`` must be a zip archive of
``<key>.npy`` members (at most twice as many as the network has tensors, plus its optional
scales, plus 16, counted from the end record before the directory is read), stored or deflated, each
member's header giving the expected shape and its declared size matching the archive's
directory, and a member is inflated only up to that size (a deflate bomb stops there).

Values (:func:`check_values`): finite, of magnitude at most :data:`MAX_ABS` (1e30; larger
values overflow the float64 reference within a few layers); magnitudes below
:data:`FLUSH_BELOW` (2**-100, which includes every float32 and float64 subnormal) are read as
0 (flush to zero), so a channel of denormals quantizes like a zero channel. BatchNorm variances
must be ``>= 0``.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

import networkx as nx
import numpy as np

from ..errors import DataError
from ..frontend import layers as L
from ..graph.build import ordered_nodes

#: Parameters in a "<layer>.<param>" -> float64 array mapping.
Params = dict[str, np.ndarray]

#: Largest magnitude accepted in any float side input (weights, calibration, inputs).
MAX_ABS = 1e30
#: Magnitudes below this are read as 0 (flush to zero; covers every float32/64 subnormal).
FLUSH_BELOW = 2.0 ** -100
#: Largest .npy header read (NumPy's own default limit).
MAX_HEADER = 10_000
_NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayHeader:
    """What a .npy header declares: shape, dtype, memory order, where the data starts."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(fh: IO[bytes], where: str) -> ArrayHeader:
    """Parse the .npy header at the start of ``fh`` (nothing past it is read)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                fh, max_header_size=MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                fh, max_header_size=MAX_HEADER)
        else:
            raise DataError(f"{where}: .npy format version {version[0]}.{version[1]} is not "
                            "supported (1.0 or 2.0)")
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, SyntaxError,
            TypeError, KeyError, IndexError, tokenize.TokenError) as exc:
        # NumPy parses the header dict with ast/tokenize: a damaged one raises any of these
        raise DataError(f"{where}: not a readable .npy array ({_short(exc)})") from None
    if dtype.hasobject:
        raise DataError(f"{where}: object arrays (pickles) are refused")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "fiu":
        raise DataError(f"{where}: dtype {_short(dtype)} is refused; expected a plain integer or "
                        "float array")
    return ArrayHeader(shape=tuple(int(n) for n in shape), dtype=dtype, fortran=bool(fortran),
                       offset=fh.tell())


def npy_header(path: str | os.PathLike[str], what: str = "input") -> ArrayHeader:
    """The validated header of a .npy file whose size matches what the header declares."""
    where = os.fspath(path)
    try:
        size = os.path.getsize(where)
        with open(where, "rb") as fh:
            if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                kind = "a .npz archive" if zipfile.is_zipfile(where) else "not a .npy array"
                raise DataError(f"{where}: {what} file is {kind}; expected a .npy array")
            fh.seek(0)
            head = read_header(fh, where)
    except FileNotFoundError:
        raise DataError(f"{where}: {what} file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: {what} file is a directory") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read {what} file ({exc.strerror or exc})") from None
    _check_size(where, head, size - head.offset)
    return head


def _check_size(where: str, head: ArrayHeader, have: int) -> None:
    if head.nbytes != have:
        raise DataError(f"{where}: header declares shape {list(head.shape)} ({head.nbytes:,} "
                        f"bytes of data), the file holds {have:,}")


def _short(obj: object, limit: int = 80) -> str:
    text = " ".join(str(obj).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_data(fh: IO[bytes], head: ArrayHeader, where: str) -> np.ndarray:
    data = fh.read(head.nbytes)
    if len(data) != head.nbytes:
        raise DataError(f"{where}: data ends after {len(data):,} of {head.nbytes:,} bytes")
    arr = np.frombuffer(data, dtype=head.dtype)
    return arr.reshape(head.shape, order="F" if head.fortran else "C")


def zip_entries(path: str, size: int) -> int:
    """Members a zip archive declares in its end-of-central-directory record (zip64 too).

    Read from the last 64 KiB before the directory itself is parsed, so an archive
    declaring millions of members is refused without building millions of records.
    """
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 65535 + 20)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise DataError(f"{path}: not a readable .npz archive (no zip directory)")
    total = struct.unpack_from("<H", tail, at + 10)[0]
    if total == 0xFFFF and at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":
        z64 = struct.unpack_from("<Q", tail, at - 12)[0]
        with open(path, "rb") as fh:
            fh.seek(z64)
            rec = fh.read(56)
        if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
            total = struct.unpack_from("<Q", rec, 32)[0]
    return int(total)


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


#: Optional parameter names (given scales) and the layers that may carry them.
SCALE_KEYS = ("act_scale", "weight_scale")
ZERO_KEYS = ("act_zero_point", "weight_zero_point")


def optional_shapes(g: nx.DiGraph) -> dict[str, tuple[int, ...]]:
    """The optional keys of the network (given scales) and their shapes, in layer order."""
    out: dict[str, tuple[int, ...]] = {}
    for name, node in ordered_nodes(g):
        layer = node["layer"]
        out[f"{name}.act_scale"] = ()
        out[f"{name}.act_zero_point"] = ()
        if isinstance(layer, L.Conv | L.Dense):
            out[f"{name}.weight_scale"] = (layer.filters if isinstance(layer, L.Conv)
                                           else layer.units,)
            out[f"{name}.weight_zero_point"] = ()
    return out


def load_weights(path: str | os.PathLike[str], g: nx.DiGraph) -> Params:
    """Load and validate a .npz weights file against the graph (see module docstring).

    Keys, shapes, dtypes and sizes are checked from the zip directory and the member headers
    before any member's data is read.
    """
    where = os.fspath(path)
    want = expected_shapes(g)
    opt = optional_shapes(g)
    try:
        size = os.path.getsize(where)
        with open(where, "rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise DataError(f"{where}: weights file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: weights file is a directory") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read weights file ({exc.strerror or exc})") from None
    if magic == _NPY_MAGIC:
        raise DataError(f"{where}: is a .npy array; --weights takes a .npz archive of "
                        "'<layer>.<param>' tensors (numpy.savez)")
    if not zipfile.is_zipfile(where):
        raise DataError(f"{where}: not a readable .npz file (not a zip archive)")
    entries = zip_entries(where, size)
    if entries > 2 * len(want) + len(opt) + 16:   # more: refused before the directory is parsed
        raise DataError(f"{where}: archive declares {entries:,} members, the network has "
                        f"{len(want):,} tensors and {len(opt):,} optional keys")
    try:
        with zipfile.ZipFile(where) as zf:
            members = _members(zf, where)
            check_keys(members, want, where, opt)
            raw = {key: _read_member(zf, info, want.get(key) or opt[key], f"{where}: tensor {key!r}")
                   for key, info in members.items()}
    # zipfile raises NotImplementedError for an unsupported compression method
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError,
            NotImplementedError) as exc:
        raise DataError(f"{where}: not a readable .npz file ({_short(exc)})") from None
    return check_params(raw, g, where)


def _members(zf: zipfile.ZipFile, where: str) -> dict[str, zipfile.ZipInfo]:
    out: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise DataError(f"{where}: member {_short(name, 60)!r} is not a '<key>.npy' array")
        key = name[:-4]
        if key in out:
            raise DataError(f"{where}: member {_short(name, 60)!r} appears twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DataError(f"{where}: member {_short(name, 60)!r} uses zip compression "
                            f"method {info.compress_type}; expected stored or deflated")
        out[key] = info
    return out


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...],
                 where: str) -> np.ndarray:
    """One member: header checked against ``shape`` and the directory's size, then read."""
    with zf.open(info) as fh:
        head = read_header(fh, where)  # type: ignore[arg-type]
        if head.shape != shape:
            raise DataError(f"{where} has shape {list(head.shape)}, expected {list(shape)}")
        _check_size(where, head, info.file_size - head.offset)
        return _read_data(fh, head, where)  # type: ignore[arg-type]


def check_keys(raw: Mapping[str, object], want: Mapping[str, tuple[int, ...]],
               where: str, optional: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """Every expected key present and no other but ``optional`` ones (one line naming the
    first offender)."""
    missing = [k for k in want if k not in raw]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{where}: missing tensor {_short(missing[0], 60)!r}{more}")
    extra = sorted(k for k in raw if k not in want and k not in (optional or {}))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise DataError(f"{where}: unexpected tensor {_short(extra[0], 60)!r}{more}; keys are "
                        "'<layer>.<param>' for the network's conv/dense/batchnorm layers "
                        "(and optional given scales)")


def check_values(arr: np.ndarray, where: str) -> np.ndarray:
    """Float64 copy of ``arr``: finite, ``|v| <= MAX_ABS``, ``|v| < FLUSH_BELOW`` read as 0."""
    out = np.asarray(arr).astype(np.float64)
    if not out.size:
        return out
    if not np.all(np.isfinite(out)):
        raise DataError(f"{where} contains NaN or infinity")
    peak = float(np.max(np.abs(out)))
    if peak > MAX_ABS:
        raise DataError(f"{where} has a value of magnitude {peak:.3g}, more than the "
                        f"{MAX_ABS:g} hwcnn accepts")
    out[np.abs(out) < FLUSH_BELOW] = 0.0
    return out


def check_params(raw: Mapping[str, np.ndarray], g: nx.DiGraph, where: str = "weights") -> Params:
    """Validate a parameter mapping; returns float64 copies (see :func:`check_values`)."""
    want = expected_shapes(g)
    opt = optional_shapes(g)
    check_keys(raw, want, where, opt)
    params: Params = {}
    given = {k: opt[k] for k in opt if k in raw}
    for key, shape in {**want, **given}.items():
        arr = np.asarray(raw[key])
        if arr.dtype.kind not in "fiu":
            raise DataError(f"{where}: tensor {key!r} has dtype {_short(arr.dtype)}, expected a "
                            "number type")
        if tuple(arr.shape) != shape:
            raise DataError(f"{where}: tensor {key!r} has shape {list(arr.shape)}, "
                            f"expected {list(shape)}")
        arr = check_values(arr, f"{where}: tensor {key!r}")
        if key.endswith(".var") and np.any(arr < 0):
            raise DataError(f"{where}: tensor {key!r} has negative variances")
        if key in given and key.endswith(SCALE_KEYS) and not np.all(arr > 0):
            raise DataError(f"{where}: tensor {key!r} has a scale that is not positive")
        params[key] = arr
    return params


def init_weights(g: nx.DiGraph, seed: int = 0, *, dtype: str | type = "float64") -> Params:
    """Seeded random parameters: He-normal weights, small biases, mild BatchNorm statistics.

    Weights ~ N(0, 2 / fan_in) (He et al. 2015; fan_in = in_channels/groups * kernel volume,
    or the dense inputs); biases ~ U(-0.1, 0.1); BatchNorm gamma ~ U(0.5, 1.5),
    beta ~ U(-0.1, 0.1), mean ~ U(-0.1, 0.1), var ~ U(0.5, 1.5). Keys are drawn in layer
    order from one ``numpy.random.default_rng(seed)``, so the result is reproducible.

    ``dtype="float32"`` draws float32 values from the same distributions (another stream,
    about 8x faster and half the memory: VGG16's 138 M weights in 1.2 s instead of 10 s), for
    callers whose results do not depend on the values (the machine's cycle counts).
    """
    rng = np.random.default_rng(seed)
    params: Params = {}
    single = np.dtype(dtype) == np.float32
    for key, shape in expected_shapes(g).items():
        param = key.rsplit(".", 1)[1]
        match param:
            case "weight":
                fan_in = math.prod(shape[1:])
                if single:
                    w = rng.standard_normal(shape, dtype=np.float32)
                    w *= np.float32(math.sqrt(2.0 / fan_in))
                    params[key] = w
                else:
                    params[key] = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
            case "gamma" | "var":
                params[key] = rng.uniform(0.5, 1.5, size=shape).astype(dtype)
            case _:
                params[key] = rng.uniform(-0.1, 0.1, size=shape).astype(dtype)
    return params


def input_header(path: str | os.PathLike[str], shape: L.TensorShape,
                 what: str = "input") -> ArrayHeader:
    """The validated header of an input .npy: one image of ``shape`` or a batch of N >= 1."""
    where = os.fspath(path)
    head = npy_header(where, what)
    want = tuple(shape.as_list())
    if head.shape != want and (len(head.shape) != len(want) + 1 or head.shape[1:] != want):
        raise DataError(f"{where}: {what} has shape {list(head.shape)}, expected {list(want)} "
                        f"or [N, {', '.join(map(str, want))}]")
    if head.shape != want and head.shape[0] == 0:
        raise DataError(f"{where}: {what} batch is empty (shape {list(head.shape)})")
    return head


def batch_size(head: ArrayHeader, shape: L.TensorShape) -> int:
    """Images in an input whose header :func:`input_header` accepted."""
    return 1 if head.shape == tuple(shape.as_list()) else head.shape[0]


def load_input(path: str | os.PathLike[str], shape: L.TensorShape, *, integer: bool,
               lo: int = -128, hi: int = 127, what: str = "input") -> np.ndarray:
    """Load a .npy input: one image of ``shape`` or a batch ``(N, *shape)``; returns a batch.

    The header is validated first (:func:`input_header`: shape, dtype, declared size, N >= 1).
    ``integer=True`` demands an integer dtype and values in ``[lo, hi]`` (an already quantized
    input); otherwise any integer or float array with values as :func:`check_values` accepts
    is returned as float64.
    """
    where = os.fspath(path)
    head = input_header(where, shape, what)
    if integer and head.dtype.kind not in "iu":
        raise DataError(f"{where}: {what} has dtype {head.dtype}, expected an integer type "
                        "(already quantized activations)")
    try:
        with open(where, "rb") as fh:
            fh.seek(head.offset)
            arr = _read_data(fh, head, where)
    except OSError as exc:
        raise DataError(f"{where}: cannot read {what} file ({exc.strerror or exc})") from None
    arr = arr.reshape((batch_size(head, shape), *shape.as_list()))
    if integer:
        if int(arr.min()) < lo or int(arr.max()) > hi:
            raise DataError(f"{where}: {what} values {int(arr.min())}..{int(arr.max())} are "
                            f"outside the input format's range {lo}..{hi}")
        return arr.astype(np.int64)
    return check_values(arr, f"{where}: {what}")
