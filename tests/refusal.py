"""The acceptance check of issue 9 for one refused command line (shared by the hostile-input tests)."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

from tests.cli_run import run_cli


def refused(args: list[str], capsys, tmp_path: Path, pattern: str) -> None:
    """One line matching ``pattern`` in full, exit 2, no new file, < 2 s and < 500 MB.

    Timed without tracemalloc (which slows allocation-heavy code several times), then run
    again under tracemalloc for the memory peak.
    """
    before = set(tmp_path.rglob("*"))
    t0 = time.perf_counter()
    r = run_cli(args, capsys)
    took = time.perf_counter() - t0
    assert r.crash is None, r.crash
    assert r.code == 2, (r.code, r.err)
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert set(tmp_path.rglob("*")) == before
    assert took < 2.0, took
    tracemalloc.start()
    try:
        again = run_cli(args, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert again.err == r.err and peak < 500 << 20, peak
