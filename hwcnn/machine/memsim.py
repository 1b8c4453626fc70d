"""Memory model: DRAM transfers, double-buffered prefetch overlapping compute, stall cycles.

The accelerator has one off-chip port moving ``bytes_per_cycle`` bytes per array clock, shared
by reads and writes. Every tile of a :class:`hwcnn.compiler.Program` first needs its new operand
bytes loaded (``dram_read``), then computes for ``compute`` cycles, then writes ``dram_write``
bytes back. The on-chip buffers are split in two halves (ping/pong):

* the load of tile ``t+1`` may start once the DRAM port is free and tile ``t-1`` has finished
  computing (it overwrites ``t-1``'s half);
* tile ``t`` computes once its load is done, tile ``t-1`` has finished, and the write-back of
  tile ``t-2`` (whose output half it reuses) is done;
* the write-back of tile ``t`` starts when its compute is done and the port is free.

The port serves requests in program order: ``load t+1`` before ``store t`` (prefetch first).
A transfer of ``b`` bytes occupies the port ``ceil(b / bytes_per_cycle)`` cycles.

Stall of tile ``t`` = cycles the array sits idle before ``t`` starts (after ``t-1`` ended, or
from time 0 for the first tile); the last tile also carries the final write-back. So the sum of
compute and stall over all tiles equals the end-to-end cycle count exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from ..errors import ConfigError

#: Per-tile integer inputs: a sequence or a NumPy array.
Ints: TypeAlias = Sequence[int] | np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """Per-tile schedule (cycles, 0 = the first DRAM request) of a tile program.

    All arrays have one entry per tile, in program order.
    """

    compute: np.ndarray
    stall: np.ndarray
    start: np.ndarray
    end: np.ndarray
    load_cycles: np.ndarray
    store_cycles: np.ndarray
    total: int

    @property
    def compute_total(self) -> int:
        return int(self.compute.sum())

    @property
    def stall_total(self) -> int:
        return int(self.stall.sum())


def transfer_cycles(nbytes: int, bytes_per_cycle: float) -> int:
    """Cycles the DRAM port is busy moving ``nbytes`` (0 bytes -> 0 cycles).

    >>> transfer_cycles(100, 16.0), transfer_cycles(96, 16.0), transfer_cycles(0, 3.5)
    (7, 6, 0)
    """
    if not bytes_per_cycle > 0:
        raise ConfigError(f"DRAM bandwidth must be positive, not {bytes_per_cycle!r} bytes/cycle")
    if nbytes <= 0:
        return 0
    # The tolerance keeps exact multiples (e.g. 96 / 16.0) from becoming +1 by float error.
    return math.ceil(nbytes / bytes_per_cycle - 1e-9)


def simulate(compute: Ints, dram_read: Ints, dram_write: Ints, bytes_per_cycle: float, *,
             double_buffered: Sequence[bool] | np.ndarray | None = None) -> Timeline:
    """Run the double-buffered pipeline described in the module docstring.

    Parameters
    ----------
    compute, dram_read, dram_write : sequences of int
        Per tile: array cycles, bytes loaded before it, bytes written after it.
    bytes_per_cycle : float
        Sustained DRAM bandwidth at the array clock.
    double_buffered : sequence of bool, optional
        Per tile: whether it fits half of each buffer (default: all). Two neighbours overlap
        (load/store of one during the compute of the other) only when both do; a tile that
        needs whole buffers waits for its predecessor to finish and be written back.

    Examples
    --------
    Two tiles, 10 compute cycles each, 32 bytes in, 16 bytes out, 16 bytes/cycle:
    load0 [0,2), compute0 [2,12) while load1 [2,4), store0 [12,13), compute1 [12,22),
    store1 [22,23).

    >>> t = simulate([10, 10], [32, 32], [16, 16], 16.0)
    >>> t.start.tolist(), t.stall.tolist(), t.total
    ([2, 12], [2, 1], 23)

    The same tiles single-buffered: load1 waits for compute0, compute1 for store0.

    >>> t = simulate([10, 10], [32, 32], [16, 16], 16.0, double_buffered=[False, False])
    >>> t.start.tolist(), t.stall.tolist(), t.total
    ([2, 15], [2, 4], 26)
    """
    n = len(compute)
    dbl = [True] * n if double_buffered is None else [bool(x) for x in double_buffered]
    if not (len(dram_read) == len(dram_write) == len(dbl) == n):
        raise ValueError("compute, dram_read, dram_write and double_buffered need one entry per tile")
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Timeline(compute=z, stall=z, start=z, end=z, load_cycles=z, store_cycles=z, total=0)
    comp = [int(c) for c in compute]
    load = [transfer_cycles(int(b), bytes_per_cycle) for b in dram_read]
    store = [transfer_cycles(int(b), bytes_per_cycle) for b in dram_write]
    # overlap[t]: tiles t-1 and t use opposite buffer halves.
    overlap = [False] + [dbl[t] and dbl[t - 1] for t in range(1, n)]
    start = [0] * n
    end = [0] * n
    store_done = [0] * n
    load_done = [0] * n
    port = load_done[0] = load[0]
    for t in range(n):
        ready = load_done[t]
        if t >= 1:
            ready = max(ready, end[t - 1])
            # The output half this tile writes must have been drained to DRAM.
            ready = max(ready, store_done[t - 2] if overlap[t] and t >= 2 else
                        0 if overlap[t] else store_done[t - 1])
        start[t] = ready
        end[t] = ready + comp[t]
        if t + 1 < n:  # prefetch first, then write back (port serves in program order)
            free = end[t - 1] if overlap[t + 1] and t >= 1 else (0 if overlap[t + 1] else end[t])
            port = max(port, free) + load[t + 1]
            load_done[t + 1] = port
        port = max(port, end[t]) + store[t]
        store_done[t] = port
    total = max(end[-1], store_done[-1])
    start_a = np.asarray(start, dtype=np.int64)
    end_a = np.asarray(end, dtype=np.int64)
    prev_end = np.concatenate(([0], end_a[:-1]))
    stall = start_a - prev_end
    stall[-1] += total - end_a[-1]
    return Timeline(compute=np.asarray(comp, dtype=np.int64), stall=stall, start=start_a,
                    end=end_a, load_cycles=np.asarray(load, dtype=np.int64),
                    store_cycles=np.asarray(store, dtype=np.int64), total=int(total))


@dataclass(frozen=True, slots=True, kw_only=True)
class Roofline:
    """Roofline position of one layer (ops = 2 x MACs)."""

    ops: int
    dram_bytes: int
    compute_cycles: int
    memory_cycles: int
    peak_ops_per_cycle: float
    bytes_per_cycle: float

    @property
    def intensity(self) -> float:
        """Operational intensity, ops per DRAM byte (inf when nothing moves)."""
        return self.ops / self.dram_bytes if self.dram_bytes else math.inf

    @property
    def ridge(self) -> float:
        """Intensity at which the memory roof meets the compute roof."""
        return self.peak_ops_per_cycle / self.bytes_per_cycle

    @property
    def bound(self) -> str:
        """``"compute"`` if the array time covers the DRAM time, else ``"memory"``."""
        return "compute" if self.compute_cycles >= self.memory_cycles else "memory"


def roofline(*, macs: int, dram_bytes: int, compute_cycles: int, pes: int,
             bytes_per_cycle: float) -> Roofline:
    """Classify a layer: compute cycles versus the cycles its DRAM traffic needs."""
    return Roofline(ops=2 * macs, dram_bytes=dram_bytes, compute_cycles=compute_cycles,
                    memory_cycles=transfer_cycles(dram_bytes, bytes_per_cycle),
                    peak_ops_per_cycle=2.0 * pes, bytes_per_cycle=bytes_per_cycle)
