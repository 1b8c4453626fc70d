"""The whole-machine cycle model (hwcnn.machine.socsim) against the Verilator simulation of
``hwcnn_soc`` behind the DRAM timing shim (the rtltb harness, hwcnn.rtlsim): the five networks
of issue 11 in both dataflows on a 4x4 array, Arty A7's DRAM (13.3 bytes/cycle, latency 16),
64-bit bus. The done cycle and the four BUSY counters must be equal; every layer's completion
cycle, which the harness sees when cocotbext-axi's AxiRam writes the layer's last byte, must
be the model's W handshake at the Soc's AXI port plus RAM_WRITE_DELAY (the shim's W queue and
the RAM's input register, the same for every layer of every run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hwcnn.arch.config import Dataflow
from hwcnn.machine.socsim import run_program
from tests.test_soc_cocotb import MODELS, TIMING, _case, _job, _launch

#: Cycles from a W handshake at the Soc's port to the AxiRam's write of its bytes.
RAM_WRITE_DELAY = 2

pytestmark = [
    pytest.mark.rtl, pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("cocotb") is None, reason="cocotb missing"),
]


@pytest.mark.parametrize("df", [Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY],
                         ids=["ws", "os"])
def test_model_equals_the_verilog_on_whole_networks(df: Dataflow, tmp_path: Path) -> None:
    cases = {name: _case(name, df) for name in MODELS}
    jobs = [_job(c[3], c[0]) for c in cases.values()]
    runs = _launch(cases["tiny_cnn"][0], jobs, tmp_path)
    for (name, (prog, _, _, comp)), run, (job, _, _) in zip(cases.items(), runs, jobs,
                                                              strict=True):
        o = run.outcome
        assert (o.state, o.code) == ("done", 0), name
        model = run_program(comp, array=prog.hw.array, bus_bytes=8, dram=TIMING,
                            base=job.base0)
        assert model.cycles == o.cycles, name
        assert model.busy == tuple(o.busy), name
        want = tuple(model.layer_writes[ly] + RAM_WRITE_DELAY for ly in job.layers)
        assert want == tuple(o.layer_cycles), name
