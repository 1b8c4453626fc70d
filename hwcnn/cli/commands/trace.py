"""``hwcnn trace``: the stepped model's array state, cycle by cycle, for one GEMM tile."""

from __future__ import annotations

import re
import sys

import click

from ...errors import ConfigError
from ...fileio import STDOUT, write_bytes_atomic
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, wrote
from .tile import choose_tile, parse_gemm, tile_options

__all__ = ["parse_cycles", "parse_gemm", "trace"]


def parse_cycles(text: str) -> tuple[int, int]:
    """``"5..9"`` -> (5, 9)."""
    m = re.fullmatch(r"\s*([0-9]{1,9})\.\.([0-9]{1,9})\s*", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ConfigError(f"--cycles must be A..B with 1 <= A <= B, not {text[:40]!r}")
    return int(m[1]), int(m[2])


def color_terminal() -> bool:
    """Whether standard output is a terminal that gets the rich view."""
    return sys.stdout.isatty()


@click.command()
@tile_options
@click.option("--cycles", "window", metavar="A..B",
              help="Only frames of cycles A..B (terminal, text, GIF and MP4; the HTML page "
                   "holds every cycle).")
@click.option("--no-color", is_flag=True,
              help="Plain text frames even on a terminal (pipes and files always get them).")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write FILE by its extension: .html a page with a cycle slider, .gif an "
                   "animation (one frame per cycle of --cycles), .mp4 the same as a video "
                   "(needs the extra hwcnn[video]), anything else the text frames; "
                   + OUTPUT_HELP)
def trace(gemm: str | None, layer: str | None, array: str, dataflow: str, drain_rows: str,
          seed: int, weights: str | None, window: str | None, no_color: bool,
          output: str | None) -> None:
    """Show the stepped register-level model of one GEMM tile cycle by cycle: per PE the
    operands a*b, the sum it produces and its fold (the model's own registers), the phase
    (fill/steady/drain), and the output row written in each cycle (with --drain-rows 2 the
    pair's two rows, one per back end). Cycle 0 is start; the last frame is done (cycle
    T = hwcnn.arch.timing.gemm_tile_cycles).

    Examples: hwcnn trace --gemm 3x3x3 --array 3x3 --dataflow os --cycles 2..8;
    hwcnn trace --layer models/tiny_cnn.yaml:conv2 --array 4x4;
    hwcnn trace --gemm 8x1x4 --array 4x4 --dataflow os --drain-rows 2
    """
    from ...report import trace as tr

    first, last = parse_cycles(window) if window else (1, None)
    tile = choose_tile(gemm, layer, array, dataflow, seed, weights=weights,
                       drain_rows=drain_rows)
    t = tr.record(tile.a, tile.b, tile.hw.array)
    two = " with 2 drain rows" if tile.hw.array.drain_rows == 2 else ""
    title = (f"{tile.label} on a {array} {tile.hw.array.dataflow.value.upper()} array{two}, "
             f"{t.cycles} cycles")
    kind = output.lower().rpartition(".")[2] if output and output != STDOUT else ""
    if kind == "html":
        emit(tr.html_page(t, title), output)
    elif kind in ("gif", "mp4"):
        from ...report import trace_anim

        assert output is not None
        last = t.cycles if last is None else min(last, t.cycles)
        make = trace_anim.gif_bytes if kind == "gif" else trace_anim.mp4_bytes
        write_bytes_atomic(output, make(t, title, first, last))
        wrote(output, f": cycles {first}..{last} of {t.cycles}")
    elif not output and not no_color and color_terminal():
        from rich.console import Console

        from ...report.trace_term import print_frames

        print_frames(t, first, last, Console())
    else:
        emit(tr.text(t, first, last), output)
