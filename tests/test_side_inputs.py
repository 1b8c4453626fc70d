"""Side inputs (--weights W.npz, --calib X.npy, --input/--inputs X.npy) checked from their headers.

Issue 9 item 4: every hostile file is made here (headers declaring TiBs written by hand, a deflate
bomb streamed through zipfile, pickles, an .npy given as --weights, an empty batch, absurd and
subnormal values, a deep chain whose float activations under/overflow) and must give one line
naming the file (and the key or layer), exit status 2, nothing left behind, < 2 s and < 500 MB.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hwcnn.numerics import weights as W
from hwcnn.numerics.golden import sqnr_db
from tests.cli_run import run_cli
from tests.conftest import MODELS, model_graph
from tests.refusal import refused

TINY = str(MODELS / "tiny_cnn.yaml")
SHAPES = {"conv1.weight": (4, 1, 3, 3), "conv1.bias": (4,), "conv2.weight": (8, 4, 3, 3),
          "conv2.bias": (8,), "fc.weight": (10, 32), "fc.bias": (10,)}


def _params(scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {k: rng.normal(0, 0.3, s) * scale for k, s in SHAPES.items()}


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def _err(where: Path | str, text: str) -> str:
    return re.escape(f"hwcnn: error: {where}: {text}")


def test_expected_shapes_are_the_tiny_networks() -> None:
    assert W.expected_shapes(model_graph("tiny_cnn")) == SHAPES


# -- weights ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, key, text", [
    (1e300, "conv1.weight", "has a value of magnitude {peak:.3g}, more than the 1e+30 hwcnn accepts"),
])
def test_absurd_weights_are_refused_naming_file_and_key(scale, key, text, tmp_path, capsys) -> None:
    p = _params(scale)
    np.savez(tmp_path / "w.npz", **p)
    peak = float(np.abs(p[key]).max())
    refused(["quantize", TINY, "--weights", str(tmp_path / "w.npz")], capsys, tmp_path,
            _err(tmp_path / "w.npz", f"tensor {key!r} " + text.format(peak=peak)))


def test_nan_weights_are_refused(tmp_path, capsys) -> None:
    p = _params()
    p["fc.bias"][3] = np.nan
    np.savez(tmp_path / "w.npz", **p)
    refused(["quantize", TINY, "--weights", str(tmp_path / "w.npz")], capsys, tmp_path,
            _err(tmp_path / "w.npz", "tensor 'fc.bias' contains NaN or infinity"))


def test_subnormal_values_are_flushed_to_zero(tmp_path, capsys) -> None:
    p = _params()
    p["conv2.weight"][:] = 5e-324                      # the smallest float64 subnormal
    p["conv1.bias"][:] = np.float32(1e-40)             # a float32 subnormal
    p["fc.weight"][0, 0] = 2.0 ** -101                 # normal, but below FLUSH_BELOW
    np.savez(tmp_path / "w.npz", **p)
    loaded = W.load_weights(tmp_path / "w.npz", model_graph("tiny_cnn"))
    assert not loaded["conv2.weight"].any() and not loaded["conv1.bias"].any()
    assert loaded["fc.weight"][0, 0] == 0.0 and loaded["fc.weight"][0, 1] == p["fc.weight"][0, 1]
    r = run_cli(["quantize", TINY, "--weights", str(tmp_path / "w.npz"), "-n", "2"], capsys)
    assert r.code == 0 and r.crash is None, (r.err, r.crash)


def test_npy_given_as_weights(tmp_path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.zeros(3))
    refused(["quantize", TINY, "--weights", str(tmp_path / "w.npy")], capsys, tmp_path,
            _err(tmp_path / "w.npy", "is a .npy array; --weights takes a .npz archive of "
                                     "'<layer>.<param>' tensors (numpy.savez)"))


def test_member_header_declaring_a_tib_is_refused_without_reading(tmp_path, capsys) -> None:
    p = _params()
    path = tmp_path / "w.npz"
    np.savez(path, **{k: v for k, v in p.items() if k != "fc.weight"})
    with zipfile.ZipFile(path, "a") as zf:   # right shape, data of 1 TiB declared, 80 B stored
        zf.writestr("fc.weight.npy", _npy_header((10, 32), "<f8")[:-1] + b"\n" + b"\0" * 80)
    big = tmp_path / "big.npz"
    with zipfile.ZipFile(big, "w") as zf:
        for k, v in p.items():
            shape = (1 << 37,) if k == "conv1.weight" else v.shape
            zf.writestr(f"{k}.npy", _npy_header(shape) + v.tobytes()[:64])
    refused(["quantize", TINY, "--weights", str(path)], capsys, tmp_path,
            _err(path, "tensor 'fc.weight': header declares shape [10, 32] (2,560 bytes of "
                       "data), the file holds 80"))
    refused(["quantize", TINY, "--weights", str(big)], capsys, tmp_path,
            _err(big, "tensor 'conv1.weight' has shape [137438953472], expected [4, 1, 3, 3]"))


def test_deflate_bomb_is_not_inflated(tmp_path, capsys) -> None:
    """64 MiB of zeros deflate to ~64 KiB; the header's shape and size are checked first."""
    p = _params()
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k, v in p.items():
            if k == "conv2.weight":
                with zf.open(f"{k}.npy", "w") as fh:
                    fh.write(_npy_header(v.shape) + v.tobytes())
                    chunk = b"\0" * (1 << 20)
                    for _ in range(64):
                        fh.write(chunk)
            else:
                zf.writestr(f"{k}.npy", _npy_header(v.shape) + v.tobytes())
    assert path.stat().st_size < 1 << 20
    refused(["quantize", TINY, "--weights", str(path)], capsys, tmp_path,
            _err(path, "tensor 'conv2.weight': header declares shape [8, 4, 3, 3] (2,304 bytes "
                       f"of data), the file holds {2304 + (64 << 20):,}"))


