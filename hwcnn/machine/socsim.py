"""Stepped cycle model of the whole accelerator ``hwcnn_soc`` running a compiled program.

:func:`run_program` plays a :class:`hwcnn.compiler.backend.Compiled` program cycle by cycle on
the machine of ``rtl/README.md`` section 10: fetch (chunked DMA program reads into a
16-instruction buffer, routing into three 8-deep instruction FIFOs), the per-queue
dispatchers and the four token counters (``hw/soc/fetch.py``, ``dispatch.py``, ``tokens.py``,
``top.py``), the load / OUT-load units (:mod:`.socload`), the compute executor and the store
unit (:mod:`.socstore`), the shared DMA with its round-robin arbiters and the DRAM model
(:mod:`.socdma`; latency and bytes per cycle of :class:`hwcnn.arch.dma.DramTiming`, e.g.
``Board.dram_timing()``). Cycle 0 is the ``start`` pulse; the result's ``cycles`` is the cycle
of the ``done`` pulse (what the CSR test benches count), ``busy`` the CSR's BUSY0..3 counters
(fetch, load, compute, store: cycles 1..done in which the unit was busy), ``layer_writes`` per
layer the cycle of the W handshake (at the DMA's AXI port) of its last STORE's last beat, and
``insns`` every instruction's dispatch (executor handshake) and finish (status handshake)
cycles, the probes the tests compare with the RTL.

Every rule is a register or a handshake of the RTL, evaluated in the RTL's order: first every
unit's outputs from its registers, then the DMA (which raises the clients' events), then the
units' registers, then the dispatchers' handshakes and the fetch unit's routing, then the token
counters and the queues. Error paths (a nonzero status) raise :class:`SocModelError`: the
compiler refuses such programs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ..arch.dma import DmaDesc, DramTiming
from ..isa.fields import INSN_BYTES, Buffer, Insn, Opcode
from ..isa.queues import INITIAL, TOKEN_DEPTH, Queue, queue_of, token_queue
from .socdma import Dma
from .socload import LoadUnitModel, SocModelError
from .socstore import ComputeModel, StoreUnitModel

#: Fetch: instructions per DMA transfer, instruction buffer, queue FIFO depth (``hw.soc.fetch``).
CHUNK = 8
BUFFER = 16
QUEUE_DEPTH = 8

__all__ = ["MachineRun", "SocModelError", "run_insns", "run_program"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineRun:
    """One run of the model (cycle 0 = the start pulse)."""

    cycles: int                              # the done pulse
    busy: tuple[int, int, int, int]          # BUSY0..3: fetch, load, compute, store
    insns: tuple[tuple[int, int], ...]       # per instruction: (dispatch, finish); END (t, t)
    store_writes: tuple[int, ...]            # per instruction: last W handshake of a STORE, or -1
    layer_writes: dict[str, int]             # per layer: its last DRAM write (W handshake)


class _Fetch:
    """``Fetch`` (``hw/soc/fetch.py``): a DMA read client."""

    def __init__(self, insns: tuple[Insn, ...], prog_base: int, bus_bytes: int) -> None:
        self.insns = insns
        self.remaining, self.addr = len(insns), prog_base
        self.state, self.n_cur = "IDLE", 0
        self.buf: deque[int] = deque()
        self.routable = 0
        self.part, self.per = 0, INSN_BYTES // bus_bytes
        self.written = 0
        self.ev_cmd, self.ev_beat, self.ev_status = False, None, None

    def cmd(self) -> DmaDesc | None:
        if self.state != "CMD":
            return None
        return DmaDesc(dram_addr=self.addr, row_bytes=INSN_BYTES * self.n_cur)

    def beat_ready(self) -> bool:
        return True

    def busy(self) -> bool:
        return self.state != "IDLE" or self.remaining != 0 or self.routable != 0


class _Dispatcher:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.state = "IDLE"
        self.cur = -1
        self.exe: Any = None


def run_insns(insns: tuple[Insn, ...] | list[Insn], *, target: Any, array: Any,
              bus_bytes: int, dram: DramTiming, outstanding: int = 4, base: int = 0,
              prog_base: int = 0, window: tuple[int, int] = (0, 1 << 32),
              origin: tuple[str, ...] | None = None, limit: int = 50_000_000) -> MachineRun:
    """Run ``insns`` (program at DRAM byte ``prog_base``, BASE0 = ``base``)."""
    insns = tuple(insns)
    if prog_base % INSN_BYTES:
        raise SocModelError("PROG_BASE not a multiple of 32 (PROG_ALIGN)")
    for i in insns:
        if int(i.op) > int(Opcode.LOAD2D):
            raise SocModelError("illegal opcode")
    fetch = _Fetch(insns, prog_base, bus_bytes)
    load = LoadUnitModel(target=target, bus_bytes=bus_bytes, base=base,
                         buffers=(Buffer.ACT, Buffer.WGT, Buffer.PARAM))
    cload = LoadUnitModel(target=target, bus_bytes=bus_bytes, base=base, buffers=(Buffer.OUT,))
    store = StoreUnitModel(target=target, bus_bytes=bus_bytes, base=base)
    comp = ComputeModel(array)
    dma = Dma(bus_bytes=bus_bytes, dram=dram, outstanding=outstanding,
              read_clients=(fetch, load, cload), write_clients=(store,), window=window)
    queues: dict[Queue, deque[int]] = {q: deque() for q in Queue}
    exes: dict[str, Any] = {"load": load, "cload": cload, "gemm": comp, "store": store}
    disp = {q: _Dispatcher(q) for q in Queue}
    tokens = dict(INITIAL)
    links: dict[Queue, dict[str, str]] = {}
    for q in Queue:
        links[q] = {}
        for bit in ("pop_prev", "pop_next", "push_prev", "push_next"):
            tq = token_queue(q, bit)
            if tq is not None:
                links[q][bit] = tq
    fields = [i.get() for i in insns]
    start = [-1] * len(insns)
    finish = [-1] * len(insns)
    store_w = [-1] * len(insns)
    busy = [0, 0, 0, 0]
    ended = False
    t = 1
    while True:
        if t > limit:
            raise SocModelError(f"no done after {limit} cycles")
        # ---- the done check and the busy counters (registers of cycle t) ---------------
        fb = fetch.busy()
        db = [disp[q].state != "IDLE" for q in (Queue.LOAD, Queue.COMPUTE, Queue.STORE)]
        if not fb and not any(db) and not any(queues.values()):
            if not ended:
                raise SocModelError("the program stops without END")
            break
        busy[0] += fb
        for j in range(3):
            busy[j + 1] += db[j]
        # ---- executor outputs from their registers -------------------------------------
        ready = {"load": load.insn_ready(), "cload": cload.insn_ready(),
                 "gemm": comp.insn_ready(), "store": store.insn_ready()}
        valid = {"load": load.status_valid(), "cload": cload.status_valid(),
                 "gemm": comp.status_valid_at(t), "store": store.status_valid()}
        # ---- DMA, then the units' registers --------------------------------------------
        dma.step(t)
        for u in (load, cload):
            u.update()
        store_busy_idx = disp[Queue.STORE].cur
        store.update(t)
        if store.last_w == t and store_busy_idx >= 0:
            store_w[store_busy_idx] = t
        # ---- dispatchers ---------------------------------------------------------------
        levels = {q: len(queues[q]) for q in Queue}
        give: dict[str, int] = {}
        take: dict[str, int] = {}
        for q in Queue:
            d = disp[q]
            if d.state == "IDLE":
                if levels[q]:
                    idx = queues[q][0]
                    f = fields[idx]
                    pops = [links[q][b] for b in ("pop_prev", "pop_next")
                            if b in links[q] and f[b]]
                    if all(tokens[tq] > 0 for tq in pops):
                        queues[q].popleft()
                        for tq in pops:
                            take[tq] = 1
                        if insns[idx].op is Opcode.END:
                            start[idx] = finish[idx] = t
                            ended = True
                        else:
                            d.cur, d.state = idx, "ISSUE"
            elif d.state == "ISSUE":
                name = _exec_name(q, insns[d.cur])
                if ready[name]:
                    if name == "gemm":
                        comp.accept(insns[d.cur], t)
                    else:
                        exes[name].accept(insns[d.cur])
                    d.exe, d.state = name, "WAIT"
                    start[d.cur] = t
            else:
                f = fields[d.cur]
                pushes = [links[q][b] for b in ("push_prev", "push_next")
                          if b in links[q] and f[b]]
                if valid[d.exe] and all(tokens[tq] != TOKEN_DEPTH for tq in pushes):
                    exes[d.exe].finish_status()
                    for tq in pushes:
                        give[tq] = 1
                    finish[d.cur] = t
                    d.state = "IDLE"
                    if q is Queue.STORE:
                        d.cur = -1
        # ---- fetch: routing, beats, status, issue ---------------------------------------
        _fetch_update(fetch, queues, levels)
        for tq in tokens:
            tokens[tq] += give.get(tq, 0) - take.get(tq, 0)
        t += 1
    layer_writes: dict[str, int] = {}
    if origin is not None:
        for idx, cyc in enumerate(store_w):
            if cyc >= 0:
                layer = origin[idx].split(" ")[0]
                layer_writes[layer] = max(layer_writes.get(layer, -1), cyc)
    return MachineRun(cycles=t, busy=(busy[0], busy[1], busy[2], busy[3]),
                      insns=tuple(zip(start, finish, strict=True)), store_writes=tuple(store_w),
                      layer_writes=layer_writes)


def _exec_name(q: Queue, insn: Insn) -> str:
    if q is Queue.LOAD:
        return "load"
    if q is Queue.STORE:
        return "store"
    return "cload" if insn.op is Opcode.LOAD else "gemm"


def _fetch_update(fe: _Fetch, queues: dict[Queue, deque], levels: dict[Queue, int]) -> None:
    level = len(fe.buf)                       # the instruction buffer's level register
    pop = False
    if fe.routable:
        idx = fe.buf[0]
        q = queue_of(fe.insns[idx])
        if levels[q] != QUEUE_DEPTH:
            queues[q].append(idx)
            fe.buf.popleft()
            pop = True
    commit = False
    if fe.ev_beat is not None:
        fe.part += 1
        if fe.part == fe.per:
            fe.part = 0
            fe.buf.append(fe.written)
            fe.written += 1
    if fe.state == "IDLE":
        n = min(CHUNK, fe.remaining)
        if fe.remaining and BUFFER - level >= n:
            fe.n_cur, fe.state = n, "CMD"
    elif fe.state == "CMD":
        if fe.ev_cmd:
            fe.state = "XFER"
    elif fe.ev_status is not None:
        if fe.ev_status:
            raise SocModelError(f"DMA status {fe.ev_status} on a program read")
        commit = True
        fe.remaining -= fe.n_cur
        fe.addr += INSN_BYTES * fe.n_cur
        fe.state = "IDLE"
    fe.routable += (fe.n_cur if commit else 0) - int(pop)
    fe.ev_cmd, fe.ev_beat, fe.ev_status = False, None, None


def run_program(comp: Any, *, array: Any, bus_bytes: int, dram: DramTiming,
                outstanding: int = 4, base: int = 0) -> MachineRun:
    """Run a :class:`~hwcnn.compiler.backend.Compiled` program whose image sits at DRAM byte
    ``base`` (BASE0 = ``base``, PROG_BASE = the program region, the DMA window = the image)."""
    size = comp.regions[-1].offset + comp.regions[-1].size
    return run_insns(comp.insns, target=comp.target, array=array, bus_bytes=bus_bytes,
                     dram=dram, outstanding=outstanding, base=base,
                     prog_base=base + comp.region("program").offset, window=(base, size),
                     origin=comp.origin)
