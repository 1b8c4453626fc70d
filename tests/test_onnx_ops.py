"""Every supported ONNX operator, built with onnx.helper: the import's kinds, shapes (against
ONNX's shape inference) and float outputs (against ONNX's reference evaluator)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.onnx_graphs import check, make, node, rand


def kinds(g) -> list[str]:  # type: ignore[no-untyped-def]
    from hwcnn.frontend.layers import kind_name
    return [kind_name(g.nodes[n]["layer"]) for n in g if n != "input"]


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "strides": [2, 1]},
    {"kernel_shape": [3, 3], "dilations": [2, 2], "group": 2},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
    {"auto_pad": "VALID"},
    {"group": 4},
])
def test_conv_attributes(attrs: dict) -> None:
    m = make([node("Conv", ["x", "w", "b"], ["y"], **attrs)], [1, 4, 9, 10],
             {"w": rand(8, 4 // attrs.get("group", 1), 3, 3), "b": rand(8)}, "y")
    imp, g = check(m)
    assert kinds(g) == ["conv2d"]
    assert set(imp.weights) == {"y.weight", "y.bias"}


def test_conv3d_without_bias() -> None:
    m = make([node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1, 1, 1])], [1, 2, 4, 5, 6],
             {"w": rand(3, 2, 3, 3, 3)}, "y")
    _, g = check(m)
    assert kinds(g) == ["conv3d"] and not g.nodes["y"]["layer"].bias


def test_gemm_transb_alpha_beta_and_matmul_bias() -> None:
    m = make([node("Flatten", ["x"], ["f"]),
              node("Gemm", ["f", "w", "c"], ["h"], alpha=0.5, beta=2.0),
              node("MatMul", ["h", "w2"], ["mm"]), node("Add", ["mm", "b2"], ["y"])],
             [1, 2, 3, 2], {"w": rand(12, 5), "c": rand(5), "w2": rand(5, 4), "b2": rand(4)}, "y")
    _imp, g = check(m)
    assert kinds(g) == ["flatten", "dense", "dense"]
    assert g.nodes["mm"]["layer"].bias  # the Add became the MatMul's bias
    m2 = make([node("Gemm", ["x", "w", "c"], ["y"], transB=1)], [1, 6], {"w": rand(3, 6), "c": rand(3)}, "y")
    check(m2)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                     "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1,
                     "count_include_pad": 1, "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("GlobalAveragePool", {}),
    ("GlobalMaxPool", {}),
])
def test_pooling(op: str, attrs: dict) -> None:
    m = make([node(op, ["x"], ["y"], **attrs)], [1, 3, 8, 9], {}, "y", opset=19)
    check(m)


def test_add_sum_concat_and_relu() -> None:
    m = make([node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["b"]), node("Tanh", ["x"], ["c"]),
              node("Add", ["a", "b"], ["s1"]), node("Sum", ["s1", "b", "c"], ["s2"]),
              node("Concat", ["s2", "a"], ["y"], axis=1)], [1, 3, 4, 4], {}, "y")
    _, g = check(m)
    assert kinds(g) == ["relu", "sigmoid", "tanh", "add", "add", "concat"]


@pytest.mark.parametrize("opset", [6, 13])
def test_clip_is_relu6(opset: int) -> None:
    if opset == 6:
        clip = node("Clip", ["x"], ["y"], min=0.0, max=6.0)
        inits: dict[str, np.ndarray] = {}
    else:
        clip = node("Clip", ["x", "lo", "hi"], ["y"])
        inits = {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    m = make([clip], [1, 2, 3, 3], inits, "y", opset=opset)
    _, g = check(m)
    assert kinds(g) == ["relu6"]


def test_activations_and_silu_hardswish_patterns() -> None:
    m = make([node("HardSigmoid", ["x"], ["a"], alpha=0.2, beta=0.4),
              node("HardSwish", ["a"], ["b"]),
              node("Sigmoid", ["b"], ["sg"]), node("Mul", ["b", "sg"], ["silu"]),
              node("HardSigmoid", ["silu"], ["hs"], alpha=1 / 6, beta=0.5),
              node("Mul", ["hs", "silu"], ["y"])], [1, 2, 3, 3], {}, "y")
    _, g = check(m)
    assert kinds(g) == ["hardsigmoid", "hardswish", "silu", "hardswish"]


def test_squeeze_excitation_mul_broadcast() -> None:
    m = make([node("GlobalAveragePool", ["x"], ["p"]),
              node("Conv", ["p", "w1", "b1"], ["r"]), node("Relu", ["r"], ["rr"]),
              node("Conv", ["rr", "w2", "b2"], ["s"]), node("Sigmoid", ["s"], ["g"]),
              node("Mul", ["x", "g"], ["y"])], [1, 8, 5, 5],
             {"w1": rand(2, 8, 1, 1), "b1": rand(2), "w2": rand(8, 2, 1, 1), "b2": rand(8)}, "y")
    _, g = check(m)
    assert kinds(g)[-1] == "mul"


def test_batchnorm_and_batchnorm_written_as_mul_add() -> None:
    m = make([node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
              node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
              node("Mul", ["bn", "k"], ["mu"]), node("Add", ["mu", "o"], ["ad"]),
              node("Sub", ["ad", "o"], ["su"]), node("Div", ["su", "k2"], ["y"])], [1, 3, 4, 4],
             {"w": rand(4, 3, 1, 1), "s": rand(4), "b": rand(4), "m": rand(4),
              "v": np.abs(rand(4)) + 0.5, "k": rand(1, 4, 1, 1), "o": rand(4, 1, 1),
              "k2": np.array([2.0], np.float32)}, "y")
    imp, g = check(m)
    # the conv has no bias: the Add could not be its bias because a BatchNorm came between
    assert kinds(g) == ["conv2d", "batchnorm", "batchnorm"]
    assert g.nodes["bn"]["layer"].eps == pytest.approx(1e-3)
    for p in ("gamma", "beta", "mean", "var"):
        assert imp.weights[f"bn.{p}"].shape == (4,)


def test_flatten_reshape_squeeze_dropout_identity_softmax() -> None:
    m = make([node("Identity", ["x"], ["i"]), node("Dropout", ["i"], ["d"]),
              node("GlobalAveragePool", ["d"], ["p"]), node("Squeeze", ["p", "ax"], ["sq"]),
              node("Softmax", ["sq"], ["y"], axis=1)], [1, 5, 3, 3],
             {"ax": np.array([2, 3], np.int64)}, "y")
    _, g = check(m)
    assert kinds(g) == ["dropout", "global_avgpool", "flatten", "softmax"]
    m2 = make([node("Reshape", ["x", "sh"], ["r"]), node("Flatten", ["r"], ["y"])], [1, 2, 3, 3],
              {"sh": np.array([1, -1], np.int64)}, "y")
    _, g2 = check(m2)
    assert kinds(g2) == ["flatten"]


def test_torch_style_dynamic_flatten_is_folded() -> None:
    """PyTorch writes x.view(x.size(0), -1) as Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    m = make([node("Shape", ["x"], ["sh"]), node("Gather", ["sh", "zero"], ["n"], axis=0),
              node("Unsqueeze", ["n", "ax0"], ["nu"]), node("Concat", ["nu", "minus1"], ["tgt"], axis=0),
              node("Reshape", ["x", "tgt"], ["y"])], [1, 2, 3, 3],
             {"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64),
              "minus1": np.array([-1], np.int64)}, "y")
    _, g = check(m)
    assert kinds(g) == ["flatten"]


