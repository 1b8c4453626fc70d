"""Animated traces (``hwcnn trace -o trace.gif`` / ``.mp4``): one picture per cycle.

Each frame is drawn with matplotlib (Agg) from the :class:`~hwcnn.report.trace.Trace`
snapshots: on the left the PE grid (a busy PE shows ``a x b``, the sum it produces and its fold,
coloured by fold; an idle PE is grey), on the right the output matrix (elements written so far,
the row written in this cycle outlined, both rows of the pair with ``drain_rows = 2``), and the
cycle, phase and busy count as the title. GIFs go through Pillow (a median-cut palette per
frame, no dithering), so the same trace gives the same bytes; MP4 needs an ffmpeg, which the
optional extra ``hwcnn[video]`` (imageio-ffmpeg) brings.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from ..errors import ConfigError
from .trace import Trace

#: Most frames an animation holds (pick a window with ``--cycles`` for longer tiles).
MAX_FRAMES = 600
#: Frames per second of the animations.
FPS = 2
#: The extra that brings an MP4 encoder.
VIDEO_EXTRA = "pip install 'hwcnn[video]'"

_IDLE = "#e6e6e6"
_FOLDS = ("#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#fdd0a2")
#: The outline of the output row(s) written in a frame's cycle.
_MARK = "#d62728"


def _frames(t: Trace, first: int, last: int) -> list[int]:
    idx = [i for i, f in enumerate(t.frames) if first <= f.cycle <= last]
    if len(idx) > MAX_FRAMES:
        raise ConfigError(f"an animation holds at most {MAX_FRAMES} frames, cycles "
                          f"{first}..{last} are {len(idx)}; choose fewer with --cycles A..B")
    return idx


def render(t: Trace, title: str, first: int = 1, last: int | None = None) -> Iterator[np.ndarray]:
    """RGB frames (H x W x 3 uint8) of cycles ``first..last``, one per cycle."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    last = t.cycles if last is None else last
    idx = _frames(t, first, last)
    r, c = t.array.rows, t.array.cols
    m, n = t.out.shape
    side = 0.95 if max(r, c) <= 6 else max(0.45, 6.0 / max(r, c))
    out_side = min(side, 4.0 / max(m, n))
    width = c * side + n * out_side + 1.6
    height = max(r * side, m * out_side) + 1.3
    fig = Figure(figsize=(width, height), dpi=100)
    canvas = FigureCanvasAgg(fig)
    grid_w, out_w = c * side / width, n * out_side / width
    ax = fig.add_axes((0.4 / width, 0.3 / height, grid_w, r * side / height))
    ax_o = fig.add_axes((1.0 - out_w - 0.4 / width, 0.3 / height, out_w, m * out_side / height))
    for a_, rows, cols, name in ((ax, r, c, "PE grid (row, column)"), (ax_o, m, n, "Out")):
        a_.set_xlim(0, cols)
        a_.set_ylim(rows, 0)
        step = 1 if max(rows, cols) <= 16 else 4
        a_.set_xticks(np.arange(0, cols, step) + 0.5, [str(v) for v in range(0, cols, step)])
        a_.set_yticks(np.arange(0, rows, step) + 0.5, [str(v) for v in range(0, rows, step)])
        a_.tick_params(length=0, labelsize=7)
        a_.set_title(name, fontsize=10)
    fs = 9 if side >= 0.9 else 6.5 if side >= 0.6 else 0
    cells, texts = [], []
    for i in range(r):
        for j in range(c):
            cells.append(ax.add_patch(Rectangle((j + 0.04, i + 0.04), 0.92, 0.92,
                                                facecolor=_IDLE, edgecolor="#888888")))
            texts.append(ax.text(j + 0.5, i + 0.5, "", ha="center", va="center", fontsize=fs,
                                 family="monospace"))
    ofs = 8 if out_side >= 0.4 else 0
    ocells, otexts = [], []
    for i in range(m):
        for j in range(n):
            ocells.append(ax_o.add_patch(Rectangle((j, i), 1, 1, facecolor="white",
                                                   edgecolor="#bbbbbb", linewidth=0.5)))
            otexts.append(ax_o.text(j + 0.5, i + 0.5, "", ha="center", va="center",
                                    fontsize=ofs))
    # the row written in a cycle, outlined (two rows with drain_rows = 2: both back ends)
    marks = [Rectangle((0, 0), 0, 1, fill=False, edgecolor=_MARK, linewidth=2.0,
                       visible=False) for _ in range(t.array.drain_rows)]
    for mark in marks:
        ax_o.add_patch(mark)
    head = fig.text(0.5, 1 - 0.28 / height, "", ha="center", va="center", fontsize=11,
                    weight="bold")
    fig.text(0.5, 1 - 0.58 / height, title, ha="center", va="center", fontsize=8)
    produced = t.produced()
    for k in idx:
        f = t.frames[k]
        for i in range(r):
            for j in range(c):
                p = i * c + j
                if f.active[i, j]:
                    cells[p].set_facecolor(_FOLDS[int(f.fold[i, j]) % len(_FOLDS)])
                    texts[p].set_text(f"{f.a[i, j]}\u00d7{f.b[i, j]}\n\u03a3 {f.acc[i, j]}\n"
                                      f"fold {f.fold[i, j]}" if fs else "")
                else:
                    cells[p].set_facecolor(_IDLE)
                    texts[p].set_text("")
        for i in range(m):
            for j in range(n):
                done = produced.get((i, j), t.cycles + 1) <= f.cycle
                ocells[i * n + j].set_facecolor("#c7e9c0" if done else "white")
                otexts[i * n + j].set_text(str(t.out[i, j]) if done and ofs else "")
        writes = f.writes
        for q, mark in enumerate(marks):
            if q < len(writes):
                row, c0, c1 = writes[q]
                mark.set_bounds(c0, row, c1 - c0, 1)
                mark.set_visible(True)
            else:
                mark.set_visible(False)
        head.set_text(f"cycle {f.cycle}/{t.cycles}  {t.phase(f.cycle)}  "
                      f"{int(f.active.sum())} of {f.active.size} PEs busy")
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        yield rgba[..., :3].copy()


