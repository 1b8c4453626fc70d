"""Stage 1: a YAML network spec -> :class:`hwcnn.frontend.layers.NetworkSpec`.

The format (documented in README.md, schema in :mod:`hwcnn.frontend.schema`)::

    name: lenet5
    input: [1, 32, 32]            # channels-first: (C, H, W), or (C, D, H, W) for 3D nets
    formats: {weight_bits: 8, activation_bits: 8, bias_bits: 32}   # optional
    strict: false                 # optional: reject windows that do not fit exactly
    blocks:                       # optional templates, used as {block: NAME, args: {...}}
      fire: {params: [s, e], layers: [...]}
    layers:
      - {name: c1, kind: conv2d, filters: 6, kernel: 5, activation: relu}
      - {name: s2, kind: maxpool, kernel: 2}

A layer reads the previous layer unless it names ``inputs: [...]``. The network input is the
layer named ``input``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError, shorten
from . import layers as L
from .schema import BLOCK_USE, KINDS, TOP, layer_schema
from .validate import validate as _validate
from .yamlload import LocatedDict, load_yaml

INPUT_NAME = "input"
#: Most layers a spec may expand to (after blocks and repeats): more is a typo or a bomb.
MAX_LAYERS = 20_000
#: Largest spec file read (bytes), checked before parsing: 160x the largest shipped model
#: (mobilenet_v2.yaml, 3.3 KB) and 7x a flat, one-layer-per-line DenseNet-121.
MAX_SPEC_BYTES = 512 * 1024


def load_spec(path: str | os.PathLike[str]) -> L.NetworkSpec:
    """Read and validate a spec file; every problem raises a one-line :class:`SpecError`."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_SPEC_BYTES:  # a regular file: its size is known before reading
                raise SpecError(_too_big(f"{size:,} bytes"), file=file)
            data = fh.read(MAX_SPEC_BYTES + 1)  # a pipe or device: never read more than the cap
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", file=file) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(_too_big(f"more than {MAX_SPEC_BYTES:,} bytes"), file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("spec is not UTF-8 text", file=file) from None
    return parse_spec(text, file=file)


def _too_big(size: str) -> str:
    return f"spec is {size}, more than the {MAX_SPEC_BYTES:,} bytes hwcnn reads (is this a spec?)"


