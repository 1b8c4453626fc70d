"""``hwcnn trace``: the stepped model's per-cycle snapshots against cycle tables worked by hand.

Hand tables (rtl/README.md 5-6, cycle 0 = start, fold cycle 0 = cycle 1, one fold):
* OS: operand kk reaches PE(i, j) at fold cycle kk + i + j + 1, so PE(i, j) is first busy in
  cycle 2 + i + j; drain row i is read at fold cycle k + C + i and written 3 cycles later:
  cycle 1 + k + C + i + 3; T = 1 + (k + R + C + 3).
* WS: R weight loads (fold cycles 0..R-1), A row 0 read at fold cycle R, lane r delayed r,
  column j delayed j: PE(i, j) first busy in cycle 1 + R + 1 + i + j; row i's result enters
  stage 1 R + C cycles after its read and is written 3 later: cycle 1 + R + i + R + C + 3;
  T = 1 + (m + 2R + C + 3).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hwcnn.arch.config import ArrayConfig, Dataflow
from hwcnn.arch.timing import gemm_tile_cycles
from hwcnn.cli.main import cli
from hwcnn.report import trace as tr

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY

# (size s of the s x s x s GEMM on an s x s array, dataflow, first-busy table, write cycle of
# output row i, T)
CASES = [
    # OS 2x2: first busy 2 + i + j; writes 1 + 2 + 2 + i + 3 = 8, 9; T = 1 + 2+2+2+3 = 10
    (2, OS, [[2, 3], [3, 4]], [8, 9], 10),
    # OS 3x3: writes 1 + 3 + 3 + i + 3 = 10, 11, 12; T = 1 + 3+3+3+3 = 13
    (3, OS, [[2, 3, 4], [3, 4, 5], [4, 5, 6]], [10, 11, 12], 13),
    # WS 2x2: first busy 4 + i + j; writes 1 + 2 + i + 2 + 2 + 3 = 10, 11; T = 1 + 2+4+2+3 = 12
    (2, WS, [[4, 5], [5, 6]], [10, 11], 12),
    # WS 3x3: first busy 5 + i + j; writes 13, 14, 15; T = 1 + 3+6+3+3 = 16
    (3, WS, [[5, 6, 7], [6, 7, 8], [7, 8, 9]], [13, 14, 15], 16),
]


@pytest.mark.parametrize(("s", "flow", "busy", "writes", "total"), CASES)
def test_trace_matches_the_hand_table(s: int, flow: Dataflow, busy: list[list[int]],
                                      writes: list[int], total: int) -> None:
    arr = ArrayConfig(rows=s, cols=s, dataflow=flow)
    rng = np.random.default_rng(1)
    a, b = rng.integers(-4, 5, (s, s)), rng.integers(-4, 5, (s, s))
    t = tr.record(a, b, arr)
    assert t.cycles == total == gemm_tile_cycles(s, s, s, arr)
    assert [f.cycle for f in t.frames] == list(range(1, total + 1))
    assert t.first_active().tolist() == busy
    assert t.produced() == {(i, j): writes[i] for i in range(s) for j in range(s)}
    assert np.array_equal(t.out, np.clip(a @ b, -128, 127))


def test_os_accumulator_values_are_the_models_running_sums() -> None:
    # PE(0, 0) does a[0, kk] * b[kk, 0] in cycle 2 + kk: running sums 1*5, + 2*7.
    t = tr.record(np.array([[1, 2]]), np.array([[5], [7]]), ArrayConfig(rows=1, cols=1,
                                                                        dataflow=OS))
    seen = [(f.cycle, int(f.a[0, 0]), int(f.b[0, 0]), int(f.acc[0, 0])) for f in t.frames
            if f.active[0, 0]]
    assert seen == [(2, 1, 5, 5), (3, 2, 7, 19)]


def test_cli_frames_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(cli, ["trace", "--gemm", "2x2x2", "--array", "2x2", "--dataflow",
                                 "os", "--cycles", "2..3"])
    assert r.exit_code == 0
    assert r.stdout.startswith("cycle 2/10 (fill), 1 of 4 PEs busy\n")
    assert "cycle 3/10" in r.stdout and "cycle 4/10" not in r.stdout
    page = tmp_path / "t.html"
    r = CliRunner().invoke(cli, ["trace", "--gemm", "3x3x3", "--array", "3x3", "-o", str(page)])
    assert r.exit_code == 0
    body = page.read_text()
    assert 'type="range"' in body and "http" not in body and "cycle 16/16" in body
    for args, msg in ((["--gemm", "0x3x3"], ("--gemm must be MxKxN with sizes 1..64 (e.g. 3x3x3), "
                       "not '0x3x3'")),
                      (["--gemm", "2x2x2", "--cycles", "5..2"],
                       "--cycles must be A..B with 1 <= A <= B, not '5..2'")):
        r = CliRunner().invoke(cli, ["trace", *args])
        assert r.exit_code == 2 and r.stderr == f"hwcnn: error: {msg}\n"


def test_cli_trace_of_a_layer_tile_and_layer_errors() -> None:
    # tiny_cnn conv2: 8 filters 3x3 on the 4x4x4 pooled map, no padding -> 2x2 outputs:
    # M = 4 pixels, K = 4 * 9 = 36, N = 8, one tile on a 4x4 array.
    arr = ArrayConfig(rows=4, cols=4, dataflow=OS)
    total = gemm_tile_cycles(4, 8, 36, arr)
    r = CliRunner().invoke(cli, ["trace", "--layer", "models/tiny_cnn.yaml:conv2", "--array",
                                 "4x4", "--dataflow", "os", "--cycles", f"{total}..{total}"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"cycle {total}/{total} (done)")
    for args, msg in (
            (["--layer", "models/tiny_cnn.yaml:pool1"],
             ("models/tiny_cnn.yaml: layer 'pool1': needs a conv or dense layer (a GEMM on the "
             "array), not maxpool")),
            (["--layer", "models/tiny_cnn.yaml:nope"], "models/tiny_cnn.yaml: no layer named 'nope'"),
            (["--layer", "conv2"],
             "--layer must be MODEL:NAME (e.g. models/tiny_cnn.yaml:conv2), not 'conv2'"),
            (["--layer", "models/tiny_cnn.yaml:conv2", "--gemm", "2x2x2"],
             "give exactly one of --gemm MxKxN and --layer MODEL:NAME"),
            ([], "give exactly one of --gemm MxKxN and --layer MODEL:NAME")):
        r = CliRunner().invoke(cli, ["trace", *args])
        assert r.exit_code == 2 and r.stderr == f"hwcnn: error: {msg}\n", r.output


def _plain(ansi: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", ansi)


def test_terminal_view_colours_the_model_numbers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from hwcnn.cli.commands import trace as cmd

    monkeypatch.setattr(cmd, "color_terminal", lambda: True)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    args = ["trace", "--gemm", "1x2x1", "--array", "1x1", "--dataflow", "os"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "\x1b[" in r.stdout
    # OS 1x1 (hand table above): PE(0, 0) does a[0, kk] * b[kk, 0] in cycle 2 + kk, running
    # sums; T = 1 + (k + R + C + 3) = 8. Operands: the CLI's seeding (seed 0, A then B).
    rng = np.random.default_rng(0)
    a, b = rng.integers(-4, 5, (1, 2)), rng.integers(-4, 5, (2, 1))
    p0, p1 = a[0, 0] * b[0, 0], a[0, 0] * b[0, 0] + a[0, 1] * b[1, 0]
    lines = _plain(r.stdout).splitlines()
    for cycle, kk, acc in ((2, 0, p0), (3, 1, p1)):
        at = next(i for i, x in enumerate(lines) if x.startswith(f"cycle {cycle}/8 "))
        assert lines[at + 2].split() == ["row", "0", f"{a[0, kk]}*{b[kk, 0]}->{acc}", "f0"]
    plain = CliRunner().invoke(cli, [*args, "--no-color"])
    assert "\x1b[" not in plain.stdout and plain.stdout.startswith("cycle 1/8 (fill), 0 of 1")


def test_html_page_is_self_contained_and_holds_every_frame() -> None:
    t = tr.record(np.array([[1, 2]]), np.array([[5], [7]]), ArrayConfig(rows=1, cols=1,
                                                                        dataflow=OS))
    page = tr.html_page(t, "<b>&</script>")
    # Nothing is fetched: no external scripts, styles, images, fonts or links.
    assert not re.search(r"(?i)\b(src|href)\s*=|url\(|@import|https?:|//cdn", page)
    assert "<b>&</script>" not in page and "&lt;b&gt;&amp;&lt;/script&gt;" in page
    assert page.count("</script>") == 1
    frames = json.loads(re.search(r"const F=(\[.*?\]);const c", page, re.DOTALL)[1])
    assert frames == tr.text(t).rstrip("\n").split("\n\n")
    assert len(frames) == t.cycles == 8 and f'max="{t.cycles - 1}"' in page
    # the running sums of the hand table above: 1*5 -> 5 in cycle 2, 2*7 -> 19 in cycle 3
    assert "1*5->5 f0" in frames[1] and "2*7->19 f0" in frames[2]


def test_layer_tile_with_weights_uses_the_quantized_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hwcnn
    from hwcnn.cli.commands.tile import choose_tile
    from hwcnn.numerics import init_weights

    g = hwcnn.build_graph("models/tiny_cnn.yaml")
    npz = tmp_path / "w.npz"
    np.savez(npz, **init_weights(g, 3))
    tile = choose_tile(None, "models/tiny_cnn.yaml:conv2", "4x4", "os", 0, weights=str(npz))
    assert tile.a.shape == (4, 36) and tile.b.shape == (36, 8)
    assert tile.label.endswith(", quantized operands")
    # Independently: quantize the same way (4 calibration images from seed 0), run the golden
    # model on the first, and compute conv2 (3x3, no padding, 2x2 outputs) as a naive loop.
    qnet = hwcnn.quantize(g, weights=npz, seed=0)
    from hwcnn.numerics import calibration_inputs
    img = calibration_inputs(g.nodes["input"]["out_shape"], 4, 0)[0]
    x = hwcnn.run_golden(qnet, img).tensor(qnet, "pool1").astype(np.int64)   # (4, 4, 4)
    w = qnet.by_name["conv2"].weight.astype(np.int64)                     # (8, 4, 3, 3)
    naive = np.zeros((4, 8), np.int64)
    for oy in range(2):
        for ox in range(2):
            for f in range(8):
                naive[oy * 2 + ox, f] = sum(x[c, oy + ky, ox + kx] * w[f, c, ky, kx]
                                            for c in range(4) for ky in range(3)
                                            for kx in range(3))
    assert np.array_equal(tile.a @ tile.b, naive)
    assert sorted(tile.b[:, 5].tolist()) == sorted(w[5].ravel().tolist())
    assert not np.array_equal(tile.a @ tile.b, np.zeros_like(naive))
    r = CliRunner().invoke(cli, ["trace", "--gemm", "2x2x2", "--weights", str(npz)])
    assert r.exit_code == 2 and r.stderr == "hwcnn: error: --weights needs --layer MODEL:NAME\n"


def test_packed_depthwise_tile_with_weights_is_the_grouped_convolution(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A depthwise layer packs its 3 channels into one GEMM on 4x4 WS (tests/test_lower.py):
    its tile's A holds the 3 channels' taps and B the block-diagonal weights, so A @ B is the
    depthwise convolution, checked against a naive loop over the golden model's input."""
    import hwcnn
    from hwcnn.cli.commands.tile import choose_tile
    from hwcnn.numerics import calibration_inputs, init_weights

    spec = tmp_path / "dw.yaml"
    spec.write_text("name: dw\ninput: [3, 4, 4]\nlayers:\n"
                    "  - {name: dw, kind: conv2d, filters: 3, kernel: 3, padding: 1, groups: 3}\n")
    g = hwcnn.build_graph(str(spec))
    npz = tmp_path / "w.npz"
    np.savez(npz, **init_weights(g, 5))
    tile = choose_tile(None, f"{spec}:dw", "4x4", "ws", 0, weights=str(npz))
    assert tile.a.shape == (16, 27) and tile.b.shape == (27, 3)
    assert "3 groups per GEMM: 16x27x3" in tile.label
    qnet = hwcnn.quantize(g, weights=npz, seed=0)
    img = calibration_inputs(g.nodes["input"]["out_shape"], 4, 0)[0]
    x = hwcnn.run_golden(qnet, img).tensor(qnet, "input").astype(np.int64)   # (3, 4, 4)
    w = qnet.by_name["dw"].weight.astype(np.int64)                         # (3, 1, 3, 3)
    naive = np.zeros((16, 3), np.int64)
    for oy in range(4):
        for ox in range(4):
            for f in range(3):
                naive[oy * 4 + ox, f] = sum(
                    x[f, oy + ky - 1, ox + kx - 1] * w[f, 0, ky, kx]
                    for ky in range(3) for kx in range(3)
                    if 0 <= oy + ky - 1 < 4 and 0 <= ox + kx - 1 < 4)
    assert np.array_equal(tile.a @ tile.b, naive)
    assert np.count_nonzero(tile.b) <= 27 and not np.array_equal(naive, np.zeros_like(naive))