def gif_bytes(t: Trace, title: str, first: int = 1, last: int | None = None) -> bytes:
    """An animated GIF (loops, :data:`FPS` frames per second; each frame its own median-cut
    palette of at most 255 colours, no dithering: deterministic)."""
    from PIL import Image

    quant = [Image.fromarray(x).quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                         dither=Image.Dither.NONE)
             for x in render(t, title, first, last)]
    buf = io.BytesIO()
    quant[0].save(buf, format="GIF", save_all=True, append_images=quant[1:],
                  duration=int(1000 / FPS), loop=0, optimize=False)
    return buf.getvalue()


def mp4_bytes(t: Trace, title: str, first: int = 1, last: int | None = None) -> bytes:
    """An H.264 MP4 through imageio-ffmpeg (``hwcnn[video]``); ConfigError without it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ConfigError(f"MP4 output needs an ffmpeg encoder: {VIDEO_EXTRA}") from None
    import os
    import tempfile

    # yuv420p needs even sizes: pad the frames with white.
    frames = [np.pad(x, ((0, x.shape[0] % 2), (0, x.shape[1] % 2), (0, 0)), constant_values=255)
              for x in render(t, title, first, last)]
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="hwcnn-mp4-") as tmp:
        path = os.path.join(tmp, "trace.mp4")
        writer = imageio_ffmpeg.write_frames(path, (w, h), fps=FPS, codec="libx264",
                                             pix_fmt_out="yuv420p", macro_block_size=2,
                                             ffmpeg_log_level="error",
                                             output_params=["-fflags", "+bitexact",
                                                            "-flags:v", "+bitexact"])
        writer.send(None)
        for x in frames:
            writer.send(np.ascontiguousarray(x))
        writer.close()
        with open(path, "rb") as fh:
            return fh.read()
