"""Simulator-side helpers shared by the testbenches (clock, reset, driver, monitor, scoreboard)."""

from __future__ import annotations

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

#: Clock period in ns (the runner's timescale is 1ns/1ps).
CLOCK_NS = 10


def start_clock(clk) -> None:  # type: ignore[no-untyped-def]
    """Start a free-running clock, low first: no rising edge at t=0 (HARDWARE.md 6.1)."""
    Clock(clk, CLOCK_NS, unit="ns").start(start_high=False)


async def reset(rst, clk, cycles: int = 2) -> None:  # type: ignore[no-untyped-def]
    """Hold ``rst`` high for ``cycles`` rising edges, release it after a falling edge."""
    rst.value = 1
    await ClockCycles(clk, cycles)
    await FallingEdge(clk)
    rst.value = 0
