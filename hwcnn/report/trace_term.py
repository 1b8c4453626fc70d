"""The colour terminal view of a trace (``hwcnn trace`` on a terminal), drawn with rich.

Same content as :func:`hwcnn.report.trace.text_frame`, one frame per cycle: a table of the PE
grid (a busy PE shows ``a*b->sum`` and its fold on a background of its fold's colour, an idle
PE a dim dot), the cycle/phase heading and the output rows written. Pipes, files and
``--no-color`` get the plain text instead (the tested format).
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..machine.cyclesim import Snapshot
from .trace import Trace

_FOLD_STYLES = ("on dark_blue", "on dark_green", "on dark_red", "on purple4", "on dark_orange3",
                "on grey30")
_PHASE_STYLES = {"fill": "bold yellow", "steady": "bold green", "drain": "bold cyan",
                 "done": "bold magenta", "idle": "bold"}


def _cell(f: Snapshot, i: int, j: int) -> str:
    return f"{f.a[i, j]}*{f.b[i, j]}->{f.acc[i, j]} f{f.fold[i, j]}"


def cell_width(t: Trace) -> int:
    """The widest busy PE cell of the whole trace (columns keep one width in every frame)."""
    return max([len(_cell(f, i, j)) for f in t.frames for i, j in zip(*f.active.nonzero(),
                                                                        strict=True)] + [5])


def rich_frame(t: Trace, f: Snapshot, width: int | None = None) -> Group:
    """One cycle as rich renderables (PE columns ``width`` characters wide)."""
    width = cell_width(t) if width is None else width
    phase = t.phase(f.cycle)
    head = Text.assemble((f"cycle {f.cycle}/{t.cycles} ", "bold"),
                         (f"({phase})", _PHASE_STYLES[phase]),
                         f", {int(f.active.sum())} of {f.active.size} PEs busy")
    grid = Table(show_header=True, header_style="dim", box=None, padding=(0, 1))
    grid.add_column("", style="dim", justify="right")
    for j in range(t.array.cols):
        grid.add_column(f"col {j}", justify="center", min_width=width)
    for i in range(t.array.rows):
        cells: list[Text | str] = [f"row {i}"]
        for j in range(t.array.cols):
            if f.active[i, j]:
                style = "bold white " + _FOLD_STYLES[int(f.fold[i, j]) % len(_FOLD_STYLES)]
                cells.append(Text(_cell(f, i, j), style=style))
            else:
                cells.append(Text(".", style="dim"))
        grid.add_row(*cells)
    parts: list[Text | Table] = [head, grid]
    for row, c0, c1 in f.writes:
        vals = " ".join(str(v) for v in t.out[row, c0:c1])
        parts.append(Text.assemble("  write ", (f"out[{row}, {c0}:{c1}]", "bold"),
                                   f" = {vals}"))
    if f.cycle == t.cycles:
        parts.append(Text("  done", style="bold magenta"))
    return Group(*parts)


def print_frames(t: Trace, first: int, last: int | None, console: Console) -> None:
    """Every frame of ``first..last`` (inclusive), a blank line between frames."""
    last = t.cycles if last is None else last
    shown = [f for f in t.frames if first <= f.cycle <= last]
    width = cell_width(t)
    for n, f in enumerate(shown):
        if n:
            console.print()
        console.print(rich_frame(t, f, width))
