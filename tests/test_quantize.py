"""Quantization of networks: weights files, BatchNorm folding, scales, multipliers, clamps."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hwcnn.errors import ConfigError, DataError
from hwcnn.frontend.spec import parse_spec
from hwcnn.graph.build import build_graph
from hwcnn.numerics import golden
from hwcnn.numerics.fixedpoint import round_half_away
from hwcnn.numerics.floatref import run_float
from hwcnn.numerics.quantize import (
    Calibration,
    QuantPolicy,
    ScaleMode,
    calibration_inputs,
    fold_batchnorm,
    quantize_network,
)
from hwcnn.numerics.weights import (
    check_params,
    expected_shapes,
    init_weights,
    load_input,
    load_weights,
)

MIXED = """
name: mixed
input: [3, 9, 9]
layers:
  - {name: c1, kind: conv2d, filters: 8, kernel: 3, padding: 1, bias: false}
  - {name: bn1, kind: batchnorm}
  - {name: r1, kind: relu6}
  - {name: c2, kind: conv2d, filters: 8, kernel: 3, padding: 1, groups: 8}
  - {name: c3, kind: conv2d, filters: 8, kernel: 1, inputs: [r1]}
  - {name: sum, kind: add, inputs: [c2, c3]}
  - {name: r2, kind: relu}
  - {name: e1, kind: conv2d, filters: 4, kernel: 1, activation: relu}
  - {name: e2, kind: conv2d, filters: 6, kernel: 3, padding: 1, inputs: [r2]}
  - {name: cat, kind: concat, inputs: [e1, e2]}
  - {name: sp, kind: sumpool, kernel: 2, ceil_mode: true}
  - {name: ap, kind: avgpool, kernel: 3, stride: 2, padding: 1}
  - {name: gap, kind: global_avgpool}
  - {name: flat, kind: flatten}
  - {name: fc, kind: dense, units: 5}
  - {name: drop, kind: dropout}
  - {name: prob, kind: softmax}
