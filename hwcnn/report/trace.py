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
        """Output element (row, col) -> the cycle it is written."""
        return {(w[0], j): f.cycle for f in self.frames if (w := f.write) is not None
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


def text_frame(t: Trace, f: Snapshot) -> str:
    """One cycle: a grid of PEs ``a*b->acc [fold]`` (``.`` idle) and the output written."""
    cells = [[(f"{f.a[i, j]}*{f.b[i, j]}->{f.acc[i, j]} f{f.fold[i, j]}" if f.active[i, j]
               else ".") for j in range(t.array.cols)] for i in range(t.array.rows)]
    width = max(len(c) for row in cells for c in row)
    lines = [(f"cycle {f.cycle}/{t.cycles} ({t.phase(f.cycle)}), "
             f"{int(f.active.sum())} of {f.active.size} PEs busy")]
    lines += ["  " + " | ".join(c.rjust(width) for c in row) for row in cells]
    if f.write is not None:
        row, c0, c1 = f.write
        vals = " ".join(str(v) for v in t.out[row, c0:c1])
        lines.append(f"  write out[{row}, {c0}:{c1}] = {vals}")
    if f.cycle == t.cycles:
        lines.append("  done")
    return "\n".join(lines)


def text(t: Trace, first: int = 1, last: int | None = None) -> str:
    """Every frame in ``first..last`` (inclusive)."""
    last = t.cycles if last is None else last
    return "\n\n".join(text_frame(t, f) for f in t.frames if first <= f.cycle <= last) + "\n"


def html_page(t: Trace, title: str) -> str:
    """A self-contained page (inline CSS/JS, no network) with a cycle slider."""
    frames = [text_frame(t, f) for f in t.frames]
    data = json.dumps(frames).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}pre{{font-size:15px;background:#f4f4f4;
padding:1em}}input{{width:40em}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>cycle <input id="c" type="range" min="0" max="{len(frames) - 1}" value="0">
<span id="n"></span></p><pre id="f"></pre>
<p>Each PE shows a*b-&gt;sum and its fold (fN); '.' is an idle PE.</p>
<script>const F={data};const c=document.getElementById("c");
function show(){{document.getElementById("f").textContent=F[c.value];
document.getElementById("n").textContent=(+c.value+1)+" / "+F.length;}}
c.addEventListener("input",show);show();</script></body></html>
"""
