"""Cycle-by-cycle traces of one GEMM tile on the stepped model (``hwcnn trace``).

:func:`record` runs :func:`hwcnn.machine.cyclesim.run_gemm_tile` with its observer hook and
keeps the model's own per-cycle :class:`~hwcnn.machine.cyclesim.Snapshot` records; the
renderers only format them (a text frame per cycle, a self-contained HTML page with a slider).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import numpy as np

from ..arch.config import ArrayConfig
from ..machine.cyclesim import Snapshot, run_gemm_tile
from ..numerics.golden_ops import Requant


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """A recorded tile: operands, outputs, total cycles and one snapshot per cycle 1..T."""

    array: ArrayConfig
    a: np.ndarray
    b: np.ndarray
    out: np.ndarray
    cycles: int
    frames: tuple[Snapshot, ...]

    def first_active(self) -> np.ndarray:
        """Per PE, the first cycle it does a MAC (-1: never)."""
        res = np.full((self.array.rows, self.array.cols), -1)
        for f in self.frames:
            res = np.where((res < 0) & f.active, f.cycle, res)
        return res

    def produced(self) -> dict[tuple[int, int], int]:
        """Output element (row, col) -> the cycle it is written (by either back end)."""
        return {(w[0], j): f.cycle for f in self.frames for w in f.writes
                for j in range(w[1], w[2])}

    def phase(self, cycle: int) -> str:
        """fill (before the first PE is busy... until every PE has been), steady, drain."""
        firsts = [f.cycle for f in self.frames if f.active.any()]
        if not firsts or cycle == self.cycles:
            return "done" if cycle == self.cycles else "idle"
        full = max(int(v) for v in self.first_active().ravel())
        last = max(firsts)
        return "fill" if cycle < full else "steady" if cycle <= last else "drain"


def record(a: np.ndarray, b: np.ndarray, array: ArrayConfig) -> Trace:
    """Run ``A @ B`` (no bias, identity requantization clamped to the activation range)."""
    frames: list[Snapshot] = []
    lo, hi = -(1 << (array.act_bits - 1)), (1 << (array.act_bits - 1)) - 1
    rq = Requant(m0=1 << 30, shift=30, lo=lo, hi=hi, bits=array.act_bits)
    out, cycles = run_gemm_tile(a, b, None, rq, array, observe=frames.append)
    return Trace(array=array, a=np.asarray(a), b=np.asarray(b), out=out, cycles=cycles,
                 frames=tuple(frames))


def _cell(f: Snapshot, i: int, j: int) -> str:
    return f"{f.a[i, j]}*{f.b[i, j]}->{f.acc[i, j]} f{f.fold[i, j]}" if f.active[i, j] else "."


def cell_width(t: Trace) -> int:
    """The widest PE cell of the whole trace, so every frame's columns line up."""
    return max([len(_cell(f, int(i), int(j))) for f in t.frames
                for i, j in zip(*f.active.nonzero(), strict=True)] + [1])


def text_frame(t: Trace, f: Snapshot, width: int | None = None) -> str:
    """One cycle: a grid of PEs ``a*b->acc [fold]`` (``.`` idle) and the output rows written
    (one line each; two in a cycle with ``drain_rows = 2``); PE columns are ``width``
    characters (default: :func:`cell_width`)."""
    width = cell_width(t) if width is None else width
    cells = [[_cell(f, i, j) for j in range(t.array.cols)] for i in range(t.array.rows)]
    lines = [(f"cycle {f.cycle}/{t.cycles} ({t.phase(f.cycle)}), "
             f"{int(f.active.sum())} of {f.active.size} PEs busy")]
    lines += ["  " + " | ".join(c.rjust(width) for c in row) for row in cells]
    for row, c0, c1 in f.writes:
        vals = " ".join(str(v) for v in t.out[row, c0:c1])
        lines.append(f"  write out[{row}, {c0}:{c1}] = {vals}")
    if f.cycle == t.cycles:
        lines.append("  done")
    return "\n".join(lines)


def text(t: Trace, first: int = 1, last: int | None = None) -> str:
    """Every frame in ``first..last`` (inclusive)."""
    last = t.cycles if last is None else last
    w = cell_width(t)
    return "\n\n".join(text_frame(t, f, w) for f in t.frames if first <= f.cycle <= last) + "\n"


def _matrix(name: str, x: np.ndarray) -> str:
    w = max(len(str(v)) for v in x.ravel())
    rows = "\n".join("  " + " ".join(str(v).rjust(w) for v in row) for row in x)
    return f"{name} ({x.shape[0]} x {x.shape[1]}):\n{rows}"


def html_page(t: Trace, title: str) -> str:
    """A self-contained page (inline CSS/JS, no network) with a cycle slider, step and play
    buttons (keys: left/right arrows, space), and the operands and result for reference."""
    w = cell_width(t)
    frames = [text_frame(t, f, w) for f in t.frames]
    data = json.dumps(frames).replace("</", "<\\/")
    ops = html.escape("\n\n".join((_matrix("A", t.a), _matrix("B", t.b),
                                    _matrix("Out = clip(A @ B)", t.out))))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:80em;color:#222}}
h1{{font-size:1.3em}}pre{{font-size:15px;background:#f4f4f4;padding:1em;overflow-x:auto}}
#c{{width:min(40em,90vw)}}button{{font-size:1em;margin-right:.3em}}
.row{{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p><button id="prev" title="previous cycle (left arrow)">&#9664;</button><button id="play"
title="play / pause (space)">play</button><button id="next" title="next cycle (right arrow)"
>&#9654;</button> cycle <input id="c" type="range" min="0" max="{len(frames) - 1}" value="0"
aria-label="cycle"> <span id="n"></span></p>
<div class="row"><pre id="f"></pre><pre>{ops}</pre></div>
<p>Each PE shows a*b-&gt;sum and its fold (fN): its operands this cycle and the sum it
produces (output stationary: its running accumulator; weight stationary: the partial sum it
passes south); '.' is an idle PE. Cycle 0 is start; the last cycle is done.</p>
<script>const F={data};const c=document.getElementById("c");
const play=document.getElementById("play");let timer=null;
function show(){{document.getElementById("f").textContent=F[c.value];
document.getElementById("n").textContent=(+c.value+1)+" / "+F.length;}}
function step(d){{c.value=Math.min(F.length-1,Math.max(0,+c.value+d));show();}}
function toggle(){{if(timer){{clearInterval(timer);timer=null;play.textContent="play";return;}}
if(+c.value>=F.length-1)c.value=0;play.textContent="pause";
timer=setInterval(function(){{step(1);if(+c.value>=F.length-1)toggle();}},500);show();}}
c.addEventListener("input",show);play.addEventListener("click",toggle);
document.getElementById("prev").addEventListener("click",function(){{step(-1);}});
document.getElementById("next").addEventListener("click",function(){{step(1);}});
document.addEventListener("keydown",function(e){{
if(e.target===c||e.target.tagName==="BUTTON")return;if(e.key==="ArrowLeft")step(-1);else if(e.key==="ArrowRight")step(1);
else if(e.key===" "){{e.preventDefault();toggle();}}}});show();</script></body></html>
"""
