"""``hwcnn import`` and ``.onnx`` files given to the other commands: outputs, reproducibility,
and malformed models (one error line, verbatim; exit 2; nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.numerics.weights import load_weights
from tests.cli_run import run_cli
from tests.onnx_graphs import make, node, rand

PREFIX = "hwcnn: error: "


def small_model() -> onnx.ModelProto:
    return make([node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
                 node("BatchNormalization", ["conv", "s", "bb", "m", "v"], ["bn"]),
                 node("Relu", ["bn"], ["relu"]),
                 node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
                 node("Flatten", ["pool"], ["flat"]),
                 node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1)], [1, 2, 6, 6],
                {"w": rand(4, 2, 3, 3), "b": rand(4), "s": rand(4), "bb": rand(4), "m": rand(4),
                 "v": np.abs(rand(4)) + 0.5, "fw": rand(5, 36), "fb": rand(5)}, "y")


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    p = tmp_path / "small.onnx"
    onnx.save(small_model(), p)
    return p


def one_error(run) -> str:  # type: ignore[no-untyped-def]
    assert run.crash is None, run.crash
    assert run.code == 2, (run.code, run.err)
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), run.err
    return lines[0][len(PREFIX):]


def test_import_writes_spec_and_weights_reproducibly(onnx_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    a, wa = tmp_path / "a.yaml", tmp_path / "a.npz"
    b, wb = tmp_path / "b.yaml", tmp_path / "b.npz"
    for y, w in ((a, wa), (b, wb)):
        r = run_cli(["import", str(onnx_file), "-o", str(y), "--weights-out", str(w)], capsys)
        assert r.crash is None and r.code == 0, r.err
    assert a.read_bytes() == b.read_bytes() and wa.read_bytes() == wb.read_bytes()
    g = build_graph(load_spec(a))
    params = load_weights(wa, g)  # the file hwcnn quantize --weights reads
    model = small_model()
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(params["conv.weight"], inits["w"])
    np.testing.assert_array_equal(params["bn.mean"], inits["m"])   # statistics kept
    np.testing.assert_array_equal(params["bn.var"], inits["v"])
    np.testing.assert_array_equal(params["y.weight"], inits["fw"])  # transB=1: PyTorch layout
    assert str(tmp_path) not in a.read_text()  # no absolute paths


def test_every_command_takes_the_onnx_file(onnx_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["report", str(onnx_file)], capsys)
    assert r.code == 0 and "conv" in r.out, r.err
    # conv 4*(2*9)+4 = 76, bn 8, dense 5*36+5 = 185: counted by hand
    assert "269" in r.out
    r = run_cli(["explain", str(onnx_file), "--layer", "conv"], capsys)
    assert r.code == 0 and "(6 - 3 + 2*1)/1 + 1 = 6" in r.out, r.out + r.err
    r = run_cli(["quantize", str(onnx_file), "-n", "2"], capsys)  # the model's own weights
    assert r.code == 0, r.err
    r = run_cli(["verify", str(onnx_file)], capsys)
    assert r.code == 0 and "all layers match" in r.out, r.out + r.err


def _write(tmp_path: Path, model: onnx.ModelProto, name: str = "m.onnx") -> Path:
    p = tmp_path / name
    onnx.save(model, p)
    return p


def test_unsupported_operator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = make([node("Relu", ["x"], ["r"]), node("LeakyRelu", ["r"], ["y"], name="act")],
             [1, 2, 4, 4], {}, "y")
    p = _write(tmp_path, m)
    out = tmp_path / "out.yaml"
    msg = one_error(run_cli(["import", str(p), "-o", str(out)], capsys))
    assert msg == (f"{p}: node 1 'act' (LeakyRelu): unsupported operator 'LeakyRelu' "
                   "(hwcnn import --help lists the supported ones)")
    assert not out.exists()
    assert one_error(run_cli(["report", str(p)], capsys)) == msg


def test_truncated_file(onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = onnx_file.read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    msg = one_error(run_cli(["import", str(p)], capsys))
    assert msg == f"{p}: not a readable ONNX model (truncated or not an ONNX protobuf file)"
    p.write_bytes(b"")
    assert one_error(run_cli(["report", str(p)], capsys)).startswith(
        f"{p}: not a readable ONNX model (truncated or not an ONNX protobuf file)")


def test_dynamic_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = make([node("Relu", ["x"], ["y"])], ["N", 3, "H", 8], {}, "y")
    p = _write(tmp_path, m)
    msg = one_error(run_cli(["import", str(p)], capsys))
    assert msg == (f"{p}: input 'x' has a dynamic dimension 'H' (axis 2): hwcnn needs fixed "
                   "sizes (export with a fixed input size)")
    # a symbolic batch alone is fine: hwcnn computes per image
    ok = make([node("Relu", ["x"], ["y"])], ["N", 3, 8, 8], {}, "y")
    r = run_cli(["report", str(_write(tmp_path, ok, "ok.onnx"))], capsys)
    assert r.code == 0, r.err


def test_missing_initializer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = make([node("Conv", ["x", "w"], ["y"], name="conv1")], [1, 2, 4, 4], {}, "y")
    p = _write(tmp_path, m)
    msg = one_error(run_cli(["import", str(p), "--weights-out", str(tmp_path / "w.npz")], capsys))
    assert msg == (f"{p}: node 0 'conv1' (Conv): input 'w' is neither an initializer nor the "
                   "output of a node (missing initializer?)")
    assert not (tmp_path / "w.npz").exists()


def test_weight_that_is_not_constant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = make([node("Relu", ["x"], ["r"]), node("Conv", ["x", "r"], ["y"], name="c")],
             [1, 2, 3, 3], {}, "y")
    msg = one_error(run_cli(["import", str(_write(tmp_path, m))], capsys))
    assert msg.endswith("node 1 'c' (Conv): weight 'r' is not a constant (hwcnn needs weights "
                        "given by initializers or constant subgraphs)")


@pytest.mark.parametrize("nodes,inits,want", [
    ([node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2], name="t")], {},
     ("node 0 't' (Transpose): Transpose with perm [0, 1, 3, 2] is not supported (only inside a "
     "channel shuffle)")),
    ([node("Concat", ["x", "x"], ["y"], axis=2, name="cat")], {},
     "node 0 'cat' (Concat): Concat along axis 2 is not supported (the channel axis 1 is)"),
    ([node("Clip", ["x", "lo", "hi"], ["y"], name="cl")],
     {"lo": np.array(-1.0, np.float32), "hi": np.array(1.0, np.float32)},
     "node 0 'cl' (Clip): Clip to [-1.0, 1.0] is not supported (Clip(0, 6) is relu6)"),
])
def test_unrepresentable_attributes(nodes, inits, want, tmp_path: Path,  # type: ignore[no-untyped-def]
                                    capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, make(nodes, [1, 2, 3, 3], inits, "y"))
    assert one_error(run_cli(["import", str(p)], capsys)) == f"{p}: {want}"


def test_malformed_node_and_unrepresentable_size(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, make([node("LRN", ["x"], ["y"], name="norm")], [1, 2, 3, 3], {}, "y"))
    assert one_error(run_cli(["import", str(p)], capsys)) == (
        f"{p}: node 0 'norm' (LRN): missing required attribute 'size'")
    big = make([node("Conv", ["x", "w"], ["y"], name="c", group=1)], [1, 1, 8, 8],
               {"w": np.zeros((1, 1, 1, 1), np.float32)}, "y")
    big.graph.node[0].attribute.append(helper.make_attribute("strides", [5000, 1]))
    assert one_error(run_cli(["import", str(_write(tmp_path, big, "big.onnx"))], capsys)) == (
        f"{tmp_path / 'big.onnx'}: layer 'c': field 'stride': invalid value [5000, 1] (a positive "
        "integer or a list of positive integers)")


def test_two_inputs_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = helper.make_graph([node("Add", ["a", "b"], ["y"])], "t",
                          [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, 2, 3, 3])
                           for n in ("a", "b")],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    p = _write(tmp_path, helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert one_error(run_cli(["import", str(p)], capsys)) == (
        f"{p}: hwcnn imports networks with exactly one input, this graph has 2 ('a', 'b')")


def test_import_help_lists_operators(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["import", "--help"], capsys)
    for op in ("Conv", "Gemm", "BatchNormalization", "Resize", "LRN", "QuantizeLinear"):
        assert op in r.out
