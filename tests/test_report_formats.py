"""The report's renderers agree with each other and with the graph."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from hwcnn.cli.main import main
from hwcnn.report.tables import budget_report, render

from .conftest import model_graph

JSON_LAYER_KEYS = {"name", "kind", "inputs", "output_shape", "weights", "biases", "params", "macs",
                   "ops", "activation_elements", "activation_bytes", "weight_bytes"}


def test_json_shape():
    doc = json.loads(render(budget_report(model_graph("lenet5")), "json"))
    assert doc["model"] == "lenet5" and doc["shape_order"] == "CHW"
    assert [l["name"] for l in doc["layers"]] == ["input", "c1", "s2", "c3", "s4", "c5", "f6", "output"]
    for layer in doc["layers"]:
        assert JSON_LAYER_KEYS <= set(layer)
    c1 = doc["layers"][1]
    assert c1["output_shape"] == [6, 28, 28] and c1["params"] == 6 * (25 + 1) and c1["inputs"] == ["input"]
    assert c1["weight_bytes"] == 150 + 6 * 4  # 150 int8 weights + 6 int32 biases
    assert doc["totals"]["total"]["params"] == 61_706
    assert doc["totals"]["conv+pool"]["params"] + doc["totals"]["dense"]["params"] == 61_706


def test_csv_and_markdown_match_json():
    rep = budget_report(model_graph("alexnet227"))
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    by_name = {r["name"]: r for r in rows}
    assert by_name["conv1"]["output_shape"] == "96x55x55"
    assert int(by_name["conv+pool"]["params"]) == 3_747_200
    assert int(by_name["dense"]["ops"]) == 58_621_952
    md = render(rep, "markdown")
    assert "| conv1 | conv2d | 55x55x96 | 34,944 |" in md
    assert "**3,747,200**" in md
    table = render(rep, "table")
    assert "58,631,144" in table and "1,077,736,320" in table


def test_report_writes_file_atomically(tmp_path, capsys):
    out = tmp_path / "r.json"
    try:
        main(["report", "models/tiny_cnn.yaml", "-f", "json", "-o", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert json.loads(out.read_text())["model"] == "tiny_cnn"
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no temp files left


def test_same_input_same_bytes():
    a = render(budget_report(model_graph("resnet18")), "json")
    b = render(budget_report(model_graph("resnet18")), "json")
    assert a == b


SUBTOTALS = ("conv+pool", "dense", "other")
MODELS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "models").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
def test_subtotals_add_up_to_the_totals_in_every_format(model):
    rep = budget_report(model_graph(model))
    doc = json.loads(render(rep, "json"))
    assert list(doc["totals"]) == ["total", *SUBTOTALS]
    total = doc["totals"]["total"]
    for key, value in total.items():
        assert sum(doc["totals"][s][key] for s in SUBTOTALS) == value, (model, key)
    # ... and the total is the sum of the layer rows (so no layer is left out of every group)
    for key in ("params", "macs", "activation_elements", "weight_bytes"):
        assert total[key] == sum(layer[key] for layer in doc["layers"]), (model, key)
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    for key in ("params", "macs", "ops", "weight_bytes"):
        assert sum(int(rows[s][key]) for s in SUBTOTALS) == int(rows["total"][key]), (model, key)
    md = render(rep, "markdown")
    table = render(rep, "table")
    for label in ("total", *SUBTOTALS):
        params = f"{doc['totals'][label]['params']:,}"
        assert re.search(rf"^\| \*\*{re.escape(label)}\*\* \|  \|  \| \*\*{params}\*\* \|", md, re.MULTILINE), label
        assert re.search(rf"^│ {re.escape(label)} +│ +│ +│ +{params} │", table, re.MULTILINE), label


def test_resnet18_other_subtotal_is_its_batchnorm():
    """ResNet-18's only parameters outside conv and dense are BatchNorm's gamma and beta."""
    # BN channels, counted from torchvision's resnet18: bn1 64; layer1: 2 blocks x 2 BN x 64;
    # layer2..4: a downsampling block (bn1, bn2, downsample BN) + a basic block (bn1, bn2).
    channels = 64 + 2 * 2 * 64 + 5 * 128 + 5 * 256 + 5 * 512
    assert channels == 4_800
    doc = json.loads(render(budget_report(model_graph("resnet18")), "json"))
    other = doc["totals"]["other"]
    assert other["params"] == 2 * channels == 9_600
    assert other["weights"] == other["biases"] == channels
    assert other["macs"] == 0
    assert doc["totals"]["conv+pool"]["params"] + doc["totals"]["dense"]["params"] == 11_689_512 - 9_600
    # LeNet-5 has no BatchNorm: nothing but the input image and activations in 'other'
    lenet = json.loads(render(budget_report(model_graph("lenet5")), "json"))["totals"]["other"]
    assert lenet["params"] == 0 and lenet["activation_elements"] == 32 * 32