def parse_spec(text: str, *, file: str | None = None) -> L.NetworkSpec:
    """Parse spec text (``file`` only labels error messages)."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(_too_big(f"{len(text):,} characters"), file=file)
    try:
        return _parse(text, file)
    except SpecError as exc:
        raise exc.located(file=file) from None


# -- block expansion -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """One concrete layer entry after block expansion, with names resolved later."""

    fields: Mapping[str, Any]
    name: str
    line: int | None
    #: Names (already global) this entry reads; None = "the previous layer".
    inputs: tuple[str, ...] | None


def _substitute(value: Any, args: Mapping[str, Any], where: str, line: int | None) -> Any:
    if isinstance(value, str) and value.startswith("$") and value != "$input":
        key = value[1:]
        if key not in args:
            raise SpecError(f"block parameter {shorten(value)} has no value", layer=where, line=line)
        return args[key]
    if isinstance(value, list):
        return [_substitute(v, args, where, line) for v in value]
    return value


def _expand(
    entries: list[Any],
    blocks: Mapping[str, Any],
    prefix: str,
    block_input: str | None,
    alias: dict[str, str],
    stack: tuple[str, ...],
    counters: dict[str, int],
) -> Iterator[_Entry]:
    """Yield concrete layers; ``alias`` maps block-instance names to their output layer."""
    local: dict[str, str] = {}
    previous = block_input
    for raw in entries:
        line = raw.line if isinstance(raw, LocatedDict) else None
        if not isinstance(raw, dict):
            raise SpecError(f"each layer must be a mapping, not {shorten(raw)}", line=line)
        if "block" in raw:
            _validate(raw, BLOCK_USE, line, raw.get("name") if isinstance(raw.get("name"), str) else None)
            if raw["name"] in local or (not prefix and raw["name"] == INPUT_NAME):
                raise SpecError(f"duplicate layer name {shorten(raw['name'])}", layer=prefix + raw["name"],
                                line=raw.line_of("name") if isinstance(raw, LocatedDict) else line)
            yield from _expand_use(raw, blocks, prefix, previous, block_input, local, alias, stack, line)
            previous = alias[prefix + raw["name"]]
            local[raw["name"]] = previous
            continue
        kind = raw.get("kind")
        label = raw.get("name") if isinstance(raw.get("name"), str) else None
        if kind is None:
            raise SpecError("missing required field 'kind'", layer=label, line=line)
        if not isinstance(kind, str) or kind not in KINDS:
            raise SpecError(f"unknown layer kind {shorten(kind)} ({_known_kinds(kind)})", layer=label, line=line)
        if label is None:
            if "name" in raw:
                raise SpecError(f"field 'name' must be a string, not {shorten(raw['name'])}", line=line)
            counters[kind] = counters.get(kind, 0) + 1
            label = f"{kind}{counters[kind]}"
        full = prefix + label
        inputs = None
        if "inputs" in raw:
            if not isinstance(raw["inputs"], list) or not all(isinstance(i, str) for i in raw["inputs"]):
                raise SpecError("field 'inputs' must be a list of layer names", layer=full, line=line)
            inputs = tuple(_resolve_local(i, local, prefix, block_input, full, line) for i in raw["inputs"])
        elif previous is not None:
            inputs = (previous,)
        yield _Entry(fields=raw, name=full, line=line, inputs=inputs)
        if label in local:
            raise SpecError(f"duplicate layer name {shorten(label)}", layer=full, line=line)
        local[label] = full
        previous = full


def _known_kinds(kind: Any) -> str:
    close = difflib.get_close_matches(kind[:40], KINDS, n=1) if isinstance(kind, str) else []
    if close:
        return f"did you mean {close[0]!r}?"
    return "known: " + shorten(", ".join(KINDS), limit=100, quote=False)


def _resolve_local(ref: str, local: Mapping[str, str], prefix: str, block_input: str | None,
                   layer: str, line: int | None) -> str:
    if not prefix:  # top level: names are global, resolved after expansion
        return ref
    if ref == "$input":
        assert block_input is not None
        return block_input
    if ref in local:
        return local[ref]
    raise SpecError(f"input {shorten(ref)} is not a layer of this block (use '$input' for the block's input)",
                    layer=layer, line=line)


def _expand_use(raw: Mapping[str, Any], blocks: Mapping[str, Any], prefix: str, previous: str | None,
                block_input: str | None, local: Mapping[str, str], alias: dict[str, str],
                stack: tuple[str, ...], line: int | None) -> Iterator[_Entry]:
    """Expand one block use; ``previous`` is the layer before it, ``block_input`` the input of the
    enclosing block (what ``$input`` means in ``inputs``; None at the top level)."""
    name = raw["name"]
    block_name = raw["block"]
    where = prefix + name
    if block_name not in blocks:
        raise SpecError(f"unknown block {shorten(block_name)}", layer=where, line=line)
    if block_name in stack:
        raise SpecError(f"block {shorten(block_name)} uses itself", layer=where, line=line)
    block = blocks[block_name]
    params = block.get("params", [])
    args = raw.get("args", {})
    for key in args:
        if key not in params:
            raise SpecError(f"block {shorten(block_name)} has no parameter {shorten(key)}", layer=where, line=line)
    for key in params:
        if key not in args:
            raise SpecError(f"block {shorten(block_name)} needs parameter {shorten(key)}", layer=where, line=line)
    if "inputs" in raw:
        if len(raw["inputs"]) != 1:
            raise SpecError("a block takes exactly one input", layer=where, line=line)
        source: str | None = _resolve_local(raw["inputs"][0], local, prefix, block_input, where, line)
    else:
        source = previous
    if source is None:
        raise SpecError("a block cannot be the first layer", layer=where, line=line)
    copies = raw.get("repeat", 1)
    for i in range(1, copies + 1):
        inst = f"{where}_{i}" if copies > 1 else where
        body = [_instantiate(e, args, inst) for e in block["layers"]]
        last = None
        for entry in _expand(body, blocks, inst + "/", source, alias, (*stack, block_name), {}):
            last = entry  # stream entries: the caller caps the total before it explodes
            yield entry
        assert last is not None  # the schema requires at least one layer per block
        source = last.name
        alias[inst] = source
    alias[where] = source


def _instantiate(entry: Any, args: Mapping[str, Any], inst: str) -> Any:
    if not isinstance(entry, LocatedDict):
        return entry
    out = LocatedDict({k: (v if k in ("name", "kind", "inputs", "block") else
                           _substitute(v, args, inst, entry.line_of(k))) for k, v in entry.items()})
    if "args" in entry and isinstance(entry["args"], dict):
        out["args"] = {k: _substitute(v, args, inst, entry.line) for k, v in entry["args"].items()}
    out.line = entry.line
    out.key_lines = dict(entry.key_lines)
    return out


# -- layer records ---------------------------------------------------------------------------


def _tuple(value: Any, rank: int, field: str, layer: str, line: int | None) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise SpecError(f"field {shorten(field)} needs {rank} values for a {rank}D layer, got {len(value)}",
                        layer=layer, line=line)
    return tuple(value)


def _pads(value: Any, rank: int, field: str, layer: str, line: int | None) -> L.Pads:
    """Symmetric amounts stay per-dim ints; ``[[lo, hi], ...]`` pairs stay pairs."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        if len(value) != rank:
            raise SpecError(f"field {field!r} needs {rank} [low, high] pairs for a {rank}D layer, "
                            f"got {len(value)}", layer=layer, line=line)
        return tuple((int(lo), int(hi)) for lo, hi in value)
    return _tuple(value, rank, field, layer, line)