# -- two drain rows (--drain-rows 2, rtl/README.md 5-6) ------------------------------------------
# Hand table, OS 8x1x8 on 4x8 (the worked example of rtl/README.md 5): 2 folds of R = 4 rows.
# One drain row per cycle: P = max(R*ceil(k/R), C) = 8, row i of fold g is read at fold cycle
# g*P + k + C + i and written 3 later, cycle 1 + 8g + 1 + 8 + i + 3 = 13 + 8g + i;
# T = 1 + P + (k + R + C + 3) = 25. Two drain rows: P = max(4, ceil(4/2), ceil((8 + 2)/2)) = 5,
# pair q of fold g read at fold cycle g*P + k + C + floor(R/2) + q, so rows 4g + 2q and
# 4g + 2q + 1 are written together in cycle 1 + 5g + 1 + 8 + 2 + q + 3 = 15 + 5g + q;
# T = 1 + 5 + 16 = 22.
D2_ARGS = ["trace", "--gemm", "8x1x8", "--array", "4x8", "--dataflow", "os"]
D1_WRITES = {i + 4 * g: 13 + 8 * g + i for g in range(2) for i in range(4)}
D2_WRITES = {4 * g + 2 * q + h: 15 + 5 * g + q for g in range(2) for q in range(2)
             for h in range(2)}


