"""The layer kinds real networks need: shapes and budgets against hand-worked values, float
semantics against naive loops, the integer look-up tables against hand-worked codes and the
float reference, the host lowering, and the honest refusal of kinds without an integer model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, HardwareConfig
from hwcnn.compiler.lowering import lower
from hwcnn.compiler.plan import Unit
from hwcnn.errors import SpecError
from hwcnn.frontend import layers as L
from hwcnn.frontend.spec import parse_spec
from hwcnn.graph.build import build_graph
from hwcnn.numerics import floatkinds as FK
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.golden_act import act_table
from hwcnn.numerics.quantize import calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights
from tests.cli_run import run_cli


def net(layers: str, shape: str = "[8, 9, 9]") -> object:
    return build_graph(parse_spec(f"name: t\ninput: {shape}\nlayers:\n{layers}"))


def test_adaptive_avgpool_windows_and_ops_hand_worked() -> None:
    # 20 -> 7 (PyTorch windows [floor(i*20/7), ceil((i+1)*20/7))): lengths 3,4,4,4,4,4,3 = 26
    # 22 -> 5: lengths 5,5,6,5,5 = 26
    g = net("  - {name: a, kind: adaptive_avgpool, output: [7, 5]}\n", "[8, 20, 22]")
    assert g.nodes["a"]["out_shape"].as_list() == [8, 7, 5]
    assert g.nodes["a"]["cost"].ops == 8 * 26 * 26
    x = np.random.default_rng(0).standard_normal((2, 20, 22))
    got = FK.adaptive_avg(x, (7, 5))
    for i in range(7):        # a naive loop with PyTorch's start/end formulas
        for j in range(5):
            h0, h1 = (i * 20) // 7, math.ceil((i + 1) * 20 / 7)
            w0, w1 = (j * 22) // 5, math.ceil((j + 1) * 22 / 5)
            np.testing.assert_allclose(got[:, i, j], x[:, h0:h1, w0:w1].mean(axis=(1, 2)))


def test_count_include_pad_and_dilation_hand_worked() -> None:
    from hwcnn.numerics.floatref import run_float
    g = net("  - {name: p, kind: avgpool, kernel: 3, stride: 1, padding: 1, count_include_pad: true}\n"
            "  - {name: q, kind: avgpool, kernel: 3, stride: 1, padding: 1, inputs: [input]}\n",
            "[1, 3, 3]")
    y = run_float(g, {}, np.ones((1, 3, 3)))
    assert y["p"][0, 0, 0] == pytest.approx(4 / 9) and y["p"][0, 1, 1] == 1.0  # corner: 4 of 9
    assert y["q"][0, 0, 0] == 1.0                                               # in-bounds only


def test_pool_dilation_shape() -> None:
    g = net("  - {name: d, kind: maxpool, kernel: 3, stride: 1, dilation: 2}\n")
    assert g.nodes["d"]["out_shape"].as_list() == [8, 5, 5]  # (9 - 5)/1 + 1 = 5
    assert g.nodes["d"]["cost"].ops == 8 * 25 * 9


def test_eltwise_budgets_hand_worked() -> None:
    g = net("  - {name: t, kind: tanh}\n  - {name: h, kind: hardswish}\n"
            "  - {name: l, kind: lrn, size: 5}\n  - {name: g, kind: global_avgpool}\n"
            "  - {name: m, kind: mul, inputs: [l, g]}\n  - {name: s, kind: silu}\n")
    e = 8 * 81
    assert [g.nodes[n]["cost"].eltwise_ops for n in "thlms"] == [e, 2 * e, 8 * e, e, 2 * e]
    assert all(g.nodes[n]["cost"].params == 0 for n in g)


def test_pad_resize_shuffle_shapes_and_semantics() -> None:
    g = net("  - {name: p, kind: pad, padding: [[1, 0], [2, 3]]}\n"
            "  - {name: r, kind: resize, scale: [2, 1]}\n  - {name: c, kind: channel_shuffle, groups: 2}\n",
            "[4, 2, 2]")
    assert g.nodes["p"]["out_shape"].as_list() == [4, 3, 7]
    assert g.nodes["r"]["out_shape"].as_list() == [4, 6, 7]
    x = np.arange(4).reshape(4, 1, 1)
    assert FK.channel_shuffle(x, 2).reshape(-1).tolist() == [0, 2, 1, 3]  # (2,2) transposed
    assert FK.resize(np.array([[[1, 2]]]), (2, 2)).tolist() == [[[1, 1, 2, 2], [1, 1, 2, 2]]]


@pytest.mark.parametrize("layers,msg", [
    (("  - {name: m, kind: mul, inputs: [input, g]}\n  - {name: g, kind: global_avgpool, inputs: [input]}\n"
     "  - {name: z, kind: dense, units: 3, inputs: [input]}\n  - {name: bad, kind: mul, inputs: [input, z]}\n"),
     ("line 7: layer 'bad': mul inputs do not broadcast: [8, 9, 9], [3] (each must equal the largest, or be "
     "(C, 1, 1) or (C,) with its channel count)")),
    ("  - {name: c, kind: channel_shuffle, groups: 3}\n",
     "line 4: layer 'c': groups 3 does not divide the 8 channels"),
    ("  - {name: a, kind: adaptive_avgpool, output: 10}\n",
     "line 4: layer 'a': output size 10 is larger than the input 9 along spatial axis 0"),
    ("  - {name: d, kind: maxpool, kernel: 3, dilation: 5}\n",
     ("line 4: layer 'd': kernel 3 (dilated extent 11) is larger than the padded input 9 (9 + 2*0) along "
     "spatial axis 0")),
])
def test_kind_errors_verbatim(layers: str, msg: str) -> None:
    with pytest.raises(SpecError) as e:
        net(layers)
    assert str(e.value) == msg


# -- integer model ------------------------------------------------------------------------------

def test_lookup_tables_hand_worked() -> None:
    sig = act_table(L.Nonlinear(name="s", fn=L.Fn.SIGMOID), 1 / 16, 1 / 128, 8)
    # x = 0 -> 0.5*128 = 64; x = 1 -> 0.7310586*128 = 93.58 -> 94; x = -8 -> 0.043 -> 0;
    # x = 127/16 -> 0.99964*128 = 127.95 -> 128 -> saturated to 127
    assert [sig[q + 128] for q in (0, 16, -128, 127)] == [64, 94, 0, 127]
    hsw = act_table(L.Nonlinear(name="h", fn=L.Fn.HARDSWISH), 0.05, 0.05, 8)
    # x = 1: 1*4/6 = 0.667 -> 13.33 -> 13; x = -2: -2*1/6 -> -6.67 -> -7; x = 4: 4 -> 80; x = -4: 0
    assert [hsw[q + 128] for q in (20, -40, 80, -80)] == [13, -7, 80, 0]
    tanh = act_table(L.Nonlinear(name="t", fn=L.Fn.TANH), 1 / 32, 1 / 127, 8)
    # x = 1: tanh 0.76159 * 127 = 96.72 -> 97; x = -0.5: -0.46212*127 = -58.69 -> -59
    assert [tanh[q + 128] for q in (32, -16)] == [97, -59]


@pytest.mark.parametrize("fn", list(L.Fn))
def test_lookup_tables_against_float_reference(fn: L.Fn) -> None:
    """Every code: |table * s_out - f(q * s_in)| <= s_out / 2 unless f leaves the range."""
    s_in, s_out = 0.06, 0.011
    layer = L.Nonlinear(name="x", fn=fn, alpha=0.2, beta=0.5)
    table = act_table(layer, s_in, s_out, 8)
    q = np.arange(-128, 128)
    ref = FK.nonlinear(fn, q * s_in, 0.2, 0.5)
    inside = (ref <= 127 * s_out) & (ref >= -128 * s_out)
    assert inside.sum() > 50
    assert np.max(np.abs(table * s_out - ref)[inside]) <= s_out / 2 + 1e-12
    assert np.all(table[~inside & (ref > 0)] == 127)


def test_golden_network_with_new_kinds_is_the_table_lookup() -> None:
    g = net("  - {name: c, kind: conv2d, filters: 4, kernel: 3, padding: 1}\n"
            "  - {name: t, kind: tanh}\n  - {name: p, kind: pad, padding: 1}\n"
            "  - {name: s, kind: channel_shuffle, groups: 2}\n  - {name: r, kind: resize, scale: 2}\n"
            "  - {name: h, kind: hardswish}\n", "[2, 5, 5]")
    params = init_weights(g, 0)
    shape = g.nodes["input"]["out_shape"]
    qnet = quantize_network(g, params, calibration_inputs(shape, 2, 0))
    x = calibration_inputs(shape, 1, 7)[0]
    res = run_network(qnet, quantize_input(qnet, x))
    t, c = qnet.by_name["t"], qnet.by_name["c"]
    assert t.weight is not None
    np.testing.assert_array_equal(res.tensors["t"], t.weight[res.tensors["c"].astype(np.int64) + 128])
    # data movement keeps the integers: pad zeros, shuffle, nearest repeat
    padded = np.pad(res.tensors["t"], ((0, 0), (1, 1), (1, 1)))
    np.testing.assert_array_equal(res.tensors["p"], padded)
    shuffled = padded.reshape(2, 2, 7, 7).swapaxes(0, 1).reshape(4, 7, 7)
    np.testing.assert_array_equal(res.tensors["s"], shuffled)
    np.testing.assert_array_equal(res.tensors["r"], shuffled.repeat(2, 1).repeat(2, 2))
    deq = res.tensors["t"] * t.out.scale
    ref = np.tanh(res.tensors["c"] * c.out.scale)
    assert np.max(np.abs(deq - ref)) <= t.out.scale / 2 + 1e-12


@pytest.mark.parametrize("layer,kind", [
    ("{name: x1, kind: mul, inputs: [input, input, input]}", "kind 'mul' with 3 inputs"),
    ("{name: x1, kind: sumpool, kernel: 2, dilation: 2}",
     "kind 'sumpool' with dilation or count_include_pad"),
    ("{name: x1, kind: pad, padding: 1, value: 1.5}", "kind 'pad' with a non-zero value (1.5)"),
])
@pytest.mark.parametrize("command", ["quantize", "run", "verify"])
def test_refused_without_integer_model(layer: str, kind: str, command: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(f"name: m\ninput: [4, 8, 8]\nlayers:\n  - {layer}\n")
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8)))
    extra = {"run": ["--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")]}
    r = run_cli([command, str(p), *extra.get(command, [])], capsys)
    assert r.crash is None and r.code == 2
    assert r.err == f"hwcnn: error: {p}: layer 'x1': {kind} has no integer model yet\n"
    assert not (tmp_path / "o.npz").exists()
    # report and explain support every kind
    assert run_cli(["report", str(p)], capsys).code == 0
    assert run_cli(["explain", str(p)], capsys).code == 0


def test_new_kinds_are_host_layers() -> None:
    g = net("  - {name: t, kind: sigmoid}\n  - {name: l, kind: lrn, size: 3}\n"
            "  - {name: a, kind: avgpool, kernel: 3, stride: 1, padding: 1, count_include_pad: true}\n"
            "  - {name: b, kind: avgpool, kernel: 3, stride: 1, padding: 1}\n")
    units = {p.name: p.unit for p in lower(g, HardwareConfig(array=ArrayConfig(rows=4, cols=4))).layers}
    assert units["t"] == units["l"] == Unit.HOST
    # both average conventions run on the vector unit (count_include_pad divides by the taps
    # inside the padded input)
    assert units["a"] == units["b"] == Unit.POOL


def test_verify_runs_host_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "k.yaml"
    p.write_text("name: k\ninput: [4, 8, 8]\nlayers:\n"
                 "  - {name: c1, kind: conv2d, filters: 8, kernel: 3, padding: 1}\n"
                 "  - {name: t, kind: tanh}\n  - {name: p, kind: pad, padding: [[1, 0], [0, 1]]}\n"
                 "  - {name: c2, kind: conv2d, filters: 8, kernel: 3}\n  - {name: s, kind: sigmoid}\n"
                 "  - {name: cs, kind: channel_shuffle, groups: 2}\n  - {name: r, kind: resize, scale: 2}\n"
                 "  - {name: hs, kind: hardswish}\n  - {name: g, kind: global_avgpool}\n"
                 "  - {name: f, kind: flatten}\n  - {name: d, kind: dense, units: 5}\n")
    r = run_cli(["verify", str(p)], capsys)
    assert r.code == 0 and "all layers match" in r.out, r.out + r.err


def test_mul_integer_model_hand_worked() -> None:
    from hwcnn.numerics.golden_act import mul
    from hwcnn.numerics.golden_ops import Requant

    x = np.array([[[3, -3], [5, 127]], [[1, -1], [0, -128]]])    # (2, 2, 2)
    g = np.array([[[1]], [[-2]]])                                 # (2, 1, 1) per channel
    half = Requant(m0=1 << 30, shift=31, lo=-128, hi=127)         # x * g * 0.5, half up
    y, sat = mul([x, g], half)
    # channel 0: 1.5 -> 2, -1.5 -> -1, 2.5 -> 3, 63.5 -> 64;
    # channel 1: -1 -> -1, 1 -> 1, 0, 128 -> saturated to 127
    assert y.tolist() == [[[2, -1], [3, 64]], [[-1, 1], [0, 127]]] and sat == 1
    y2, _ = mul([g, x], half)  # operand order does not matter
    assert y2.tolist() == y.tolist()


def test_squeeze_excitation_quantizes_and_verifies(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = ("name: se\ninput: [8, 6, 6]\nlayers:\n"
            "  - {name: c, kind: conv2d, filters: 8, kernel: 3, padding: 1}\n"
            "  - {name: g, kind: global_avgpool}\n  - {name: f1, kind: conv2d, filters: 2, kernel: 1}\n"
            "  - {name: r, kind: relu}\n  - {name: f2, kind: conv2d, filters: 8, kernel: 1}\n"
            "  - {name: s, kind: hardsigmoid}\n  - {name: m, kind: mul, inputs: [c, s]}\n")
    g = build_graph(parse_spec(spec))
    params = init_weights(g, 0)
    shape = g.nodes["input"]["out_shape"]
    qnet = quantize_network(g, params, calibration_inputs(shape, 3, 0))
    x = calibration_inputs(shape, 1, 5)[0]
    res = run_network(qnet, quantize_input(qnet, x))
    qm, qc, qs = qnet.by_name["m"], qnet.by_name["c"], qnet.by_name["s"]
    # against the float product of the dequantized operands: one rounding, half an output step
    ref = (res.tensors["c"] * qc.out.scale) * (res.tensors["s"] * qs.out.scale)
    deq = res.tensors["m"] * qm.out.scale
    inside = np.abs(ref) <= 127 * qm.out.scale
    assert np.max(np.abs(deq - ref)[inside]) <= qm.out.scale / 2 + 1e-6 * qm.out.scale
    p = tmp_path / "se.yaml"
    p.write_text(spec)
    r = run_cli(["verify", str(p)], capsys)
    assert r.code == 0 and "all layers match" in r.out, r.out + r.err


def test_integer_averages_hand_worked() -> None:
    from hwcnn.graph.shapes import Window
    from hwcnn.numerics.golden_act import adaptive_avg, avg_include_pad

    x = np.array([[[1, 2, 4], [3, 5, 7], [6, 8, 9]]])
    # 3 -> 2 adaptive windows: rows/cols [0, 2) and [1, 3)
    # [[1+2+3+5, 2+4+5+7], [3+5+6+8, 5+7+8+9]] / 4 = [[2.75, 4.5], [5.5, 7.25]] -> half away
    assert adaptive_avg(x, (2, 2), -128, 127).tolist() == [[[3, 5], [6, 7]]]
    assert adaptive_avg(-x, (2, 2), -128, 127).tolist() == [[[-3, -5], [-6, -7]]]
    # 3x3 kernel, stride 2, padding 1 -> 2x2; every window has 9 taps in the padded input
    win = Window(kernel=(3, 3), stride=(2, 2), dilation=(1, 1), pads=((1, 1), (1, 1)), out=(2, 2))
    # sums: top-left 1+2+3+5 = 11 -> 1.22 -> 1; top-right 2+4+5+7 = 18 -> 2;
    # bottom-left 3+5+6+8 = 22 -> 2.44 -> 2; bottom-right 5+7+8+9 = 29 -> 3.22 -> 3
    assert avg_include_pad(x, win, -128, 127).tolist() == [[[1, 2], [2, 3]]]


def test_integer_adaptive_avg_against_naive_loop() -> None:
    from hwcnn.numerics.fixedpoint import div_round_half_away
    from hwcnn.numerics.golden_act import adaptive_avg

    x = np.random.default_rng(4).integers(-128, 128, size=(3, 13, 10))
    got = adaptive_avg(x, (6, 4), -128, 127)
    for c in range(3):
        for i in range(6):
            for j in range(4):
                h0, h1 = (i * 13) // 6, -(-((i + 1) * 13) // 6)
                w0, w1 = (j * 10) // 4, -(-((j + 1) * 10) // 4)
                win = x[c, h0:h1, w0:w1]
                assert got[c, i, j] == int(div_round_half_away(int(win.sum()), win.size))


def test_host_pools_quantize_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "pools.yaml"
    p.write_text("name: pools\ninput: [4, 12, 12]\nlayers:\n"
                 "  - {name: c, kind: conv2d, filters: 8, kernel: 3, padding: 1}\n"
                 "  - {name: a, kind: avgpool, kernel: 3, stride: 2, padding: 1, count_include_pad: true}\n"
                 "  - {name: d, kind: maxpool, kernel: 2, dilation: 2, stride: 1}\n"
                 "  - {name: e, kind: avgpool, kernel: 2, dilation: 2, stride: 1}\n"
                 "  - {name: ad, kind: adaptive_avgpool, output: 2}\n"
                 "  - {name: f, kind: flatten}\n  - {name: fc, kind: dense, units: 3}\n")
    r = run_cli(["verify", str(p)], capsys)
    assert r.code == 0 and "all layers match" in r.out, r.out + r.err
    r = run_cli(["quantize", str(p), "-f", "json"], capsys)
    assert r.code == 0, r.err


def test_lrn_integer_model_hand_worked_and_against_float() -> None:
    from hwcnn.numerics.fixedpoint import quantize_multiplier
    from hwcnn.numerics.golden_act import lrn, lrn_tables
    from hwcnn.numerics.golden_ops import Requant

    layer = L.LRN(name="n", size=3, alpha=0.3, beta=0.75, bias=1.0)
    s_in, s_out = 0.1, 0.05
    m0, sh = lrn_tables(layer, s_in, s_out, 8)
    assert len(m0) == 3 * 128 * 128 + 1
    x = np.array([[[10]], [[-20]], [[0]]])    # reals 1.0, -2.0, 0.0
    y = lrn(x, 3, m0, sh, Requant(m0=1, shift=0, lo=-128, hi=127))
    # channel 0: window {0, 1}: S = 100 + 400 = 500 -> real sum 5.0;
    #   1.0 / (1 + 0.1 * 5.0) ** 0.75 = 0.7378 -> /0.05 = 14.76 -> 15
    # channel 1: window {0, 1, 2}: S = 500 -> -2.0 / 1.5 ** 0.75 = -1.4757 -> -29.51 -> -30
    # channel 2: x = 0 -> 0
    assert y.reshape(-1).tolist() == [15, -30, 0]
    want_m0, want_sh = quantize_multiplier((s_in / s_out) / (1 + 0.1 * 500 * s_in**2) ** 0.75)
    assert (int(m0[500]), int(sh[500])) == (int(want_m0), int(want_sh))
    # every code against the float LRN of the dequantized input: one rounding
    xs = np.random.default_rng(2).integers(-128, 128, size=(6, 4, 4))
    got = lrn(xs, 3, m0, sh, Requant(m0=1, shift=0, lo=-128, hi=127)) * s_out
    ref = FK.lrn(xs * s_in, 3, 0.3, 0.75, 1.0)
    inside = np.abs(ref) <= 127 * s_out
    assert np.max(np.abs(got - ref)[inside]) <= s_out / 2 + 1e-9


def test_lrn_network_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "lrn.yaml"
    p.write_text("name: l\ninput: [3, 9, 9]\nlayers:\n"
                 "  - {name: c, kind: conv2d, filters: 8, kernel: 3, activation: relu}\n"
                 "  - {name: n, kind: lrn, size: 5, alpha: 0.001}\n  - {name: p, kind: maxpool, kernel: 2}\n")
    r = run_cli(["verify", str(p)], capsys)
    assert r.code == 0 and "all layers match" in r.out, r.out + r.err
    r = run_cli(["quantize", str(p), "--act-bits", "12"], capsys)
    assert r.code == 2 and r.err == (
        f"hwcnn: error: {p}: layer 'n': the lrn integer model tabulates every sum of squares "
        "(20,971,521 entries for 12-bit activations and size 5), more than 1,048,576\n")


def test_explain_new_kinds() -> None:
    from hwcnn.report.explanation import explain
    g = net("  - {name: n, kind: lrn, size: 5}\n  - {name: a, kind: adaptive_avgpool, output: 2}\n"
            "  - {name: p, kind: avgpool, kernel: 2, stride: 1, padding: [[0, 1], [1, 0]], "
            "count_include_pad: true}\n", "[4, 3, 3]")
    text = explain(g)
    # 4*3*3 = 36 elements, (5 + 3) ops each
    assert "= 8 ops per element, 36*8 = 288" in text
    # 3 -> 2 adaptive: windows [0, 2) and [1, 3): 2 + 2 per dim, 4 channels * 4 * 4 = 64
    assert "ops: 4 channels * (sum of window volumes) = 64" in text
    assert "padding (0, 1)x(1, 0), count_include_pad" in text
