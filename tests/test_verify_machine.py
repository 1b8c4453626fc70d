"""``hwcnn verify --engine program|rtl``: the compiled program from DRAM (fast tier: the
interpreter, the refusals; the RTL runs are in tests/test_soc_cocotb.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from hwcnn.cli.commands import verify_machine
from hwcnn.compiler import backend
from tests.cli_run import run_cli

MODELS = Path(__file__).resolve().parents[1] / "models"
TINY = str(MODELS / "tiny_cnn.yaml")


@pytest.mark.parametrize("df", ["ws", "os"])
def test_program_engine_matches(df: str, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["verify", TINY, "--array", "4x4", "--dataflow", df, "--engine", "program"],
                capsys)
    assert r.code == 0, (r.err, r.crash)
    lines = r.out.splitlines()
    assert lines[0] == f"tiny_cnn on 4x4 {df}, engine program, seed 0"
    assert re.fullmatch(r"\d+ instructions, \d+ bytes of DRAM image \(functional interpreter: "
                        r"no cycles\)", lines[1])
    rows = {ln.split()[0]: ln.split() for ln in lines[3:-1]}
    assert set(rows) == {"input", "conv1", "pool1", "conv2", "fc"}
    assert all(rows[ly][-1] == "yes" for ly in ("input", "pool1", "conv2", "fc"))
    assert lines[4] == ("conv1  array       1  not in DRAM (pooled by pool1 in the output "
                        "buffer; not compared)")
    assert lines[-1] == "all stored layers match (1 pooled on chip, not compared)"
    r = run_cli(["verify", TINY, "--array", "4x4", "--dataflow", df, "--engine", "program",
                 "--no-fuse-pool"], capsys)
    assert r.code == 0, (r.err, r.crash)
    rows = {ln.split()[0]: ln.split() for ln in r.out.splitlines()[3:-1]}
    assert set(rows) == {"input", "conv1", "pool1", "conv2", "fc"}
    assert all(row[-1] == "yes" for row in rows.values())
    assert r.out.splitlines()[-1] == "all layers match"


def test_program_engine_catches_a_corrupted_weight(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Negative control: one weight byte flipped in the DRAM image -> conv1 differs (seen in
    pool1: conv1 is pooled in the output buffer; with --no-fuse-pool in conv1 itself)."""
    real = backend.compile_network

    def corrupt(prog, qnet, **kw):  # type: ignore[no-untyped-def]
        comp = real(prog, qnet, **kw)
        img = bytearray(comp.image)
        img[comp.region("weights").offset + 2] ^= 0x40
        return backend.replace_input(type(comp)(**{f: getattr(comp, f) for f in comp.__slots__
                                                   if f != "image"}, image=bytes(img)),
                                     qnet, kw["x"])

    monkeypatch.setattr(backend, "compile_network", corrupt)
    for extra, layer in (((), "pool1"), (("--no-fuse-pool",), "conv1")):
        r = run_cli(["verify", TINY, "--array", "4x4", "--engine", "program", *extra], capsys)
        assert r.code == 1, (r.err, r.crash)
        assert re.fullmatch(rf"mismatch: layer '{layer}' no tile at \[\d+, \d+, \d+\]: "
                            r"expected -?\d+, got -?\d+\n", r.err), r.err
        assert "layers match" not in r.out


def test_rtl_engine_refuses_a_large_program(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["verify", TINY, "--array", "4x4", "--engine", "rtl", "--max-cycles", "1000"],
                capsys)
    assert r.code == 2 and r.crash is None and r.out == ""
    assert re.fullmatch(
        rf"hwcnn: error: {re.escape(TINY)}: the RTL simulation may take up to \d{{1,3}}(,\d{{3}})* "
        r"cycles \(rtlsim work bound of 26 instructions\), more than --max-cycles 1,000; use "
        r"--engine program, or a smaller model or larger array\n", r.err), r.err


@pytest.mark.parametrize("missing, message", [
    ("cocotbext.axi", "--engine rtl needs cocotbext-axi (pip install cocotbext-axi)"),
    ("hwcnn.hw.soc.top", ("--engine rtl needs the complete accelerator (hwcnn.hw.soc.top), "
                         "which this installation does not have"))])
def test_rtl_engine_refuses_without_its_parts(missing: str, message: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(verify_machine.importlib.util, "find_spec",
                        lambda name, *a: None if name == missing else real(name, *a))
    r = run_cli(["verify", TINY, "--array", "4x4", "--engine", "rtl"], capsys)
    assert r.code == 2 and r.crash is None and r.out == ""
    assert r.err == f"hwcnn: error: {message}\n"


def test_rtl_dram_timing_from_the_board_or_the_configuration() -> None:
    from fractions import Fraction

    from hwcnn.boards import get_board
    from hwcnn.cli.options import hardware_from_options

    hw, brd = hardware_from_options(board="arty-a7-35t")
    t = verify_machine.dram_timing(hw, brd)
    assert t.latency == 16
    assert t.bytes_per_cycle == Fraction(str(get_board("arty-a7-35t").dram_gbps.value)) * 1000 \
        / Fraction(str(hw.clock_mhz))
    hw, _ = hardware_from_options(array="4x4")
    assert verify_machine.dram_timing(hw, None).bytes_per_cycle == 16


@pytest.mark.parametrize("args, width", [
    (["--board", "arty-a7-100t", "--array", "4x4"], 128),   # boards.yaml axi_bits
    (["--board", "arty-a7-100t", "--array", "4x4", "--bus-bits", "64"], 64),   # explicit wins
    (["--array", "4x4"], 64),                              # no board: the RTL's default
    (["--array", "4x4", "--bus-bits", "256"], 256)])
def test_rtl_engine_takes_the_board_s_axi_width(args: list[str], width: int,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    seen = []

    def fake_rtl(model, header, b, hw, board, x, *, bus_bits, **kw):  # type: ignore[no-untyped-def]
        seen.append(bus_bits)      # and no mismatch (None)

    monkeypatch.setattr(verify_machine, "run_rtl", fake_rtl)
    r = run_cli(["verify", TINY, *args, "--engine", "rtl"], capsys)
    assert r.code == 0, (r.err, r.crash)
    assert seen == [width]
