"""``hwcnn trace -o x.gif / x.mp4``: animated traces, one frame per cycle of the window."""

from __future__ import annotations

import io
import sys

import numpy as np
from click.testing import CliRunner
from PIL import Image

from hwcnn.arch.config import ArrayConfig, Dataflow
from hwcnn.cli.main import cli
from hwcnn.report import trace as tr
from hwcnn.report import trace_anim


def test_gif_has_one_frame_per_cycle_and_identical_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.gif"
    args = ["trace", "--gemm", "3x3x3", "--array", "3x3", "--dataflow", "ws", "--cycles",
            "4..11", "-o", str(out)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert r.stderr == f"wrote {out}: cycles 4..11 of 16\n"
    first = out.read_bytes()
    with Image.open(io.BytesIO(first)) as im:
        assert im.format == "GIF" and im.n_frames == 11 - 4 + 1
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert out.read_bytes() == first
    # the whole tile: WS 3x3x3 on 3x3 is T = 1 + (m + 2R + C + 3) = 16 cycles
    r = CliRunner().invoke(cli, [*args[:7], "-o", str(out)])
    with Image.open(out) as im:
        assert im.n_frames == 16


def test_frames_show_busy_pes_in_the_fold_colour() -> None:
    # OS 2x2x2 on 2x2: PE(i, j) is first busy in cycle 2 + i + j (tests/test_trace.py), so in
    # cycle 2 only PE(0, 0) is; the idle grey and the fold-0 colour tell them apart.
    t = tr.record(np.array([[1, 2], [3, 4]]), np.array([[1, 0], [0, 1]]),
                  ArrayConfig(rows=2, cols=2, dataflow=Dataflow.OUTPUT_STATIONARY))
    frame = next(trace_anim.render(t, "x", 2, 2))
    assert frame.dtype == np.uint8 and frame.ndim == 3
    colours = {tuple(int(v) for v in px) for px in frame.reshape(-1, 3)}
    fold0 = tuple(int(trace_anim._FOLDS[0][q:q + 2], 16) for q in (1, 3, 5))
    idle = tuple(int(trace_anim._IDLE[q:q + 2], 16) for q in (1, 3, 5))
    assert fold0 in colours and idle in colours
    empty = next(trace_anim.render(t, "x", 1, 1))  # cycle 1: no PE busy yet
    assert fold0 not in {tuple(int(v) for v in px) for px in empty.reshape(-1, 3)}


def test_long_windows_and_missing_encoder_are_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.gif"
    # 64x64x1 on 1x1 OS: 64 folds of 64 + ... cycles, far more than 600 frames
    r = CliRunner().invoke(cli, ["trace", "--gemm", "64x1x64", "--array", "1x1", "--dataflow",
                                 "os", "-o", str(out)])
    assert r.exit_code == 2
    assert r.stderr.startswith("hwcnn: error: an animation holds at most 600 frames, cycles 1..")
    assert r.stderr.endswith("; choose fewer with --cycles A..B\n")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if the extra were missing
    mp4 = tmp_path / "t.mp4"
    r = CliRunner().invoke(cli, ["trace", "--gemm", "2x2x2", "-o", str(mp4)])
    assert r.exit_code == 2
    assert r.stderr == ("hwcnn: error: MP4 output needs an ffmpeg encoder: "
                        "pip install 'hwcnn[video]'\n")
    assert list(tmp_path.iterdir()) == []


def test_mp4_when_the_video_extra_is_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    mp4 = tmp_path / "t.mp4"
    r = CliRunner().invoke(cli, ["trace", "--gemm", "2x2x2", "--cycles", "2..6", "-o", str(mp4)])
    assert r.exit_code == 0, r.output
    frames = ffmpeg.read_frames(str(mp4))
    meta = next(frames)
    assert meta["codec"] == "h264" and sum(1 for _ in frames) == 5


def test_two_drain_rows_outline_both_rows_of_the_pair() -> None:
    # OS 8x1x8 on 4x8 (tests/test_trace.py's hand table): one drain row writes out[0] alone
    # in cycle 13; two drain rows write out[0] and out[1] together in cycle 15, nothing in 17.
    # The output matrix is 8 x 8 elements of 0.5 in (50 px at 100 dpi) in both pictures.
    rng = np.random.default_rng(0)
    a, b = rng.integers(-4, 5, (8, 1)), rng.integers(-4, 5, (1, 8))
    red = np.array([int(trace_anim._MARK[q:q + 2], 16) for q in (1, 3, 5)])

    def outline(drain: int, cycle: int) -> tuple[int, int]:
        """(height, width) in pixels of the red outline of frame ``cycle`` (0, 0: none)."""
        arr = ArrayConfig(rows=4, cols=8, dataflow=Dataflow.OUTPUT_STATIONARY, drain_rows=drain)
        frame = next(trace_anim.render(tr.record(a, b, arr), "x", cycle, cycle)).astype(int)
        ys, xs = np.nonzero(np.abs(frame - red).max(axis=-1) < 60)
        return (int(np.ptp(ys)), int(np.ptp(xs))) if len(ys) else (0, 0)

    h1, w1 = outline(1, 13)
    h2, w2 = outline(2, 15)
    assert abs(h1 - 50) <= 3 and abs(w1 - 8 * 50) <= 3   # one row of 8 elements
    assert abs(h2 - 2 * 50) <= 3 and w2 == w1             # two rows, the same 8 columns
    assert outline(2, 17) == (0, 0)
