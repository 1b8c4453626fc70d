"""``-o`` outputs: what a path is decides how it is written, and nothing is ever left behind.

Regular files (symlinks followed, the link kept) are replaced atomically; character devices,
FIFOs and ``-`` are written straight into; directories, sockets and missing parents are refused
in one line. Temporary files and RTL staging directories disappear on every exit path:
exceptions, a full disk, SIGINT (in-process) and SIGTERM (a real process, signalled while it
writes). Every case builds its files in ``tmp_path``.
"""

from __future__ import annotations

import errno
import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from hwcnn import fileio
from hwcnn.cli.main import main

from .cli_run import Run, run_cli

PREFIX = "hwcnn: error: "
SPEC = ("name: small\ninput: [1, 8, 8]\nlayers:\n"
        "  - {name: conv1, kind: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}\n"
        "  - {name: pool1, kind: maxpool, kernel: 2}\n"
        "  - {name: fc, kind: dense, units: 10}\n")
RTL_SMALL = ["--rows", "2", "--cols", "2", "--dataflow", "os", "--act-depth", "16",
             "--weight-depth", "16", "--out-depth", "16", "--param-depth", "2", "--acc-depth", "4"]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and signals")


def one_error_line(run: Run) -> str:
    assert run.crash is None, f"hwcnn crashed instead of reporting an error:\n{run.crash}"
    assert run.code == 2, f"exit status {run.code!r}, expected 2; stderr={run.err!r}"
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), run.err
    return lines[0]


def ok(run: Run) -> None:
    assert run.crash is None, run.crash
    assert run.code in (0, None), f"exit {run.code!r}: {run.err!r}"


def listing(directory: Path) -> list[str]:
    """Every name under ``directory``, hidden ones included (temporary files are hidden)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


_RTL_CACHE: dict[tuple[object, ...], dict[str, str]] = {}


@pytest.fixture
def fast_rtl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elaborate each configuration once per test session (the tests here are about files)."""
    from hwcnn.hw import rtlgen

    real = rtlgen.generate

    def cached(config, depths):  # type: ignore[no-untyped-def]
        key = (config, depths)
        if key not in _RTL_CACHE:
            _RTL_CACHE[key] = real(config, depths)
        return _RTL_CACHE[key]

    monkeypatch.setattr(rtlgen, "generate", cached)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(old)


# -- what the path is ------------------------------------------------------------------------


