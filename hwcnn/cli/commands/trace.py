"""``hwcnn trace``: the stepped model's array state, cycle by cycle, for one GEMM tile."""

from __future__ import annotations

import re

import click

from ...errors import ConfigError
from ...fileio import STDOUT
from .common import OUTPUT_FILE, OUTPUT_HELP, emit
from .tile import choose_tile, parse_gemm, tile_options

__all__ = ["parse_cycles", "parse_gemm", "trace"]


def parse_cycles(text: str) -> tuple[int, int]:
    """``"5..9"`` -> (5, 9)."""
    m = re.fullmatch(r"\s*([0-9]{1,9})\.\.([0-9]{1,9})\s*", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ConfigError(f"--cycles must be A..B with 1 <= A <= B, not {text[:40]!r}")
    return int(m[1]), int(m[2])


@click.command()
@tile_options
@click.option("--cycles", "window", metavar="A..B", help="Only frames of cycles A..B (terminal).")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write FILE: .html is a page with a cycle slider, anything else the text "
                   "frames; " + OUTPUT_HELP)
def trace(gemm: str | None, layer: str | None, array: str, dataflow: str, seed: int,
          window: str | None, output: str | None) -> None:
    """Show the stepped register-level model of one GEMM tile cycle by cycle: per PE the
    operands a*b, the sum it produces and its fold (the model's own registers), the phase
    (fill/steady/drain), and the output row written in each cycle. Cycle 0 is start; the
    last frame is done (cycle T = hwcnn.arch.timing.gemm_tile_cycles).

    Examples: hwcnn trace --gemm 3x3x3 --array 3x3 --dataflow os --cycles 2..8;
    hwcnn trace --layer models/tiny_cnn.yaml:conv2 --array 4x4
    """
    from ...report import trace as tr

    first, last = parse_cycles(window) if window else (1, None)
    tile = choose_tile(gemm, layer, array, dataflow, seed)
    t = tr.record(tile.a, tile.b, tile.hw.array)
    if output and output != STDOUT and output.lower().endswith(".html"):
        title = (f"{tile.label} on a {array} {tile.hw.array.dataflow.value.upper()} array, "
                 f"{t.cycles} cycles")
        emit(tr.html_page(t, title), output)
    else:
        emit(tr.text(t, first, last), output)
