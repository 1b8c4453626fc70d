"""``hwcnn explain --layer NAME --array RxC --dataflow D``: the cycle formula worked out.

The expected text is worked by hand (rtl/README.md 5) for tiny_cnn's conv2: input 8x8x1, conv1
(pad 1) 8x8x4, pool1 2x2 -> 4x4x4, conv2 3x3 no pad -> 2x2x8; as a GEMM M = 2*2 = 4,
K = 3*3*4 = 36, N = 8, one tile (m=4, n=8, k=36) on a 4x4 array.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hwcnn.cli.main import cli

MODEL = "models/tiny_cnn.yaml"

# WS: G = ceil(36/4) * ceil(8/4) = 9 * 2 = 18; P = max(m=4, R=4, 3) = 4;
# last fold 4 + 4 + 8 + 3 = 19; T = 1 + 18*4 + (19 - 4) = 1 + 72 + 15 = 88
# (= 1 + (G-1)*P + (m + 2R + C + 3) = 1 + 68 + 19).
WS = """\
  cycles on a 4x4 WS array (R = 4, C = 4), 100 MHz:
    GEMM (im2col): M = 4 output positions, K = 36 (one filter's weights), N = 8 (outputs)
    tiles: 1 (1 of m=4 n=8 k=36)
    tile m=4 n=8 k=36 (1 tile):
      folds G = ceil(k/R) * ceil(n/C) = 9 * 2 = 18
      fold period P = max(m, R, 3) = max(4, 4, 3) = 4
      one fold, first read to done: R (weight loads) + m (activation rows) + R+C (array, de-skew) + 3 (post-processing) = 4 + 4 + 8 + 3 = 19
      start: 1 (descriptor latched)
      steady state: G*P = 18*4 = 72
      fill + drain, paid once: 19 - P = 19 - 4 = 15
      T = 1 + 72 + 15 = 88 cycles per tile
    compute: 1*88 = 88 cycles
"""

# OS: G = ceil(4/4) * ceil(8/4) = 1 * 2 = 2; P = max(R*ceil(k/R) = 36, C = 4) = 36; last fold
# 36 + 4 + 4 + 3 = 47; T = 1 + 2*36 + (47 - 36) = 1 + 72 + 11 = 84 (= 1 + 36 + 47).
OS = """\
  cycles on a 4x4 OS array (R = 4, C = 4), 100 MHz:
    GEMM (im2col): M = 4 output positions, K = 36 (one filter's weights), N = 8 (outputs)
    tiles: 1 (1 of m=4 n=8 k=36)
    tile m=4 n=8 k=36 (1 tile):
      folds G = ceil(m/R) * ceil(n/C) = 1 * 2 = 2
      fold period P = max(R*ceil(k/R), C) = max(36, 4) = 36
      one fold, first read to done: k (reads) + C (latency + skew) + R (drain rows) + 3 (post-processing) = 36 + 4 + 4 + 3 = 47
      start: 1 (descriptor latched)
      steady state: G*P = 2*36 = 72
      fill + drain, paid once: 47 - P = 47 - 36 = 11
      T = 1 + 72 + 11 = 84 cycles per tile
    compute: 1*84 = 84 cycles
"""


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def _check(flow: str, expected: str, cycles: int) -> None:
    code, out, _ = _run("explain", MODEL, "--layer", "conv2", "--array", "4x4", "--dataflow", flow)
    assert code == 0
    assert out.startswith("conv2 (conv2d)\n  8 filters 3x3")
    assert expected in out
    tail = out.split(expected, 1)[1].splitlines()
    assert tail[0].startswith("    DRAM stalls (double-buffered transfer model): ")
    stall = int(tail[0].rsplit(": ", 1)[1].split()[0].replace(",", ""))
    assert tail[1] == (f"    total: {cycles} + {stall} = {cycles + stall} cycles = "
                       f"{(cycles + stall) / 100:.3f} us at 100 MHz")


def test_ws_conv2_by_hand() -> None:
    _check("ws", WS, 88)


def test_os_conv2_by_hand() -> None:
    _check("os", OS, 84)


def test_negative_control_other_array_changes_numbers() -> None:
    code, out, _ = _run("explain", MODEL, "--layer", "conv2", "--array", "2x2", "--dataflow", "ws")
    assert code == 0 and WS not in out and "cycles on a 2x2 WS array" in out


def test_without_hardware_options_no_cycles() -> None:
    code, out, _ = _run("explain", MODEL, "--layer", "conv2")
    assert code == 0 and "cycles on" not in out


def test_not_a_gemm_layer() -> None:
    code, _, err = _run("explain", MODEL, "--layer", "pool1", "--array", "4x4")
    assert code == 2
    assert err == (f"hwcnn: error: {MODEL}: pool1: the cycle explanation needs a conv or dense "
                   "layer, not maxpool\n")


def test_cycles_need_a_layer() -> None:
    code, _, err = _run("explain", MODEL, "--array", "4x4")
    assert code == 2
    assert err == f"hwcnn: error: {MODEL}: the cycle explanation needs --layer NAME\n"


def test_depthwise_layer_explains_its_packed_gemm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 3 channels 4x4, depthwise 3x3 pad 1 on 4x4 WS: packed 3 groups per GEMM, M = 16,
    # K = 3*9 = 27, N = 3; G = ceil(27/4) * ceil(3/4) = 7, P = max(16, 4, 3) = 16, last fold
    # 4 + 16 + 8 + 3 = 31, T = 1 + 7*16 + (31 - 16) = 128 (tests/test_lower.py).
    spec = tmp_path / "dw.yaml"
    spec.write_text("name: dw\ninput: [3, 4, 4]\nlayers:\n"
                    "  - {name: dw, kind: conv2d, filters: 3, kernel: 3, padding: 1, groups: 3}\n")
    code, out, _ = _run("explain", str(spec), "--layer", "dw", "--array", "4x4", "--dataflow",
                        "ws")
    assert code == 0
    assert ("    GEMM (im2col): M = 16 output positions, K = 9 (one filter's weights), N = 1 "
            "(outputs), 3 groups\n"
            "    packed 3 groups per GEMM (block-diagonal weights, zeros off the diagonal): "
            "1 GEMM of M = 16, K = 3*9 = 27, N = 3*1 = 3\n"
            "    tiles: 1 (1 of m=16 n=3 k=27)\n") in out
    assert "      T = 1 + 112 + 15 = 128 cycles per tile\n" in out


@pytest.mark.parametrize("flow", ["ws", "os"])
@pytest.mark.parametrize("line", [
    # both dataflows (one activation layout): conv2's pixel is one descriptor of 3 kernel
    # rows of 3 x 4 channels = 12 bytes on the Arty's 16-byte port, starting at multiples of
    # 4 bytes (offsets 0, 4, 8, 12: 1, 1, 2, 2 beats): 1.5 a row, 4.5 a pixel; walker 4 + 3 =
    # 7; two transfers in flight (16 + S 4 + 4.5 + 1) / 2 = 12.75; runs ceil(36/4) = 9;
    # 62 + ceil(4 * 12.75) = 113
    ("    A gather of a tile of m=4 k=36 on the load unit (LOAD2D): 62 (set-up) + "
     "ceil(m*pace) = 62 + ceil(4*12.75) = 113 cycles; pace per output pixel (one descriptor "
     "of 3 DMA rows of 12 bytes) = max(beats, 4 + max(kh, kw), (latency + S + beats + 1)/2, "
     "runs) = max(4.5, 7, 12.75, 9), beats = 3*1.5 (a row's beats on the 16-byte port), S = "
     "4, latency 16, runs = ceil(k/4)\n")])
def test_board_explains_the_gather(flow: str, line: str) -> None:
    code, out, _ = _run("explain", MODEL, "--layer", "conv2", "--board", "arty-a7-100t",
                        "--array", "4x4", "--dataflow", flow)
    assert code == 0 and line in out
    assert "DRAM stalls (double-buffered transfer model, loads at least the A gather)" in out
    # without a board (the tile engine, no memory port) no gather
    code, out, _ = _run("explain", MODEL, "--layer", "conv2", "--array", "4x4",
                        "--dataflow", flow)
    assert code == 0 and "A gather" not in out
