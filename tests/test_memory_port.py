"""The accelerator's memory port: the tile search and memsim plan with the smaller of the
DRAM's bandwidth and the complete accelerator's AXI port (one beat of ``axi_bits`` per cycle),
so that a board's figures describe the machine the RTL builds (issue 11: on the KV260 the
DRAM gives 96 B/cycle at 200 MHz, the 128-bit port 16)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwcnn.arch.config import MemoryConfig
from hwcnn.cli.main import cli
from hwcnn.cli.options import hardware_from_options
from hwcnn.errors import ConfigError
from hwcnn.report import perf
from tests.conftest import model_graph


def test_bytes_per_cycle_is_the_smaller_of_dram_and_port() -> None:
    assert MemoryConfig(dram_bytes_per_cycle=96.0).bytes_per_cycle == 96.0
    assert MemoryConfig(dram_bytes_per_cycle=96.0, port_bytes_per_cycle=16.0).bytes_per_cycle == 16.0
    assert MemoryConfig(dram_bytes_per_cycle=4.5, port_bytes_per_cycle=8.0).bytes_per_cycle == 4.5


@pytest.mark.parametrize("bad", [0, -8.0, True, "16"])
def test_port_must_be_positive(bad: object) -> None:
    with pytest.raises(ConfigError) as exc:
        MemoryConfig(port_bytes_per_cycle=bad)  # type: ignore[arg-type]
    assert str(exc.value) == f"memory: port_bytes_per_cycle must be positive, not {bad!r}"


def test_board_port_is_its_axi_width() -> None:
    # KV260: 19.2 GB/s at 200 MHz = 96 B/cycle of DRAM; axi_bits 128 = 16 B per beat
    hw, _ = hardware_from_options(board="kv260")
    assert (hw.memory.dram_bytes_per_cycle, hw.memory.port_bytes_per_cycle) == (96.0, 16.0)
    assert hw.memory.bytes_per_cycle == 16.0
    wide, _ = hardware_from_options(board="kv260", bus_bits=256)
    assert wide.memory.bytes_per_cycle == 32.0
    # ULX3S: 0.27 GB/s of SDR SDRAM at 60 MHz = 4.5 B/cycle, below its 64-bit port's 8: the
    # DRAM is the limit
    slow, _ = hardware_from_options(board="ulx3s-85f")
    assert slow.memory.port_bytes_per_cycle == 8.0
    assert slow.memory.bytes_per_cycle == pytest.approx(4.5)
    # without a board the tile engine is fed at the configured bandwidth, unless a bus is named
    free, _ = hardware_from_options(array="16x16")
    assert free.memory.port_bytes_per_cycle is None and free.memory.bytes_per_cycle == 16.0
    bus, _ = hardware_from_options(array="16x16", bus_bits=64)
    assert bus.memory.bytes_per_cycle == 8.0


def test_weight_streaming_layer_takes_its_bytes_over_the_port() -> None:
    # VGG16 fc6 on the KV260 streams its 25,088 x 4,096 int8 weights once (batch 1): at
    # 16 B/cycle that is at least 102,760,448 / 16 = 6,422,528 cycles, and the layer is
    # memory-bound, so hardly more (at the DRAM's 96 B/cycle it was 3.2 M: half the machine's
    # 6.47 M, hwcnn report --board kv260)
    hw, board = hardware_from_options(board="kv260")
    rows = {r.name: r for r in perf.estimate(model_graph("vgg16"), hw, board)}
    fc6 = rows["fc6"]
    assert fc6.dram_read >= 25088 * 4096
    assert 6_422_528 <= fc6.total_cycles <= 1.01 * fc6.dram_bytes / 16
    assert fc6.bound == "memory"


def test_report_names_the_port() -> None:
    res = CliRunner().invoke(cli, ["report", "models/tiny_cnn.yaml", "--board", "kv260",
                                   "--no-machine", "-f", "json"])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)
    assert (facts["dram_bytes_per_cycle"], facts["port_bytes_per_cycle"]) == (96.0, 16.0)
    res = CliRunner().invoke(cli, ["report", "models/tiny_cnn.yaml", "--array", "4x4",
                                   "-f", "json"])
    assert "port_bytes_per_cycle" not in json.loads(res.stdout)


def test_api_hardware_takes_the_bus() -> None:
    import hwcnn

    assert hwcnn.hardware("kv260").memory.bytes_per_cycle == 16.0
    assert hwcnn.hardware("kv260", bus_bits=256).memory.bytes_per_cycle == 32.0
    assert hwcnn.hardware(array=(4, 4), bus_bits=64).memory.port_bytes_per_cycle == 8.0
    with pytest.raises(ConfigError) as exc:
        hwcnn.hardware("kv260", bus_bits=96)
    assert str(exc.value) == "bus_bits must be 64, 128 or 256, not 96"
