"""Whole networks on the Verilog of the complete accelerator (stage 5d).

``runner`` (the one wrapper over cocotb's runner), ``harness`` (the Verilog top
``hwcnn_soc_tb``: the machine behind the DRAM timing shim), ``job`` (host <-> testbench
records), ``tb_soc`` (the cocotb testbench, runs inside the simulator), ``bounds`` (timeout and
size limit), ``session`` (cached build, run, progress) and ``check`` (layer-by-layer comparison
with the golden model). Importing this package loads neither Amaranth nor cocotb.
"""

from __future__ import annotations

from .bounds import MAX_RTL_CYCLES, timeout_cycles, work_bound
from .job import Fault, Job, Outcome
from .runner import SimulatorError

__all__ = ["MAX_RTL_CYCLES", "Fault", "Job", "Outcome", "SimulatorError", "timeout_cycles",
           "work_bound"]
