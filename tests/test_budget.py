"""Memory and work budget (hwcnn/machine/budget.py, hwcnn/hw/elaboration.py, --max-memory).

Every case of issue 9 item 3 that used to die in NumPy or Amaranth (allocation tracebacks
asking for GiBs, MemoryError, minutes of elaboration) now gives one line and exit status 2,
leaves nothing behind, and takes under 2 s and 500 MB in-process. The estimate itself is
checked against the peak tracemalloc measures on real runs.
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

from hwcnn.cli.options import parse_size
from hwcnn.errors import ConfigError
from hwcnn.machine import budget
from tests.conftest import MODELS, graph_of, model_graph
from tests.refusal import refused as _refused

BIG_INPUT = """name: big
input: [3, 100000, 100000]
layers:
  - {kind: global_avgpool}
  - {kind: dense, units: 10}
"""
BIG_PADDING = """name: pad
input: [3, 32, 32]
layers:
  - {kind: conv2d, filters: 64, kernel: 3, padding: 4096}
  - {kind: global_avgpool}
"""
BIG_REPEAT = """name: rep
input: [128, 56, 56]
blocks:
  b:
    layers:
      - {name: c, kind: conv2d, filters: 128, kernel: 3, padding: 1}
layers:
  - {name: s, block: b, repeat: 256}
