"""Energy estimate: the published 45 nm figures, buffer-size interpolation, a hand-worked layer."""

from __future__ import annotations

import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.errors import ConfigError
from hwcnn.frontend.spec import parse_spec
from hwcnn.graph.build import build_graph
from hwcnn.report import perf
from hwcnn.report.energy import get_table, layer_energy, sram_traffic

SPEC = """name: t
input: [16, 1, 1]
layers:
  - {name: fc, kind: dense, units: 8, bias: false}
"""


def test_table_is_horowitz_45nm() -> None:
    t = get_table("45nm")
    assert t.mac_pj(8, 8, 32) == pytest.approx(0.2 + 0.1)       # 8b mult + 32b add
    assert t.mac_pj(16, 8, 32) == pytest.approx(3.1 + 0.1)      # next tabulated: 32b mult
    assert t.dram_pj_per_byte == pytest.approx(1950 / 8)         # 1.3-2.6 nJ per 64 bits
    assert t.sram_pj(8 * 1024) == pytest.approx(10 / 8)          # 10 pJ per 64-bit access
    assert t.sram_pj(1024) == pytest.approx(10 / 8)              # clamped below 8 KB
    assert t.sram_pj(16 * 1024) == pytest.approx((1.25 + 2.5) / 2)   # halfway in log2
    assert t.sram_pj(64 * 1024) == pytest.approx(2.5 + (12.5 - 2.5) / 5)  # 1 of 5 doublings
    assert t.sram_pj(4 * 1024 * 1024) == pytest.approx(100 / 8)  # clamped above 1 MB
    with pytest.raises(ConfigError, match=r"^no energy table for technology node '7nm'; "
                                          r"sourced: 45nm$"):
        get_table("7nm")
    with pytest.raises(ConfigError, match=r"no multiply energy for 40-bit operands"):
        t.mac_pj(40, 8, 64)


def test_hand_worked_dense_layer() -> None:
    g = build_graph(parse_spec(SPEC))
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=Dataflow.OUTPUT_STATIONARY),
                        memory=MemoryConfig(act_kib=8, weight_kib=8, out_kib=8,
                                            dram_bytes_per_cycle=16.0))
    rows = perf.estimate(g, hw)
    (fc,) = [e for e in layer_energy(g, rows, hw) if e.name == "fc"]
    # GEMM m=1, n=8, k=16 on 4x4 OS: F_M=1, F_N=2. Activations 2*1*16 = 32 B, weights
    # 1*16*8 = 128 B, outputs 8 B; 8 KiB buffers at 1.25 pJ/B -> 168 * 1.25 = 210 pJ.
    assert sram_traffic(1, 8, 16, 1, hw) == (32, 128, 8)
    assert fc.sram_pj == pytest.approx(210.0)
    assert fc.mac_pj == pytest.approx(128 * 0.3)
    (row,) = [r for r in rows if r.name == "fc"]
    # DRAM: the 16 inputs and 128 weights + 8 parameter words in, 8 outputs out (the model's
    # own count), at 243.75 pJ/B
    assert fc.dram_pj == pytest.approx(row.dram_bytes * 243.75)
    assert fc.total_pj == pytest.approx(fc.mac_pj + fc.sram_pj + fc.dram_pj)


def test_weight_stationary_counts_partial_sums() -> None:
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY))
    # m=1, n=8, k=16: F_N=2, F_K=4. Activations 2*1*16 = 32 B, weights 16*8 = 128 B,
    # outputs 8 B + partial sums 4*1*8 words of 4 bytes, read and written: 2*128 = 256 B.
    assert sram_traffic(1, 8, 16, 1, hw) == (32, 128, 8 + 256)
    assert sram_traffic(1, 8, 16, 3, hw) == (96, 384, 3 * 264)


def test_packed_depthwise_layer_counts_the_array_s_macs() -> None:
    """A depthwise 3x3 on 3 channels packs into one 16 x 3 x 27 GEMM on 4x4 WS
    (tests/test_lower.py): the array performs 16*3*27 = 1,296 MACs (the zero blocks too), 3x
    the layer's own 432, and its buffer traffic is that GEMM's: weights K*N = 81 bytes,
    activations F_N*M*K = 432, partial sums F_K*M*N = 7*16*3 words of 4 bytes read and
    written, outputs 48."""
    from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
    from hwcnn.report.energy import HOROWITZ_45NM, layer_energy
    from hwcnn.report.perf import estimate
    from tests.conftest import graph_of

    g = graph_of("name: dw\ninput: [3, 4, 4]\nlayers:\n"
                 "  - {name: dw, kind: conv2d, filters: 3, kernel: 3, padding: 1, groups: 3}\n")
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY),
                        memory=MemoryConfig(act_kib=64, weight_kib=64, out_kib=64,
                                            dram_bytes_per_cycle=16.0))
    rows = estimate(g, hw)
    (row,) = [r for r in rows if r.name == "dw"]
    assert row.macs == 432
    (e,) = [x for x in layer_energy(g, rows, hw) if x.name == "dw"]
    assert e.mac_pj == pytest.approx(1296 * HOROWITZ_45NM.mac_pj(8, 8, 32))
    sram = HOROWITZ_45NM.sram_pj(64 * 1024)
    assert e.sram_pj == pytest.approx((432 + 81 + 48 + 2 * 7 * 16 * 3 * 4) * sram)
