"""CLI behaviour around files: unreadable specs, output paths, unknown ``--layer`` names.

The product rule: user errors end with exit status 2 and exactly one ``hwcnn: error:`` line on
stderr, no traceback and no (partial) output file. ``-o`` into a directory that does not exist is
an error: no directory is created (tests/test_fileio.py covers the kinds of output path).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from .cli_run import Run, run_cli

PREFIX = "hwcnn: error: "
SPEC = ("name: small\ninput: [1, 8, 8]\nlayers:\n"
        "  - {name: conv1, kind: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}\n"
        "  - {name: pool1, kind: maxpool, kernel: 2}\n"
        "  - {name: fc, kind: dense, units: 10}\n")




def one_error_line(run: Run) -> str:
    """Assert a clean user error and return its single line."""
    assert run.crash is None, f"hwcnn crashed instead of reporting an error:\n{run.crash}"
    assert "Traceback" not in run.out + run.err
    assert run.code == 2, f"exit status {run.code!r}, expected 2; stderr={run.err!r}"
    lines = run.err.splitlines()
    assert len(lines) == 1, f"stderr must be one line, got {run.err!r}"
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0]


def ok(run: Run) -> None:
    assert run.crash is None, run.crash
    assert run.code in (0, None), f"exit {run.code!r}: {run.err!r}"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


# -- unreadable spec files -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "explain", "graph"])
def test_missing_file(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope" / "missing.yaml"
    line = one_error_line(run_cli([command, str(missing)], capsys))
    assert str(missing) in line
    assert "cannot read" in line and "No such file" in line


@pytest.mark.parametrize("command", ["report", "explain", "graph"])
def test_directory_given_as_spec(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(run_cli([command, str(tmp_path)], capsys))
    assert str(tmp_path) in line
    assert "directory" in line.lower()


@pytest.mark.parametrize("data", [b"name: t\ninput: [1, 8, 8]\nlayers: [{kind: relu}]\n# caf\xe9\n",
                                  b"\xff\xfe\x00n\x00a\x00m\x00e\x00", b"\x80" * 16],
                         ids=["latin1", "utf16", "binary"])
def test_non_utf8_spec(data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(data)
    out = tmp_path / "r.json"
    line = one_error_line(run_cli(["report", str(path), "-f", "json", "-o", str(out)], capsys))
    assert str(path) in line and "UTF-8" in line
    assert not out.exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec.chmod(0)
    try:
        line = one_error_line(run_cli(["report", str(spec)], capsys))
    finally:
        spec.chmod(0o644)
    assert str(spec) in line and "cannot read" in line


def test_bom_and_crlf_are_ordinary_text(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Windows editors write a BOM and CRLF line ends; the report must not change."""
    plain = run_cli(["report", str(spec), "-f", "json"], capsys)
    ok(plain)
    windows = tmp_path / "windows.yaml"
    windows.write_bytes(b"\xef\xbb\xbf" + SPEC.replace("\n", "\r\n").encode("utf-8"))
    run = run_cli(["report", str(windows), "-f", "json"], capsys)
    ok(run)
    assert run.out == plain.out


# -- output paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "extra"), [("report", ["-f", "json"]), ("explain", []),
                                                ("graph", ["-f", "dot"])])
