"""The load unit's floor in planning (hwcnn.compiler.gather): hand-worked paces, which layers
get one, memsim's use of it, and memsim against the stepped machine with it."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from hwcnn.arch.soc import IM2COL_PHASES
from hwcnn.cli.main import cli
from hwcnn.cli.options import hardware_from_options
from hwcnn.compiler.gather import IM2COL_SETUP, Gather, gather_of
from hwcnn.machine import memsim
from tests.conftest import graph_of


def test_setup_is_the_walkers_first_cycle() -> None:
    # three bit-serial phases of 25, 21 and 14 cycles; the walkers load their first pixel in
    # cycle 60 and write the first element in 62 (rtl/README.md 10.2, hw/soc/im2col.py)
    assert IM2COL_PHASES == (25, 21, 14) and IM2COL_SETUP == 62


def test_tile_paces_by_hand() -> None:
    # (both dataflows: one activation layout, one gather) 3x3 kernel, 32 channels, 16-row
    # array, 16-byte port: an element walker run takes at most 16 elements
    g = Gather(kh=3, kw=3, cg=32, bus_bytes=16, elem_bytes=1, lanes=16)
    # whole K: one descriptor of 3 kernel rows of 96 bytes, each starting at a multiple of 32
    # bytes (so of 16: 6 beats a row), 18 beats; walker 4 + 3 = 7; two transfers in flight:
    # (16 + S 4 + 18 + 1) / 2 = 19.5; runs 288/16 = 18 -> 19.5 per pixel
    assert g.tile_cycles(196, 288) == 62 + math.ceil(196 * 19.5)
    # a K-split chunk of one kernel row (96 elements): gathered as the whole K of a 1-row
    # kernel (codegen.row_window), one descriptor of one 96-byte row (6 beats, S 2):
    # (16 + 2 + 6 + 1) / 2 = 12.5 (walker 4 + 3 = 7, runs 6)
    assert g.tile_cycles(10, 96) == 62 + 125
    # a chunk that cuts a kernel row (48 elements: a position of 32 bytes and half of one):
    # a one-row descriptor per position, max(beats, (16 + 2 + beats + 1) / 2) each:
    # 10.5 + 10 (walker 2 + 2*2 = 6, runs 3)
    assert g.tile_cycles(10, 48) == 62 + 205
    # a pack of 2 groups doubles the channels of a kernel position: rows of 192 bytes, 12
    # beats each, 36 a pixel; (16 + 4 + 36 + 1) / 2 = 28.5; runs 576/16 = 36 -> 36
    assert g.tile_cycles(196, 576, pack=2) == 62 + 196 * 36
    # a depthwise pack of 32 of a 64-channel input: a kernel position's 32 channels are not
    # adjacent to the next position's, so 9 DMA rows of 32 bytes (18 beats, S = 2 + 2 = 4):
    # (16 + 4 + 18 + 1) / 2 = 19.5, and 9 bursts with at most 8 in flight of about 16 + 2
    # cycles each: 9 * 18 / 8 = 20.25 -> 20.25 per pixel
    dw = Gather(kh=3, kw=3, cg=1, bus_bytes=16, elem_bytes=1, lanes=32, pix=64)
    assert dw.tile_cycles(392, 288, pack=32) == 62 + math.ceil(392 * 20.25)
    assert g.tile_cycles(0, 288) == g.tile_cycles(5, 0) == 0


def test_floor_is_the_load_unit_s() -> None:
    # The planning floor against the exact load-unit model stepped alone (machine.socload,
    # proven equal to the RTL by tests/test_soc_load.py), on every distinct LOAD2D of a
    # network compiled for the KV260 (128-bit AXI, DRAM latency 16): 3x3 convs of 3, 16 and
    # 64 channels, a packed depthwise and a strided 5x5. The floor counts whole kernels
    # (padded border pixels move fewer bytes) and averages the rows' beat offsets.
    from fractions import Fraction

    from hwcnn import compiler as LW
    from hwcnn.arch.dma import DramTiming
    from hwcnn.compiler.backend import compile_network
    from hwcnn.isa.fields import Opcode
    from hwcnn.machine.insnsim import isolated_cycles
    from tests.test_execute import setup

    hw, _ = hardware_from_options(board="kv260")
    g = graph_of("name: t\ninput: [3, 28, 28]\nlayers:\n"
                 "  - {name: c1, kind: conv2d, filters: 16, kernel: 3, padding: 1}\n"
                 "  - {name: c2, kind: conv2d, filters: 64, kernel: 3, padding: 1}\n"
                 "  - {name: c3, kind: conv2d, filters: 64, kernel: 3, padding: 1}\n"
                 "  - {name: dw, kind: conv2d, filters: 64, kernel: 3, padding: 1, groups: 64}\n"
                 "  - {name: c5, kind: conv2d, filters: 128, kernel: 5, padding: 2, stride: 2}\n")
    prog = LW.lower(g, hw)
    packs = {p.name: p.pack for p in prog.layers}
    assert packs["dw"] == 32
    q, x = setup(g)
    comp = compile_network(prog, q, x=x)
    ratios = {}
    for insn, origin in zip(comp.insns, comp.origin, strict=True):
        if insn.op is not Opcode.LOAD2D:
            continue
        name, f = origin.split("'")[1], insn.get()
        exact = isolated_cycles(insn, target=comp.target, bus_bytes=16,
                                dram=DramTiming(latency=16, bytes_per_cycle=Fraction(96)))
        floor = gather_of(g.nodes[name], hw).tile_cycles(f["m"], f["k"], packs[name])
        ratios[(name, f["m"], f["k"])] = floor / exact
    assert {n for n, _, _ in ratios} == {"c1", "c2", "c3", "dw", "c5"}
    assert all(0.99 < r < 1.06 for (n, _, _), r in ratios.items() if n != "dw"), ratios
    assert all(0.9 < r < 1.0 for (n, _, _), r in ratios.items() if n == "dw"), ratios


def test_which_layers_gather() -> None:
    g = graph_of("name: t\ninput: [16, 7, 7]\nlayers:\n"
                 "  - {name: c3, kind: conv2d, filters: 8, kernel: 3, padding: 1}\n"
                 "  - {name: c1, kind: conv2d, filters: 8, kernel: 1}\n"
                 "  - {name: d, kind: dense, units: 10}\n")
    ws, _ = hardware_from_options(board="kv260")
    osw, _ = hardware_from_options(board="kv260", dataflow="os")
    free, _ = hardware_from_options(array="32x32")                 # no port: the tile engine
    c3, c1, d = (g.nodes[n] for n in ("c3", "c1", "d"))
    assert gather_of(c3, ws) == gather_of(c3, osw) == Gather(kh=3, kw=3, cg=16, bus_bytes=16,
                                                             elem_bytes=1, lanes=32, pix=16)
    assert gather_of(c1, ws) is gather_of(c1, osw) is None       # a PIXELS load
    # a dense layer's kernel is its whole 7x7x8 input map
    assert gather_of(d, ws) == Gather(kh=7, kw=7, cg=8, bus_bytes=16, elem_bytes=1, lanes=32,
                                      pix=8)
    assert gather_of(c3, free) is None


def test_memsim_load_floor_by_hand() -> None:
    # two tiles of 10 cycles, 32 B in and 16 B out at 16 B/cycle, loads of at least 5 and 12
    # cycles: load0 [0,5), compute0 [5,15) while load1 [5,17), compute1 [17,27), store0
    # [17,18), store1 [27,28)
    t = memsim.simulate([10, 10], [32, 32], [16, 16], 16.0, load_min=[5, 12])
    assert (t.start.tolist(), t.stall.tolist(), t.total) == ([5, 17], [5, 3], 28)
    # tile 1 reads tile 0's output: store0 [15,16), then its 12-cycle gather [16,28)
    t = memsim.simulate([10, 10], [32, 32], [16, 16], 16.0, barrier=[False, True],
                        load_min=[5, 12])
    assert (t.start.tolist(), t.drain.tolist(), t.total) == ([5, 28], [1, 0], 39)
    with pytest.raises(ValueError, match="load_min needs one entry per tile"):
        memsim.simulate([10], [32], [16], 16.0, load_min=[1, 2])


@pytest.mark.parametrize("df", ["ws", "os"])
def test_memsim_is_near_the_machine_with_the_floor(df: str) -> None:
    # tiny_cnn on the Arty A7-100T (4x4, 1 KiB buffers, 128-bit port): the stepped machine,
    # proven equal to the RTL, against memsim with the load unit's floors: memsim below (it
    # ignores fetch, the DMA set-up and the per-pixel store rows), within 1.6x (without the
    # floors the machine took 3.2x memsim's cycles in WS)
    res = CliRunner().invoke(cli, ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t",
                                   "--array", "4x4", "--buffers", "1", "--dataflow", df,
                                   "--machine", "--machine-max-cycles", "0", "-f", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    memsim_total = out["totals"]["total"]["total_cycles"]
    assert out["machine"] == "model proven equal to the RTL"
    assert memsim_total < out["machine_cycles"] < 1.6 * memsim_total


@pytest.mark.parametrize("cin, hw_, k, lo, hi", [
    (64, 56, 128, 0.99, 1.03),    # two whole positions of 64 channels: a descriptor each
    (64, 56, 64, 0.99, 1.03),     # one position
    (128, 28, 128, 0.99, 1.04),   # one position of 128 channels
    (512, 14, 288, 0.99, 1.03),   # part of a position (288 of 512 channels)
    (256, 14, 384, 0.9, 1.0),     # a position and a half: the two descriptors' mixed sizes
])
def test_k_split_chunk_floor_is_the_load_unit_s(cin: int, hw_: int, k: int, lo: float,
                                                hi: float) -> None:
    # A chunk that cuts kernel rows (k0 = 0, k < a kernel row): one descriptor per kernel
    # position, on a 16-row array and the KV260's 16-byte port, against the exact load unit
    # (4 output rows in the middle of the map, 3x3 kernel, padding 1).
    from fractions import Fraction

    from hwcnn.arch.config import ArrayConfig
    from hwcnn.arch.dma import DramTiming
    from hwcnn.isa.fields import Opcode, make
    from hwcnn.isa.target import Target
    from hwcnn.machine.insnsim import isolated_cycles

    t = Target(array=ArrayConfig(rows=16, cols=16), act=1 << 16, weight=1 << 16, param=1 << 10,
               out=1 << 16, acc=1 << 12)
    m = 4 * hw_
    insn = make(Opcode.LOAD2D, sram_base=0, dram_base=0, in_h=hw_, in_w=hw_, pix_stride=cin,
                out_w=hw_, cg=cin, kh=3, kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, m0=2 * hw_,
                m=m, k0=0, k=k)
    exact = isolated_cycles(insn, target=t, bus_bytes=16,
                            dram=DramTiming(latency=16, bytes_per_cycle=Fraction(96)))
    floor = Gather(kh=3, kw=3, cg=cin, bus_bytes=16, elem_bytes=1, lanes=16).tile_cycles(m, k)
    assert lo < floor / exact < hi, (floor, exact)
