"""Simulator-side building blocks for the ``hwcnn_top`` host interface (rtl/README.md section 2).

The cocotb ``matrix_multiplier`` split: a :class:`HostDriver` puts words into the buffers and
descriptors on ``desc__*``, a :class:`TileMonitor` watches ``start``/``busy``/``done``/``error``
cycle by cycle and measures ``T`` (cycles from start to done), a model
(:mod:`hwcnn.numerics.golden_ops`, which never imports cocotb) gives the expected outputs, and a
:class:`Scoreboard` compares and keeps every mismatch with its tile, output coordinate, expected
and actual value.

Timing convention: inputs change just after a falling clock edge and are sampled by the next
rising edge; outputs are read at falling edges. Cycle 0 is the cycle whose rising edge samples
``start = 1``; the monitor's sample ``i`` (``i >= 1``) is taken at the falling edge after rising
edge ``i - 1``, i.e. it shows what the host sees during cycle ``i``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge, Timer, ValueChange

#: Clock period in ns (the runner's timescale is 1ns/1ps).
CLOCK_NS = 10
#: Mismatches kept per tile in the results file (all are counted).
KEEP_MISMATCHES = 20


def start_clock(clk) -> None:  # type: ignore[no-untyped-def]
    """Start a free-running clock, low first: no rising edge at t=0 (HARDWARE.md 6.1)."""
    Clock(clk, CLOCK_NS, unit="ns").start(start_high=False)


async def reset(rst, clk, cycles: int = 2) -> None:  # type: ignore[no-untyped-def]
    """Hold ``rst`` high for ``cycles`` rising edges, release it after a falling edge."""
    rst.value = 1
    await ClockCycles(clk, cycles)
    await FallingEdge(clk)
    rst.value = 0


class HostDriver:
    """Drives the host side of ``hwcnn_top``: buffer writes, output reads, descriptors, start.

    Every coroutine starts and ends right after a falling edge, so calls can follow each other.
    """

    WRITE_PORTS = ("act_wr", "wgt_wr", "par_wr", "out_wr")

    def __init__(self, dut) -> None:  # type: ignore[no-untyped-def]
        self.dut = dut
        self.clk = dut.clk

    async def init(self) -> None:
        """Start the clock, idle every input, reset, and leave the bus right after a falling edge."""
        start_clock(self.clk)
        for port in self.WRITE_PORTS:
            getattr(self.dut, f"{port}__en").value = 0
            getattr(self.dut, f"{port}__addr").value = 0
            getattr(self.dut, f"{port}__data").value = 0
        self.dut.out_rd__addr.value = 0
        self.dut.start.value = 0
        await reset(self.dut.rst, self.clk)

    async def write(self, streams: Mapping[str, Iterable[tuple[int, int]]]) -> int:
        """Write ``{port: [(addr, word), ...]}``; the ports run in parallel, one word per cycle.

        Returns the number of cycles used.
        """
        iters = {port: iter(words) for port, words in streams.items()}
        cycles = 0
        while iters:
            for port in list(iters):
                item = next(iters[port], None)
                en = getattr(self.dut, f"{port}__en")
                if item is None:
                    en.value = 0
                    del iters[port]
                    continue
                getattr(self.dut, f"{port}__addr").value = item[0]
                getattr(self.dut, f"{port}__data").value = item[1]
                en.value = 1
            if not iters:
                break
            await FallingEdge(self.clk)   # the rising edge in between did the write
            cycles += 1
        return cycles

    async def read_out(self, addrs: list[int]) -> list[int]:
        """Read output-buffer words, one per cycle.

        The address driven in cycle t is sampled by the rising edge ending t; its data is on
        ``out_rd__data`` in cycle t+1, where the next falling edge reads it.
        """
        out: list[int] = []
        for addr in addrs:
            self.dut.out_rd__addr.value = addr
            await FallingEdge(self.clk)
            out.append(int(self.dut.out_rd__data.value))
        return out

    def set_desc(self, fields: Mapping[str, int]) -> None:
        """Drive every ``desc__<name>`` listed in ``fields``; the others keep their value."""
        for name, value in fields.items():
            getattr(self.dut, f"desc__{name}").value = int(value)


@dataclass(slots=True)
class TileRun:
    """What the monitor saw for one tile: ``cycles`` = T, protocol violations, ``error``."""

    cycles: int
    error: bool
    violations: list[str] = field(default_factory=list)


class TileMonitor:
    """Pulses ``start`` and measures the handshake of one tile (README section 5).

    Checks: ``busy`` is 1 exactly in cycles ``1..T-1``; ``done`` is 1 in exactly cycle ``T``;
    ``error`` only rises with ``done``. Instead of sampling every cycle from Python (which
    bounds the simulation at a few thousand cycles per second) the monitor records the value
    changes of ``busy``, ``done`` and ``error`` with their simulation times and checks them
    against the clock edges afterwards: outputs are registered, so they change only at rising
    edges, and a change at rising edge ``t0 + (c-1)*P`` is what the host sees in cycle ``c``.
    """

    def __init__(self, dut, limit: int = 2_000_000) -> None:  # type: ignore[no-untyped-def]
        self.dut = dut
        self.limit = limit

    async def _watch(self, signal, name: str, log: list[tuple[int, str, int]]) -> None:  # type: ignore[no-untyped-def]
        while True:
            await ValueChange(signal)
            log.append((get_sim_time("ns"), name, int(signal.value)))

    def _cycle(self, t: float, t0: float) -> int:
        # A change at rising edge t0 + (c-1)*P is seen in cycle c.
        return round((t - t0) / CLOCK_NS) + 1

    async def run(self, driver: HostDriver, desc: Mapping[str, int]) -> TileRun:
        dut = self.dut
        driver.set_desc(desc)
        prev_error = int(dut.error.value)
        dut.start.value = 1
        log: list[tuple[int, str, int]] = []
        watchers = [cocotb.start_soon(self._watch(sig, name, log))
                    for sig, name in ((dut.busy, "busy"), (dut.done, "done"),
                                      (dut.error, "error"))]
        await RisingEdge(dut.clk)          # cycle 0: start sampled
        t0 = get_sim_time("ns")
        await FallingEdge(dut.clk)
        dut.start.value = 0
        bad: list[str] = []
        if not int(dut.done.value):
            timeout = Timer(self.limit * CLOCK_NS, unit="ns")
            if await First(RisingEdge(dut.done), timeout) is timeout:
                for w in watchers:
                    w.cancel()
                return TileRun(cycles=self.limit, error=False,
                               violations=[f"no done within {self.limit} cycles"])
            await FallingEdge(dut.clk)
        # Now in cycle T, after the falling edge.
        t_done = get_sim_time("ns")
        cycles = round((t_done - t0) / CLOCK_NS + 0.5)
        error = bool(int(dut.error.value))
        if int(dut.busy.value):
            bad.append(f"busy=1 together with done in cycle {cycles}")
        await FallingEdge(dut.clk)
        if int(dut.done.value):
            bad.append(f"done still 1 in cycle {cycles + 1} (must be a one-cycle pulse)")
        if int(dut.busy.value):
            bad.append(f"busy=1 in cycle {cycles + 1} after done")
        for w in watchers:
            w.cancel()
        # ``error`` is cleared by the next start (cycle 1) and set with ``done`` (cycle T).
        err = [(1, 0)] if prev_error else []
        if error:
            err = [] if err and cycles == 1 else err + [(cycles, 1)]
        want = {"busy": [(1, 1), (cycles, 0)] if cycles > 1 else [],
                "done": [(cycles, 1), (cycles + 1, 0)], "error": err}
        for name, expected in want.items():
            seen = [(self._cycle(t, t0), v) for t, n, v in log if n == name]
            if seen != expected:
                bad.append(f"{name} changed at (cycle, value) {seen}, expected {expected}")
        return TileRun(cycles=cycles, error=error, violations=bad)


@dataclass(slots=True)
class TileRecord:
    """One tile's result: what the scoreboard keeps and the results file stores."""

    name: str
    kind: str
    summary: str
    cycles: int
    expected_cycles: int
    error: bool
    expected_error: bool
    compared: int = 0
    mismatches: int = 0
    first_mismatches: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.mismatches == 0 and not self.violations and self.error == self.expected_error
                and self.cycles == self.expected_cycles)

    def problems(self) -> list[str]:
        out = [f"{self.name}: {v}" for v in self.violations]
        if self.error != self.expected_error:
            out.append(f"{self.name}: error={int(self.error)}, expected {int(self.expected_error)}")
        if self.cycles != self.expected_cycles:
            out.append(f"{self.name}: {self.cycles} cycles from start to done, closed form "
                       f"(hwcnn.arch.timing) says {self.expected_cycles}")
        for mm in self.first_mismatches:
            out.append(f"{self.name}: {mm['what']} at {mm['at']}: expected {mm['expected']}, "
                       f"got {mm['actual']}")
        if self.mismatches > len(self.first_mismatches):
            out.append(f"{self.name}: ... {self.mismatches} mismatches in total")
        return out


