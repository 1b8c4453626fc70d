"""The golden model at scale: bounded memory, blocking that never changes a value, exactness of
the blocked/chunked GEMMs at their bounds, and VGG16's peak memory (slow tier).

The bound of the memory test comes from the network's budgets (``graph.costs``): the quantizer
and the golden run may hold the integer weights (the weight budget at 8 bits) plus a few copies
of the largest activation in float64 (the calibration reference) -- not float copies of the
weights, not whole-layer float64 temporaries, not int64 copies of every layer output.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from hwcnn.graph.build import ordered_nodes
from hwcnn.numerics import exactgemm as E
from hwcnn.numerics import floatref as F
from hwcnn.numerics import golden_ops as G
from hwcnn.numerics import quantize as Q
from hwcnn.numerics.floatref import iter_float, run_float
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.golden_ops import Requant
from hwcnn.numerics.quantize import QuantPolicy, calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights
from tests.conftest import ROOT, graph_of, model_graph
from tests.test_golden import make_window, naive_conv

#: A mid-size network whose weights dominate (an 18.9 M-parameter dense layer) and whose largest
#: activation (64 x 96 x 96) is not small either; quantize + run take a few seconds.
MID = """
name: mid
input: [3, 96, 96]
layers:
  - {name: c1, kind: conv2d, filters: 32, kernel: 3, padding: 1, activation: relu}
  - {name: c2, kind: conv2d, filters: 64, kernel: 3, padding: 1, bias: false}
  - {name: bn2, kind: batchnorm}
  - {name: r2, kind: relu}
  - {name: p2, kind: maxpool, kernel: 2}
  - {name: c3, kind: conv2d, filters: 128, kernel: 3, padding: 1, activation: relu}
  - {name: p3, kind: maxpool, kernel: 2}
  - {name: p4, kind: maxpool, kernel: 2}
  - {name: fc1, kind: dense, units: 1024, activation: relu}
  - {name: fc2, kind: dense, units: 10}
"""


def _peak_above_params(g, params) -> int:  # type: ignore[no-untyped-def]
    """tracemalloc peak of quantize (one calibration image) + one golden run, in bytes, above
    what was allocated before (the float64 parameters, held by the caller)."""
    shape = g.nodes["input"]["out_shape"]
    calib = calibration_inputs(shape, 1, seed=0)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        q = quantize_network(g, params, calib)
        run_network(q, quantize_input(q, calib[0]))
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _budget_bound(g) -> int:  # type: ignore[no-untyped-def]
    costs = [node["cost"] for _, node in ordered_nodes(g)]
    weight_bytes = sum(c.weight_bytes for c in costs)              # int8 weights, int32 biases
    largest = max(c.activation_elements for c in costs)
    return 2 * weight_bytes + 4 * 8 * largest                      # ... float64 activations


def test_quantize_and_run_peak_memory_within_the_budget_bound() -> None:
    g = graph_of(MID)
    params = init_weights(g, seed=0)
    n_params = sum(p.size for p in params.values())
    bound = _budget_bound(g)
    # The bound is tight enough to catch the regressions it is for: a float32 copy of every
    # weight, or one float64 temporary of the biggest layer (fc1), alone would exceed it.
    assert bound < 4 * n_params
    assert bound < 8 * 18432 * 1024
    peak = _peak_above_params(g, params)
    assert peak <= bound, (peak, bound)


def test_the_memory_bound_catches_whole_layer_float64_temporaries(monkeypatch) -> None:
    """Negative control: quantizing each layer in one block (float64 temporaries of the whole
    weight tensor, as before the blocking) breaks the bound."""
    g = graph_of(MID)
    params = init_weights(g, seed=0)
    monkeypatch.setattr(Q, "QUANT_BLOCK", 1 << 40)
    assert _peak_above_params(g, params) > _budget_bound(g)


DEEP = """
name: deep
input: [8, 64, 64]
layers:
""" + "".join(f"  - {{name: c{i}, kind: conv2d, filters: 8, kernel: 3, padding: 1, "
              f"activation: {'relu' if i % 2 else 'null'}}}\n" for i in range(40)) + """\
  - {name: gap, kind: global_avgpool}
  - {name: fc, kind: dense, units: 10}
