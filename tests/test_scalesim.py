"""SCALE-Sim compatibility: its CALC-mode compute cycles on hand-worked layers, its topology
and configuration formats, and the per-layer difference to hwcnn's native (RTL) timing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow
from hwcnn.arch.scalesim_timing import (
    conv_gemm_dims,
    native_difference,
    scalesim_cycles,
    scalesim_gemm_timing,
)
from hwcnn.errors import ConfigError, SpecError
from hwcnn.frontend.scalesim import read_config, read_topology

# -- the formula on hand-worked layers ----------------------------------------------------------

def test_output_stationary_by_hand() -> None:
    # GEMM M=5 (pixels), N=3 (filters), K=7 (window) on a 2x2 array. OS: Sr=M, Sc=N, T=K.
    # Folds ceil(5/2)*ceil(3/2) = 3*2 = 6; per fold T + R + C - 2 = 7 + 2 + 2 - 2 = 9 lines;
    # the last of the 54 output lines is line 53.
    assert scalesim_cycles(5, 3, 7, 2, 2, "os") == 53


def test_weight_stationary_by_hand() -> None:
    # WS: Sr=K=7, Sc=N=3, T=M=5. Folds ceil(7/2)*ceil(3/2) = 8; per fold 2R + C + T - 2 =
    # 4 + 2 + 5 - 2 = 9; 72 lines -> 71.
    assert scalesim_cycles(5, 3, 7, 2, 2, "ws") == 71


def test_input_stationary_by_hand() -> None:
    # IS: Sr=K=7, Sc=M=5, T=N=3. Folds ceil(7/2)*ceil(5/2) = 4*3 = 12; per fold
    # 2R + C + T - 2 = 4 + 2 + 3 - 2 = 7; 84 lines -> 83.
    assert scalesim_cycles(5, 3, 7, 2, 2, "is") == 83


def test_non_square_arrays_by_hand() -> None:
    # 4 rows x 8 cols, GEMM M=100, N=20, K=9.
    # OS: ceil(100/4)*ceil(20/8) = 25*3 = 75 folds of 9+4+8-2 = 19 -> 1424
    assert scalesim_cycles(100, 20, 9, 4, 8, "os") == 75 * 19 - 1
    # WS: ceil(9/4)*ceil(20/8) = 3*3 = 9 folds of 8+8+100-2 = 114 -> 1025
    assert scalesim_cycles(100, 20, 9, 4, 8, "ws") == 9 * 114 - 1
    # IS: ceil(9/4)*ceil(100/8) = 3*13 = 39 folds of 8+8+20-2 = 34 -> 1325
    assert scalesim_cycles(100, 20, 9, 4, 8, "is") == 39 * 34 - 1


def test_hardware_md_worked_example() -> None:
    # shared/HARDWARE.md 1.3: 16x16, M=196, K=576, N=64: OS 52*(606) = 31,512 lines,
    # WS 144*242 = 34,848 lines; SCALE-Sim reports the last line's index.
    assert scalesim_cycles(196, 64, 576, 16, 16, "os") == 31_511
    assert scalesim_cycles(196, 64, 576, 16, 16, "ws") == 34_847


def _demand_lines(m: int, n: int, k: int, r: int, c: int, df: str) -> int:
    """Rows of SCALE-Sim's ofmap demand matrix, built the way its compute modules build it:
    per fold a prefix of empty lines, the fold's outputs padded to the array, then a skew that
    adds (columns - 1) lines; folds are concatenated."""
    if df == "os":
        sr, sc, t = m, n, k
        prefix, body = t - 1, r            # T-1 empty lines, then R rows of outputs
    elif df == "ws":
        sr, sc, t = k, n, m
        prefix, body = 2 * r - 1, t        # 2R-1 empty lines, then M output rows
    else:
        sr, sc, t = k, m, n
        prefix, body = 2 * r - 1, t
    lines = 0
    for _ in range(math.ceil(sc / c)):
        for _ in range(math.ceil(sr / r)):
            fold = np.full((prefix + body, c), -1)
            skewed = np.full((fold.shape[0] + c - 1, c), -1)   # skew_matrix
            lines += skewed.shape[0]
    return lines


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_formula_equals_the_demand_matrix_construction(df: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        m, n, k = (int(x) for x in rng.integers(1, 80, 3))
        r, c = (int(x) for x in rng.integers(1, 12, 2))
        assert scalesim_cycles(m, n, k, r, c, df) == _demand_lines(m, n, k, r, c, df) - 1


def test_unknown_dataflow() -> None:
    with pytest.raises(ValueError, match=r"^unknown SCALE-Sim dataflow 'rs'; expected os, ws or is$"):
        scalesim_gemm_timing(1, 1, 1, 2, 2, "rs")


def test_ceil_mode_conv_outputs() -> None:
    # AlexNet conv1 in SCALE-Sim's alexnet.csv: 224x224, 11x11, stride 4:
    # ceil((224 - 11 + 4)/4) = ceil(54.25) = 55 (hwcnn's floor rule gives 54).
    assert conv_gemm_dims(224, 224, 11, 11, 3, 96, 4, 4) == (55, 55, 55 * 55, 96, 11 * 11 * 3)
    # exact fit: (13 - 3 + 1)/1 = 11
    assert conv_gemm_dims(13, 13, 3, 3, 256, 384, 1, 1) == (11, 11, 121, 384, 2304)
    # 5 wide, 1x1 filter, stride 3: ceil(7/3) = 3 windows (start 0, 3, 6: the last is outside
    # the input, SCALE-Sim counts it anyway)
    assert conv_gemm_dims(5, 5, 1, 1, 1, 1, 3, 3)[:2] == (3, 3)


# -- native timing versus SCALE-Sim ------------------------------------------------------------

@pytest.mark.parametrize("m,n,k,r", [(8, 8, 27, 4), (49, 64, 576, 16), (3025, 96, 363, 8),
                                     (1, 1, 1, 2), (100, 10, 7, 32)])
def test_native_difference_under_os(m: int, n: int, k: int, r: int) -> None:
    arr = ArrayConfig(rows=r, cols=r, dataflow=Dataflow.OUTPUT_STATIONARY)
    f = math.ceil(m / r) * math.ceil(n / r)
    d = native_difference(m, n, k, arr)
    # native, written out from rtl/README.md: folds every P = max(R*ceil(k/R), C) cycles (the
    # activation words a fold reads), the last one takes k + R + C + 3:
    # T = 1 + (F-1)*P + k + R + C + 3
    p = max(math.ceil(k / r) * r, r)
    assert d.native == 1 + (f - 1) * p + k + r + r + 3
    # SCALE-Sim: F folds of L = k + R + C - 2, minus 1
    assert d.scalesim == f * (k + r + r - 2) - 1
    fill = k + 2 * r + 3 - p
    assert d.difference == f * (p - (k + 2 * r - 2)) + fill + 2
    assert d.explain(arr) == (f"F*(P-L)+fill+2 = {f}*({p}-{k + 2 * r - 2})+{fill}+2 = "
                              f"{d.difference:,}")


@pytest.mark.parametrize("m,n,k,r", [(8, 8, 27, 4), (49, 64, 576, 16), (3025, 96, 363, 8),
                                     (1, 1, 1, 2)])
def test_native_difference_under_ws(m: int, n: int, k: int, r: int) -> None:
    arr = ArrayConfig(rows=r, cols=r, dataflow=Dataflow.WEIGHT_STATIONARY)
    f = math.ceil(k / r) * math.ceil(n / r)
    d = native_difference(m, n, k, arr)
    # rtl/README.md: P = max(m, R, 3), T = 1 + (F-1)*P + m + 2R + C + 3
    p = max(m, r, 3)
    assert d.native == 1 + (f - 1) * p + m + 2 * r + r + 3
    # SCALE-Sim: F folds of L = 2R + C + m - 2, minus 1
    assert d.scalesim == f * (2 * r + r + m - 2) - 1
    fill = m + 3 * r + 3 - p
    assert d.difference == f * (p - (3 * r + m - 2)) + fill + 2


def test_native_difference_worked_example() -> None:
    """VGG16 conv5-like GEMM 196x64x576 on 16x16 OS, worked by hand: F = 13*4 = 52 folds.
    Native: P = max(576, 16, 16) = 576, T = 1 + 51*576 + 576 + 16 + 16 + 3 = 29,988.
    SCALE-Sim: L = 576 + 30 = 606, 52*606 - 1 = 31,511. Difference -1,523: pipelined folds
    save 30 cycles each and pay fill (35) and start (1 + 1) once."""
    arr = ArrayConfig(rows=16, cols=16, dataflow=Dataflow.OUTPUT_STATIONARY)
    d = native_difference(196, 64, 576, arr)
    assert (d.native, d.scalesim, d.difference) == (29_988, 31_511, -1_523)
    assert d.explain(arr) == "F*(P-L)+fill+2 = 52*(576-606)+35+2 = -1,523"


# -- topology and configuration files ----------------------------------------------------------

ALEXNET = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,
Conv2     ,27         ,27        ,5            ,5           ,96      ,256       ,1      ,
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_reads_a_convolution_topology(tmp_path: Path) -> None:
    topo = read_topology(_write(tmp_path, "alexnet.csv", ALEXNET))
    assert topo.name == "alexnet" and topo.form == "conv"
    c1, c2 = topo.layers
    assert (c1.name, c1.ifmap_h, c1.filter_w, c1.channels, c1.filters, c1.stride_h,
            c1.stride_w, c1.line) == ("Conv1", 224, 11, 3, 96, 4, 4, 2)
    assert (c2.name, c2.ifmap_w, c2.filter_h, c2.channels, c2.filters) == ("Conv2", 27, 5, 96, 256)


def test_reads_a_gemm_topology_as_scalesim_does(tmp_path: Path) -> None:
    # SCALE-Sim: entries [name, m, k, 1, k, 1, n, 1, 1] -> M pixels, window K, N filters.
    topo = read_topology(_write(tmp_path, "g.csv", "Layer Name, M, N, K,\nTest 1, 256, 128, 64,"))
    (layer,) = topo.layers
    assert topo.form == "gemm"
    assert (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels,
            layer.filters) == (256, 64, 1, 64, 1, 128)
    _, _, m, n, k = conv_gemm_dims(layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w,
                                   layer.channels, layer.filters, 1, 1)
    assert (m, n, k) == (256, 128, 64)


def test_depthwise_rows_split_per_channel(tmp_path: Path) -> None:
    text = ALEXNET.splitlines()[0] + "\nConvDP1,14,14,3,3,4,1,1,\n"
    names = [(x.name, x.channels) for x in read_topology(_write(tmp_path, "dw.csv", text)).layers]
    assert names == [(f"ConvDP1Channel_{c}", 1) for c in range(4)]


HEAD = ALEXNET.splitlines()[0]


@pytest.mark.parametrize("body,message", [
    ("", "{p}: empty topology file"),
    ("Name, a, b\nx,1,2,", ("{p}:1: header must start 'Layer name, IFMAP Height, ...' "
                          "(convolution) or 'Layer Name, M, N, K' (GEMM)")),
    (HEAD + "\n", "{p}: topology has a header but no layers"),
    (HEAD + "\nConv1,224,224,11,11,3,96,", ("{p}:2: layer 'Conv1': a convolution row needs a "
                                           "name and 7 values (got 6)")),
    (HEAD + "\nConv1,224,224,11,eleven,3,96,4,", ("{p}:2: layer 'Conv1': filter width must be "
                                                 "an integer, not 'eleven'")),
    (HEAD + "\nConv1,224,224,11,11,0,96,4,", ("{p}:2: layer 'Conv1': channels must be at least "
                                             "1, not 0")),
    (HEAD + "\nConv1,5,5,7,7,3,96,1,", ("{p}:2: layer 'Conv1': filter 7x7 is larger than the "
                                       "IFMAP 5x5")),
    (HEAD + "\nA,5,5,1,1,3,9,1,\nA,5,5,1,1,3,9,1,", "{p}:3: layer 'A': duplicate layer name"),
    (HEAD + "\nA,5,5,1,1,3,9,1,2:4,", ("{p}:2: layer 'A': sparsity 2:4 is not supported "
                                      "(only dense layers, 1:1)")),
    ("Layer Name, M, N, K,\nfc,10,20,", ("{p}:2: layer 'fc': a GEMM row needs name, M, N, K "
                                        "(got 2 values)")),
])
def test_malformed_topologies(tmp_path: Path, body: str, message: str) -> None:
    p = _write(tmp_path, "bad.csv", body)
    with pytest.raises(SpecError) as exc:
        read_topology(p)
    assert str(exc.value) == message.format(p=p)


SCALE_CFG = """[general]
run_name = scale_example_run_32x32_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     16
IfmapSramSzkB:   64
FilterSramSzkB:  128
OfmapSramSzkB:   32
IfmapOffset:    0
Bandwidth : 10
Dataflow : is

