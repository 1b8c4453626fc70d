"""``hwcnn sweep``: results equal individual ``hwcnn report`` runs, the same on every engine,
resumable, Pareto fronts on a hand-made set, SCALE-Sim timing and per-layer differences, and
bad input (one line, exit 2, no results file)."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest

from hwcnn.explore import evaluate as ev
from hwcnn.explore import pareto
from hwcnn.explore.space import Axes, parse_arrays, parse_buffers
from hwcnn.explore.sweep import run_sweep

from .cli_run import run_cli
from .conftest import MODELS
from .test_cli_errors import one_error_line

LENET = str(MODELS / "lenet5.yaml")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# -- axes -------------------------------------------------------------------------------------

def test_axis_syntax() -> None:
    assert parse_arrays(["8..64", "4x16"]) == [(8, 8), (16, 16), (32, 32), (64, 64), (4, 16)]
    assert parse_arrays(["8,16", "8"]) == [(8, 8), (16, 16)]
    assert parse_buffers(["64,32:128:64", "16..32"]) == [(64, 64, 64), (32, 128, 64),
                                                        (16, 16, 16), (32, 32, 32)]


# -- equal to hwcnn report ---------------------------------------------------------------------

@pytest.mark.parametrize("board,array,df,buffers", [
    ("pynq-z2", "4x4", "os", None), ("kv260", "16x16", "ws", "64,128,64"),
    ("", "8x8", "os", "32"), ("pynq-z2", "4x4", "os2", None),
])
def test_sweep_rows_equal_report_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      board: str, array: str, df: str,
                                      buffers: str | None) -> None:
    args = [LENET, "--array", array, "--dataflow", df, "--engine", "inprocess",
            "-o", str(tmp_path / "r.csv")]
    # os2: output stationary with two drain rows (report --drain-rows 2)
    rep_args = ["report", LENET, "--array", array, "--dataflow", df.rstrip("2"), "-f", "json",
                *(["--drain-rows", "2"] if df == "os2" else [])]
    if board:
        args += ["--boards", board]
        rep_args += ["--board", board]
    if buffers:
        args += ["--buffers", buffers.replace(",", ":")]
        rep_args += ["--buffers", buffers]
    run = run_cli(["sweep", *args], capsys)
    assert run.code == 0, run.err
    (row,) = _csv_rows(tmp_path / "r.csv")
    rep = run_cli(rep_args, capsys)
    assert rep.code == 0, rep.err
    doc = json.loads(rep.out)
    tot = doc["totals"]["total"]
    assert int(row["cycles"]) == tot["total_cycles"]
    assert int(row["compute_cycles"]) == tot["compute_cycles"]
    assert int(row["stall_cycles"]) == tot["stall_cycles"]
    assert int(row["dram_bytes"]) == tot["dram_bytes"]
    assert int(row["macs"]) == tot["macs"]
    assert float(row["utilization_pct"]) == pytest.approx(tot["utilization"], abs=0.01)
    assert float(row["latency_ms"]) == pytest.approx(doc["latency_ms"], abs=0.001)
    assert float(row["clock_mhz"]) == doc["clock_mhz"]
    b = doc["buffers_kib"]
    assert (int(row["act_kib"]), int(row["weight_kib"]), int(row["out_kib"])) == \
        (b["act"], b["weight"], b["out"])
    r, c = int(array.split("x")[0]), int(array.split("x")[1])
    # int8 x int8: one DSP48 per PE; on a board the complete accelerator: also 4 per
    # requantizer lane (its 32x32-bit multiply, one lane per column), 1 for the pool address,
    # 1 per vector lane (its reciprocal product), 2 for the store unit's range checks and 1
    # for the load unit's rows x parameter word bytes (69 C / 8, never a power of two; the
    # act / weight / out word bytes R and C are): 4x4 -> 40, 16x16 -> 340; two drain rows
    # have two requantizer lanes per column: 4x4 -> 56
    lanes = 2 * c if df == "os2" else c
    assert int(row["dsp"]) == (r * c + 4 * lanes + 1 + c + 3 if board else r * c)


# -- engines -----------------------------------------------------------------------------------

def _sources() -> dict[str, ev.ModelSource]:
    src = ev.load_model(LENET)
    tiny = ev.load_model(str(MODELS / "tiny_cnn.yaml"))
    return {src.label: src, tiny.label: tiny}


def test_dask_cluster_equals_in_process(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    models = _sources()
    axes = Axes(models=tuple(models), boards=("pynq-z2",), arrays=((4, 4), (8, 8), (4, 8)),
                dataflows=("ws", "os"), bandwidths=(1.0, 4.0))
    local = run_sweep(models, axes, output=str(tmp_path / "a.csv"), engine="inprocess")
    dask = run_sweep(models, axes, output=str(tmp_path / "b.csv"), engine="dask", workers=2,
                     processes=False, batch_size=5)
    assert len(local.rows) == 2 * 3 * 2 * 2
    assert dask.rows == local.rows
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_unreachable_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:       # a free loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "r.csv"
    run = run_cli(["sweep", LENET, "--array", "4", "--scheduler", f"tcp://127.0.0.1:{port}",
                   "-o", str(out)], capsys)
    assert one_error_line(run) == (f"hwcnn: error: --scheduler tcp://127.0.0.1:{port}: no Dask "
                                   "scheduler answered within 3 s")
    assert not out.exists()


# -- resume ------------------------------------------------------------------------------------

def test_resume_skips_completed_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = {k: v for k, v in _sources().items() if k == "lenet5"}
    out = str(tmp_path / "r.csv")
    first = run_sweep(models, Axes(models=("lenet5",), arrays=((4, 4),), dataflows=("ws", "os")),
                      output=out, engine="inprocess")
    assert (first.computed, first.reused) == (2, 0)
    seen: list[tuple[int, int, str]] = []
    real = ev.evaluate

    def counting(src, p, **kw):  # type: ignore[no-untyped-def]
        seen.append((p.rows, p.cols, p.dataflow))
        return real(src, p, **kw)

    monkeypatch.setattr(ev, "evaluate", counting)
    again = run_sweep(models, Axes(models=("lenet5",), arrays=((4, 4), (8, 8)),
                                   dataflows=("ws", "os")), output=out, engine="inprocess")
    assert sorted(seen) == [(8, 8, "os"), (8, 8, "ws")]      # the 4x4 points were not redone
    assert (again.computed, again.reused) == (2, 2)
    assert [(r["rows"], r["dataflow"]) for r in again.rows] == [(4, "ws"), (4, "os"), (8, "ws"),
                                                                 (8, "os")]
    assert again.rows[:2] == first.rows


# -- Pareto --------------------------------------------------------------------------------------

def test_pareto_front_on_a_hand_made_set() -> None:
    rows = [
        {"model": "m", "latency_ms": 10.0, "dsp": 16, "energy_uj": 5.0},   # 0 front (least dsp)
        {"model": "m", "latency_ms": 5.0, "dsp": 64, "energy_uj": 9.0},    # 1 front
        {"model": "m", "latency_ms": 6.0, "dsp": 64, "energy_uj": 1.0},    # 2 dominated by 1
        {"model": "m", "latency_ms": 1.0, "dsp": 256, "energy_uj": 3.0},   # 3 front (fastest)
        {"model": "m", "latency_ms": 5.0, "dsp": 64, "energy_uj": 2.0},    # 4 equal to 1: kept
        {"model": "m", "latency_ms": 12.0, "dsp": 16, "energy_uj": 1.0},   # 5 dominated by 0
        {"model": "m", "latency_ms": None, "dsp": 1, "energy_uj": 1.0},    # 6 no latency: out
    ]
    assert pareto.front(rows, ("latency", "dsp")) == [0, 1, 3, 4]
    # a third objective rescues 2 and 5 (least energy), and 4 now dominates 1
    assert pareto.front(rows, ("latency", "dsp", "energy")) == [0, 2, 3, 4, 5]
    # utilization is maximized
    util = [{"model": "m", "utilization_pct": 50.0, "dsp": 16},
            {"model": "m", "utilization_pct": 40.0, "dsp": 32}]
    assert pareto.front(util, ("utilization", "dsp")) == [0]
    # fronts are per model: another model's faster point does not hide this one's
    two = [{"model": "a", "latency_ms": 1.0, "dsp": 16}, {"model": "b", "latency_ms": 9.0,
                                                          "dsp": 32}]
    assert pareto.fronts_by_model(two, ("latency", "dsp")) == [0, 1]
    assert pareto.front(two, ("latency", "dsp")) == [0]


# -- SCALE-Sim timing ---------------------------------------------------------------------------

TOPO = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1,9,9,3,3,2,5,2,
FC,1,12,1,12,1,3,1,
"""
CFG = """[general]
run_name = t
[architecture_presets]
ArrayHeight: 4
ArrayWidth: 2
IfmapSramSzkB: 16
FilterSramSzkB: 32
OfmapSramSzkB: 8
Dataflow: {df}
Bandwidth: 4
[run_presets]
InterfaceBandwidth: USER
"""


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_scalesim_topology_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      df: str) -> None:
    (tmp_path / "t.csv").write_text(TOPO, encoding="utf-8")
    (tmp_path / "s.cfg").write_text(CFG.format(df=df), encoding="utf-8")
    run = run_cli(["sweep", str(tmp_path / "t.csv"), "--scalesim-config", str(tmp_path / "s.cfg"),
                   "--timing", "scalesim", "--engine", "inprocess", "-o", str(tmp_path / "r.csv"),
                   "--per-layer", str(tmp_path / "l.csv")], capsys)
    assert run.code == 0, run.err
    # Conv1: out ceil((9-3+2)/2) = 4 per axis -> M = 16, N = 5, K = 18; FC: M=1, N=3, K=12.
    # 4 rows x 2 cols.
    hand = {
        "os": [math.ceil(16 / 4) * math.ceil(5 / 2) * (18 + 4 + 2 - 2) - 1,     # 12*22-1 = 263
               math.ceil(1 / 4) * math.ceil(3 / 2) * (12 + 4 + 2 - 2) - 1],     # 2*16-1 = 31
        "ws": [math.ceil(18 / 4) * math.ceil(5 / 2) * (8 + 2 + 16 - 2) - 1,     # 15*24-1 = 359
               math.ceil(12 / 4) * math.ceil(3 / 2) * (8 + 2 + 1 - 2) - 1],     # 6*9-1 = 53
        "is": [math.ceil(18 / 4) * math.ceil(16 / 2) * (8 + 2 + 5 - 2) - 1,     # 40*13-1 = 519
               math.ceil(12 / 4) * math.ceil(1 / 2) * (8 + 2 + 3 - 2) - 1],     # 3*11-1 = 32
    }[df]
    layers = _csv_rows(tmp_path / "l.csv")
    assert [int(r["scalesim_cycles"]) for r in layers] == hand
    (row,) = _csv_rows(tmp_path / "r.csv")
    assert int(row["cycles"]) == sum(hand)
    assert (row["rows"], row["cols"], row["dataflow"]) == ("4", "2", df)
    assert (row["act_kib"], row["weight_kib"], row["out_kib"]) == ("16", "32", "8")
    assert float(row["bandwidth_gbps"]) == pytest.approx(4 * 100 / 1000)   # 4 B/cycle, 100 MHz
    if df == "os":   # the native one-tile count of each layer, and why it differs
        # conv: F = 12, P = max(4*ceil(18/4), 2) = 20: 1 + 11*20 + (18+4+2+3) = 248 vs 263;
        # fc: F = 2, P = 12: 1 + 12 + (12+4+2+3) = 34 vs 31
        assert [int(r["native_minus_scalesim"]) for r in layers] == [248 - 263, 34 - 31]
        assert layers[0]["why"] == "F*(P-L)+fill+2 = 12*(20-22)+7+2 = -15"
    elif df == "ws":
        # conv: F = 15, m = 16: P = max(16, 8+3, 3) = 16: 1 + 14*16 + (16+8+2+3) = 254 vs 359;
        # fc: F = 6, m = 1: P = max(1, 1+3, 3) = 4: 1 + 5*4 + (1+8+2+3) = 35 vs 53
        assert [int(r["native_minus_scalesim"]) for r in layers] == [254 - 359, 35 - 53]
    else:
        assert [r["native_minus_scalesim"] for r in layers] == ["", ""]   # no native IS


