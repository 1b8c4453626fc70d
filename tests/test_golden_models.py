"""Whole networks in the golden model: every shipped model end to end, bit-exact against an
independent loop implementation (tiny_cnn), and the float reference within the claimed error."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hwcnn.frontend.spec import load_spec, parse_spec
from hwcnn.graph.build import build_graph, ordered_nodes
from hwcnn.numerics import golden_ops as G
from hwcnn.numerics.golden import evaluate, quantize_input, run_network
from hwcnn.numerics.quantize import QuantPolicy, calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights

MODELS = Path(__file__).resolve().parents[1] / "models"
FAST = {"tiny_cnn", "lenet5", "squeezenet1_1"}          # the others take 5-60 s each
ALL = sorted(p.stem for p in MODELS.glob("*.yaml"))


def _params(name):
    return [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in name]


@pytest.mark.parametrize("model", _params(ALL))
def test_model_end_to_end(model: str) -> None:
    g = build_graph(load_spec(MODELS / f"{model}.yaml"))
    params = init_weights(g, seed=0)
    shape = g.nodes["input"]["out_shape"]
    calib = calibration_inputs(shape, 1, seed=0)
    q = quantize_network(g, params, calib)
    x = quantize_input(q, calibration_inputs(shape, 1, seed=9)[0])
    res = run_network(q, x)
    for name, node in ordered_nodes(g):
        t = res.tensor(q, name)
        head = q.by_name[q.alias[name]]
        assert t.size == node["out_shape"].size, name
        assert t.min() >= head.lo and t.max() <= head.hi, name
    ev = evaluate(q, params, calib)
    assert all(math.isfinite(r.sqnr_db) or r.sqnr_db == math.inf for r in ev.layers)
    # Output SQNR with random weights: measured 20-37 dB over the shipped models.
    assert ev.layers[-1].sqnr_db > 15, (model, ev.layers[-1])
    if g.nodes[ev.output]["out_shape"].size <= 10:    # 1000-way argmax can flip on near-ties
        assert ev.top1_agree == 1


def test_models_use_exact_float32_gemms() -> None:
    """The exactness bound for the formats in use: int8 activations x int8 symmetric weights
    (|w| <= 127) give chunks of floor(2**24 / (128 * 127)) = 1032 terms in float32; check the
    extreme operands at every K the shipped models use."""
    ks = set()
    for p in MODELS.glob("*.yaml"):
        g = build_graph(load_spec(p))
        ks |= {node["gemm"].k for _, node in ordered_nodes(g) if node["gemm"] is not None}
    assert G.gemm_dtype(max(ks), 128, 127) is np.float32
    assert (1 << 24) // (128 * 127) == 1032
    for k in sorted(ks):
        a = np.full((2, k), -128)
        a[1, 1::2] = 127
        b = np.full((k, 1), -127)
        got = G.exact_matmul(a, b).ravel().tolist()
        assert got == [k * 128 * 127, -(k // 2) * 127 * 127 + (k - k // 2) * 128 * 127], k


def test_tiny_cnn_bit_exact_against_naive_loops() -> None:
    """Recompute tiny_cnn from the quantized parameters with plain Python integer loops."""
    g = build_graph(load_spec(MODELS / "tiny_cnn.yaml"))
    params = init_weights(g, seed=4)
    calib = calibration_inputs(g.nodes["input"]["out_shape"], 2, seed=4)
    q = quantize_network(g, params, calib)
    x = quantize_input(q, calib[1])
    res = run_network(q, x)

    def requant(acc, ql, ch):
        rq = ql.requant
        m0, sh = int(np.atleast_1d(rq.m0)[ch]), int(np.atleast_1d(rq.shift)[ch])
        r = math.floor(Fraction(acc * m0, 2**sh) + Fraction(1, 2))   # half up
        return min(max(r, rq.lo), rq.hi)

    def conv(inp, ql, pad):
        w, b = ql.weight, ql.bias
        f, c, kh, kw = w.shape
        h, wd = len(inp[0]), len(inp[0][0])
        oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
        out = [[[0] * ow for _ in range(oh)] for _ in range(f)]
        for fo, i, j in itertools.product(range(f), range(oh), range(ow)):
            acc = int(b[fo])
            for ci, u, v in itertools.product(range(c), range(kh), range(kw)):
                y, xx = i + u - pad, j + v - pad
                if 0 <= y < h and 0 <= xx < wd:
                    acc += int(w[fo, ci, u, v]) * inp[ci][y][xx]
            out[fo][i][j] = requant(acc, ql, fo)
        return out

    img = x.tolist()
    c1 = conv(img, q.by_name["conv1"], 1)
    p1 = [[[max(ch[2 * i + u][2 * j + v] for u in range(2) for v in range(2))
            for j in range(4)] for i in range(4)] for ch in c1]
    c2 = conv(p1, q.by_name["conv2"], 0)
    flat = [v for ch in c2 for row in ch for v in row]
    fc = q.by_name["fc"]
    logits = [requant(int(fc.bias[j]) + sum(int(fc.weight[j, i]) * flat[i]
                                            for i in range(len(flat))), fc, j)
              for j in range(fc.weight.shape[0])]
    assert res.tensors["conv1"].tolist() == c1
    assert res.tensors["pool1"].tolist() == p1
    assert res.tensors["conv2"].tolist() == c2
    assert res.tensors["fc"].tolist() == logits


def test_single_conv_error_within_analytic_bound() -> None:
    """|float - golden| of one conv is bounded by input, weight, bias and output rounding:
    sum|w| s_in/2 + sum|x| s_w/2 + s_in s_w/2 + s_out/2 (+ s_out for the multiplier rounding)."""
    g = build_graph(parse_spec("name: one\ninput: [3, 7, 7]\nlayers:\n"
                               "  - {name: c, kind: conv2d, filters: 5, kernel: 3, padding: 1}\n"))
    params = init_weights(g, seed=2)
    xs = calibration_inputs(g.nodes["input"]["out_shape"], 3, seed=2)
    q = quantize_network(g, params, xs)
    ql = q.by_name["c"]
    s_in, s_out = q.input_format.scale, ql.out.scale
    w = params["c.weight"]
    k_abs_w = np.abs(w).reshape(5, -1).sum(axis=1)           # per filter
    bound = (k_abs_w * s_in / 2 + 27 * 1.0 * ql.weight_scale / 2 + s_in * ql.weight_scale / 2
             + s_out / 2 + s_out)
    ev = evaluate(q, params, xs)
    row = next(r for r in ev.layers if r.name == "c")
    assert 0 < row.max_abs_err <= float(bound.max())
    assert row.saturated == 0


def test_report_numbers_recomputed() -> None:
    """SQNR, max error and top-1 of the report, recomputed from the float and integer outputs."""
    from hwcnn.numerics.floatref import run_float
    g = build_graph(load_spec(MODELS / "tiny_cnn.yaml"))
    params = init_weights(g, seed=1)
    shape = g.nodes["input"]["out_shape"]
    q = quantize_network(g, params, calibration_inputs(shape, 2, seed=1))
    xs = calibration_inputs(shape, 3, seed=2)
    ev = evaluate(q, params, xs)
    refs = [run_float(g, params, x)["fc"] for x in xs]
    outs = [run_network(q, quantize_input(q, x)).tensors["fc"] * q.by_name["fc"].out.scale
            for x in xs]
    sig = sum(float((r**2).sum()) for r in refs)
    noise = sum(float(((r - o) ** 2).sum()) for r, o in zip(refs, outs))
    row = ev.layers[-1]
    assert row.name == "fc"
    assert row.sqnr_db == pytest.approx(10 * math.log10(sig / noise))
    assert row.max_abs_err == pytest.approx(max(float(np.abs(r - o).max()) for r, o in zip(refs, outs)))
    assert ev.top1_agree == sum(int(np.argmax(r) == np.argmax(o)) for r, o in zip(refs, outs))


def test_golden_is_deterministic_and_rejects_bad_input() -> None:
    g = build_graph(load_spec(MODELS / "lenet5.yaml"))
    params = init_weights(g)
    shape = g.nodes["input"]["out_shape"]
    q = quantize_network(g, params, calibration_inputs(shape, 1))
    x = quantize_input(q, calibration_inputs(shape, 1, seed=3)[0])
    a, b = run_network(q, x), run_network(q, x)
    assert all(np.array_equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    from hwcnn.errors import DataError
    with pytest.raises(DataError, match="shape"):
        run_network(q, x[:, :-1])
    with pytest.raises(DataError, match="dtype"):
        run_network(q, x.astype(float))
    with pytest.raises(DataError, match="exceed"):
        run_network(q, x * 0 + 500)


def test_policy_variants_run(tmp_path) -> None:
    g = build_graph(load_spec(MODELS / "squeezenet1_1.yaml"))
    params = init_weights(g)
    shape = g.nodes["input"]["out_shape"]
    calib = calibration_inputs(shape, 1)
    q = quantize_network(g, params, calib, QuantPolicy(act_bits=6, weight_bits=4))
    res = run_network(q, quantize_input(q, calib[0]))
    assert int(np.abs(res.tensors["conv10"]).max()) <= 32
    assert int(np.abs(q.by_name["conv10"].weight).max()) <= 7
