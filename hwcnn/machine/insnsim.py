"""Instruction-level model of the whole accelerator: the fast whole-network estimate.

:func:`run_insns_fast` plays a compiled program on the machine of :mod:`.socsim` with the same
fetch unit, queues, dispatchers and token counters (the same code: ``socsim.run_insns`` with
``timed=``), but every LOAD / STORE executor is a timer: it takes the instruction and offers
its status after the instruction's *isolated* duration (the cycles from its handshake to its
status on an otherwise idle machine, :func:`isolated_cycles`), lengthened when the DRAM's data
slots are still taken by earlier transfers (:meth:`Durations.start`: each transfer's beats
occupy ``beats * tau`` slot cycles at the end of its isolated duration, transfers in the order
their executors take them; reads before writes, as the slot server gives R beats priority). The compute executor is the exact one already (its durations are
closed forms of ``hwcnn.arch.timing``). Idle stretches are skipped, so the cost grows with the
number of instructions, not cycles.

What it approximates (``tests/test_insnsim.py`` measures it against the stepped model): the
slot server's beat-by-beat sharing between the load, OUT-load and store units (with R
priority) is replaced by that ledger (a read waits only for earlier reads' slots; a write for
all earlier slots, and a read whose data phase begins before a write's ends pushes the write,
running timer included, by the read's slot cycles; on a DRAM with bandwidth for more than one
beat a cycle only by the share the server cannot serve beside the read, ``Durations.cross``); the fetch unit's program reads are stepped
on the real DMA and each of their beats pushes the ledger's reservations one slot later
(:meth:`Durations.fetch_beat`; the running read whose reservation ends last and the running
write, timers included),
but they do not wait for the transfers. Within 3 % of the
stepped model on the shipped small networks, on a DRAM that keeps up with the bus and on one
that does not (-1.2 % .. +1.6 % in total, at most 2.1 % of the run per layer, over the 35
configurations of tests/test_insnsim.py). Everything else (which instruction
waits for which token, queue depths, the barriers between layers) is the machine's own rule.
The total and the per-layer completions are the figures; the BUSY counters of the units that
waited for the DMA are rougher.

Isolated durations are exact (they step the unit models of :mod:`.socload` / :mod:`.socstore`
with the DMA of :mod:`.socdma`, which the tests prove equal to the RTL) and memoized by
everything they depend on: the instruction's fields with the DRAM address reduced modulo the
4 KiB page (bursts are cut at pages; byte lanes repeat every bus width). A LOAD2D whose element
walker alone takes more than ``step_limit`` cycles (its runs: at least ``m*ceil(k/R)``) is
not stepped: its duration is the closed
form :func:`load2d_bound` (set-up plus one word per cycle, or the bus beats of its in-bounds bytes if more), a lower bound; a LOAD / STORE
of more than ``step_limit`` words or elements gets :func:`transfer_approx` (its DMA transfers
by :func:`hwcnn.arch.dma_timing.chain_timing` against its one-per-cycle buffer accesses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from ..arch.dma import DmaDesc, DramTiming, burst_beats, bursts
from ..arch.dma_timing import chain_timing
from ..arch.soc import (
    DMA_OUTSTANDING,
    IM2COL_PHASES,
    LOAD_PIXEL_CHUNK,
    LOAD_WORD_CHUNK,
    load_contiguous,
    store_descriptors,
)
from ..isa.fields import Buffer, Insn, MemMode, Opcode
from .socdma import Dma
from .socload import Im2colModel, LoadUnitModel, SocModelError, pixel_lanes
from .socstore import StoreUnitModel

__all__ = ["Durations", "isolated_cycles", "load2d_bound", "run_insns_fast", "run_program_fast",
           "transfer_approx"]

#: DRAM addresses enter the memo key modulo this (the DMA cuts bursts at 4 KiB pages).
PAGE = 4096


class _Idle:
    """A DMA client that never asks for anything (the other clients of an isolated run)."""

    ev_cmd = ev_beat = ev_status = ev_addr = ev_word = None

    def cmd(self) -> None:
        return None

    def beat_ready(self) -> bool:
        return True

    def addr_ready(self) -> bool:
        return True

    def word_valid(self) -> bool:
        return False


#: Pixels per block when :func:`load2d_bound` counts in-bounds elements.
_PIXEL_BLOCK = 256


def load2d_bound(f: dict[str, int], rows: int = 1, bus_bytes: int = 0, eb: int = 1) -> int:
    """Lower bound of a LOAD2D's duration: the set-up, the walkers' first cycle, the longer
    of the element walker's runs (at least ``ceil(k/R)`` per pixel, a run never leaving
    a word) and (``bus_bytes``) the beats of its in-bounds bytes
    (at most ``B`` a cycle), the status cycle."""
    walk = f["m"] * -(-f["k"] // rows)
    if bus_bytes:
        kk = f["k0"] + np.arange(f["k"])[None, :]
        ky, kx = np.divmod(kk // f["cg"], f["kw"])
        n = 0
        for p0 in range(0, f["m"], _PIXEL_BLOCK):       # bounded memory on large tiles
            i = f["m0"] + np.arange(p0, min(p0 + _PIXEL_BLOCK, f["m"]))[:, None]
            y = i // f["out_w"] * f["sh"] - f["ph"] + ky * f["dh"]
            x = i % f["out_w"] * f["sw"] - f["pw"] + kx * f["dw"]
            n += int(((y >= 0) & (y < f["in_h"]) & (x >= 0) & (x < f["in_w"])).sum())
        walk = max(walk, -(-n * eb // bus_bytes))
    return sum(IM2COL_PHASES) + 1 + walk + 1


@lru_cache(maxsize=8)
def _walker_script(insn: Insn, base: int, eb: int) -> tuple[tuple[int, DmaDesc | None], ...]:
    """The LOAD2D descriptor walker's script (``Im2colModel.script``), kept for the next
    caller (:func:`load2d_approx` and :func:`slot_cycles` of the same instruction)."""
    return tuple(Im2colModel(insn.get(), base, eb, elements=False).script)


def load2d_approx(insn: Insn, *, target: Any, bus_bytes: int, dram: DramTiming,
                  outstanding: int = DMA_OUTSTANDING, base: int = 0) -> int:
    """A closed-form estimate of a large LOAD2D's isolated duration: the set-up, then the
    slower of the element walker (:func:`load2d_bound`) and the descriptor walker feeding the
    DMA: its descriptors offered by the walker's states (``Im2colModel.script``: the cycles
    before each ISSUE) into :func:`hwcnn.arch.dma_timing.chain_timing` (two transfers in
    flight, as the load unit allows)."""
    f = insn.get()
    eb = target.elem_bytes
    bound = load2d_bound(f, target.array.rows, bus_bytes, eb)
    script = _walker_script(insn, base, eb)
    walker = sum(pre for pre, _ in script)
    descs = [d for _, d in script if d is not None]
    gaps = [pre for pre, d in script if d is not None]
    setup = sum(IM2COL_PHASES)
    if not descs:
        return max(bound, setup + walker + 2)
    chain = chain_timing(descs, write=False, bus_bytes=bus_bytes, dram=dram,
                         outstanding=outstanding, gaps=gaps)
    # the element walker cannot pass the first in-bounds element before its beat arrives
    first = setup + chain.issue[0] + dram.latency
    return max(bound + max(0, first - setup - 1), setup + walker + 2,
               setup + chain.status[-1] + 2)


#: Cycles the load / store units add around their DMA transfers and their word writes /
#: reads in :func:`transfer_approx` (fitted to isolated runs of the shipped small networks:
#: within a few percent of :func:`isolated_cycles` for transfers of hundreds of beats).
DMA_EXTRA, UNIT_EXTRA = 4, 22


def _descs(insn: Insn, target: Any, base: int) -> list[DmaDesc]:
    """The DMA descriptors of a LOAD / STORE, in the order its unit issues them."""
    f = insn.get()
    addr = base + f["dram_base"]
    pixels = MemMode(f["mode"]) is MemMode.PIXELS
    eb, wb = target.elem_bytes, target.word_bytes(Buffer(f["buffer"]))
    if insn.op is Opcode.STORE:
        return store_descriptors(start=addr, mode_pixels=pixels, rows=f["rows"],
                                 elems=f["elems"], dram_stride=f["dram_stride"], eb=eb, wb=wb)
    descs: list[DmaDesc] = []
    if not pixels or load_contiguous(pixels, f["elems"], f["dram_stride"], eb):
        total = f["rows"] * (f["elems"] * eb if pixels else wb)
        while total:
            n = min(total, LOAD_WORD_CHUNK)
            descs.append(DmaDesc(dram_addr=addr, row_bytes=n))
            addr, total = addr + n, total - n
    elif f["elems"]:
        rows = f["rows"]
        while rows:
            n = min(rows, LOAD_PIXEL_CHUNK)
            descs.append(DmaDesc(dram_addr=addr, row_bytes=f["elems"] * eb, rows=n,
                                 row_stride=f["dram_stride"]))
            addr, rows = addr + n * f["dram_stride"], rows - n
    return descs


def transfer_approx(insn: Insn, *, target: Any, bus_bytes: int, dram: DramTiming,
                    outstanding: int = DMA_OUTSTANDING, base: int = 0) -> int:
    """A closed-form estimate of a large LOAD / STORE's isolated duration: the longer of its
    DMA transfers (:func:`hwcnn.arch.dma_timing.chain_timing` of the unit's descriptors, exact
    for the DMA alone) and its one-per-cycle buffer writes (load: words, or word pieces of
    ``min(L, elems - e)`` elements of a PIXELS load) or reads (store: pieces of at most ``min(C*eb, B)`` bytes), plus the units'
    own cycles (:data:`DMA_EXTRA`, :data:`UNIT_EXTRA`)."""
    f = insn.get()
    store = insn.op is Opcode.STORE
    buf = Buffer(f["buffer"])
    wb = target.word_bytes(buf)
    if MemMode(f["mode"]) is MemMode.WORDS:
        units = f["rows"] * (-(-wb // min(wb, bus_bytes)) if store else 1)
    else:
        # store: word pieces of C lanes; load: word pieces of L lanes (socload.pixel_lanes)
        lanes = target.lanes(buf) if store else pixel_lanes(target, buf)
        pieces = -(-f["elems"] // lanes)
        units = f["rows"] * pieces
    dma_end = chain_timing(_descs(insn, target, base), write=store, bus_bytes=bus_bytes,
                           dram=dram, outstanding=outstanding).status[-1]
    return max(dma_end + DMA_EXTRA, units + UNIT_EXTRA)


def slot_cycles(insn: Insn, *, target: Any, bus_bytes: int, dram: DramTiming,
                base: int = 0) -> Fraction:
    """Cycles of the DRAM's data-slot server that ``insn``'s beats occupy (``tau`` per beat,
    :meth:`hwcnn.arch.dma.DramTiming.slot`); a LOAD2D counts the beats of its descriptor
    walker's descriptors (partial beats included, padding has none)."""
    p, q = dram.slot(bus_bytes)
    if insn.op is Opcode.LOAD2D:
        # the beats of the descriptor walker's descriptors: in-bounds bytes only, the partial
        # first / last beats of every DMA row counted as the DRAM serves them
        beats = sum(sum(burst_beats(d, bus_bytes))
                    for _, d in _walker_script(insn, base, target.elem_bytes) if d is not None)
    else:
        beats = sum(b.beats for d in _descs(insn, target, base) for b in bursts(d, bus_bytes))
    return Fraction(beats * p, q)


