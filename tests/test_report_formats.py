"""The report's renderers agree with each other and with the graph."""

from __future__ import annotations

import csv
import io
import json

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
