"""How long a program may take on the machine: the work bound behind the testbench's timeout
and the refusal of networks too large to simulate.

:func:`work_bound` adds, instruction by instruction and with nothing overlapped (fetch, load,
compute and store run one after another), an upper bound of each instruction's cycles:

- GEMM / VEC: the tile's closed form (:func:`hwcnn.arch.timing.gemm_tile_cycles`,
  :func:`~hwcnn.arch.timing.pool_tile_cycles` per ``C`` channels: one VEC is one tile);
- a DMA instruction: every contiguous DRAM run (a WORDS transfer is one run, a PIXELS transfer
  one per pixel, a LOAD2D one per output pixel and kernel position) pays the DRAM latency plus
  :data:`RUN_OVERHEAD` cycles, and every bus beat (run bytes / bus bytes, rounded up, plus one
  for a misaligned start) ``tau`` cycles (:meth:`hwcnn.arch.dma.DramTiming.slot`);
- every instruction :data:`INSN_OVERHEAD` cycles (fetch, dispatch, tokens, status).

The machine overlaps these, so the bound is well above its run time; the timeout is
:data:`TIMEOUT_FACTOR` times the bound plus :data:`TIMEOUT_SLACK`, divided by ``(1 - p)**2``
under random stalls of probability ``p`` on the DRAM channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..arch import timing
from ..arch.dma import DramTiming
from ..isa.fields import Buffer, Insn, MemMode, Opcode
from ..isa.target import Target

INSN_OVERHEAD = 64
RUN_OVERHEAD = 16
TIMEOUT_FACTOR = 4
TIMEOUT_SLACK = 20_000
#: Default refusal limit of ``hwcnn verify --engine rtl`` (cycles of :func:`work_bound`):
#: Verilator runs the 4x4 machine at tens of thousands of cycles per second
#: (bench/bench_rtl_speed.py), so this is a few minutes at most.
MAX_RTL_CYCLES = 5_000_000


def _dma(runs: int, run_bytes: int, bus_bytes: int, dram: DramTiming) -> int:
    p, q = dram.slot(bus_bytes)
    beats = runs * (-(-run_bytes // bus_bytes) + 1)
    return runs * (dram.latency + RUN_OVERHEAD) + math.ceil(beats * p / q)


def insn_bound(insn: Insn, target: Target, bus_bytes: int, dram: DramTiming) -> int:
    """Upper bound of one instruction's cycles (module docstring)."""
    f = insn.get()
    a = target.array
    cost = INSN_OVERHEAD
    match insn.op:
        case Opcode.GEMM if min(f["m"], f["n"], f["k"]) > 0:
            cost += timing.gemm_tile_cycles(f["m"], f["n"], f["k"], a)
        case Opcode.VEC if min(f["out_h"], f["out_w"], f["win_h"], f["win_w"]) > 0:
            cost += timing.pool_tile_cycles(f["out_h"], f["out_w"], f["win_h"], f["win_w"], a)
        case Opcode.LOAD | Opcode.STORE if f["rows"]:
            if f["mode"] == MemMode.WORDS:
                cost += _dma(1, f["rows"] * target.word_bytes(Buffer(f["buffer"])), bus_bytes,
                             dram)
            else:
                cost += _dma(f["rows"], f["elems"] * target.elem_bytes, bus_bytes, dram)
        case Opcode.LOAD2D if f["m"] and f["k"]:
            positions = max(1, f["kh"] * f["kw"])
            cost += _dma(f["m"] * positions, max(1, f["cg"]) * target.elem_bytes, bus_bytes,
                         dram)
    return cost


def work_bound(insns: Sequence[Insn], target: Target, bus_bytes: int, dram: DramTiming) -> int:
    """Sum of :func:`insn_bound` over the program."""
    return sum(insn_bound(i, target, bus_bytes, dram) for i in insns)


def timeout_cycles(bound: int, pause: float = 0.0) -> int:
    """The testbench's limit from the start pulse (module docstring)."""
    if not 0 <= pause < 1:
        raise ValueError(f"pause probability {pause} outside [0, 1)")
    return math.ceil((TIMEOUT_FACTOR * bound + TIMEOUT_SLACK) / (1 - pause) ** 2)


__all__ = ["INSN_OVERHEAD", "MAX_RTL_CYCLES", "RUN_OVERHEAD", "TIMEOUT_FACTOR", "TIMEOUT_SLACK",
           "insn_bound", "timeout_cycles", "work_bound"]