def _seeded_8x1x8() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)   # the CLI's documented seeding: A then B, in -4..4
    return rng.integers(-4, 5, (8, 1)), rng.integers(-4, 5, (1, 8))


def _writes_by_cycle(text: str) -> dict[int, list[tuple[int, int, list[int]]]]:
    """cycle -> [(output row, first column, the values)] of the 'write out[...]' lines of
    every frame."""
    res: dict[int, list[tuple[int, int, list[int]]]] = {}
    for frame in text.rstrip("\n").split("\n\n"):
        head = re.match(r"cycle (\d+)/", frame)
        assert head is not None
        res[int(head[1])] = [
            (int(m[1]), int(m[2]), [int(v) for v in m[4].split()]) for m in
            re.finditer(r"^  write out\[(\d+), (\d+):(\d+)\] = (.*)$", frame, re.MULTILINE)]
    return res


def test_two_drain_rows_trace_is_the_hand_table() -> None:
    a, b = _seeded_8x1x8()
    out = np.clip(a @ b, -128, 127)
    for drain, total, writes in ((1, 25, D1_WRITES), (2, 22, D2_WRITES)):
        arr = ArrayConfig(rows=4, cols=8, dataflow=OS, drain_rows=drain)
        assert gemm_tile_cycles(8, 8, 1, arr) == total
        t = tr.record(a, b, arr)
        assert t.cycles == total
        assert t.produced() == {(i, j): writes[i] for i in range(8) for j in range(8)}
        assert np.array_equal(t.out, out)
        r = CliRunner().invoke(cli, [*D2_ARGS, "--drain-rows", str(drain)])
        assert r.exit_code == 0, r.output
        frames = _writes_by_cycle(r.stdout)
        assert sorted(frames) == list(range(1, total + 1))
        assert r.stdout.startswith(f"cycle 1/{total} (fill)")
        # every output row written once, with clip(A @ B), in its hand-table cycle
        seen = sorted((row, cycle, c0, vals) for cycle, ws in frames.items()
                      for row, c0, vals in ws)
        assert seen == [(i, writes[i], 0, out[i].tolist()) for i in range(8)]
        per_cycle = sorted({len(ws) for ws in frames.values()})
        assert per_cycle == ([0, 1] if drain == 1 else [0, 2])
    # d2, cycle 15: the pair (0, 1) of fold 0, even row first (first back end, then second)
    assert frames[15] == [(0, 0, out[0].tolist()), (1, 0, out[1].tolist())]


