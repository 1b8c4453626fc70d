"""Lowering: hand-checked tiles, cycles and DRAM bytes; tiling invariants; fusion rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwcnn import compiler as LW
from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.errors import ConfigError
from hwcnn.graph.build import ordered_nodes
from tests.conftest import graph_of, model_graph

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
#: parameter word bits per column for 32-bit accumulators: bias 32 + M0 31 + shift 6
PARAM_BITS = 69


def hw(df: Dataflow, r: int = 4, c: int = 4, kib: int = 64, bpc: float = 16.0) -> HardwareConfig:
    return HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df),
                          memory=MemoryConfig(act_kib=kib, weight_kib=kib, out_kib=kib,
                                              dram_bytes_per_cycle=bpc))


def net(input_shape: str, *layers: str):  # type: ignore[no-untyped-def]
    body = "\n".join(f"  - {ln}" for ln in layers)
    return graph_of(f"name: t\ninput: {input_shape}\nlayers:\n{body}\n")


def plan(g, h: HardwareConfig, name: str) -> LW.LayerPlan:  # type: ignore[no-untyped-def]
    return next(p for p in LW.lower(g, h).layers if p.name == name)


@pytest.mark.parametrize("df, cycles", [
    # M=K=N=4 on 4x4, one fold: OS 1 + k + R + C + 3 = 16; WS 1 + m + 2R + C + 3 = 20.
    (OS, 16), (WS, 20)])
def test_gemm_fits_array_exactly(df: Dataflow, cycles: int) -> None:
    g = net("[4, 2, 2]", "{name: c, kind: conv2d, filters: 4, kernel: 1}")
    p = plan(g, hw(df), "c")
    assert p.tiles == 1 and p.cycles.tolist() == [cycles] and p.macs == 64


@pytest.mark.parametrize("df, cycles", [
    # M=10 (2x5 pixels), K=11 channels, N=9 filters on 4x4, one tile:
    # OS: 3*3 folds, P = max(R*ceil(k/R), C) = 12, last fold 11+4+4+3 -> 1 + 8*12 + 22 = 119;
    # WS: 3*3 folds, P = max(m, R, 3) = 10, last 10+8+4+3 -> 1 + 8*10 + 25 = 106.
    (OS, 119), (WS, 106)])
def test_gemm_with_folds_in_every_dimension(df: Dataflow, cycles: int) -> None:
    g = net("[11, 2, 5]", "{name: c, kind: conv2d, filters: 9, kernel: 1}")
    p = plan(g, hw(df), "c")
    assert p.cycles.tolist() == [cycles]


def test_one_by_one_conv_cycles_and_bytes() -> None:
    # 1x1 conv, 8 -> 6 channels on a 5x5 map: M=25, K=8, N=6.
    g = net("[8, 5, 5]", "{name: c, kind: conv2d, filters: 6, kernel: 1}")
    # WS 4x4: F_K=2, F_N=2 -> 4 folds, P = max(25, 13+3, 3) = 25 -> 1 + 3*25 + (25+8+4+3) = 116.
    p = plan(g, hw(WS), "c")
    assert p.cycles.tolist() == [116]
    # DRAM: A = 25*8 bytes, B = 8*6 bytes + 6 parameter columns of 69 bits, out = 25*6.
    assert p.dram_read.tolist() == [200 + 48 + (6 * PARAM_BITS + 7) // 8]
    assert p.dram_write.tolist() == [150]
    # OS 4x4: F_M=7, F_N=2 -> 14 folds, P = max(8, 4, 4) = 8 -> 1 + 13*8 + (8+4+4+3) = 124.
    assert plan(g, hw(OS), "c").cycles.tolist() == [124]


def test_depthwise_conv_packs_its_groups_into_one_gemm() -> None:
    # 3 channels, 3x3, pad 1, groups 3: per group M=16, K=9, N=1. Unpacked (one GEMM per
    # group, one array column): WS 4x4 F_K=3, F_N=1 -> 3 folds, P = max(16, 4, 3) = 16 ->
    # 1 + 2*16 + (16+8+4+3) = 64 per group, 192 in all. Packed 3 groups per GEMM
    # (block-diagonal B: M=16, N=3, K=27): F_K=7, F_N=1 -> 1 + 6*16 + 31 = 128.
    g = net("[3, 4, 4]", "{name: dw, kind: conv2d, filters: 3, kernel: 3, padding: 1, groups: 3}")
    p = plan(g, hw(WS), "dw")
    assert p.pack == 3 and p.cycles.tolist() == [128] and p.macs == 3 * 16 * 9
    # im2col counted honestly: 16 pixels x 27 taps; B with its zero blocks 27 x 3 bytes plus
    # three parameter columns; out 16 pixels x 3 channels.
    assert p.dram_read.tolist() == [432 + 81 + (3 * PARAM_BITS + 7) // 8]
    assert p.dram_write.tolist() == [48]
    tiles = list(p.make_tiles())
    assert [(t.group, t.n, t.k) for t in tiles] == [(0, 3, 27)]
    # OS 4x4 packed: F_M=4, F_N=1 -> 4 folds, P = max(4*ceil(27/4), 4) = 28 -> 1 + 3*28 +
    # (27+4+4+3) = 123 (unpacked: P = 12, 1 + 3*12 + (9+4+4+3) = 57 per group, 171).
    p = plan(g, hw(OS), "dw")
    assert p.pack == 3 and p.cycles.tolist() == [123]


def test_grouped_conv_packs_only_what_fits_the_columns() -> None:
    # 2 groups of N=3 on 4 columns: packing would need 6 columns (2 folds of zero blocks), so
    # the layer stays one GEMM per group (M=4, N=3, K=2).
    g = net("[4, 2, 2]", "{name: c, kind: conv2d, filters: 6, kernel: 1, groups: 2}")
    p = plan(g, hw(WS), "c")
    assert p.pack == 1 and sorted({t.group for t in p.make_tiles()}) == [0, 1]


@pytest.mark.parametrize("df, cycles", [
    # dense 20 -> 5 (M=1, K=20, N=5) on 4x4:
    # WS: F_K=5, F_N=2 -> 10 folds, P = max(1, 1+3, 3) = 4 -> 1 + 9*4 + (1+8+4+3) = 53.
    # OS: F_M=1, F_N=2 -> 2 folds, P = max(20, 4, 4) = 20 -> 1 + 20 + (20+4+4+3) = 52.
    (WS, 53), (OS, 52)])
def test_dense_layer(df: Dataflow, cycles: int) -> None:
    g = net("[5, 2, 2]", "{name: f, kind: flatten}", "{name: d, kind: dense, units: 5}")
    p = plan(g, hw(df), "d")
    assert p.cycles.tolist() == [cycles]
    assert plan(g, hw(df), "f").unit == LW.Unit.FREE


def test_pool_layer() -> None:
    # 2x2/2 max pool on 3x4x4 with 4 lanes: one tile, 1 + 4 pixels x 4 taps + 4 (pipeline) = 21.
    g = net("[3, 4, 4]", "{name: p, kind: maxpool, kernel: 2}")
    p = plan(g, hw(WS), "p")
    assert p.unit == LW.Unit.POOL and p.cycles.tolist() == [21]
    assert p.dram_read.tolist() == [48] and p.dram_write.tolist() == [12]
    # 6 channels on 4 lanes: two channel groups.
    g6 = net("[6, 4, 4]", "{name: p, kind: maxpool, kernel: 2}")
    assert plan(g6, hw(WS), "p").cycles.tolist() == [21, 21]


def test_pool_bands_when_the_map_does_not_fit() -> None:
    # 1 KiB output memory = 256 words of 4 lanes; half = 128 words. A 3x3/1 pool on 16x16 -> 14x14
    # needs (16 + 14) words per output row plus 2 halo rows: bands of output rows.
    g = net("[4, 16, 16]", "{name: p, kind: maxpool, kernel: 3, stride: 1}")
    p = plan(g, hw(WS, kib=1), "p")
    tiles = list(p.make_tiles())
    assert p.tiles > 1
    assert sum(t.out_h for t in tiles) == 14
    for t in tiles:
        assert t.in_h == min(16 - t.iy0, t.out_h + 2)          # band plus halo rows
        assert (t.in_h * 16 + t.out_h * 14) * 4 <= (512 if t.double_buffered else 1024)
    # every band's cycles follow the per-pixel formula: out pixels x (9 + 8 + 4), + 1
    # 1 + out_h * 14 pixels x 9 taps + 4 (pipeline) per band
    assert p.cycles.tolist() == [1 + t.out_h * 14 * 9 + 4 for t in tiles]
    # halo rows are re-read from DRAM: more than the 4*16*16 input bytes in total
    assert p.dram_read.sum() > 4 * 16 * 16


def test_tiles_partition_every_gemm_and_fit_the_buffers() -> None:
    g = model_graph("lenet5")
    for df in (OS, WS):
        h = hw(df, kib=2)
        prog = LW.lower(g, h)
        for p in prog.layers:
            node = g.nodes[p.name]
            if p.unit != LW.Unit.ARRAY or node["gemm"] is None:
                continue
            gd = node["gemm"]
            cover = np.zeros((gd.groups, gd.m, gd.n), dtype=int)
            for t in p.make_tiles():
                cover[t.group, t.m0:t.m0 + t.m, t.n0:t.n0 + t.n] += t.k
                cap = 1024 if t.double_buffered else 2048
                assert t.act_bytes <= cap and t.weight_bytes <= cap and t.out_bytes <= cap
            assert (cover == gd.k).all(), p.name
            assert p.macs == gd.macs


def test_loop_order_reuse_counts_each_operand_once_when_it_fits() -> None:
    # With ample buffers a GEMM is one tile: A, B and outputs cross DRAM exactly once.
    g = net("[16, 8, 8]", "{name: c, kind: conv2d, filters: 32, kernel: 3, padding: 1}")
    p = plan(g, hw(WS, kib=256), "c")
    m, k, n = 64, 144, 32
    assert p.tiles == 1
    assert int(p.dram_read.sum()) == m * k + k * n + (n * PARAM_BITS + 7) // 8
    assert int(p.dram_write.sum()) == m * n


def test_fusion_rules() -> None:
    g = net("[4, 4, 4]",
            "{name: c1, kind: conv2d, filters: 4, kernel: 3, padding: 1, bias: false}",
            "{name: bn1, kind: batchnorm}",
            "{name: r1, kind: relu}",
            "{name: c2, kind: conv2d, filters: 4, kernel: 1}",
            "{name: add, kind: add, inputs: [c2, r1]}",
            "{name: r2, kind: relu}",
            "{name: cat, kind: concat, inputs: [r2, r1]}",
            "{name: r3, kind: relu}",
            "{name: bn2, kind: batchnorm}",
            "{name: gp, kind: global_avgpool}",
            "{name: f, kind: flatten}",
            "{name: dr, kind: dropout}",
            "{name: d, kind: dense, units: 3}",
            "{name: sm, kind: softmax}")
    units = {p.name: (p.unit, p.note) for p in LW.lower(g, hw(WS)).layers}
    assert units["bn1"] == (LW.Unit.FUSED, "folded into c1")
    assert units["r1"] == (LW.Unit.FUSED, "output clamp of c1")
    assert units["add"][0] == LW.Unit.POOL
    assert units["r2"] == (LW.Unit.FUSED, "output clamp of add")
    assert units["cat"][0] == LW.Unit.FREE
    assert units["r3"][0] == LW.Unit.POOL          # after a concat: nobody to fuse into
    assert units["bn2"][0] == LW.Unit.ARRAY        # after a relu: a depthwise 1x1 GEMM
    assert units["gp"][0] == LW.Unit.POOL
    assert units["f"][0] == units["dr"][0] == LW.Unit.FREE
    assert units["sm"][0] == LW.Unit.HOST
    # r1 has two readers (c2 and add): it is still the clamp of c1, whose output both read.
    p_add = plan(g, hw(WS), "add")
    # 1 + 16 pixels x 2 taps (the two inputs) + 4 = 37 on 4 lanes (4 channels).
    assert p_add.cycles.tolist() == [37]


def test_relu_after_max_pool_is_not_fused() -> None:
    # MAX pooling ignores the clamp: a ReLU after it runs as a 1x1 AVG pool tile; after an
    # AVG pool it is the pool's clamp.
    g = net("[4, 4, 4]",
            "{name: mp, kind: maxpool, kernel: 2}",
            "{name: r1, kind: relu}",
            "{name: ap, kind: avgpool, kernel: 2}",
            "{name: r2, kind: relu}")
    plans = {p.name: p for p in LW.lower(g, hw(WS)).layers}
    assert plans["r1"].unit == LW.Unit.POOL
    # 1 + 2x2 pixels x 1 tap + 4 = 9 on 4 lanes
    assert plans["r1"].cycles.tolist() == [9]
    assert plans["r2"].unit == LW.Unit.FUSED


def test_batchnorm_not_folded_when_the_conv_has_another_reader() -> None:
    g = net("[4, 4, 4]",
            "{name: c1, kind: conv2d, filters: 4, kernel: 1}",
            "{name: bn, kind: batchnorm}",
            "{name: add, kind: add, inputs: [bn, c1]}")
    units = {p.name: p.unit for p in LW.lower(g, hw(WS)).layers}
    assert units["bn"] == LW.Unit.ARRAY


def test_buffers_too_small_for_one_tile() -> None:
    # 1 x 1024 array with 16-bit weights (40-bit accumulators), 1 KiB memories: even the smallest tile (1 row, K
    # chunk 1, one column fold) needs one weight word of 1024 x 16 bits = 2 KiB; act 1 word of
    # 1 B, out 1 word of 1024 B (the parameter and accumulator words have memories of their
    # own). Both dataflows: no hint.
    g = net("[64, 10, 10]", "{name: c, kind: conv2d, filters: 4, kernel: 3, padding: 1}")
    for df in (WS, OS):
        h = HardwareConfig(array=ArrayConfig(rows=1, cols=1024, dataflow=df, weight_bits=16,
                                             acc_bits=40),
                           memory=MemoryConfig(act_kib=1, weight_kib=1, out_kib=1))
        with pytest.raises(ConfigError, match=r"layer 'c': buffers too small for one tile "
                           r"\(M=100, N=4, K=576\): it needs act 0\.0 KiB, weight 2\.0 KiB, "
                           r"out 1\.0 KiB; have 1/1/1 KiB$"):
            LW.lower(g, h)


def test_buffers_error_suggests_the_other_dataflow() -> None:
    # WS 64x64, 1 KiB: the smallest WS tile holds one K-fold of weights, 64 words of 64 B =
    # 4 KiB; act 1 word of 64 B; out 1 word of 64 B. OS can split K into chunks of 1: weight
    # 64 B -> fits.
    g = net("[64, 10, 10]", "{name: c, kind: conv2d, filters: 4, kernel: 3, padding: 1}")
    with pytest.raises(ConfigError, match=r"it needs act 0\.1 KiB, weight 4\.0 KiB, out 0\.1 KiB; "
                       r"have 1/1/1 KiB; the os dataflow would fit$"):
        LW.lower(g, hw(WS, r=64, c=64, kib=1))
    assert LW.lower(g, hw(OS, r=64, c=64, kib=1)).layers[-1].tiles > 0


@pytest.mark.parametrize("df, chunks, cycles, reads", [
    # Dense K=512 -> N=4 (M=1) on 4x4 with 1 KiB memories: a whole-K tile needs 512 weight
    # words of 4 B (2 KiB). Double-buffered (512 B halves) a chunk of kc weight words must fit
    # 512 B: kc <= 128 (the parameters have a memory of their own). The chunk candidates are K
    # cut into 2, 3, 4, ... parts: 4 parts -> 128 is the largest that fits. Cost: double
    # 4 x max(compute, 675 B / 16) beats single-buffered 2 chunks (compute + 2599 B / 16).
    # WS tile (m = 1): ceil(kc/4) = 32 folds, P = max(1, 1 + 3, 3) = 4, last fold
    # 1 + 8 + 4 + 3 = 16 -> 1 + 31*4 + 16 = 141.
    # Reads: A kc B + B 4*kc B (+ 35 B of parameters, 4 x 69 bits, with the first chunk).
    (WS, [128] * 4, [141] * 4, [128 + 512 + 35] + [640] * 3),
    # OS tile, one fold: 1 + kc + 4 + 4 + 3 = kc + 12 = 140.
    (OS, [128] * 4, [140] * 4, [128 + 512 + 35] + [640] * 3),
])
def test_k_split_hand_worked(df, chunks, cycles, reads) -> None:  # type: ignore[no-untyped-def]
    g = net("[512]", "{name: d, kind: dense, units: 4}")
    p = plan(g, hw(df, kib=1, bpc=16.0), "d")
    tiles = list(p.make_tiles())
    assert [t.k for t in tiles] == chunks
    assert [t.k0 for t in tiles] == [0, 128, 256, 384]
    assert [t.acc_in for t in tiles] == [False, True, True, True]
    assert [t.acc_out for t in tiles] == [True, True, True, False]
    assert all((t.m, t.n, t.m0, t.n0) == (1, 4, 0, 0) and t.double_buffered for t in tiles)
    assert p.cycles.tolist() == cycles
    assert p.dram_read.tolist() == reads
    assert p.dram_write.tolist() == [0, 0, 0, 4]   # only the last chunk writes outputs
    assert "K split into 4 chunks" in p.note
    for t in tiles:   # every tile fits half of each 1 KiB memory (double-buffered)
        assert max(t.act_bytes, t.weight_bytes, t.out_bytes) <= 512
        # out memory: 1 output word (4 B); weight memory: 128 words of 4 B
        assert t.out_bytes == 4 and t.weight_bytes == 512


def test_vgg16_os_on_pynq_z2_splits_k() -> None:
    from click.testing import CliRunner

    from hwcnn.cli.main import cli
    from hwcnn.cli.options import hardware_from_options

    res = CliRunner().invoke(cli, ["report", "models/vgg16.yaml", "--board", "pynq-z2",
                                   "--dataflow", "os", "--no-machine"])
    assert res.exit_code == 0, res.output
    assert "fc6" in res.output
    h, _ = hardware_from_options(board="pynq-z2", dataflow="os")
    g = model_graph("vgg16")
    caps = [kib * 1024 for kib in (h.memory.act_kib, h.memory.weight_kib, h.memory.out_kib)]
    for p in LW.lower(g, h).layers:
        gd = g.nodes[p.name]["gemm"]
        if p.name not in ("fc6", "fc7", "fc8") or gd is None:
            continue
        chains: dict[tuple[int, int, int], list] = {}
        for t in p.make_tiles():
            chains.setdefault((t.group, t.m0, t.n0), []).append(t)
            lim = [c // 2 if t.double_buffered else c for c in caps]
            assert t.act_bytes <= lim[0] and t.weight_bytes <= lim[1] and t.out_bytes <= lim[2]
        cover = np.zeros((gd.m, gd.n), dtype=int)
        for chain in chains.values():
            ks = [t.k0 for t in chain]
            assert ks[0] == 0 and all(a.k0 + a.k == b.k0 for a, b in itertools.pairwise(chain))
            assert chain[-1].k0 + chain[-1].k == gd.k
            assert [t.acc_in for t in chain] == [False] + [True] * (len(chain) - 1)
            assert [t.acc_out for t in chain] == [True] * (len(chain) - 1) + [False]
            assert [t.dram_write > 0 for t in chain] == [False] * (len(chain) - 1) + [True]
            cover[chain[0].m0:chain[0].m0 + chain[0].m, chain[0].n0:chain[0].n0 + chain[0].n] += 1
        assert (cover == 1).all(), p.name
        # The search's predicted compute and traffic are what the emitted chains carry.
        ch = LW.choose_gemm(p.name, h.array, h, gd.m, gd.n, gd.k, gd.groups)
        assert ch.compute == int(p.cycles.sum())
        assert ch.traffic == int(p.dram_read.sum() + p.dram_write.sum())
        if p.name == "fc6":
            assert len(chains[(0, 0, 0)]) > 1, "fc6 (K = 25088) must be K-split"


def test_accumulator_too_narrow() -> None:
    g = net("[64, 4, 4]", "{name: c, kind: conv2d, filters: 4, kernel: 3}")
    h = HardwareConfig(array=ArrayConfig(rows=4, cols=4, acc_bits=18))
    # |sum| <= 576 * 128 * 128 = 9,437,184 < 2**24: 25 signed bits, + 1 for the bias = 26.
    with pytest.raises(ConfigError, match=r"layer 'c': K=576 needs 26-bit accumulators"):
        LW.lower(g, h)


def test_resnet50_spec_matches_torchvision() -> None:
    g = model_graph("resnet50")
    assert sum(a["cost"].params for _, a in ordered_nodes(g)) == 25_557_032
    convs = [a for _, a in ordered_nodes(g) if a["gemm"] is not None]
    assert len(convs) == 54                      # 53 convolutions + fc
    prog = LW.lower(g, hw(WS, r=16, c=16, kib=1024))
    assert sum(p.macs for p in prog.layers) == sum(a["gemm"].macs for a in convs)


def test_progress_callback_sees_every_layer() -> None:
    g = model_graph("lenet5")
    seen: list[tuple[int, int]] = []
    LW.lower(g, hw(WS, kib=8), progress=lambda d, t: seen.append((d, t)))
    n = g.number_of_nodes()
    assert seen[-1] == (n, n) and len(seen) == n


def test_three_d_layers() -> None:
    g = net("[2, 4, 6, 6]",
            "{name: c, kind: conv3d, filters: 4, kernel: 3, padding: 1}",
            "{name: p, kind: maxpool, kernel: 2}",
            "{name: g, kind: global_avgpool}")
    plans = {p.name: p for p in LW.lower(g, hw(WS)).layers}
    # conv3d: M = 4*6*6 = 144, K = 27*2 = 54, N = 4: WS F_K = 14, F_N = 1 -> 14 folds,
    # P = max(144, 72+3, 3) = 144 -> 1 + 13*144 + (144+8+4+3) = 2032.
    assert plans["c"].cycles.tolist() == [2032]
    # 3-D max pool (4 ch, 4x6x6 -> 2x3x3) as two passes: 16 maps of 6x6 -> 3x3 on 4 lanes
    # (4 tiles of 1 + 9*4 + 4 = 41), then 4 maps of 4x9 -> 2x9 with a 2x1 window
    # (1 + 18*2 + 4 = 41).
    assert plans["p"].cycles.tolist() == [41] * 4 + [41]
    # global average over 2x3x3 folded to a 6x3 window: 1 + 18 + 4 = 23.
    assert plans["g"].cycles.tolist() == [23]
    g_avg = net("[2, 4, 6, 6]", "{name: a, kind: avgpool, kernel: 2}")
    with pytest.raises(ConfigError, match="3-D avg pooling cannot be computed exactly"):
        LW.lower(g_avg, hw(WS))


def test_chosen_tiling_cost_matches_the_emitted_tiles() -> None:
    # The tile search's traffic and compute predictions are what the tiles then carry.
    g = model_graph("resnet18")
    for df in (OS, WS):
        for kib in (64, 512):
            h = HardwareConfig(array=ArrayConfig(rows=8, cols=8, dataflow=df),
                               memory=MemoryConfig(act_kib=kib, weight_kib=2 * kib, out_kib=kib))
            for p in LW.lower(g, h).layers:
                gd = g.nodes[p.name]["gemm"]
                if p.unit != LW.Unit.ARRAY or gd is None:
                    continue
                ch = LW.choose_gemm(p.name, h.array, h, gd.m, gd.n, gd.k, gd.groups)
                assert ch.traffic == int(p.dram_read.sum() + p.dram_write.sum())
                assert ch.compute == int(p.cycles.sum())


# -- every chosen tile fits its buffers ------------------------------------------------------

def _memories_to_sweep() -> list[MemoryConfig]:
    """The default memories of every board (for its default array) plus the no-board default."""
    from hwcnn.boards.profiles import all_boards

    out = {MemoryConfig()}
    for b in all_boards():
        s = b.max_square_array(8, 8)
        out.add(b.default_memory(ArrayConfig(rows=s, cols=s), 16.0))
    return sorted(out, key=lambda m: (m.act_kib, m.weight_kib, m.out_kib, m.acc_words))


def _gemm_shapes() -> set[tuple[int, int, int, int]]:
    from pathlib import Path

    shapes = set()
    for path in sorted(Path("models").glob("*.yaml")):
        g = model_graph(path.stem)
        for _, a in ordered_nodes(g):
            if a.get("gemm") is not None:
                gd = a["gemm"]
                shapes.add((gd.m, gd.n, gd.k, gd.groups))
    return shapes


def _need(df: Dataflow, r: int, c: int, m: int, n: int, k: int, split: bool
          ) -> tuple[int, int, int, int, int]:
    """(act, weight, out bytes, parameter words, accumulator words) of an m x n x k tile with
    int8 operands, from the word layouts of rtl/README.md 3: act words hold R int8 lanes
    (``ceil(k/R)`` per im2col row, both dataflows), weight and output words C int8 lanes; one parameter word per column fold; accumulator
    words: F_N * m for a K-split chain, m for a plain WS tile."""
    fn = -(-n // c)
    act = -(-k // r) * m * r
    weight = fn * k * c
    out = fn * m * c
    acc = fn * m if split else (m if df is WS else 0)
    return act, weight, out, fn, acc


@pytest.mark.parametrize("side", [8, 16, 32, 64, 128])
def test_every_chosen_tile_fits_its_buffers(side: int) -> None:
    # Every shipped model's GEMMs x every board default memory x both dataflows: the largest
    # tile of the chosen tiling (footprints grow with m, n and k, so the ragged edge tiles are
    # smaller) fits its memories, half of them when double-buffered (the accumulator is the
    # engine's and is never halved). Regression: the OS search used to round the tile height
    # up to a multiple of R after checking the fit (AlexNet conv3 on 128x128 with 64 KiB:
    # 227 KiB in a 32 KiB half buffer).
    shapes = _gemm_shapes()
    bad = []
    for mem in _memories_to_sweep():
        for df in (OS, WS):
            h = HardwareConfig(array=ArrayConfig(rows=side, cols=side, dataflow=df), memory=mem)
            for m, n, k, groups in shapes:
                try:
                    ch = LW.choose_gemm("x", h.array, h, m, n, k, groups)
                except ConfigError:
                    continue       # no tile fits at all: the lowering refuses the layer
                div = 2 if ch.double else 1
                need = _need(df, side, side, ch.mt, ch.nt, ch.kc or k, bool(ch.kc))
                caps = (mem.act_kib * 1024 // div, mem.weight_kib * 1024 // div,
                        mem.out_kib * 1024 // div, mem.param_words // div, mem.acc_words)
                if any(x > cap for x, cap in zip(need, caps)) or ch.mt > m or ch.nt > n:
                    bad.append((mem, df.value, (m, n, k), (ch.mt, ch.nt, ch.kc), need, caps))
    assert bad == []


def test_alexnet_conv3_on_128x128_fits_and_the_check_sees_an_oversized_tile() -> None:
    # AlexNet conv3 (13x13x256 -> 384, 3x3): M = 169, N = 384, K = 2304 on 128x128 OS, 64 KiB.
    h = HardwareConfig(array=ArrayConfig(rows=128, cols=128, dataflow=OS),
                       memory=MemoryConfig(act_kib=64, weight_kib=64, out_kib=64))
    ch = LW.choose_gemm("conv3", h.array, h, 169, 384, 2304, 1)
    a, w, o, _, _ = _need(OS, 128, 128, ch.mt, ch.nt, ch.kc or 2304, bool(ch.kc))
    half = 32 * 1024 if ch.double else 64 * 1024
    assert max(a, w, o) <= half
    # Negative control: a whole-K tile of one row fold (128 rows, what rounding up to R gives)
    # needs 2304 act words of 128 B = 288 KiB: the check flags it.
    a, w, o, _, _ = _need(OS, 128, 128, 128, 128, 2304, False)
    assert a == 2304 * 128 > 64 * 1024
    # The emitted tiles carry the same bytes the independent formula gives.
    g = model_graph("alexnet227")
    for t in plan(g, h, "conv3").make_tiles():
        na, nw, no, _, _ = _need(OS, 128, 128, t.m, t.n, t.k, t.acc_in or t.acc_out)
        assert (t.act_bytes, t.weight_bytes, t.out_bytes) == (na, nw, no)


def test_search_score_follows_the_dram_model() -> None:
    # The search scores a tiling per class of equal tiles with max(compute, transfers) for
    # double-buffered tiles; memsim then runs the emitted program tile by tile. Per GEMM layer
    # the two agree within 10 %, over the network within 2 % (layer boundaries, where one
    # layer's first load overlaps the previous layer's last tile, make the difference).
    # Fed at the Ultra96-V2's DRAM bandwidth (56.7 B/cycle) and at its 128-bit AXI port
    # (16 B/cycle, the board default, with the load unit's im2col floors), where the layer
    # boundaries weigh more: a layer's first gather waits for the previous layer's stores, and
    # the score has no pipeline ends (ResNet-50's layer1_0/conv1 waits 11 % for its input in
    # WS, its 14x14 1x1 convs 15 % in OS, where every A element is gathered one per cycle).
    from dataclasses import replace

    from hwcnn.cli.options import hardware_from_options
    from hwcnn.compiler.gather import gather_of
    from hwcnn.report import perf

    for model in ("vgg16", "resnet50"):
        g = model_graph(model)
        for df in ("ws", "os"):
            port, _ = hardware_from_options(board="ultra96-v2", dataflow=df)
            dram = replace(port, memory=replace(port.memory, port_bytes_per_cycle=None))
            assert (dram.memory.bytes_per_cycle, port.memory.bytes_per_cycle) == (
                pytest.approx(170 / 3), 16.0)
            for h, rel, tot in ((dram, 0.10, 0.02), (port, 0.16, 0.04)):
                score = sim = 0.0
                for r in perf.estimate(g, h):
                    gd = g.nodes[r.name].get("gemm")
                    if r.unit != LW.Unit.ARRAY or gd is None:
                        continue
                    ch = LW.choose_gemm(r.name, h.array, h, gd.m, gd.n, gd.k, gd.groups,
                                        gather_of(g.nodes[r.name], h))
                    assert ch.cost == pytest.approx(r.total_cycles, rel=rel), (model, df, r.name)
                    score += ch.cost
                    sim += r.total_cycles
                assert score == pytest.approx(sim, rel=tot), (model, df)