"""


@pytest.fixture(scope="module")
def mixed():
    g = build_graph(parse_spec(MIXED))
    params = init_weights(g, seed=3)
    calib = calibration_inputs(g.nodes["input"]["out_shape"], 3, seed=1)
    return g, params, calib, quantize_network(g, params, calib)


def test_policy_rejects_unsupported_widths() -> None:
    for bits in (1, 17, 32, 40):
        with pytest.raises(ConfigError, match="unsupported activation width"):
            QuantPolicy(act_bits=bits)
        with pytest.raises(ConfigError, match="unsupported weight width"):
            QuantPolicy(weight_bits=bits)
    with pytest.raises(ConfigError, match="accumulator"):
        QuantPolicy(acc_bits=48)


def test_accumulator_too_narrow_is_an_error() -> None:
    g = build_graph(parse_spec("name: w\ninput: [512, 9, 9]\nlayers:\n"
                               "  - {name: c, kind: conv2d, filters: 2, kernel: 3}\n"))
    params = init_weights(g)
    calib = calibration_inputs(g.nodes["input"]["out_shape"], 1)
    with pytest.raises(ConfigError, match="needs a 37-bit accumulator"):
        # K = 4608 terms of 12 x 12 bits: 4608 * 2**22 ~ 2**34.2 -> 36 bits, + 1 for the bias
        quantize_network(g, params, calib, QuantPolicy(act_bits=12, weight_bits=12))


def test_fold_batchnorm_matches_float_conv_then_bn() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(2, 1, 1, 1)), np.array([0.5, -1.0])
    bn = {"gamma": np.array([2.0, 0.5]), "beta": np.array([0.1, 0.2]),
          "mean": np.array([1.0, -1.0]), "var": np.array([3.0, 0.0])}
    x = 1.5
    wf, bf = fold_batchnorm(w, b, bn, eps=1.0)
    for f in range(2):
        conv = w[f, 0, 0, 0] * x + b[f]
        want = bn["gamma"][f] * (conv - bn["mean"][f]) / math.sqrt(bn["var"][f] + 1.0) + bn["beta"][f]
        assert wf[f, 0, 0, 0] * x + bf[f] == pytest.approx(want)


def test_fusion_and_aliases(mixed) -> None:
    g, _, _, q = mixed
    assert q.by_name["c1"].fused == ("bn1", "r1")
    assert q.by_name["c2"].fused == () and q.by_name["sum"].fused == ("r2",)
    assert q.alias["bn1"] == q.alias["r1"] == "c1"
    assert q.alias["drop"] == q.alias["prob"] == "fc"
    assert q.outputs == ("fc",)
    assert set(q.alias) == set(g.nodes)


def test_weights_bias_and_multipliers_recomputed_independently(mixed) -> None:
    _, params, _, q = mixed
    c3 = q.by_name["c3"]
    w = params["c3.weight"]
    s_w = np.abs(w.reshape(8, -1)).max(axis=1) / 127          # per output channel, symmetric
    assert np.allclose(c3.weight_scale, s_w)
    wq = np.sign(w) * np.floor(np.abs(w) / s_w[:, None, None, None] + 0.5)
    assert np.array_equal(c3.weight, wq)
    s_in = q.by_name["c1"].out.scale
    assert np.array_equal(c3.bias, round_half_away(params["c3.bias"] / (s_in * s_w)))
    real = s_in * s_w / c3.out.scale
    m0, sh = c3.requant.m0, c3.requant.shift
    assert np.all((m0 >= 2**30) & (m0 < 2**31))
    assert np.all(np.abs(m0 / 2.0**sh - real) <= 2.0 ** -(sh + 1))


def test_relu6_clamp_and_shared_scales(mixed) -> None:
    _, _, _, q = mixed
    c1 = q.by_name["c1"]
    assert c1.lo == 0 and c1.hi == min(127, int(round_half_away(6.0 / c1.out.scale)))
    # add inputs share one scale, concat inputs share the output's, pools keep their input's
    assert q.by_name["c2"].out.scale == q.by_name["c3"].out.scale
    assert q.by_name["e1"].out.scale == q.by_name["e2"].out.scale == q.by_name["cat"].out.scale
    assert q.by_name["ap"].out.scale == q.by_name["sp"].out.scale
    assert len(set(q.by_name["sum"].add_m0)) == 1


def test_calibration_maxabs_and_percentile(mixed) -> None:
    g, params, calib, q = mixed
    runs = [run_float(g, params, x) for x in calib]
    peak = max(float(np.abs(r["fc"]).max()) for r in runs)
    assert q.by_name["fc"].out.scale == pytest.approx(peak / 127)
    qp = quantize_network(g, params, calib, QuantPolicy(calibration=Calibration.PERCENTILE,
                                                        percentile=90.0))
    vals = np.abs(np.concatenate([r["fc"].ravel() for r in runs]))
    assert qp.by_name["fc"].out.scale == pytest.approx(np.percentile(vals, 90.0) / 127)


def test_pow2_scales_are_qformats(mixed) -> None:
    g, params, calib, _ = mixed
    q = quantize_network(g, params, calib, QuantPolicy(scale_mode=ScaleMode.POW2))
    for ql in q.layers:
        assert math.log2(ql.out.scale).is_integer()
        assert ql.out.qformat is not None and ql.out.qformat.width == 8
        if ql.requant is not None:
            m0 = np.atleast_1d(ql.requant.m0)
            assert all(int(v) & (int(v) - 1) == 0 for v in m0)     # powers of two
        if ql.weight_scale is not None:
            assert all(math.log2(s).is_integer() for s in ql.weight_scale)
    ev = golden.evaluate(q, params, calib[:1])
    assert ev.layers[-1].sqnr_db > 15


def test_per_tensor_weights(mixed) -> None:
    g, params, calib, _ = mixed
    q = quantize_network(g, params, calib, QuantPolicy(per_channel=False))
    assert len(set(q.by_name["c3"].weight_scale.tolist())) == 1


STANDALONE_BN = """
name: b
input: [2, 4, 4]
layers:
  - {name: bn0, kind: batchnorm}
  - {name: c, kind: conv2d, filters: 3, kernel: 1, activation: relu}
  - {name: bn1, kind: batchnorm}
  - {name: r, kind: relu}
  - {name: fc, kind: dense, units: 4}
  - {name: bn2, kind: batchnorm}
