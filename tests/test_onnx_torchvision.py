"""torchvision architectures as ``torch.onnx.export`` writes them (eval mode, opset 17), built
here with onnx.helper from the architecture definitions (torch is not a test dependency), then
imported: per-layer parameters, MACs and shapes must equal the shipped hand-written specs."""

from __future__ import annotations

from collections import Counter

import onnx
import pytest

from hwcnn.frontend.layers import kind_name
from hwcnn.frontend.onnx_import import import_model
from hwcnn.graph.build import build_graph
from tests.conftest import MODELS, model_graph
from tests.test_onnx_zoo import independent_counts
from tests.torchvision_onnx import SHIPPED, Net


def relu(net: Net, x: str) -> str:
    return net.act(x, "relu")


def vgg16() -> onnx.ModelProto:
    net = Net((1, 3, 224, 224))
    x, c = "input.1", 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            x = net.maxpool(x, 2, 2)
        else:
            x, c = relu(net, net.conv(x, c, int(v), 3, p=1)), int(v)
    x = net.op("AveragePool", [x], kernel_shape=[1, 1], strides=[1, 1])  # AdaptiveAvgPool2d(7) on 7x7
    x = net.flatten(x)
    x = relu(net, net.linear(x, 512 * 7 * 7, 4096))
    x = relu(net, net.linear(x, 4096, 4096))
    return net.model(net.linear(x, 4096, 1000))


def alexnet() -> onnx.ModelProto:
    """torchvision ``alexnet``; AdaptiveAvgPool2d((6, 6)) on a 6x6 map is exported as a 1x1
    AveragePool, the Dropouts vanish in eval mode."""
    net = Net((1, 3, 224, 224))
    x = net.maxpool(relu(net, net.conv("input.1", 3, 64, 11, 4, 2)), 3, 2)
    x = net.maxpool(relu(net, net.conv(x, 64, 192, 5, 1, 2)), 3, 2)
    x = relu(net, net.conv(x, 192, 384, 3, 1, 1))
    x = relu(net, net.conv(x, 384, 256, 3, 1, 1))
    x = net.maxpool(relu(net, net.conv(x, 256, 256, 3, 1, 1)), 3, 2)
    x = net.flatten(net.op("AveragePool", [x], kernel_shape=[1, 1], strides=[1, 1]))
    x = relu(net, net.linear(x, 256 * 6 * 6, 4096))
    x = relu(net, net.linear(x, 4096, 4096))
    return net.model(net.linear(x, 4096, 1000))


def resnet(bottleneck: bool, layers: list[int], v15: bool = True) -> onnx.ModelProto:
    net = Net((1, 3, 224, 224))
    x = net.maxpool(relu(net, net.bn(net.conv("input.1", 3, 64, 7, 2, 3, bias=False), 64)), 3, 2, 1)
    cin, exp = 64, 4 if bottleneck else 1
    for i, (planes, blocks) in enumerate(zip([64, 128, 256, 512], layers)):
        for b in range(blocks):
            s = 2 if (b == 0 and i > 0) else 1
            cout = planes * exp
            if bottleneck:  # torchvision v1.5: the stride sits on the 3x3 conv
                s1, s3 = (1, s) if v15 else (s, 1)
                y = relu(net, net.bn(net.conv(x, cin, planes, 1, s1, bias=False), planes))
                y = relu(net, net.bn(net.conv(y, planes, planes, 3, s3, 1, bias=False), planes))
                y = net.bn(net.conv(y, planes, cout, 1, bias=False), cout)
            else:
                y = relu(net, net.bn(net.conv(x, cin, planes, 3, s, 1, bias=False), planes))
                y = net.bn(net.conv(y, planes, planes, 3, 1, 1, bias=False), planes)
            short = x
            if s != 1 or cin != cout:
                short = net.bn(net.conv(x, cin, cout, 1, s, bias=False), cout)
            x, cin = relu(net, net.op("Add", [y, short])), cout
    x = net.flatten(net.op("GlobalAveragePool", [x]))
    return net.model(net.linear(x, 512 * exp, 1000))


def squeezenet1_1() -> onnx.ModelProto:
    net = Net((1, 3, 224, 224))

    def fire(x: str, cin: int, sq: int, e: int) -> str:
        s = relu(net, net.conv(x, cin, sq, 1))
        return net.op("Concat", [relu(net, net.conv(s, sq, e, 1)), relu(net, net.conv(s, sq, e, 3, p=1))], axis=1)

    x = net.maxpool(relu(net, net.conv("input.1", 3, 64, 3, 2, 0)), 3, 2, ceil=True)
    x = fire(fire(x, 64, 16, 64), 128, 16, 64)
    x = net.maxpool(x, 3, 2, ceil=True)
    x = fire(fire(x, 128, 32, 128), 256, 32, 128)
    x = net.maxpool(x, 3, 2, ceil=True)
    x = fire(fire(x, 256, 48, 192), 384, 48, 192)
    x = fire(fire(x, 384, 64, 256), 512, 64, 256)
    x = relu(net, net.conv(x, 512, 1000, 1))
    return net.model(net.flatten(net.op("GlobalAveragePool", [x])))


