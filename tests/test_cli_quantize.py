"""``hwcnn quantize`` and ``hwcnn run``: reports, outputs, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwcnn.cli.main import cli
from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.numerics.golden import run_network
from hwcnn.numerics.quantize import calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights

MODELS = Path(__file__).resolve().parents[1] / "models"
TINY = str(MODELS / "tiny_cnn.yaml")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hwcnn: error:"), result.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_quantize_table() -> None:
    r = invoke("quantize", TINY, "-n", "3")
    assert r.exit_code == 0, r.output
    for word in ("conv1", "pool1", "conv2", "fc", "SQNR dB", "saturated", "int8*",
                 "top-1 agreement golden vs float64 at 'fc':"):
        assert word in r.output
    assert "/3" in r.output


def test_quantize_json_pow2_and_file(tmp_path) -> None:
    out = tmp_path / "q.json"
    r = invoke("quantize", TINY, "-n", "2", "--scales", "pow2", "-f", "json", "-o", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert [row["name"] for row in doc["layers"]] == ["input", "conv1", "pool1", "conv2", "fc"]
    assert doc["layers"][1]["format"].startswith("Q") and doc["n_inputs"] == 2
    assert doc["policy"]["scales"] == "pow2"
    assert all(isinstance(row["saturated"], int) for row in doc["layers"])


def test_quantize_with_weights_file(tmp_path) -> None:
    g = build_graph(load_spec(TINY))
    params = init_weights(g, seed=5)
    w = tmp_path / "w.npz"
    np.savez(w, **params)
    r = invoke("quantize", TINY, "--weights", str(w), "--seed", "5", "-n", "2", "-f", "json")
    assert r.exit_code == 0, r.output
    r2 = invoke("quantize", TINY, "--seed", "5", "-n", "2", "-f", "json")
    a, b = json.loads(r.output), json.loads(r2.output)
    assert [x["format"] for x in a["layers"]] == [x["format"] for x in b["layers"]]


@pytest.mark.parametrize("mutate,needle", [
    (lambda p: p.pop("conv2.bias"), "missing tensor 'conv2.bias'"),
    (lambda p: p.update({"conv9.weight": np.zeros(2)}), "unexpected tensor 'conv9.weight'"),
    (lambda p: p.update({"fc.weight": np.zeros((10, 31))}), "'fc.weight' has shape [10, 31]"),
])
def test_bad_weights_file(tmp_path, mutate, needle) -> None:
    g = build_graph(load_spec(TINY))
    params = init_weights(g)
    mutate(params)
    w = tmp_path / "w.npz"
    np.savez(w, **params)
    out = tmp_path / "o.npz"
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 8, 8), dtype=np.int8))
    one_line_error(invoke("quantize", TINY, "--weights", str(w)), needle, "w.npz")
    one_line_error(invoke("run", TINY, "--weights", str(w), "--input", str(x), "-o", str(out)),
                   needle)
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--act-bits", "--weight-bits"])
@pytest.mark.parametrize("bits", ["1", "17", "33"])
def test_unsupported_bit_widths(flag, bits) -> None:
    one_line_error(invoke("quantize", TINY, flag, bits), "unsupported", bits)


def test_run_writes_every_layer_reproducibly(tmp_path) -> None:
    x = tmp_path / "x.npy"
    img = np.random.default_rng(0).integers(-128, 128, size=(1, 8, 8)).astype(np.int8)
    np.save(x, img)
    o1, o2 = tmp_path / "a.npz", tmp_path / "b.npz"
    assert invoke("run", TINY, "--input", str(x), "-o", str(o1)).exit_code == 0
    assert invoke("run", TINY, "--input", str(x), "-o", str(o2)).exit_code == 0
    assert o1.read_bytes() == o2.read_bytes()
    z = np.load(o1)
    assert sorted(z.files) == ["conv1", "conv2", "fc", "input", "pool1"]
    # same options -> the same network as the API builds
    g = build_graph(load_spec(TINY))
    params = init_weights(g, 0)
    q = quantize_network(g, params, calibration_inputs(g.nodes["input"]["out_shape"], 4, 0))
    res = run_network(q, img)
    for k in z.files:
        assert np.array_equal(z[k], res.tensors[k]), k


def test_run_float_batch_and_layer_selection(tmp_path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(1).uniform(-1, 1, size=(3, 1, 8, 8)))
    out = tmp_path / "o.npz"
    r = invoke("run", TINY, "--input", str(x), "-o", str(out), "--layers", "fc, pool1")
    assert r.exit_code == 0, r.output
    z = np.load(out)
    assert sorted(z.files) == ["fc", "pool1"]
    assert z["fc"].shape == (3, 10) and z["pool1"].shape == (3, 4, 4, 4)


@pytest.mark.parametrize("arr,needle", [
    (np.zeros((2, 8, 8), dtype=np.int8), "expected [1, 8, 8]"),
    (np.zeros((1, 8, 8), dtype=complex), "dtype"),
    (np.zeros((1, 8, 8), dtype=bool), "dtype"),
    (np.full((1, 8, 8), 200, dtype=np.int16), "outside the input format"),
    (np.full((1, 8, 8), np.nan), "NaN"),
])
def test_run_bad_input(tmp_path, arr, needle) -> None:
    x = tmp_path / "x.npy"
    np.save(x, arr)
    out = tmp_path / "o.npz"
    one_line_error(invoke("run", TINY, "--input", str(x), "-o", str(out)), needle, "x.npy")
    assert not out.exists()


def test_run_unknown_layer_and_missing_input(tmp_path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 8, 8), dtype=np.int8))
    out = tmp_path / "o.npz"
    one_line_error(invoke("run", TINY, "--input", str(x), "-o", str(out), "--layers", "nope"),
                   "'nope' is not a layer")
    one_line_error(invoke("run", TINY, "--input", str(tmp_path / "none.npy"), "-o", str(out)),
                   "not found")
    assert not out.exists()


def test_quantize_with_calibration_and_evaluation_files(tmp_path) -> None:
    cal, ev = tmp_path / "cal.npy", tmp_path / "ev.npy"
    rng = np.random.default_rng(3)
    np.save(cal, rng.uniform(-2, 2, size=(5, 1, 8, 8)))
    np.save(ev, rng.uniform(-2, 2, size=(1, 8, 8)))
    r = invoke("quantize", TINY, "--calib", str(cal), "--inputs", str(ev), "-f", "json",
               "--calibration", "percentile", "--percentile", "99")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["n_inputs"] == 1 and doc["policy"]["calibration"] == "percentile"
    # input scale = 99th percentile of |calibration inputs| / 127
    vals = np.abs(np.load(cal)).ravel()
    assert doc["layers"][0]["format"] == f"int8*{np.percentile(vals, 99) / 127:.4g}"
    np.save(cal, rng.uniform(-2, 2, size=(5, 2, 8, 8)))
    one_line_error(invoke("quantize", TINY, "--calib", str(cal)), "cal.npy", "expected [1, 8, 8]")
