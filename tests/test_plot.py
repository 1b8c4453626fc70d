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


def _figure(model: str, hw: HardwareConfig):  # type: ignore[no-untyped-def]
    g = model_graph(model)
    rows = perf.estimate(g, hw)
    fig = plot.figure(rows, perf.totals(rows, hw), title=model,
                      peak_ops_per_cycle=2.0 * hw.array.pes,
                      bytes_per_cycle=hw.memory.dram_bytes_per_cycle)
    return fig, [r for r in rows if r.tiles]


def test_time_axis_units() -> None:
    assert plot.time_unit(999.0) == ("us", 1.0)
    assert plot.time_unit(1000.0) == ("ms", 1e3)
    assert plot.time_unit(2.5e6) == ("s", 1e6)
    fig, _ = _figure("lenet5", HW)                  # ~0.1 ms layers: microseconds
    assert fig.axes[0].get_ylabel() == "latency (us)"
    big = HardwareConfig(array=ArrayConfig(rows=8, cols=8), memory=MemoryConfig(act_kib=64))
    fig, rows = _figure("alexnet227", big)          # conv layers of tens of ms
    assert fig.axes[0].get_ylabel() == "latency (ms)"
    tallest_ms = max(r.total_cycles / r.clock_mhz for r in rows) / 1000
    bars = fig.axes[0].patches
    assert max(b.get_y() + b.get_height() for b in bars) == pytest.approx(tallest_ms)


def test_no_bar_touches_the_frame() -> None:
    fig, _ = _figure("lenet5", HW)
    for ax in fig.axes[:2]:
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        for b in ax.patches:
            assert x0 < b.get_x() and b.get_x() + b.get_width() < x1
            assert b.get_y() + b.get_height() < y1
        assert y0 == 0


def test_utilization_chart_and_labelled_roofline() -> None:
    fig, rows = _figure("lenet5", HW)
    util_bars = fig.axes[1].patches
    # utilization = MACs / (PEs x cycles with stalls), recomputed here
    want = [100 * r.macs / (16 * (r.compute_cycles + r.stall_cycles)) if r.macs else 0.0
            for r in rows]
    assert [b.get_height() for b in util_bars] == pytest.approx(want)
    labels = {t.get_text() for t in fig.axes[2].texts}
    assert {"c1", "c3", "c5", "f6", "output"} <= {lab.split(" (+")[0] for lab in labels}


def test_svg_keeps_text_as_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.svg"
    draw(path)
    svg = path.read_text(encoding="utf-8")
    assert "<text" in svg and ">c3<" in svg and "latency (us)" in svg
