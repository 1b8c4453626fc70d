"""A compiled network on the Verilog, compared with the golden model layer by layer.

:func:`check_rtl` builds (cached) and runs ``hwcnn_soc_tb`` on the compiled program
(:mod:`hwcnn.rtlsim.session`), then reads every layer's tensor back from the simulated DRAM
and compares it with the golden network with the same
:func:`hwcnn.machine.program_exec.compare_dram` that the functional interpreter's
:func:`~hwcnn.machine.program_exec.check_compiled` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.dma import DramTiming
from ..compiler.backend import Compiled
from ..compiler.plan import Program
from ..hw.soc.ports import SocParams
from ..machine.program_exec import compare_dram
from ..machine.verification import Verification
from ..numerics.quantize import QuantizedNetwork
from .session import Progress, RtlRun, build_model, make_job, mapped_bytes, run_job


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RtlCheck:
    """The run and, when the machine reported done, the layer-by-layer comparison."""

    run: RtlRun
    verification: Verification | None

    @property
    def ok(self) -> bool:
        return (self.run.outcome.state == "done" and self.run.outcome.code == 0
                and self.verification is not None and self.verification.first_mismatch is None)


def check_rtl(comp: Compiled, program: Program, qnet: QuantizedNetwork, x: np.ndarray, *,
              params: SocParams, dram_timing: DramTiming, pause: float = 0.0, seed: int = 1,
              progress: Progress | None = None) -> RtlCheck:
    """Run ``comp`` (compiled with input ``x``) on the Verilog and compare every layer."""
    from .harness import harness_verilog

    built = build_model(harness_verilog(params, dram_timing))
    job, owner = make_job(comp, program, bus_bytes=params.bus_bytes, dram_timing=dram_timing,
                          pause=pause, seed=seed)
    run = run_job(built, job, comp.image, owner, progress=progress)
    ver = None
    if run.outcome.state == "done":
        ver = compare_dram(comp, program, qnet, x, run.image(mapped_bytes(comp)))
    return RtlCheck(run=run, verification=ver)


__all__ = ["RtlCheck", "check_rtl"]
