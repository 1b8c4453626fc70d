"""Block templates used inside block templates: wiring and budgets against a hand count.

The bug this pins down (issue 12): a block used inside a block with ``inputs: [$input]`` was wired
to the layer before it instead of the enclosing block's input, silently (GoogLeNet written with
nested inception blocks lost 7.5% of its parameters).
"""

from __future__ import annotations

import pytest

from hwcnn.errors import SpecError
from hwcnn.frontend.spec import parse_spec
from hwcnn.graph.build import build_graph
from hwcnn.report.tables import budget_report

#: A GoogLeNet-like inception block (four branches of the block input, concatenated) nested inside
#: a stage block whose first layer changes the channel count, so a miswired branch changes sizes.
NESTED = """\
name: nested
input: [3, 16, 16]
blocks:
  inception:
    params: [c1, c3r, c3, cp]
    layers:
      - {name: b1, kind: conv2d, filters: $c1, kernel: 1, inputs: [$input]}
      - {name: b2r, kind: conv2d, filters: $c3r, kernel: 1, inputs: [$input]}
      - {name: b2, kind: conv2d, filters: $c3, kernel: 3, padding: 1}
      - {name: b3p, kind: maxpool, kernel: 3, stride: 1, padding: 1, inputs: [$input]}
      - {name: b3, kind: conv2d, filters: $cp, kernel: 1}
      - {name: cat, kind: concat, inputs: [b1, b2, b3]}
  stage:
    params: [w]
    layers:
      - {name: pre, kind: conv2d, filters: $w, kernel: 1}
      - {name: inc, block: inception, args: {c1: 4, c3r: 4, c3: 8, cp: 4}, inputs: [$input]}
      - {name: out, kind: concat, inputs: [inc, pre]}
layers:
  - {name: stem, kind: conv2d, filters: 8, kernel: 3, padding: 1}
  - {name: s1, block: stage, args: {w: 16}}
  - {name: gap, kind: global_avgpool}
  - {name: fc, kind: dense, units: 10}
"""


def _layers(text: str) -> dict[str, object]:
    return {layer.name: layer for layer in parse_spec(text, file="nested.yaml").layers}


def test_inner_block_reads_the_enclosing_blocks_input() -> None:
    layers = _layers(NESTED)
    # $input inside the stage is the stage's input, the stem (8 channels), not s1/pre (16).
    assert layers["s1/inc/b1"].inputs == ("stem",)
    assert layers["s1/inc/b2r"].inputs == ("stem",)
    assert layers["s1/inc/b3p"].inputs == ("stem",)
    assert layers["s1/inc/b2"].inputs == ("s1/inc/b2r",)
    assert layers["s1/inc/b3"].inputs == ("s1/inc/b3p",)
    assert layers["s1/inc/cat"].inputs == ("s1/inc/b1", "s1/inc/b2", "s1/inc/b3")
    # a later layer naming the inner block reads its last layer
    assert layers["s1/out"].inputs == ("s1/inc/cat", "s1/pre")
    assert layers["gap"].inputs == ("s1/out",)


