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
    # 34,848 cycles. With pipelined folds the per-fold fill and drain is paid once:
    # OS: 13 * 4 = 52 folds of P = max(16*ceil(576/16) = 576, 16) = 576, last fold 576 + 16 + 16 + 3 = 611
    #     -> 1 + 51 * 576 + 611 = 29,988 (the 52 * 576 = 29,952 MAC-stream cycles + 36).
    # WS: 36 * 4 = 144 folds of P = max(196, 98 + 15, 3) = 196, last 196 + 32 + 16 + 3 = 247
    #     -> 1 + 143 * 196 + 247 = 28,276 (144 * 196 = 28,224 + 52).
    assert timing.gemm_tile_cycles(196, 64, 576, arr(16, 16, OS)) == 29_988
    assert timing.gemm_tile_cycles(196, 64, 576, arr(16, 16, WS)) == 28_276


@pytest.mark.parametrize("m,n,k,r,c,expected", [
    # OS: G = ceil(m/R) * ceil(n/C) folds, P = max(R*ceil(k/R), C) (a fold reads R*ceil(k/R)
    # activation words, one per cycle), T = 1 + (G-1)*P + k + R + C + 3
    (1, 1, 1, 1, 1, 1 + 0 + (1 + 1 + 1 + 3)),
    (4, 4, 8, 4, 4, 1 + 0 + (8 + 4 + 4 + 3)),
    (5, 4, 7, 2, 3, 1 + 5 * 8 + (7 + 2 + 3 + 3)),     # 56 (P = 2*4), also measured in pysim
    (9, 5, 9, 4, 4, 1 + 5 * 12 + (9 + 4 + 4 + 3)),    # P = 4*3 = 12
    (9, 5, 8, 4, 4, 1 + 5 * 8 + (8 + 4 + 4 + 3)),     # k a multiple of R: P = k
    (9, 5, 2, 4, 4, 1 + 5 * 4 + (2 + 4 + 4 + 3)),     # k < R: P = R = 4
    (2, 9, 1, 1, 3, 1 + 5 * 3 + (1 + 1 + 3 + 3)),     # k < C: P = C = 3
])
def test_os_by_hand(m: int, n: int, k: int, r: int, c: int, expected: int) -> None:
    assert timing.gemm_tile_cycles(m, n, k, arr(r, c, OS)) == expected


@pytest.mark.parametrize("m,n,k,r,c,expected", [
    # WS: G = ceil(k/R) * ceil(n/C), P = max(m, R, 3) (three weight banks),
    # T = 1 + (G-1)*P + m + 2R + C + 3
    (1, 1, 1, 1, 1, 1 + 0 + (1 + 2 + 1 + 3)),
    (5, 4, 4, 4, 4, 1 + 0 + (5 + 8 + 4 + 3)),
    (5, 4, 7, 2, 3, 1 + 7 * 5 + (5 + 4 + 3 + 3)),     # 51, also measured in pysim
    (9, 5, 9, 4, 4, 1 + 5 * 9 + (9 + 8 + 4 + 3)),     # P = max(9, 4, 3) = 9
    (4, 4, 9, 4, 4, 1 + 2 * 4 + (4 + 8 + 4 + 3)),     # P = max(4, 4, 3) = 4 (two banks: 5)
    (5, 4, 16, 4, 4, 1 + 3 * 5 + (5 + 8 + 4 + 3)),    # P = 5 (two banks: 6), traced below
    (2, 4, 12, 4, 4, 1 + 2 * 4 + (2 + 8 + 4 + 3)),    # m < R: P = R = 4 (weight reads)
    (1, 1, 3, 1, 1, 1 + 2 * 3 + (1 + 2 + 1 + 3)),     # P = max(1, 1, 3) = 3
])
def test_ws_by_hand(m: int, n: int, k: int, r: int, c: int, expected: int) -> None:
    assert timing.gemm_tile_cycles(m, n, k, arr(r, c, WS)) == expected


def test_two_fold_traces_on_a_2x2_array() -> None:
    """Two folds traced cycle by cycle (cycle 0 = ``start``; rtl/README.md 5-6).

    WS, m=2, n=2, k=4 -> folds (kf=0), (kf=1); P = max(m=2, R=2, 3) = 3.
      cycles 1, 2   weight reads of fold 0 (rows 1, 0) -> bank 0; column j shifts at 2+j, 3+j
      cycles 3, 4   A rows 0, 1 of fold 0 (bank 0); row read at s reaches PE(r, j) at s+1+r+j
      cycles 4, 5   weight reads of fold 1 -> bank 1 (unused so far), column j shifts at 5+j,
                    6+j, before bank 1's first use at PE(0, j) at 6+1+j = 7+j; bank 0 is
                    last used at PE(1, j) at 4+1+1+j = 6+j
      cycles 6, 7   A rows 0, 1 of fold 1 (bank 1)
      a row read at s is de-skewed at s+R+C = s+4 (stage 1), its partial sum is written to
      the accumulator memory at s+5 and read by the next K-fold at (s+P)+3 = s+6 > s+5;
      the requantized row is written at s+7: fold 1 row 1 (s=7) at cycle 14, done at 15.
    OS, m=4, n=2, k=2 -> folds (mf=0), (mf=1); P = max(2, 2, 2) = 2.
      cycles 1, 2   operands kk=0, 1 of fold 0; cycles 3, 4 those of fold 1
      PE(i, j) takes fold 0's last operand at 3+i+j (shadow register from 4+i+j); drain row i
      at 1+k+C+i = 5+i reads PE(i, 1) (ready at 5+i) before PE(i, 0) takes fold 1's last
      operand (end of 5+i); fold 1 drains at 7, 8, written at 10, 11, done at 12.
    """
    assert timing.gemm_tile_cycles(2, 2, 4, arr(2, 2, WS)) == 15
    assert timing.gemm_tile_cycles(4, 2, 2, arr(2, 2, OS)) == 12


