"""Whole networks, tile by tile, on the stepped hardware model and the golden kernels: every
layer bit-exact with the golden network, every tile on its predicted cycle count."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn import compiler as LW
from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.errors import ConfigError
from hwcnn.machine import execution as EX
from hwcnn.machine.verification import verify
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.quantize import calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights
from tests.conftest import graph_of, model_graph

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY


def hw(df: Dataflow, r: int = 4, c: int = 4, kib: int = 64, drain: int = 1) -> HardwareConfig:
    return HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df, drain_rows=drain),
                          memory=MemoryConfig(act_kib=kib, weight_kib=kib, out_kib=kib))


def setup(g, seed: int = 0):  # type: ignore[no-untyped-def]
    shape = g.nodes["input"]["out_shape"]
    q = quantize_network(g, init_weights(g, seed), calibration_inputs(shape, 2, seed))
    x = quantize_input(q, calibration_inputs(shape, 1, seed + 1)[0])
    return q, x


def check(g, h: HardwareConfig, engine: str = "cyclesim", seed: int = 0):  # type: ignore[no-untyped-def]
    q, x = setup(g, seed)
    prog = LW.lower(g, h)
    res = verify(prog, q, x, engine)
    assert res.first_mismatch is None, str(res.first_mismatch)
    assert res.first_cycle_mismatch is None, res.first_cycle_mismatch
    assert res.ok
    for c, p in zip(res.layers, prog.layers):
        assert c.match and c.cycles == c.predicted_cycles == int(p.cycles.sum()), c
        assert c.tiles == p.tiles
    # Not vacuous: the network's output is not all one value.
    out = run_network(q, x).tensor(q, res.layers[-1].represents)
    assert len(np.unique(out)) > 1
    return prog, res


ARRAYS = [(4, 4, WS), (4, 4, OS), (3, 2, WS), (3, 2, OS)]


@pytest.mark.parametrize("r, c, df", ARRAYS)
def test_tiny_cnn_cyclesim(r: int, c: int, df: Dataflow) -> None:
    _, res = check(model_graph("tiny_cnn"), hw(df, r, c))
    if (r, c) == (4, 4):
        # conv1: M=64, N=4, K=9. WS: 3 K-folds, P = max(64, 32+3, 3) = 64, last fold
        # 64+8+4+3 = 79 -> 1 + 2*64 + 79 = 208; OS: 16 M-folds, P = max(4*ceil(9/4), 4) = 12
        # (three activation words per row), last fold 9+4+4+3 = 20 -> 1 + 15*12 + 20 = 201.
        conv1 = next(x for x in res.layers if x.name == "conv1")
        assert conv1.cycles == (208 if df is WS else 201)


@pytest.mark.parametrize("r, c, df", [
    pytest.param(4, 4, OS),
    pytest.param(4, 4, WS, marks=pytest.mark.slow),     # ~7 s
    pytest.param(3, 2, WS, marks=pytest.mark.slow),     # ~13 s
    pytest.param(3, 2, OS, marks=pytest.mark.slow)])
def test_lenet5_cyclesim(r: int, c: int, df: Dataflow) -> None:
    check(model_graph("lenet5"), hw(df, r, c))


@pytest.mark.parametrize("df", [OS, pytest.param(WS, marks=pytest.mark.slow)])
def test_small_buffers_k_split_and_pool_bands(df: Dataflow) -> None:
    """1 KiB memories: lenet5's dense layers need K-split chains, its pools several bands."""
    prog, _ = check(model_graph("lenet5"), hw(df, 4, 4, kib=1))
    tiles = list(prog.tiles())
    chained = {t.layer for t in tiles if isinstance(t, LW.GemmTile) and t.acc_in}
    banded = {t.layer for t in tiles if isinstance(t, LW.PoolTile) and t.oy0 > 0}
    assert "c5" in chained
    assert {"s2"} <= banded


RESIDUAL = """name: residual
input: [4, 6, 6]
layers:
  - {name: c1, kind: conv2d, filters: 4, kernel: 3, padding: 1, bias: false}
  - {name: bn1, kind: batchnorm}
  - {name: r1, kind: relu}
  - {name: c2, kind: conv2d, filters: 4, kernel: 3, padding: 1}
  - {name: bn2, kind: batchnorm}
  - {name: add, kind: add, inputs: [bn2, input]}
  - {name: r2, kind: relu}
  - {name: dw, kind: conv2d, filters: 4, kernel: 3, groups: 4, padding: 1, activation: relu}
  - {name: bn3, kind: batchnorm}
  - {name: r3, kind: relu}
  - {name: ap, kind: avgpool, kernel: 2, stride: 2}
  - {name: r4, kind: relu}
  - {name: mp, kind: maxpool, kernel: 2, padding: 1}
  - {name: r5, kind: relu}
  - {name: gp, kind: global_avgpool}
  - {name: f, kind: flatten}
  - {name: d, kind: dense, units: 5}
"""


