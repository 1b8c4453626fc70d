"""Per-layer performance rows: a hand-worked network, totals, report integration."""

from __future__ import annotations

import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.boards.profiles import get_board
from hwcnn.errors import ConfigError
from hwcnn.report import perf
from hwcnn.report.tables import budget_report, render
from tests.conftest import graph_of, model_graph


def hw(df: Dataflow = Dataflow.WEIGHT_STATIONARY, r: int = 4, c: int = 4, kib: int = 64,
       bpc: float = 16.0, clock: float = 100.0) -> HardwareConfig:
    return HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df),
                          memory=MemoryConfig(act_kib=kib, weight_kib=kib, out_kib=kib,
                                              dram_bytes_per_cycle=bpc), clock_mhz=clock)


ONE_CONV = "name: t\ninput: [4, 2, 2]\nlayers:\n  - {name: c, kind: conv2d, filters: 4, kernel: 1}\n"


def test_hand_worked_single_tile() -> None:
    g = graph_of(ONE_CONV)
    rows = perf.estimate(g, hw())
    c = next(r for r in rows if r.name == "c")
    # WS 4x4, M=K=N=4: 1 + 4 + (4+4+4-2) + 5 = 20 compute cycles.
    # DRAM: A 16 B + B 16 B + 4 parameter columns of 69 bits (35 B) = 67 B -> 5 cycles at
    # 16 B/cycle before compute; 16 B of outputs -> 1 cycle after it. Stall = 5 + 1.
    assert (c.compute_cycles, c.stall_cycles, c.total_cycles) == (20, 6, 26)
    assert c.dram_read == 67 and c.dram_write == 16 and c.dram_bytes == 83
    assert c.latency_us == pytest.approx(0.26)             # 26 cycles at 100 MHz
    assert c.utilization == pytest.approx(64 / 16 / 26)    # MACs / PEs / cycles
    assert c.bound == "compute"                             # 6 DRAM cycles < 20 compute
    t = perf.totals(rows, hw())
    assert t.total_cycles == 26 and t.fps == pytest.approx(1e6 / 0.26)
    vals = c.values()
    assert set(vals) == {col.key for col in perf.COLUMNS}
    assert vals["utilization"] == round(100 * 64 / 16 / 26, 2)


def test_memory_bound_when_bandwidth_is_tiny() -> None:
    g = graph_of(ONE_CONV)
    c = next(r for r in perf.estimate(g, hw(bpc=0.5)) if r.name == "c")
    # 67 B at 0.5 B/cycle = 134 cycles before compute, 16 B = 32 after.
    assert c.stall_cycles == 134 + 32 and c.bound == "memory"


def test_totals_equal_the_end_to_end_timeline() -> None:
    g = model_graph("resnet50")
    h = hw(r=16, c=16, kib=1024, bpc=8.0)
    rows, program, timeline = perf.estimate_program(g, h)
    t = perf.totals(rows, h)
    assert t.total_cycles == timeline.total
    assert t.compute_cycles == sum(int(p.cycles.sum()) for p in program.layers)
    assert t.macs == 4_089_184_256
    assert 0 < t.utilization < 1
    assert t.latency_us == pytest.approx(timeline.total / 100.0)


def test_board_fit_is_checked() -> None:
    g = graph_of(ONE_CONV)
    with pytest.raises(ConfigError, match="needs 340 DSP48E1 multipliers"):
        perf.estimate(g, hw(r=16, c=16), get_board("pynq-z2"))


def test_extend_budget_report() -> None:
    g = model_graph("lenet5")
    h = hw(kib=16)
    rep = perf.extend_report(budget_report(g), perf.estimate(g, h), h)
    keys = [c.key for c in rep.columns]
    assert [c.key for c in perf.COLUMNS] == keys[-len(perf.COLUMNS):]
    assert rep.facts["array"] == "4x4" and rep.facts["fps"] > 0
    total = dict(rep.totals)["total"]
    assert total["total_cycles"] == perf.totals(perf.estimate(g, h), h).total_cycles
    text = render(rep, "markdown")
    assert "util %" in text and "bound" in text
