"""The whole-network testbench (runs INSIDE the simulator, under cocotb; the host side is
:mod:`hwcnn.rtlsim.session`). Top: ``hwcnn_soc_tb`` (:mod:`hwcnn.rtlsim.harness`).

One cocotb test, :func:`run_jobs`, runs the :class:`~hwcnn.rtlsim.job.Job` files named in
``$HWCNN_SOC_JOB`` (one path per line; several jobs share one simulator launch), each from a
reset of the machine (and of the AXI models) with a cleared DRAM:

1. cocotbext-axi's ``AxiRam`` of ``ram_bytes`` on ``m_axi`` gets ``dram.bin`` at ``base0``
   (optional random stalls on all five channels: pause generators with probability
   ``pause``; DRAM faults: reads/writes touching a :class:`~hwcnn.rtlsim.job.Fault` range are
   answered SLVERR by the RAM);
2. the ``AxiLiteMaster`` on ``s_axil`` writes BASE0, PROG_BASE, PROG_LEN, WIN_BASE, WIN_SIZE,
   then CTRL = 1;
3. every ``poll_cycles`` cycles it reads STATUS (and rewrites ``progress.json``) until done or
   error, or until ``timeout_cycles`` have passed since the start (never a hang);
4. it reads CYCLES and BUSY0..3 and writes the whole DRAM (``dram_out.bin``) and the
   :class:`~hwcnn.rtlsim.job.Outcome` (``outcome.json``).

Cycle counts: ``Outcome.cycles`` is the CYCLES register read after the machine stopped (it
counts from the start pulse and holds at done / error: the exact start-to-done cycles, what a
host sees; -1 after a timeout). As a check of the register, the testbench also finds the control
block inside the machine (the scope holding the ``r_prog_len`` register of
:class:`hwcnn.hw.axi.csr.ControlRegisters` and its ``start``, ``done`` and ``error`` ports) and
takes the clock cycle of the ``start`` pulse and of the first ``done`` or ``error`` pulse after
it from value-change triggers (no per-cycle Python, so the simulation runs at Verilator speed
between polls): ``Outcome.pulse_cycles`` is their difference (-1 without such a scope).

Progress (layers done) is watched on the DRAM: every byte the AxiRam writes is looked up in
``owner.npy``; a layer is done in the cycle its last not-yet-written output byte is written.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from ..hw.axi.regmap import STATUS_CODE_SHIFT, STATUS_DONE, STATUS_ERROR, offsets
from .job import (
    DRAM_IN,
    DRAM_OUT,
    JOB_ENV,
    OUTCOME_FILE,
    OWNER_FILE,
    PROGRESS_FILE,
    Job,
    Outcome,
    write_atomic,
)

#: Clock period (ns); the runner's timescale is 1 ns / 1 ps.
PERIOD_NS = 10
REGS = offsets(4, 4)
#: Busy counters of the machine (MACHINE.md: fetch, load, compute, store).
UNITS = 4


def _cycle() -> int:
    """The clock cycle now: cycle k starts at the k-th rising edge (time (k + 1/2) * period)."""
    t = get_sim_time(unit="ns")
    return int((t - PERIOD_NS / 2) // PERIOD_NS)


def _pauses(rng: random.Random, p: float) -> Iterator[bool]:
    while True:
        yield rng.random() < p


def _children(h: Any) -> list[Any]:
    try:
        return list(h)
    except TypeError:
        return []


def find_csr(dut: Any, depth: int = 4) -> Any | None:
    """The scope of the ControlRegisters block inside the machine, or None."""
    frontier = [dut]
    for _ in range(depth):
        nxt = []
        for h in frontier:
            kids = _children(h)
            names = {getattr(k, "_name", "") for k in kids}
            if {"r_prog_len", "start", "done", "error"} <= names:
                return h
            nxt += [k for k in kids if _children(k)]
        frontier = nxt
    return None


class _Bench:
    """The AxiRam (sized for the largest job), the host, and the state of the current job."""

    def __init__(self, dut: Any, ram_bytes: int) -> None:
        self.dut = dut
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi", bus_separator="__"), dut.clk,
                          dut.rst, size=ram_bytes)
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"),
                                  dut.clk, dut.rst)
        self.gen = 0
        self._hook()

    def begin(self, job: Job, where: Path) -> None:
        """Clear the DRAM, load the job's image and owner map, set its stalls."""
        self.job, self.where = job, where
        self.ram.write(0, bytes(self.ram.size))
        self.ram.write(job.base0, (where / DRAM_IN).read_bytes())
        self.owner = np.full(self.ram.size, -1, dtype=np.int32)
        own = np.load(where / OWNER_FILE)
        self.owner[:own.size] = own
        self.written = np.zeros(self.ram.size, dtype=bool)
        self.counts = np.zeros(len(job.layers), dtype=np.int64)
        self.need = np.asarray(job.layer_bytes, dtype=np.int64)
        self.layer_cycles = [-1] * len(job.layers)
        self.start_cycle: int | None = None
        self.end_cycle: int | None = None
        wr, rd = self.ram.write_if, self.ram.read_if
        rng = random.Random(job.seed)
        for ch in (wr.aw_channel, wr.w_channel, wr.b_channel, rd.ar_channel, rd.r_channel):
            if job.pause > 0:
                ch.set_pause_generator(_pauses(random.Random(rng.random()), job.pause))
            else:
                # clearing kills the generator but keeps its last value: a stall for ever
                ch.clear_pause_generator()
                ch.pause = False

    def _hook(self) -> None:
        wr, rd = self.ram.write_if, self.ram.read_if
        orig_write, orig_read = wr._write, rd._read

        def hit(addr: int, n: int, write: bool) -> bool:
            return any((f.write if write else f.read) and addr < f.hi and addr + n > f.lo
                       for f in self.job.faults)

        async def write(address: int, data: bytes) -> None:
            if hit(address, len(data), True):
                raise OSError("injected DRAM write error")
            await orig_write(address, data)
            self._watch(address, len(data))

        async def read(address: int, length: int) -> bytes:
            if hit(address, length, False):
                raise OSError("injected DRAM read error")
            data: bytes = await orig_read(address, length)
            return data

        wr._write, rd._read = write, read

    def _watch(self, address: int, n: int) -> None:
        idx = np.arange(address, min(address + n, self.ram.size))
        new = idx[~self.written[idx]]
        if not new.size:
            return
        self.written[new] = True
        own = self.owner[new]
        own = own[own >= 0]
        if not own.size:
            return
        np.add.at(self.counts, own, 1)
        now = _cycle() - (self.start_cycle or 0)
        for i in np.unique(own):
            if self.layer_cycles[i] < 0 and self.counts[i] >= self.need[i]:
                self.layer_cycles[i] = now

    async def reg(self, name: str) -> int:
        r = await self.host.read(REGS[name], 4)
        return int.from_bytes(r.data, "little")

    async def set(self, name: str, value: int) -> None:
        await self.host.write(REGS[name], int(value).to_bytes(4, "little"))

    async def set64(self, name: str, value: int) -> None:
        await self.set(f"{name}_LO", value & 0xFFFFFFFF)
        await self.set(f"{name}_HI", value >> 32)

    async def cycles_reg(self) -> int:
        lo = await self.reg("CYCLES_LO")
        return lo | (await self.reg("CYCLES_HI")) << 32

    async def _pulses(self, csr: Any, gen: int) -> None:
        # a watcher of an earlier job (one that timed out) is left waiting, but never writes
        await RisingEdge(csr.start)
        if gen == self.gen:
            self.start_cycle = _cycle()
        await First(RisingEdge(csr.done), RisingEdge(csr.error))
        if gen == self.gen:
            self.end_cycle = _cycle()

    def progress(self, cycles: int) -> None:
        done = sum(c >= 0 for c in self.layer_cycles)
        write_atomic(self.where / PROGRESS_FILE,
                     f'{{"cycles": {cycles}, "layers_done": {done}, '
                     f'"layers": {len(self.job.layers)}}}\n')

    async def run(self, job: Job, where: Path) -> None:
        """One job from reset to ``outcome.json``."""
        wall = time.perf_counter()
        dut = self.dut
        dut.rst.value = 1
        await ClockCycles(dut.clk, 2)
        self.begin(job, where)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 2)
        csr = find_csr(dut)
        self.gen += 1
        if csr is not None:
            cocotb.start_soon(self._pulses(csr, self.gen))
        await self.set64("BASE0", job.base0)
        await self.set64("PROG_BASE", job.prog_base)
        await self.set("PROG_LEN", job.prog_len)
        await self.set64("WIN_BASE", job.win_base)
        await self.set64("WIN_SIZE", job.win_size)
        await self.set("CTRL", 1)
        t0 = _cycle()
        state, status = "timeout", 0
        while True:
            await Timer(job.poll_cycles * PERIOD_NS, unit="ns")
            status = await self.reg("STATUS")
            ran = _cycle() - (self.start_cycle if self.start_cycle is not None else t0)
            self.progress(ran)
            if status & STATUS_ERROR:
                state = "error"
                break
            if status & STATUS_DONE:
                state = "done"
                break
            if ran > job.timeout_cycles:
                break
        cycles = await self.cycles_reg() if state != "timeout" else -1
        busy = tuple([await self.reg(f"BUSY{i}") for i in range(UNITS)])
        pulses = (self.end_cycle - self.start_cycle
                  if self.start_cycle is not None and self.end_cycle is not None else -1)
        self.progress(cycles if cycles >= 0 else _cycle() - t0)
        (where / DRAM_OUT).write_bytes(self.ram.read(0, job.ram_bytes))
        out = Outcome(state=state, code=(status >> STATUS_CODE_SHIFT) & 0xFF, status=status,
                      cycles=cycles, pulse_cycles=pulses, busy=busy,
                      layer_cycles=tuple(self.layer_cycles),
                      wall_seconds=time.perf_counter() - wall)
        write_atomic(where / OUTCOME_FILE, out.dumps())


@cocotb.test()
async def run_jobs(dut: Any) -> None:
    """Every job of ``$HWCNN_SOC_JOB`` (one job file per line), each from a reset."""
    paths = [Path(line) for line in os.environ[JOB_ENV].splitlines() if line.strip()]
    jobs = [Job.loads(p.read_text(encoding="utf-8")) for p in paths]
    Clock(dut.clk, PERIOD_NS, unit="ns").start(start_high=False)
    bench = _Bench(dut, max(j.ram_bytes for j in jobs))
    for job, path in zip(jobs, paths, strict=True):
        await bench.run(job, path.parent)