def test_native_one_tile_layers_differ_by_the_pipelined_closed_form(tmp_path: Path) -> None:
    models = {k: v for k, v in _sources().items() if k == "lenet5"}
    axes = Axes(models=("lenet5",), arrays=((4, 4),), dataflows=("os", "ws"),
                buffers=((256, 256, 256),))
    out = run_sweep(models, axes, layers_output=str(tmp_path / "l.csv"), engine="inprocess")
    g = ev.graph_of(models["lenet5"])
    checked = 0
    for r in out.layer_rows:
        if r["native_minus_scalesim"] is None:
            continue
        gd = g.nodes[r["layer"]]["gemm"]
        m, n, k = gd.m, gd.n, gd.k
        # one tile: native 1 + (F-1)*P + last fold, SCALE-Sim F*L - 1 (rtl/README.md, 4x4)
        if r["dataflow"] == "os":
            f, p = math.ceil(m / 4) * math.ceil(n / 4), max(math.ceil(k / 4) * 4, 4)
            native, ss = 1 + (f - 1) * p + k + 8 + 3, f * (k + 6) - 1
        else:
            f, p = math.ceil(k / 4) * math.ceil(n / 4), max(m, 4, 3)
            native, ss = 1 + (f - 1) * p + m + 12 + 3, f * (m + 10) - 1
        assert r["native_minus_scalesim"] == native - ss
        checked += 1
    assert checked >= 4      # lenet5's conv and dense layers are one tile each with 256 KiB


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--array", ""], "--array: the sweep axis has no values"),
    (["--array", "8", "--dataflow", "is"], ("the input-stationary dataflow exists only in "
                                           "SCALE-Sim's timing: add --timing scalesim or drop 'is'")),
    (["--array", "512", "--boards", "pynq-z2"], None),
    (["--array", "8x"], "--array: '8x' is not N, RxC or A..B"),
    (["--array", "8", "--dataflow", "os3"], "--dataflow: 'os3' is not ws, os, os2 or is"),
    (["--array", "8", "--dataflow", "os2", "--timing", "scalesim"],
     ("SCALE-Sim has no two-drain-row output stationary: drop 'os2' or use --timing native or "
      "machine")),
    (["--array", "64..8"], "--array: range '64..8' must go from a positive value up"),
    (["--pareto", "latency"], ("--pareto needs at least two objectives (e.g. latency,dsp), "
                              "not 'latency'")),
    (["--pareto", "latency,speed"], ("--pareto: unknown objective 'speed'; known: latency, "
                                    "cycles, dsp, bram, energy, dram, utilization, fps")),
    (["--bandwidth", "0"], "--bandwidth: '0' must be a positive number"),
])
def test_bad_sweeps(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                    message: str | None) -> None:
    out = tmp_path / "r.csv"
    run = run_cli(["sweep", LENET, "--engine", "inprocess", *args, "-o", str(out)], capsys)
    line = one_error_line(run)
    if message is None:
        assert line.startswith("hwcnn: error: no point of the sweep fits its board (e.g. "
                               "pynq-z2 512x512: array 512x512 needs ")
    else:
        assert line == f"hwcnn: error: {message}"
    assert not out.exists()


