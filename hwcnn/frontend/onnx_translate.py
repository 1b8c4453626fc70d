"""The state of one ONNX import and its cross-node bookkeeping (used by :mod:`.onnx_ops`).

A :class:`Translator` walks the folded nodes of :class:`~.onnx_fold.Prepared` in file order,
calls the operator's handler (:data:`hwcnn.frontend.onnx_ops.HANDLERS`), and collects one spec
entry (a dict, as the YAML would hold it) per layer, the layers' parameters and ONNX's shape of
every layer's output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import SpecError
from .onnx_fold import Node, Prepared, fail
from .spec import INPUT_NAME


def ints(v: object) -> list[int]:
    return [int(x) for x in v]  # type: ignore[attr-defined]


def f32(a: np.ndarray) -> np.ndarray:
    """float32 without a copy when it already is (broadcast weights stay views)."""
    return a if a.dtype == np.float32 else a.astype(np.float32)


def num(v: object) -> float:
    assert isinstance(v, (int, float))
    return float(v)


def one(values: list[int]) -> int | list[int]:
    """One number when every dim agrees (as a hand-written spec would say it)."""
    return values[0] if len(set(values)) == 1 else values


class Translator:
    """State of one import: entries, parameters, tensor -> layer map."""

    def __init__(self, prep: Prepared, file: str | None,
                 handlers: Mapping[str, Callable[[Translator, Node], None]]) -> None:
        self.p = prep
        self.handlers = handlers
        self.file = file
        self.entries: list[dict[str, object]] = []
        self.by_name: dict[str, dict[str, object]] = {}
        self.params: dict[str, np.ndarray] = {}
        self.layer_shapes: dict[str, tuple[int, ...]] = {}
        self.act_scales: dict[str, float] = {}
        #: node output -> the asymmetric zero point of its DequantizeLinear weight (int8 codes)
        self.weight_zero: dict[str, int] = {}
        self.src: dict[str, str] = {prep.input: INPUT_NAME}
        self.uses = Counter(t for n in prep.nodes for t in n.inputs if t)
        self.uses.update(prep.outputs)
        self.pending: dict[str, tuple[str, int, int]] = {}  # shuffle: tensor -> (layer, g, stage)
        self.quantized: set[str] = set()
        self.names: set[str] = {INPUT_NAME}
        self.opset = prep.opset
        shape = prep.shapes[prep.input]
        self.input_shape = tuple(shape[1:])
        self.layer_shapes[INPUT_NAME] = self.input_shape

    # -- helpers ---------------------------------------------------------------------------

    def err(self, n: Node, problem: str) -> SpecError:
        return fail(n, problem, self.file)

    def shape(self, t: str) -> tuple[int, ...]:
        return self.p.shapes[t]

    def const(self, n: Node, i: int, what: str, optional: bool = False) -> np.ndarray | None:
        t = n.inputs[i] if i < len(n.inputs) else ""
        if not t:
            if optional:
                return None
            raise self.err(n, f"missing {what} input")
        if t not in self.p.consts:
            raise self.err(n, f"{what} {t!r} is not a constant (hwcnn needs weights given by "
                              "initializers or constant subgraphs)")
        return self.p.consts[t]

    def req(self, n: Node, key: str) -> Any:
        """A required attribute."""
        if key not in n.attrs:
            raise self.err(n, f"missing required attribute {key!r}")
        return n.attrs[key]

    def act(self, n: Node, t: str) -> str:
        """The layer computing activation tensor ``t``."""
        if t in self.pending:
            raise self.err(n, f"reads {t!r}, part of a Reshape/Transpose sequence that is not "
                              "a channel shuffle")
        if t in self.src:
            return self.src[t]
        if t in self.p.consts:
            raise self.err(n, f"expected an activation input, got the constant {t!r}")
        raise self.err(n, f"input {t!r} is not computed by a supported node")

    def entry(self, layer: str) -> dict[str, object]:
        return self.by_name[layer]

    def new_name(self, n: Node) -> str:
        raw = (n.name or n.outputs[0]).lstrip("/") or f"{n.op.lower()}{n.index}"
        s = re.sub(r"[^A-Za-z0-9_.\-/]", "_", raw)[:190]
        if not re.match(r"^[A-Za-z_]", s):
            s = "_" + s
        base, i = s, 1
        while s in self.names:
            i += 1
            s = f"{base}_{i}"
        self.names.add(s)
        return s

    def emit(self, n: Node, kind: str, inputs: list[str], **fields: object) -> str:
        name = self.new_name(n)
        e: dict[str, object] = {"name": name, "kind": kind, "inputs": inputs, **fields}
        self.entries.append(e)
        self.by_name[name] = e
        self.src[n.outputs[0]] = name
        self.layer_shapes[name] = tuple(self.shape(n.outputs[0])[1:])
        return name

    def alias(self, n: Node, t_in: str) -> None:
        self.src[n.outputs[0]] = self.act(n, t_in)

    def sole_use(self, t: str) -> bool:
        return self.uses[t] == 1

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> None:
        for n in self.p.nodes:
            handler = self.handlers.get(n.op)
            if handler is None:
                raise self.err(n, f"unsupported operator {n.op!r} (hwcnn import --help lists "
                                  "the supported ones)")
            try:
                handler(self, n)
            except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError) as exc:
                # a malformed node (a required attribute or input missing, a wrong type):
                # still one line, naming the node
                raise self.err(n, f"malformed node ({type(exc).__name__}: {exc})") from None
        for t in self.pending:
            if self.uses[t]:
                raise fail(None, f"tensor {t!r}: a Reshape/Transpose sequence that is not a "
                                 "channel shuffle", self.file)

    # -- window attributes -----------------------------------------------------------------

    def pads(self, n: Node, rank: int, kernel: list[int], strides: list[int],
             dil: list[int]) -> int | list[int] | list[list[int]]:
        auto = str(n.attrs.get("auto_pad", "NOTSET"))
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            ins, outs = self.shape(n.inputs[0])[2:], self.shape(n.outputs[0])[2:]
            pairs = []
            for w, o, k, s, d in zip(ins, outs, kernel, strides, dil):
                total = max((o - 1) * s + d * (k - 1) + 1 - w, 0)
                small, big = total // 2, total - total // 2
                pairs.append([small, big] if auto == "SAME_UPPER" else [big, small])
        elif auto == "VALID":
            pairs = [[0, 0]] * rank
        elif auto == "NOTSET":
            p = ints(n.attrs.get("pads", [0] * (2 * rank)))
            if len(p) != 2 * rank or min(p) < 0:
                raise self.err(n, f"pads {p} do not give a non-negative begin and end per "
                                  f"spatial axis ({2 * rank} values)")
            pairs = [[p[i], p[i + rank]] for i in range(rank)]
        else:
            raise self.err(n, f"unknown auto_pad {auto!r}")
        if all(lo == hi for lo, hi in pairs):
            return one([lo for lo, _ in pairs])
        return pairs

    def window(self, n: Node, kernel: list[int]) -> dict[str, object]:
        rank = len(kernel)
        strides = ints(n.attrs.get("strides", [1] * rank))
        dil = ints(n.attrs.get("dilations", [1] * rank))
        f: dict[str, object] = {"kernel": one(kernel), "stride": one(strides),
                                "padding": self.pads(n, rank, kernel, strides, dil)}
        if set(dil) != {1}:
            f["dilation"] = one(dil)
        return f