"""


def _spec(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("command, text, layer, what", [
    ("quantize", BIG_INPUT, "input", "output tensor"),
    ("verify", BIG_INPUT, "input", "output tensor"),
    ("quantize", BIG_PADDING, "conv2d1", "im2col buffer"),
    ("run", BIG_PADDING, "conv2d1", "im2col buffer"),
    ("verify", BIG_PADDING, "conv2d1", "im2col buffer"),
])
def test_specs_report_accepts_are_refused_before_allocating(command, text, layer, what,
                                                            tmp_path, capsys) -> None:
    import numpy as np

    spec = _spec(tmp_path, text)
    extra = []
    if command == "run":
        np.save(tmp_path / "x.npy", np.zeros((3, 32, 32)))
        extra = ["--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")]
    _refused([command, spec, *extra], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: layer {layer!r}: needs about ")
             + r"\d+\.\d (GiB|TiB) \([\d,]+ bytes; its " + what
             + r" is the largest\), more than --max-memory \d+\.\d [KMGT]iB")


def test_repeated_block_is_refused_by_memory_then_by_work(tmp_path, capsys) -> None:
    # (repeat: 256 rather than the 1024: parsing 1024 block copies alone takes ~2.5 s)
    spec = _spec(tmp_path, BIG_REPEAT)
    _refused(["quantize", spec, "--max-memory", "1GiB"], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: layer 's_1/c': needs about ")
             + r"[\d.]+ GiB \([\d,]+ bytes; its im2col buffer is the largest\), more than "
               r"--max-memory 1\.0 GiB")
    # 256 x (56*56*128 * 1152) MACs x (4 calibration + 2 x 8 evaluation passes) > 2e12
    _refused(["quantize", spec, "--max-memory", "1TiB"], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: the float and golden passes need "
                       f"{256 * 56 * 56 * 128 * 1152 * 20:,} multiply-accumulates, more than "
                       "the 2,000,000,000,000 hwcnn runs; use fewer inputs (-n, --calib-n) or "
                       "a smaller network"))


def test_verify_vgg16_on_a_1x1_array_is_refused_by_its_tile_count(tmp_path, capsys) -> None:
    spec = str(MODELS / "vgg16.yaml")
    _refused(["verify", spec, "--array", "1x1", "--buffers", "1"], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: layer '") + r"conv\d_\d"
             + r"': the lowered network has [\d,]+ tiles, more than the 2,000,000 verify runs; "
               r"use a larger --array or --buffers")


def test_tile_count_equals_the_lowering(tmp_path) -> None:
    from hwcnn.cli.options import hardware_for_spec
    from hwcnn.compiler.lowering import lower

    for name, array, buffers in (("lenet5", "1x1", "1"), ("squeezenet1_1", "8x8", None),
                                 ("resnet18", "16x16", "8")):
        g = model_graph(name)
        hw, _ = hardware_for_spec(g, board=None, array=array, dataflow=None, clock_mhz=None,
                                  dram_gbps=None, buffers=buffers)
        prog = lower(g, hw)
        gemm = sum(p.tiles for p in prog.layers if p.unit == "array"
                   and not isinstance(p.layer, type(g.nodes["input"]["layer"])))
        est = budget.estimate(g, calib_n=1, eval_n=1, hw=hw)
        assert est.tiles >= sum(p.tiles for p in prog.layers) >= gemm
        assert est.tiles <= 4 * sum(p.tiles for p in prog.layers)


@pytest.mark.parametrize("args, pattern", [
    (["--rows", "1024", "--cols", "1024"],
     ("rtl: a 1024x1024 array has 1,048,576 PEs, more than the 1,024 hwcnn rtl elaborates "
     "(32x32 takes about 30 s)")),
    (["--rows", "4", "--cols", "4", "--acc-depth", "1048576"],
     ("rtl: the buffers hold 134,246,720 bits, more than the 4,194,304 hwcnn rtl elaborates "
     "(lower the --*-depth options)")),
    (["--rows", "4", "--cols", "4", "--max-memory", "10M"],
     "rtl: elaborating 4x4 needs about 73 MiB, more than --max-memory (10 MiB)"),
])
def test_rtl_sizes_beyond_the_measured_limit_are_refused(args, pattern, tmp_path, capsys) -> None:
    # 4x4, acc depth 2**20: acc 2**20 x 4 lanes x 32 bits + act/wgt/out 256 words x 4 x 8 each
    # + param 16 words x 4 lanes x (32 bias + 31 M0 + 6 shift)
    assert 134_246_720 == (1 << 20) * 4 * 32 + 3 * 256 * 4 * 8 + 16 * 4 * (32 + 31 + 6)
    _refused(["rtl", *args, "-o", str(tmp_path / "rtl")], capsys, tmp_path,
             re.escape("hwcnn: error: " + pattern))


def test_max_memory_option_values(tmp_path, capsys) -> None:
    assert parse_size("512M") == 512 << 20
    assert parse_size("4GiB") == 4 << 30
    assert parse_size("2e9") == 2_000_000_000
    assert parse_size("1.5 KB") == 1500
    for bad in ("", "10X", "-1G", "0", "1e30"):
        with pytest.raises(ConfigError):
            parse_size(bad)
    _refused(["quantize", str(MODELS / "lenet5.yaml"), "--max-memory", "lots"], capsys,
             tmp_path, re.escape("hwcnn: error: --max-memory must be a size such as 4GiB, "
                                 "512M or 2000000000, not 'lots'"))


def test_default_limit_is_half_the_machine(monkeypatch) -> None:
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1_000_000}
    monkeypatch.setattr(budget.os, "sysconf", lambda key: pages[key])
    monkeypatch.setattr("builtins.open", _no_cgroup)
    assert budget.machine_memory() == 4_096_000_000
    assert budget.default_max_memory() == 2_048_000_000


def _no_cgroup(*args, **kwargs):
    raise OSError("no cgroup")


PADDED = """name: padded
input: [3, 40, 40]
layers:
  - {name: c1, kind: conv2d, filters: 16, kernel: 5, padding: 6, activation: relu}
  - {name: p1, kind: maxpool, kernel: 3, stride: 1, padding: 1}
  - {name: bn, kind: batchnorm}
  - {name: c2, kind: conv2d, filters: 8, kernel: 3, groups: 8}
  - {name: fc, kind: dense, units: 10}