def test_member_count_is_read_from_the_end_record(tmp_path, capsys) -> None:
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(45):   # 2 x 6 tensors + 16 optional keys + 16 = 44 at most
            zf.writestr(f"x{i}.npy", b"")
    assert W.zip_entries(str(path), path.stat().st_size) == 45
    refused(["quantize", TINY, "--weights", str(path)], capsys, tmp_path,
            _err(path, "archive declares 45 members, the network has 6 tensors and 16 optional "
                       "keys"))


@pytest.mark.parametrize("make, text", [
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "object arrays (pickles) are refused"),
    (lambda p: np.save(p, np.zeros((1, 8, 8), dtype=complex)),
     "dtype complex128 is refused; expected a plain integer or float array"),
    (lambda p: np.save(p, np.zeros((1, 8, 8), dtype=bool)),
     "dtype bool is refused; expected a plain integer or float array"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x07\x00junk"),
     ".npy format version 7.0 is not supported (1.0 or 2.0)"),
    (lambda p: p.write_bytes(_npy_header((1 << 31, 1, 8, 8))),
     ("header declares shape [2147483648, 1, 8, 8] (1,099,511,627,776 bytes of data), the file "
     "holds 0")),
    # header length cut to 40: NumPy's tokenizer meets the end inside the dict (a fuzz find)
    (lambda p: p.write_bytes(_npy_header((2, 1, 8, 8))[:8] + b"\x28\x00"
                             + _npy_header((2, 1, 8, 8))[10:]),
     "not a readable .npy array (('EOF in multi-line statement', (2, 0)))"),
    (lambda p: np.save(p, np.zeros((0, 1, 8, 8))), "calibration input batch is empty (shape [0, 1, 8, 8])"),
    (lambda p: np.save(p, np.full((2, 1, 8, 8), 1e308)),
     "calibration input has a value of magnitude 1e+308, more than the 1e+30 hwcnn accepts"),
    (lambda p: np.savez(p, x=np.zeros(3)),
     "calibration input file is a .npz archive; expected a .npy array"),
])
def test_bad_calibration_files(make, text, tmp_path, capsys) -> None:
    path = tmp_path / "x.npy"
    make(path)
    if path.with_suffix(".npy.npz").exists():
        path.with_suffix(".npy.npz").rename(path)
    refused(["quantize", TINY, "--calib", str(path)], capsys, tmp_path, _err(path, text))


def test_empty_batches_are_refused_everywhere(tmp_path, capsys) -> None:
    path = tmp_path / "e.npy"
    np.save(path, np.zeros((0, 1, 8, 8), dtype=np.int8))
    out = tmp_path / "o.npz"
    for args, what in ((["quantize", TINY, "--inputs", str(path)], "input"),
                       (["run", TINY, "--input", str(path), "-o", str(out)], "input"),
                       (["verify", TINY, "--array", "4x4", "--input", str(path)], "input")):
        refused(args, capsys, tmp_path, _err(path, f"{what} batch is empty (shape [0, 1, 8, 8])"))


# -- degenerate statistics ------------------------------------------------------------------------