def test_new_file_mode_follows_the_umask(spec: Path, tmp_path: Path, umask: Callable[[int], None],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for mask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        umask(mask)
        out = tmp_path / f"r{mask:o}.txt"
        ok(run_cli(["report", str(spec), "-o", str(out)], capsys))
        assert stat.S_IMODE(out.stat().st_mode) == mode, (oct(mask), oct(out.stat().st_mode))


def test_overwritten_file_keeps_its_mode(spec: Path, tmp_path: Path, umask: Callable[[int], None],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    umask(0o022)
    for mode in (0o640, 0o604, 0o755):
        out = tmp_path / "r.txt"
        out.write_text("old\n", encoding="utf-8")
        out.chmod(mode)
        ok(run_cli(["report", str(spec), "-o", str(out)], capsys))
        assert stat.S_IMODE(out.stat().st_mode) == mode
        assert out.read_text(encoding="utf-8").startswith("small: per-layer budget")


@posix_only
def test_symlink_is_followed_and_kept(spec: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "r.json"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(Path("real") / "r.json")
    ok(run_cli(["report", str(spec), "-f", "json", "-o", str(link)], capsys))
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "r.json")
    assert target.read_text(encoding="utf-8").startswith("{")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert listing(tmp_path) == ["link.json", "real", "real/r.json", "small.yaml"]


@posix_only
def test_dangling_symlink_creates_its_target(spec: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to("made.txt")
    ok(run_cli(["schema", "-o", str(link)], capsys))
    assert link.is_symlink() and (tmp_path / "made.txt").read_text().startswith("{")
    missing = tmp_path / "dl"
    missing.symlink_to(tmp_path / "nowhere" / "x")
    line = one_error_line(run_cli(["schema", "-o", str(missing)], capsys))
    assert line == f"{PREFIX}{missing}: directory {tmp_path / 'nowhere'} does not exist"


@posix_only
def test_dev_null_stays_a_device(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = os.stat("/dev/null")
    ok(run_cli(["report", str(spec), "-o", "/dev/null"], capsys))
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


@posix_only
def test_dev_full_is_one_line(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    line = one_error_line(run_cli(["report", str(spec), "-o", "/dev/full"], capsys))
    assert line == f"{PREFIX}/dev/full: cannot write: No space left on device"


@posix_only
def test_fifo_is_written_into(spec: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    ok(run_cli(["graph", str(spec), "-o", str(fifo)], capsys))
    t.join(10)
    expected = run_cli(["graph", str(spec)], capsys)
    assert got == [expected.out.encode("utf-8")]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert listing(tmp_path) == ["pipe", "small.yaml"]


@pytest.fixture
def side_files(tmp_path: Path) -> dict[str, Path]:
    x = tmp_path / "x.npy"
    np.save(x, np.linspace(-1, 1, 64).reshape(1, 8, 8))
    return {"x": x}


def _command(name: str, spec: Path, side: dict[str, Path]) -> list[str]:
    return {
        "report": ["report", str(spec), "-f", "json"],
        "explain": ["explain", str(spec)],
        "graph": ["graph", str(spec), "-f", "graphml"],
        "schema": ["schema"],
        "compare": ["compare", str(spec), "--array", "4x4", "--vs-dataflow", "os"],
        "quantize": ["quantize", str(spec), "-f", "json"],
        "run": ["run", str(spec), "--input", str(side["x"])],
        "plot": ["plot", str(spec), "--array", "4x4"],
    }[name]


def _stdout_bytes(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, str]:
    """Run in-process with a binary-capable stdout; returns (stdout bytes, stderr)."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", out)
        m.setattr(sys, "stderr", err)
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None), err.getvalue()
        out.flush()
    return out.buffer.getvalue(), err.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["report", "explain", "graph", "schema", "compare", "quantize",
                                  "run", "plot"])
def test_dash_is_standard_output(name: str, spec: Path, tmp_path: Path,
                                 side_files: dict[str, Path],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o -`` and ``-o /dev/stdout`` give exactly the bytes ``-o FILE`` writes."""
    args = _command(name, spec, side_files)
    file = tmp_path / ("file.png" if name == "plot" else "file.out")
    _, err = _stdout_bytes([*args, "-o", str(file)], monkeypatch)
    assert err.startswith(f"wrote {file}") or name not in ("run", "plot")
    expected = file.read_bytes()
    assert len(expected) > 100
    for dash in ("-", "/dev/stdout"):
        got, err = _stdout_bytes([*args, "-o", dash], monkeypatch)
        assert "wrote" not in err
        assert got == expected, (name, dash)


def test_rtl_dash_prints_the_verilog(fast_rtl: None, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    ok(run_cli(["rtl", *RTL_SMALL, "-o", str(tmp_path / "v")], capsys))
    run = run_cli(["rtl", *RTL_SMALL, "-o", "-"], capsys)
    ok(run)
    assert run.out == (tmp_path / "v" / "hwcnn_top.v").read_text(encoding="utf-8")


# -- refused paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "explain", "graph", "schema", "plot", "run"])
def test_directory_as_output_is_one_line(command: str, spec: Path, tmp_path: Path,
                                         side_files: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = listing(tmp_path)
    args = _command(command, spec, side_files)
    line = one_error_line(run_cli([*args, "-o", str(tmp_path)], capsys))
    assert line == f"{PREFIX}{tmp_path}: is a directory"
    assert listing(tmp_path) == before


@pytest.mark.parametrize("command", ["report", "explain", "graph", "schema", "run"])
def test_missing_parent_is_not_created(command: str, spec: Path, tmp_path: Path,
                                       side_files: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = listing(tmp_path)
    target = tmp_path / "new" / "deeper" / "out.txt"
    args = _command(command, spec, side_files)
    line = one_error_line(run_cli([*args, "-o", str(target)], capsys))
    assert line == f"{PREFIX}{target}: directory {target.parent} does not exist"
    assert listing(tmp_path) == before


def test_rtl_creates_only_its_own_directory(fast_rtl: None, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    nested = tmp_path / "a" / "rtl"
    line = one_error_line(run_cli(["rtl", *RTL_SMALL, "-o", str(nested)], capsys))
    assert line == f"{PREFIX}{nested}: directory {nested.parent} does not exist"
    assert listing(tmp_path) == []
    (tmp_path / "f").write_text("x", encoding="utf-8")
    line = one_error_line(run_cli(["rtl", *RTL_SMALL, "-o", str(tmp_path / "f")], capsys))
    assert line == f"{PREFIX}{tmp_path / 'f'}: is not a directory"
    ok(run_cli(["rtl", *RTL_SMALL, "-o", str(tmp_path / "rtl")], capsys))
    assert listing(tmp_path) == ["f", "rtl", "rtl/hwcnn_top.v"]


@posix_only
def test_socket_is_refused(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(path))
        line = one_error_line(run_cli(["report", str(spec), "-o", str(path)], capsys))
    finally:
        s.close()
    assert line == f"{PREFIX}{path}: is not a regular file, character device or FIFO"
    assert stat.S_ISSOCK(path.stat().st_mode)


def test_parent_is_a_file(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("I am a file\n", encoding="utf-8")
    target = tmp_path / "blocker" / "out.json"
    line = one_error_line(run_cli(["report", str(spec), "-o", str(target)], capsys))
    assert line == f"{PREFIX}{target}: a parent in the path is not a directory"


@pytest.mark.parametrize("length", [242, 250, 255])
def test_long_output_names(length: int, spec: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """The temporary name is short, so any name the file system allows works."""
    out = tmp_path / ("r" * (length - 4) + ".txt")
    ok(run_cli(["report", str(spec), "-o", str(out)], capsys))
    assert out.read_text(encoding="utf-8").startswith("small: per-layer budget")
    ok(run_cli(["report", str(spec), "-o", str(out)], capsys))  # and replacing it
    assert listing(tmp_path) == sorted([out.name, "small.yaml"])


# -- failures while writing: nothing left behind ------------------------------------------------


def _failing_write(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Write half of the data for real, then fail (a disk filling up, an interrupt)."""
    real = fileio._write_all

    def half_then_fail(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])
        raise exc

    monkeypatch.setattr(fileio, "_write_all", half_then_fail)


def test_disk_full_keeps_the_old_file(spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.txt"
    out.write_text("previous\n", encoding="utf-8")
    _failing_write(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    line = one_error_line(run_cli(["report", str(spec), "-o", str(out)], capsys))
    assert line == f"{PREFIX}{out}: cannot write: No space left on device"
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert listing(tmp_path) == ["r.txt", "small.yaml"]


def test_disk_full_new_file_leaves_nothing(spec: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _failing_write(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    out = tmp_path / "r.json"
    line = one_error_line(run_cli(["report", str(spec), "-f", "json", "-o", str(out)], capsys))
    assert ".hwcnn-" not in line and ".tmp" not in line  # never the internal name
    assert listing(tmp_path) == ["small.yaml"]


def test_sigint_while_writing_leaves_nothing(spec: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _failing_write(monkeypatch, KeyboardInterrupt())
    run = run_cli(["report", str(spec), "-o", str(tmp_path / "r.txt")], capsys)
    assert run.crash is None and run.code == 130
    assert run.err.strip() == "hwcnn: interrupted"
    assert listing(tmp_path) == ["small.yaml"]


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                 KeyboardInterrupt()], ids=["enospc", "sigint"])
def test_rtl_staging_failure_leaves_no_directory(fast_rtl: None, exc: BaseException, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _failing_write(monkeypatch, exc)
    run = run_cli(["rtl", *RTL_SMALL, "-o", str(tmp_path / "rtl")], capsys)
    assert run.crash is None
    if isinstance(exc, OSError):
        assert one_error_line(run) == (f"{PREFIX}{tmp_path / 'rtl'}: cannot write: "
                                       "No space left on device")
    else:
        assert run.code == 130 and run.err.strip() == "hwcnn: interrupted"
    assert listing(tmp_path) == []  # no empty or partial rtl/, no staging directory


def test_rtl_staging_failure_in_existing_directory(fast_rtl: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rtl"
    out.mkdir()
    (out / "hwcnn_top.v").write_text("// old\n", encoding="utf-8")
    _failing_write(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    one_error_line(run_cli(["rtl", *RTL_SMALL, "-o", str(out)], capsys))
    assert listing(tmp_path) == ["rtl", "rtl/hwcnn_top.v"]
    assert (out / "hwcnn_top.v").read_text(encoding="utf-8") == "// old\n"


def test_rtl_new_directory_mode_follows_the_umask(fast_rtl: None, tmp_path: Path,
                                                  umask: Callable[[int], None],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    umask(0o027)
    ok(run_cli(["rtl", *RTL_SMALL, "-o", str(tmp_path / "rtl")], capsys))
    assert stat.S_IMODE((tmp_path / "rtl").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "rtl" / "hwcnn_top.v").stat().st_mode) == 0o640


def test_cleanup_removes_what_an_interrupt_left(tmp_path: Path) -> None:
    """An interrupt between creating a temporary file and entering its ``try`` (a window of a
    few bytecodes) still cleans up: the name is registered before the file exists."""
    stray = tmp_path / ".hwcnn-deadbeef.tmp"
    stray.write_bytes(b"partial")
    stage = tmp_path / ".hwcnn-cafecafe.stage"
    (stage / "sub").mkdir(parents=True)
    fileio._LIVE.update({str(stray), str(stage)})
    fileio.cleanup()
    assert listing(tmp_path) == []
    assert not fileio._LIVE


# -- SIGTERM: a real process, terminated while it writes ----------------------------------------

_SLOW_WRITER = """
import sys, time
from pathlib import Path
from hwcnn import fileio
from hwcnn.cli.main import main
from hwcnn.cli.main import main

ready = Path(sys.argv[1])
real = fileio._write_all

def slow(fd, data):
    real(fd, data[: len(data) // 2])
    ready.write_text("writing")
    time.sleep(60)
    real(fd, data[len(data) // 2:])

fileio._write_all = slow
main(sys.argv[2:])
"""


@posix_only
@pytest.mark.parametrize("kind", ["file", "rtl"])
def test_sigterm_while_writing_leaves_nothing(kind: str, spec: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ready = tmp_path / "ready"
    args = (["report", str(spec), "-o", str(work / "r.txt")] if kind == "file"
            else ["rtl", *RTL_SMALL, "-o", str(work / "rtl")])
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(ready), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.05)
        # mid-write: the temporary file or staging directory exists (and has a short name)
        assert re.fullmatch(r"\.hwcnn-[0-9a-f]{8}\.(tmp|stage)", listing(work)[0]), listing(work)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)  # generous: the machine may be loaded
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err.strip(), listing(work)) == (143, "hwcnn: terminated", [])


@posix_only
def test_rtl_existing_directory_keeps_modes_and_links(fast_rtl: None, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rtl"
    out.mkdir()
    real = tmp_path / "real.v"
    real.write_text("// old\n", encoding="utf-8")
    real.chmod(0o640)
    (out / "hwcnn_top.v").symlink_to(real)
    ok(run_cli(["rtl", *RTL_SMALL, "-o", str(out)], capsys))
    assert (out / "hwcnn_top.v").is_symlink()
    assert real.read_text(encoding="utf-8").startswith("// Generated by hwcnn ")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert listing(tmp_path) == ["real.v", "rtl", "rtl/hwcnn_top.v"]


@posix_only
def test_dev_stdout_redirected_to_a_file(tmp_path: Path) -> None:
    """``{ echo head; hwcnn schema -o /dev/stdout; echo tail; } > out``: everything lands in
    order in the shell's file. Replacing the file /dev/stdout resolves to would drop the head
    and send the tail to a deleted inode."""
    out = tmp_path / "out.json"
    with open(out, "wb", buffering=0) as fh:
        fh.write(b"head\n")
        proc = subprocess.run([sys.executable, "-m", "hwcnn", "schema", "-o", "/dev/stdout"],
                              stdout=fh, stderr=subprocess.PIPE, timeout=120, check=False)
        fh.write(b"tail\n")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("head\n{") and text.endswith("}\ntail\n")
    assert listing(tmp_path) == ["out.json"]
