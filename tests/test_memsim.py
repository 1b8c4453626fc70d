"""DRAM / double-buffering model: hand-worked timelines and conservation laws."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn.errors import ConfigError
from hwcnn.machine import memsim


def test_transfer_cycles() -> None:
    assert memsim.transfer_cycles(96, 16.0) == 6          # exact multiple: no extra cycle
    assert memsim.transfer_cycles(97, 16.0) == 7
    assert memsim.transfer_cycles(0, 16.0) == 0
    assert memsim.transfer_cycles(10, 2.5) == 4
    assert memsim.transfer_cycles(1000, 13.3) == 76      # 75.19 -> 76
    with pytest.raises(ConfigError, match="bandwidth must be positive"):
        memsim.transfer_cycles(1, 0.0)


def test_compute_bound_prefetch_hides_loads() -> None:
    # 3 tiles of 100 cycles, each loading 160 B (10 cycles at 16 B/cycle), writing 16 B (1 cycle).
    # load0 [0,10); compute t at 10 + 100 t (the next loads and stores hide under compute);
    # last store [310, 311).
    t = memsim.simulate([100] * 3, [160] * 3, [16] * 3, 16.0)
    assert t.start.tolist() == [10, 110, 210]
    assert t.stall.tolist() == [10, 0, 1]
    assert t.total == 311 == t.compute_total + t.stall_total


def test_memory_bound_stalls() -> None:
    # 3 tiles of 10 cycles loading 320 B (20 cycles each) at 16 B/cycle, no writes.
    # Port: load0 [0,20), load1 [20,40), load2 [40,60); compute0 [20,30), compute1 [40,50),
    # compute2 [60,70).
    t = memsim.simulate([10] * 3, [320] * 3, [0] * 3, 16.0)
    assert t.start.tolist() == [20, 40, 60]
    assert t.stall.tolist() == [20, 10, 10]
    assert t.total == 70


def test_prefetch_waits_for_the_half_it_overwrites() -> None:
    # Tile 2 is loaded into tile 0's half: it may start only when tile 0 has computed.
    # load0 [0,1), load1 [1,2), compute0 [1,51); load2 can start at 51 -> [51,52);
    # compute1 [51,53) (load1 done at 2), compute2 [53,55).
    t = memsim.simulate([50, 2, 2], [16, 16, 16], [0, 0, 0], 16.0)
    assert t.start.tolist() == [1, 51, 53]
    assert t.total == 55


def test_single_buffered_tiles_do_not_overlap() -> None:
    t = memsim.simulate([10, 10], [32, 32], [16, 16], 16.0, double_buffered=[False, False])
    # load0 [0,2) compute0 [2,12) load1 [12,14) store0 [14,15) compute1 [15,25) store1 [25,26)
    assert t.start.tolist() == [2, 15] and t.total == 26


def test_bounds_on_random_programs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        comp = rng.integers(1, 200, n)
        rd = rng.integers(0, 3000, n)
        wr = rng.integers(0, 1000, n)
        dbl = rng.random(n) < 0.7
        bw = float(rng.choice([1.0, 4.0, 16.0, 13.3]))
        t = memsim.simulate(comp, rd, wr, bw, double_buffered=dbl)
        xfer = sum(memsim.transfer_cycles(int(b), bw) for b in (*rd, *wr))
        assert t.total == t.compute_total + t.stall_total
        assert t.total >= max(int(comp.sum()), xfer)          # neither resource can be beaten
        assert t.total <= int(comp.sum()) + xfer              # never worse than fully serial
        assert (t.stall >= 0).all()
        serial = memsim.simulate(comp, rd, wr, bw, double_buffered=[False] * n)
        assert serial.total >= t.total                          # overlap never hurts


def test_roofline_bound() -> None:
    r = memsim.roofline(macs=1000, dram_bytes=100, compute_cycles=50, pes=16, bytes_per_cycle=4.0)
    assert r.memory_cycles == 25 and r.bound == "compute"
    assert r.intensity == 20.0 and r.ridge == 8.0
    r = memsim.roofline(macs=1000, dram_bytes=1000, compute_cycles=50, pes=16, bytes_per_cycle=4.0)
    assert r.bound == "memory"


# -- the fast simulate against a plain loop ---------------------------------------------------

def _loop_reference(compute, dram_read, dram_write, bw, dbl, barrier=None, bread=None):  # type: ignore[no-untyped-def]
    """The tile-by-tile loop of the module docstring, kept here as the reference: each tile's
    start, end and write-back, in program order, with the port serving requests in order (a
    barrier tile's load after every earlier store)."""
    import math

    n = len(compute)
    bar = [False] * n if barrier is None else [bool(b) for b in barrier]
    comp = [int(c) for c in compute]
    cyc = lambda b: 0 if b <= 0 else math.ceil(int(b) / bw - 1e-9)
    # a barrier tile's load: the bytes earlier tiles wrote (after the stores), and the rest
    dep = [cyc(min(int(bread[t]), int(dram_read[t])) if bread is not None else int(dram_read[t]))
           if bar[t] else 0 for t in range(n)]
    ind = [cyc(int(dram_read[t]) - min(int(bread[t]), int(dram_read[t])))
           if bar[t] and bread is not None else 0 if bar[t] else cyc(int(dram_read[t]))
           for t in range(n)]
    load = [ind[t] + dep[t] for t in range(n)]
    store = [0 if b <= 0 else math.ceil(int(b) / bw - 1e-9) for b in dram_write]
    overlap = [False] + [bool(dbl[t]) and bool(dbl[t - 1]) for t in range(1, n)]
    start, end, store_done, load_done, pre_done = [0] * n, [0] * n, [0] * n, [0] * n, [0] * n
    port = load_done[0] = load[0]
    for t in range(n):
        ready = load_done[t]
        if t >= 1:
            ready = max(ready, end[t - 1])
            ready = max(ready, store_done[t - 2] if overlap[t] and t >= 2 else
                        0 if overlap[t] else store_done[t - 1])
        start[t] = ready
        end[t] = ready + comp[t]
        if t + 1 < n and bar[t + 1]:
            free = end[t - 1] if overlap[t + 1] and t >= 1 else (0 if overlap[t + 1] else end[t])
            port = max(port, free) + ind[t + 1]
            pre_done[t] = port
            port = max(port, end[t]) + store[t]
            store_done[t] = port
            port += dep[t + 1]
            load_done[t + 1] = port
            continue
        if t + 1 < n:
            free = end[t - 1] if overlap[t + 1] and t >= 1 else (0 if overlap[t + 1] else end[t])
            port = max(port, free) + load[t + 1]
            load_done[t + 1] = port
        port = max(port, end[t]) + store[t]
        store_done[t] = port
    total = max(end[-1], store_done[-1])
    # the write-back a barrier tile waits for is the drain of the tile before it
    drain = [max(0, store_done[t] - max(end[t], pre_done[t])) if t + 1 < n and bar[t + 1]
             else 0 for t in range(n)]
    stall = [start[0]] + [start[t] - end[t - 1] - drain[t - 1] for t in range(1, n)]
    stall[-1] += total - end[-1]
    return start, end, stall, load, store, total, drain


def _runs(rng: np.random.Generator, n_runs: int) -> tuple[np.ndarray, ...]:
    """Random programs made of runs of identical tiles (as a layer's tiles are)."""
    parts: list[list[int | bool]] = [[], [], [], []]
    for _ in range(n_runs):
        length = int(rng.choice([1, 2, 3, 7, 50, 400]))
        row = (int(rng.integers(0, 300)), int(rng.choice([0, *rng.integers(1, 5000, 3)])),
               int(rng.choice([0, *rng.integers(1, 2000, 3)])), bool(rng.random() < 0.75))
        for p, v in zip(parts, row):
            p.extend([v] * length)
    return tuple(np.asarray(p) for p in parts)


@pytest.mark.parametrize("seed", range(12))
def test_simulate_equals_the_loop_on_random_programs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(25):
        if trial % 2:
            comp, rd, wr, dbl = _runs(rng, int(rng.integers(1, 12)))
        else:  # fully random, no runs
            n = int(rng.integers(1, 60))
            comp, rd, wr = rng.integers(0, 300, n), rng.integers(0, 5000, n), rng.integers(0, 2000, n)
            dbl = rng.random(n) < 0.7
        bw = float(rng.choice([1.0, 3.5, 16.0, 13.3, 64.0]))
        # barriers: none, or at run starts (layers), or anywhere
        bar = [None, _run_starts(comp, rd, wr, dbl), rng.random(len(comp)) < 0.2][trial % 3]
        # the barrier tiles' input bytes: all of the read, or a random part of it
        bread = None if trial % 4 < 2 else rng.integers(0, 5000, len(comp))
        got = memsim.simulate(comp, rd, wr, bw, double_buffered=dbl, barrier=bar,
                              barrier_read=bread)
        start, end, stall, load, store, total, drain = _loop_reference(comp, rd, wr, bw, dbl,
                                                                       bar, bread)
        assert got.start.tolist() == start
        assert got.end.tolist() == end
        assert got.stall.tolist() == stall
        assert got.drain.tolist() == drain
        assert got.load_cycles.tolist() == load and got.store_cycles.tolist() == store
        assert got.total == total
        assert int(got.compute.sum() + got.stall.sum() + got.drain.sum()) == total
        assert min(stall) >= 0 and min(drain) >= 0


def _run_starts(*cols) -> np.ndarray:  # type: ignore[no-untyped-def]
    """True where a tile differs from the one before (the first tile of a run, not tile 0)."""
    stacked = np.stack([np.asarray(c, dtype=np.int64) for c in cols], axis=1)
    flags = np.zeros(len(stacked), dtype=bool)
    flags[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    return flags


def test_a_barrier_tile_loads_after_every_earlier_store() -> None:
    """Hand-worked: 3 tiles of 10 cycles, 32 B in and 32 B out each at 16 B/cycle, tile 2
    reads what tiles 0 and 1 wrote. load0 [0,2), c0 [2,12) with load1 [2,4), store0 [12,14),
    c1 [12,22), store1 [22,24), then load2 [24,26) (without the barrier it would have been
    prefetched in [14,16) during c1), c2 [26,36), store2 [36,38)."""
    t = memsim.simulate([10, 10, 10], [32, 32, 32], [32, 32, 32], 16.0,
                        barrier=[False, False, True])
    assert t.start.tolist() == [2, 12, 26]
    assert t.drain.tolist() == [0, 2, 0]            # tile 1's write-back, waited for by tile 2
    assert t.stall.tolist() == [2, 0, 2 + 2]        # tile 2: its own load; then the last store
    assert t.total == 38
    free = memsim.simulate([10, 10, 10], [32, 32, 32], [32, 32, 32], 16.0)
    assert free.start.tolist() == [2, 12, 22] and free.total == 34
    # 16 of tile 2's bytes are weights: prefetched in [14,15) during c1; store1 [22,24), then
    # the 16 input bytes [24,25)
    part = memsim.simulate([10, 10, 10], [32, 32, 32], [32, 32, 32], 16.0,
                           barrier=[False, False, True], barrier_read=[0, 0, 16])
    assert part.start.tolist() == [2, 12, 25] and part.drain.tolist() == [0, 2, 0]
    assert part.stall.tolist() == [2, 0, 1 + 2] and part.total == 37


def test_the_reference_loop_differs_when_the_schedule_does() -> None:
    """Negative control: the comparison sees a one-cycle change in one tile of a long run."""
    comp, rd, wr = np.full(500, 40), np.full(500, 640), np.full(500, 64)
    base = _loop_reference(comp, rd, wr, 16.0, np.ones(500, bool))
    comp2 = comp.copy()
    comp2[321] += 1
    got = memsim.simulate(comp2, rd, wr, 16.0)
    assert got.end.tolist() != base[1]
    assert got.end.tolist() == _loop_reference(comp2, rd, wr, 16.0, np.ones(500, bool))[1]
