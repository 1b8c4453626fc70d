"""Stage 5b, machine models: execute a :class:`Program` and count its cycles.

:mod:`.cyclesim` is the register-level stepped model of the accelerator (proven equal to the
RTL); :mod:`.memsim` the DRAM transfer model and roofline; :mod:`.execution` runs a lowered
network tile by tile on the golden kernels or the stepped model; :mod:`.verification` compares
that execution layer by layer with the golden network (``hwcnn verify``); :mod:`.budget` the
memory and work estimate checked before quantize / run / verify allocate anything.
"""

from .budget import BudgetError, Estimate, enforce, estimate
from .execution import Engine, Execution, ExecutionError, execute
from .memsim import Roofline, Timeline, roofline, simulate
from .verification import LayerCheck, Mismatch, Verification, verify

__all__ = [
    "BudgetError", "Engine", "Estimate", "Execution", "ExecutionError", "LayerCheck", "Mismatch", "Roofline", "Timeline",
    "Verification", "enforce", "estimate", "execute", "roofline", "simulate", "verify",
]
