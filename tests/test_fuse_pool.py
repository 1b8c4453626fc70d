"""Conv + pool in the output buffer (``compile_network(fuse_pool=True)``, the default): a pool
that is the only reader of a conv whose GEMM tiles hold complete pool windows runs (VEC) on the
GEMM's output words right after the GEMM; the conv's STORE and the pool's LOAD are gone and
only the pooled result is stored. Bit-exact against the golden network on the functional
interpreter (three unit schedules) in both dataflows; the stepped machine model runs the fused
programs to their end; hand counts of tiny_cnn's instructions and DRAM bytes; cases that must
not fuse compile to the unfused program."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn import compiler as LW
from hwcnn.arch.config import Dataflow
from hwcnn.arch.dma import DramTiming
from hwcnn.compiler.backend import compile_network
from hwcnn.compiler.mapjson import memory_map
from hwcnn.isa import Buffer, MemMode, Opcode
from hwcnn.machine.program_exec import check_compiled, compare_dram, read_tensor, run_program
from hwcnn.machine.socsim import run_program as soc_run
from tests.conftest import graph_of
from tests.test_program import _graph, hw, setup

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
TIMING = DramTiming.from_board(1.33, 100, latency=16)

# Channel folds: 10 / 9 / 6 / 5 channels on 4 (or 2, 3) lanes, the last fold partial; max, sum
# (a folded BatchNorm and a ReLU in between), overlapping average windows, a global average.
FOLDS = """name: folds
input: [3, 8, 8]
layers:
  - {name: c1, kind: conv2d, filters: 10, kernel: 3, padding: 1, activation: relu}
  - {name: p1, kind: maxpool, kernel: 2}
  - {name: c2, kind: conv2d, filters: 9, kernel: 1}
  - {name: bn, kind: batchnorm}
  - {name: r, kind: relu}
  - {name: p2, kind: sumpool, kernel: 2}
  - {name: c3, kind: conv2d, filters: 6, kernel: 1}
  - {name: a3, kind: avgpool, kernel: 2, stride: 1}
  - {name: c4, kind: conv2d, filters: 5, kernel: 1}
  - {name: g, kind: global_avgpool}
  - {name: d, kind: dense, units: 5}