def test_sqnr_is_defined_on_degenerate_data() -> None:
    assert sqnr_db(4.0, 0.0) == float("inf")        # exact
    assert sqnr_db(0.0, 0.0) == float("inf")        # an all-zero layer reproduced exactly
    assert sqnr_db(0.0, 1.0) == float("-inf")
    assert sqnr_db(100.0, 1.0) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        sqnr_db(float("inf"), 1.0)


def test_zero_error_prints_exact(tmp_path, capsys) -> None:
    """All-zero weights: every layer's float output is its bias, which the golden model holds
    exactly when it is a multiple of the scale -- here 0, so every error is 0."""
    np.savez(tmp_path / "w.npz", **{k: np.zeros(s) for k, s in SHAPES.items()})
    r = run_cli(["quantize", TINY, "--weights", str(tmp_path / "w.npz"), "-n", "2", "-f", "json"],
                capsys)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {row["sqnr_db"] for row in doc["layers"] if row["kind"] != "input"} == {"exact"}
    assert doc["n_inputs"] == 2 and doc["top1_agree"] == 2
    r = run_cli(["quantize", TINY, "--weights", str(tmp_path / "w.npz"), "-n", "2"], capsys)
    assert "exact" in r.out and " inf " not in r.out
    assert "top-1 agreement golden vs float64 at 'fc': 2/2" in r.out


# -- magnitudes that drift through a deep network ---------------------------------------------

def _chain(tmp_path: Path, n: int, weight: float) -> tuple[str, str]:
    lines = ["name: chain", "input: [1, 2, 2]", "layers:"]
    lines += [f"  - {{name: c{i}, kind: conv2d, filters: 1, kernel: 1, bias: false}}"
              for i in range(n)]
    spec = tmp_path / "chain.yaml"
    spec.write_text("\n".join(lines) + "\n")
    np.savez(tmp_path / "w.npz", **{f"c{i}.weight": np.full((1, 1, 1, 1), weight)
                                    for i in range(n)})
    return str(spec), str(tmp_path / "w.npz")


def test_deep_chain_overflow_names_the_layer(tmp_path, capsys) -> None:
    # 1e9 per layer: |x| < 1 grows past float64's 1.8e308 after at most 35 layers
    spec, w = _chain(tmp_path, 60, 1e9)
    refused(["quantize", spec, "--weights", w, "-n", "1", "--calib-n", "1"], capsys, tmp_path,
            re.escape(f"hwcnn: error: {spec}: layer 'c") + r"3[0-5]"
            + re.escape("': the float64 reference overflows (values beyond 1e308) on the "
                        "calibration inputs"))


def test_deep_chain_decay_counts_tiny_tensors_as_zero(tmp_path, capsys) -> None:
    # 1e-9 per layer: the activations pass through the subnormals to 0 after ~36 layers;
    # below 2**-100 a tensor is quantized as zero (scale 1), so the run is well defined.
    spec, w = _chain(tmp_path, 60, 1e-9)
    r = run_cli(["quantize", spec, "--weights", w, "-n", "1", "--calib-n", "1", "-f", "json"],
                capsys)
    assert r.code == 0 and r.crash is None, (r.err, r.crash)
    rows = {row["name"]: row for row in json.loads(r.out)["layers"]}
    assert rows["c2"]["format"] != "int8*1"          # |x| <= 1e-27: a real scale
    assert rows["c3"]["format"] == "int8*1"          # |x| <= 1e-36 < 2**-100: zero
    assert rows["c59"]["max_abs_ref"] == 0.0 and rows["c59"]["sqnr_db"] == "exact"


@pytest.mark.slow
def test_deep_chain_of_6000_convs_names_the_layer(tmp_path, capsys) -> None:
    """The issue's case: 6,000 1x1 convs, He weights; activations decay below float64."""
    lines = ["name: deep", "input: [1, 2, 2]", "layers:"]
    lines += ["  - {kind: conv2d, filters: 1, kernel: 1, bias: false}"] * 6000
    spec = tmp_path / "deep.yaml"
    spec.write_text("\n".join(lines) + "\n")
    r = run_cli(["quantize", str(spec), "-n", "1", "--calib-n", "1"], capsys)
    assert r.crash is None and r.code == 2, (r.crash, r.err)
    assert re.fullmatch(re.escape(f"hwcnn: error: {spec}: layer 'conv2d")
                        + r"\d+': (cannot quantize: .*|the float64 reference overflows .*)",
                        r.err.strip()), r.err