[run_presets]
InterfaceBandwidth: {mode}
"""


def test_reads_a_config(tmp_path: Path) -> None:
    cfg = read_config(_write(tmp_path, "s.cfg", SCALE_CFG.format(mode="USER")))
    assert (cfg.run_name, cfg.rows, cfg.cols, cfg.ifmap_kib, cfg.filter_kib, cfg.ofmap_kib,
            cfg.dataflow, cfg.bandwidth) == ("scale_example_run_32x32_ws", 32, 16, 64, 128, 32,
                                             "is", 10)
    assert read_config(_write(tmp_path, "c.cfg", SCALE_CFG.format(mode="CALC"))).bandwidth is None


@pytest.mark.parametrize("edit,message", [
    (("ArrayWidth:     16\n", ""), "{p}: [architecture_presets]: missing ArrayWidth"),
    (("ArrayHeight:    32", "ArrayHeight: -4"), ("{p}: [architecture_presets]: ArrayHeight "
                                                 "must be a positive integer, not '-4'")),
    (("Dataflow : is", "Dataflow : rs"), ("{p}: [architecture_presets]: Dataflow must be os, "
                                         "ws or is, not 'rs'")),
    (("[run_presets]\nInterfaceBandwidth: USER\n", ""), "{p}: missing section [run_presets]"),
    (("InterfaceBandwidth: USER", "InterfaceBandwidth: FAST"), ("{p}: [run_presets]: "
     "InterfaceBandwidth must be CALC or USER, not 'FAST'")),
    (("[general]", "general"), ("{p}: not a SCALE-Sim configuration: File contains no section "
                               "headers")),
])
def test_malformed_configs(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = SCALE_CFG.format(mode="USER").replace(*edit)
    p = _write(tmp_path, "bad.cfg", text)
    with pytest.raises(ConfigError) as exc:
        read_config(p)
    assert str(exc.value) == message.format(p=p)


# -- against SCALE-Sim itself --------------------------------------------------------------------

#: "Total Cycles" of COMPUTE_REPORT.csv, measured by running SCALE-Sim 3.0.0 (PyPI ``scalesim``,
#: ``python -m scalesim.scale -c CFG -t TOPO``, numpy 1.26) on a 4 x 6 array, 64 KB SRAMs,
#: ``InterfaceBandwidth: CALC``, topology rows ``Conv1,9,9,3,3,2,5,2,`` and
#: ``Conv2,15,15,3,3,8,20,1,`` (bench/bench_scalesim.py repeats the run when SCALE-Sim is
#: installed).
MEASURED = {"os": (103, 13_759), "ws": (139, 13_031), "is": (254, 16_703)}


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_equals_scalesim_measured(df: str) -> None:
    layers = [(9, 9, 3, 3, 2, 5, 2, 2), (15, 15, 3, 3, 8, 20, 1, 1)]
    got = tuple(scalesim_cycles(*conv_gemm_dims(*x)[2:], 4, 6, df) for x in layers)
    assert got == MEASURED[df]