"""

# conv1's 8x8 output in two GEMM tiles of 4 rows (4x4 array, 1 KiB buffers); the 3x3 stride-2
# pool's output row 2 reads input rows 3..5, across both tiles.
STRADDLE = """name: straddle
input: [1, 8, 8]
layers:
  - {name: conv1, kind: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {name: pool1, kind: maxpool, kernel: 3, stride: 2, padding: 1}
  - {name: fc, kind: dense, units: 3}
"""

# conv1's output is read by the pool and by the add.
TWO_READERS = """name: two_readers
input: [4, 6, 6]
layers:
  - {name: c, kind: conv2d, filters: 4, kernel: 3, padding: 1}
  - {name: p, kind: maxpool, kernel: 3, stride: 1, padding: 1}
  - {name: s, kind: add, inputs: [p, c]}
"""

TEXTS = {"folds": FOLDS, "straddle": STRADDLE, "two_readers": TWO_READERS}


def _case(name: str, df: Dataflow, r: int, c: int, kib: int):  # type: ignore[no-untyped-def]
    g = graph_of(TEXTS[name]) if name in TEXTS else _graph(name)
    q, x = setup(g)
    prog = LW.lower(g, hw(df, r, c, kib))
    return (prog, q, x, compile_network(prog, q, x=x),
            compile_network(prog, q, x=x, fuse_pool=False))


def _stored(prog, comp) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in prog.layers if p.name not in comp.on_chip]


def _store_bytes(comp) -> int:  # type: ignore[no-untyped-def]
    return sum(i["rows"] * i["elems"] * comp.target.elem_bytes for i in comp.insns
               if i.op is Opcode.STORE and i["mode"] == MemMode.PIXELS)


def _pixel_loads(comp) -> int:  # type: ignore[no-untyped-def]
    return sum(i["rows"] * i["elems"] * comp.target.elem_bytes for i in comp.insns
               if i.op is Opcode.LOAD and i["buffer"] == Buffer.OUT and i["mode"] == MemMode.PIXELS)


FUSED = [("tiny_cnn", {"conv1": "pool1"}), ("lenet5", {"c1": "s2", "c3": "s4"}),
         ("folds", {"c1": "p1", "c2": "p2", "bn": "p2", "r": "p2", "c3": "a3", "c4": "g"})]


@pytest.mark.parametrize("df", [WS, OS], ids=["ws", "os"])
@pytest.mark.parametrize("name, on_chip", FUSED, ids=[n for n, _ in FUSED])
@pytest.mark.parametrize("r, c, kib", [(4, 4, 64), (4, 4, 1), (3, 2, 1)])
def test_fused_programs_equal_the_golden_network(name: str, on_chip: dict[str, str],
                                                 df: Dataflow, r: int, c: int, kib: int
                                                 ) -> None:
    prog, q, x, comp, plain = _case(name, df, r, c, kib)
    if (r, c, kib) == (4, 4, 64):       # one GEMM tile per fold: every listed pool fuses
        assert dict(comp.on_chip) == on_chip
    else:                                # banded tiles: a subset (rows must align)
        assert set(comp.on_chip.items()) <= set(on_chip.items())
    for schedule in ("eager", "store-first", "random"):
        res = check_compiled(comp, prog, q, x, schedule=schedule, seed=3)
        assert res.ok, (schedule, str(res.first_mismatch))
        assert [ly.name for ly in res.layers] == _stored(prog, comp)
    # every tensor both programs store holds the same bytes
    size = lambda cm: cm.regions[-1].offset + cm.regions[-1].size
    da = run_program(comp.insns, comp.target, comp.image, size(comp))
    db = run_program(plain.insns, plain.target, plain.image, size(plain))
    for ly in _stored(prog, comp):
        assert np.array_equal(read_tensor(comp, da, ly), read_tensor(plain, db, ly)), ly
    if comp.on_chip:
        assert len(comp.insns) != len(plain.insns) or comp.insns != plain.insns
        assert _store_bytes(comp) < _store_bytes(plain)
        assert _pixel_loads(comp) < _pixel_loads(plain)
        assert not any(rg.name == f"tensor:{o}" for rg in comp.regions for o in comp.on_chip)


@pytest.mark.parametrize("df", [WS, OS], ids=["ws", "os"])
@pytest.mark.parametrize("name", ["tiny_cnn", "lenet5", "folds"])
def test_stepped_machine_runs_fused_programs(name: str, df: Dataflow) -> None:
    """socsim (the cycle model proven equal to the Verilog in tests/test_soc_cocotb.py) runs
    the fused programs to END; the layers it sees written are exactly the stored ones."""
    prog, _q, _x, comp, _plain = _case(name, df, 4, 4, 1 if name != "lenet5" else 64)
    run = soc_run(comp, array=prog.hw.array, bus_bytes=8, dram=TIMING)
    tiles = [p.name for p in prog.layers if p.unit in ("array", "pool")]
    assert sorted(run.layer_writes) == sorted(t for t in tiles if t not in comp.on_chip)
    assert 0 < max(run.layer_writes.values()) < run.cycles


def test_tiny_cnn_hand_counts() -> None:
    """tiny_cnn, 4x4 weight-stationary, 1 KiB buffers: conv1 (8x8x4) runs as two GEMM tiles of
    32 pixels (rows 0-3, 4-7), pool1 (2x2 max -> 4x4x4), conv2 (2x2x8), fc (10).

    A barrier's compute side (NOPs popping the store credits) comes before the layer; its
    load side (NOPs popping the load credits and the barrier token) comes after the next
    tile's weight and parameter LOADs, just before its LOAD2D (or before the next barrier).

    Unfused, 36 instructions: conv1 2 x (LOAD2D, LOAD, LOAD, GEMM, STORE) = 10, the barrier
    before pool1 2, pool1 (LOAD into OUT, VEC, STORE) 3, the barrier before conv2 (pool1's
    barrier's load side 3, its compute side 1), conv2 (LOAD, LOAD, 1 barrier pop, LOAD2D,
    GEMM, STORE) 6, the barrier before fc 1, fc (with 2 pops) 7, end (2 NOPs + END) 3. DRAM
    writes 32*4 + 32*4 (conv1) + 16*4 (pool1) + 4*8 (conv2) + 10 (fc) = 362 bytes; pool1
    reads conv1's 64*4 = 256 back.

    Fused, 32: conv1 2 x (LOAD2D, LOAD, LOAD, GEMM, VEC, STORE) = 12, the barrier before conv2
    2, conv2 (LOAD, LOAD, 2 barrier pops, LOAD2D, GEMM, STORE) 7, barrier 1, fc 7, end 3. DRAM
    writes 8*4 + 8*4 (pool1's two bands) + 32 + 10 = 106 bytes, no LOAD into OUT."""
    prog, q, x, comp, plain = _case("tiny_cnn", WS, 4, 4, 1)
    assert len(plain.insns) == 36 and len(comp.insns) == 32
    # after a barrier the weights and parameters go first, the input after the barrier's pops
    ops = [(i.op, o) for i, o in zip(comp.insns[14:19], comp.origin[14:19], strict=True)]
    assert ops == [(Opcode.LOAD, "layer 'conv2' tile 0"), (Opcode.LOAD, "layer 'conv2' tile 0"),
                   (Opcode.LOAD, "barrier"), (Opcode.LOAD, "barrier"),
                   (Opcode.LOAD2D, "layer 'conv2' tile 0")]
    assert [comp.insns[i]["buffer"] for i in (14, 15)] == [Buffer.WGT, Buffer.PARAM]
    assert _store_bytes(plain) == 362 and _store_bytes(comp) == 106
    assert _pixel_loads(plain) == 256 and _pixel_loads(comp) == 0
    assert dict(comp.on_chip) == {"conv1": "pool1"}
    ops = [i.op for i in comp.insns[:12]]
    assert ops == [Opcode.LOAD2D, Opcode.LOAD, Opcode.LOAD, Opcode.GEMM, Opcode.VEC,
                   Opcode.STORE] * 2
    pool1 = comp.address("pool1")
    for t, (gemm, vec, store) in enumerate([comp.insns[3:6], comp.insns[9:12]]):
        half = 128 * t                         # OUT: 256 words, ping-pong halves of 128
        assert gemm["c_base"] == half and gemm["m"] == 32
        # the pool reads the GEMM's 32 output words (4 rows x 8), writes 2 x 4 after them
        assert (vec["pin_base"], vec["in_h"], vec["in_w"], vec["out_h"], vec["out_w"],
                vec["c_base"]) == (half, 4, 8, 2, 4, half + 32)
        assert (store["sram_base"], store["rows"], store["elems"],
                store["dram_base"]) == (half + 32, 8, 4, pool1 + 8 * 4 * t)
        assert gemm["push_prev"] and not vec["push_prev"]      # GEMM frees the input half
        assert vec["push_next"] and store["pop_prev"] and store["push_prev"]
    assert comp.origin[4] == comp.origin[5] == "layer 'pool1' tile 0"
    assert comp.origin[11] == "layer 'pool1' tile 1" and comp.origin[3] == "layer 'conv1' tile 0"
    # conv1 has no DRAM tensor; the memory map says where its value went
    assert "conv1" not in comp.views and "tensor:conv1" not in [r.name for r in comp.regions]
    doc = memory_map(comp, prog, q)
    assert doc["tensors"]["conv1"]["tensor"] is None
    assert doc["tensors"]["conv1"]["on_chip"] == "pool1"
    assert doc["tensors"]["pool1"]["offset"] == pool1
    # reproducible
    again = compile_network(prog, q, x=x)
    assert again.image == comp.image and again.insns == comp.insns


@pytest.mark.parametrize("name, df", [("straddle", WS), ("straddle", OS),
                                      ("two_readers", WS), ("two_readers", OS)])
def test_no_fusion_keeps_the_dram_round_trip(name: str, df: Dataflow) -> None:
    prog, q, x, comp, plain = _case(name, df, 4, 4, 1)
    if name == "straddle":   # the conv's output tiles are whole rows, the windows cross them
        conv = [(t.m0, t.m) for t in prog.layers[1].make_tiles()]
        assert conv == [(0, 32), (32, 32)]
    assert dict(comp.on_chip) == {}
    assert comp.insns == plain.insns and comp.image == plain.image
    assert _pixel_loads(comp) > 0
    assert check_compiled(comp, prog, q, x).ok


def test_on_chip_layer_is_not_compared() -> None:
    """A corrupted conv1 weight: conv1 itself is not in DRAM, the flip shows in pool1; without
    fusion it shows in conv1."""
    prog, q, x, comp, plain = _case("tiny_cnn", WS, 4, 4, 1)
    size = lambda cm: cm.regions[-1].offset + cm.regions[-1].size
    for cm, first in ((comp, "pool1"), (plain, "conv1")):
        img = bytearray(cm.image)
        img[cm.region("weights").offset + 2] ^= 0x40
        dram = run_program(cm.insns, cm.target, bytes(img), size(cm))
        ver = compare_dram(cm, prog, q, x, dram)
        assert ver.first_mismatch is not None and ver.first_mismatch.layer == first