def _activation(value: Any) -> L.Act | None:
    return None if value in (None, "none") else L.Act(value)


def _record(entry: _Entry, inputs: tuple[str, ...]) -> L.Layer:
    f = entry.fields
    kind = f["kind"]
    _validate(f, layer_schema(kind), entry.line, entry.name)
    common: dict[str, Any] = {"name": entry.name, "inputs": inputs, "line": entry.line}
    line = entry.line
    if kind in ("conv2d", "conv3d"):
        rank = int(kind[4])
        pad = f.get("padding", 0)
        padding: L.Padding = "same" if pad == "same" else (0,) * rank if pad == "valid" else \
            _pads(pad, rank, "padding", entry.name, line)
        return L.Conv(**common, rank=rank, filters=f["filters"],
                      kernel=_tuple(f["kernel"], rank, "kernel", entry.name, line),
                      stride=_tuple(f.get("stride", 1), rank, "stride", entry.name, line),
                      padding=padding,
                      dilation=_tuple(f.get("dilation", 1), rank, "dilation", entry.name, line),
                      groups=f.get("groups", 1), bias=f.get("bias", True),
                      activation=_activation(f.get("activation")))
    if kind in ("maxpool", "avgpool", "sumpool"):
        k = f["kernel"]
        s = f.get("stride")
        p = f.get("padding", 0)
        d = f.get("dilation", 1)
        return L.Pool(**common, op=L.PoolOp(kind[:3]), kernel=k if isinstance(k, int) else tuple(k),
                      stride=s if s is None or isinstance(s, int) else tuple(s),
                      padding=p if isinstance(p, int) else
                      tuple(tuple(v) if isinstance(v, list) else v for v in p),  # type: ignore[misc]
                      ceil_mode=f.get("ceil_mode", False),
                      dilation=d if isinstance(d, int) else tuple(d),
                      count_include_pad=f.get("count_include_pad", False))
    if kind == "dense":
        return L.Dense(**common, units=f["units"], bias=f.get("bias", True),
                       activation=_activation(f.get("activation")))
    simple: dict[str, Any] = {
        "global_avgpool": lambda: L.GlobalAvgPool(**common),
        "relu": lambda: L.Activation(**common, fn=L.Act.RELU),
        "relu6": lambda: L.Activation(**common, fn=L.Act.RELU6),
        "batchnorm": lambda: L.BatchNorm(**common, eps=float(f.get("eps", 1e-5))),
        "add": lambda: L.Add(**common),
        "concat": lambda: L.Concat(**common),
        "flatten": lambda: L.Flatten(**common),
        "dropout": lambda: L.Dropout(**common, rate=float(f.get("rate", 0.5))),
        "softmax": lambda: L.Softmax(**common),
        **{fn.value: (lambda fn=fn: L.Nonlinear(**common, fn=fn)) for fn in L.Fn
           if fn is not L.Fn.HARDSIGMOID},
        "hardsigmoid": lambda: L.Nonlinear(**common, fn=L.Fn.HARDSIGMOID,
                                           alpha=float(f.get("alpha", 1.0 / 6.0)),
                                           beta=float(f.get("beta", 0.5))),
        "mul": lambda: L.Mul(**common),
        "lrn": lambda: L.LRN(**common, size=f["size"], alpha=float(f.get("alpha", 1e-4)),
                             beta=float(f.get("beta", 0.75)), bias=float(f.get("bias", 1.0))),
        "pad": lambda: L.Pad(**common, pads=_pad_pairs(f["padding"], entry.name, line),
                             value=float(f.get("value", 0.0))),
        "resize": lambda: L.Resize(**common, scale=_ints(f["scale"])),
        "adaptive_avgpool": lambda: L.AdaptiveAvgPool(**common, output=_ints(f["output"])),
        "channel_shuffle": lambda: L.ChannelShuffle(**common, groups=f["groups"]),
    }
    return simple[kind]()


