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

The port serves requests in program order: ``load t+1`` before ``store t`` (prefetch first),
except before a *barrier* tile: a tile that reads what earlier tiles wrote (the first tile of
a layer reading an earlier layer's output; the compiled program's DRAM barrier, ``rtl/README.md``
9.3) reads its input (``barrier_read`` bytes, default all of its read) only once every
earlier store is done: the rest of its load (weights, parameters) is prefetched as usual, then
``store t``, then the input. A transfer of ``b`` bytes occupies the port ``ceil(b / bytes_per_cycle)`` cycles.

Stall of tile ``t`` = cycles the array sits idle before ``t`` starts (after ``t-1`` ended, or
from time 0 for the first tile), except that before a barrier tile the wait for the earlier
tiles' write-back (from the later of the tile's end and the barrier tile's prefetched part)
is the *drain* of the tile before it (its output reaching DRAM: the producing layer's cost),
and only the rest (the barrier tile's own loads) is its stall; the last tile also
carries the final write-back. So the sum of compute, stall and drain over all tiles equals the
end-to-end cycle count exactly.
"""

from __future__ import annotations

import itertools
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
    drain: np.ndarray               # write-back waited for by the next (barrier) tile
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
        """Cycles the units wait for DRAM (stalls and drains)."""
        return int(self.stall.sum() + self.drain.sum())


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


def _transfer_array(nbytes: np.ndarray, bytes_per_cycle: float) -> np.ndarray:
    """:func:`transfer_cycles` of every entry (the same float arithmetic, element-wise)."""
    if not bytes_per_cycle > 0:
        raise ConfigError(f"DRAM bandwidth must be positive, not {bytes_per_cycle!r} bytes/cycle")
    b = np.asarray(nbytes, dtype=np.int64)
    cyc = np.ceil(b / bytes_per_cycle - 1e-9).astype(np.int64)
    return np.where(b > 0, cyc, 0)


def simulate(compute: Ints, dram_read: Ints, dram_write: Ints, bytes_per_cycle: float, *,
             double_buffered: Sequence[bool] | np.ndarray | None = None,
             barrier: Sequence[bool] | np.ndarray | None = None,
             barrier_read: Ints | None = None, load_min: Ints | None = None) -> Timeline:
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
    barrier : sequence of bool, optional
        Per tile: whether it reads what earlier tiles wrote (default: none); its load waits
        for every earlier store.
    barrier_read : sequence of int, optional
        Per tile: the bytes of a barrier tile's ``dram_read`` that earlier tiles wrote (its
        input activations; default: all of it). The rest (weights, parameters) is prefetched
        as any tile's load, before the stores; the barrier part is read after them.
    load_min : sequence of int, optional
        Per tile: the fewest cycles its load holds the port (the complete accelerator's load
        unit gathering im2col rows, :mod:`hwcnn.compiler.gather`; default: none). A barrier
        tile's floor lengthens its input part.

    Notes
    -----
    The schedule is a max-plus recurrence on five times (DRAM port free, load of the next
    tile done, end of the previous tile, write-back done of the two previous tiles); every
    step only takes maxima and adds durations, so shifting the state by ``d`` cycles shifts
    the next state by ``d``. Inside a run of identical tiles (same compute, transfers and
    buffering, as a layer's tiles mostly are) the pipeline therefore repeats exactly once one
    step moves every time by the same ``d``: the rest of the run is filled with NumPy as
    ``d``-cycle steps instead of being stepped tile by tile. The result is identical to
    stepping every tile (``tests/test_memsim.py`` checks it against a plain loop).

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

    Tile 1 reads what tile 0 wrote: store0 [12,13), then load1 [13,15); the write-back is
    tile 0's drain (1 cycle), the load tile 1's stall (2).

    >>> t = simulate([10, 10], [32, 32], [16, 16], 16.0, barrier=[False, True])
    >>> t.start.tolist(), t.stall.tolist(), t.drain.tolist(), t.total
    ([2, 15], [2, 3], [1, 0], 26)

    Only 16 of tile 1's 32 bytes are tile 0's output: the other 16 are prefetched during
    compute0 [2,3), store0 [12,13), the 16 bytes [13,14).

    >>> t = simulate([10, 10], [32, 32], [16, 16], 16.0, barrier=[False, True],
    ...              barrier_read=[0, 16])
    >>> t.start.tolist(), t.stall.tolist(), t.drain.tolist(), t.total
    ([2, 14], [2, 2], [1, 0], 25)
    """
    comp = np.asarray(compute, dtype=np.int64).reshape(-1)
    n = len(comp)
    dbl = (np.ones(n, dtype=bool) if double_buffered is None
           else np.asarray(double_buffered, dtype=bool).reshape(-1))
    bar = (np.zeros(n, dtype=bool) if barrier is None
           else np.asarray(barrier, dtype=bool).reshape(-1))
    if not (len(dram_read) == len(dram_write) == len(dbl) == len(bar) == n):
        raise ValueError("compute, dram_read, dram_write, double_buffered and barrier need one "
                         "entry per tile")
    reads = np.asarray(dram_read, dtype=np.int64).reshape(-1)
    load = _transfer_array(reads, bytes_per_cycle)
    # a barrier tile's load in two transfers: the input part, which waits, and the rest
    # (computed at the barrier tiles only: a program has few)
    bidx = np.flatnonzero(bar)
    if barrier_read is not None and len(barrier_read) != n:
        raise ValueError("barrier_read needs one entry per tile")
    dep_b = (reads[bidx] if barrier_read is None
             else np.minimum(np.asarray(barrier_read, dtype=np.int64).reshape(-1)[bidx],
                             reads[bidx]))
    dep = _transfer_array(dep_b, bytes_per_cycle)
    ind = _transfer_array(reads[bidx] - dep_b, bytes_per_cycle)
    if load_min is not None:
        if len(load_min) != n:
            raise ValueError("load_min needs one entry per tile")
        lmin = np.asarray(load_min, dtype=np.int64).reshape(-1)
        load = np.maximum(load, lmin)
        dep = np.maximum(dep, lmin[bidx] - ind)
    load[bidx] = ind + dep
    store = _transfer_array(np.asarray(dram_write).reshape(-1), bytes_per_cycle)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Timeline(compute=z, stall=z, drain=z, start=z, end=z, load_cycles=z,
                        store_cycles=z, total=0)
    # overlap[t]: tiles t-1 and t use opposite buffer halves.
    overlap = np.zeros(n, dtype=bool)
    overlap[1:] = dbl[1:] & dbl[:-1]
    next_load = np.zeros(n, dtype=np.int64)
    next_load[:-1] = load[1:]
    next_dep = np.zeros(n, dtype=np.int64)
    prev = bidx[bidx > 0] - 1                # the tiles before barrier tiles
    next_load[prev] = ind[bidx > 0]
    next_dep[prev] = dep[bidx > 0]
    next_overlap = np.zeros(n, dtype=bool)
    next_overlap[:-1] = overlap[1:]
    next_barrier = np.zeros(n, dtype=bool)
    next_barrier[:-1] = bar[1:]
    # Step t depends on these seven numbers; runs of equal steps are extrapolated.
    differs = np.zeros(max(n - 1, 0), dtype=bool)   # column by column: no n x 7 copy
    for col in (comp, store, overlap, next_load, next_overlap, next_barrier, next_dep):
        differs |= col[1:] != col[:-1]
    cuts = np.flatnonzero(differs) + 1
    bounds = [0, *cuts.tolist(), n]
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    store_done = np.zeros(n, dtype=np.int64)
    pre_done = np.zeros(n, dtype=np.int64)   # before a barrier tile: its prefetch part done
    c_l, s_l, o_l = comp.tolist(), store.tolist(), overlap.tolist()
    nl_l, no_l, nb_l = next_load.tolist(), next_overlap.tolist(), next_barrier.tolist()
    nd_l = next_dep.tolist()
    # State before step t: port free, load of t done, end of t-1, store of t-1 / t-2 done.
    # (All times are >= 0, so the 0 start values act as "no such tile".)
    port = ld = int(load[0])
    e1 = sd1 = sd2 = 0
    for a, b in itertools.pairwise(bounds):
        c, s, o, nl, no, nb, nd = c_l[a], s_l[a], o_l[a], nl_l[a], no_l[a], nb_l[a], nd_l[a]
        t = a
        while t < b:
            before = (port, ld, e1, sd1, sd2)
            ready = max(ld, e1, sd2 if o else sd1)
            e = ready + c
            # prefetch the next tile first (into the half tile t-1 used, or after t itself):
            # all of its load, or for a barrier tile the part that does not read what was
            # written; then the store; then the barrier tile's input (nd = 0 otherwise)
            port = max(port, e1 if no else e) + nl
            pre = port
            port = max(port, e) + s
            sd = port
            port += nd
            ld = port if nb else pre
            sd2, sd1, e1 = sd1, sd, e
            start[t], end[t], store_done[t], pre_done[t] = ready, e, sd, pre
            t += 1
            d = port - before[0]
            if t < b and ld - before[1] == d and e1 - before[2] == d and sd1 - before[3] == d \
                    and sd2 - before[4] == d:
                # periodic from here on: every later step of the run adds d to every time
                steps = np.arange(1, b - t + 1, dtype=np.int64) * d
                start[t:b] = ready + steps
                end[t:b] = e + steps
                store_done[t:b] = sd + steps
                pre_done[t:b] = pre + steps
                shift = (b - t) * d
                port, ld, e1, sd1, sd2 = port + shift, ld + shift, e1 + shift, sd1 + shift, \
                    sd2 + shift
                t = b
    total = int(max(end[-1], store_done[-1]))
    prev_end = np.concatenate(([0], end[:-1]))
    # the write-back a barrier tile waits for, after the tile before it and after the
    # barrier tile's own prefetched part (that wait is the barrier tile's load, its stall)
    drain = np.zeros(n, dtype=np.int64)
    drain[prev] = np.maximum(store_done[prev] - np.maximum(end[prev], pre_done[prev]), 0)
    stall = start - prev_end - np.concatenate(([0], drain[:-1]))
    stall[-1] += total - end[-1]
    return Timeline(compute=comp, stall=stall, drain=drain, start=start, end=end, load_cycles=load,
                    store_cycles=store, total=total)


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
