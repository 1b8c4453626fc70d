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
