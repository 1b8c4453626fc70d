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
    plan = tang.dsp_plan(a8)                      # int8 fits MULT9X9: 40 of them
    assert plan.mode.type == "MULT9X9" and plan.needed == 16 and plan.per_pe == 1
    a16 = ArrayConfig(rows=2, cols=2, act_bits=16, weight_bits=16, acc_bits=40)
    plan16 = tang.dsp_plan(a16)                   # 16-bit: MULT18X18 (1 each) beats 4 MULT9X9
    assert plan16.mode.type == "MULT18X18" and plan16.needed == 4
    # 8x26-bit on DSP48E1 (25x18): swap so 26 bits meet the 25-bit port? 26 > 25 -> chunks
    z2 = get_board("pynq-z2")
    wide = ArrayConfig(rows=1, cols=1, act_bits=8, weight_bits=26, acc_bits=40)
    assert z2.dsp_plan(wide).per_pe == 2          # 26 on the 18-bit port: 2 chunks; 8 on 25


def test_fit_checks() -> None:
    z2 = get_board("pynq-z2")
    ok = HardwareConfig(array=ArrayConfig(rows=8, cols=8))
    z2.check_fit(ok)
    with pytest.raises(ConfigError, match=r"^array 16x16 needs 256 DSP48E1 multipliers \(1 per PE "
                       r"for 8x8-bit operands\) but pynq-z2 has 220; largest square array that "
                       r"fits: 8x8$"):
        z2.check_fit(HardwareConfig(array=ArrayConfig(rows=16, cols=16)))
    big = HardwareConfig(array=ArrayConfig(rows=8, cols=8),
                         memory=MemoryConfig(act_kib=512, weight_kib=64, out_kib=64))
    with pytest.raises(ConfigError, match=r"buffers 512\+64\+64 KiB = 640 KiB exceed the 630 KiB"):
        z2.check_fit(big)


def test_defaults_fit_their_board() -> None:
    for b in all_boards():
        side = b.max_square_array(8, 8)
        act, wgt, out = b.default_buffer_kib()
        hw = HardwareConfig(array=ArrayConfig(rows=side, cols=side),
                            memory=MemoryConfig(act_kib=act, weight_kib=wgt, out_kib=out))
        b.check_fit(hw)
        with pytest.raises(ConfigError):
            b.check_fit(HardwareConfig(array=ArrayConfig(rows=2 * side, cols=2 * side)))


#: What makes a source checkable by a reader: a URL, a vendor document number, a named vendor
#: document, a measurement naming the tool and its version, or an explicit planning value.
_CHECKABLE = re.compile(
    r"https?://\S+|\b(?:DS|UG|PG|WP)\d{3,4}\b|FPGA-DS-\d+|FINN platforms\.py"
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