@pytest.mark.parametrize("r, c, df", ARRAYS)
def test_residual_batchnorm_depthwise_cyclesim(r: int, c: int, df: Dataflow) -> None:
    """conv-bn-relu, conv-bn, add with the input (+relu), a depthwise conv, a stand-alone
    batchnorm (depthwise 1x1 GEMM) with its relu, relu after avg pool (the lowering's clamp,
    the quantizer's separate layer), relu after a padded max pool (a 1x1 pool tile)."""
    g = graph_of(RESIDUAL)
    prog, _ = check(g, hw(df, r, c))
    units = {p.name: p.unit for p in prog.layers}
    assert units["bn1"] == units["bn2"] == units["r1"] == units["r2"] == LW.Unit.FUSED
    assert units["add"] == units["r5"] == LW.Unit.POOL
    assert units["bn3"] == LW.Unit.ARRAY and units["r3"] == units["r4"] == LW.Unit.FUSED
    # the depthwise conv's groups packed per GEMM (as many as the columns hold): its tiles
    # cover the 4 output channels
    dw = next(p for p in prog.layers if p.name == "dw")
    assert dw.pack == min(4, c)
    chans = {t.group * dw.pack + t.n0 + j for t in dw.make_tiles() for j in range(t.n)}
    assert chans == {0, 1, 2, 3}


def test_batchnorm_fold_follows_the_quantizer() -> None:
    """A BatchNorm after a dropout, or a second BatchNorm, is not folded by the quantizer
    (it folds only a BatchNorm that directly follows a conv/dense); the lowering used to fold
    both into the conv, which no integer tile can compute. Now both run as 1x1 GEMMs."""
    g = graph_of("""name: bn
input: [2, 5, 5]
layers:
  - {name: c1, kind: conv2d, filters: 3, kernel: 3}
  - {name: bn1, kind: batchnorm}
  - {name: bn2, kind: batchnorm}
  - {name: c2, kind: conv2d, filters: 3, kernel: 1}
  - {name: dr, kind: dropout}
  - {name: bn3, kind: batchnorm}
  - {name: f, kind: flatten}
  - {name: d, kind: dense, units: 4}
""")
    prog, _ = check(g, hw(WS))
    units = {p.name: p.unit for p in prog.layers}
    assert units["bn1"] == LW.Unit.FUSED
    assert units["bn2"] == units["bn3"] == LW.Unit.ARRAY


@pytest.mark.parametrize("df", [WS, OS])
def test_squeezenet_golden_engine(df: Dataflow) -> None:
    """Concat (fire modules), 1x1/3x3 convs, ceil-mode max pools, global average: the golden
    kernels per tile on a 16x16 array."""
    check(model_graph("squeezenet1_1"), hw(df, 16, 16), engine="golden")


@pytest.mark.slow
@pytest.mark.parametrize("df", [WS, OS])
def test_resnet18_golden_engine(df: Dataflow) -> None:
    check(model_graph("resnet18"), hw(df, 16, 16), engine="golden")


def test_corrupted_gemm_operands_are_located(monkeypatch: pytest.MonkeyPatch) -> None:
    """Corrupt the bias of one fc tile: the report names fc, that tile and the first output
    of the tile whose golden value is not the corrupted (saturated) one."""
    g = model_graph("tiny_cnn")
    q, x = setup(g)
    prog = LW.lower(g, hw(WS, 3, 2, kib=64))
    fc_tiles = [t for t in prog.tiles() if t.layer == "fc"]
    real = EX.gather_gemm

    def corrupt(d, t):  # type: ignore[no-untyped-def]
        a, b, bias, rq = real(d, t)
        if t.layer == "fc" and t.index == len(fc_tiles) - 1:
            bias = bias - 10 ** 7        # every output of the tile saturates to -128
        return a, b, bias, rq

    monkeypatch.setattr(EX, "gather_gemm", corrupt)
    res = verify(prog, q, x, "golden")
    assert not res.ok
    mis = res.first_mismatch
    assert mis is not None and mis.layer == "fc" and mis.tile == len(fc_tiles) - 1
    gold = run_network(q, x).tensor(q, "fc")
    t = fc_tiles[-1]
    cols = [j for j in range(t.n0, t.n0 + t.n) if gold[j] != -128]
    assert mis.coordinate == (cols[0],)
    assert (mis.expected, mis.actual) == (int(gold[cols[0]]), -128)
    assert [c.name for c in res.layers if not c.match] == ["fc"]
    assert "layer 'fc' tile" in str(mis) and f"[{cols[0]}]" in str(mis)