def test_output_into_missing_directory_is_refused(command: str, extra: list[str], spec: Path,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped directory must not silently become a new directory tree."""
    target = tmp_path / "new" / "deeper" / "out.txt"
    line = one_error_line(run_cli([command, str(spec), *extra, "-o", str(target)], capsys))
    assert line == f"{PREFIX}{target}: directory {target.parent} does not exist"
    assert not (tmp_path / "new").exists()


def test_report_json_written_to_file_is_the_network(spec: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Independent numbers for the small spec: conv 1->4 3x3 'same' + pool 2 + dense 64->10."""
    out = tmp_path / "r.json"
    ok(run_cli(["report", str(spec), "-f", "json", "-o", str(out)], capsys))
    doc = json.loads(out.read_text(encoding="utf-8"))
    rows = {r["name"]: r for r in doc["layers"]}
    assert rows["conv1"]["output_shape"] == [4, 8, 8]
    assert rows["conv1"]["params"] == 4 * (3 * 3 * 1 + 1)
    assert rows["pool1"]["output_shape"] == [4, 4, 4]
    assert rows["fc"]["params"] == 4 * 4 * 4 * 10 + 10


def test_output_parent_is_a_file(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file\n", encoding="utf-8")
    target = blocker / "out.json"
    line = one_error_line(run_cli(["report", str(spec), "-f", "json", "-o", str(target)], capsys))
    assert line == f"{PREFIX}{target}: a parent in the path is not a directory"
    assert blocker.read_text(encoding="utf-8") == "I am a file\n"


def test_output_is_a_directory(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused while the options are parsed (before any work); nothing may be written."""
    line = one_error_line(run_cli(["report", str(spec), "-o", str(tmp_path)], capsys))
    assert line == f"{PREFIX}{tmp_path}: is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_output_directory_not_writable(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        line = one_error_line(run_cli(["report", str(spec), "-o", str(locked / "r.txt")], capsys))
    finally:
        locked.chmod(0o755)
    assert "r.txt" in line


def test_output_write_refused(spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """The OS refusing the write (read-only mount, permissions; simulated because the tests may
    run as root) is a user-facing problem: one line naming the output, status 2, nothing left."""
    import hwcnn.fileio

    def refuse(fd: int, data: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(hwcnn.fileio, "_write_all", refuse)
    target = tmp_path / "r.json"
    line = one_error_line(run_cli(["report", str(spec), "-f", "json", "-o", str(target)], capsys))
    assert line == f"{PREFIX}{target}: cannot write: Permission denied"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


def test_failed_run_keeps_previous_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad spec must not truncate or replace an earlier report at the same path."""
    out = tmp_path / "r.json"
    out.write_text("previous\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ninput: [1, 4, 4]\nlayers:\n  - {name: c, kind: conv2d, filters: 2, kernel: 5}\n",
                   encoding="utf-8")
    one_error_line(run_cli(["report", str(bad), "-f", "json", "-o", str(out)], capsys))
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "r.json"]


# -- specs that expand to absurd sizes -------------------------------------------------------


class _TookTooLong(BaseException):  # not Exception: run_cli must not swallow it
    pass



@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_block_repeat_explosion_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nine lines that expand to 1024**3 layers (~2.5 ms each today: weeks of CPU) must be
    refused up front, like any other absurd size, instead of hanging the tool."""
    path = tmp_path / "bomb.yaml"
    path.write_text("name: bomb\ninput: [1, 8, 8]\nblocks:\n"
                    "  a: {layers: [{name: r, kind: relu}]}\n"
                    "  b: {layers: [{name: x, block: a, repeat: 1024}]}\n"
                    "  c: {layers: [{name: y, block: b, repeat: 1024}]}\n"
                    "layers:\n  - {name: u, block: c, repeat: 1024}\n", encoding="utf-8")

    def alarm(signum: int, frame: object) -> None:
        raise _TookTooLong

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(5)
    try:
        run = run_cli(["report", str(path), "-o", str(tmp_path / "r.txt")], capsys)
    except _TookTooLong:
        pytest.fail("hwcnn was still expanding the blocks after 5 s instead of refusing the spec")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    line = one_error_line(run)
    assert "layers" in line
    assert not (tmp_path / "r.txt").exists()


# -- explain --layer -------------------------------------------------------------------------


def test_explain_unknown_layer(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.txt"
    line = one_error_line(run_cli(["explain", str(spec), "--layer", "conv9", "-o", str(out)], capsys))
    assert str(spec) in line and "'conv9'" in line
    assert not out.exists()


def test_explain_known_layer_only_that_layer(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(["explain", str(spec), "--layer", "conv1"], capsys)
    ok(run)
    assert run.out.startswith("conv1 (conv2d)")
    assert "pool1" not in run.out and "fc (dense)" not in run.out
    assert "40" in run.out  # 4 * (3*3*1 + 1) parameters


# -- command-line usage mistakes: one line, status 2, pointing at --help ----------------------


@pytest.mark.parametrize(("args", "message"), [
    (["report"], "Missing argument 'MODEL'. (see 'hwcnn report --help')"),
    (["report", "{spec}", "-f", "xml"],
     ("Invalid value for '-f' / '--format': 'xml' is not one of 'table', 'csv', 'json', "
     "'markdown'. (see 'hwcnn report --help')")),
    (["nosuchcommand"], "No such command 'nosuchcommand'. (see 'hwcnn --help')"),
    (["graph", "{spec}", "--bogus"], "No such option '--bogus'. (see 'hwcnn graph --help')"),
    (["report", "{spec}", "--board"], ("Option '--board' requires an argument. "
                                      "(see 'hwcnn report --help')")),
    (["explain", "{spec}", "extra.yaml"], ("Got unexpected extra argument (extra.yaml) "
                                          "(see 'hwcnn explain --help')")),
    (["rtl", "--rows", "two", "--cols", "2", "-o", "-"],
     "Invalid value for '--rows': 'two' is not a valid integer. (see 'hwcnn rtl --help')"),
    (["--bogus"], "No such option '--bogus'. (see 'hwcnn --help')"),
], ids=["no-model", "bad-format", "unknown-command", "unknown-option", "missing-value",
        "extra-argument", "not-an-integer", "top-level-option"])
def test_usage_errors(args: list[str], message: str, spec: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(run_cli([a.replace("{spec}", str(spec)) for a in args], capsys))
    assert line == PREFIX + message


def test_usage_error_echo_is_cut_short(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 100,000-character value is not echoed back whole."""
    line = one_error_line(run_cli(["report", str(spec), "-f", "x" * 100_000], capsys))
    assert len(line) < 300
    assert line.endswith("... (see 'hwcnn report --help')")


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(["report", "--help"], capsys)
    assert run.code in (0, None) and run.err == ""
    assert run.out.startswith("Usage: hwcnn report [OPTIONS] MODEL")


# -- option values that used to give tracebacks or nonsense: one line naming the option -------

_RANGE_CLOCK = "--clock-mhz must be between 1 and 5000 MHz, not "
_RANGE_DRAM = "--dram-gbps must be between 0.001 and 10000 GB/s, not "
_SEED = "Invalid value for '--seed': {} is not in the range 0<=x<=4294967295."


@pytest.mark.parametrize(("command", "args", "message"), [
    ("report", ["--dram-gbps", "1e-300"], _RANGE_DRAM + "'1e-300'"),  # was OverflowError
    ("plot", ["--dram-gbps", "1e-300"], _RANGE_DRAM + "'1e-300'"),
    ("report", ["--dram-gbps", "1e300"], _RANGE_DRAM + "'1e300'"),
    ("report", ["--dram-gbps", "nan"], "--dram-gbps must be a positive number, not 'nan'"),
    ("report", ["--dram-gbps", "inf"], "--dram-gbps must be a positive number, not 'inf'"),
    ("report", ["--dram-gbps", "-1"], "--dram-gbps must be a positive number, not '-1'"),
    ("report", ["--clock-mhz", "1e-300"], _RANGE_CLOCK + "'1e-300'"),
    ("report", ["--clock-mhz", "1e300"], _RANGE_CLOCK + "'1e300'"),
    ("report", ["--clock-mhz", "nan"], "--clock-mhz must be a positive number, not 'nan'"),
    ("report", ["--clock-mhz", "-inf"], "--clock-mhz must be a positive number, not '-inf'"),
    ("compare", ["--array", "4x4", "--vs-clock-mhz", "0.5"], "--vs-" + _RANGE_CLOCK[2:] + "'0.5'"),
    ("compare", ["--array", "4x4", "--vs-array", "4x"],
     "--vs-array must be ROWSxCOLS (e.g. 16x16), not '4x'"),
    ("report", ["--array", "100000x100000"],
     "--array: rows and cols must be between 1 and 1024, not '100000x100000'"),
    ("report", ["--array", "9" * 5000 + "x2"],  # int() refuses 4,300+ digits: no ValueError
     "--array: rows and cols must be between 1 and 1024, not '" + "9" * 40 + "...'"),
    ("report", ["--buffers", "99999999999"],
     "--buffers must be at most 1048576 KiB each, not '99999999999'"),
    ("report", ["--buffers", "9" * 5000], "--buffers must be at most 1048576 KiB each, not '"
     + "9" * 40 + "...'"),
    ("quantize", ["--seed", "-1"], _SEED.format("-1")  # was numpy's ValueError
     + " (see 'hwcnn quantize --help')"),
    ("verify", ["--seed", "-1"], _SEED.format("-1") + " (see 'hwcnn verify --help')"),
    ("quantize", ["--seed", "4294967296"], _SEED.format("4294967296")
     + " (see 'hwcnn quantize --help')"),
    ("quantize", ["--act-bits", "64"], ("unsupported activation width 64: the golden model "
                                       "supports 2..16-bit activations and weights")),
    ("report", ["--array", ""], "--array must be ROWSxCOLS (e.g. 16x16), not ''"),  # was: default
    ("report", ["--buffers", ""], "--buffers must be KIB or ACT,WEIGHT,OUT in KiB, not ''"),
    ("report", ["--dataflow", ""], "unknown dataflow ''; expected 'ws' or 'os'"),
    ("report", ["--array", "\u0664x4"],  # Arabic-Indic digit four: int() would take it
     "--array must be ROWSxCOLS (e.g. 16x16), not '\u0664x4'"),
    ("report", ["--clock-mhz", "1_0"], "--clock-mhz must be a number, not '1_0'"),
    ("report", ["--clock-mhz", "\uff11\uff10\uff10"],
     "--clock-mhz must be a number, not '\uff11\uff10\uff10'"),
    ("report", ["-o", ""], "--output: the path is empty"),  # was: written to stdout
])
def test_option_values_are_bounded(command: str, args: list[str], message: str, spec: Path,
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["-o", str(tmp_path / "p.png")] if command == "plot" else []
    hw = ["--array", "4x4"] if command in ("plot", "verify") else []
    line = one_error_line(run_cli([command, str(spec), *hw, *args, *out], capsys))
    assert line == PREFIX + message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


def test_rtl_empty_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o ''`` (an unset shell variable) must not mean the current directory."""
    monkeypatch.chdir(tmp_path)
    line = one_error_line(run_cli(["rtl", "--rows", "2", "--cols", "2", "-o", ""], capsys))
    assert line == PREFIX + "--out-dir: the path is empty"
    assert list(tmp_path.iterdir()) == []


def test_rtl_huge_integer_is_cut_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 4,000-digit --rows is a valid Python int: the config error echoes it, the line is cut."""
    huge = "9" * 4000
    line = one_error_line(run_cli(["rtl", "--rows", huge, "--cols", "2", "-o",
                                   str(tmp_path / "rtl")], capsys))
    assert line == (PREFIX + "array: rows must be between 1 and 1024, not " + huge)[:297] + "..."
    assert not (tmp_path / "rtl").exists()
