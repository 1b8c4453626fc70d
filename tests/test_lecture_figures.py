"""The lecture's numbers, worked by hand in this file (never taken from hwcnn's own output).

Sources: seeds 000 (AlexNet budgets), 002 (stride/padding, 32x32x3, VGG16 table),
004 (AlexNet-at-224 table, 1x1 bottleneck).
"""

from __future__ import annotations

import pytest

from hwcnn.graph.build import ordered_nodes
from hwcnn.graph.costs import Group, LayerCost, group_of

from .conftest import graph_of, model_graph


def _nodes(g):  # name -> node attrs
    return dict(ordered_nodes(g))


def _sum(g, group=None) -> LayerCost:
    total = LayerCost()
    for _, node in ordered_nodes(g):
        if group is None or group_of(node["layer"]) is group:
            total += node["cost"]
    return total


# -- seed 002: 7x7 input, 3x3 filter ----------------------------------------------------------

@pytest.mark.parametrize("stride,pad,expected", [(1, 0, 5), (2, 0, 3), (1, 1, 7)])
def test_seven_by_seven(stride, pad, expected):
    g = graph_of(f"""
name: t
input: [1, 7, 7]
layers: [{{name: c, kind: conv2d, filters: 1, kernel: 3, stride: {stride}, padding: {pad}}}]
""")
    assert _nodes(g)["c"]["out_shape"].spatial == (expected, expected)


def test_stride_three_does_not_fit_in_strict_mode():
    from hwcnn.errors import SpecError

    text = """
name: t
input: [1, 7, 7]
layers: [{name: c, kind: conv2d, filters: 1, kernel: 3, stride: 3}]
"""
    # (7 - 3)/3 + 1 = 2.33: floor semantics give 2, strict mode refuses.
    assert _nodes(graph_of(text))["c"]["out_shape"].spatial == (2, 2)
    with pytest.raises(SpecError, match=r"does not fit exactly.*2\.33"):
        graph_of(text, strict=True)


def test_32x32x3_ten_5x5_filters_pad_2():
    g = graph_of("""
name: t
input: [3, 32, 32]
layers: [{name: c, kind: conv2d, filters: 10, kernel: 5, stride: 1, padding: 2}]
""")
    node = _nodes(g)["c"]
    assert node["out_shape"].lecture() == "32x32x10"      # (32 + 2*2 - 5)/1 + 1 = 32
    assert node["cost"].params == 760                       # 10 * (5*5*3 + 1) = 10 * 76


# -- seed 000/002: AlexNet at 227 -------------------------------------------------------------

ALEXNET227 = {
    # name: (H=W, C, params) worked by hand: K*(F*F*C_in + 1), dense: in*out + out
    "conv1": (55, 96, 96 * (11 * 11 * 3 + 1)),          # (227-11)/4+1 = 55; 34,944
    "pool1": (27, 96, 0),                               # (55-3)/2+1 = 27
    "conv2": (27, 256, 256 * (5 * 5 * 96 + 1)),         # (27+4-5)/1+1 = 27; 614,656
    "pool2": (13, 256, 0),
    "conv3": (13, 384, 384 * (3 * 3 * 256 + 1)),        # 885,120
    "conv4": (13, 384, 384 * (3 * 3 * 384 + 1)),        # 1,327,488
    "conv5": (13, 256, 256 * (3 * 3 * 384 + 1)),        # 884,992
    "pool3": (6, 256, 0),
    "fc6": (None, 4096, 6 * 6 * 256 * 4096 + 4096),     # 37,752,832
    "fc7": (None, 4096, 4096 * 4096 + 4096),
    "fc8": (None, 1000, 4096 * 1000 + 1000),
}


def test_alexnet227_per_layer():
    nodes = _nodes(model_graph("alexnet227"))
    for name, (hw, c, params) in ALEXNET227.items():
        node = nodes[name]
        expected = (c, (hw, hw)) if hw else (c, ())
        assert (node["out_shape"].channels, node["out_shape"].spatial) == expected, name
        assert node["cost"].params == params, name
    assert nodes["conv1"]["cost"].params == 34_944


def test_alexnet227_conv_vs_dense_budgets():
    g = model_graph("alexnet227")
    conv, dense = _sum(g, Group.CONV), _sum(g, Group.DENSE)
    assert conv.params == 3_747_200
    assert dense.params == 58_631_144
    assert conv.ops == 1_077_736_320      # conv MACs + pooling window elements
    assert dense.ops == 58_621_952        # 9216*4096 + 4096*4096 + 4096*1000
    # conv ops broken down by hand: out elements x F*F*C_in, pools: out elements x 3*3
    conv_macs = (55 * 55 * 96 * 11 * 11 * 3 + 27 * 27 * 256 * 5 * 5 * 96 + 13 * 13 * 384 * 9 * 256
                 + 13 * 13 * 384 * 9 * 384 + 13 * 13 * 256 * 9 * 384)
    pool_ops = (27 * 27 * 96 + 13 * 13 * 256 + 6 * 6 * 256) * 9
    assert conv.macs == conv_macs and conv.ops == conv_macs + pool_ops


# -- seed 004: AlexNet table at 224 -----------------------------------------------------------

