"""The tile options ``hwcnn trace`` and ``hwcnn wave`` share (not a command of its own).

A tile is either ``--gemm MxKxN`` or ``--layer MODEL:NAME``, the first GEMM tile of a conv or
dense layer as the compiler lowers it onto the array (its m, k, n). The operands are random
integers in -4..4 from ``--seed`` (A as activations, B as weights), or, with ``--layer`` and
``--weights W.npz``, the tile's slice of the quantized layer: B its integer weights, A the
im2col rows of its integer input when the network (quantized with 4 calibration images from
``--seed``) runs on the first of them. Bias and requantization are left out in both cases, so
the tile computes ``clip(A @ B)``. ``--drain-rows 2`` (output stationary, at least 2 rows) is
the array that drains a row pair per cycle into a second post-processing back end
(``ArrayConfig.drain_rows``, rtl/README.md 5-6), validated as by the other commands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import numpy as np

from ...arch.config import HardwareConfig
from ...arch.timing import gemm_tile_cycles
from ...errors import ConfigError, SpecError
from ...frontend import layers as L
from ..options import hardware_for_spec, hardware_from_options
from .common import load_graph

#: Largest tile a trace shows: start -> done cycles (the closed form) times PEs, so the
#: frames stay a few tens of MB at most.
MAX_TRACE_PE_CYCLES = 1_000_000
#: Operand range of the random tiles.
SEEDED_RANGE = (-4, 4)


def parse_gemm(text: str) -> tuple[int, int, int]:
    """``"3x4x5"`` -> (m, k, n), each 1..64."""
    m = re.fullmatch(r"\s*([0-9]{1,4})x([0-9]{1,4})x([0-9]{1,4})\s*", text)
    if not m or not all(1 <= int(v) <= 64 for v in m.groups()):
        raise ConfigError(f"--gemm must be MxKxN with sizes 1..64 (e.g. 3x3x3), not {text[:40]!r}")
    return int(m[1]), int(m[2]), int(m[3])


def parse_layer(text: str) -> tuple[str, str]:
    """``"models/tiny_cnn.yaml:conv2"`` -> (model path, layer name); the last ``:`` splits."""
    model, sep, name = text.rpartition(":")
    if not sep or not model or not name:
        raise ConfigError(f"--layer must be MODEL:NAME (e.g. models/tiny_cnn.yaml:conv2), not "
                          f"{text[:40]!r}")
    return model, name


@dataclass(frozen=True, slots=True, kw_only=True)
class Tile:
    """The chosen tile: hardware, operands ``a`` (m x k) and ``b`` (k x n), a description."""

    hw: HardwareConfig
    a: np.ndarray
    b: np.ndarray
    label: str

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]


def tile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--gemm``, ``--layer``, ``--array``, ``--dataflow``, ``--drain-rows``, ``--seed``,
    ``--weights``."""
    opts = [
        click.option("--gemm", metavar="MxKxN",
                     help="Tile Out[M x N] = A[M x K] @ B[K x N], sizes 1..64."),
        click.option("--layer", "layer", metavar="MODEL:NAME",
                     help="The first GEMM tile of conv/dense layer NAME of MODEL, as lowered "
                          "onto the array (instead of --gemm)."),
        click.option("--array", default="2x2", show_default=True, metavar="RxC",
                     help="Array rows x cols."),
        click.option("--dataflow", default="ws", show_default=True, metavar="ws|os",
                     help="Weight or output stationary."),
        click.option("--drain-rows", "drain_rows", default="1", show_default=True,
                     metavar="1|2",
                     help="Output stationary: result rows the drain reads per cycle (2: two "
                          "shadow registers per PE and a second post-processing back end, so "
                          "two output rows are written per cycle; needs --dataflow os and at "
                          "least 2 rows)."),
        click.option("--seed", default=0, show_default=True, type=int,
                     help="Random operands: A and B in -4..4 from this seed (with --weights: "
                          "the seed of the calibration images)."),
        click.option("--weights", type=click.Path(dir_okay=False), metavar="W.npz",
                     help="With --layer: the quantized layer's operands (weights keyed "
                          "<layer>.<param>, as hwcnn quantize takes them)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _seeded(m: int, k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = SEEDED_RANGE
    return rng.integers(lo, hi + 1, size=(m, k)), rng.integers(lo, hi + 1, size=(k, n))


def _quantized(g: Any, name: str, weights: str, seed: int, t: Any, pack: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """A and B of tile ``t`` of layer ``name`` in the quantized network (see the docstring;
    ``pack`` groups per GEMM, :mod:`hwcnn.compiler.packing`)."""
    from ...compiler.packing import pack_a, pack_b
    from ...numerics import (
        QuantPolicy,
        calibration_inputs,
        load_weights,
        quantize_input,
        quantize_network,
        run_network,
    )
    from ...numerics.golden_ops import conv_matrix, im2col

    params = load_weights(weights, g)
    source = next(v for v in g if g.in_degree(v) == 0)
    calib = calibration_inputs(g.nodes[source]["out_shape"], 4, seed)
    fmt = g.graph["spec"].formats
    qnet = quantize_network(g, params, calib, QuantPolicy(act_bits=fmt.activation_bits,
                                                          weight_bits=fmt.weight_bits))
    ql = qnet.by_name[qnet.alias[name]]
    x = run_network(qnet, quantize_input(qnet, calib[0])).tensors[ql.inputs[0]]
    x = x.astype(np.int64)
    assert ql.weight is not None
    w = ql.weight.astype(np.int64)
    layer = g.nodes[name]["layer"]
    if isinstance(layer, L.Conv):
        assert ql.window is not None
        in_shape = tuple(g.nodes[name]["in_shapes"][0].as_list())
        a = im2col(x.reshape(in_shape), ql.window, layer.groups)
        b = conv_matrix(w, layer.groups)
    else:
        a, b = x.reshape(1, 1, -1), w.T[None]
    a, b = pack_a(a, pack), pack_b(b, pack)
    return (a[t.group, t.m0:t.m0 + t.m, t.k0:t.k0 + t.k].copy(),
            b[t.group, t.k0:t.k0 + t.k, t.n0:t.n0 + t.n].copy())


def _layer_tile(spec: str, array: str, dataflow: str, drain_rows: str | int = 1
                ) -> tuple[HardwareConfig, Any, Any, str, int]:
    """(hardware, the layer's first GemmTile, the graph, a description, groups per GEMM)."""
    from ...compiler.gemm import plan_gemm
    from ...compiler.plan import GemmTile

    model, name = parse_layer(spec)
    g = load_graph(model)
    if name not in g:
        raise SpecError(f"no layer named {name!r}", file=model)
    layer = g.nodes[name]["layer"]
    if not isinstance(layer, (L.Conv, L.Dense)):
        raise SpecError(f"needs a conv or dense layer (a GEMM on the array), not "
                        f"{L.kind_name(layer)}", file=model, layer=name)
    hw, _ = hardware_for_spec(g, array=array, dataflow=dataflow, drain_rows=drain_rows)
    gd = g.nodes[name]["gemm"]
    plan = plan_gemm(name, layer, hw, gd.m, gd.n, gd.k, gd.groups)
    first = next(iter(plan.make_tiles()))
    assert isinstance(first, GemmTile)
    packed = (f", {plan.pack} groups per GEMM: {gd.m}x{gd.k * plan.pack}x{gd.n * plan.pack}"
              if plan.pack > 1 else "")
    label = (f"{first.m}x{first.k}x{first.n} tile, the first of {plan.tiles} of {name} "
             f"({model}: GEMM {gd.m}x{gd.k}x{gd.n}{packed})")
    return hw, first, g, label, plan.pack


def choose_tile(gemm: str | None, layer: str | None, array: str, dataflow: str,
                seed: int, *, weights: str | None = None, drain_rows: str | int = 1,
                max_pe_cycles: int = MAX_TRACE_PE_CYCLES, what: str = "a trace") -> Tile:
    """The tile the options name (one-line errors for every bad combination); tiles of more
    than ``max_pe_cycles`` cycles x PEs are refused (``what`` names the output in the error)."""
    if (gemm is None) == (layer is None):
        raise ConfigError("give exactly one of --gemm MxKxN and --layer MODEL:NAME")
    if weights is not None and layer is None:
        raise ConfigError("--weights needs --layer MODEL:NAME")
    first = g = None
    pack = 1
    if gemm is not None:
        dims = parse_gemm(gemm)
        hw, _ = hardware_from_options(array=array, dataflow=dataflow, drain_rows=drain_rows)
        label = f"{dims[0]}x{dims[1]}x{dims[2]} GEMM"
    else:
        assert layer is not None
        hw, first, g, label, pack = _layer_tile(layer, array, dataflow, drain_rows)
        dims = (first.m, first.k, first.n)
    m, k, n = dims
    arr = hw.array
    cycles = gemm_tile_cycles(m, n, k, arr)
    if cycles * arr.rows * arr.cols > max_pe_cycles:
        raise ConfigError(f"the {m}x{k}x{n} tile takes {cycles} cycles on {arr.rows}x"
                          f"{arr.cols} PEs; {what} is limited to {max_pe_cycles} cycles x PEs "
                          f"(use a smaller --gemm or --array)")
    if weights is not None:
        assert first is not None
        a, b = _quantized(g, first.layer, weights, seed, first, pack)
        label += ", quantized operands"
    else:
        a, b = _seeded(m, k, n, seed)
    return Tile(hw=hw, a=a, b=b, label=label)