"""


def _evaluate_peak(g, params, monkeypatch=None):  # type: ignore[no-untyped-def]
    from hwcnn.numerics.golden import evaluate
    shape = g.nodes["input"]["out_shape"]
    q = quantize_network(g, params, calibration_inputs(shape, 1, seed=0))
    xs = calibration_inputs(shape, 2, seed=1)
    peaks = []
    for run in (lambda: run_network(q, quantize_input(q, xs[0])), lambda: evaluate(q, params, xs)):
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            ev = run()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        finally:
            tracemalloc.stop()
    golden_peak, peak = peaks
    return peak, golden_peak, ev, q, xs


def _evaluate_bound(g, golden_peak: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(bound, every layer's float64 output at once) for one image of ``g``: a golden run, then
    6 float64 copies of the largest activation."""
    elems = [node["out_shape"].size for _, node in ordered_nodes(g)]
    return golden_peak + 6 * 8 * max(elems), 8 * sum(elems)


def test_evaluate_streams_the_float_reference() -> None:
    """`golden.evaluate` (the report of `hwcnn quantize`) holds a few float64 activations, not
    every layer's: its peak stays below that of a golden run plus 6 float64 copies of the
    largest activation, which is less than the float64 outputs of all layers together."""
    g = graph_of(DEEP)
    params = init_weights(g, seed=0)
    peak, golden_peak, ev, q, xs = _evaluate_peak(g, params)
    bound, whole = _evaluate_bound(g, golden_peak)
    assert bound < whole
    assert peak <= bound, (peak, bound)
    # the statistics are those of the whole reference, written out here from run_float
    sig: dict[str, float] = {}
    err: dict[str, float] = {}
    mx: dict[str, float] = {}
    for x in xs:
        ref = run_float(g, params, x)
        res = run_network(q, quantize_input(q, x))
        for ql in q.layers:
            r = ref[ql.tail].ravel()
            d = res.tensors[ql.name].ravel().astype(np.float64) * ql.out.scale
            sig[ql.name] = sig.get(ql.name, 0.0) + float(np.sum((r / ql.out.scale) ** 2))
            err[ql.name] = err.get(ql.name, 0.0) + float(np.sum(((r - d) / ql.out.scale) ** 2))
            mx[ql.name] = max(mx.get(ql.name, 0.0), float(np.max(np.abs(r - d))))
    for row in ev.layers:
        noise = err[row.name]
        want = math.inf if noise == 0 else 10 * math.log10(sig[row.name] / noise)
        assert row.sqnr_db == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert row.max_abs_err == mx[row.name]


def test_evaluate_bound_catches_a_whole_reference(monkeypatch) -> None:
    """Negative control: a float reference materialized whole (as before) breaks the bound."""
    from hwcnn.numerics import golden
    g = graph_of(DEEP)
    params = init_weights(g, seed=0)
    monkeypatch.setattr(golden, "iter_float", lambda *a: iter(list(iter_float(*a))))
    peak, golden_peak, *_ = _evaluate_peak(g, params)
    assert peak > _evaluate_bound(g, golden_peak)[0]


def test_layer_outputs_are_stored_in_the_narrowest_dtype() -> None:
    g = model_graph("tiny_cnn")
    params = init_weights(g, seed=0)
    calib = calibration_inputs(g.nodes["input"]["out_shape"], 1, seed=0)
    for bits, dtype in ((8, np.int8), (12, np.int16)):
        q = quantize_network(g, params, calib, QuantPolicy(act_bits=bits, weight_bits=6))
        times: dict[str, float] = {}
        res = run_network(q, quantize_input(q, calib[0]), times=times)
        assert list(times) == [ql.name for ql in q.layers] and min(times.values()) >= 0
        assert {t.dtype for t in res.tensors.values()} == {np.dtype(dtype)}, bits
    # 12-bit activations do need the 16 bits
    assert max(int(np.abs(t.astype(np.int64)).max()) for t in res.tensors.values()) > 127


def _fingerprint(model: str, policy: QuantPolicy) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    g = model_graph(model)
    params = init_weights(g, seed=0)
    shape = g.nodes["input"]["out_shape"]
    calib = calibration_inputs(shape, 2, seed=0)
    q = quantize_network(g, params, calib, policy)
    ints = {ql.name: (ql.weight, ql.bias, ql.out.scale, None if ql.requant is None else
                      (np.asarray(ql.requant.m0), np.asarray(ql.requant.shift)))
            for ql in q.layers}
    res = run_network(q, quantize_input(q, calibration_inputs(shape, 1, seed=5)[0]))
    return ints, res.tensors | {"sat": res.saturated}, run_float(g, params, calib[1])


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and \
            all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("model,policy", [
    ("tiny_cnn", QuantPolicy()),
    ("squeezenet1_1", QuantPolicy(per_channel=False)),
    ("lenet5", QuantPolicy(act_bits=12, weight_bits=10)),
])
def test_tiny_blocks_change_no_integer(monkeypatch, model: str, policy: QuantPolicy) -> None:
    """One group and one output row per im2col block, one row per quantization block, one
    row per dense block: every integer (weights, multipliers, golden outputs, saturations) is
    that of the default blocking."""
    want_q, want_out, _ = _fingerprint(model, policy)
    monkeypatch.setattr(E, "BLOCK_ELEMS", 1)
    monkeypatch.setattr(E, "DENSE_BLOCK_ELEMS", 1)
    monkeypatch.setattr(Q, "QUANT_BLOCK", 1)
    got_q, got_out, _ = _fingerprint(model, policy)
    assert _same(got_q, want_q)
    assert _same(got_out, want_out)


