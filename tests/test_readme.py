"""The README's spec example and quoted outputs stay true."""

from __future__ import annotations

import re

from hwcnn.explain import explain
from hwcnn.graph import ordered_nodes

from .conftest import ROOT, graph_of, model_graph

README = (ROOT / "README.md").read_text()


def test_readme_spec_example_builds():
    block = re.search(r"```yaml\n(name: example.*?)```", README, re.S)
    assert block, "README lost its complete spec example"
    g = graph_of(block.group(1))
    nodes = dict(ordered_nodes(g))
    assert nodes["stage1_2/add"]["out_shape"].as_list() == [16, 32, 32]
    assert nodes["cat"]["out_shape"].as_list() == [16, 16, 16]
    assert nodes["fc"]["in_shapes"][0].as_list() == [16, 1, 1]


def test_readme_explain_excerpt_is_current():
    excerpt = re.search(r"\$ hwcnn explain models/alexnet227.yaml --layer conv1\n(.*?)```", README, re.S)
    assert excerpt
    assert excerpt.group(1) == explain(model_graph("alexnet227"), "conv1")
