"""``hwcnn trace``: the stepped model's array state, cycle by cycle, for one GEMM tile."""

from __future__ import annotations

import re

import click
import numpy as np

from ...errors import ConfigError
from ...fileio import STDOUT
from ..options import hardware_from_options
from .common import OUTPUT_FILE, OUTPUT_HELP, emit


def parse_gemm(text: str) -> tuple[int, int, int]:
    """``"3x4x5"`` -> (m, k, n), each 1..64."""
    m = re.fullmatch(r"\s*([0-9]{1,4})x([0-9]{1,4})x([0-9]{1,4})\s*", text)
    if not m or not all(1 <= int(v) <= 64 for v in m.groups()):
        raise ConfigError(f"--gemm must be MxKxN with sizes 1..64 (e.g. 3x3x3), not {text[:40]!r}")
    return int(m[1]), int(m[2]), int(m[3])


def parse_cycles(text: str) -> tuple[int, int]:
    """``"5..9"`` -> (5, 9)."""
    m = re.fullmatch(r"\s*([0-9]{1,9})\.\.([0-9]{1,9})\s*", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ConfigError(f"--cycles must be A..B with 1 <= A <= B, not {text[:40]!r}")
    return int(m[1]), int(m[2])


@click.command()
@click.option("--gemm", required=True, metavar="MxKxN", help="Tile Out[M x N] = A[M x K] @ B[K x N].")
@click.option("--array", default="2x2", show_default=True, metavar="RxC", help="Array rows x cols.")
@click.option("--dataflow", default="ws", show_default=True, metavar="ws|os",
              help="Weight or output stationary.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Random operands: A and B in -4..4 from this seed.")
@click.option("--cycles", "window", metavar="A..B", help="Only frames of cycles A..B (terminal).")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write FILE: .html is a page with a cycle slider, anything else the text "
                   "frames; " + OUTPUT_HELP)
def trace(gemm: str, array: str, dataflow: str, seed: int, window: str | None,
          output: str | None) -> None:
    """Show the stepped register-level model of one GEMM tile cycle by cycle: per PE the
    operands a*b, the sum it produces and its fold (the model's own registers), the phase
    (fill/steady/drain), and the output row written in each cycle. Cycle 0 is start; the
    last frame is done (cycle T = hwcnn.arch.timing.gemm_tile_cycles).

    Example: hwcnn trace --gemm 3x3x3 --array 3x3 --dataflow os --cycles 2..8
    """
    from ...report import trace as tr

    m, k, n = parse_gemm(gemm)
    first, last = parse_cycles(window) if window else (1, None)
    hw, _ = hardware_from_options(array=array, dataflow=dataflow)
    rng = np.random.default_rng(seed)
    a = rng.integers(-4, 5, size=(m, k))
    b = rng.integers(-4, 5, size=(k, n))
    t = tr.record(a, b, hw.array)
    if output and output != STDOUT and output.lower().endswith(".html"):
        title = (f"{m}x{k}x{n} GEMM on a {array} {hw.array.dataflow.value.upper()} array, "
                 f"{t.cycles} cycles")
        emit(tr.html_page(t, title), output)
    else:
        emit(tr.text(t, first, last), output)
