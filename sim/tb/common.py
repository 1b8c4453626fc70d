"""Simulator-side building blocks for the ``hwcnn_top`` host interface (rtl/README.md section 2).

The cocotb ``matrix_multiplier`` split: a :class:`HostDriver` puts words into the buffers and
descriptors on ``desc__*``, a :class:`TileMonitor` watches ``start``/``busy``/``done``/``error``
cycle by cycle and measures ``T`` (cycles from start to done), a model
(:mod:`hwcnn.golden_ops`, which never imports cocotb) gives the expected outputs, and a
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

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

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
            await RisingEdge(self.clk)
            await FallingEdge(self.clk)
            cycles += 1
        return cycles

    async def read_out(self, addrs: list[int]) -> list[int]:
        """Read output-buffer words (pipelined: address in cycle t, data in cycle t+1)."""
        out: list[int] = []
        for i in range(len(addrs) + 1):
            if i < len(addrs):
                self.dut.out_rd__addr.value = addrs[i]
            await RisingEdge(self.clk)
            await FallingEdge(self.clk)
            if i:
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
    """Pulses ``start`` and samples the handshake every cycle until ``done`` (README section 5).

    Checks: ``busy`` is 1 in cycles ``1..T-1`` and 0 at ``T``; ``done`` is 0 before ``T``, 1 in
    exactly cycle ``T``; ``error`` is only raised with ``done``.
    """

    def __init__(self, dut, limit: int = 2_000_000) -> None:  # type: ignore[no-untyped-def]
        self.dut = dut
        self.limit = limit

    async def run(self, driver: HostDriver, desc: Mapping[str, int]) -> TileRun:
        dut = self.dut
        driver.set_desc(desc)
        dut.start.value = 1
        await RisingEdge(dut.clk)          # cycle 0: start sampled
        await FallingEdge(dut.clk)
        dut.start.value = 0
        bad: list[str] = []
        cycle = 1
        while True:
            busy, done, error = int(dut.busy.value), int(dut.done.value), int(dut.error.value)
            if done:
                if busy:
                    bad.append(f"busy=1 together with done in cycle {cycle}")
                break
            if not busy:
                bad.append(f"busy=0 in cycle {cycle} before done")
            if error:
                bad.append(f"error=1 without done in cycle {cycle}")
            if cycle >= self.limit:
                bad.append(f"no done within {self.limit} cycles")
                return TileRun(cycles=cycle, error=False, violations=bad)
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            cycle += 1
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        if int(dut.done.value):
            bad.append(f"done still 1 in cycle {cycle + 1} (must be a one-cycle pulse)")
        if int(dut.busy.value):
            bad.append(f"busy=1 in cycle {cycle + 1} after done")
        return TileRun(cycles=cycle, error=bool(error), violations=bad)


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
                       f"(hwcnn.timing) says {self.expected_cycles}")
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
        """Compare ``expected[c]`` with ``actual[c]`` for every coordinate ``c``."""
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