ALEXNET224_TABLE = [
    # (layer, output shape as in the table (H, W, C) or features, parameters)
    ("input", (224, 224, 3), 0),
    ("conv1", (54, 54, 96), 34_944),
    ("pool1", (26, 26, 96), 0),
    ("conv2", (26, 26, 256), 614_656),
    ("pool2", (12, 12, 256), 0),
    ("conv3", (12, 12, 384), 885_120),
    ("conv4", (12, 12, 384), 1_327_488),
    ("conv5", (12, 12, 256), 884_992),
    ("pool3", (5, 5, 256), 0),
    ("flatten", (6400,), 0),
    # The table prints "(6400*4096) + 4096 = 26,214,656", but 6400*4096 = 26,214,400, so its own
    # formula gives 26,218,496: the formula wins (README "Lecture errata").
    ("fc1", (4096,), 6400 * 4096 + 4096),
    ("fc2", (4096,), 16_781_312),
    ("fc3", (1000,), 4_097_000),
]


def test_alexnet224_table_rows():
    nodes = _nodes(model_graph("alexnet224"))
    assert list(nodes) == [row[0] for row in ALEXNET224_TABLE]
    for name, shape, params in ALEXNET224_TABLE:
        out = nodes[name]["out_shape"]
        assert (*out.spatial, out.channels) == shape, name
        assert nodes[name]["cost"].params == params, name


# -- seed 002: VGG16 table --------------------------------------------------------------------

VGG16_TABLE = [
    # (layer, memory = output elements, params without biases) — the lecture's rows
    ("input", 224 * 224 * 3, 0),
    ("conv1_1", 224 * 224 * 64, 1_728), ("conv1_2", 224 * 224 * 64, 36_864),
    ("pool1", 112 * 112 * 64, 0),
    ("conv2_1", 112 * 112 * 128, 73_728), ("conv2_2", 112 * 112 * 128, 147_456),
    ("pool2", 56 * 56 * 128, 0),
    ("conv3_1", 56 * 56 * 256, 294_912), ("conv3_2", 56 * 56 * 256, 589_824),
    ("conv3_3", 56 * 56 * 256, 589_824),
    ("pool3", 28 * 28 * 256, 0),
    ("conv4_1", 28 * 28 * 512, 1_179_648), ("conv4_2", 28 * 28 * 512, 2_359_296),
    ("conv4_3", 28 * 28 * 512, 2_359_296),
    ("pool4", 14 * 14 * 512, 0),
    ("conv5_1", 14 * 14 * 512, 2_359_296), ("conv5_2", 14 * 14 * 512, 2_359_296),
    ("conv5_3", 14 * 14 * 512, 2_359_296),
    ("pool5", 7 * 7 * 512, 0),
    ("fc6", 4096, 102_760_448), ("fc7", 4096, 16_777_216), ("fc8", 1000, 4_096_000),
]


def test_vgg16_table_rows_and_totals():
    g = model_graph("vgg16")
    nodes = _nodes(g)
    for name, memory, weights in VGG16_TABLE:
        assert nodes[name]["cost"].activation_elements == memory, name
        assert nodes[name]["cost"].weights == weights, name
    total = _sum(g)
    assert total.params == 138_357_544           # with biases (the lecture's "138M")
    assert total.weights == sum(w for _, _, w in VGG16_TABLE)
    # The lecture's "TOTAL memory: 24M" does not follow from its own rows: they sum to
    # 15,237,608 (~15.2M). hwcnn also counts the softmax output (1,000 more).
    rows_sum = sum(m for _, m, _ in VGG16_TABLE)
    assert rows_sum == 15_237_608
    assert total.activation_elements == rows_sum + 1000


# -- seed 004: 1x1 bottleneck -----------------------------------------------------------------

def test_one_by_one_bottleneck_saves_ten_times():
    direct = graph_of("""
name: direct
input: [192, 28, 28]
layers: [{name: c5, kind: conv2d, filters: 32, kernel: 5, padding: same}]
""")
    bottleneck = graph_of("""
name: bottleneck
input: [192, 28, 28]
layers:
  - {name: c1, kind: conv2d, filters: 16, kernel: 1}
  - {name: c5, kind: conv2d, filters: 32, kernel: 5, padding: same}
""")
    assert _sum(direct).macs == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert _sum(bottleneck).macs == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16 == 12_443_648
    # parameters without biases, as the lecture's fire-layer slide counts them
    assert _sum(direct).weights == 153_600
    assert _sum(bottleneck).weights == 15_872


# -- published parameter counts (torchvision) -------------------------------------------------

@pytest.mark.parametrize("model,params", [
    ("resnet18", 11_689_512), ("squeezenet1_1", 1_235_496), ("mobilenet_v2", 3_504_872),
    ("vgg16", 138_357_544), ("lenet5", 61_706),
])
def test_published_parameter_counts(model, params):
    assert _sum(model_graph(model)).params == params


def test_every_shipped_model_builds(models_dir):
    from hwcnn.frontend.spec import load_spec
    from hwcnn.graph.build import build_graph

    files = sorted(models_dir.glob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        g = build_graph(load_spec(f))
        assert g.number_of_nodes() > 1, f
