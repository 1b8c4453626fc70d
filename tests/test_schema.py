"""The published JSON Schema accepts every shipped model and rejects structural mistakes."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from hwcnn.errors import SpecError
from hwcnn.frontend.schema import full_schema


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(full_schema())


def test_shipped_models_validate(models_dir, validator):
    for f in sorted(models_dir.glob("*.yaml")):
        validator.validate(yaml.safe_load(f.read_text()))


@pytest.mark.parametrize("layer", [
    {"name": "c", "kind": "conv2d", "kernel": 3},                      # no filters
    {"name": "c", "kind": "conv2d", "filters": 0, "kernel": 3},        # zero
    {"name": "c", "kind": "conv2d", "filters": 4, "kernel": 3, "colour": 1},  # unknown field
    {"name": "c", "kind": "warp", "filters": 4},                       # unknown kind
    {"name": "d", "kind": "dense", "units": 2.5},                      # non-integer
])
def test_structural_errors_rejected(validator, layer):
    doc = {"name": "t", "input": [1, 8, 8], "layers": [layer]}
    assert not validator.is_valid(doc)


def test_published_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(full_schema())


def _integer_nodes(node, path=""):
    if isinstance(node, dict):
        types = node.get("type")
        if types == "integer" or (isinstance(types, list) and "integer" in types):
            yield path, node
        for key, value in node.items():
            yield from _integer_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _integer_nodes(value, f"{path}/{i}")


def test_every_integer_field_has_a_maximum():
    """Sizes are bounded by the schema (issue 9): a new field without a maximum fails here."""
    found = list(_integer_nodes(full_schema()))
    assert len(found) > 20
    unbounded = [path for path, node in found if "maximum" not in node]
    # only block arguments, which are checked again in the field they fill
    assert unbounded and all("/args/" in path for path in unbounded), unbounded


@pytest.mark.parametrize("name, ok", [
    ("conv1", True), ("stage1_2/branch.a/conv-3", True), ("_x", True),
    ("c1\n", False), ("a/../b", False), ("../a", False), ("/a", False), ("a//b", False), ("a b", False),
    ("a|b", False), ("1a", False), ("a/", False), ("conv1/7x7_s2", True), ("a/.b", False),
])
def test_published_name_pattern(validator, name, ok):
    """The pattern is ECMA-262 style ^...$; hwcnn itself matches it in full (re.fullmatch)."""
    from hwcnn.frontend.spec import parse_spec

    doc = {"name": name, "input": [1, 8, 8], "layers": [{"kind": "relu"}]}
    if "\n" not in name:  # Python's re.search (jsonschema's default) lets '$' pass a final newline
        assert validator.is_valid(doc) is ok
    text = f"name: {json.dumps(name)}\ninput: [1, 8, 8]\nlayers: [{{kind: relu}}]\n"
    if ok:
        assert parse_spec(text).name == name
    else:
        with pytest.raises(SpecError, match="is not a valid name"):
            parse_spec(text)