def _size(insn: Insn, rows: int = 1) -> int:
    """Cycles an isolated run of ``insn`` steps at least (its buffer words or elements; a
    LOAD2D's element-walker runs: ``rows`` = R)."""
    f = insn.get()
    if insn.op is Opcode.LOAD2D:
        return f["m"] * -(-f["k"] // rows)
    return f["rows"] * max(f.get("elems", 0), 1)


def isolated_cycles(insn: Insn, *, target: Any, bus_bytes: int, dram: DramTiming,
                    outstanding: int = DMA_OUTSTANDING, base: int = 0, limit: int = 50_000_000) -> int:
    """Cycles from ``insn``'s handshake with its executor (cycle 0) to the first cycle its
    status is valid, on an idle machine: the exact unit model and DMA, stepped alone."""
    if insn.op is Opcode.STORE:
        unit: Any = StoreUnitModel(target=target, bus_bytes=bus_bytes, base=base)
        reads: tuple[Any, ...] = (_Idle(), _Idle(), _Idle())
        writes: tuple[Any, ...] = (unit,)
    else:
        out = insn.op is Opcode.LOAD and Buffer(insn.get()["buffer"]) is Buffer.OUT
        bufs = (Buffer.OUT,) if out else (Buffer.ACT, Buffer.WGT, Buffer.PARAM)
        unit = LoadUnitModel(target=target, bus_bytes=bus_bytes, base=base, buffers=bufs)
        reads = (_Idle(), _Idle(), unit) if out else (_Idle(), unit, _Idle())
        writes = (_Idle(),)
    dma = Dma(bus_bytes=bus_bytes, dram=dram, outstanding=outstanding, read_clients=reads,
              write_clients=writes, window=(0, 1 << 32))
    unit.accept(insn)
    store = insn.op is Opcode.STORE
    t = 0
    while unit.state != "STATUS":
        t += 1
        if t > limit:
            raise SocModelError(f"no status after {limit} cycles")
        dma.step(t)
        if store:
            unit.update(t)
        else:
            unit.update()
    return t + 1


@dataclass
class Durations:
    """Isolated durations of LOAD / STORE instructions, memoized (see the module docstring)."""

    target: Any
    bus_bytes: int
    dram: DramTiming
    outstanding: int = DMA_OUTSTANDING
    base: int = 0
    step_limit: int = 2_000
    #: serialize the transfers' data phases on the DRAM's slot server (:meth:`start`)
    contention: bool = True
    memo: dict[tuple[Any, ...], tuple[int, Fraction]] = field(default_factory=dict)
    stepped: int = 0                      # isolated cycles actually stepped (cost)
    approximated: int = 0                 # distinct instructions given a closed form
    #: the cycle (in fractions of a cycle) up to which reads hold the slot server
    port_free: Fraction = Fraction(0)
    #: the same for writes (R beats have priority: reads push it later, :meth:`start`)
    port_free_w: Fraction = Fraction(0)
    #: the timer of the STORE whose data phase ends at ``port_free_w`` (reads lengthen it)
    writer: Any = None
    #: the timer of the read whose data phase ends at ``port_free`` and that end (program
    #: reads lengthen it)
    reader: Any = None
    reader_end: Fraction = Fraction(0)
    #: the share of a read's slot cycles a concurrent write loses (:meth:`__post_init__`)
    cross: Fraction = field(init=False, default=Fraction(1))

    def __post_init__(self) -> None:
        # the share of a read's slot cycles that a concurrent write loses: the slot server
        # moves 1/tau beats a cycle (tau of DramTiming.shared_slot), each channel at most
        # one, R first: 1 for tau >= 1, 2 - 1/tau between 1/2 and 1, 0 from 1/2 down (R and
        # W move side by side)
        p, q = self.dram.shared_slot(self.bus_bytes)
        tau = Fraction(p, q)
        self.cross = Fraction(1) if tau >= 1 else max(Fraction(0), 2 - 1 / tau)

    def __call__(self, insn: Insn) -> int:
        return self.cost(insn)[0]

    def start(self, insn: Insn, t: int, unit: Any = None) -> int:
        """The duration of ``insn`` taken in cycle ``t`` with the slot server shared: its
        isolated duration ``d`` ends with the ``s`` slot cycles of its beats. R beats go
        before W beats (the slot server's rule): a read is delayed only by earlier reads
        still holding the server at ``t + d - s``; a write by earlier writes and by
        :attr:`cross` of the earlier reads' overlap. A read whose data phase begins before a
        write's ends goes first: the write's reservation and its running timer (``unit`` of
        that STORE) end ``cross * s`` later (``s`` on a DRAM of at most one beat a cycle,
        nothing where the DRAM serves R and W side by side)."""
        d, slots = self.cost(insn)
        if not self.contention or not slots:
            return d
        data0 = t + d - slots
        if insn.op is Opcode.STORE:
            late = max((self.port_free - data0) * self.cross, self.port_free_w - data0)
            if late > 0:
                d += -(-late.numerator // late.denominator)
            self.port_free_w = max(self.port_free_w, Fraction(t + d))
            self.writer = unit
            return d
        late = self.port_free - data0
        if late > 0:
            d += -(-late.numerator // late.denominator)
        end = Fraction(t + d)
        if end >= self.port_free:
            self.reader, self.reader_end = unit, end
        self.port_free = max(self.port_free, end)
        push = slots * self.cross
        if push and self.port_free_w > end - slots:
            # the write's beats still due when the read's data phase begins wait behind all
            # of it (R first), or the share of it the server cannot serve beside it
            self.port_free_w += push
            w = self.writer
            if w is not None and w.state == "RUN":
                w.left += -(-push.numerator // push.denominator)
        return d

    def fetch_beat(self, t: int) -> None:
        """A beat of the fetch unit's program read in cycle ``t`` (stepped on the DMA): while
        transfers hold the slot server beyond ``t``, their reservations end one slot later."""
        p, q = self.dram.slot(self.bus_bytes)
        tau = Fraction(p, q)
        if self.port_free > t:
            self.port_free += tau
            r = self.reader
            if r is not None and r.state == "RUN" and self.reader_end > t:
                # the read holding the server is pushed too (its timer ends a slot later)
                new = self.reader_end + tau
                r.left += _ceil(new) - _ceil(self.reader_end)
                self.reader_end = new
        push = tau * self.cross
        if push and self.port_free_w > t:
            self.port_free_w += push
            w = self.writer
            if w is not None and w.state == "RUN":
                w.left += _ceil(self.port_free_w) - _ceil(self.port_free_w - push)

    def cost(self, insn: Insn) -> tuple[int, Fraction]:
        """(isolated duration, slot cycles) of ``insn``, memoized."""
        f = insn.get()
        key = (insn.op, *sorted((k, (v + self.base) % PAGE if k == "dram_base" else v)
                                for k, v in f.items()))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if _size(insn, self.target.array.rows) > self.step_limit:
            self.approximated += 1
            approx = load2d_approx if insn.op is Opcode.LOAD2D else transfer_approx
            d = approx(insn, target=self.target, bus_bytes=self.bus_bytes, dram=self.dram,
                       outstanding=self.outstanding, base=self.base)
        else:
            d = isolated_cycles(insn, target=self.target, bus_bytes=self.bus_bytes,
                                dram=self.dram, outstanding=self.outstanding, base=self.base)
            self.stepped += d
        nop = (f["m"] == 0 or f["k"] == 0) if insn.op is Opcode.LOAD2D else (
            f["rows"] == 0 or (MemMode(f["mode"]) is MemMode.PIXELS and f["elems"] == 0))
        slots = Fraction(0) if nop else slot_cycles(insn, target=self.target,
                                                    bus_bytes=self.bus_bytes, dram=self.dram,
                                                    base=self.base)
        self.memo[key] = (d, slots)
        return d, slots


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


class TimedUnit(_Idle):
    """A load / store executor replaced by a timer: busy for ``duration(insn)`` cycles (a DMA
    client that never asks for a transfer). A store's ``last_w`` is its status cycle."""

    def __init__(self, duration: Durations) -> None:
        self.duration = duration
        self.state = "IDLE"
        self.left = 0
        self.last_w = -1
        self.is_store = False

    def accept(self, insn: Insn, t: int) -> None:
        self.is_store = insn.op is Opcode.STORE
        d = self.duration.start(insn, t, self)
        self.left = d - 1
        self.state = "STATUS" if self.left <= 0 else "RUN"

    def update(self, t: int | None = None) -> None:
        if self.state == "RUN":
            self.left -= 1
            if self.left == 0:
                self.state = "STATUS"
                if self.is_store and t is not None:
                    self.last_w = t

    def wake(self) -> int:
        """Cycles until the timer's status (0: not running)."""
        return self.left if self.state == "RUN" else 0

    def skip(self, n: int) -> None:
        self.left -= n

    def finish_status(self) -> None:
        self.state = "IDLE"


def run_insns_fast(insns: tuple[Insn, ...] | list[Insn], *, target: Any, array: Any,
                   bus_bytes: int, dram: DramTiming, outstanding: int = DMA_OUTSTANDING, base: int = 0,
                   prog_base: int = 0, window: tuple[int, int] = (0, 1 << 32),
                   origin: tuple[str, ...] | None = None, limit: int = 1 << 62,
                   durations: Durations | None = None) -> Any:
    """:func:`hwcnn.machine.socsim.run_insns` with timed load / store executors."""
    from .socsim import run_insns

    dur = durations if durations is not None else Durations(
        target=target, bus_bytes=bus_bytes, dram=dram, outstanding=outstanding, base=base)
    dur.port_free = dur.port_free_w = Fraction(0)
    dur.writer = dur.reader = None
    dur.reader_end = Fraction(0)
    return run_insns(insns, target=target, array=array, bus_bytes=bus_bytes, dram=dram,
                     outstanding=outstanding, base=base, prog_base=prog_base, window=window,
                     origin=origin, limit=limit, timed=dur)


def run_program_fast(comp: Any, *, array: Any, bus_bytes: int, dram: DramTiming,
                     outstanding: int = DMA_OUTSTANDING, base: int = 0) -> Any:
    """:func:`run_insns_fast` of a compiled program laid out as
    :func:`hwcnn.machine.socsim.run_program` lays it out."""
    size = comp.regions[-1].offset + comp.regions[-1].size
    return run_insns_fast(comp.insns, target=comp.target, array=array, bus_bytes=bus_bytes,
                          dram=dram, outstanding=outstanding, base=base,
                          prog_base=base + comp.region("program").offset,
                          window=(base, size), origin=comp.origin)


