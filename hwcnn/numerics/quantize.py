"""Stage 3: float network -> :class:`QuantizedNetwork` (integer weights + requantization).

Scheme (symmetric, zero point 0, see ``docs/numerics.md``):

* every activation tensor has ONE scale ``s`` (per tensor) and ``act_bits``; ``real = q * s``;
* weights are quantized per output channel (or per tensor) to ``[-(2**(w-1)-1), 2**(w-1)-1]``
  (symmetric, as TFLite), biases to int in the accumulator scale ``s_in * s_w[c]``;
* a conv/dense output is ``requantize(acc, M0[c], shift[c])`` with
  ``M0 * 2**-shift ~= s_in * s_w[c] / s_out`` (:func:`hwcnn.numerics.fixedpoint.quantize_multiplier`;
  ``ScaleMode.POW2`` restricts every scale to a power of two, i.e. ``Qm.n`` formats, so that
  requantization is a pure shift);
* BatchNorm folds into the preceding conv / dense when that layer feeds only the BatchNorm
  and has no activation of its own; any other BatchNorm becomes a per-channel integer
  multiply-add (a depthwise 1x1 conv: weight ``k = gamma / sqrt(var + eps)``, bias
  ``beta - mean * k``); a ReLU / ReLU6 that is the only consumer of a conv / dense / add /
  BatchNorm (after the fold) is fused as the clamp ``[0, hi]``; the absorbed layers become
  aliases of the fused layer's output;
* output scales come from calibration: float64 reference runs on sample inputs, statistic
  max |x| (or a percentile of |x|) per tensor (below 2**-100 the tensor counts as zero, scale 1;
  a reference that overflows float64 is an error naming the layer); max/avg pooling and stand-alone activations keep
  their input's scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np

from ..errors import ConfigError, DataError, SpecError
from ..frontend import layers as L
from ..graph.build import ordered_nodes, output_names
from . import fixedpoint as fp
from . import given_scales as GS
from .floatref import iter_float
from .fusion import fusion_chains, inherits_scale, scale_groups
from .golden_act import act_table, check_integer_support, lrn_tables
from .golden_ops import Requant
from .qrecords import Calibration, QLayer, QuantizedNetwork, QuantPolicy, ScaleMode, TensorFormat
from .weights import FLUSH_BELOW, Params

__all__ = ["Calibration", "QLayer", "QuantPolicy", "QuantizedNetwork", "ScaleMode", "TensorFormat",
           "calibration_inputs", "fold_batchnorm", "given_format", "quantize_network"]


def _stat(values: list[np.ndarray], policy: QuantPolicy) -> float:
    a = np.abs(np.concatenate([v.reshape(-1) for v in values]))
    if policy.calibration is Calibration.PERCENTILE:
        return float(np.percentile(a, policy.percentile))
    return float(a.max()) if a.size else 0.0


def _calibrate(g: nx.DiGraph, params: Params, calib: Sequence[np.ndarray],
               chains: Mapping[str, tuple[str, ...]], group: Mapping[str, str],
               policy: QuantPolicy) -> dict[str, float]:
    """The calibration statistic of every scale group root, over the float64 reference runs.

    Streams: each run's tensors are dropped once their consumers are done, and only the
    tensors that set a scale are kept (all their values for a percentile, else their max |x|,
    combined over the runs exactly as :func:`_stat` over the concatenated values).
    """
    tails: dict[str, list[str]] = {}
    for name, chain in chains.items():
        if not inherits_scale(g.nodes[name]["layer"]):
            tails.setdefault(chain[-1] if chain else name, []).append(group[name])
    kept: dict[str, list[np.ndarray]] = {t: [] for t in tails}
    maxes: dict[str, float] = {}
    with np.errstate(over="ignore", invalid="ignore"):   # overflow is checked below
        for x in calib:
            for name, y in iter_float(g, params, x):
                if name not in tails:
                    continue
                if policy.calibration is Calibration.PERCENTILE:
                    kept[name].append(y)
                else:
                    m = _stat([y], policy)
                    # as the max of the concatenation: NaN anywhere makes the statistic NaN
                    prev = maxes.get(name, m)
                    maxes[name] = math.nan if math.isnan(m) or math.isnan(prev) else max(prev, m)
    stats: dict[str, float] = {}
    for tail, roots in tails.items():
        st = _stat(kept[tail], policy) if policy.calibration is Calibration.PERCENTILE \
            else maxes[tail]
        if not math.isfinite(st):
            raise DataError(f"layer {tail!r}: the float64 reference overflows (values beyond "
                            "1e308) on the calibration inputs")
        for root in roots:
            stats[root] = max(stats.get(root, 0.0), st)
    return stats



def _scale(stat: float, qmax: int, pow2: bool) -> float:
    # A tensor whose largest value is below FLUSH_BELOW counts as zero (as side inputs do):
    # its scale would leave float64's normal range and the multipliers with it.
    if stat < FLUSH_BELOW or not math.isfinite(stat):
        return 1.0
    s = stat / qmax
    return 2.0 ** math.ceil(math.log2(s)) if pow2 else s


def _multiplier(real: np.ndarray, pow2: bool) -> tuple[np.ndarray, np.ndarray]:
    real = np.asarray(real, dtype=np.float64)
    if pow2:
        pairs = [fp.pow2_multiplier(round(math.log2(r))) for r in real.reshape(-1)]
        m0 = np.array([p[0] for p in pairs], dtype=np.int64).reshape(real.shape)
        sh = np.array([p[1] for p in pairs], dtype=np.int64).reshape(real.shape)
        return m0, sh
    return fp.quantize_multiplier(real)


def _clamp(fmt: TensorFormat, act: L.Act | None) -> tuple[int, int]:
    match act:
        case None:
            return fmt.lo, fmt.hi
        case L.Act.RELU:
            return 0, fmt.hi
        case L.Act.RELU6:
            q6 = int(fp.round_half_away(6.0 / fmt.scale))
            return 0, min(fmt.hi, q6)
    raise TypeError(f"unknown activation {act!r}")


def quantize_network(g: nx.DiGraph, params: Params, calib: Sequence[np.ndarray],
                     policy: QuantPolicy = QuantPolicy()) -> QuantizedNetwork:
    """Quantize the network of ``g`` with float ``params`` calibrated on ``calib`` inputs.

    Parameters
    ----------
    g : networkx.DiGraph
        From :func:`hwcnn.graph.build_graph`.
    params : Params
        Validated float parameters (:mod:`hwcnn.numerics.weights`).
    calib : sequence of float arrays
        At least one sample input of the network's input shape.
    policy : QuantPolicy
    """
    if not calib:
        raise ConfigError("calibration needs at least one input")
    check_integer_support(g)
    chains, alias = fusion_chains(g)
    pow2 = policy.scale_mode is ScaleMode.POW2
    qmax = (1 << (policy.act_bits - 1)) - 1
    q: dict[str, QLayer] = {}
    input_name = ""

    def head(n: str) -> str:
        return alias.get(n, n)

    group = scale_groups(g, chains, alias)
    given = GS.act_scales(params, policy.act_bits)
    stats = _calibrate(g, params, calib, chains, group, policy)

    def given_of(name: str) -> tuple[str, float] | None:
        """The given scale of the tensor a QLayer computes: that of its chain's last layer,
        or of the layer before a fused ReLU/ReLU6 (a clamp in the same scale)."""
        for member in reversed((name, *chains.get(name, ()))):
            if member in given:
                return member, given[member]
            if not isinstance(g.nodes[member]["layer"], L.Activation):
                return None
        return None

    def fmt_of(name: str) -> TensorFormat:
        found = given_of(name)
        if found is not None:
            return given_format(found[0], found[1], policy)
        return TensorFormat(scale=_scale(stats.get(group[name], 0.0), qmax, pow2),
                            bits=policy.act_bits, pow2=pow2)

    def kept(name: str, fmt: TensorFormat) -> TensorFormat:
        """A layer keeping its input's scale: a given scale must be that scale."""
        found = given_of(name)
        if found is not None and found[1] != fmt.scale:
            raise ConfigError(f"layer {found[0]!r}: given scale {found[1]!r} differs from its "
                              f"input's scale {fmt.scale!r}; a {L.kind_name(g.nodes[name]['layer'])} "
                              "keeps its input's scale")
        return fmt

    def rq(m0: int | np.ndarray, shift: int | np.ndarray, lo: int, hi: int,
           act: L.Act | None = None) -> Requant:
        return Requant(m0=m0, shift=shift, lo=lo, hi=hi, bits=policy.act_bits,
                       rounding=policy.rounding, mode=policy.overflow,
                       act_lo=None if act is None else 0,
                       act_hi=hi if act is L.Act.RELU6 else None)

    for name, node in ordered_nodes(g):
        if name not in chains:
            continue
        layer = node["layer"]
        chain = chains[name]
        ins = tuple(head(s) for s in layer.inputs)
        in_fmts = [q[s].out for s in ins]
        fused_act = next((g.nodes[c]["layer"].fn for c in chain
                          if isinstance(g.nodes[c]["layer"], L.Activation)), None)
        common = {"name": name, "layer": layer, "inputs": ins, "fused": chain,
                  "window": node["window"]}
        try:
            with np.errstate(divide="raise", over="raise", invalid="raise"):
                match layer:
                    case L.Input():
                        out = fmt_of(name)
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi)
                        input_name = name
                    case L.Conv() | L.Dense() | L.BatchNorm():
                        q[name] = _quantize_gemm(g, name, node, layer, chain, params, in_fmts[0],
                                                 fmt_of(name),
                                                 getattr(layer, "activation", None) or fused_act, policy,
                                                 common, rq)
                    case L.Pool(op=L.PoolOp.SUM):
                        out = fmt_of(name)
                        m0, sh = _multiplier(np.array(in_fmts[0].scale / out.scale), pow2)
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi,
                                         requant=rq(int(m0), int(sh), out.lo, out.hi))
                    case L.Pool() | L.GlobalAvgPool() | L.Flatten() | L.AdaptiveAvgPool():
                        out = kept(name, in_fmts[0])
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi)
                    case L.Activation(fn=fn):
                        out = kept(name, in_fmts[0])
                        lo, hi = _clamp(out, fn)
                        q[name] = QLayer(**common, out=out, lo=lo, hi=hi)
                    case L.Add():
                        out = fmt_of(name)
                        lo, hi = _clamp(out, fused_act)
                        reals = np.array([f.scale / out.scale for f in in_fmts])
                        _, shifts = _multiplier(reals, pow2)
                        # REAL: the largest ratio keeps a full 31-bit m0; POW2: every m0 is exact.
                        shift = int(shifts.max() if pow2 else shifts.min())
                        m0s = [int(fp.round_half_away(r * 2.0 ** shift)) for r in reals]
                        if max(m0s) >= 1 << 31:
                            raise ConfigError(f"layer {name!r}: add operand scales differ too much")
                        q[name] = QLayer(**common, out=out, lo=lo, hi=hi, add_m0=tuple(m0s),
                                         add_shift=shift, requant=rq(1, shift, lo, hi, fused_act))
                    case L.Nonlinear():  # look-up table over every input code (golden_act)
                        out = fmt_of(name)
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi,
                                         weight=act_table(layer, in_fmts[0].scale, out.scale, policy.act_bits))
                    case L.Mul():  # x * g, one requantization (golden_act.mul)
                        out = fmt_of(name)
                        m0, sh = _multiplier(np.array(in_fmts[0].scale * in_fmts[1].scale / out.scale), pow2)
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi,
                                         requant=rq(int(m0), int(sh), out.lo, out.hi))
                    case L.LRN():  # per-sum-of-squares multiplier tables (golden_act.lrn)
                        out = fmt_of(name)
                        lrn_m0, shifts = lrn_tables(layer, in_fmts[0].scale, out.scale, policy.act_bits)
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi, weight=lrn_m0, bias=shifts,
                                         requant=rq(1, 0, out.lo, out.hi))
                    case L.Pad() | L.Resize() | L.ChannelShuffle():  # data movement: the input's scale
                        out = kept(name, in_fmts[0])
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi)
                    case L.Concat():
                        out = fmt_of(name)
                        rqs = []
                        for f in in_fmts:
                            m0, sh = _multiplier(np.array(f.scale / out.scale), pow2)
                            rqs.append(rq(int(m0), int(sh), out.lo, out.hi))
                        q[name] = QLayer(**common, out=out, lo=out.lo, hi=out.hi, concat_rq=tuple(rqs))
                    case _:
                        raise SpecError(f"{L.kind_name(layer)} is not supported by the golden model",
                                        layer=name, line=layer.line)
        except (ValueError, FloatingPointError) as exc:
            # A multiplier out of range: the float activations of the calibration inputs grew
            # (or decayed) beyond what 31-bit requantization represents, e.g. a deep chain.
            ref = stats.get(group[name], 0.0)
            raise DataError(f"layer {name!r}: cannot quantize: {exc} (float activations up to "
                            f"{ref:.3g} on the calibration inputs)") from None
    outs = tuple(dict.fromkeys(head(n) for n in output_names(g)))
    full_alias = {n: head(n) for n in g}
    return QuantizedNetwork(name=g.graph.get("name") or g.name, graph=g, policy=policy,
                            layers=tuple(q.values()), alias=full_alias, input_name=input_name,
                            outputs=outs)


