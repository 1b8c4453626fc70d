"""SCALE-Sim inputs: topology CSVs (convolution and ``-i gemm`` M,N,K forms) and ``.cfg`` files.

The formats are SCALE-Sim 3.0's (``scalesim/topology_utils.py``, ``scalesim/scale_config.py``):

* convolution topology: a header line, then one row per layer
  ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
  Strides,`` (one stride for both axes; an optional ``N:M`` sparsity ratio may follow; rows end
  with a comma). A layer whose name contains ``DP`` is depthwise: SCALE-Sim runs it as one
  single-channel layer per channel, named ``<name>Channel_<i>``, and so do we.
* GEMM topology (``-i gemm``): header ``Layer Name, M, N, K,`` then ``name, M, N, K,`` rows;
  SCALE-Sim turns each into the convolution ``ifmap M x K, filter 1 x K, 1 channel, N filters,
  stride 1`` (M output pixels, window K, N filters), as :func:`read_topology` does.
* configuration: INI sections ``[general]`` (``run_name``), ``[architecture_presets]``
  (``ArrayHeight``, ``ArrayWidth``, ``IfmapSramSzkB``, ``FilterSramSzkB``, ``OfmapSramSzkB``,
  ``Dataflow`` os/ws/is, ``Bandwidth``) and ``[run_presets]`` (``InterfaceBandwidth``
  CALC/USER). Keys are case-insensitive, as in SCALE-Sim. Sizes are KiB (SCALE-Sim multiplies
  by 1024); ``Bandwidth`` is words (bytes) per cycle and is used only in USER mode.

Unlike SCALE-Sim, a malformed file is refused with one line naming the file, the line and the
layer (:class:`hwcnn.errors.SpecError` / :class:`hwcnn.errors.ConfigError`).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

from ..errors import ConfigError, SpecError

#: Header fields of the two topology forms (compared case- and space-insensitively).
CONV_HEADER = ("layer name", "ifmap height", "ifmap width", "filter height", "filter width",
               "channels", "num filter", "strides")
GEMM_HEADER = ("layer name", "m", "n", "k")
CONV_FIELDS = ("IFMAP height", "IFMAP width", "filter height", "filter width", "channels",
               "filters", "stride")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleSimLayer:
    """One topology row, as SCALE-Sim sees it (a GEMM row already in its convolution form)."""

    name: str
    line: int
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride_h: int
    stride_w: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleSimTopology:
    """A topology file: its name (the file stem), form (``conv`` or ``gemm``) and layers."""

    name: str
    form: str
    layers: tuple[ScaleSimLayer, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleSimConfig:
    """The architecture part of a SCALE-Sim ``.cfg``; ``bandwidth`` is None in CALC mode."""

    run_name: str
    rows: int
    cols: int
    ifmap_kib: int
    filter_kib: int
    ofmap_kib: int
    dataflow: str
    bandwidth: int | None


def _fields(line: str) -> list[str]:
    parts = [p.strip() for p in line.split(",")]
    if parts and parts[-1] == "":  # SCALE-Sim rows end with a comma
        parts.pop()
    return parts


def _int(path: str, lineno: int, layer: str, what: str, text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise SpecError(f"{what} must be an integer, not {text!r}", file=path, layer=layer,
                        line=lineno) from None
    if v < 1:
        raise SpecError(f"{what} must be at least 1, not {v}", file=path, layer=layer,
                        line=lineno)
    return v


def _dense(path: str, lineno: int, layer: str, text: str) -> None:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SpecError(f"sparsity ratio must be N:M, not {text!r}", file=path, layer=layer,
                        line=lineno)
    if int(parts[0]) != int(parts[1]):
        raise SpecError(f"sparsity {text} is not supported (only dense layers, 1:1)",
                        file=path, layer=layer, line=lineno)


def read_topology(path: str | os.PathLike[str], form: str | None = None) -> ScaleSimTopology:
    """Read a SCALE-Sim topology CSV (see :func:`parse_topology`)."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read topology: {exc.strerror}", file=p) from None
    except UnicodeDecodeError:
        raise SpecError("not a text file", file=p) from None
    return parse_topology(text, file=p, form=form)