def test_float_reference_in_tiny_blocks_equals_the_whole_matrix(monkeypatch) -> None:
    """The float64 reference cut into one-row im2col blocks computes the same convolutions
    (to rounding: tiny GEMMs may take other BLAS kernels; the default blocks are large)."""
    g = model_graph("squeezenet1_1")
    params = init_weights(g, seed=0)
    x = calibration_inputs(g.nodes["input"]["out_shape"], 1, seed=0)[0]
    want = run_float(g, params, x)
    monkeypatch.setattr(F, "FLOAT_BLOCK_ELEMS", 1)
    got = run_float(g, params, x)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                   atol=1e-12 * float(np.abs(want[name]).max()), err_msg=name)


def test_iter_float_streams_what_run_float_returns() -> None:
    g = model_graph("squeezenet1_1")
    params = init_weights(g, seed=1)
    x = calibration_inputs(g.nodes["input"]["out_shape"], 1, seed=1)[0]
    full = run_float(g, params, x)
    names = []
    for name, y in iter_float(g, params, x):
        names.append(name)
        assert np.array_equal(y, full[name]), name
    assert names == [n for n, _ in ordered_nodes(g)]


# ---------------------------------------------------------------- blocked kernels vs loops

@pytest.mark.parametrize("kernel,stride,pads,dilation,groups", [
    ((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((2, 3), (2, 1), ((0, 1), (2, 0)), (1, 2), 2),
    ((3, 3), (1, 2), ((1, 1), (1, 1)), (1, 1), 4),
])
@pytest.mark.parametrize("block", [1, 40, 1 << 22])
def test_blocked_conv_matches_naive(monkeypatch, kernel, stride, pads, dilation, groups,
                                    block: int) -> None:
    monkeypatch.setattr(E, "BLOCK_ELEMS", block)
    rng = np.random.default_rng(block + groups)
    c, f, sp = 4, 8, (7, 6)
    x = rng.integers(-128, 128, size=(c, *sp))
    w = rng.integers(-127, 128, size=(f, c // groups, *kernel))
    bias = rng.integers(-(2**20), 2**20, size=f)
    win = make_window(sp, kernel, stride, pads, dilation)
    want = naive_conv(x, w, bias, kernel, stride, pads, dilation, groups)
    assert G.conv_acc(x, w, bias, win, groups).tolist() == want.tolist()
    rq = Requant(m0=rng.integers(1 << 30, 1 << 31, size=f), shift=rng.integers(20, 30, size=f),
                 lo=0, hi=127, act_lo=0)
    y, n = G.conv_requant(x.astype(np.int8), w.astype(np.int8), bias, win, rq, groups)
    y_ref, n_ref = G.requantize_counted(want.astype(np.int64), rq, axis=0)
    assert y.dtype == np.int8
    assert y.tolist() == y_ref.tolist() and n == n_ref


def test_k_chunks_cover_k_within_the_exactness_bound() -> None:
    for k, term, dtype in itertools.product((1, 27, 1032, 1033, 2304, 4608, 133_200),
                                            (1, 127 * 127, 128 * 127, 32767 * 127),
                                            (np.float32, np.float64)):
        chunks = E.k_chunks(k, term, dtype)
        limit = E.F32_EXACT if dtype is np.float32 else E.F64_EXACT
        assert chunks[0][0] == 0 and chunks[-1][1] == k
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
        sizes = [k1 - k0 for k0, k1 in chunks]
        assert max(sizes) * term <= limit                       # every BLAS call exact
        assert len(chunks) == math.ceil(k / (limit // term))    # no more calls than needed
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("xv,wv", [(-128, -127), (127, -127), (-128, 127)])
def test_blocked_conv_exact_at_the_float32_bound(xv: int, wv: int) -> None:
    """K = 128 * 9 = 1152 > 1032: two float32 chunks whose int32 sums are the true dot
    products at the extreme operands (a single float32 GEMM would round)."""
    c, f = 128, 3
    x = np.full((c, 5, 5), xv, dtype=np.int8)
    w = np.full((f, c, 3, 3), wv, dtype=np.int8)
    win = make_window((5, 5), (3, 3), (1, 1), ((0, 0), (0, 0)))
    assert G.conv_acc(x, w, None, win).tolist() == [[[1152 * xv * wv] * 3] * 3] * f
    assert G.dense_acc(x[:, 0, 0].repeat(40), w[:, :, 0, 0].repeat(40, axis=1), None,
                       acc_bits=64).tolist() == [5120 * xv * wv] * f


@pytest.mark.parametrize("acc_bits", [24, 32, 40])
def test_blocked_conv_accumulator_wraps(acc_bits: int) -> None:
    """133,200 terms of 127 x 127 = 2,148,382,800 > 2**31 - 1: the accumulator wraps at
    acc_bits exactly as the contract's wrap() does (int32 sums for 32 bits, int64 else)."""
    c = 14_800
    x = np.full((c, 3, 3), 127, dtype=np.int8)
    w = np.full((2, c, 3, 3), 127, dtype=np.int8)
    w[1, 0, 0, 0] = -127
    win = make_window((3, 3), (3, 3), (1, 1), ((0, 0), (0, 0)))
    exact = [133_200 * 127 * 127, 133_198 * 127 * 127]
    half = 1 << (acc_bits - 1)
    want = [((v + half) % (1 << acc_bits)) - half for v in exact]
    assert G.conv_acc(x, w, np.array([0, 5]), win, acc_bits=acc_bits).reshape(-1).tolist() == \
        [want[0], ((exact[1] + 5 + half) % (1 << acc_bits)) - half]
    assert want[0] != exact[0] or acc_bits == 40


# ---------------------------------------------------------------- VGG16 at scale (slow)

@pytest.mark.slow
def test_vgg16_quantize_and_run_peak_memory_under_1_5_gb(tmp_path) -> None:
    """`hwcnn run models/vgg16.yaml` (seeded He weights, 4 calibration images, one input), in
    a fresh interpreter: peak resident memory below 1.5 GB (the float64 weights alone are
    1.11 GB; before the blocked golden model it was 5.1 GB)."""
    shape = model_graph("vgg16").nodes["input"]["out_shape"]
    np.save(tmp_path / "x.npy", calibration_inputs(shape, 1, seed=3)[0])
    code = (
        "import resource, sys\n"
        "from hwcnn.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, "run", str(ROOT / "models" / "vgg16.yaml"),
                          "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz"),
                          "--layers", "fc8"], capture_output=True, text=True, check=True,
                         timeout=900)
    peak = int(out.stdout.split()[-1]) * 1024                   # Linux ru_maxrss: KiB
    assert peak < 1.5e9, peak
    with np.load(tmp_path / "y.npz") as z:
        assert z["fc8"].shape == (1000,) and z["fc8"].dtype == np.int8


@pytest.mark.slow
def test_vgg16_quantize_peak_memory_under_1_5_gb(tmp_path) -> None:
    """`hwcnn quantize models/vgg16.yaml` (seeded He weights, one calibration image, two
    evaluation images), in a fresh interpreter: peak resident memory below 1.5 GB. The report
    streams the float64 reference layer by layer (before: every layer's float output of the
    image held at once, 1.63 GB peak)."""
    code = (
        "import resource, sys\n"
        "from hwcnn.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, "quantize",
                          str(ROOT / "models" / "vgg16.yaml"), "-n", "2", "--calib-n", "1",
                          "-f", "json", "-o", str(tmp_path / "q.json")],
                         capture_output=True, text=True, check=True, timeout=900)
    peak = int(out.stdout.split()[-1]) * 1024                   # Linux ru_maxrss: KiB
    assert peak < 1.5e9, peak
    doc = json.loads((tmp_path / "q.json").read_text())
    assert doc["n_inputs"] == 2 and doc["layers"][-1]["name"] == "fc8"


def test_all_zero_conv_keeps_a_wide_bias() -> None:
    """No product at all (zero input): the accumulator is the bias, wrapped at acc_bits."""
    win = make_window((3, 3), (3, 3), (1, 1), ((0, 0), (0, 0)))
    x, w, bias = np.zeros((1, 3, 3), int), np.ones((1, 1, 3, 3), int), np.array([(1 << 35) + 7])
    assert G.conv_acc(x, w, bias, win, acc_bits=40).tolist() == [[[(1 << 35) + 7]]]
    assert G.conv_acc(x, w, bias, win, acc_bits=32).tolist() == [[[7]]]