def test_no_models_and_contradictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(["sweep", "--engine", "inprocess"], capsys)
    assert one_error_line(run) == "hwcnn: error: the sweep has no models"
    (tmp_path / "s.cfg").write_text(CFG.format(df="os"), encoding="utf-8")
    run = run_cli(["sweep", LENET, "--scalesim-config", str(tmp_path / "s.cfg"), "--array", "8"],
                  capsys)
    assert one_error_line(run) == ("hwcnn: error: --scalesim-config fixes the array, dataflow "
                                   "and buffers: do not also give --array, --dataflow or --buffers")
    (tmp_path / "t.csv").write_text(TOPO, encoding="utf-8")
    run = run_cli(["sweep", str(tmp_path / "t.csv"), "--engine", "inprocess"], capsys)
    assert one_error_line(run) == (f"hwcnn: error: {tmp_path / 't.csv'}: a SCALE-Sim topology "
                                   "has no layer graph for the native estimate; use --timing "
                                   "scalesim")


def test_malformed_scalesim_files_on_the_command_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(TOPO.replace("Conv1,9,9,3,3,2,5,2,", "Conv1,9,9,3,x,2,5,2,"), encoding="utf-8")
    out = tmp_path / "r.csv"
    run = run_cli(["sweep", str(bad), "--timing", "scalesim", "-o", str(out)], capsys)
    assert one_error_line(run) == (f"hwcnn: error: {bad}:2: layer 'Conv1': filter width must be "
                                   "an integer, not 'x'")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(CFG.format(df="xs"), encoding="utf-8")
    run = run_cli(["sweep", LENET, "--scalesim-config", str(cfg), "-o", str(out)], capsys)
    assert one_error_line(run) == (f"hwcnn: error: {cfg}: [architecture_presets]: Dataflow must "
                                   "be os, ws or is, not 'xs'")
    assert not out.exists()


