"""QDQ ONNX models keep their scales: QuantizeLinear/DequantizeLinear graphs built with
onnx.helper are imported, quantized with the model's own scales and integers, and the golden
model is checked exactly against integer loops written here and within one LSB against ONNX's
reference evaluator (which rounds half to even in float32, where hwcnn rounds half up once)."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from hwcnn.errors import ConfigError, DataError
from hwcnn.frontend.onnx_import import import_model
from hwcnn.graph import build_graph
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.quantize import QuantPolicy, ScaleMode, quantize_network
from hwcnn.numerics.weights import check_params, load_weights

F = TensorProto.FLOAT


class QDQ:
    """A QDQ graph under construction (int8, zero point 0, as onnxruntime's symmetric mode)."""

    def __init__(self, x_shape: list[int], seed: int = 0) -> None:
        self.x_shape = x_shape
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {"zp": np.array(0, np.int8)}
        self.rng = np.random.default_rng(seed)
        self.scales: dict[str, float] = {}

    def q(self, x: str, scale: float, name: str, zp: str = "zp") -> str:
        """QuantizeLinear + DequantizeLinear of activation ``x``: returns the float tensor."""
        self.inits[f"{name}_s"] = np.array(scale, np.float32)
        self.scales[name] = float(np.float32(scale))
        self.nodes.append(helper.make_node("QuantizeLinear", [x, f"{name}_s", zp], [f"{name}_q"],
                                           name=f"{name}_quant"))
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", zp],
                                           [f"{name}_d"], name=f"{name}_dequant"))
        return f"{name}_d"

    def weight(self, name: str, wq: np.ndarray, scale: np.ndarray, axis: int = 0) -> str:
        self.inits[f"{name}_wq"] = wq.astype(np.int8)
        self.inits[f"{name}_ws"] = np.asarray(scale, np.float32)
        self.inits[f"{name}_wz"] = np.zeros(np.asarray(scale).shape, np.int8)
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{name}_wq", f"{name}_ws",
                                                                f"{name}_wz"], [f"{name}_w"],
                                           name=f"{name}_wdq", axis=axis))
        return f"{name}_w"

    def bias(self, name: str, bq: np.ndarray, scale: np.ndarray) -> str:
        self.inits[f"{name}_bq"] = bq.astype(np.int32)
        self.inits[f"{name}_bs"] = np.asarray(scale, np.float32)
        self.inits[f"{name}_bz"] = np.zeros(np.asarray(scale).shape, np.int32)
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{name}_bq", f"{name}_bs",
                                                                f"{name}_bz"], [f"{name}_b"],
                                           name=f"{name}_bdq", axis=0))
        return f"{name}_b"

    def op(self, op: str, ins: list[str], name: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op, ins, [name], name=name, **attrs))
        return name

    def model(self, out: str):  # type: ignore[no-untyped-def]
        tensors = [numpy_helper.from_array(v, k) for k, v in self.inits.items()]
        graph = helper.make_graph(self.nodes, "qdq",
                                  [helper.make_tensor_value_info("x", F, [1, *self.x_shape])],
                                  [helper.make_tensor_value_info(out, F, None)], tensors)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _quantized(m, xs: list[np.ndarray], policy: QuantPolicy | None = None):  # type: ignore[no-untyped-def]
    policy = policy or QuantPolicy()
    imp = import_model(m, file="q.onnx")
    g = build_graph(imp.spec)
    params = check_params(imp.weights, g, "q.onnx")
    return imp, g, params, quantize_network(g, params, xs, policy)


