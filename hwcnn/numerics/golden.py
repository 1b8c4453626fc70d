"""The bit-exact golden model: integer execution of a :class:`QuantizedNetwork`.

Per-layer integer kernels live in :mod:`hwcnn.numerics.golden_ops` (written only in terms of
:mod:`hwcnn.numerics.fixedpoint`); this module sequences them over a quantized network, counts
saturations, and measures the quantization error against the float64 reference.

Hardware-facing entry points with stable signatures (re-exported here):
:func:`gemm_tile` -- one GEMM tile plus requantization, and :func:`pool_tile` -- the vector unit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from ..frontend import layers as L
from . import fixedpoint as fp
from .floatref import iter_float
from .golden_act import is_host_integer, run_host
from .golden_ops import (
    Requant,
    add,
    clamp,
    concat,
    conv_requant,
    dense_acc,
    flatten,
    gemm_tile,
    global_avg_pool,
    pool,
    pool_tile,
    requantize_counted,
    storage_dtype,
)
from .quantize import QLayer, QuantizedNetwork
from .weights import Params


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class GoldenResult:
    """Integer outputs of every QLayer (by its name) and the saturation count of each."""

    tensors: dict[str, np.ndarray]
    saturated: dict[str, int]

    def tensor(self, qnet: QuantizedNetwork, layer: str) -> np.ndarray:
        """The integer tensor of any layer name (aliases resolve to their fused layer)."""
        return self.tensors[qnet.alias[layer]]


def quantize_input(qnet: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    """Float input image -> integers in the network's input format (half away, saturate)."""
    f = qnet.input_format
    return fp.quantize_scaled(x, f.scale, f.lo, f.hi)