"""


@pytest.mark.parametrize("source", ["tiny_cnn", "lenet5", "padded"])
def test_estimate_bounds_the_measured_peak(source) -> None:
    """Never below the tracemalloc peak of quantize + evaluate, at most 6x above it."""
    from hwcnn.numerics.golden import evaluate
    from hwcnn.numerics.quantize import calibration_inputs, quantize_network
    from hwcnn.numerics.weights import init_weights

    g = graph_of(PADDED) if source == "padded" else model_graph(source)
    shape = g.nodes["input"]["out_shape"]
    tracemalloc.start()
    try:
        params = init_weights(g, 0)
        qnet = quantize_network(g, params, calibration_inputs(shape, 4, 0))
        evaluate(qnet, params, calibration_inputs(shape, 8, 1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = budget.estimate(g, calib_n=4, eval_n=8).bytes - budget.BASE_BYTES
    assert peak <= est <= 6 * peak + budget.OBJECT_BYTES, (peak, est)


def test_verify_cyclesim_of_a_big_network_is_refused_by_its_cycles(tmp_path, capsys) -> None:
    spec = str(MODELS / "vgg16.yaml")
    _refused(["verify", spec, "--engine", "cyclesim", "--array", "16x16"], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: the stepped model would step about ")
             + r"[\d,]+" + re.escape(" cycles, more than 5,000,000; use --engine golden"))


@pytest.mark.parametrize("name, array", [("tiny_cnn", "4x4"), ("lenet5", "8x8")])
def test_stepped_cycles_estimate_is_close_to_the_stepped_model(name, array) -> None:
    """The cyclesim work estimate against the cycles the stepped model actually steps."""
    from hwcnn.cli.options import hardware_for_spec
    from hwcnn.compiler.lowering import lower
    from hwcnn.machine.execution import execute
    from hwcnn.numerics.golden import quantize_input
    from hwcnn.numerics.quantize import calibration_inputs, quantize_network
    from hwcnn.numerics.weights import init_weights

    g = model_graph(name)
    shape = g.nodes["input"]["out_shape"]
    qnet = quantize_network(g, init_weights(g, 0), calibration_inputs(shape, 1, 0))
    hw, _ = hardware_for_spec(g, board=None, array=array, dataflow=None, clock_mhz=None,
                              dram_gbps=None, buffers=None)
    x = quantize_input(qnet, calibration_inputs(shape, 1, 1)[0])
    stepped = sum(le.cycles for le in execute(lower(g, hw), qnet, x, "cyclesim").layers)
    est = budget.estimate(g, calib_n=1, eval_n=1, hw=hw, engine="cyclesim").cycles
    assert 0.9 * stepped <= est <= 1.1 * stepped, (est, stepped)


def test_report_tile_records_are_bounded_by_max_memory(tmp_path, capsys) -> None:
    """`hwcnn report` on a tiny array holds records for millions of tiles (linear, without
    bound in the array size): refused before lowering when they exceed --max-memory."""
    spec = str(MODELS / "vgg16.yaml")
    _refused(["report", spec, "--array", "1x1", "--buffers", "1", "--max-memory", "500M",
              "-o", str(tmp_path / "r.txt")], capsys, tmp_path,
             re.escape(f"hwcnn: error: {spec}: layer 'conv4_2': the performance estimate of "
                       "2,136,560 tiles needs about 736.0 MiB, more than --max-memory 500.0 MiB; "
                       "use a larger --array or --buffers"))


@pytest.mark.parametrize("array, kib", [("2x2", 2), ("4x4", 4), ("1x1", 8)])
def test_report_estimate_bounds_the_measured_peak(array: str, kib: int) -> None:
    """The tile-record estimate is never below the traced peak of the performance estimate
    (lowering + DRAM timeline), and at most 3x above it where the tiles dominate."""
    from hwcnn.api import hardware
    from hwcnn.report import perf

    g = model_graph("alexnet227")
    hw = hardware(array=array, buffers_kib=kib)
    est = budget.report_estimate(g, hw)
    tracemalloc.start()
    try:
        perf.estimate(g, hw, None, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    records = est.bytes - budget.BASE_BYTES - budget.OBJECT_BYTES
    assert peak <= est.bytes - budget.BASE_BYTES, (peak, est)
    assert records <= 3 * peak, (peak, records)