def test_two_drain_rows_in_every_view(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = _seeded_8x1x8()
    out = np.clip(a @ b, -128, 127)
    page = tmp_path / "t.html"
    r = CliRunner().invoke(cli, [*D2_ARGS, "--drain-rows", "2", "-o", str(page)])
    assert r.exit_code == 0, r.output
    body = page.read_text()
    assert "<title>8x1x8 GEMM on a 4x8 OS array with 2 drain rows, 22 cycles</title>" in body
    frames = json.loads(re.search(r"const F=(\[.*?\]);const c", body, re.DOTALL)[1])
    assert len(frames) == 22
    cycle20 = frames[20 - 1]
    assert cycle20.startswith("cycle 20/22 (drain)")
    rows = [f"  write out[{i}, 0:8] = " + " ".join(str(v) for v in out[i]) for i in (4, 5)]
    assert "\n".join(rows) in cycle20
    # the terminal view: the same two lines in cycle 20 (rich, colours stripped)
    from hwcnn.cli.commands import trace as cmd

    monkeypatch.setattr(cmd, "color_terminal", lambda: True)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    r = CliRunner().invoke(cli, [*D2_ARGS, "--drain-rows", "2", "--cycles", "20..20"])
    assert r.exit_code == 0, r.output
    assert "\x1b[" in r.stdout
    lines = _plain(r.stdout).splitlines()
    assert lines[0].startswith("cycle 20/22 (drain)")
    assert [x for x in lines if "write" in x] == rows


def test_drain_rows_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.html"
    for args, msg in (
            (["--gemm", "2x2x2", "--dataflow", "os", "--drain-rows", "3"],
             "--drain-rows must be 1 or 2, not '3'"),
            (["--gemm", "2x2x2", "--array", "4x4", "--drain-rows", "2"],
             "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 4x4 ws"),
            (["--gemm", "2x2x2", "--array", "1x4", "--dataflow", "os", "--drain-rows", "2"],
             "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 1x4 os"),
            (["--layer", "models/tiny_cnn.yaml:conv2", "--array", "4x4", "--drain-rows", "2"],
             "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 4x4 ws"),
            (["--layer", "models/tiny_cnn.yaml:conv2", "--dataflow", "os", "--drain-rows", "0"],
             "--drain-rows must be 1 or 2, not '0'")):
        r = CliRunner().invoke(cli, ["trace", *args, "-o", str(out)])
        assert r.exit_code == 2 and r.stderr == f"hwcnn: error: {msg}\n", r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)
    assert list(tmp_path.iterdir()) == []


