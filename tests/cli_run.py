"""Run the CLI in-process and capture what a user would see (shared by the CLI error tests)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import pytest

from hwcnn.cli.main import main


@dataclass(frozen=True, slots=True)
class Run:
    code: int | str | None
    out: str
    err: str
    #: The traceback when the CLI raised instead of exiting (a bug in hwcnn).
    crash: str | None


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``hwcnn ARGS`` in-process; never lets an exception escape the test helper."""
    capsys.readouterr()
    code: int | str | None = 0
    crash = None
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
    except Exception:  # noqa: BLE001 - an escaping exception IS the finding
        # The innermost frame and the exception are what the fix needs; the click frames are noise.
        tb = traceback.format_exc().rstrip().splitlines()
        code, crash = "raised", "\n".join(tb[-4:])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err, crash)
