"""Malformed spec corpus: every file in ``tests/malformed/`` must be rejected cleanly by the CLI.

Each corpus file holds exactly one problem and starts with comment lines saying what the error
must say::

    # expect: <fragment of the message>
    # layer: <layer name>          (optional)
    # line: <1-based line>         (optional)

"Cleanly" is the product rule for bad input: exit status 2, exactly one line on stderr of the
form ``hwcnn: error: FILE[:LINE]: [layer 'NAME': ]MESSAGE``, no traceback, and no output file
(not even a partial or temporary one), and the line is shorter than 300 characters. The CLI runs
in-process through :func:`hwcnn.cli.main`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cli_run import Run, run_cli

CORPUS_DIR = Path(__file__).resolve().parent / "malformed"
CORPUS = sorted(CORPUS_DIR.glob("*.yaml"))
PREFIX = "hwcnn: error: "
#: Longest error line accepted (issue 9): echoed values are shortened.
MAX_LINE = 300
_HEADER = re.compile(r"^#\s*(expect|layer|line):\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What the one-line error for a corpus file must contain."""

    fragment: str
    layer: str | None = None
    line: int | None = None


def expectation(path: Path) -> Expectation:
    """Read the ``# expect/layer/line:`` header of a corpus file."""
    found: dict[str, str] = {}
    for raw in path.read_bytes().decode("utf-8").splitlines():
        m = _HEADER.match(raw)
        if not m:
            break
        found[m.group(1)] = m.group(2)
    assert found.get("expect"), f"{path.name}: first line must be '# expect: ...'"
    return Expectation(fragment=found["expect"], layer=found.get("layer"),
                       line=int(found["line"]) if "line" in found else None)




def assert_clean_failure(run: Run, path: Path) -> str:
    """Exit 2 with exactly one ``hwcnn: error:`` line naming ``path``; return that line."""
    assert run.crash is None, f"hwcnn crashed instead of reporting a SpecError:\n{run.crash}"
    assert "Traceback" not in run.err + run.out, f"traceback printed:\n{run.err}{run.out}"
    assert run.code == 2, f"exit status {run.code!r}, expected 2; stderr={run.err!r}"
    lines = run.err.splitlines()
    assert len(lines) == 1, f"stderr must be exactly one line, got {len(lines)}: {run.err!r}"
    line = lines[0]
    assert line.startswith(PREFIX), f"stderr does not start with {PREFIX!r}: {line!r}"
    assert str(path) in line, f"error does not name the file {str(path)!r}: {line!r}"
    assert len(line) < MAX_LINE, f"error line of {len(line)} characters: {line[:200]!r}..."
    return line


def test_corpus_is_large_enough_and_annotated() -> None:
    assert len(CORPUS) >= 30
    for path in CORPUS:
        exp = expectation(path)
        assert exp.line is None or exp.line >= 1


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_report_rejects_malformed_spec(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = expectation(path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "report.json"
    run = run_cli(["report", str(path), "-f", "json", "-o", str(out)], capsys)

    line = assert_clean_failure(run, path)
    assert exp.fragment in line, f"message lacks {exp.fragment!r}: {line!r}"
    if exp.layer is not None:
        assert f"layer {exp.layer!r}" in line, f"message does not name layer {exp.layer!r}: {line!r}"
    if exp.line is not None:
        assert f"{path}:{exp.line}:" in line, f"message does not point at line {exp.line}: {line!r}"
    assert run.out == "", f"unexpected stdout: {run.out!r}"
    assert not out.exists(), "report file was written although the spec is invalid"
    assert list(out_dir.iterdir()) == [], f"stray files left behind: {list(out_dir.iterdir())}"


@pytest.mark.parametrize("command", [["explain"], ["graph", "-f", "dot"], ["graph", "-f", "graphml"]],
                         ids=["explain", "graph-dot", "graph-graphml"])
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_other_commands_reject_malformed_spec(path: Path, command: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.txt"
    run = run_cli([command[0], str(path), *command[1:], "-o", str(out)], capsys)
    assert_clean_failure(run, path)
    assert not out.exists()


def test_a_valid_spec_passes_the_same_harness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guard against a harness that would call everything a failure."""
    spec = tmp_path / "ok.yaml"
    spec.write_text("name: ok\ninput: [1, 8, 8]\nlayers:\n"
                    "  - {name: c1, kind: conv2d, filters: 4, kernel: 3}\n", encoding="utf-8")
    out = tmp_path / "r.json"
    run = run_cli(["report", str(spec), "-f", "json", "-o", str(out)], capsys)
    assert run.crash is None and run.code in (0, None), run
    assert out.exists()
