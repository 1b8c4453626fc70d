"""The README's spec example and quoted outputs stay true."""

from __future__ import annotations

import re

import pytest

from hwcnn.graph.build import ordered_nodes
from hwcnn.report.explanation import explain

from .conftest import ROOT, graph_of, model_graph

README = (ROOT / "README.md").read_text()


def test_readme_spec_example_builds():
    block = re.search(r"```yaml\n(name: example.*?)```", README, re.DOTALL)
    assert block, "README lost its complete spec example"
    g = graph_of(block.group(1))
    nodes = dict(ordered_nodes(g))
    assert nodes["stage1_2/add"]["out_shape"].as_list() == [16, 32, 32]
    assert nodes["cat"]["out_shape"].as_list() == [16, 16, 16]
    assert nodes["fc"]["in_shapes"][0].as_list() == [16, 1, 1]


def test_readme_explain_excerpt_is_current():
    excerpt = re.search(r"\$ hwcnn explain models/alexnet227.yaml --layer conv1\n(.*?)```", README, re.DOTALL)
    assert excerpt
    assert excerpt.group(1) == explain(model_graph("alexnet227"), "conv1")


@pytest.mark.slow
def test_readme_board_table_is_current():
    from click.testing import CliRunner

    from hwcnn.cli.main import cli

    block = re.search(r"<!-- boards-table:begin -->\n(.*?)<!-- boards-table:end -->", README, re.DOTALL)
    assert block
    models = [f"models/{m}.yaml" for m in ("lenet5", "alexnet227", "vgg16", "resnet18", "resnet50",
                                            "squeezenet1_1", "mobilenet_v2")]
    result = CliRunner().invoke(cli, ["compare", *models, "--boards", "pynq-z2,ultra96-v2,kv260",
                                      "-f", "markdown", "--machine"], catch_exceptions=False)
    assert result.exit_code == 0
    assert block.group(1) == result.output, "regenerate the README table with the command above it"


def test_readme_cycle_formulas_match_timing():
    from hwcnn.arch.config import ArrayConfig, Dataflow
    from hwcnn.arch.timing import gemm_tile_cycles, pool_tile_cycles

    # The README states the closed forms in simplified algebra; check them on a ragged example.
    r, c, m, n, k = 4, 3, 10, 7, 9
    fm, fn, fk = -(-m // r), -(-n // c), -(-k // r)
    os_ = ArrayConfig(rows=r, cols=c, dataflow=Dataflow.OUTPUT_STATIONARY)
    ws = ArrayConfig(rows=r, cols=c, dataflow=Dataflow.WEIGHT_STATIONARY)
    assert "T = 1 + (F_M*F_N - 1)*P + k + R + C + 3`, `P = max(R*ceil(k/R), C)`" in README
    p_os = max(fk * r, c)
    assert gemm_tile_cycles(m, n, k, os_) == 1 + (fm * fn - 1) * p_os + k + r + c + 3
    assert "T = 1 + (F_K*F_N - 1)*P + m + 2R + C + 3`," in README
    assert "`P = max(m, R, 3)`" in README
    p_ws = max(m, r, 3)
    assert gemm_tile_cycles(m, n, k, ws) == 1 + (fk * fn - 1) * p_ws + m + 2 * r + c + 3
    assert "`T = 1 + out_h*out_w*taps + 4`, `taps = win_h*win_w`" in README
    assert pool_tile_cycles(5, 6, 3, 3, ws) == 1 + 5 * 6 * 9 + 4
