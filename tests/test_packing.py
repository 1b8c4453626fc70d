"""Group packing (hwcnn.compiler.packing): the packed operands against a hand-worked block
matrix and a grouped convolution written as plain loops; the choice against hand-counted
fold cycles; whole networks compiled with packed layers stay bit-exact (tests/test_program.py
runs mbv2_block; here the cycle effect on MobileNetV2)."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.arch.soc import load2d_pixel_cycles
from hwcnn.compiler.packing import choose_pack, pack_a, pack_b
from hwcnn.graph.shapes import Window
from hwcnn.numerics.golden_ops import conv_matrix, im2col


def test_pack_b_is_block_diagonal_by_hand() -> None:
    # 2 groups of K=2, N=1: [[1], [2]] and [[3], [4]] -> one 4 x 2 block-diagonal matrix
    b = np.array([[[1], [2]], [[3], [4]]])
    assert pack_b(b, 2).tolist() == [[[1, 0], [2, 0], [0, 3], [0, 4]]]
    # 4 groups packed by 2: two packed GEMMs
    b4 = np.arange(1, 9).reshape(4, 2, 1)
    assert pack_b(b4, 2).tolist() == [[[1, 0], [2, 0], [0, 3], [0, 4]],
                                      [[5, 0], [6, 0], [0, 7], [0, 8]]]
    assert pack_b(b4, 1) is b4


def test_pack_a_places_each_group_in_its_columns() -> None:
    a = np.arange(2 * 3 * 2).reshape(2, 3, 2)        # 2 groups, M=3, K=2
    assert pack_a(a, 2).tolist() == [[[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]]


def _grouped_conv_loops(x: np.ndarray, w: np.ndarray, groups: int, pad: int) -> np.ndarray:
    """Direct grouped 2-D convolution, stride 1: out[f, y, x] = sum over the group's channels
    and the kernel window."""
    c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.zeros((c, h + 2 * pad, wd + 2 * pad), np.int64)
    xp[:, pad:pad + h, pad:pad + wd] = x
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    out = np.zeros((f, oh, ow), np.int64)
    fg = f // groups
    for o in range(f):
        g = o // fg
        for yy in range(oh):
            for xx in range(ow):
                s = 0
                for ci in range(cg):
                    for dy in range(kh):
                        for dx in range(kw):
                            s += int(xp[g * cg + ci, yy + dy, xx + dx]) * int(w[o, ci, dy, dx])
                out[o, yy, xx] = s
    return out


@pytest.mark.parametrize("channels, filters, groups, pack", [
    (6, 6, 6, 3),       # depthwise, two packs of three channels
    (6, 6, 6, 6),       # depthwise, one pack
    (4, 8, 2, 2),       # grouped: 2 groups of 2 -> 4 channels
    (6, 12, 3, 3)])
def test_packed_gemm_equals_the_grouped_convolution(channels: int, filters: int, groups: int,
                                                    pack: int) -> None:
    rng = np.random.default_rng(channels * 100 + pack)
    x = rng.integers(-128, 128, size=(channels, 5, 4))
    w = rng.integers(-128, 128, size=(filters, channels // groups, 3, 3))
    win = Window(kernel=(3, 3), stride=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)),
                 out=(5, 4))
    a = pack_a(im2col(x, win, groups), pack)
    b = pack_b(conv_matrix(w, groups), pack)
    y = np.einsum("gmk,gkn->gmn", a, b)              # (groups/P, M, P*N)
    got = y.transpose(0, 2, 1).reshape(filters, 5, 4)
    assert np.array_equal(got, _grouped_conv_loops(x, w, groups, 1))


def _hw(df: Dataflow, r: int, c: int) -> HardwareConfig:
    return HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df),
                          memory=MemoryConfig(act_kib=64, weight_kib=64, out_kib=64,
                                              dram_bytes_per_cycle=64.0))


def test_choice_follows_the_fold_counts() -> None:
    # MobileNetV2's b1/dw (112x112x32, 3x3) on 32x32 WS: P channels per GEMM take
    # ceil(9P/32) folds of m rows, per channel: P=1 1, P=8 3/8, P=16 5/16, P=32 9/32 (fewest)
    ws = _hw(Dataflow.WEIGHT_STATIONARY, 32, 32)
    assert choose_pack("dw", ws, 112 * 112, 1, 9, 32) == 32
    # groups of N=64 fill two column folds alone: packing two would add zero-block folds
    assert choose_pack("g", ws, 196, 64, 64 * 9, 2) == 1


def test_gather_pace_by_hand() -> None:
    # 3x3 kernel rows of 32 channels (96 bytes) on a 16-byte bus: 95/16 + 1 = 6.9375 beats a
    # row on average over the byte offsets, 20.8125 a pixel; two transfers in flight:
    # (16 + S 4 + 20.8125 + 1) / 2 = 20.90625 (the walker's 4 + 3 = 7 overlaps the beats)
    assert load2d_pixel_cycles(3, 3, 96, 16, 16) == (16 + 4 + 3 * (95 / 16 + 1) + 1) / 2
    # the rows start at multiples of 32 bytes (whole pixels of 32 channels): 6 beats each
    assert load2d_pixel_cycles(3, 3, 96, 16, 16, align=32) == (16 + 4 + 18 + 1) / 2
    # 3 channels (9 bytes, starts at multiples of 3: 1.5 beats a row): (16 + 4 + 4.5 + 1) / 2
    assert load2d_pixel_cycles(3, 3, 9, 16, 16, align=3) == 12.75
    # the element walker's runs bound a wide row: 3 x 192 bytes aligned, 36 beats, 36 runs
    assert load2d_pixel_cycles(3, 3, 192, 16, 16, align=64, runs=36) == 36


def test_depthwise_packs_to_the_fewest_gemms_on_the_kv260() -> None:
    # a 14x14x96 depthwise 3x3 on the KV260's default (32x32 WS, 128-bit AXI) packs 32
    # channels per GEMM (the fewest GEMMs: 3 of 196 pixels); the floor of its gathers
    # against the load unit is tests/test_gather.py's
    from hwcnn import compiler as LW
    from hwcnn.cli.options import hardware_from_options
    from tests.conftest import graph_of

    hw, _ = hardware_from_options(board="kv260")
    g = graph_of("name: t\ninput: [96, 14, 14]\nlayers:\n"
                 "  - {name: dw, kind: conv2d, filters: 96, kernel: 3, padding: 1, groups: 96}\n")
    prog = LW.lower(g, hw)
    (plan,) = [p for p in prog.layers if p.name == "dw"]
    assert plan.pack == 32