def fold_batchnorm(w: np.ndarray, b: np.ndarray | None, bn: Mapping[str, np.ndarray],
                   eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta`` into conv weights.

    Returns ``(w', b')`` with ``w'[f] = w[f] * k[f]``, ``b' = (b - mean) * k + beta`` and
    ``k = gamma / sqrt(var + eps)``.
    """
    k, b1 = _fold_factors(b, bn, eps, w.shape[0])
    return w * k.reshape((-1,) + (1,) * (w.ndim - 1)), b1


def _fold_factors(b: np.ndarray | None, bn: Mapping[str, np.ndarray], eps: float, f: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(k, b')`` of :func:`fold_batchnorm` (the weights are scaled row by row by ``k``)."""
    k = bn["gamma"] / np.sqrt(bn["var"] + eps)
    b0 = np.zeros(f) if b is None else b
    return k, (b0 - bn["mean"]) * k + bn["beta"]


#: Float weight elements quantized at once (bounds the float64 temporaries: 2 MiB each).
QUANT_BLOCK = 1 << 18


def _quantize_weights(w: np.ndarray, fold: np.ndarray | None, policy: QuantPolicy
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """``(wq, s_w, max |wq|)``: symmetric integer weights, one scale per output channel (row).

    ``w'[f] = w[f] * fold[f]`` (a folded BatchNorm) when ``fold`` is given. Works on blocks of
    rows, so the float temporaries stay small whatever the layer size; every operation is
    per element (or a max), so the result is that of the whole tensor at once.
    """
    pow2 = policy.scale_mode is ScaleMode.POW2
    wmax = (1 << (policy.weight_bits - 1)) - 1
    f = w.shape[0]
    per_row = max(1, w.size // max(f, 1))
    blocks = [(r0, min(r0 + max(1, QUANT_BLOCK // per_row), f))
              for r0 in range(0, f, max(1, QUANT_BLOCK // per_row))]
    bshape = (-1,) + (1,) * (w.ndim - 1)

    def rows(r0: int, r1: int) -> np.ndarray:
        return w[r0:r1] if fold is None else w[r0:r1] * fold[r0:r1].reshape(bshape)

    stat = np.concatenate([np.abs(rows(r0, r1).reshape(r1 - r0, -1)).max(axis=1)
                           for r0, r1 in blocks])
    if not policy.per_channel:
        stat = np.full(f, stat.max())
    s_w = np.array([_scale(float(v), wmax, pow2) for v in stat])
    wq = np.empty(w.shape, dtype=np.int8 if policy.weight_bits <= 8 else np.int16)
    wmax_q = 0
    for r0, r1 in blocks:
        qb = fp.quantize_scaled(rows(r0, r1), s_w[r0:r1].reshape(bshape), -wmax, wmax)
        wmax_q = max(wmax_q, int(np.abs(qb).max(initial=0)))
        wq[r0:r1] = qb
    return wq, s_w, wmax_q


def _quantize_gemm(g, name, node, layer, chain, params, in_fmt, out, act, policy, common, rq):
    """Conv / dense (with a folded BatchNorm) or a stand-alone BatchNorm (per-channel scale)."""
    bn_name = next((c for c in chain if isinstance(g.nodes[c]["layer"], L.BatchNorm)), None)
    if isinstance(layer, L.BatchNorm):
        # y = k x + (beta - mean k): a depthwise 1x1 "GEMM" with K = 1 per channel
        bn = {k: params[f"{name}.{k}"] for k in ("gamma", "beta", "mean", "var")}
        kk = bn["gamma"] / np.sqrt(bn["var"] + layer.eps)
        w, b = kk.reshape(-1, 1), bn["beta"] - bn["mean"] * kk
    else:
        w = params[f"{name}.weight"]
        b = params.get(f"{name}.bias")
    fold = None
    if bn_name is not None:
        bn = {k: params[f"{bn_name}.{k}"] for k in ("gamma", "beta", "mean", "var")}
        fold, b = _fold_factors(b, bn, g.nodes[bn_name]["layer"].eps, w.shape[0])
    given = params.get(f"{name}.weight_scale")
    if given is None:
        wq, s_w, wmax_q = _quantize_weights(w, fold, policy)
    else:
        if fold is not None:
            raise ConfigError(f"layer {name!r}: given weight scales, but batchnorm {bn_name!r} "
                              "folds into it and changes the weights (fold it before "
                              "quantizing the model)")
        wq, s_w, wmax_q = GS.weights(name, w, given, policy.weight_bits,
                                     policy.scale_mode is ScaleMode.POW2, QUANT_BLOCK)
    k = 1 if node["gemm"] is None else node["gemm"].k
    need = fp.acc_bits_for(policy.act_bits, policy.weight_bits, k, bias=b is not None)
    if need > policy.acc_bits:
        raise ConfigError(f"layer {name!r}: a {k}-term dot product of {policy.act_bits}-bit by "
                          f"{policy.weight_bits}-bit values needs a {need}-bit accumulator, "
                          f"more than {policy.acc_bits}")
    bq, bias_sat = None, 0
    if b is not None:
        # Bias range: that of the product sum, so bias + sum fits the accumulator (+1 bit).
        blo, bhi = fp.int_range(max(need - 1, 2))
        raw = fp.round_half_away(b / (in_fmt.scale * s_w))
        bias_sat = int(np.count_nonzero((raw < blo) | (raw > bhi)))
        bq = np.clip(raw, blo, bhi).astype(np.int64)
    m0, sh = _multiplier(in_fmt.scale * s_w / out.scale, policy.scale_mode is ScaleMode.POW2)
    lo, hi = _clamp(out, act)
    return QLayer(**common, out=out, lo=lo, hi=hi, weight=wq, bias=bq, weight_scale=s_w,
                  wmax=wmax_q,
                  requant=rq(m0, sh, lo, hi, act), acc_bits_needed=need, bias_saturated=bias_sat)


def given_format(layer: str, scale: float, policy: QuantPolicy) -> TensorFormat:
    """The format of a tensor with a given scale: 8-bit, ``real = q * scale``, exactly."""
    pow2 = policy.scale_mode is ScaleMode.POW2
    GS.check_pow2(layer, [scale], pow2, "given scale")
    return TensorFormat(scale=scale, bits=policy.act_bits, pow2=pow2)


def calibration_inputs(shape: L.TensorShape, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` seeded random float inputs, uniform in [-1, 1) (used when the user gives none)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=tuple(shape.as_list())) for _ in range(n)]