"""


def test_batchnorm_standalone_and_folded_into_dense() -> None:
    g = build_graph(parse_spec(STANDALONE_BN))
    params = init_weights(g, seed=2)
    xs = calibration_inputs(g.nodes["input"]["out_shape"], 3, seed=2)
    q = quantize_network(g, params, xs)
    # bn0 follows the input and bn1 follows a conv with its own ReLU: neither folds
    assert q.by_name["bn0"].fused == () and q.by_name["c"].fused == ()
    assert q.by_name["bn1"].fused == ("r",)
    assert q.by_name["fc"].fused == ("bn2",)
    x = golden.quantize_input(q, xs[0])
    res = golden.run_network(q, x)
    bn0 = q.by_name["bn0"]
    for c in range(2):
        for v, y in zip(x[c].ravel(), res.tensors["bn0"][c].ravel()):
            acc = int(v) * int(bn0.weight[c, 0]) + int(bn0.bias[c])
            m0, sh = int(bn0.requant.m0[c]), int(bn0.requant.shift[c])
            r = math.floor(Fraction(acc * m0, 2**sh) + Fraction(1, 2))
            assert y == min(max(r, -128), 127)
    ev = golden.evaluate(q, params, xs)
    assert all(r.sqnr_db > 25 for r in ev.layers)


# ------------------------------------------------------------------ weights files and inputs

def test_expected_layout(mixed) -> None:
    g = mixed[0]
    shapes = expected_shapes(g)
    assert shapes["c1.weight"] == (8, 3, 3, 3) and "c1.bias" not in shapes
    assert shapes["c2.weight"] == (8, 1, 3, 3)
    assert shapes["bn1.gamma"] == (8,) and shapes["fc.weight"] == (5, 10)


def test_load_weights_roundtrip_and_errors(mixed, tmp_path) -> None:
    g, params, _, _ = mixed
    good = tmp_path / "w.npz"
    np.savez(good, **params)
    loaded = load_weights(good, g)
    assert all(np.array_equal(loaded[k], params[k]) for k in params)
    missing = dict(params)
    del missing["bn1.var"]
    with pytest.raises(DataError, match="missing tensor 'bn1.var'"):
        check_params(missing, g, "w.npz")
    with pytest.raises(DataError, match="unexpected tensor 'zzz.weight'"):
        check_params({**params, "zzz.weight": np.zeros(3)}, g, "w.npz")
    with pytest.raises(DataError, match=r"'c3.weight' has shape \[8, 8, 1\], expected \[8, 8, 1, 1\]"):
        check_params({**params, "c3.weight": np.zeros((8, 8, 1))}, g, "w.npz")
    with pytest.raises(DataError, match="NaN"):
        check_params({**params, "fc.bias": np.full(5, np.nan)}, g, "w.npz")
    with pytest.raises(DataError, match="negative variances"):
        check_params({**params, "bn1.var": -np.ones(8)}, g, "w.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_weights(bad, g)
    with pytest.raises(DataError, match="not found"):
        load_weights(tmp_path / "nope.npz", g)


def test_init_weights_reproducible_he(mixed) -> None:
    g = mixed[0]
    a, b = init_weights(g, seed=7), init_weights(g, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    big = build_graph(parse_spec("name: h\ninput: [64, 8, 8]\nlayers:\n"
                                 "  - {name: c, kind: conv2d, filters: 64, kernel: 3}\n"))
    w = init_weights(big)["c.weight"]
    assert np.std(w) == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)


def test_load_input_checks(mixed, tmp_path) -> None:
    shape = mixed[0].nodes["input"]["out_shape"]
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((3, 9, 9), dtype=np.int8))
    assert load_input(p, shape, integer=True).shape == (1, 3, 9, 9)
    np.save(p, np.zeros((3, 9, 8)))
    with pytest.raises(DataError, match=r"shape \[3, 9, 8\], expected \[3, 9, 9\]"):
        load_input(p, shape, integer=False)
    np.save(p, np.zeros((3, 9, 9)))
    with pytest.raises(DataError, match="expected an integer type"):
        load_input(p, shape, integer=True)
    np.save(p, np.full((3, 9, 9), 300, dtype=np.int16))
    with pytest.raises(DataError, match="outside the input format"):
        load_input(p, shape, integer=True)
    np.save(p, np.zeros((3, 9, 9), dtype=complex))
    with pytest.raises(DataError, match="dtype"):
        load_input(p, shape, integer=False)


def test_quantized_parameters_are_read_only(mixed) -> None:
    q = mixed[3]
    with pytest.raises(ValueError):
        q.by_name["c3"].weight[0, 0, 0, 0] = 1
    with pytest.raises(AttributeError):
        q.by_name["c3"].lo = 5  # type: ignore[misc]
