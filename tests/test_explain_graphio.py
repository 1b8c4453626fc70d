"""``hwcnn explain`` spells the lecture's calculations; graph export is deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hwcnn.graph.export import to_dot, to_graphml
from hwcnn.report.explanation import explain

from .conftest import model_graph


def test_alexnet_conv1_worked_like_the_lecture():
    text = explain(model_graph("alexnet227"), "conv1")
    assert "(227 - 11 + 2*0)/4 + 1 = 55" in text
    assert "(11*11*3)*96 + 96 = 34,944" in text
    assert "55x55x96" in text


def test_pool_and_floor_cases():
    g = model_graph("alexnet224")
    assert "(224 - 11 + 2*0)/4 + 1 = 54.25 -> floor 54" in explain(g, "conv1")
    assert "(54 - 3 + 2*0)/2 + 1 = 26.50 -> floor 26" in explain(g, "pool1")
    assert "(6400*4096) + 4096 = 26,218,496" in explain(g, "fc1")


def test_explain_covers_every_layer():
    g = model_graph("squeezenet1_1")
    text = explain(g)
    for name in g:
        assert f"\n{name} (" in "\n" + text


def test_dot_and_graphml():
    g = model_graph("resnet18")
    dot = to_dot(g)
    assert dot.startswith('digraph "resnet18" {') and dot.rstrip().endswith("}")
    assert '"layer1_1/relu2" -> "layer1_2/conv1";' in dot
    assert '"layer1_1/relu2" -> "layer1_2/add";' in dot  # the identity shortcut
    root = ET.fromstring(to_graphml(g))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == g.number_of_nodes()
    assert len(root.findall(".//g:edge", ns)) == g.number_of_edges()
    assert to_dot(model_graph("resnet18")) == dot