def test_corrupted_pool_band_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    """Corrupt channel 0 of the second band of lenet5's first avg pool (1 KiB buffers split
    it): every output of that band's channel 0 is then -5 where golden (after a ReLU) is >= 0,
    so the first mismatch is at (0, oy0, 0) of that tile."""
    g = model_graph("lenet5")
    q, x = setup(g)
    prog = LW.lower(g, hw(OS, 4, 4, kib=1))
    pool = [t for t in prog.tiles() if t.layer == "s2"]
    second = next(t for t in pool if t.oy0 > 0 and t.c0 == 0)
    real = EX.gather_pool

    def corrupt(src, t):  # type: ignore[no-untyped-def]
        band = real(src, t)
        if t.layer == "s2" and t.index == second.index:
            band = band.copy()
            band[0] = -5
        return band

    monkeypatch.setattr(EX, "gather_pool", corrupt)
    res = verify(prog, q, x, "golden")
    mis = res.first_mismatch
    assert mis is not None
    gold = run_network(q, x).tensor(q, "s2")
    assert (mis.layer, mis.tile, mis.coordinate) == ("s2", second.index, (0, second.oy0, 0))
    assert (mis.expected, mis.actual) == (int(gold[0, second.oy0, 0]), -5)
    assert res.first_cycle_mismatch is None


def test_add_with_unequal_multipliers_is_refused() -> None:
    """The vector unit applies one multiplier to a sum; a quantized add whose inputs need
    different ones cannot run there and must say so (not silently compute something)."""
    import dataclasses

    g = graph_of(RESIDUAL)
    q, x = setup(g)
    add = q.by_name["add"]
    bad = dataclasses.replace(add, add_m0=(add.add_m0[0], add.add_m0[0] + 1))
    layers = tuple(bad if ql.name == "add" else ql for ql in q.layers)
    q2 = dataclasses.replace(q, layers=layers)
    with pytest.raises(EX.ExecutionError, match="add 'add'.*different multipliers"):
        EX.execute(LW.lower(g, hw(WS)), q2, x, "golden")


@pytest.mark.parametrize("scales, rounding, per_channel", [
    ("pow2", "half_even", True), ("real", "truncate", False), ("real", "half_away", True)])
def test_other_quantization_policies(scales: str, rounding: str, per_channel: bool) -> None:
    """Power-of-two scales, per-tensor weights and every rounding mode reach the tiles: the
    GEMM requantizer and the vector unit's SUM (the add) take the policy's rounding."""
    from hwcnn.numerics.fixedpoint import Rounding
    from hwcnn.numerics.quantize import QuantPolicy, ScaleMode

    g = graph_of(RESIDUAL)
    shape = g.nodes["input"]["out_shape"]
    pol = QuantPolicy(scale_mode=ScaleMode(scales), rounding=Rounding(rounding),
                      per_channel=per_channel)
    q = quantize_network(g, init_weights(g, 3), calibration_inputs(shape, 2, 3), pol)
    x = quantize_input(q, calibration_inputs(shape, 1, 4)[0])
    for df in (WS, OS):
        res = verify(LW.lower(g, hw(df)), q, x, "cyclesim")
        assert res.ok, (str(res.first_mismatch), res.first_cycle_mismatch)


MIXED = """name: mixed
input: [3, 8, 8]
layers:
  - {name: r0, kind: relu}
  - {name: c1, kind: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu6}
  - {name: r1, kind: relu}
  - {name: c2, kind: conv2d, filters: 2, kernel: 1, inputs: [r0]}
  - {name: cat, kind: concat, inputs: [r1, c2]}
  - {name: r2, kind: relu}
  - {name: sp, kind: sumpool, kernel: 2}
  - {name: f, kind: flatten}
  - {name: d1, kind: dense, units: 6}
  - {name: dr, kind: dropout}
  - {name: r3, kind: relu}
  - {name: d2, kind: dense, units: 3}
  - {name: sm, kind: softmax}
"""


@pytest.mark.parametrize("r, c, df", [(4, 4, WS), (3, 2, OS)])
def test_concat_sumpool_softmax_and_unfused_relus(r: int, c: int, df: Dataflow) -> None:
    """Relu after the input / after a concat (1x1 pool tiles), a second relu after a conv's
    own relu6 and a relu after dropout (the lowering's clamp, the quantizer's own layer: the
    clamps intersect), a sum pool (requantized on the vector unit), concat and host softmax."""
    g = graph_of(MIXED)
    prog, _ = check(g, hw(df, r, c))
    units = {p.name: p.unit for p in prog.layers}
    assert units["r0"] == units["r2"] == units["sp"] == LW.Unit.POOL
    assert units["r1"] == units["r3"] == LW.Unit.FUSED
    assert units["cat"] == units["f"] == units["dr"] == LW.Unit.FREE
    assert units["sm"] == LW.Unit.HOST