class Scoreboard:
    """Collects tile records; compares expected and actual values element by element."""

    def __init__(self) -> None:
        self.records: list[TileRecord] = []

    def add(self, record: TileRecord) -> TileRecord:
        self.records.append(record)
        return record

    @staticmethod
    def compare(record: TileRecord, what: str, expected: Any, actual: Any,
                coords: Iterable[tuple[int, ...]]) -> None:
        """Compare ``expected[c]`` with ``actual[c]`` for every coordinate ``c``.

        Lists (of whole buffer words, which may exceed int64) are indexed like 1-d arrays.
        """
        expected = np.asarray(expected, dtype=object)
        actual = np.asarray(actual, dtype=object)
        for at in coords:
            e, a = int(expected[at]), int(actual[at])
            record.compared += 1
            if e != a:
                record.mismatches += 1
                if len(record.first_mismatches) < KEEP_MISMATCHES:
                    record.first_mismatches.append(
                        {"what": what, "at": list(at), "expected": e, "actual": a})

    def problems(self) -> list[str]:
        return [p for r in self.records for p in r.problems()]

    def table(self) -> str:
        """A fixed-width table of every tile: cycles measured vs closed form, mismatches."""
        lines = [f"{'tile':32s} {'cycles':>8s} {'formula':>8s} {'values':>7s} {'bad':>5s}  what"]
        for r in self.records:
            flag = "" if r.ok else "  <-- FAIL"
            lines.append(f"{r.name:32s} {r.cycles:8d} {r.expected_cycles:8d} {r.compared:7d} "
                         f"{r.mismatches:5d}  {r.summary[:70]}{flag}")
        return "\n".join(lines)

    def write(self, path: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
        """Write every record (and ``meta``) as JSON for the host test."""
        doc = {"meta": dict(meta), "tiles": [
            {"name": r.name, "kind": r.kind, "summary": r.summary, "cycles": r.cycles,
             "expected_cycles": r.expected_cycles, "error": r.error,
             "expected_error": r.expected_error, "compared": r.compared,
             "mismatches": r.mismatches, "first_mismatches": r.first_mismatches,
             "violations": r.violations, "ok": r.ok} for r in self.records]}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
