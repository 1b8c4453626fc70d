"""The published JSON Schema accepts every shipped model and rejects structural mistakes."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

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