def test_nested_budgets_equal_a_hand_count() -> None:
    g = build_graph(parse_spec(NESTED, file="nested.yaml"))
    hw = 16 * 16  # every layer keeps 16x16
    # (name, params = K*(F*F*C_in + 1), MACs = H*W*K*F*F*C_in) counted by hand
    hand = {
        "stem": (8 * (3 * 3 * 3 + 1), hw * 8 * 3 * 3 * 3),
        "s1/pre": (16 * (8 + 1), hw * 16 * 8),
        "s1/inc/b1": (4 * (8 + 1), hw * 4 * 8),           # reads the stem's 8 channels
        "s1/inc/b2r": (4 * (8 + 1), hw * 4 * 8),
        "s1/inc/b2": (8 * (3 * 3 * 4 + 1), hw * 8 * 3 * 3 * 4),
        "s1/inc/b3": (4 * (8 + 1), hw * 4 * 8),
        "fc": (10 * (32 + 1), 32 * 10),                    # concat: 4 + 8 + 4 + 16 = 32 channels
    }
    for name, (params, macs) in hand.items():
        assert (g.nodes[name]["cost"].params, g.nodes[name]["cost"].macs) == (params, macs), name
    assert g.nodes["s1/inc/cat"]["out_shape"].as_list() == [16, 16, 16]
    assert g.nodes["s1/out"]["out_shape"].as_list() == [32, 16, 16]
    total = budget_report(g).totals[0][1]
    assert total["params"] == 224 + 144 + 36 + 36 + 296 + 36 + 330 == 1_102
    assert total["macs"] == 55_296 + 32_768 + 8_192 + 8_192 + 73_728 + 8_192 + 320 == 186_688
    # Negative control: wired to s1/pre (16 channels), b1, b2r and b3 would each have 4 * 8 more
    # weights, 1,198 parameters in all; the hand count above tells the two apart.
    assert 1_102 + 3 * 4 * (16 - 8) == 1_198


def test_nested_block_without_inputs_reads_the_previous_layer() -> None:
    text = NESTED.replace("cp: 4}, inputs: [$input]}", "cp: 4}}")
    layers = _layers(text)
    # the inception's input is now the layer before its use, s1/pre; its $input means s1/pre
    assert layers["s1/inc/b1"].inputs == ("s1/pre",)
    assert layers["s1/inc/b3p"].inputs == ("s1/pre",)
    g = build_graph(parse_spec(text, file="nested.yaml"))
    assert g.nodes["s1/inc/b1"]["cost"].params == 4 * (16 + 1)


def test_nested_block_repeat_chains_its_copies() -> None:
    text = NESTED.replace("args: {c1: 4, c3r: 4, c3: 8, cp: 4}, inputs: [$input]}",
                          "args: {c1: 4, c3r: 4, c3: 8, cp: 4}, inputs: [$input], repeat: 2}")
    layers = _layers(text)
    assert layers["s1/inc_1/b1"].inputs == ("stem",)
    assert layers["s1/inc_2/b1"].inputs == ("s1/inc_1/cat",)
    assert layers["s1/out"].inputs == ("s1/inc_2/cat", "s1/pre")


def test_inner_block_input_must_be_local() -> None:
    text = NESTED.replace("inputs: [$input]}\n      - {name: out", "inputs: [stem]}\n      - {name: out")
    with pytest.raises(SpecError) as err:
        parse_spec(text, file="nested.yaml")
    assert str(err.value) == ("nested.yaml:17: layer 's1/inc': input 'stem' is not a layer of this "
                              "block (use '$input' for the block's input)")


def test_readme_nested_block_example() -> None:
    """The README's nested-block example parses and is wired as its comments say."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(blocks:\n  inception:.*?)```", readme, re.DOTALL)
    assert found, "README lost its nested-block example"
    text = ("name: readme\ninput: [64, 28, 28]\n" + found.group(1)
            + "layers:\n  - {name: s, block: stage, args: {c: 32}, repeat: 2}\n")
    layers = _layers(text)
    assert layers["s_1/a/b1"].inputs == ("input",)
    assert layers["s_1/b/b1"].inputs == ("s_1/a/cat",)
    assert layers["s_1/skip/b1"].inputs == ("input",)
    assert layers["s_1/out"].inputs == ("s_1/b/cat", "s_1/skip/cat")
    assert layers["s_2/a/b1"].inputs == ("s_1/out",)
    assert layers["s_2/skip/b3p"].inputs == ("s_1/out",)
    g = build_graph(parse_spec(text, file="readme.yaml"))
    # out = (32 + 64 + 32) + (16 + 16 + 16) = 176 channels; s_2/skip/b1: 16 * (176 + 1) params
    assert g.nodes["s_1/out"]["out_shape"].as_list() == [176, 28, 28]
    assert g.nodes["s_2/skip/b1"]["cost"].params == 16 * (176 + 1)