def check_input(qnet: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    """Validate an integer input image (shape, dtype, range); returns it as int64."""
    arr = np.asarray(x)
    want = tuple(qnet.graph.nodes[qnet.input_name]["out_shape"].as_list())
    if tuple(arr.shape) != want:
        raise DataError(f"input has shape {list(arr.shape)}, expected {list(want)}")
    if arr.dtype.kind not in "iu":
        raise DataError(f"input has dtype {arr.dtype}, expected integers")
    f = qnet.input_format
    if arr.size and (int(arr.min()) < f.lo or int(arr.max()) > f.hi):
        raise DataError(f"input values {int(arr.min())}..{int(arr.max())} exceed {f.lo}..{f.hi}")
    return arr.astype(np.int64)


#: Placeholder for kinds that never requantize (never used to compute anything).
_NO_REQUANT = Requant(m0=1, shift=0, lo=-128, hi=127)


#: Kinds whose kernels take their inputs in any integer dtype (they widen where they need to);
#: every other kind (and stand-alone activations, whose functions may index tables) gets int64.
_ANY_INT_INPUT = (L.Input, L.Conv, L.Dense, L.BatchNorm, L.Pool, L.GlobalAvgPool, L.Add,
                  L.Concat, L.Flatten)


def run_network(qnet: QuantizedNetwork, x: np.ndarray, *,
                times: dict[str, float] | None = None) -> GoldenResult:
    """Execute the quantized network on one integer input image, bit-exactly.

    Every layer output is stored in the narrowest integer dtype holding its values (int8 for
    8-bit activations, see :func:`golden_ops.storage_dtype`); the values are those of the
    integer contract, the dtype only saves memory. ``times``, when given, receives each
    QLayer's wall time in seconds (``bench/bench_golden.py``).
    """
    x = check_input(qnet, x)
    t: dict[str, np.ndarray] = {}
    sat: dict[str, int] = {}
    for ql in qnet.layers:
        start = time.perf_counter()
        ins = [t[s] for s in ql.inputs]
        if not isinstance(ql.layer, _ANY_INT_INPUT):
            ins = [a.astype(np.int64) for a in ins]
        if is_host_integer(ql.layer):  # look-up tables, products, averages, data movement
            y, sat[ql.name] = run_host(ql.layer, qnet.graph.nodes[ql.name], ins, ql.weight,
                                       ql.out.bits, ql.requant, ql.bias)
        else:
            y, sat[ql.name] = _run_layer(ql, ins, x, qnet.policy.acc_bits)
        t[ql.name] = _narrow(np.asarray(y))
        if times is not None:
            times[ql.name] = time.perf_counter() - start
    return GoldenResult(tensors=t, saturated=sat)


def _narrow(y: np.ndarray) -> np.ndarray:
    """``y`` in the narrowest integer dtype that holds its values (a view if already so)."""
    if y.dtype.kind not in "iu" or y.dtype.itemsize == 1 or not y.size:
        return y
    dtype = storage_dtype(int(y.min()), int(y.max()))
    return y if np.dtype(dtype).itemsize >= y.dtype.itemsize else y.astype(dtype)


def _run_layer(ql: QLayer, ins: list[np.ndarray], x: np.ndarray, acc_bits: int
               ) -> tuple[np.ndarray, int]:
    # Fields a QLayer of each kind always carries (set by the quantizer); typed views here.
    rq = ql.requant if ql.requant is not None else _NO_REQUANT
    win = ql.window
    match ql.layer:
        case L.Input():
            return x, 0
        case L.Conv(groups=groups):
            assert win is not None
            assert ql.weight is not None
            return conv_requant(ins[0], ql.weight, ql.bias, win, rq, groups, acc_bits,
                                wmax=ql.wmax)
        case L.Dense():
            assert ql.weight is not None
            acc = dense_acc(ins[0], ql.weight, ql.bias, acc_bits, wmax=ql.wmax)
            return requantize_counted(acc, rq, axis=-1)
        case L.BatchNorm():
            # per-channel multiply-add on the channel axis (a depthwise 1x1 conv, K = 1)
            shape = (-1,) + (1,) * (ins[0].ndim - 1)
            assert ql.weight is not None and ql.bias is not None
            acc = ins[0].astype(np.int64) * ql.weight.astype(np.int64).reshape(shape)
            acc = fp.wrap(acc + ql.bias.reshape(shape), acc_bits)
            return requantize_counted(acc, rq, axis=0)
        case L.Pool(op=L.PoolOp.SUM):
            assert win is not None
            sums = pool(ins[0], win, L.PoolOp.SUM, lo=-(1 << 31), hi=(1 << 31) - 1,
                        acc_bits=acc_bits)
            return requantize_counted(sums, rq)
        case L.Pool(op=op):
            assert win is not None
            return pool(ins[0], win, op, lo=ql.lo, hi=ql.hi, acc_bits=acc_bits), 0
        case L.GlobalAvgPool():
            return global_avg_pool(ins[0], ql.lo, ql.hi), 0
        case L.Activation():
            return clamp(ins[0], ql.lo, ql.hi), 0
        case L.Add():
            return add(ins, list(ql.add_m0), ql.add_shift, rq)
        case L.Concat():
            return concat(ins, list(ql.concat_rq))
        case L.Flatten():
            return flatten(ins[0]), 0
    raise TypeError(f"layer kind not executable: {ql.layer!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerError:
    """Quantization error of one QLayer over the evaluation inputs."""

    name: str
    fused: tuple[str, ...]
    kind: str
    fmt: str
    weight_fmt: str
    sqnr_db: float
    max_abs_err: float
    max_abs_ref: float
    saturated: int
    acc_bits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    layers: tuple[LayerError, ...]
    top1_agree: int
    n_inputs: int
    output: str


def dequantize(ql: QLayer, q: np.ndarray) -> np.ndarray:
    return q.astype(np.float64) * ql.out.scale


def sqnr_db(signal: float, noise: float) -> float:
    """``10 log10(signal / noise)``, defined on degenerate data too.

    ``noise == 0`` (the golden output equals the reference exactly, including an all-zero
    layer) gives ``+inf`` -- shown as "exact"; a zero reference with a nonzero error gives
    ``-inf``. Sums that overflowed (not finite) raise ValueError: callers sum in units of the
    output scale, where that cannot happen for accepted inputs.
    """
    if not (math.isfinite(signal) and math.isfinite(noise)):
        raise ValueError(f"SQNR of non-finite sums {signal!r} / {noise!r}")
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10 * math.log10(signal / noise)


def _sum_sq(v: np.ndarray) -> float:
    """``sum(v * v)``, squaring ``v`` in place (it is a temporary of the caller)."""
    return float(np.sum(np.multiply(v, v, out=v)))


def _max_abs(v: np.ndarray) -> float:
    """``max |v|`` (0 for an empty array) without an ``abs`` temporary."""
    return max(float(v.max(initial=0.0)), -float(v.min(initial=0.0))) + 0.0


def evaluate(qnet: QuantizedNetwork, params: Params, inputs: Sequence[np.ndarray]) -> Evaluation:
    """Run float reference and golden model on ``inputs``; per-layer SQNR, max error, top-1.

    SQNR = 10 log10(sum ref^2 / sum (ref - deq)^2) over all inputs (:func:`sqnr_db`), where
    ``deq`` is the golden integer output times its scale and ``ref`` the float64 output of the
    last layer the QLayer computes (:attr:`QLayer.tail`); both sums are accumulated in units
    of the layer's output scale (the ratio is the same; the sums cannot overflow). Top-1
    agreement compares argmax of the network output (the logits; a trailing softmax does not
    change the argmax). At least one input is required (an empty batch has no statistics).
    """
    if not len(inputs):
        raise ConfigError("evaluation needs at least one input (the batch is empty)")
    sig = {q.name: 0.0 for q in qnet.layers}
    err = dict(sig)
    max_err = dict(sig)
    max_ref = dict(sig)
    sat = {q.name: q.bias_saturated for q in qnet.layers}
    agree = 0
    out_name = qnet.outputs[-1]
    out_q = qnet.by_name[out_name]
    by_tail: dict[str, list[QLayer]] = {}
    for ql in qnet.layers:
        by_tail.setdefault(ql.tail, []).append(ql)
    for x in inputs:
        res = run_network(qnet, quantize_input(qnet, x))
        ref_top = -1
        # Streams the float reference: each float64 tensor is compared while it is the
        # current one and then dropped (a VGG16 holds a few activations, not all 121 MB).
        with np.errstate(over="ignore", invalid="ignore"):   # overflow is checked below
            for name, y in iter_float(qnet.graph, params, x):
                for ql in by_tail.get(name, ()):
                    r = y.reshape(-1)
                    if not np.all(np.isfinite(r)):
                        raise DataError(f"layer {ql.tail!r}: the float64 reference overflows "
                                        "(values beyond 1e308) on the evaluation inputs")
                    sig[ql.name] += _sum_sq(r / ql.out.scale)
                    max_ref[ql.name] = max(max_ref[ql.name], _max_abs(r))
                    e = dequantize(ql, res.tensors[ql.name]).reshape(-1)
                    np.subtract(r, e, out=e)                # in place: one temporary per layer
                    max_err[ql.name] = max(max_err[ql.name], _max_abs(e))
                    np.divide(e, ql.out.scale, out=e)
                    err[ql.name] += _sum_sq(e)
                    sat[ql.name] += res.saturated[ql.name]
                    del r, e
                if name == out_q.tail:
                    ref_top = int(np.argmax(y))
                del y
        if ref_top == int(np.argmax(res.tensors[out_name])):
            agree += 1
        del res
    rows = []
    for ql in qnet.layers:
        try:
            sqnr = sqnr_db(sig[ql.name], err[ql.name])
        except ValueError:
            raise DataError(f"layer {ql.tail!r}: the quantization error overflows float64 "
                            "(values too large for the reference)") from None
        wfmt = ""
        if ql.weight_scale is not None:
            bits = qnet.policy.weight_bits
            lo, hi = float(ql.weight_scale.min()), float(ql.weight_scale.max())
            wfmt = f"int{bits}*{lo:.3g}" + (f"..{hi:.3g}" if hi != lo else "")
        rows.append(LayerError(name=ql.name, fused=ql.fused, kind=L.kind_name(ql.layer),
                               fmt=str(ql.out), weight_fmt=wfmt, sqnr_db=sqnr,
                               max_abs_err=max_err[ql.name], max_abs_ref=max_ref[ql.name],
                               saturated=sat[ql.name], acc_bits=ql.acc_bits_needed))
    return Evaluation(layers=tuple(rows), top1_agree=agree, n_inputs=len(inputs), output=out_name)


__all__ = ["Evaluation", "GoldenResult", "LayerError", "check_input", "evaluate", "gemm_tile",
           "pool_tile", "quantize_input", "run_network", "sqnr_db"]
