"""Static checks of the code base: ruff with the rules of pyproject.toml ([tool.ruff]) over
the package, the tests and the benchmarks, and mypy ([tool.mypy]: the package). Both are pinned
in constraints.txt, so a clean checkout gives the same verdict as a developer's machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_passes() -> None:
    r = _run("ruff", "check", "--no-cache", "hwcnn", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_passes() -> None:
    r = _run("mypy", "--cache-dir", str(ROOT / "build" / "mypy_cache"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout
