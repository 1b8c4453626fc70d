"""Output-size and window rules, each worked out by hand in the test."""

from __future__ import annotations

import pytest

from hwcnn.errors import SpecError
from hwcnn.graph.build import ordered_nodes
from hwcnn.graph.shapes import out_size, same_pads

from .conftest import graph_of


def _node(text: str, name: str, **kw):
    return dict(ordered_nodes(graph_of(text, **kw)))[name]


@pytest.mark.parametrize("w,f,s,p,d,ceil,expected", [
    (227, 11, 4, 0, 1, False, 55),   # (227-11)/4+1
    (224, 11, 4, 0, 1, False, 54),   # 54.25 -> 54
    (7, 3, 1, 1, 1, False, 7),
    (7, 3, 1, 0, 2, False, 3),       # dilated extent 5: (7-5)/1+1
    (6, 3, 2, 0, 1, False, 2),       # floor(1.5)+1
    (6, 3, 2, 0, 1, True, 3),        # ceil(1.5)+1, last window starts at 4 < 6
    (5, 2, 2, 1, 1, True, 3),        # ceil(5/2)+1 = 4, but window 4 would start at 6 >= 5+1: dropped
    (111, 3, 2, 0, 1, True, 55),     # SqueezeNet pool1
    (27, 3, 2, 0, 1, True, 13),
])
def test_out_size(w, f, s, p, d, ceil, expected):
    assert out_size(w, f, s, p, p, d, ceil) == expected


@pytest.mark.parametrize("w,f,s,d,expected", [
    (7, 3, 1, 1, (1, 1)), (7, 3, 2, 1, (1, 1)), (8, 3, 2, 1, (0, 1)), (28, 5, 1, 1, (2, 2)),
    (10, 3, 1, 2, (2, 2)), (5, 1, 2, 1, (0, 0)),
])
def test_same_padding_tensorflow_rule(w, f, s, d, expected):
    # out = ceil(W/S); total = (out-1)*S + d*(F-1)+1 - W, split with the odd pixel at the end
    assert same_pads(w, f, s, d) == expected


def test_conv3d_c3d_layer():
    n = _node("""
name: c3d
input: [3, 16, 112, 112]
layers: [{name: conv1a, kind: conv3d, filters: 64, kernel: 3, padding: 1}]
""", "conv1a")
    assert n["out_shape"].as_list() == [64, 16, 112, 112]
    assert n["cost"].params == 64 * (3 * 3 * 3 * 3 + 1)
    assert n["cost"].macs == 64 * 16 * 112 * 112 * 27 * 3


def test_depthwise_and_grouped_budgets():
    g = graph_of("""
name: dw
input: [32, 10, 10]
layers:
  - {name: dw, kind: conv2d, filters: 32, groups: 32, kernel: 3, padding: 1, bias: false}
  - {name: grp, kind: conv2d, filters: 64, groups: 4, kernel: 1}
""")
    nodes = dict(ordered_nodes(g))
    assert nodes["dw"]["cost"].weights == 32 * 9
    assert nodes["dw"]["cost"].macs == 10 * 10 * 32 * 9
    assert nodes["dw"]["gemm"].groups == 32 and nodes["dw"]["gemm"].k == 9 and nodes["dw"]["gemm"].n == 1
    assert nodes["grp"]["cost"].params == 64 * (32 // 4) + 64
    assert (nodes["grp"]["gemm"].m, nodes["grp"]["gemm"].k, nodes["grp"]["gemm"].n) == (100, 8, 16)


def test_asymmetric_kernel_and_stride():
    n = _node("""
name: t
input: [4, 20, 30]
layers: [{name: c, kind: conv2d, filters: 2, kernel: [3, 5], stride: [1, 2], padding: [1, 0]}]
""", "c")
    # H: (20-3+2)/1+1 = 20; W: (30-5+0)/2+1 = 13.5 -> 13
    assert n["out_shape"].spatial == (20, 13)
    assert n["cost"].weights == 2 * 3 * 5 * 4


def test_pool_defaults_stride_to_kernel_and_global_pool():
    g = graph_of("""
name: t
input: [8, 9, 9]
layers:
  - {name: p, kind: avgpool, kernel: 3}
  - {name: g, kind: global_avgpool}
  - {name: f, kind: flatten}
""")
    nodes = dict(ordered_nodes(g))
    assert nodes["p"]["out_shape"].spatial == (3, 3)
    assert nodes["p"]["cost"].ops == 3 * 3 * 8 * 9
    assert nodes["g"]["out_shape"].as_list() == [8, 1, 1]
    assert nodes["g"]["cost"].ops == 8 * 3 * 3
    assert nodes["f"]["out_shape"].as_list() == [8]


def test_residual_and_concat_shapes():
    g = graph_of("""
name: t
input: [16, 8, 8]
layers:
  - {name: a, kind: conv2d, filters: 16, kernel: 3, padding: 1}
  - {name: b, kind: conv2d, filters: 16, kernel: 3, padding: 1}
  - {name: r, kind: add, inputs: [b, input]}
  - {name: c, kind: conv2d, filters: 4, kernel: 1, inputs: [a]}
  - {name: cat, kind: concat, inputs: [r, c, a]}
""")
    nodes = dict(ordered_nodes(g))
    assert nodes["cat"]["out_shape"].as_list() == [36, 8, 8]
    assert nodes["r"]["cost"].eltwise_ops == 16 * 64


def test_kernel_larger_than_padded_input_names_the_numbers():
    with pytest.raises(SpecError, match=r"kernel 13 is larger than the padded input 9 \(7 \+ 2\*1\)") as e:
        graph_of("""
name: t
input: [1, 7, 7]
layers: [{name: big, kind: conv2d, filters: 1, kernel: 13, padding: 1}]
""")
    assert e.value.layer == "big" and e.value.line == 4
