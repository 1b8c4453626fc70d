"""Charts: PNG/SVG written atomically and reproducibly."""

from __future__ import annotations

import pytest

from hwcnn.arch.config import ArrayConfig, HardwareConfig, MemoryConfig
from hwcnn.errors import ConfigError
from hwcnn.report import perf, plot
from tests.conftest import model_graph

HW = HardwareConfig(array=ArrayConfig(rows=4, cols=4), memory=MemoryConfig(act_kib=16))


def draw(path) -> None:  # type: ignore[no-untyped-def]
    g = model_graph("lenet5")
    rows = perf.estimate(g, HW)
    plot.write_plot(path, rows, perf.totals(rows, HW), title="lenet5", peak_ops_per_cycle=32.0,
                    bytes_per_cycle=16.0)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_written_and_reproducible(tmp_path, suffix: str, magic: bytes) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    draw(a)
    draw(b)
    assert a.read_bytes().startswith(magic)
    assert a.read_bytes() == b.read_bytes()
    assert str(tmp_path) not in a.read_bytes().decode("latin-1")


def test_bad_suffix_and_no_partial_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"must end in \.png or \.svg"):
        draw(tmp_path / "x.pdf")

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(plot, "render", boom)
    with pytest.raises(RuntimeError):
        draw(tmp_path / "y.png")
    assert list(tmp_path.iterdir()) == []
