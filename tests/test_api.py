"""The Python API (``import hwcnn``): every entry point, checked against independent numbers
(lecture figures, hand counts, a naive convolution loop), not against the CLI's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hwcnn
from hwcnn.errors import ConfigError, SpecError
from hwcnn.numerics.fixedpoint import requantize

ROOT = Path(__file__).resolve().parent.parent
ALEXNET = ROOT / "models" / "alexnet227.yaml"
TINY = ROOT / "models" / "tiny_cnn.yaml"


def test_import_is_lazy_and_lists_the_entry_points() -> None:
    code = ("import sys, hwcnn; assert 'numpy' not in sys.modules, 'eager'; "
            "print(sorted(hwcnn.__all__))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    for name in ("build_graph", "budget_report", "estimate", "generate_rtl", "quantize",
                 "run_golden", "lower", "verify", "hardware", "load_model"):
        assert name in out
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hwcnn.nope  # noqa: B018


def test_entry_points_are_documented() -> None:
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in hwcnn.__all__:
        obj = getattr(hwcnn, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__, name
            assert f"hwcnn.{name}(" in doc, f"docs/api.md does not show hwcnn.{name}"


def test_build_graph_and_budgets_match_the_lecture() -> None:
    g = hwcnn.build_graph(ALEXNET)
    assert g.nodes["conv1"]["out_shape"].as_list() == [96, 55, 55]   # (227-11)/4+1 = 55
    rep = hwcnn.budget_report(g)
    totals = dict(rep.totals)
    # lecture: conv params 3,747,200 vs dense 58,631,144
    assert totals["conv+pool"]["params"] == 3_747_200
    assert totals["dense"]["params"] == 58_631_144
    csv = hwcnn.render_report(rep, "csv")
    assert csv.splitlines()[0].startswith("name,kind")
    spec = hwcnn.load_model(ALEXNET)
    assert hwcnn.build_graph(spec).number_of_nodes() == g.number_of_nodes()


def test_explain_works_the_lecture_numbers() -> None:
    text = hwcnn.explain(hwcnn.build_graph(ALEXNET), "conv1")
    assert "output size: (227 - 11 + 2*0)/4 + 1 = 55" in text
    assert "parameters: (11*11*3)*96 + 96 = 34,944" in text


def test_hardware_takes_typed_values() -> None:
    hw = hwcnn.hardware(array=(4, 3), dataflow="os", clock_mhz=250.0, dram_gbps=4.0,
                        buffers_kib=(8, 16, 32))
    assert (hw.array.rows, hw.array.cols) == (4, 3)
    assert hw.array.dataflow is hwcnn.Dataflow.OUTPUT_STATIONARY
    assert hw.clock_mhz == 250.0
    assert hw.memory.dram_bytes_per_cycle == pytest.approx(4.0e9 / 250e6)   # 16 B/cycle
    assert (hw.memory.act_kib, hw.memory.weight_kib, hw.memory.out_kib) == (8, 16, 32)
    same = hwcnn.hardware(array="4x3", dataflow=hwcnn.Dataflow.OUTPUT_STATIONARY,
                          clock_mhz=250.0, dram_gbps=4.0, buffers_kib=(8, 16, 32))
    assert same == hw and hw.array.drain_rows == 1
    two = hwcnn.hardware(array=(4, 3), dataflow="os", drain_rows=2)
    assert two.array.drain_rows == 2
    with pytest.raises(ConfigError, match=r"^unknown board 'nope'"):
        hwcnn.hardware("nope")


def test_estimate_and_lower_count_every_mac() -> None:
    g = hwcnn.build_graph(TINY)
    hw = hwcnn.hardware(array=(4, 4), dataflow="ws")
    rows = {r.name: r for r in hwcnn.estimate(g, hw)}
    # hand counts: conv1 8*8*4 outputs x 3*3*1; conv2 2*2*8 outputs x 3*3*4; fc 32 x 10
    assert rows["conv1"].macs == 8 * 8 * 4 * 9
    assert rows["conv2"].macs == 2 * 2 * 8 * 36
    assert rows["fc"].macs == 32 * 10
    for name in ("conv1", "conv2", "fc"):
        # a 4x4 array does at most 16 MACs per cycle
        assert rows[name].compute_cycles * 16 >= rows[name].macs
    program = hwcnn.lower(g, hw)
    assert sum(p.macs for p in program.layers) == 8 * 8 * 4 * 9 + 2 * 2 * 8 * 36 + 320


def _naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    c_in, h, wd = x.shape
    k_out, _, kh, kw = w.shape
    xp = np.zeros((c_in, h + 2 * pad, wd + 2 * pad), dtype=np.int64)
    xp[:, pad:pad + h, pad:pad + wd] = x
    out = np.zeros((k_out, h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1), dtype=np.int64)
    for k in range(k_out):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                out[k, i, j] = int(b[k]) + sum(
                    int(xp[c, i + u, j + v]) * int(w[k, c, u, v])
                    for c in range(c_in) for u in range(kh) for v in range(kw))
    return out


def test_quantize_and_run_golden_against_a_naive_convolution() -> None:
    g = hwcnn.build_graph(TINY)
    qnet = hwcnn.quantize(g, seed=3)
    image = np.random.default_rng(5).uniform(-1, 1, size=(1, 8, 8))
    res = hwcnn.run_golden(qnet, image)
    from hwcnn.numerics import quantize_input
    x = quantize_input(qnet, image)
    ql = qnet.by_name["conv1"]
    assert ql.weight is not None and ql.bias is not None and ql.requant is not None
    rq = ql.requant
    acc = _naive_conv(x, ql.weight, ql.bias, pad=1)
    m0 = np.asarray(rq.m0).reshape(-1, 1, 1)
    shift = np.asarray(rq.shift).reshape(-1, 1, 1)
    want = requantize(acc, m0, shift, ql.lo, ql.hi, rounding=rq.rounding, mode=rq.mode,
                      bits=rq.bits)
    np.testing.assert_array_equal(res.tensors["conv1"], want)
    again = hwcnn.run_golden(qnet, x, is_integer=True)
    np.testing.assert_array_equal(again.tensors["fc"], res.tensors["fc"])


def test_verify_on_the_stepped_model() -> None:
    g = hwcnn.build_graph(TINY)
    qnet = hwcnn.quantize(g)
    hw = hwcnn.hardware(array=(4, 4), dataflow="os")
    image = np.random.default_rng(1).uniform(-1, 1, size=(1, 8, 8))
    res = hwcnn.verify(qnet, hw, image, engine="cyclesim")
    assert res.layers and all(c.match and c.cycle_mismatch is None for c in res.layers)


def test_generate_rtl(tmp_path: Path) -> None:
    hw = hwcnn.hardware(array=(2, 2), dataflow="ws")
    paths = hwcnn.generate_rtl(hw, tmp_path / "rtl")
    tops = [p for p in paths if p.name == "hwcnn_top.v"]
    assert tops and "module hwcnn_top" in tops[0].read_text(encoding="utf-8")


def test_errors_are_one_line() -> None:
    with pytest.raises(SpecError) as info:
        hwcnn.build_graph(ROOT / "models" / "missing.yaml")
    assert "\n" not in str(info.value) and "missing.yaml" in str(info.value)


def test_the_examples_in_docs_api_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```python\n")[1:]]
    assert len(blocks) == 4
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), scope)  # noqa: S102
    out = capsys.readouterr().out
    assert "3747200 58631144" in out
    assert (tmp_path / "build" / "rtl4x4" / "hwcnn_top.v").is_file()
    assert (tmp_path / "build" / "tile.vcd").read_text().count("$enddefinitions") == 1


def test_trace_and_wave_of_one_tile_agree_with_the_hand_table(tmp_path: Path) -> None:
    # OS 2x2x2 on 2x2 (tests/test_trace.py): T = 1 + (k + R + C + 3) = 10, PE(0, 0) runs
    # 1*5 -> 5 in cycle 2 and 2*7 -> 19 in cycle 3.
    a, b = np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]])
    hw = hwcnn.hardware(array=(2, 2), dataflow="os")
    t = hwcnn.trace_tile(a, b, hw)
    assert t.cycles == 10
    assert [int(t.frames[c - 1].acc[0, 0]) for c in (2, 3)] == [5, 19]
    w = hwcnn.wave_tile(a, b, hw, tmp_path / "t.vcd")
    assert w.cycles == 10 and w.out.tolist() == [[19, 22], [43, 50]]
    assert (tmp_path / "t.vcd").read_text() == w.vcd


def test_compile_network_writes_the_image_and_runs_as_measured_on_the_verilog() -> None:
    tiny = hwcnn.build_graph(TINY)
    qnet = hwcnn.quantize(tiny, seed=0)
    image = np.random.default_rng(5).uniform(-1, 1, size=(1, 8, 8))
    hw = hwcnn.hardware("arty-a7-100t", array=(4, 4), buffers_kib=1)
    comp = hwcnn.compile_network(qnet, hw, image)
    # the input region holds the image in the input format: round half away from zero of
    # x / scale, saturated to int8, one byte per element (one channel: HWC = row-major pixels)
    scale = qnet.input_format.scale
    v = image[0] / scale
    want = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -128, 127).astype(np.int8)
    at = comp.address(qnet.input_name)
    assert comp.image[at:at + 64] == want.tobytes()
    assert comp.insns[-1].op.name == "END"
    assert comp.on_chip == {"conv1": "pool1"}             # pooled in the output buffer
    again = hwcnn.compile_network(qnet, hw, image)
    assert (again.image, again.insns) == (comp.image, comp.insns)
    plain = hwcnn.compile_network(qnet, hw, want[None].astype(np.int64), is_integer=True,
                                  fuse_pool=False)
    assert plain.image[plain.address(qnet.input_name):][:64] == want.tobytes()
    assert "conv1" in plain.views and not plain.on_chip
    # tests/test_report_machine.py: the Verilog of hwcnn_soc (Verilator + cocotb) took 1984
    # cycles on this configuration, 64-bit bus, Arty's DRAM; its RAM wrote pool1's, conv2's
    # and fc's last bytes in cycles 1401, 1685, 1963 (two cycles after the W handshakes)
    fig = hwcnn.machine_figures(comp, hw, "arty-a7-100t", bus_bits=64)
    assert fig.cycles == 1984 and fig.label == "model proven equal to the RTL"
    assert [fig.layer_cycles[n] + 2 for n in ("pool1", "conv2", "fc")] == [1401, 1685, 1963]
    assert fig.busy == (1329, 1659, 623, 124) and fig.latency_us == pytest.approx(19.84)
    assert hwcnn.machine_figures(comp, hw, "arty-a7-100t").bus_bits == 128   # the board's
    with pytest.raises(ConfigError) as info:
        hwcnn.machine_figures(comp, hw, bus_bits=32)
    assert str(info.value) == "bus_bits must be 64, 128 or 256, not 32"
