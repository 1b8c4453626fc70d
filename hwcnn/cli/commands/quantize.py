"""``hwcnn quantize``: quantize a network and report what quantization costs, layer by layer."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from ..options import max_memory_option
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, model_argument, strict_option

if TYPE_CHECKING:
    import networkx as nx
    import numpy as np

    from ...arch.config import HardwareConfig
    from ...numerics.golden import Evaluation
    from ...numerics.quantize import QuantizedNetwork

_ROUNDING = ("half_up", "half_away", "half_even", "truncate")


def quant_defaults() -> dict[str, object]:
    """The values :func:`quant_options` gives when none is set (for commands that quantize
    without offering the options)."""
    cmd = click.command()(quant_options(lambda **kw: None))
    params: dict[str, object] = cmd.make_context("defaults", []).params
    return params


def quant_options(func):  # type: ignore[no-untyped-def]
    """Options shared by ``quantize`` and ``run`` (same options -> same quantized network)."""
    opts = [
        click.option("--weights", type=click.Path(dir_okay=False),
                     help=".npz of float weights keyed '<layer>.<param>' (see docs/numerics.md), "
                          "optionally with given '<layer>.act_scale' / '.weight_scale' used "
                          "instead of calibration; default: an ONNX model's own initializers "
                          "(and QDQ scales), else seeded He initialization."),
        click.option("--calib", type=click.Path(dir_okay=False),
                     help=".npy of float calibration inputs (one image or a batch [N, C, H, W]); "
                          "default: --calib-n seeded uniform [-1, 1) images."),
        click.option("--calib-n", type=click.IntRange(1, 10_000), default=4, show_default=True,
                     help="Number of random calibration inputs when --calib is not given."),
        click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
                     help="Seed of the random weights and inputs."),
        click.option("--act-bits", type=int, default=None,
                     help="Activation width (default: the spec's formats, 8)."),
        click.option("--weight-bits", type=int, default=None,
                     help="Weight width (default: the spec's formats, 8)."),
        click.option("--per-tensor", is_flag=True,
                     help="One weight scale per layer instead of one per output channel."),
        click.option("--calibration", type=click.Choice(["maxabs", "percentile"]),
                     default="maxabs", show_default=True, help="Activation range statistic."),
        click.option("--percentile", type=float, default=99.99, show_default=True,
                     help="Percentile of |x| for --calibration percentile."),
        click.option("--scales", type=click.Choice(["real", "pow2"]), default="real",
                     show_default=True,
                     help="real: any scale, multiplier+shift requantization; pow2: Qm.n formats, "
                          "shift-only requantization."),
        click.option("--rounding", type=click.Choice(_ROUNDING), default="half_up",
                     show_default=True, help="Requantization rounding mode."),
        strict_option,
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    """What ``quantize`` and ``run`` share: graph, float parameters, quantized network."""

    graph: nx.DiGraph
    params: dict[str, np.ndarray]
    qnet: QuantizedNetwork
    calib: list[np.ndarray]


def build(model: str, *, weights: str | None, calib: str | None, calib_n: int, seed: int,
          act_bits: int | None, weight_bits: int | None, per_tensor: bool, calibration: str,
          percentile: float, scales: str, rounding: str, strict: bool | None,
          max_memory: int, eval_n: int = 0, kept_n: int = 0, hw: HardwareConfig | None = None,
          engine: str = "golden", graph: nx.DiGraph | None = None,
          weight_dtype: str = "float64") -> Built:
    """Load, validate and quantize (shared by the ``quantize``, ``run`` and ``verify``).

    Before anything is loaded or allocated, the memory and work budget of the whole command
    (``eval_n`` evaluation inputs, ``kept_n`` images whose outputs are kept, ``hw``/``engine``
    for verify; :mod:`hwcnn.machine.budget`) is checked against ``max_memory``.
    ``weight_dtype``: the dtype of the seeded random weights of a model without weights
    (:func:`hwcnn.numerics.weights.init_weights`; ``"float32"`` for the report's machine figures,
    which do not depend on the values).
    """
    from ...errors import DataError
    from ...frontend.onnx_import import is_onnx, load_onnx
    from ...machine.budget import enforce, estimate
    from ...numerics.fixedpoint import Rounding
    from ...numerics.quantize import (
        Calibration,
        QuantPolicy,
        ScaleMode,
        calibration_inputs,
        quantize_network,
    )
    from ...numerics.weights import (
        batch_size,
        check_params,
        init_weights,
        input_header,
        load_input,
        load_weights,
    )

    g = load_graph(model, strict) if graph is None else graph
    in_shape = g.nodes[_input_name(g)]["out_shape"]
    n_cal = (batch_size(input_header(calib, in_shape, "calibration input"), in_shape)
             if calib else calib_n)
    enforce(estimate(g, calib_n=n_cal, eval_n=eval_n, kept_n=kept_n, hw=hw, engine=engine),
            max_memory, model)
    formats = g.graph["spec"].formats
    policy = QuantPolicy(act_bits=formats.activation_bits if act_bits is None else act_bits,
                         weight_bits=formats.weight_bits if weight_bits is None else weight_bits,
                         per_channel=not per_tensor, calibration=Calibration(calibration),
                         percentile=percentile, scale_mode=ScaleMode(scales),
                         rounding=Rounding(rounding))
    if weights:
        params = load_weights(weights, g)
    elif is_onnx(model):  # the model's own initializers
        params = check_params(load_onnx(model).weights, g, model)
    else:
        params = init_weights(g, seed, dtype=weight_dtype)
    if calib:
        cal = list(load_input(calib, in_shape, integer=False, what="calibration input"))
    else:
        cal = calibration_inputs(in_shape, calib_n, seed)
    try:
        qnet = quantize_network(g, params, cal, policy)
    except DataError as exc:
        raise DataError(f"{model}: {exc}") from None
    return Built(graph=g, params=params, qnet=qnet, calib=cal)


def _input_name(g) -> str:  # type: ignore[no-untyped-def]
    return next(n for n in g if g.in_degree(n) == 0)


@click.command()
@model_argument
@quant_options
@click.option("--inputs", type=click.Path(dir_okay=False),
              help=".npy of float evaluation inputs (default: -n seeded random images).")
@click.option("-n", "n_eval", type=click.IntRange(1, 10_000), default=8, show_default=True,
              help="Number of random evaluation inputs (SQNR, max error, top-1 agreement).")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@max_memory_option
def quantize(model: str, inputs: str | None, n_eval: int, fmt: str, output: str | None,
             **opts: object) -> None:
    """Quantize MODEL.yaml and report, per layer: the number formats chosen, SQNR (dB) and max
    abs error of the golden integer model versus the float64 reference, saturation counts,
    and the top-1 agreement of the two over the evaluation inputs.

    Folded BatchNorm and fused ReLU/ReLU6 layers are listed with the layer they were folded
    into (their row compares the fused output with the float output of the last fused layer).
    """
    from ...numerics.golden import evaluate
    from ...numerics.quantize import calibration_inputs
    from ...numerics.weights import batch_size, input_header, load_input

    strict = opts["strict"]
    g = load_graph(model, strict if isinstance(strict, bool) else None)
    in_shape = g.nodes[_input_name(g)]["out_shape"]
    n = batch_size(input_header(inputs, in_shape), in_shape) if inputs else n_eval
    b = build(model, **opts, eval_n=n, graph=g)  # type: ignore[arg-type]
    if inputs:
        xs = list(load_input(inputs, in_shape, integer=False))
    else:
        xs = calibration_inputs(in_shape, n_eval, int(opts["seed"]) + 1)  # type: ignore[call-overload]
    ev = evaluate(b.qnet, b.params, xs)
    emit(_json(b, ev) if fmt == "json" else _table(b, ev), output)


def _db(v: float) -> str:
    """SQNR for display: "exact" when the error is 0 (SQNR +inf), "-inf" for a zero reference."""
    return "exact" if math.isinf(v) and v > 0 else ("-inf" if math.isinf(v) else f"{v:.1f}")


def _json(b: Built, ev: Evaluation) -> str:
    p = b.qnet.policy
    doc = {
        "model": b.qnet.name,
        "policy": {"act_bits": p.act_bits, "weight_bits": p.weight_bits,
                   "per_channel": p.per_channel, "calibration": p.calibration.value,
                   "scales": p.scale_mode.value, "rounding": p.rounding.value},
        "layers": [{"name": r.name, "fused": list(r.fused), "kind": r.kind, "format": r.fmt,
                    "weight_format": r.weight_fmt, "sqnr_db": _db(r.sqnr_db),
                    "max_abs_err": r.max_abs_err, "max_abs_ref": r.max_abs_ref,
                    "saturated": r.saturated, "acc_bits": r.acc_bits} for r in ev.layers],
        "top1_agree": ev.top1_agree, "n_inputs": ev.n_inputs, "output": ev.output,
    }
    return json.dumps(doc, indent=2) + "\n"


def _table(b: Built, ev: Evaluation) -> str:
    from rich.console import Console
    from rich.table import Table

    p = b.qnet.policy
    t = Table(title=f"{b.qnet.name}: int{p.act_bits} activations, int{p.weight_bits} weights "
                    f"({'per channel' if p.per_channel else 'per tensor'}), "
                    f"{p.scale_mode.value} scales, {p.rounding.value}")
    for col, just in (("layer", "left"), ("kind", "left"), ("output format", "left"),
                      ("weight format", "left"), ("acc bits", "right"), ("SQNR dB", "right"),
                      ("max |err|", "right"), ("max |ref|", "right"), ("saturated", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in ev.layers:
        name = r.name + (f" (+{', '.join(r.fused)})" if r.fused else "")
        t.add_row(name, r.kind, r.fmt, r.weight_fmt, str(r.acc_bits or ""), _db(r.sqnr_db),
                  f"{r.max_abs_err:.4g}", f"{r.max_abs_ref:.4g}", str(r.saturated))
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(t)
    console.print(f"top-1 agreement golden vs float64 at {ev.output!r}: "
                  f"{ev.top1_agree}/{ev.n_inputs}")
    return console.export_text()
