"""The nine model-zoo graphs shipped with the onnx package import and report; per-layer
parameters, MACs and shapes are checked against counts made HERE from the ONNX graph itself
(initializer / constant shapes from ONNX's shape inference, output shapes x kernel volume)."""

from __future__ import annotations

import math
from pathlib import Path

import onnx
import pytest

from hwcnn.frontend.onnx_import import load_onnx
from hwcnn.graph.build import build_graph
from tests.onnx_graphs import onnx_shapes

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ["bvlc_alexnet", "zfnet512", "vgg19", "resnet50", "squeezenet", "inception_v1",
          "inception_v2", "densenet121", "shufflenet"]

#: Published totals of the architectures (Caffe2 model zoo): a second, external yardstick.
PUBLISHED_PARAMS = {"bvlc_alexnet": 60_965_224, "resnet50": 25_557_032, "squeezenet": 1_235_496}


def independent_counts(model: onnx.ModelProto) -> dict[str, tuple[int, int]]:
    """(params, MACs) per weight-carrying node, named as the importer names layers (node.name),
    computed only from ONNX's shapes. Mul/Add by constants after a Mul (BatchNorm written out)
    are charged to the Mul that starts the chain."""
    shp = onnx_shapes(model)
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}

    def const(t: str) -> bool:
        n = producer.get(t)
        return t in {i.name for i in model.graph.initializer} or (
            n is not None and n.op_type in ("ConstantOfShape", "Constant", "Unsqueeze")
            and all(const(i) for i in n.input))

    counts: dict[str, tuple[int, int]] = {}
    charged: dict[str, str] = {}  # tensor -> layer it belongs to (affine chains)
    for n in nodes:
        if n.op_type == "Conv":
            w = shp[n.input[1]]
            out = shp[n.output[0]]
            params = math.prod(w) + (w[0] if len(n.input) > 2 and n.input[2] else 0)
            macs = math.prod(out[1:]) * math.prod(w[1:])  # output elements x (C_in/g * F*F)
            counts[n.name] = (params, macs)
        elif n.op_type == "Gemm":
            w = shp[n.input[1]]
            params = math.prod(w) + (math.prod(shp[n.input[2]]) if len(n.input) > 2 else 0)
            counts[n.name] = (params, math.prod(w))
        elif n.op_type == "BatchNormalization":
            counts[n.name] = (math.prod(shp[n.input[1]]) + math.prod(shp[n.input[2]]), 0)
        elif n.op_type in ("Mul", "Add") and any(const(i) for i in n.input):
            c = next(i for i in n.input if const(i))
            x = next(i for i in n.input if not const(i))
            size = math.prod(shp[c])
            owner = charged.get(x)
            if owner is not None and counts[owner][1] == 0 and n.op_type == "Add":
                counts[owner] = (counts[owner][0] + size - shp[x][1], 0)
            else:
                owner = n.name
                counts[owner] = (2 * shp[x][1], 0)  # gamma and beta of the batchnorm it becomes
            charged[n.output[0]] = owner
    return counts


@pytest.mark.parametrize("name", MODELS)
def test_light_model_per_layer_counts(name: str) -> None:
    path = LIGHT / f"light_{name}.onnx"
    model = onnx.load(path)
    imp = load_onnx(path)
    g = build_graph(imp.spec)
    want = independent_counts(model)
    assert want, "the independent count found no layers"
    for layer, (params, macs) in want.items():
        cost = g.nodes[layer]["cost"]
        assert (cost.params, cost.macs) == (params, macs), layer
    total = sum(g.nodes[n]["cost"].params for n in g)
    assert total == sum(p for p, _ in want.values())
    if name in PUBLISHED_PARAMS:
        assert total == PUBLISHED_PARAMS[name]
    # every layer named after a node has ONNX's inferred output shape
    shp = onnx_shapes(model)
    by_name = {n.name: n for n in model.graph.node}
    checked = 0
    for layer in g:
        node = by_name.get(layer)
        if node is not None and node.output[0] in shp:
            assert tuple(g.nodes[layer]["out_shape"].as_list()) == shp[node.output[0]][1:], layer
            checked += 1
    assert checked >= len(want)


def test_negative_control_detects_a_wrong_count() -> None:
    """The comparison can fail: counting AlexNet's convs as if ungrouped (the classic slip)
    disagrees with the import on exactly the three grouped layers."""
    path = LIGHT / "light_bvlc_alexnet.onnx"
    model = onnx.load(path)
    shp = onnx_shapes(model)
    g = build_graph(load_onnx(path).spec)
    wrong = []
    for n in model.graph.node:
        if n.op_type == "Conv":
            w, x = shp[n.input[1]], shp[n.input[0]]
            ungrouped = math.prod(w[:1]) * x[1] * math.prod(w[2:]) + w[0]
            if g.nodes[n.name]["cost"].params != ungrouped:
                wrong.append(n.name)
    assert len(wrong) == 3


def test_light_alexnet_structure() -> None:
    """Hand-checked against the Caffe BVLC AlexNet: 5 convs (groups 2 on 2, 4, 5), 2 LRNs,
    3 max pools (the last with Caffe's ceil-mode written as pads [0, 0, 1, 1]), 3 dense."""
    g = build_graph(load_onnx(LIGHT / "light_bvlc_alexnet.onnx").spec)
    from hwcnn.frontend.layers import kind_name
    ks = [kind_name(g.nodes[n]["layer"]) for n in g]
    assert ks.count("conv2d") == 5 and ks.count("lrn") == 2 and ks.count("dense") == 3
    convs = [g.nodes[n]["layer"] for n in g if kind_name(g.nodes[n]["layer"]) == "conv2d"]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    pools = [n for n in g if kind_name(g.nodes[n]["layer"]) == "maxpool"]
    assert g.nodes[pools[-1]]["out_shape"].as_list() == [256, 6, 6]


@pytest.mark.parametrize("name", MODELS)
def test_light_model_reports_from_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``hwcnn report light_x.onnx -f json``: per-layer rows whose parameters and MACs add up
    to the independent count of the ONNX graph."""
    import json

    from tests.cli_run import run_cli

    path = LIGHT / f"light_{name}.onnx"
    r = run_cli(["report", str(path), "-f", "json"], capsys)
    assert r.crash is None and r.code == 0, r.err
    doc = json.loads(r.out)
    want = independent_counts(onnx.load(path))
    rows = {row["name"]: row for row in doc["layers"]}
    for layer, (params, macs) in want.items():
        assert (rows[layer]["params"], rows[layer]["macs"]) == (params, macs), layer
    assert doc["totals"]["total"]["params"] == sum(p for p, _ in want.values())
    assert doc["totals"]["total"]["macs"] == sum(m for _, m in want.values())
