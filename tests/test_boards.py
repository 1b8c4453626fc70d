"""Board profiles: data completeness, id lookup, DSP accounting and fit checks."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from hwcnn.arch.config import ArrayConfig, HardwareConfig, MemoryConfig
from hwcnn.boards.profiles import (
    all_boards,
    board_profile,
    get_board,
    normalize_id,
    operand_chunks,
    unsupported_boards,
)
from hwcnn.errors import ConfigError

REQUIRED = {"pynq-z2", "arty-a7-100t", "zcu104", "ultra96-v2", "kv260", "ulx3s-85f",
            "de10-nano", "alveo-u250"}
#: real boards the complete accelerator does not fit (boards.yaml ``unsupported``)
UNSUPPORTED = {"icebreaker", "tang-nano-9k"}


def test_at_least_ten_real_boards_with_sources() -> None:
    boards = all_boards()
    assert len(boards) >= 10
    assert REQUIRED <= {b.id for b in boards}
    assert UNSUPPORTED <= {b.id for b, _ in unsupported_boards()}
    assert not UNSUPPORTED & {b.id for b in boards}
    for b in boards:
        for v in (b.luts, b.bram_kbits, b.extra_ram_kbits, b.dram_gbps, b.clock_mhz,
                  b.axi_bits):
            assert v.source.strip() and v.value >= 0
        for m in b.multipliers:
            assert m.source.strip() and m.count > 0


def test_known_values() -> None:
    z2 = get_board("pynq-z2")
    assert z2.multipliers[0].count == 220 and (z2.multipliers[0].a, z2.multipliers[0].b) == (25, 18)
    assert z2.onchip_bytes == 140 * 36 * 1024 // 8
    assert get_board("ulx3s 85f").multipliers[0].count == 156
    # 2.1 GB/s at 100 MHz = 21 bytes per cycle
    assert z2.dram_bytes_per_cycle(100.0) == pytest.approx(21.0)


#: The AXI width of hwcnn_soc on each board, from the documents boards.yaml cites: Zynq-7000
#: S_AXI_HP ports are 32/64-bit (UG585, DS940); Zynq UltraScale+ S_AXI_HP0..3_FPD 32/64/128-bit
#: (UG1085); the Cyclone V FPGA-to-HPS SDRAM interface up to 256 bits (Intel 683126); MIG
#: 7-series DDR3 x16 at 4:1: 2 x 4 x 16 = 128 (UG586); UltraScale DDR4 x64 at 4:1: 8 x 64 =
#: 512, capped at 256 (PG150); LiteDRAM's 1:2 ECP5 DDR3 x16 PHY: 2 x 2 x 16 = 64; SDR SDRAM
#: x16, SPI flash and PSRAM: below 64, so the narrowest bus, 64.
AXI_BITS = {"pynq-z2": 64, "pynq-z1": 64, "zybo-z7-20": 64, "zcu104": 128, "ultra96-v2": 128,
            "kv260": 128, "de10-nano": 256, "arty-a7-35t": 128, "arty-a7-100t": 128,
            "alveo-u250": 256, "orangecrab-25f": 64, "ulx3s-85f": 64, "icebreaker": 64,
            "tang-nano-9k": 64}


def test_axi_bits_are_the_cited_port_widths() -> None:
    profiles = [*all_boards(), *(b for b, _ in unsupported_boards())]
    assert {b.id: b.axi_width for b in profiles} == AXI_BITS
    for b in profiles:
        assert b.axi_bits.value == b.axi_width and isinstance(b.axi_width, int)
    assert "S_AXI_HP" in get_board("pynq-z2").axi_bits.source
    assert "UG585" in get_board("pynq-z2").axi_bits.source
    assert "S_AXI_HP0..3_FPD" in get_board("kv260").axi_bits.source
    assert "UG1085" in get_board("kv260").axi_bits.source


def _raw(board_id: str) -> dict:
    from hwcnn.boards.profiles import _board_data

    return copy.deepcopy(next(b for b in _board_data()["boards"] if b["id"] == board_id))


@pytest.mark.parametrize("value, shown", [(96, "96"), (32, "32"), (512, "512"), ("128", "'128'"),
                                          (128.0, "128.0")])
def test_an_unsupported_axi_width_is_refused(value: object, shown: str) -> None:
    from hwcnn.boards.profiles import _parse_board

    raw = _raw("kv260")
    raw["axi_bits"] = {"value": value, "source": "UG1085"}
    with pytest.raises(ConfigError) as exc:
        _parse_board(raw)
    assert str(exc.value) == ("boards.yaml: board 'kv260': axi_bits must be 64, 128 or 256 (the "
                              f"AXI data widths of hwcnn_soc), not {shown}")


def test_a_missing_axi_width_is_refused() -> None:
    from hwcnn.boards.profiles import _parse_board

    raw = _raw("pynq-z2")
    del raw["axi_bits"]
    with pytest.raises(ConfigError) as exc:
        _parse_board(raw)
    assert str(exc.value) == "boards.yaml: board 'pynq-z2': axi_bits must be {value, source}"
    raw["axi_bits"] = {"value": 64}
    with pytest.raises(ConfigError, match=r"^boards\.yaml: board 'pynq-z2': axi_bits must be "
                                          r"\{value, source\}$"):
        _parse_board(raw)
    _parse_board(_raw("pynq-z2"))      # the shipped entry parses


def test_the_axi_width_a_run_assumes() -> None:
    from hwcnn.boards.profiles import axi_width_of

    assert axi_width_of(get_board("kv260")) == 128
    assert axi_width_of(get_board("kv260"), 64) == 64      # an explicit width wins
    assert axi_width_of(get_board("pynq-z2")) == 64
    assert axi_width_of(None) == 64 and axi_width_of(None, 256) == 256


@pytest.mark.parametrize("text", ["PYNQ-Z2", "pynq_z2", "Pynq Z2", "pynqz2", " pynq-z2"])
def test_ids_are_forgiving(text: str) -> None:
    assert get_board(text).id == "pynq-z2"
    assert normalize_id(text) == "pynqz2"


def test_unknown_board() -> None:
    with pytest.raises(ConfigError, match=r"unknown board 'pynq-z9'; known boards: pynq-z2, "):
        get_board("pynq-z9")


def test_operand_chunks() -> None:
    # signed w-bit operand on a signed p-bit port: 1 chunk if w <= p, else a signed top chunk
    # of p bits and unsigned low chunks of p-1 bits.
    assert [operand_chunks(w, 18) for w in (8, 18, 19, 35, 36)] == [1, 1, 2, 2, 3]
    assert operand_chunks(16, 9) == 2 and operand_chunks(17, 9) == 2 and operand_chunks(18, 9) == 3


def test_dsp_plan_and_mode_choice() -> None:
    a8 = ArrayConfig(rows=4, cols=4)
    de10 = get_board("de10-nano")
    # Cyclone V (signed ports, every chunk pair counted): 27x27 (112): 16 PEs + 4 requant
    # lanes x (32 -> 26 + 6)^2 + 4 vector lanes (17 x 18 signed) + the tap address (19 x 17)
    # + the store unit's 21 x 17 and 17 x 21 + the load unit's rows x 35 parameter bytes
    # (21 x 7) = 16 + 16 + 4 + 1 + 2 + 1 = 40 (0.36 of 112); 18x19 (224): requant 4 chunk
    # pairs, store 21 -> 18 + 3: 2 + 2, load 2: 16 + 16 + 4 + 1 + 4 + 2 = 43 (0.19 of 224)
    # leaves more headroom.
    plan = de10.dsp_plan(a8)
    assert plan.mode.type == "cyclonev_dsp_18x19" and plan.needed == 43 and plan.per_pe == 1
    assert dict(plan.parts) == {"pe": 16, "requant": 16, "vector": 4, "pool": 1, "store": 4,
                                "load": 2}
    # 8x26-bit on DSP48E1 (25x18, signed ports): 26 on the 18-bit port is 2 chunks; 8 on 25.
    z2 = get_board("pynq-z2")
    wide = ArrayConfig(rows=1, cols=1, act_bits=8, weight_bits=26, acc_bits=40)
    assert z2.dsp_plan(wide).per_pe == 2
    # requant 40 x 32 bits on 25x18 signed: 40 -> 24 + 16, 32 -> 17 + 15: 4; tap address 1;
    # the vector lane's 16 x 17-bit unsigned product as 17 x 18 signed: 1; the SoC: store 2,
    # load (param 1 lane x 77 bits = 10 bytes) 1; the engine alone has neither.
    assert z2.dsp_plan(wide).needed == 2 + 4 + 1 + 1 + 2 + 1
    assert z2.dsp_plan(wide, top="engine").needed == 2 + 4 + 1 + 1


def test_fit_checks() -> None:
    z2 = get_board("pynq-z2")
    ok = HardwareConfig(array=ArrayConfig(rows=8, cols=8))
    z2.check_fit(ok)
    # 16x16: 256 PEs + 16 requant lanes x 4 + 1 pool address + 16 vector lanes x 1 + the
    # store unit's 2 + the load unit's rows x 138 parameter bytes 1 = 340
    with pytest.raises(ConfigError, match=r"^array 16x16 needs 340 DSP48E1 multipliers \(1 per PE "
                       r"for 8x8-bit operands, 84 for the requantizers, the vector unit and the "
                       r"SoC's load and store units\) but pynq-z2 has 220; largest square array "
                       r"that fits: 8x8$"):
        z2.check_fit(HardwareConfig(array=ArrayConfig(rows=16, cols=16)))
    # 8x8, act 512 KiB = 65,536 words of 64 bits -> 128 RAMB36 (512 x 72); weight and out
    # 64 KiB = 8,192 words -> 16 each; parameters 512 x 552 bits -> 8 (512 x 72); accumulator
    # 2,048 x 256 bits -> 29 RAMB18 in 2K x 9 = 14.5 (512 x 72 would take 16); the out
    # memory twice (its second read port, the store unit's): 198.5 > 140.
    big = HardwareConfig(array=ArrayConfig(rows=8, cols=8),
                         memory=MemoryConfig(act_kib=512, weight_kib=64, out_kib=64))
    with pytest.raises(ConfigError, match=r"^buffers 512\+64\+64 KiB, 512 parameter and 2048 "
                       r"accumulator words need 198\.5 RAMB36E1 blocks \(of 140\) on pynq-z2$"):
        z2.check_fit(big)


def test_defaults_fit_their_board() -> None:
    # Every board's default configuration (largest square array, default memories) fits by
    # the corrected count, and the next larger square does not.
    for b in all_boards():
        side = b.max_square_array(8, 8)
        arr = ArrayConfig(rows=side, cols=side)
        hw = HardwareConfig(array=arr, memory=b.default_memory(arr, 10.0))
        b.check_fit(hw)
        with pytest.raises(ConfigError):
            b.check_fit(HardwareConfig(array=ArrayConfig(rows=2 * side, cols=2 * side),
                                       memory=hw.memory))


def test_issue_examples_no_longer_fit() -> None:
    # The old defaults the issue lists: Arty A7-35T 8x8 needs 64 + 8 x 4 requant + 8 vector
    # lanes + 1 tap address + 2 store + 1 load (35 parameter bytes) = 108 of 90 DSP48E1;
    # OrangeCrab 4x4 16 + 16 + 4 + 1 + 4 store (21 -> 18 + 3, 20 -> 18 + 2) + 2 load (rows
    # 20 -> 18 + 2 bits) = 43 of 28 MULT18X18D.
    for bid, side, need in (("arty-a7-35t", 8, 108), ("orangecrab-25f", 4, 43)):
        brd = board_profile(bid)
        plan = brd.dsp_plan(ArrayConfig(rows=side, cols=side))
        assert plan.needed == need and not plan.fits, bid


def test_unsupported_boards_are_refused_with_the_reason() -> None:
    # Not even a 1x1 hwcnn_soc fits them (iCE40UP5K: 12 SB_MAC16 of 8 and ~23,000 SB_LUT4 of
    # 5,280 measured); looking one up says so, and the model agrees.
    for b, reason in unsupported_boards():
        with pytest.raises(ConfigError, match=rf"^board {b.id} cannot hold the complete "
                           rf"accelerator \(hwcnn_soc\): "):
            get_board(b.id)
        assert reason.strip()
        with pytest.raises(ConfigError, match="not even a 1x1 array"):
            b.max_square_array(8, 8)


#: What makes a source checkable by a reader: a URL, a vendor document number, a named vendor
#: document, a measurement naming the tool and its version, or an explicit planning value.
_CHECKABLE = re.compile(
    r"https?://\S+|\b(?:DS|UG|PG|WP|TN)\d{3,4}\b|FPGA-(?:DS|TN)-\d+|FINN platforms\.py"
    r"|reference manual|device overview|data ?sheet|product (?:brief|page)|DE10-Nano manual"
    r"|^measured: \S+ \d+\.\d+|^planning value|\bderived\b|no UltraRAM|no large RAM|LUT RAM"
    r"|off-chip memory", re.IGNORECASE)


def _sources() -> list[tuple[str, str, str]]:
    out = []
    for b in all_boards():
        for key in ("luts", "bram_kbits", "extra_ram_kbits", "dram_gbps", "clock_mhz",
                    "axi_bits"):
            out.append((b.id, key, getattr(b, key).source))
        out += [(b.id, m.type, m.source) for m in b.multipliers]
    return out


def test_sources_are_primary_and_checkable() -> None:
    """No source cites a document that is not in the repository (boards.yaml used to cite a
    HARDWARE.md that only the developers had); each names something a reader can check."""
    root = Path(__file__).resolve().parent.parent
    for board, key, source in _sources():
        for doc in re.findall(r"\b[\w./-]+\.md\b", source):
            assert (root / doc).exists(), f"{board} {key}: cites {doc}, not in the repository"
        assert _CHECKABLE.search(source), f"{board} {key}: source {source!r} names nothing checkable"


def test_checkable_pattern_rejects_a_bare_claim() -> None:
    assert not _CHECKABLE.search("HARDWARE.md section 3")
    assert not _CHECKABLE.search("lower end of the 100-200 MHz range")
