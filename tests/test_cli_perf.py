"""``hwcnn plot`` / ``hwcnn compare`` and the shared hardware options, end to end."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hwcnn.arch.config import Dataflow
from hwcnn.cli.main import cli
from hwcnn.cli.options import hardware_from_options, parse_array, parse_buffers
from hwcnn.errors import ConfigError
from tests.conftest import MODELS

LENET = str(MODELS / "lenet5.yaml")
VGG = str(MODELS / "vgg16.yaml")


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def test_option_parsing() -> None:
    assert parse_array("16x16") == (16, 16) and parse_array(" 8X32 ") == (8, 32)
    assert parse_buffers("64") == (64, 64, 64) and parse_buffers("32,128,16") == (32, 128, 16)
    hw, board = hardware_from_options(board="PYNQ_Z2", dataflow="os")
    assert board is not None and board.id == "pynq-z2"
    assert (hw.array.rows, hw.array.cols, hw.array.dataflow) == (8, 8, Dataflow.OUTPUT_STATIONARY)
    assert hw.clock_mhz == 100 and hw.memory.dram_bytes_per_cycle == pytest.approx(21.0)
    hw2, _ = hardware_from_options(array="4x8", clock_mhz="200", dram_gbps="3.2", buffers="8")
    assert hw2.memory.dram_bytes_per_cycle == pytest.approx(16.0)   # 3.2 GB/s at 200 MHz
    assert hw2.memory.act_kib == 8 and hw2.clock_mhz == 200.0


@pytest.mark.parametrize("opts, message", [
    ({"array": "16by16"}, "--array must be ROWSxCOLS (e.g. 16x16), not '16by16'"),
    ({"array": "0x4"}, "--array needs at least one row and one column, not '0x4'"),
    ({"dram_gbps": "0"}, "--dram-gbps must be a positive number, not '0'"),
    ({"clock_mhz": "fast"}, "--clock-mhz must be a number, not 'fast'"),
    ({"buffers": "1,2"}, "--buffers must be KIB or ACT,WEIGHT,OUT in KiB, not '1,2'"),
    ({"dataflow": "is"}, "unknown dataflow 'is'; expected 'ws' or 'os'"),
    ({"drain_rows": "3", "dataflow": "os"}, "--drain-rows must be 1 or 2, not '3'"),
    ({"drain_rows": "2", "array": "4x4"},
     "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 4x4 ws"),
    ({"drain_rows": "2", "array": "1x4", "dataflow": "os"},
     "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 1x4 os"),
])
def test_option_errors(opts: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as exc:
        hardware_from_options(**opts)
    assert str(exc.value) == message


@pytest.mark.parametrize("args, fragment", [
    (["--board", "pynq-z9"], "unknown board 'pynq-z9'"),
    (["--board", "pynq-z2", "--array", "16x16"], "needs 340 DSP48E1 multipliers"),
    (["--dram-gbps", "0"], "--dram-gbps must be a positive number"),
    # GEMMs split K down to tiny tiles; VGG16's first pool band still needs 8.8 KiB.
    (["--buffers", "4"], "output buffer too small for one pool tile"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args: list[str], fragment: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "x.png"
    r = run("plot", VGG, *args, "-o", str(out))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwcnn: error: ") and fragment in lines[0]
    assert not out.exists()


def test_plot_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lenet.svg"
    r = run("plot", LENET, "--board", "ultra96-v2", "--dataflow", "os", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"<?xml")


def test_compare_side_by_side() -> None:
    r = run("compare", LENET, "--array", "4x4", "--dataflow", "ws", "--vs-array", "8x8",
            "--vs-dataflow", "os", "--buffers", "32")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("A = 4x4 ws @ 100 MHz")
    assert "B = 8x8 os @ 100 MHz" in r.stdout.splitlines()[0]
    body = r.stdout.splitlines()
    assert any(line.startswith("c1 ") for line in body) and body[-1].startswith("total")


def test_compare_needs_configuration_b() -> None:
    r = run("compare", LENET, "--array", "4x4")
    assert r.exit_code == 2 and "give configuration B" in r.stderr


def test_compare_boards_summary_markdown() -> None:
    r = run("compare", LENET, str(MODELS / "tiny_cnn.yaml"), "--boards", "pynq-z2,kv260,ulx3s-85f",
            "-f", "markdown")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("| model") and len(lines) == 2 + 2 * 3
    assert "| lenet5 " in lines[2] and "pynq-z2" in lines[2]


def test_compare_boards_machine_columns_are_the_report_s_figures() -> None:
    """``--machine``: per model and board, the machine's latency, FPS and utilization are
    exactly what ``hwcnn report --board B -f json`` gives (machine_latency_ms etc., its own
    rounding), with the figure's source; per-layer comparisons refuse it in one line."""
    import json

    r = run("compare", LENET, str(MODELS / "tiny_cnn.yaml"), "--boards", "pynq-z2,kv260",
            "-f", "csv", "--machine")
    assert r.exit_code == 0, r.output
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["model"], x["board"]) for x in rows] == [
        ("lenet5", "pynq-z2"), ("lenet5", "kv260"), ("tiny_cnn", "pynq-z2"), ("tiny_cnn", "kv260")]
    for x in rows:
        spec = LENET if x["model"] == "lenet5" else str(MODELS / "tiny_cnn.yaml")
        rep = json.loads(run("report", spec, "--board", x["board"], "-f", "json").stdout)
        assert rep["machine"] == "model proven equal to the RTL" and x["machine figure"] == "RTL model"
        cycles, mhz = rep["machine_cycles"], rep["clock_mhz"]
        assert x["machine ms"] == f"{cycles / mhz / 1000:,.2f}"
        assert float(x["machine FPS"].replace(",", "")) == rep["machine_fps"]
        assert float(x["machine util %"]) == pytest.approx(rep["machine_util_pct"], abs=0.051)
    bad = run("compare", LENET, "--array", "4x4", "--vs-array", "8x8", "--machine")
    assert bad.exit_code == 2
    assert bad.stderr == ("hwcnn: error: --machine applies to --boards summaries (hwcnn report "
                          "--machine gives one configuration's figures per layer)\n")


def test_drain_rows_is_one_unless_asked() -> None:
    """Two drain rows only on request (they cost 4 DSPs and ~560 LUTs per column, ~17 per PE); KV260's
    32x32 cannot hold them: 32 more requantizers need 1,316 of its 1,248 DSP48E2."""
    from hwcnn.arch.config import ArrayConfig
    from hwcnn.errors import ConfigError as Err

    assert hardware_from_options(board="pynq-z2", dataflow="os")[0].array.drain_rows == 1
    hw, _ = hardware_from_options(board="pynq-z2", dataflow="os", drain_rows="2")
    assert hw.array.drain_rows == 2
    with pytest.raises(Err) as exc:
        hardware_from_options(board="kv260", dataflow="os", drain_rows="2")
    assert str(exc.value).startswith("array 32x32 needs 1316 DSP48E2 multipliers")
    with pytest.raises(Err) as exc:
        ArrayConfig(rows=4, cols=4, drain_rows=2)
    assert str(exc.value) == ("array: drain_rows 2 needs an output-stationary array of at "
                              "least 2 rows, not 4x4 ws")