@pytest.mark.slow
@pytest.mark.parametrize("df", [WS, OS])
def test_mobilenet_v2_golden_engine(df: Dataflow) -> None:
    """Depthwise convs, relu6 clamps, linear bottlenecks and residual adds (~5 s each)."""
    check(model_graph("mobilenet_v2"), hw(df, 16, 16), engine="golden")


def test_cycle_mismatch_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile taking one cycle more than predicted is reported (layer, tile, both counts)
    even when every value matches."""
    g = model_graph("tiny_cnn")
    q, x = setup(g)
    prog = LW.lower(g, hw(WS, 3, 2))
    real = EX._run_gemm
    seen = {"n": 0}

    def slow(*args):  # type: ignore[no-untyped-def]
        y, c = real(*args)
        seen["n"] += 1
        return y, c + (1 if seen["n"] == 2 else 0)   # the 2nd GEMM tile of the program

    monkeypatch.setattr(EX, "_run_gemm", slow)
    res = verify(prog, q, x, "cyclesim")
    assert res.first_mismatch is None and not res.ok
    second = [t for t in prog.tiles() if isinstance(t, LW.GemmTile)][1]
    cm = res.first_cycle_mismatch
    assert cm is not None and (cm.layer, cm.tile) == (second.layer, second.index)
    assert cm.measured == cm.predicted + 1
    p = next(p for p in prog.layers if p.name == second.layer)
    assert cm.predicted == int(p.cycles[second.index])


def test_array_and_network_widths_must_agree() -> None:
    g = model_graph("tiny_cnn")
    q, x = setup(g)
    h = HardwareConfig(array=ArrayConfig(rows=4, cols=4, act_bits=6))
    with pytest.raises(ConfigError, match="int6 x int8"):
        EX.execute(LW.lower(g, h), q, x)


AVG_CONVENTIONS = """
name: avgconv
input: [3, 9, 9]
layers:
  - {name: c1, kind: conv2d, filters: 5, kernel: 3, padding: 1, activation: relu}
  - {name: incl, kind: avgpool, kernel: 3, stride: 2, padding: 1, count_include_pad: true}
  - {name: ceil, kind: avgpool, kernel: 2, stride: 2, ceil_mode: true, count_include_pad: true,
     inputs: [c1]}
  - {name: valid, kind: avgpool, kernel: 3, stride: 2, padding: 1, inputs: [c1]}
  - {name: a, kind: add, inputs: [incl, valid]}
  - {name: big, kind: global_avgpool, inputs: [ceil]}
  - {name: fc, kind: dense, units: 3, inputs: [a]}
"""


@pytest.mark.parametrize("engine", ["cyclesim", "golden"])
@pytest.mark.parametrize("r, c, df", [(4, 4, WS), (3, 2, OS)])
def test_both_average_conventions_on_the_vector_unit(engine: str, r: int, c: int,
                                                     df: Dataflow) -> None:
    """count_include_pad averages (with padding, and ceil mode whose last window hangs past
    the input) run on the vector unit next to valid-tap averages; every layer equals the
    golden network (avg_include_pad divides by the taps inside the padded input)."""
    g = graph_of(AVG_CONVENTIONS)
    prog, _ = check(g, hw(df, r, c), engine=engine)
    units = {p.name: p.unit for p in prog.layers}
    assert units["incl"] == units["ceil"] == units["valid"] == units["big"] == LW.Unit.POOL
    tiles = {p.name: list(p.make_tiles()) for p in prog.layers}
    assert all(t.count_pad and t.pad_far == (1, 1) for t in tiles["incl"])
    assert all(t.count_pad and t.pad_far == (0, 0) for t in tiles["ceil"])
    assert not any(t.count_pad for t in tiles["valid"])


def test_average_beyond_the_reciprocal_table_runs_on_the_host() -> None:
    """A global average over 17 x 17 = 289 > 256 taps, and a 17x17 average pool, have no
    entry in the vector unit's reciprocal table: host layers, still equal to the golden
    network; a 16 x 16 = 256-tap average stays on the vector unit."""
    g = graph_of("""
name: bigavg
input: [2, 17, 17]
layers:
  - {name: c1, kind: conv2d, filters: 3, kernel: 1}
  - {name: g, kind: global_avgpool}
  - {name: ap, kind: avgpool, kernel: 17, inputs: [c1]}
  - {name: a16, kind: avgpool, kernel: 16, inputs: [c1]}
  - {name: cat, kind: concat, inputs: [g, ap]}
  - {name: fc, kind: dense, units: 3, inputs: [cat]}
""")
    prog, _ = check(g, hw(WS, 4, 4))
    units = {p.name: p.unit for p in prog.layers}
    assert units["g"] == units["ap"] == LW.Unit.HOST
    assert units["a16"] == LW.Unit.POOL
