"""``hwcnn schema``: the JSON Schema of the network spec format."""

from __future__ import annotations

import json

import click

from ...frontend.schema import full_schema
from .common import OUTPUT_FILE, OUTPUT_HELP, emit


@click.command()
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
def schema(output: str | None) -> None:
    """Print the JSON Schema of MODEL.yaml files (for editors that validate YAML, e.g. with
    yaml-language-server). Shape checks (kernel vs input size, branch shapes) are done by
    `hwcnn report`, not by the schema."""
    emit(json.dumps(full_schema(), indent=2, sort_keys=True) + "\n", output)