def parse_topology(text: str, *, file: str, form: str | None = None) -> ScaleSimTopology:
    """Parse topology text; ``form`` ``conv``/``gemm`` (default: from the header); ``file``
    names the topology (its stem) and labels errors."""
    p = file
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        raise SpecError("empty topology file", file=p)
    head_no, head = numbered[0]
    header = tuple(" ".join(f.lower().split()) for f in _fields(head))
    detected = "gemm" if header[:4] == GEMM_HEADER else "conv" if header[:8] == CONV_HEADER \
        else None
    if form is None:
        if detected is None:
            raise SpecError("header must start 'Layer name, IFMAP Height, ...' (convolution) "
                            "or 'Layer Name, M, N, K' (GEMM)", file=p, line=head_no)
        form = detected
    elif form not in ("conv", "gemm"):
        raise ConfigError(f"topology form must be conv or gemm, not {form!r}")
    layers: list[ScaleSimLayer] = []
    names: set[str] = set()
    for lineno, ln in numbered[1:]:
        f = _fields(ln)
        name = f[0] if f else ""
        if not name:
            raise SpecError("row has no layer name", file=p, line=lineno)
        if name in names:
            raise SpecError("duplicate layer name", file=p, layer=name, line=lineno)
        names.add(name)
        if form == "gemm":
            if len(f) not in (4, 5):
                raise SpecError(f"a GEMM row needs name, M, N, K (got {len(f) - 1} values)",
                                file=p, layer=name, line=lineno)
            m, n, k = (_int(p, lineno, name, w, t) for w, t in zip("MNK", f[1:4]))
            if len(f) == 5:
                _dense(p, lineno, name, f[4])
            layers.append(ScaleSimLayer(name=name, line=lineno, ifmap_h=m, ifmap_w=k, filter_h=1,
                                        filter_w=k, channels=1, filters=n, stride_h=1,
                                        stride_w=1))
            continue
        if len(f) not in (8, 9):
            raise SpecError(f"a convolution row needs a name and 7 values (got {len(f) - 1})",
                            file=p, layer=name, line=lineno)
        ih, iw, fh_, fw, ch, nf, st = (_int(p, lineno, name, w, t)
                                       for w, t in zip(CONV_FIELDS, f[1:8]))
        if len(f) == 9:
            _dense(p, lineno, name, f[8])
        if fh_ > ih or fw > iw:
            raise SpecError(f"filter {fh_}x{fw} is larger than the IFMAP {ih}x{iw}", file=p,
                            layer=name, line=lineno)
        rec = {"line": lineno, "ifmap_h": ih, "ifmap_w": iw, "filter_h": fh_, "filter_w": fw,
               "filters": nf, "stride_h": st, "stride_w": st}
        if "DP" in name:  # SCALE-Sim's depthwise convention
            layers.extend(ScaleSimLayer(name=f"{name}Channel_{c}", channels=1, **rec)
                          for c in range(ch))
        else:
            layers.append(ScaleSimLayer(name=name, channels=ch, **rec))
    if not layers:
        raise SpecError("topology has a header but no layers", file=p)
    stem = os.path.splitext(os.path.basename(p))[0]
    return ScaleSimTopology(name=stem, form=form, layers=tuple(layers))


def _get(cfg: configparser.ConfigParser, path: str, section: str, key: str) -> str:
    if not cfg.has_section(section):
        raise ConfigError(f"{path}: missing section [{section}]")
    if not cfg.has_option(section, key):
        raise ConfigError(f"{path}: [{section}]: missing {key}")
    return cfg.get(section, key).strip()


def _cfg_int(path: str, section: str, key: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{path}: [{section}]: {key} must be a positive integer, not {text!r}")
    return int(text)


def read_config(path: str | os.PathLike[str]) -> ScaleSimConfig:
    """Parse a SCALE-Sim ``.cfg`` (architecture and bandwidth mode; the rest is ignored)."""
    p = os.fspath(path)
    cfg = configparser.ConfigParser()
    try:
        with open(p, encoding="utf-8") as fh:
            cfg.read_file(fh)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0].rstrip(".")
        raise ConfigError(f"{p}: not a SCALE-Sim configuration: {first}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file") from None
    arch = "architecture_presets"
    ints = {key: _cfg_int(p, arch, key, _get(cfg, p, arch, key))
            for key in ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB",
                        "OfmapSramSzkB")}
    df = _get(cfg, p, arch, "Dataflow").lower()
    if df not in ("os", "ws", "is"):
        raise ConfigError(f"{p}: [{arch}]: Dataflow must be os, ws or is, not {df!r}")
    mode = _get(cfg, p, "run_presets", "InterfaceBandwidth").upper()
    if mode not in ("CALC", "USER"):
        raise ConfigError(f"{p}: [run_presets]: InterfaceBandwidth must be CALC or USER, "
                          f"not {mode!r}")
    bandwidth = None
    if mode == "USER":
        first = _get(cfg, p, arch, "Bandwidth").split(",")[0].strip()
        bandwidth = _cfg_int(p, arch, "Bandwidth", first)
    run = cfg.get("general", "run_name", fallback=os.path.splitext(os.path.basename(p))[0])
    return ScaleSimConfig(run_name=run.strip(), rows=ints["ArrayHeight"],
                          cols=ints["ArrayWidth"], ifmap_kib=ints["IfmapSramSzkB"],
                          filter_kib=ints["FilterSramSzkB"], ofmap_kib=ints["OfmapSramSzkB"],
                          dataflow=df, bandwidth=bandwidth)


__all__ = ["ScaleSimConfig", "ScaleSimLayer", "ScaleSimTopology", "parse_topology",
           "read_config", "read_topology"]
