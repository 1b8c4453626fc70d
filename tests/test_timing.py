"""Closed-form cycle counts of hwcnn.arch.timing against hand-worked numbers.

The RTL itself is measured against these functions in tests/test_hw_top.py (pysim) and by the
cocotb tests; here the formulas are checked against arithmetic done by hand from
rtl/README.md section 5 and against the SCALE-Sim per-fold forms plus our fixed overheads.
"""

from __future__ import annotations

import pytest

from hwcnn.arch import timing
from hwcnn.arch.config import ArrayConfig, Dataflow

OS = Dataflow.OUTPUT_STATIONARY
WS = Dataflow.WEIGHT_STATIONARY


def arr(r: int, c: int, df: Dataflow, act_bits: int = 8) -> ArrayConfig:
    return ArrayConfig(rows=r, cols=c, dataflow=df, act_bits=act_bits)


def test_hardware_md_worked_example() -> None:
    # HARDWARE.md 1.3: R=C=16, M=196, K=576, N=64. SCALE-Sim non-overlapped: OS 31,512 and WS
    # 34,848 cycles. Ours adds per fold: OS 1 read + R drain + 3 post = 20; WS 2 reads + 3
    # post = 5; plus 1 start cycle per tile.
    assert timing.gemm_tile_cycles(196, 64, 576, arr(16, 16, OS)) == 31_512 + 52 * 20 + 1
    assert timing.gemm_tile_cycles(196, 64, 576, arr(16, 16, WS)) == 34_848 + 144 * 5 + 1


@pytest.mark.parametrize("m,n,k,r,c,expected", [
    # OS: folds = ceil(m/R) * ceil(n/C); fold = k + 2R + C + 2
    (1, 1, 1, 1, 1, 1 + 1 * (1 + 2 + 1 + 2)),
    (4, 4, 8, 4, 4, 1 + 1 * (8 + 8 + 4 + 2)),
    (5, 4, 7, 2, 3, 1 + 3 * 2 * (7 + 4 + 3 + 2)),     # 97, also measured in pysim
    (9, 5, 9, 4, 4, 1 + 3 * 2 * (9 + 8 + 4 + 2)),
])
def test_os_by_hand(m: int, n: int, k: int, r: int, c: int, expected: int) -> None:
    assert timing.gemm_tile_cycles(m, n, k, arr(r, c, OS)) == expected


@pytest.mark.parametrize("m,n,k,r,c,expected", [
    # WS: folds = ceil(k/R) * ceil(n/C); fold = m + 2R + C + 3
    (1, 1, 1, 1, 1, 1 + 1 * (1 + 2 + 1 + 3)),
    (5, 4, 4, 4, 4, 1 + 1 * (5 + 8 + 4 + 3)),
    (5, 4, 7, 2, 3, 1 + 4 * 2 * (5 + 4 + 3 + 3)),     # 121, also measured in pysim
    (9, 5, 9, 4, 4, 1 + 3 * 2 * (9 + 8 + 4 + 3)),
])
def test_ws_by_hand(m: int, n: int, k: int, r: int, c: int, expected: int) -> None:
    assert timing.gemm_tile_cycles(m, n, k, arr(r, c, WS)) == expected


@pytest.mark.parametrize("out_h,out_w,win_h,win_w,act_bits,expected", [
    (2, 2, 2, 2, 8, 1 + 4 * (4 + 8 + 4)),
    (1, 1, 7, 7, 8, 1 + 1 * (49 + 8 + 4)),
    (3, 5, 3, 3, 4, 1 + 15 * (9 + 4 + 4)),
])
def test_pool_by_hand(out_h, out_w, win_h, win_w, act_bits, expected) -> None:
    for df in (OS, WS):  # the pool unit does not depend on the dataflow
        a = arr(2, 3, df, act_bits)
        assert timing.pool_tile_cycles(out_h, out_w, win_h, win_w, a) == expected


def test_breakdown_record() -> None:
    t = timing.gemm_tile_timing(5, 4, 7, arr(2, 3, OS))
    assert (t.folds, t.fold_cycles, t.compute_cycles, t.macs) == (6, 16, 10, 140)
    assert t.total == 1 + 6 * 16
    p = timing.pool_tile_timing(2, 3, 2, 2, arr(2, 2, WS))
    assert (p.folds, p.fold_cycles, p.macs, p.total) == (6, 16, 0, 97)


def test_ws_cost_does_not_depend_on_k_within_a_fold_and_os_not_on_m() -> None:
    a_os, a_ws = arr(4, 4, OS), arr(4, 4, WS)
    assert timing.gemm_tile_cycles(1, 4, 9, a_os) == timing.gemm_tile_cycles(4, 4, 9, a_os)
    assert timing.gemm_tile_cycles(9, 4, 1, a_ws) == timing.gemm_tile_cycles(9, 4, 4, a_ws)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_sizes_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="must be a positive int"):
        timing.gemm_tile_cycles(bad, 1, 1, arr(2, 2, OS))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a positive int"):
        timing.pool_tile_cycles(1, 1, bad, 1, arr(2, 2, OS))  # type: ignore[arg-type]


def test_refused_tile_is_one_cycle() -> None:
    assert timing.REFUSED_TILE_CYCLES == 1