def test_foreign_results_file_is_left_alone(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.csv"
    out.write_text("a,b\n1,2\n", encoding="utf-8")
    run = run_cli(["sweep", LENET, "--array", "4", "--engine", "inprocess", "-o", str(out)], capsys)
    assert one_error_line(run) == (f"hwcnn: error: {out}: columns differ from a hwcnn sweep's; "
                                   "write the results to another file")
    assert out.read_text(encoding="utf-8") == "a,b\n1,2\n"


def test_sweep_file_and_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(f"models: [{LENET}]\narray: 4..8\ndataflow: [ws, os]\nbuffers: 64\n",
                    encoding="utf-8")
    run = run_cli(["sweep", "--sweep-file", str(spec), "--engine", "inprocess",
                   "-o", str(tmp_path / "r.csv"), "--plot", str(tmp_path / "p.svg"),
                   "--pareto", "latency,dsp"], capsys)
    assert run.code == 0, run.err
    assert len(_csv_rows(tmp_path / "r.csv")) == 4
    first = (tmp_path / "p.svg").read_bytes()
    run = run_cli(["sweep", "--sweep-file", str(spec), "--engine", "inprocess",
                   "-o", str(tmp_path / "r.csv"), "--plot", str(tmp_path / "p.svg")], capsys)
    assert "0 computed, 4 reused" in run.err
    assert (tmp_path / "p.svg").read_bytes() == first            # reproducible chart
    pq = pytest.importorskip("pyarrow.parquet")
    run = run_cli(["sweep", "--sweep-file", str(spec), "--engine", "inprocess",
                   "-o", str(tmp_path / "r.parquet")], capsys)
    assert run.code == 0, run.err
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [int(r["cycles"]) for r in _csv_rows(tmp_path / "r.csv")] == [r["cycles"] for r in table]


def test_a_configuration_that_cannot_run_is_a_row_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.csv"
    run = run_cli(["sweep", LENET, "--buffers", "1,64", "--engine", "inprocess", "-o", str(out),
                   "--pareto", "latency,dsp"], capsys)
    assert run.code == 0, run.err
    assert "2 points (2 computed, 0 reused, 1 cannot run the model (see the note column))" \
        in run.err
    small, big = _csv_rows(out)
    assert small["note"] == ("layer 's2': output buffer too small for one pool tile: needs "
                             "1.1 KiB, have 1 KiB")
    assert small["cycles"] == small["latency_ms"] == ""
    assert big["note"] == "" and int(big["cycles"]) > 0
    front_lines = run.out.splitlines()[2:]
    assert len(front_lines) == 1 and " 64 " in front_lines[0]    # the failed point is not on it


def test_an_interrupted_sweep_keeps_its_finished_points(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    models = {k: v for k, v in _sources().items() if k == "lenet5"}
    axes = Axes(models=("lenet5",), arrays=((4, 4), (8, 8), (16, 16)), dataflows=("ws",))
    out = str(tmp_path / "r.csv")
    real = ev.evaluate
    calls = [0]

    def stop_at_third(src, p, **kw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(src, p, **kw)

    monkeypatch.setattr(ev, "evaluate", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(models, axes, output=out, engine="inprocess", batch_size=1)
    assert [r["rows"] for r in _csv_rows(tmp_path / "r.csv")] == ["4", "8"]
    monkeypatch.setattr(ev, "evaluate", real)
    again = run_sweep(models, axes, output=out, engine="inprocess")
    assert (again.computed, again.reused) == (1, 2)
    run_sweep(models, axes, output=str(tmp_path / "w.csv"), engine="inprocess")
    assert (tmp_path / "r.csv").read_bytes() == (tmp_path / "w.csv").read_bytes()


def test_machine_timing_rows_equal_the_report_s_machine_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--timing machine``: every point's compiled program on the machine model, the figures
    ``hwcnn report --board`` gives for the same configuration (cycles, latency, utilization
    and the label, in the ``figure`` column); the native timing labels its own figure; a
    network the machine cannot run is a row with a note; input stationary is refused."""
    out = tmp_path / "r.csv"
    run = run_cli(["sweep", LENET, str(MODELS / "tiny_cnn.yaml"), "--boards", "arty-a7-100t",
                   "--array", "4x4", "--timing", "machine", "--engine", "inprocess",
                   "-o", str(out)], capsys)
    assert run.code == 0, run.err
    rows = _csv_rows(out)
    assert [r["model"] for r in rows] == ["lenet5", "tiny_cnn"]
    for row, spec in zip(rows, (LENET, str(MODELS / "tiny_cnn.yaml")), strict=True):
        rep = run_cli(["report", spec, "--board", "arty-a7-100t", "--array", "4x4", "-f",
                       "json"], capsys)
        assert rep.code == 0, rep.err
        doc = json.loads(rep.out)
        assert row["timing"] == "machine" and row["note"] == ""
        assert int(row["cycles"]) == doc["machine_cycles"]
        assert row["figure"] == doc["machine"] == "model proven equal to the RTL"
        assert float(row["latency_ms"]) == pytest.approx(doc["machine_latency_ms"], abs=0.001)
        assert float(row["utilization_pct"]) == pytest.approx(doc["machine_util_pct"], abs=0.01)
        assert row["dram_bytes"] == row["energy_uj"] == row["stall_cycles"] == ""
    native = tmp_path / "n.csv"
    assert run_cli(["sweep", LENET, "--array", "4x4", "--engine", "inprocess", "-o",
                    str(native)], capsys).code == 0
    assert _csv_rows(native)[0]["figure"] == "native: the RTL's closed forms + memsim"
    host = tmp_path / "h.yaml"
    host.write_text("name: h\ninput: [1, 6, 6]\nlayers:\n"
                    "  - {name: c, kind: conv2d, filters: 2, kernel: 3}\n"
                    "  - {name: t, kind: tanh}\n")
    run = run_cli(["sweep", str(host), "--array", "4x4", "--timing", "machine", "--engine",
                   "inprocess", "-o", str(tmp_path / "h.csv")], capsys)
    assert run.code == 0, run.err
    (row,) = _csv_rows(tmp_path / "h.csv")
    assert row["note"] == ("layer 't': tanh runs on the host CPU; a compiled program cannot "
                           "contain it") and row["cycles"] == ""
    run = run_cli(["sweep", LENET, "--dataflow", "is", "--timing", "machine", "-o",
                   str(tmp_path / "i.csv")], capsys)
    assert run.code == 2
    assert run.err == ("hwcnn: error: the input-stationary dataflow exists only in SCALE-Sim's "
                       "timing: add --timing scalesim or drop 'is'\n")
