"""Board profiles: data completeness, id lookup, DSP accounting and fit checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hwcnn.arch.config import ArrayConfig, HardwareConfig, MemoryConfig
from hwcnn.boards.profiles import all_boards, get_board, normalize_id, operand_chunks
from hwcnn.errors import ConfigError

REQUIRED = {"pynq-z2", "arty-a7-100t", "zcu104", "ultra96-v2", "kv260", "icebreaker",
            "ulx3s-85f", "de10-nano", "tang-nano-9k", "alveo-u250"}


def test_at_least_ten_real_boards_with_sources() -> None:
    boards = all_boards()
    assert len(boards) >= 10
    assert REQUIRED <= {b.id for b in boards}
    for b in boards:
        for v in (b.luts, b.bram_kbits, b.extra_ram_kbits, b.dram_gbps, b.clock_mhz):
            assert v.source.strip() and v.value >= 0
        for m in b.multipliers:
            assert m.source.strip() and m.count > 0


def test_known_values() -> None:
    z2 = get_board("pynq-z2")
    assert z2.multipliers[0].count == 220 and (z2.multipliers[0].a, z2.multipliers[0].b) == (25, 18)
    assert z2.onchip_bytes == 140 * 36 * 1024 // 8
    assert get_board("ice breaker").multipliers[0].count == 8
    # 2.1 GB/s at 100 MHz = 21 bytes per cycle
    assert z2.dram_bytes_per_cycle(100.0) == pytest.approx(21.0)


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
    tang = get_board("tang-nano-9k")
    # MULT9X9 (40, unsigned ports): 16 PEs + 4 lanes x (32/9 -> 4 chunks)^2 + pool address
    # (19 bits -> 3 chunks x 17 bits -> 2) + 4 vector lanes x (16/9 -> 2) x (17/9 -> 2)
    # = 16 + 64 + 6 + 16 = 102 (2.55 of 40); MULT18X18 (20): 16 + 4 x 2 x 2 + 2 x 1 + 4 x 1
    # = 38 (1.9 of 20) leaves more headroom.
    plan = tang.dsp_plan(a8)
    assert plan.mode.type == "MULT18X18" and plan.needed == 38 and plan.per_pe == 1
    # 8x26-bit on DSP48E1 (25x18, signed ports): 26 on the 18-bit port is 2 chunks; 8 on 25.
    z2 = get_board("pynq-z2")
    wide = ArrayConfig(rows=1, cols=1, act_bits=8, weight_bits=26, acc_bits=40)
    assert z2.dsp_plan(wide).per_pe == 2
    # requant 40 x 32 bits on 25x18 signed: (1 + ceil(15/24)) * (1 + ceil(14/17)) = 4; pool 1;
    # the vector lane's 16 x 17-bit unsigned product as 17 x 18 signed: 1
    assert z2.dsp_plan(wide).needed == 2 + 4 + 1 + 1


def test_fit_checks() -> None:
    z2 = get_board("pynq-z2")
    ok = HardwareConfig(array=ArrayConfig(rows=8, cols=8))
    z2.check_fit(ok)
    # 16x16: 256 PEs + 16 requant lanes x 4 + 1 pool address + 16 vector lanes x 1 = 337
    with pytest.raises(ConfigError, match=r"^array 16x16 needs 337 DSP48E1 multipliers \(1 per PE "
                       r"for 8x8-bit operands, 81 for the requantizers and the vector unit\) but "
                       r"pynq-z2 has 220; largest square array that fits: 8x8$"):
        z2.check_fit(HardwareConfig(array=ArrayConfig(rows=16, cols=16)))
    # 8x8, act 512 KiB = 65,536 words of 64 bits -> 128 RAMB36 (512 x 72); weight and out
    # 64 KiB = 8,192 words -> 16 each; parameters 512 x 552 bits -> 8 (512 x 72); accumulator
    # 2,048 x 256 bits -> 29 RAMB18 in 2K x 9 = 14.5 (512 x 72 would take 16) = 182.5 > 140.
    big = HardwareConfig(array=ArrayConfig(rows=8, cols=8),
                         memory=MemoryConfig(act_kib=512, weight_kib=64, out_kib=64))
    with pytest.raises(ConfigError, match=r"^buffers 512\+64\+64 KiB, 512 parameter and 2048 "
                       r"accumulator words need 182\.5 RAMB36E1 blocks \(of 140\) on pynq-z2$"):
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
    # The old defaults the issue lists: Arty A7-35T 8x8 needs 97 of 90 DSPs, OrangeCrab 4x4
    # 34 of 28 MULT18X18D (2 for the pool address), iCEBreaker 2x2 13 of 8 SB_MAC16; the
    # vector unit's reciprocal products add C (1 per lane) on DSP48E1 / MULT18X18D and 2C on
    # SB_MAC16 (16 x 16 ports): 97 + 8, 34 + 4, 13 + 4.
    for bid, side, need in (("arty-a7-35t", 8, 105), ("orangecrab-25f", 4, 38),
                            ("icebreaker", 2, 17)):
        plan = get_board(bid).dsp_plan(ArrayConfig(rows=side, cols=side))
        assert plan.needed == need and not plan.fits, bid


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
        for key in ("luts", "bram_kbits", "extra_ram_kbits", "dram_gbps", "clock_mhz"):
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
