"""``hwcnn verify`` and the comparison records of :mod:`hwcnn.machine.verification`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwcnn.machine import execution as EX
from hwcnn.machine.verification import LayerCheck, Mismatch
from tests.cli_run import run_cli

MODELS = Path(__file__).resolve().parents[1] / "models"
TINY = str(MODELS / "tiny_cnn.yaml")


@pytest.mark.parametrize("df", ["ws", "os"])
def test_cli_tiny_cnn_cyclesim_matches(df: str, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["verify", TINY, "--array", "3x2", "--dataflow", df, "--engine", "cyclesim"],
                capsys)
    assert r.code == 0, (r.err, r.crash)
    lines = r.out.splitlines()
    assert lines[0] == f"tiny_cnn on 3x2 {df}, engine cyclesim, seed 0"
    rows = {ln.split()[0]: ln.split() for ln in lines[2:-2]}
    assert set(rows) == {"input", "conv1", "pool1", "conv2", "fc"}
    for name in ("conv1", "pool1", "conv2", "fc"):
        _unit, tiles, cycles, predicted, match = rows[name][1:6]
        assert int(tiles) >= 1 and cycles == predicted and match == "yes", rows[name]
    # pool1: 4 channels on 2 lanes -> 2 tiles of 1 + 4x4 pixels x 4 taps + 4 = 69.
    assert rows["pool1"][2:5] == ["2", "138", "138"]
    assert lines[-1] == "all layers match"


def test_cli_reports_a_mismatch(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    real = EX.gather_gemm

    def corrupt(d, t):  # type: ignore[no-untyped-def]
        a, b, bias, rq = real(d, t)
        if t.layer == "conv2":
            a = np.zeros_like(a)
            bias = bias + 10 ** 7           # every output saturates to 127
        return a, b, bias, rq

    monkeypatch.setattr(EX, "gather_gemm", corrupt)
    r = run_cli(["verify", TINY, "--array", "4x4"], capsys)
    assert r.code == 1, (r.err, r.crash)
    err = r.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mismatch: layer 'conv2' tile 0 at [0, ")
    assert "expected " in err[0] and err[0].endswith("got 127")
    assert "all layers match" not in r.out


@pytest.mark.parametrize("args, needle", [
    (["--array", "0x4"], "--array"),
    (["--dataflow", "xs"], "dataflow"),
    (["--board", "no-such-board"], "no-such-board"),
])
def test_cli_bad_input_exits_2(args: list[str], needle: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["verify", TINY, *args], capsys)
    assert r.code == 2 and r.crash is None
    assert r.err.count("\n") == 1 and needle in r.err


def test_cli_quantization_options_and_input_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # The quantize options reach the network that is verified: with power-of-two scales every
    # requantization multiplier is 1, so the cycle-exact run must still match bit for bit.
    r = run_cli(["verify", TINY, "--array", "4x4", "--scales", "pow2", "--per-tensor",
                 "--rounding", "half_even", "--seed", "3"], capsys)
    assert r.code == 0 and r.out.splitlines()[0].endswith("seed 3"), (r.err, r.crash)
    img = tmp_path / "img.npy"
    np.save(img, np.arange(64, dtype=np.int8).reshape(1, 8, 8) - 32)
    r = run_cli(["verify", TINY, "--array", "4x4", "--input", str(img)], capsys)
    assert r.code == 0 and r.out.splitlines()[-1] == "all layers match", (r.err, r.crash)
    batch = tmp_path / "batch.npy"
    np.save(batch, np.zeros((2, 1, 8, 8), dtype=np.float32))
    r = run_cli(["verify", TINY, "--array", "4x4", "--input", str(batch)], capsys)
    assert r.code == 2 and r.crash is None and "batch of 2" in r.err


def test_cli_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["verify", str(tmp_path / "none.yaml")], capsys)
    assert r.code == 2 and r.crash is None and "none.yaml" in r.err


def test_mismatch_text_names_everything() -> None:
    m = Mismatch(layer="flat", tile_layer="c1", tile=3, coordinate=(7,), expected=5, actual=-2)
    assert str(m) == "layer 'flat' tile 3 of 'c1' at [7]: expected 5, got -2"
    m = Mismatch(layer="input", tile_layer="input", tile=None, coordinate=(0, 1, 2),
                 expected=1, actual=2)
    assert str(m) == "layer 'input' no tile at [0, 1, 2]: expected 1, got 2"


def test_layer_check_refuses_inconsistent_records() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        LayerCheck(name="x", unit="array", host="x", represents="x", tiles=1, cycles=1,
                   predicted_cycles=1, match=True, mismatches=2, first=None,
                   cycle_mismatch=None)


def test_two_drain_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """--drain-rows 2 on the golden kernels and on the stepped tile model (every tile its
    predicted cycles)."""
    for engine in ("golden", "cyclesim"):
        ok = run_cli(["verify", TINY, "--array", "4x4", "--dataflow", "os", "--drain-rows", "2",
                      "--engine", engine], capsys)
        assert ok.code == 0, ok.err
        assert "4x4 os" in ok.out
