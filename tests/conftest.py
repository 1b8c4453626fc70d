"""Shared test helpers: paths, and building graphs from inline YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow first (stable otherwise): with ``-n 2 --dist worksteal`` (the
    Makefile) they start at once and the other worker takes the short tests from their
    queue, instead of a long one lengthening the tail of the run (the README's board table
    alone takes minutes)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def models_dir() -> Path:
    return MODELS


def graph_of(text: str, **kwargs):  # type: ignore[no-untyped-def]
    """Parse inline spec text and build its graph."""
    from hwcnn.frontend.spec import parse_spec
    from hwcnn.graph.build import build_graph

    return build_graph(parse_spec(text, file="inline.yaml"), **kwargs)


def model_graph(name: str):  # type: ignore[no-untyped-def]
    from hwcnn.frontend.spec import load_spec
    from hwcnn.graph.build import build_graph

    return build_graph(load_spec(MODELS / f"{name}.yaml"))
