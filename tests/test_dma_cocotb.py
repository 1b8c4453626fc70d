"""RTL tier: the AXI DMA + control registers (``hwcnn.hw.axi``) under cocotb, Verilator and
cocotbext-axi (``sim/dma_top.py``, ``sim/tb/tb_dma.py``).

One Verilator build of the harness (DMAs of 64, 128 and 256 bits, each behind the DRAM timing
shim in front of an AxiRam, plus the AXI4-Lite register block), one simulator launch running every
cocotb test of ``tb_dma``. The testbench checks data byte for byte and every transfer's cycles
against the closed form and the stepped model; here the host re-reads the results file.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hwcnn.rtlsim import runner


def build_root() -> Path:
    return Path(os.environ.get("HWCNN_BUILD_DIR", ROOT / "build")).resolve() / "cocotb" / "dma"


@pytest.mark.rtl
@pytest.mark.slow
def test_dma_on_verilator() -> None:
    from sim import dma_top

    work = build_root()
    work.mkdir(parents=True, exist_ok=True)
    with (work / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        top = dma_top.write_verilog(work / "rtl")
        built = runner.build([top], "dma_tb_top", work / "sim_build")
        results = work / "run" / "dma.json"
        run = runner.run(built, "sim.tb.tb_dma", work / "run",
                         extra_env={"HWCNN_DMA_RESULTS": str(results)})
        assert run.passed, f"cocotb reported failures (log {run.log}):\n{run.failures()}"
        recs = json.loads(results.read_text())
    print(f"\nDMA: build {built.seconds:.1f} s, run {run.seconds:.1f} s, "
          f"{len(recs)} transfers, results {results}")
    assert recs
    for r in recs:
        if r["stepped"] is not None:
            assert r["cycles"] == r["stepped"], r
        if r["closed_form"] is not None:
            assert r["cycles"] == r["closed_form"], r
    assert {r["width"] for r in recs} == set(dma_top.WIDTHS)
    assert {r["kind"] for r in recs} == {"read", "write", "arbitration"}
    # negative control: the same closed form with one cycle more DRAM latency disagrees with
    # the measured cycles of every read and write that moved data
    from hwcnn.arch.dma import DmaDesc, DramTiming
    from hwcnn.arch.dma_timing import transfer_cycles

    slower = DramTiming(latency=dma_top.TIMING.latency + 1,
                        bytes_per_cycle=dma_top.TIMING.bytes_per_cycle)
    moved = [r for r in recs if r["kind"] != "arbitration" and r["desc"]["row_bytes"]
             and r["cycles"] > 18]
    assert moved
    for r in moved:
        wrong = transfer_cycles(DmaDesc(**r["desc"]), write=r["kind"] == "write",
                                bus_bytes=r["width"] // 8, dram=slower,
                                outstanding=dma_top.OUTSTANDING)
        assert wrong != r["cycles"], r