def test_three_weight_banks_trace_on_a_4x4_array() -> None:
    """WS, m=5, n=4, k=16 on 4x4: folds kf = 0..3 in banks 0, 1, 2, 0; P = max(5, 4, 3) = 5.

      cycles 1..4     weight reads of fold 0 -> bank 0 (LOAD0)
      fold g's rows   read at 5 + 5g + i (i < 5): fold 0 5..9, 1 10..14, 2 15..19, 3 20..24
      fold g+1's weights are read in the last R = 4 cycles of fold g's window, 6+5g .. 9+5g;
      a weight read at s shifts column j at s+1+j, an A row read at s reaches PE(r, j) at
      s+1+r+j.
      fold 3 -> bank 0: reads 16..19, column j shifts in cycles 17+j .. 20+j; bank 0's last
      use (fold 0, row 4, read at 9) is at PE(3, j) in cycle 13+j < 17+j, and fold 3's first
      use is at PE(0, j) in cycle 20+1+j = 21+j, right after the last shift.
      With two banks fold 2 would reload bank 0 in 12+j .. 15+j while fold 0 still uses it
      at PE(3, j) in 13+j: two banks need P = ceil(5/2) + 4 - 1 = 6.
      The last row (read at 24) enters stage 1 at 24+R+C = 32, is written at 35, done at 36.
    """
    assert timing.gemm_tile_cycles(5, 4, 16, arr(4, 4, WS)) == 36


# Vector unit, worked by hand: 1 cycle to latch the descriptor, one read per tap of every
# output pixel back to back, then 4 cycles of pipeline (read latency, accumulate, reciprocal
# lookup, multiply/shift/clamp) after which the write and, one cycle later, done.
@pytest.mark.parametrize("out_h,out_w,win_h,win_w,act_bits,expected", [
    (2, 2, 2, 2, 8, 1 + 16 + 4),         # 2x2 max pool of a 4x4 map: 21
    (1, 1, 7, 7, 8, 1 + 49 + 4),         # global average of 7x7: 54
    (3, 5, 3, 3, 4, 1 + 135 + 4),        # 15 pixels of a 3x3 window: 140 (no act_bits term)
    (56, 1, 1, 2, 8, 1 + 112 + 4),       # residual add: 56 pixels x 2 inputs: 117
    (100, 1, 1, 1, 8, 1 + 100 + 4),      # stand-alone ReLU, 1 tap: 105
    (2, 2, 3, 3, 8, 41),                 # rtl/README.md 5: 3x3/2 pad 1 on 4x4, taps in 1..36
    (3136, 1, 1, 2, 8, 6277),            # rtl/README.md 5: a 56x56 residual add (was 43,905)
])
def test_pool_by_hand(out_h, out_w, win_h, win_w, act_bits, expected) -> None:
    for df in (OS, WS):  # the vector unit does not depend on the dataflow
        a = arr(2, 3, df, act_bits)
        assert timing.pool_tile_cycles(out_h, out_w, win_h, win_w, a) == expected


def test_breakdown_record() -> None:
    t = timing.gemm_tile_timing(5, 4, 7, arr(2, 3, OS))
    # 6 folds of P = 2*ceil(7/2) = 8; the last fold's 7 + 2 + 3 + 3 = 15 is P + 7 of fill and
    # drain; the useful stream of a fold is k = 7 operands.
    assert (t.folds, t.fold_cycles, t.fill_cycles, t.compute_cycles, t.macs) == (6, 8, 7, 7, 140)
    assert t.total == 1 + 6 * 8 + 7
    p = timing.pool_tile_timing(2, 3, 2, 2, arr(2, 2, WS))
    assert (p.folds, p.fold_cycles, p.fill_cycles, p.macs, p.total) == (6, 4, 4, 0, 29)


def test_fill_and_drain_paid_once_per_tile() -> None:
    # Doubling the folds adds exactly G * P: the fill/drain does not grow with the folds.
    for df in (OS, WS):
        a = arr(4, 4, df)
        one = timing.gemm_tile_timing(16, 4, 16, a)
        two = timing.gemm_tile_timing(16, 8, 16, a)
        assert two.total - one.total == one.folds * one.fold_cycles
        assert two.fill_cycles == one.fill_cycles


def test_ws_cost_does_not_depend_on_k_within_a_fold_and_os_not_on_m() -> None:
    # A fold's cost depends on the tile's stream length only (OS k, WS m), not on how full it is.
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