@pytest.mark.parametrize("value", [0.0, 0.5])
def test_pad(value: float) -> None:
    m = make([node("Pad", ["x", "pads", "v"], ["y"])], [1, 2, 3, 4],
             {"pads": np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64), "v": np.array(value, np.float32)},
             "y", opset=13)
    _, g = check(m)
    assert kinds(g) == ["pad"] and g.nodes["y"]["out_shape"].as_list() == [2, 7, 6]


@pytest.mark.parametrize("op,opset,ct,nm", [
    ("Resize", 13, "asymmetric", "floor"),
    ("Resize", 13, "half_pixel", "round_prefer_floor"),
    ("Resize", 13, "pytorch_half_pixel", "round_prefer_ceil"),
    ("Upsample", 9, None, None),
])
def test_resize_nearest(op: str, opset: int, ct: str | None, nm: str | None) -> None:
    scales = np.array([1, 1, 2, 3], np.float32)
    if op == "Resize":
        n = node("Resize", ["x", "", "sc"], ["y"], mode="nearest",
                 coordinate_transformation_mode=ct, nearest_mode=nm)
    else:
        n = node("Upsample", ["x", "sc"], ["y"], mode="nearest")
    _, g = check(make([n], [1, 2, 3, 4], {"sc": scales}, "y", opset=opset))
    assert kinds(g) == ["resize"]


