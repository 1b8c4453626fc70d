"""``hwcnn compile`` and ``hwcnn disasm``: the files, their reproducibility, running them, and
the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwcnn.compiler.mapjson import load_target
from hwcnn.isa import INSN_BYTES, from_bytes
from hwcnn.machine.program_exec import run_program
from tests.cli_run import run_cli

TINY = str(Path(__file__).resolve().parents[1] / "models" / "tiny_cnn.yaml")


def _compile(tmp: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    out = tmp / "prog"
    r = run_cli(["compile", TINY, "--array", "4x4", "--dataflow", "os", *extra, "-o", str(out)],
                capsys)
    assert r.code == 0, (r.err, r.crash)
    return out


def test_compile_writes_reproducible_files_without_paths(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = _compile(tmp_path / "a", capsys), _compile(tmp_path / "b", capsys)
    for name in ("program.bin", "dram.bin", "memory_map.json"):
        da, db = (a / name).read_bytes(), (b / name).read_bytes()
        assert da == db and da, name
        assert str(tmp_path).encode() not in da
    doc = json.loads((a / "memory_map.json").read_text())
    prog = (a / "program.bin").read_bytes()
    assert doc["instructions"] * INSN_BYTES == len(prog) == doc["regions"][0]["size"]
    assert (a / "dram.bin").read_bytes()[:len(prog)] == prog       # the image starts with it
    assert doc["registers"] == {"insn_base": 0, "insn_count": doc["instructions"]}
    assert doc["tensors"]["fc"]["shape"] == [10] and doc["tensors"]["pool1"]["layout"] == "HWC"
    # conv1 is pooled in the output buffer: no DRAM tensor (--no-fuse-pool stores it)
    assert doc["tensors"]["conv1"] == {"tensor": None, "on_chip": "pool1", "shape": [4, 8, 8],
                                       "bits": 8, "scale": doc["tensors"]["conv1"]["scale"]}
    assert "tensor:conv1" not in [r["name"] for r in doc["regions"]]


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "no-fuse-pool"])
def test_compiled_files_run_to_the_golden_outputs(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 fuse: bool) -> None:
    x = (np.arange(64, dtype=np.int8).reshape(1, 8, 8) * 3 - 90).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    out = _compile(tmp_path, capsys, "--input", str(tmp_path / "x.npy"),
                   *(() if fuse else ("--no-fuse-pool",)))
    doc = json.loads((out / "memory_map.json").read_text())
    image = (out / "dram.bin").read_bytes()
    inp = doc["tensors"]["input"]
    # one channel: HWC is the image's raster order, one byte per element
    assert image[inp["offset"]:inp["offset"] + 64] == x.tobytes()
    r = run_cli(["run", TINY, "--input", str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "gold.npz")], capsys)
    assert r.code == 0, (r.err, r.crash)
    gold = np.load(tmp_path / "gold.npz")
    dram = run_program(from_bytes((out / "program.bin").read_bytes()), load_target(doc), image,
                       doc["dram"]["total_bytes"])
    assert (doc["tensors"]["conv1"]["tensor"] is None) is fuse
    for layer in ("pool1", "conv2", "fc") if fuse else ("conv1", "pool1", "conv2", "fc"):
        t = doc["tensors"][layer]
        c, p = t["channels"], t["pixels"]
        idx = t["offset"] + (np.arange(p)[:, None] * t["pixel_stride"] + np.arange(c)[None])
        got = dram[idx].astype(np.int8).T.reshape(t["shape"])
        exp = gold[layer].reshape(t["shape"])
        assert np.array_equal(got, exp), layer
    assert len(np.unique(gold["fc"])) > 1


def test_compile_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p"
    r = run_cli(["compile", TINY, "--array", "4x4", "--dram-bytes", "2048", "-o", str(out)],
                capsys)
    assert r.code == 2 and r.crash is None
    # 2506 bytes unfused; conv1 pooled in the output buffer drops its 8x8x4 = 256-byte tensor
    # and 4 instructions (its STORE, pool1's LOAD into OUT, 2 barrier NOPs: 128 bytes), and
    # the 64-byte region alignment another 64
    assert r.err == ("hwcnn: error: the memory map needs 2058 bytes, more than the DRAM "
                     "window of 2048 bytes (--dram-bytes)\n")
    r = run_cli(["compile", TINY, "--array", "4x4", "--dram-bytes", "2048", "--no-fuse-pool",
                 "-o", str(out)], capsys)
    assert r.code == 2 and r.err == ("hwcnn: error: the memory map needs 2506 bytes, more than "
                                     "the DRAM window of 2048 bytes (--dram-bytes)\n")
    assert not out.exists()
    r = run_cli(["compile", TINY, "--dram-bytes", "lots", "-o", str(out)], capsys)
    assert r.code == 2 and r.err == ("hwcnn: error: --dram-bytes must be a size such as 4GiB, "
                                     "512M or 2000000000, not 'lots'\n")
    r = run_cli(["compile", TINY, "-o", "-"], capsys)
    assert r.code == 2 and r.err == "hwcnn: error: -o: compile writes three files, give a directory\n"


def test_disasm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _compile(tmp_path, capsys)
    r = run_cli(["disasm", str(out)], capsys)
    assert r.code == 0, (r.err, r.crash)
    lines = r.out.splitlines()
    prog = (out / "program.bin").read_bytes()
    assert len(lines) == len(prog) // INSN_BYTES
    assert lines[0].startswith("     0  L  LOAD2D sram_base=0 ") and lines[0].endswith("; pop g2l")
    assert lines[-1] == f"{len(lines) - 1:6d}  G  END"
    bad = tmp_path / "bad.bin"
    bad.write_bytes(prog[:-1])
    r = run_cli(["disasm", str(bad)], capsys)
    assert r.code == 2 and r.err == (f"hwcnn: error: {bad}: truncated: {len(prog) - 1} bytes is "
                                     "not a whole number of 32-byte instructions\n")
    bad.write_bytes(prog[:32] + bytes([7]) + bytes(31))
    r = run_cli(["disasm", str(bad)], capsys)
    assert r.code == 2 and r.err == f"hwcnn: error: {bad}: instruction 1: illegal opcode 7\n"
    r = run_cli(["disasm", str(tmp_path / "none.bin")], capsys)
    assert r.code == 2 and r.err == (f"hwcnn: error: {tmp_path / 'none.bin'}: No such file or "
                                     "directory\n")


def test_rtl_readme_tables_and_worked_example_are_current(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    import re

    from hwcnn.isa.doc import field_tables

    text = (Path(__file__).resolve().parents[1] / "rtl" / "README.md").read_text()
    block = re.search(r"<!-- isa-tables:begin -->\n(.*?)<!-- isa-tables:end -->", text, re.DOTALL)
    assert block and block.group(1) == field_tables()
    out = tmp_path / "tiny"
    r = run_cli(["compile", TINY, "--array", "4x4", "-o", str(out)], capsys)
    assert r.code == 0, (r.err, r.crash)
    r = run_cli(["disasm", str(out)], capsys)
    ex = re.search(r"<!-- tiny-disasm:begin -->\n```text\n(.*?)```\n<!-- tiny-disasm:end -->",
                   text, re.DOTALL)
    assert ex and ex.group(1) == r.out, "regenerate rtl/README.md 9.6 with the command above it"


def test_two_drain_rows_are_in_the_memory_map(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--drain-rows 2 is part of the target the program was compiled for (its GEMM timing);
    one drain row writes no field, so the files of existing designs keep their bytes."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = _compile(tmp_path / "one", capsys)
    two = _compile(tmp_path / "two", capsys, "--drain-rows", "2")
    d1 = json.loads((one / "memory_map.json").read_text())
    d2 = json.loads((two / "memory_map.json").read_text())
    assert "drain_rows" not in d1["array"] and d2["array"]["drain_rows"] == 2
    assert load_target(d1).array.drain_rows == 1 and load_target(d2).array.drain_rows == 2
    assert (one / "program.bin").read_bytes() == (two / "program.bin").read_bytes()