def _ints(value: Any) -> tuple[int, ...]:
    """An int or list of ints as given (a single int is expanded by the graph to every dim)."""
    return (value,) if isinstance(value, int) else tuple(value)


def _pad_pairs(value: Any, layer: str, line: int | None) -> tuple[tuple[int, int], ...]:
    """``pad`` layer padding: an int (all dims, both sides), per-dim ints, or per-dim pairs.

    A single int is stored as one pair; the graph repeats it for every spatial dimension."""
    if isinstance(value, int):
        return ((value, value),)
    if value and isinstance(value[0], list):
        return tuple((int(lo), int(hi)) for lo, hi in value)
    return tuple((int(v), int(v)) for v in value)


def _parse(text: str, file: str | None) -> L.NetworkSpec:
    doc = load_yaml(text, file=file)
    if not isinstance(doc, LocatedDict):
        raise SpecError("a spec must be a YAML mapping with 'name', 'input' and 'layers'", line=1)
    _validate(doc, TOP, doc.line, None)
    blocks = doc.get("blocks", {})
    for bname, block in blocks.items():
        for param in block.get("params", []):
            if param == "input":
                raise SpecError(f"block {shorten(bname)}: parameter name 'input' is reserved",
                                line=blocks.line_of(bname))
    alias: dict[str, str] = {}
    entries = []
    for entry in _expand(doc["layers"], blocks, "", INPUT_NAME, alias, (), {}):
        entries.append(entry)
        if len(entries) > MAX_LAYERS:
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers (check 'repeat')",
                            layer=entry.name, line=entry.line)

    seen: dict[str, int | None] = {INPUT_NAME: doc.line_of("input")}
    for e in entries:
        if e.name in seen:
            first = seen[e.name]
            at = f" (first defined on line {first})" if first else ""
            raise SpecError(f"duplicate layer name {shorten(e.name)}{at}", layer=e.name, line=e.line)
        seen[e.name] = e.line
    known = set(seen)
    records: list[L.Layer] = [L.Input(name=INPUT_NAME, shape=L.TensorShape(doc["input"][0], tuple(doc["input"][1:])),
                                      line=doc.line_of("input"))]
    for e in entries:
        resolved = tuple(alias.get(i, i) for i in (e.inputs or ()))
        for ref in resolved:
            if ref not in known:
                raise SpecError(f"input {shorten(ref)} is not a layer name", layer=e.name, line=e.line)
            if ref == e.name:
                raise SpecError("a layer cannot read its own output", layer=e.name, line=e.line)
        records.append(_record(e, resolved))
    fmt = doc.get("formats", {})
    formats = L.NumberFormats(weight_bits=fmt.get("weight_bits", 8),
                              activation_bits=fmt.get("activation_bits", 8),
                              bias_bits=fmt.get("bias_bits", 32))
    return L.NetworkSpec(name=doc["name"], layers=tuple(records), formats=formats,
                         strict=doc.get("strict", False), source=file)