def test_lrn_against_the_operator_definition() -> None:
    """onnx.reference's LRN loops over the batch axis instead of the channels (only channel 0
    is normalized), so the expected values are the ONNX operator definition, written out.
    (Float attributes are float32 in ONNX; the import reads their shortest decimal, 0.01.)"""
    from hwcnn.graph.build import output_names
    from hwcnn.numerics.floatref import run_float
    from hwcnn.numerics.weights import check_params

    size, alpha, beta, bias = 5, 1e-2, 0.75, 2.0
    m = make([node("LRN", ["x"], ["y"], size=size, alpha=alpha, beta=beta, bias=bias)],
             [1, 6, 3, 3], {}, "y")
    imp, g = check(m, compare=False)
    assert kinds(g) == ["lrn"]
    x = np.random.default_rng(3).standard_normal((6, 3, 3))
    want = np.empty_like(x)
    for c in range(6):
        lo, hi = max(0, c - (size - 1) // 2), min(5, c + -(-(size - 1) // 2))
        sq = sum(x[i] ** 2 for i in range(lo, hi + 1))
        want[c] = x[c] / (bias + alpha / size * sq) ** beta
    got = run_float(g, check_params(imp.weights, g), x)[output_names(g)[-1]]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_channel_shuffle() -> None:
    m = make([node("Relu", ["x"], ["l"]),
              node("Reshape", ["l", "s5"], ["r5"]), node("Transpose", ["r5"], ["t"], perm=[0, 2, 1, 3, 4]),
              node("Reshape", ["t", "s4"], ["y"])], [1, 6, 3, 3],
             {"s5": np.array([1, 3, 2, 3, 3], np.int64), "s4": np.array([1, 6, 3, 3], np.int64)}, "y")
    _, g = check(m)
    assert kinds(g) == ["relu", "channel_shuffle"]
    assert g.nodes["y"]["layer"].groups == 3


def test_constant_subgraph_weights_are_folded() -> None:
    """Weights from ConstantOfShape (as the light model-zoo graphs) and Constant nodes."""
    m = make([node("ConstantOfShape", ["wshape"], ["w"],
                   value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25])),
              helper.make_node("Constant", [], ["b"], value=helper.make_tensor(
                  "bv", TensorProto.FLOAT, [4], [1, 2, 3, 4])),
              node("Conv", ["x", "w", "b"], ["y"])], [1, 2, 3, 3],
             {"wshape": np.array([4, 2, 3, 3], np.int64)}, "y")
    imp, _g = check(m)
    assert np.all(imp.weights["y.weight"] == 0.25) and imp.weights["y.weight"].shape == (4, 2, 3, 3)
    assert imp.weights["y.bias"].tolist() == [1, 2, 3, 4]


def test_qdq_weights_dequantized_and_activation_scales_kept() -> None:
    wq = np.arange(-8, 10, dtype=np.int8).reshape(2, 1, 3, 3)
    m = make([node("DequantizeLinear", ["wq", "ws"], ["w"]),
              node("QuantizeLinear", ["x", "xs", "zp"], ["xq"]),
              node("DequantizeLinear", ["xq", "xs", "zp"], ["xd"]),
              node("Conv", ["xd", "w"], ["y"])], [1, 1, 4, 4],
             {"wq": wq, "ws": np.array(0.5, np.float32), "xs": np.array(0.05, np.float32),
              "zp": np.array(0, np.int8)}, "y",
             opset=19)
    # the reference quantizes x (error <= 0.025 per element, 9 taps of |w| <= 4.5)
    imp, g = check(m, atol=9 * 4.5 * 0.025 + 1e-6)
    assert kinds(g) == ["conv2d"]
    np.testing.assert_array_equal(imp.weights["y.weight"], wq.astype(np.float32) * 0.5)
    assert imp.act_scales == {"input": pytest.approx(0.05)}
    assert "#   input: 0.05" in imp.yaml