def test_layer_tile_with_two_drain_rows() -> None:
    # tiny_cnn conv2 (M = 4, K = 36, N = 8) on 4x4 OS: 2 folds (N), P = max(36, 2, 3) = 36,
    # T = 1 + 36 + (36 + 4 + 4 + 3) = 84 with two drain rows (rtl/README.md 5); one drain row:
    # P = max(36, 4, 4) = 36 too, the same 84 cycles (k dominates the period).
    arr = ArrayConfig(rows=4, cols=4, dataflow=OS, drain_rows=2)
    assert gemm_tile_cycles(4, 8, 36, arr) == 84
    r = CliRunner().invoke(cli, ["trace", "--layer", "models/tiny_cnn.yaml:conv2", "--array",
                                 "4x4", "--dataflow", "os", "--drain-rows", "2"])
    assert r.exit_code == 0, r.output
    frames = _writes_by_cycle(r.stdout)
    assert max(frames) == 84 and r.stdout.rstrip().endswith("done")
    # 4 rows x 2 N-folds, each written once, two per cycle (a row pair of one N-fold)
    rows = [(row, c0) for ws in frames.values() for row, c0, _ in ws]
    assert sorted(rows) == [(i, c0) for i in range(4) for c0 in (0, 4)]
    assert {len(ws) for ws in frames.values()} == {0, 2}
