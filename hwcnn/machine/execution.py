"""Run a lowered :class:`~hwcnn.compiler.Program` tile by tile on an execution engine.

Every layer of the program is executed the way the accelerator would: a GEMM tile reads its
``m`` im2col rows, its K range and its ``n`` weight columns, the per-channel bias and
requantization parameters of those columns and the layer's output clamp; K-split tiles chain
their int32 partial sums (``acc_in`` / ``acc_out``); a pool tile reads its band of input rows
for its channel group. Results are scattered into the layer's output tensor, which the next
layers read -- the executor never looks at the golden model's tensors.

Engines:

* ``"golden"``: :func:`hwcnn.numerics.golden_ops.gemm_tile` / :func:`~hwcnn.numerics.golden_ops.pool_tile` per
  tile, cycles from the closed forms of :mod:`hwcnn.arch.timing` (fast, whole networks);
* ``"cyclesim"``: the stepped register-level model :mod:`hwcnn.machine.cyclesim`, which measures its
  cycles (slow: small networks and arrays).

Either way each tile's cycle count is checked against the Program's prediction for that tile.

The lowering decides which layers are fused (``LayerPlan.host``); the numbers come from the
:class:`~hwcnn.numerics.quantize.QuantizedNetwork`. Where the lowering fuses an activation that the
quantizer keeps as a separate clamp, the clamps are intersected (``clamp(clamp(y, a), b)`` is
one clamp, under SATURATE and WRAP alike). Anything the hardware cannot compute exactly from
the quantized parameters (a BatchNorm the lowering folds but the quantizer does not, an add
whose inputs need different multipliers) is an :class:`ExecutionError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..arch import timing
from ..compiler.packing import pack_a, pack_b
from ..compiler.plan import GemmTile, LayerPlan, PoolTile, Program, Unit
from ..compiler.qparams import (
    PoolParams,
    gemm_b,
    gemm_columns,
    output_clamp,
    pool_params,
    tile_qlayer,
)
from ..errors import ConfigError
from ..frontend import layers as L
from ..numerics import fixedpoint as fp
from ..numerics import golden_ops as G
from ..numerics.golden import check_input
from ..numerics.golden_act import run_host
from ..numerics.golden_ops import Requant
from ..numerics.quantize import QLayer, QuantizedNetwork
from . import cyclesim, poolsim
from .results import CycleMismatch, Engine, Execution, ExecutionError, LayerExecution

# -- operand gathering (module-level so tests can corrupt one tile on purpose) ------------------

@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class GemmLayerData:
    """Full operands of a GEMM layer: ``a`` (groups, M, K), ``b`` (groups, K, N), per output
    channel ``bias``/``m0``/``shift`` (length groups*N), clamp and overflow of the output."""

    a: np.ndarray
    b: np.ndarray
    bias: np.ndarray
    m0: np.ndarray
    shift: np.ndarray
    lo: int
    hi: int
    bits: int
    rounding: fp.Rounding
    mode: fp.Overflow


def gather_gemm(d: GemmLayerData, t: GemmTile) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          Requant]:
    """Operands of one GEMM tile: ``A[m0:m0+m, k0:k0+k]``, ``B[k0:k0+k, n0:n0+n]`` of its
    group, the bias and requantization of output channels ``group*N + n0 ..``."""
    n_total = d.b.shape[2]
    a = d.a[t.group, t.m0:t.m0 + t.m, t.k0:t.k0 + t.k]
    b = d.b[t.group, t.k0:t.k0 + t.k, t.n0:t.n0 + t.n]
    f0 = t.group * n_total + t.n0
    ch = slice(f0, f0 + t.n)
    rq = Requant(m0=d.m0[ch].copy(), shift=d.shift[ch].copy(), lo=d.lo, hi=d.hi, bits=d.bits,
                 rounding=d.rounding, mode=d.mode)
    return a, b, d.bias[ch].copy(), rq


def gather_pool(src: np.ndarray, t: PoolTile) -> np.ndarray:
    """Input band of one pool tile: channels ``c0..``, rows ``iy0 .. iy0+in_h`` of the 2-D map."""
    return src[t.c0:t.c0 + t.channels, t.iy0:t.iy0 + t.in_h, :]


# -- engines -------------------------------------------------------------------------------------

def _run_gemm(engine: Engine, hw_arr, a, b, bias, rq: Requant, acc_in, acc_out: bool
              ) -> tuple[np.ndarray, int]:
    m, k = a.shape
    n = b.shape[1]
    if engine is Engine.CYCLESIM:
        return cyclesim.run_gemm_tile(a, b, bias, rq, hw_arr, acc_in=acc_in, acc_out=acc_out)
    base = bias if acc_in is None else acc_in   # partial sums replace the bias
    cyc = timing.gemm_tile_cycles(m, n, k, hw_arr)
    if acc_out:
        return G.gemm_acc(a, b, base, hw_arr.acc_bits), cyc
    return G.gemm_tile(a, b, base, rq.m0, rq.shift, rq.lo, rq.hi, rq.rounding,
                       acc_bits=hw_arr.acc_bits, mode=rq.mode, bits=rq.bits), cyc


def _run_pool(engine: Engine, hw_arr, band: np.ndarray, t: PoolTile, p: PoolParams
              ) -> tuple[np.ndarray, int]:
    (wh, ww), (sy, sx), (pt, pl) = t.win, t.stride, t.pad
    if engine is Engine.CYCLESIM:
        return poolsim.run_pool_tile(band, p.op, win=t.win, stride=t.stride, pad=t.pad,
                                      out_hw=(t.out_h, t.out_w), array=hw_arr, lo=p.lo,
                                      hi=p.hi, m0=p.m0, shift=p.shift, rounding=p.rounding,
                                      wrap=p.mode is fp.Overflow.WRAP, count_pad=t.count_pad,
                                      pad_far=t.pad_far)
    ch, in_h, in_w = band.shape
    ys = (np.arange(t.out_h)[:, None, None, None] * sy - pt
          + np.arange(wh)[None, None, :, None])
    xs = (np.arange(t.out_w)[None, :, None, None] * sx - pl
          + np.arange(ww)[None, None, None, :])
    ys, xs = np.broadcast_arrays(ys, xs)
    valid = (ys >= 0) & (ys < in_h) & (xs >= 0) & (xs < in_w)
    vals = band[:, np.clip(ys, 0, in_h - 1), np.clip(xs, 0, in_w - 1)]
    e = wh * ww
    count = None
    if t.count_pad:     # count_include_pad: the taps inside the padded input
        inpad = (ys < in_h + t.pad_far[0]) & (xs < in_w + t.pad_far[1])
        count = np.broadcast_to(inpad.reshape(1, -1, e).sum(axis=2),
                                (ch, t.out_h * t.out_w)).reshape(-1)
    vals = vals.reshape(-1, e)
    ok = np.broadcast_to(valid.reshape(1, -1, e), (ch, t.out_h * t.out_w, e)).reshape(-1, e)
    if p.op is L.PoolOp.SUM and (p.rounding is not fp.Rounding.HALF_UP
                                 or p.mode is not fp.Overflow.SATURATE):
        # pool_tile's SUM is the default HALF_UP/SATURATE requantizer; the vector unit's
        # descriptor also carries the rounding and WRAP (rtl/README.md 4).
        s = fp.wrap(np.where(ok, vals, 0).sum(axis=1), hw_arr.acc_bits)
        y = fp.requantize(s, p.m0, p.shift, p.lo, p.hi, rounding=p.rounding, mode=p.mode,
                          bits=hw_arr.act_bits)
    else:
        y = G.pool_tile(vals, ok, p.op, lo=p.lo, hi=p.hi, m0=p.m0, shift=p.shift,
                        acc_bits=hw_arr.acc_bits, count=count)
    return y.reshape(ch, t.out_h, t.out_w), timing.pool_tile_cycles(t.out_h, t.out_w, wh, ww,
                                                                    hw_arr)


# -- the program walk ----------------------------------------------------------------------------

def execute(program: Program, qnet: QuantizedNetwork, x: np.ndarray,
            engine: Engine | str = Engine.GOLDEN) -> Execution:
    """Execute every tile of ``program`` for ``qnet`` on the integer input image ``x``.

    Parameters
    ----------
    program : Program
        From :func:`hwcnn.compiler.lower` on ``qnet.graph``.
    qnet : QuantizedNetwork
        The integer parameters (weights, biases, requantization, clamps).
    x : int array
        One input image in the network's input format.
    engine : Engine or "golden" / "cyclesim"

    Raises
    ------
    ExecutionError
        When the lowering and the quantized network disagree in a way no tile can compute.
    """
    engine = Engine(engine)
    arr = program.hw.array
    pol = qnet.policy
    if (arr.act_bits, arr.weight_bits, arr.acc_bits) != (pol.act_bits, pol.weight_bits,
                                                         pol.acc_bits):
        raise ConfigError(f"the array computes int{arr.act_bits} x int{arr.weight_bits} -> "
                          f"int{arr.acc_bits}, the network is quantized to int{pol.act_bits} x "
                          f"int{pol.weight_bits} -> int{pol.acc_bits}")
    g = qnet.graph
    x = check_input(qnet, x)
    plans = program.layers
    host = {p.name: (p.host or p.name) for p in plans}
    tail: dict[str, str] = {}
    for p in plans:
        tail[host[p.name]] = p.name
    fused: dict[str, list[str]] = {}
    for p in plans:
        if p.unit == Unit.FUSED:
            fused.setdefault(host[p.name], []).append(p.name)
    val: dict[str, np.ndarray] = {}
    wr: dict[str, np.ndarray] = {}
    out: list[LayerExecution] = []
    for plan in plans:
        name, layer = plan.name, plan.layer
        shape = tuple(g.nodes[name]["out_shape"].as_list())
        h = host[name]
        cyc = pred = 0
        cmis: CycleMismatch | None = None
        if plan.unit in (Unit.ARRAY, Unit.POOL):
            ql = tile_qlayer(qnet, name)
            lo, hi = output_clamp(qnet, ql, fused.get(name, ()))
            ins = [val[u] for u in layer.inputs]
            if plan.unit == Unit.ARRAY:
                res, w, cycles = _gemm_layer(engine, program, plan, ql, ins, lo, hi, shape,
                                             g.nodes[name]["in_shapes"][0])
            else:
                res, w, cycles = _pool_layer(engine, program, plan, qnet, ql, ins, lo, hi,
                                             shape)
            pred = int(plan.cycles.sum())
            cyc = int(sum(cycles))
            for i, (c, pc) in enumerate(zip(cycles, plan.cycles.tolist())):
                if c != pc:
                    cmis = CycleMismatch(layer=name, tile=i, predicted=int(pc), measured=int(c))
                    break
        else:
            res, w = _free_layer(plan, x, val, wr, shape, qnet)
        val[name], wr[name] = res, w
        out.append(LayerExecution(name=name, unit=plan.unit, host=h, represents=tail[h],
                                  tiles=plan.tiles, cycles=cyc, predicted_cycles=pred,
                                  cycle_mismatch=cmis, output=res, writer=w))
    return Execution(engine=engine, layers=tuple(out))


def _gemm_layer(engine: Engine, program: Program, plan: LayerPlan, ql: QLayer,
                ins: list[np.ndarray], lo: int, hi: int, shape: tuple[int, ...],
                in_node: L.TensorShape) -> tuple[np.ndarray, np.ndarray, list[int]]:
    layer = plan.layer
    arr = program.hw.array
    x = ins[0].astype(np.int64)
    assert ql.weight is not None and ql.requant is not None
    match layer:
        case L.Conv(groups=groups):
            assert ql.window is not None
            in_shape = tuple(in_node.as_list())
            a = G.im2col(x.reshape(in_shape), ql.window, groups)
        case L.Dense():
            a = x.reshape(1, 1, -1)
        case L.BatchNorm():
            a = x.reshape(ql.weight.shape[0], -1, 1)
        case _:
            raise TypeError(f"not a GEMM layer: {layer!r}")
    a, b = pack_a(a, plan.pack), pack_b(gemm_b(layer, ql.weight), plan.pack)
    groups_, m_total, _ = a.shape
    n_total = b.shape[2]
    f = groups_ * n_total
    rq = ql.requant
    bias, m0, shift = gemm_columns(ql, f)
    d = GemmLayerData(
        a=np.ascontiguousarray(a, dtype=np.int64), b=np.ascontiguousarray(b, dtype=np.int64),
        bias=bias, m0=m0, shift=shift,
        lo=lo, hi=hi, bits=rq.bits, rounding=rq.rounding, mode=rq.mode)
    res = np.zeros((groups_, m_total, n_total), np.int64)
    writer = np.full(res.shape, -1, np.int64)
    partial: dict[tuple[int, int, int], np.ndarray] = {}
    cycles: list[int] = []
    for t in plan.make_tiles():
        assert isinstance(t, GemmTile)
        a_t, b_t, bias_t, rq_t = gather_gemm(d, t)
        key = (t.group, t.m0, t.n0)
        acc_in = partial.pop(key) if t.acc_in else None
        if t.acc_in and acc_in is None:
            raise ExecutionError(f"layer {plan.name!r} tile {t.index}: acc_in without a "
                                 "preceding acc_out tile")
        y, c = _run_gemm(engine, arr, a_t, b_t, bias_t, rq_t, acc_in, t.acc_out)
        cycles.append(int(c))
        if t.acc_out:
            partial[key] = y
        else:
            res[t.group, t.m0:t.m0 + t.m, t.n0:t.n0 + t.n] = y
            writer[t.group, t.m0:t.m0 + t.m, t.n0:t.n0 + t.n] = t.index
    if partial:
        raise ExecutionError(f"layer {plan.name!r}: K-split chain never finished")
    # (groups, M, N) -> channels-first (groups*N, M) -> the layer's output shape.
    res = res.transpose(0, 2, 1).reshape(f, m_total).reshape(shape)
    writer = writer.transpose(0, 2, 1).reshape(f, m_total).reshape(shape)
    return res, writer, cycles


def _pool_map(plan: LayerPlan, ins: list[np.ndarray], in_shape: L.TensorShape,
              ) -> np.ndarray:
    """The layer's input viewed as the vector unit's ``(C, H, W)`` map (lower.py's geometry)."""
    c = in_shape.channels
    sp = in_shape.spatial
    match plan.layer:
        case L.Add():
            p = math.prod(sp)
            return np.stack([v.reshape(c, p) for v in ins], axis=-1)
        case L.Activation():
            return ins[0].reshape(c, math.prod(sp), 1)
        case L.GlobalAvgPool():
            return ins[0].reshape(c, math.prod(sp[:-1]), sp[-1])
        case L.Pool():
            if len(sp) == 1:
                return ins[0].reshape(c, 1, sp[0])
            if len(sp) == 2:
                return ins[0].reshape(c, *sp)
            raise ExecutionError(f"layer {plan.name!r}: {len(sp)}-D pooling (several pool "
                                 "passes) is not executed tile by tile")
    raise TypeError(f"not a pool-unit layer: {plan.layer!r}")


def _pool_layer(engine: Engine, program: Program, plan: LayerPlan, qnet: QuantizedNetwork,
                ql: QLayer, ins: list[np.ndarray], lo: int, hi: int, shape: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    arr = program.hw.array
    g = qnet.graph
    layer = plan.layer
    src = _pool_map(plan, [v.astype(np.int64) for v in ins],
                    g.nodes[plan.name]["in_shapes"][0]).astype(np.int64)
    p = pool_params(plan.name, layer, ql, lo, hi)
    c = src.shape[0]
    size = math.prod(shape) // c
    tiles = [t for t in plan.make_tiles() if isinstance(t, PoolTile)]
    if len(tiles) != plan.tiles:
        raise TypeError(f"layer {plan.name!r}: a pool-unit layer with GEMM tiles")
    out_w = tiles[0].out_w if tiles else 1
    res = np.zeros((c, size // out_w, out_w), np.int64)
    writer = np.full(res.shape, -1, np.int64)
    cycles: list[int] = []
    for t in tiles:
        y, cyc = _run_pool(engine, arr, gather_pool(src, t), t, p)
        cycles.append(int(cyc))
        res[t.c0:t.c0 + t.channels, t.oy0:t.oy0 + t.out_h, :] = y
        writer[t.c0:t.c0 + t.channels, t.oy0:t.oy0 + t.out_h, :] = t.index
    return res.reshape(shape), writer.reshape(shape), cycles


def _free_layer(plan: LayerPlan, x: np.ndarray, val: Mapping[str, np.ndarray],
                wr: Mapping[str, np.ndarray], shape: tuple[int, ...], qnet: QuantizedNetwork
                ) -> tuple[np.ndarray, np.ndarray]:
    """Layers without tiles: the input, identities on the stored tensor, concat, host softmax."""
    layer = plan.layer
    match layer:
        case L.Input():
            return x.reshape(shape), np.full(shape, -1, np.int64)
        case (L.Nonlinear() | L.Pad() | L.Resize() | L.ChannelShuffle() | L.Mul()
              | L.AdaptiveAvgPool() | L.Pool() | L.LRN()):
            # host layers: the CPU applies the golden look-up table / product / average /
            # data movement (a Pool here is one the vector unit cannot do)
            ql = qnet.by_name[plan.name]
            node = qnet.graph.nodes[plan.name]
            ins = [val[u].reshape(s.as_list()) for u, s in zip(layer.inputs, node["in_shapes"])]
            y, _ = run_host(layer, node, ins, ql.weight, ql.out.bits, ql.requant, ql.bias)
            return y.reshape(shape), np.full(shape, -1, np.int64)
        case L.GlobalAvgPool():
            # an average over more taps than the vector unit's reciprocal table: the host
            # computes the golden average
            ql = qnet.by_name[plan.name]
            return (G.global_avg_pool(val[layer.inputs[0]], ql.lo, ql.hi).reshape(shape),
                    np.full(shape, -1, np.int64))
        case L.Concat():
            # Producers write side by side; the quantizer gives all inputs the output's scale.
            return (np.concatenate([val[u] for u in layer.inputs], axis=0).reshape(shape),
                    np.concatenate([wr[u] for u in layer.inputs], axis=0).reshape(shape))
        case _:
            # fused, flatten, dropout, softmax (integer logits, as the golden model): the value
            # is the stored tensor of the input, reshaped.
            u = layer.inputs[0]
            return val[u].reshape(shape), wr[u].reshape(shape)