def _reference(m, x: np.ndarray, out: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return ReferenceEvaluator(m).run([out], {"x": x[None].astype(np.float32)})[0][0]


def _round_half_up(v: Fraction) -> int:
    return math.floor(v + Fraction(1, 2))


def _round_half_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _check_multiplier(m0: int, shift: int, real: float) -> None:
    """The contract's multiplier (written out here): M0 in [2**30, 2**31), |M0 2**-shift - M|
    at most half a unit of the last place."""
    assert 2**30 <= m0 < 2**31
    assert abs(Fraction(m0, 2**shift) - Fraction(real)) <= Fraction(1, 2**(shift + 1))


def _int8_input(x: np.ndarray, s: float) -> np.ndarray:
    return np.clip(np.vectorize(_round_half_away)(x.astype(np.float64) / s), -128, 127)


def _conv_model(ys: float = 0.07, xs: float = 0.02, ws: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    b = QDQ([3, 6, 6])
    wq = b.rng.integers(-127, 128, size=(4, 3, 3, 3))
    wq[0, 0, 0, 0] = -128                        # the full int8 range survives
    ws = np.array([0.011, 0.004, 0.0093, 0.0061], np.float32) if ws is None else ws
    bq = b.rng.integers(-3000, 3000, size=4)
    bs = (np.float32(xs) * ws).astype(np.float32)  # onnxruntime's bias scale: s_in * s_w
    xd = b.q("x", xs, "inq")
    y = b.op("Conv", [xd, b.weight("c", wq, ws), b.bias("c", bq, bs)], "conv", pads=[1, 1, 1, 1])
    b.q(y, ys, "outq")
    return b, wq, ws, bq


def test_conv_keeps_scales_and_integers_exactly() -> None:
    b, wq, ws, bq = _conv_model()
    m = b.model("outq_d")
    x = b.rng.uniform(-2, 2, size=(3, 6, 6))
    imp, _, _, q = _quantized(m, [x])
    assert imp.weights["conv.act_scale"] == np.float32(0.07)
    assert imp.weights["input.act_scale"] == np.float32(0.02)
    np.testing.assert_array_equal(imp.weights["conv.weight_scale"], ws.astype(np.float64))
    ql = q.by_name["conv"]
    assert ql.out.scale == b.scales["outq"] and q.input_format.scale == b.scales["inq"]
    np.testing.assert_array_equal(ql.weight, wq)           # the model's own integers
    np.testing.assert_array_equal(ql.bias, bq)
    np.testing.assert_array_equal(ql.weight_scale, ws.astype(np.float64))
    xq = _int8_input(x, b.scales["inq"])
    got = run_network(q, quantize_input(q, x)).tensors["conv"]
    # the integer loop of the contract: exact products, one half-up rounding, saturation
    xp = np.pad(xq, ((0, 0), (1, 1), (1, 1))).astype(int)
    for f in range(4):
        m0, sh = int(ql.requant.m0[f]), int(ql.requant.shift[f])
        _check_multiplier(m0, sh, b.scales["inq"] * float(ws[f]) / b.scales["outq"])
        for i in range(6):
            for j in range(6):
                acc = int(np.sum(xp[:, i:i + 3, j:j + 3] * wq[f])) + int(bq[f])
                want = min(127, max(-128, _round_half_up(Fraction(acc * m0, 2**sh))))
                assert got[f, i, j] == want, (f, i, j)
    # ONNX's reference: float32 arithmetic and half-to-even rounding, within one LSB
    ref = _reference(m, x, "outq_q").astype(int)
    assert np.max(np.abs(ref - got)) <= 1
    assert np.mean(ref == got) > 0.97


def test_power_of_two_scales_differ_from_onnx_only_at_ties() -> None:
    """Power-of-two scales: the multiplier is exact (M0 = 2**30), so the golden output is the
    exact half-up rounding and differs from ONNX's half-to-even only at exact ties."""
    ws = np.full(4, 2.0 ** -6, np.float32)
    b, wq, _, bq = _conv_model(ys=2.0 ** -5, xs=2.0 ** -4, ws=ws)
    m = b.model("outq_d")
    x = b.rng.integers(-100, 100, size=(3, 6, 6)) / 16.0   # exactly representable inputs
    for mode in (ScaleMode.REAL, ScaleMode.POW2):
        _, _, _, q = _quantized(m, [x], QuantPolicy(scale_mode=mode))
        ql = q.by_name["conv"]
        assert all(int(s) - (30 if mode is ScaleMode.REAL else 0) == 5
                   for s in np.ravel(ql.requant.shift))
        got = run_network(q, quantize_input(q, x)).tensors["conv"].astype(int)
        ref = _reference(m, x, "outq_q").astype(int)
        xp = np.pad(np.rint(x * 16), ((0, 0), (1, 1), (1, 1))).astype(int)
        ties = 0
        for f in range(4):
            for i in range(6):
                for j in range(6):
                    acc = int(np.sum(xp[:, i:i + 3, j:j + 3] * wq[f])) + int(bq[f])
                    exact = Fraction(acc, 32)
                    want = min(127, max(-128, _round_half_up(exact)))
                    assert got[f, i, j] == want
                    if exact.denominator == 2 and -128 <= want <= 127 and abs(exact) < 127:
                        ties += 1
                        assert ref[f, i, j] == want - (want % 2)   # ONNX: half to even
                    else:
                        assert ref[f, i, j] == want
        assert ties > 0                                           # the data has ties


def test_dense_gemm_per_tensor_scale() -> None:
    b = QDQ([10])
    wq = b.rng.integers(-127, 128, size=(5, 10))
    ws = np.array(0.013, np.float32)
    bq = b.rng.integers(-500, 500, size=5)
    xd = b.q("x", 0.03, "inq")
    y = b.op("Gemm", [xd, b.weight("fc", wq, ws), b.bias("fc", bq, np.float32(0.03) * ws)], "fc",
             transB=1)
    b.q(y, 0.05, "outq")
    m = b.model("outq_d")
    xs = [b.rng.uniform(-3, 3, size=10) for _ in range(20)]
    _, _, _, q = _quantized(m, xs[:1])
    ql = q.by_name["fc"]
    np.testing.assert_array_equal(ql.weight, wq)
    np.testing.assert_array_equal(ql.weight_scale, np.full(5, float(ws)))
    for x in xs:
        got = run_network(q, quantize_input(q, x)).tensors["fc"].astype(int)
        xq = _int8_input(x, b.scales["inq"]).astype(int)
        for u in range(5):
            m0, sh = int(ql.requant.m0[u]), int(ql.requant.shift[u])
            acc = int(np.dot(wq[u], xq)) + int(bq[u])
            assert got[u] == min(127, max(-128, _round_half_up(Fraction(acc * m0, 2**sh))))
        assert np.max(np.abs(_reference(m, x, "outq_q").astype(int) - got)) <= 1


def test_add_of_differently_scaled_operands() -> None:
    """onnxruntime gives each Add operand its own scale; the golden add aligns them with one
    multiplier each and rounds once."""
    b = QDQ([2, 4, 4])
    xd = b.q("x", 0.02, "inq")
    w1 = b.weight("c1", b.rng.integers(-127, 128, size=(2, 2, 1, 1)), np.float32(0.01))
    w2 = b.weight("c2", b.rng.integers(-127, 128, size=(2, 2, 1, 1)), np.float32(0.02))
    a1 = b.q(b.op("Conv", [xd, w1], "c1"), 0.031, "a1q")
    a2 = b.q(b.op("Conv", [xd, w2], "c2"), 0.047, "a2q")
    b.q(b.op("Add", [a1, a2], "sum"), 0.06, "sumq")
    m = b.model("sumq_d")
    x = b.rng.uniform(-2, 2, size=(2, 4, 4))
    _, _, _, q = _quantized(m, [x])
    ql = q.by_name["sum"]
    assert [q.by_name[s].out.scale for s in ql.inputs] == [b.scales["a1q"], b.scales["a2q"]]
    res = run_network(q, quantize_input(q, x))
    x1, x2 = (res.tensors[s].astype(int) for s in ql.inputs)
    m1, m2 = ql.add_m0
    for mi, s in ((m1, "a1q"), (m2, "a2q")):
        assert abs(Fraction(mi, 2**ql.add_shift) - Fraction(b.scales[s] / b.scales["sumq"])) \
            <= Fraction(1, 2**(ql.add_shift + 1))
    got = res.tensors["sum"].astype(int)
    for idx in np.ndindex(got.shape):
        acc = int(x1[idx]) * m1 + int(x2[idx]) * m2
        assert got[idx] == min(127, max(-128, _round_half_up(Fraction(acc, 2**ql.add_shift))))
    # each operand agrees with ONNX within one LSB; the sum then within two
    for s in ("a1q", "a2q"):
        assert np.max(np.abs(_reference(m, x, f"{s}_q").astype(int)
                             - res.tensors[{"a1q": "c1", "a2q": "c2"}[s]])) <= 1
    assert np.max(np.abs(_reference(m, x, "sumq_q").astype(int) - got)) <= 2


def _network():  # type: ignore[no-untyped-def]
    b = QDQ([3, 8, 8], seed=4)
    xd = b.q("x", 0.016, "inq")
    c1 = b.op("Conv", [xd, b.weight("c1", b.rng.integers(-127, 128, size=(8, 3, 3, 3)),
                                    b.rng.uniform(0.002, 0.01, 8)),
                       b.bias("c1", b.rng.integers(-2000, 2000, size=8),
                              np.float32(0.016) * b.inits["c1_ws"])], "c1", pads=[1] * 4)
    r1 = b.q(b.op("Relu", [c1], "r1"), 0.05, "r1q")
    p1 = b.q(b.op("MaxPool", [r1], "p1", kernel_shape=[2, 2], strides=[2, 2]), 0.05, "p1q")
    c2 = b.op("Conv", [p1, b.weight("c2", b.rng.integers(-127, 128, size=(8, 8, 3, 3)),
                                    b.rng.uniform(0.002, 0.006, 8))], "c2", pads=[1] * 4)
    c2d = b.q(c2, 0.08, "c2q")
    s = b.q(b.op("Add", [c2d, p1], "add"), 0.09, "addq")
    r2 = b.op("Relu", [s], "r2")
    gap = b.q(b.op("GlobalAveragePool", [r2], "gap"), 0.09, "gapq")   # the scale it keeps
    fl = b.op("Flatten", [gap], "flat")
    fc = b.op("Gemm", [fl, b.weight("fc", b.rng.integers(-127, 128, size=(5, 8)),
                                    np.float32(0.02))], "fc", transB=1)
    b.q(fc, 0.03, "fcq")
    return b, b.model("fcq_d")


def test_small_network_keeps_every_scale_and_agrees_with_onnx() -> None:
    b, m = _network()
    xs = [b.rng.uniform(-2, 2, size=(3, 8, 8)) for _ in range(8)]
    _, _, _, q = _quantized(m, xs[:1])
    # every QDQ scale is the scale of the tensor it quantizes
    for layer, s in (("input", "inq"), ("c1", "r1q"), ("p1", "p1q"), ("c2", "c2q"),
                     ("add", "addq"), ("fc", "fcq")):
        assert q.by_name[q.alias[layer]].out.scale == b.scales[s], layer
    assert q.by_name["c1"].fused == ("r1",)
    first, last = [], []
    for x in xs:
        res = run_network(q, quantize_input(q, x))
        first.append(_reference(m, x, "r1q_q").astype(int) - res.tensors["c1"])
        last.append(_reference(m, x, "fcq_q").astype(int) - res.tensors["fc"])
    # the first layer sees the same integers as ONNX: one LSB (half-even vs half-up, float32)
    assert np.max(np.abs(first)) <= 1 and np.mean(np.array(first) == 0) > 0.97
    # deeper, a one-LSB difference in a layer's input moves its output by a few LSB at most
    assert np.max(np.abs(last)) <= 3 and np.mean(np.abs(last)) < 0.5


def test_imported_weights_file_keeps_the_scales(tmp_path) -> None:
    b, m = _network()
    imp = import_model(m, file="q.onnx")
    g = build_graph(imp.spec)
    imp.write_npz(tmp_path / "w.npz")
    params = load_weights(tmp_path / "w.npz", g)
    assert params["c1.weight_scale"].shape == (8,) and params["r1.act_scale"].shape == ()
    xs = [b.rng.uniform(-2, 2, size=(3, 8, 8))]
    a = quantize_network(g, params, xs)
    c = quantize_network(g, check_params(imp.weights, g), xs)
    assert [ql.out.scale for ql in a.layers] == [ql.out.scale for ql in c.layers]


@pytest.mark.parametrize("dtype, zp, weight, want", [
    (np.int8, 3, False, "layer 'input': its output has the asymmetric zero point +3"),
    (np.uint8, 0, False, "layer 'input': its output has the asymmetric zero point -128"),
    (np.int8, 0, True, "layer 'conv': its weights have the asymmetric zero point -5"),
])
def test_asymmetric_zero_point_imports_and_quantize_refuses_it(tmp_path, capsys, dtype, zp,
                                                               weight, want) -> None:
    """An asymmetric QDQ model imports (report needs no scales); quantize refuses it in one
    line before any work, from the .onnx and from the imported weights file alike."""
    import onnx

    from tests.cli_run import run_cli

    b = QDQ([3, 6, 6])
    b.inits["zpx"] = np.array(zp, dtype)
    xd = b.q("x", 0.02, "inq", zp="zpx")
    w = b.weight("c", b.rng.integers(-127, 128, size=(2, 3, 1, 1)), np.float32(0.01))
    if weight:
        b.inits["c_wz"] = np.array(-5, np.int8)
    b.op("Conv", [xd, w], "conv")
    path = tmp_path / "a.onnx"
    onnx.save(b.model("conv"), path)
    assert run_cli(["report", str(path)], capsys).code == 0
    tail = ("(in int8 codes); hwcnn's fixed-point contract is symmetric (int8 with zero point 0, "
            "or uint8 with zero point 128)\n")
    r = run_cli(["quantize", str(path), "-o", str(tmp_path / "q.txt")], capsys)
    assert r.code == 2 and r.err == f"hwcnn: error: {path}: {want} {tail}", r
    assert not (tmp_path / "q.txt").exists()
    assert run_cli(["import", str(path), "-o", str(tmp_path / "a.yaml"),
                    "--weights-out", str(tmp_path / "a.npz")], capsys).code == 0
    yml = str(tmp_path / "a.yaml")
    r = run_cli(["quantize", yml, "--weights", str(tmp_path / "a.npz")], capsys)
    assert r.code == 2 and r.err == f"hwcnn: error: {yml}: {want} {tail}", r


def test_uint8_with_zero_point_128_is_symmetric() -> None:
    b = QDQ([3, 6, 6])
    b.inits["zp128"] = np.array(128, np.uint8)
    xd = b.q("x", 0.02, "inq", zp="zp128")
    b.q(b.op("Conv", [xd, b.weight("c", b.rng.integers(-127, 128, size=(2, 3, 1, 1)),
                                   np.float32(0.01))], "conv"), 0.05, "outq", zp="zp128")
    m = b.model("outq_d")
    x = b.rng.uniform(-2, 2, size=(3, 6, 6))
    _, _, _, q = _quantized(m, [x])
    got = run_network(q, quantize_input(q, x)).tensors["conv"].astype(int)
    ref = _reference(m, x, "outq_q").astype(int) - 128          # uint8 code - 128 = int8 code
    assert np.max(np.abs(ref - got)) <= 1 and np.mean(ref == got) > 0.9


def test_given_scale_errors() -> None:
    b, *_ = _conv_model()
    m = b.model("outq_d")
    x = b.rng.uniform(-2, 2, size=(3, 6, 6))
    with pytest.raises(ConfigError, match=r"^layer 'input': given scale 0\.0199\d* is not a power of "
                                          r"two \(--scales pow2 requantizes by shifts only\)$"):
        _quantized(m, [x], QuantPolicy(scale_mode=ScaleMode.POW2))
    with pytest.raises(ConfigError, match=r"^given activation scales are for 8-bit tensors; the "
                                          r"activations are 16-bit \(--act-bits\)$"):
        _quantized(m, [x], QuantPolicy(act_bits=16))
    # a max pool cannot change the scale of its input
    p = QDQ([2, 4, 4])
    p.q(p.op("MaxPool", [p.q("x", 0.02, "inq")], "pool", kernel_shape=[2, 2]), 0.03, "outq")
    with pytest.raises(ConfigError, match=r"^layer 'pool': given scale 0\.0299\d* differs from its "
                                          r"input's scale 0\.01999\d*; a maxpool keeps its "
                                          r"input's scale$"):
        _quantized(p.model("outq_d"), [np.zeros((2, 4, 4))])


def test_given_scales_in_a_weights_file_are_checked(tmp_path) -> None:
    _, m = _network()
    imp = import_model(m, file="q.onnx")
    g = build_graph(imp.spec)
    base = dict(imp.weights)
    for key, value, msg in (
            ("r1.act_scale", np.array(-0.5), "has a scale that is not positive"),
            ("c1.weight_scale", np.zeros(8), "has a scale that is not positive"),
            ("c1.weight_scale", np.ones(3), r"has shape \[3\], expected \[8\]"),
            ("zz.act_scale", np.array(1.0), "unexpected tensor 'zz.act_scale'")):
        path = tmp_path / "w.npz"
        np.savez(path, **{**base, key: value})
        with pytest.raises(DataError, match=rf"^{path}: (tensor '{key}' )?{msg}"):
            load_weights(path, g)


def test_cli_quantize_run_and_verify_use_the_model_scales(tmp_path, capsys) -> None:
    """`hwcnn quantize/run/verify model.onnx` take the QDQ scales (no calibration); verify
    matches the array bit for bit; an add of differently scaled operands is refused by verify
    in one line (the pool unit has one multiplier)."""
    import json

    import onnx

    from tests.cli_run import run_cli

    b, *_ = _conv_model()
    path = tmp_path / "conv.onnx"
    onnx.save(b.model("outq_d"), path)
    r = run_cli(["quantize", str(path), "-n", "2", "-f", "json"], capsys)
    assert r.code == 0, r
    doc = json.loads(r.out)
    fmts = {row["name"]: row["format"] for row in doc["layers"]}
    assert fmts == {"input": "int8*0.02", "conv": "int8*0.07"}
    x = b.rng.uniform(-2, 2, size=(3, 6, 6))
    np.save(tmp_path / "x.npy", x)
    r = run_cli(["run", str(path), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "y.npz")], capsys)
    assert r.code == 0, r
    with np.load(tmp_path / "y.npz") as z:
        got = z["conv"].astype(int)
    ref = _reference(b.model("outq_d"), x, "outq_q").astype(int)
    assert np.max(np.abs(ref - got)) <= 1
    r = run_cli(["verify", str(path), "--array", "4x4"], capsys)
    assert r.code == 0 and "all layers match" in r.out, r
    _, m = _network()
    onnx.save(m, tmp_path / "net.onnx")
    r = run_cli(["verify", str(tmp_path / "net.onnx"), "--array", "4x4"], capsys)
    assert r.code == 2 and re.fullmatch(
        r"hwcnn: error: add 'add': its inputs need different multipliers \[\d+, \d+\]; the "
        r"vector unit applies one\n", r.err), r