def mobilenet_v2() -> onnx.ModelProto:
    net = Net((1, 3, 224, 224))

    def cbr(x: str, cin: int, cout: int, k: int, s: int = 1, g: int = 1, act: bool = True) -> str:
        y = net.bn(net.conv(x, cin, cout, k, s, (k - 1) // 2, g, bias=False), cout)
        return net.act(y, "relu6") if act else y

    x, cin = cbr("input.1", 3, 32, 3, 2), 32
    for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                       [6, 160, 3, 2], [6, 320, 1, 1]]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x if t == 1 else cbr(x, cin, hidden, 1)
            y = cbr(y, hidden, hidden, 3, stride, g=hidden)
            y = cbr(y, hidden, c, 1, act=False)
            x = net.op("Add", [x, y]) if stride == 1 and cin == c else y
            cin = c
    x = cbr(x, 320, 1280, 1)
    x = net.flatten(net.op("GlobalAveragePool", [x]))
    return net.model(net.linear(x, 1280, 1000))


COMPARED = {"conv2d", "dense", "batchnorm", "add", "concat", "maxpool", "global_avgpool"}


def rows(g) -> Counter:  # type: ignore[no-untyped-def]
    """Per layer (kind, params, MACs, ops, output shape), for the kinds both graphs share."""
    out: Counter = Counter()
    for n in g:
        k = kind_name(g.nodes[n]["layer"])
        if k in COMPARED:
            c = g.nodes[n]["cost"]
            out[(k, c.params, c.macs, c.ops, tuple(g.nodes[n]["out_shape"].as_list()))] += 1
    return out


@pytest.mark.parametrize("shipped,build", [
    ("alexnet_torchvision", alexnet),
    ("vgg16", vgg16),
    ("resnet18", lambda: resnet(False, [2, 2, 2, 2])),
    ("resnet50", lambda: resnet(True, [3, 4, 6, 3])),
    ("squeezenet1_1", squeezenet1_1),
    ("mobilenet_v2", mobilenet_v2),
])
def test_imported_torchvision_graph_equals_shipped_spec(shipped: str, build) -> None:  # type: ignore[no-untyped-def]
    imported = build_graph(import_model(build(), file=f"{shipped}.onnx").spec)
    hand = model_graph(shipped)
    assert rows(imported) == rows(hand)
    for what in ("params", "macs"):
        assert sum(getattr(imported.nodes[n]["cost"], what) for n in imported) == \
            sum(getattr(hand.nodes[n]["cost"], what) for n in hand)


def test_negative_control_resnet_v1_stride_placement() -> None:
    """ResNet-50 v1 (stride on the first 1x1 of a downsampling bottleneck) has the same
    parameters as v1.5 but fewer MACs: the comparison notices."""
    v1 = build_graph(import_model(resnet(True, [3, 4, 6, 3], v15=False)).spec)
    hand = model_graph("resnet50")
    assert rows(v1) != rows(hand)
    assert sum(v1.nodes[n]["cost"].params for n in v1) == sum(hand.nodes[n]["cost"].params for n in hand)
    assert sum(v1.nodes[n]["cost"].macs for n in v1) < sum(hand.nodes[n]["cost"].macs for n in hand)


def test_torchvision_alexnet_published_figures() -> None:
    """torchvision's AlexNet: 61,100,840 parameters, 0.71 GFLOPS (its docs count MACs)."""
    g = model_graph("alexnet_torchvision")
    assert sum(g.nodes[n]["cost"].params for n in g) == 61_100_840
    macs = sum(g.nodes[n]["cost"].macs for n in g)
    assert round(macs / 1e9, 2) == 0.71, macs
    assert g.nodes["avgpool"]["out_shape"].as_list() == [256, 6, 6]


#: torchvision's published parameter counts, and the papers' multiply-adds (56M: Howard et al.
#: 2019, Table 3; 0.39B: Tan & Le 2019, Table 2)
PUBLISHED = {"mobilenet_v3_small": (2_542_856, 56e6), "efficientnet_b0": (5_288_548, 0.39e9)}


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_mobilenet_v3_efficientnet(name: str) -> None:
    """The shipped specs are the import of the graphs (current), with torchvision's parameter
    count, the paper's multiply-adds, and per-layer numbers from the ONNX graph's shapes."""
    model = SHIPPED[name]()
    imp = import_model(model, file=f"{name}.onnx")
    assert (MODELS / f"{name}.yaml").read_text().split("\n", 2)[2] == imp.yaml.split("\n", 1)[1], \
        "regenerate with python -m tests.torchvision_onnx"
    g = model_graph(name)
    params, madds = PUBLISHED[name]
    assert sum(g.nodes[n]["cost"].params for n in g) == params
    macs = sum(g.nodes[n]["cost"].macs for n in g)
    assert abs(macs - madds) / madds < 0.015, macs
    want = independent_counts(model)
    assert len(want) > 50
    for layer, (p, m) in want.items():
        key = layer.lstrip("/")
        assert (g.nodes[key]["cost"].params, g.nodes[key]["cost"].macs) == (p, m), layer
