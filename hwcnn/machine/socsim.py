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
compiler refuses such programs. A program that runs out without END raises
:class:`MachineStop` (a SocModelError) with the code ``ErrorCode.NO_END`` and the cycle of the
RTL's error pulse, the one in which the done check finds the machine idle.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..arch.dma import DmaDesc, DramTiming, ErrorCode
from ..arch.soc import DMA_OUTSTANDING, FETCH_BUFFER, FETCH_CHUNK
from ..arch.soc import QUEUE_DEPTH as _QUEUE_DEPTH
from ..isa.fields import INSN_BYTES, Buffer, Insn, Opcode
from ..isa.queues import INITIAL, TOKEN_DEPTH, Queue, queue_of, token_queue
from .socdma import Dma
from .socload import LoadUnitModel, SocModelError
from .socstore import ComputeModel, StoreUnitModel

#: Fetch: instructions per DMA transfer, instruction buffer, queue FIFO depth (``hw.soc.fetch``).
CHUNK, BUFFER, QUEUE_DEPTH = FETCH_CHUNK, FETCH_BUFFER, _QUEUE_DEPTH

class CycleLimit(SocModelError):
    """The run did not finish within the caller's cycle limit."""


class MachineStop(SocModelError):
    """The machine stops with STATUS.error and ``code`` (an ErrorCode) in cycle ``cycle``."""

    def __init__(self, code: ErrorCode, cycle: int) -> None:
        super().__init__(f"the machine stops in cycle {cycle} with error {int(code)} "
                         f"({code.name}: {code.meaning})")
        self.code, self.cycle = code, cycle


#: ``Compiled.origin`` of a tile's instruction: "layer 'NAME' tile I"
_LAYER = re.compile(r"layer '([^']+)'")

__all__ = ["CycleLimit", "MachineRun", "MachineStop", "SocModelError", "run_insns", "run_program"]


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
        self.qidx: list[int] = []
        self.queues: list[deque[int]] = []
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
              bus_bytes: int, dram: DramTiming, outstanding: int = DMA_OUTSTANDING, base: int = 0,
              prog_base: int = 0, window: tuple[int, int] = (0, 1 << 32),
              origin: tuple[str, ...] | None = None, limit: int = 50_000_000,
              timed: Any = None) -> MachineRun:
    """Run ``insns`` (program at DRAM byte ``prog_base``, BASE0 = ``base``).

    ``timed``: a callable giving a LOAD / STORE instruction's isolated duration
    (:class:`hwcnn.machine.insnsim.Durations`); the load, OUT-load and store executors are then
    timers of those durations instead of the unit models (the instruction-level estimate of
    :mod:`hwcnn.machine.insnsim`; the DMA serves the fetch unit alone)."""
    insns = tuple(insns)
    if prog_base % INSN_BYTES:
        raise SocModelError("PROG_BASE not a multiple of 32 (PROG_ALIGN)")
    for i in insns:
        if int(i.op) > int(Opcode.LOAD2D):
            raise SocModelError("illegal opcode")
    fetch = _Fetch(insns, prog_base, bus_bytes)
    load: Any
    cload: Any
    store: Any
    if timed is None:
        load = LoadUnitModel(target=target, bus_bytes=bus_bytes, base=base,
                             buffers=(Buffer.ACT, Buffer.WGT, Buffer.PARAM))
        cload = LoadUnitModel(target=target, bus_bytes=bus_bytes, base=base,
                              buffers=(Buffer.OUT,))
        store = StoreUnitModel(target=target, bus_bytes=bus_bytes, base=base)
        timers: tuple[Any, ...] = ()
    else:
        from .insnsim import TimedUnit
        load, cload, store = TimedUnit(timed), TimedUnit(timed), TimedUnit(timed)
        timers = (load, cload, store)
    comp = ComputeModel(array)
    dma = Dma(bus_bytes=bus_bytes, dram=dram, outstanding=outstanding,
              read_clients=(fetch, load, cload), write_clients=(store,), window=window)
    queues: list[deque[int]] = [deque(), deque(), deque()]
    disp = [_Dispatcher(q) for q in Queue]
    names = list(INITIAL)
    tokens = [INITIAL[n] for n in names]
    # per instruction: queue, executor, END, popped / pushed token queues (indices)
    qidx = [int(queue_of(i)) for i in insns]
    exes: dict[str, Any] = {"load": load, "cload": cload, "gemm": comp, "store": store}
    exe_of: list[Any] = [exes[_exec_name(Queue(q), i)] if i.op is not Opcode.END else None
              for q, i in zip(qidx, insns, strict=True)]
    pops: list[list[int]] = []
    pushes: list[list[int]] = []
    for q, i in zip(qidx, insns, strict=True):
        f = i.get()
        tq = [token_queue(Queue(q), b) for b in ("pop_prev", "pop_next", "push_prev", "push_next")]
        pops.append([names.index(x) for x, b in zip(tq[:2], ("pop_prev", "pop_next"), strict=True)
                     if x is not None and f[b]])
        pushes.append([names.index(x) for x, b in zip(tq[2:], ("push_prev", "push_next"),
                                                       strict=True)
                       if x is not None and f[b] and i.op is not Opcode.END])
    fetch.qidx, fetch.queues = qidx, queues
    start = [-1] * len(insns)
    finish = [-1] * len(insns)
    store_w = [-1] * len(insns)
    b0 = b1 = b2 = b3 = 0                     # BUSY0..3
    ended = False
    t = 1
    units = (load, cload)
    d0, d1, d2 = disp
    q0, q1, q2 = queues
    fbuf = fetch.buf
    dma_step = dma.step
    fetch_beat = timed.fetch_beat if timers else None
    load_update, cload_update, store_update = load.update, cload.update, store.update
    TD = TOKEN_DEPTH
    while True:
        if t > limit:
            raise CycleLimit(f"no done after {limit} cycles")
        # ---- the done check and the busy counters (registers of cycle t) ---------------
        fst = fetch.state
        fr = fetch.routable
        fb = fst != "IDLE" or fetch.remaining != 0 or fr != 0
        s0, s1, s2 = d0.state, d1.state, d2.state
        db0, db1, db2 = s0 != "IDLE", s1 != "IDLE", s2 != "IDLE"
        if not (fb or db0 or db1 or db2 or q0 or q1 or q2):
            if not ended:
                raise MachineStop(ErrorCode.NO_END, t)
            break
        # ---- skip idle cycles: nothing can change before the compute status (or, with
        # timed executors, the cycle in which a timer's status appears) -----------------
        wake = comp.ready_at if comp.busy else -1
        if timers:
            for u in timers:
                if u.state == "RUN":
                    e = t + u.wake() - 1
                    wake = e if wake < 0 else min(wake, e)
        if wake > t + 1 and _static(fetch, disp, queues, tokens, pops, units, store, dma,
                                    bool(timers)):
            n = wake - t
            b0 += n * fb
            b1 += n * db0
            b2 += n * db1
            b3 += n * db2
            dma.skip(n)
            for u in timers:
                if u.state == "RUN":
                    u.skip(n)
            t = wake
            continue
        b0 += fb
        b1 += db0
        b2 += db1
        b3 += db2
        # ---- executor outputs from their registers (each executor belongs to one
        # dispatcher: what its dispatcher reads this cycle) ------------------------------
        go0 = go1 = go2 = False
        if s0 == "ISSUE":
            go0 = load.state == "IDLE"
        elif s0 == "WAIT":
            go0 = load.state == "STATUS"
        if s1 == "ISSUE":
            e1 = exe_of[d1.cur]
            go1 = (not comp.busy) if e1 is comp else e1.state == "IDLE"
        elif s1 == "WAIT":
            e1 = d1.exe
            go1 = (comp.busy and t >= comp.ready_at) if e1 is comp else e1.state == "STATUS"
        if s2 == "ISSUE":
            go2 = store.state == "IDLE"
        elif s2 == "WAIT":
            go2 = store.state == "STATUS"
        # ---- DMA, then the units' registers --------------------------------------------
        dma_step(t)
        if fetch_beat is not None and fetch.ev_beat is not None:
            fetch_beat(t)                      # the program read takes a DRAM data slot
        if load.state != "IDLE":
            load_update()
        if cload.state != "IDLE":
            cload_update()
        if store.state != "IDLE":
            store_update(t)
            if store.last_w == t and d2.cur >= 0:
                store_w[d2.cur] = t
        # ---- dispatchers (the fetch unit's routing sees the queue levels before) -------
        r_room = fr != 0 and len(queues[qidx[fbuf[0]]]) != QUEUE_DEPTH
        if go0 or go1 or go2 or (s0 == "IDLE" and q0) or (s1 == "IDLE" and q1) or (
                s2 == "IDLE" and q2):
            delta = [0, 0, 0, 0]
            for q, d, s, go, qq in ((0, d0, s0, go0, q0), (1, d1, s1, go1, q1),
                                    (2, d2, s2, go2, q2)):
                if s == "IDLE":
                    if qq:
                        idx = qq[0]
                        ps = pops[idx]
                        ok = True
                        for x in ps:
                            if tokens[x] <= 0:
                                ok = False
                                break
                        if ok:
                            qq.popleft()
                            for x in ps:
                                delta[x] -= 1
                            if exe_of[idx] is None:
                                start[idx] = finish[idx] = t
                                ended = True
                            else:
                                d.cur, d.state = idx, "ISSUE"
                elif not go:
                    pass
                elif s == "ISSUE":
                    exe = exe_of[d.cur]
                    if exe is comp or timers:
                        exe.accept(insns[d.cur], t)
                    else:
                        exe.accept(insns[d.cur])
                    d.exe, d.state = exe, "WAIT"
                    start[d.cur] = t
                else:
                    ps = pushes[d.cur]
                    ok = True
                    for x in ps:
                        if tokens[x] == TD:
                            ok = False
                            break
                    if ok:
                        d.exe.finish_status()
                        for x in ps:
                            delta[x] += 1
                        finish[d.cur] = t
                        d.state = "IDLE"
                        if q == 2:
                            d.cur = -1
            tokens[0] += delta[0]
            tokens[1] += delta[1]
            tokens[2] += delta[2]
            tokens[3] += delta[3]
        # ---- fetch: routing, beats, status, issue (IDLE without a route or an event:
        # only the issue check of _fetch_update) -----------------------------------------
        if fst == "IDLE" and not r_room and fetch.ev_beat is None and not fetch.ev_cmd \
                and fetch.ev_status is None:
            rem = fetch.remaining
            if rem and BUFFER - len(fbuf) >= (CHUNK if CHUNK < rem else rem):
                fetch.n_cur, fetch.state = (CHUNK if CHUNK < rem else rem), "CMD"
        else:
            _fetch_update(fetch, r_room)
        t += 1
    layer_writes: dict[str, int] = {}
    if origin is not None:
        for idx, cyc in enumerate(store_w):
            if cyc >= 0:
                match = _LAYER.match(origin[idx])
                if match is None:
                    continue
                layer = match.group(1)
                layer_writes[layer] = max(layer_writes.get(layer, -1), cyc)
    return MachineRun(cycles=t, busy=(b0, b1, b2, b3),
                      insns=tuple(zip(start, finish, strict=True)), store_writes=tuple(store_w),
                      layer_writes=layer_writes)


def _exec_name(q: Queue, insn: Insn) -> str:
    if q is Queue.LOAD:
        return "load"
    if q is Queue.STORE:
        return "store"
    return "cload" if insn.op is Opcode.LOAD else "gemm"


def _static(fe: _Fetch, disp: list[_Dispatcher], queues: list[deque[int]], tokens: list[int],
            pops: list[list[int]], units: tuple[Any, ...], store: Any, dma: Dma,
            timed: bool = False) -> bool:
    """Whether this cycle and every following one up to the next status (compute, or a
    running timer with ``timed``) change no register but the busy counters: the DMA and the
    load / store units idle (or running timers), every busy dispatcher waiting for its status,
    fetch unable to issue or route, and every idle dispatcher unable to take its head."""
    quiet = ("IDLE", "RUN") if timed else ("IDLE",)
    if fe.state != "IDLE" or not dma.idle() or store.state not in quiet:
        return False
    if any(u.state not in quiet for u in units):
        return False
    if fe.remaining and BUFFER - len(fe.buf) >= min(CHUNK, fe.remaining):
        return False
    if fe.routable and len(queues[fe.qidx[fe.buf[0]]]) != QUEUE_DEPTH:
        return False
    for q, d in enumerate(disp):
        if d.state == "IDLE":
            if queues[q] and all(tokens[x] > 0 for x in pops[queues[q][0]]):
                return False
        elif d.state != "WAIT":
            return False
    return True


def _fetch_update(fe: _Fetch, room: bool) -> None:
    """The fetch unit's registers; ``room``: the buffer's head is routable and its queue has
    room (the levels before this cycle's dispatches)."""
    buf = fe.buf
    level = len(buf)                          # the instruction buffer's level register
    if room:
        fe.queues[fe.qidx[buf[0]]].append(buf.popleft())
        fe.routable -= 1
    if fe.ev_beat is not None:
        fe.part += 1
        if fe.part == fe.per:
            fe.part = 0
            buf.append(fe.written)
            fe.written += 1
    state = fe.state
    if state == "IDLE":
        n = min(CHUNK, fe.remaining)
        if fe.remaining and BUFFER - level >= n:
            fe.n_cur, fe.state = n, "CMD"
    elif state == "CMD":
        if fe.ev_cmd:
            fe.state = "XFER"
    elif fe.ev_status is not None:
        if fe.ev_status:
            raise SocModelError(f"DMA status {fe.ev_status} on a program read")
        fe.routable += fe.n_cur
        fe.remaining -= fe.n_cur
        fe.addr += INSN_BYTES * fe.n_cur
        fe.state = "IDLE"
    fe.ev_cmd, fe.ev_beat, fe.ev_status = False, None, None


def run_program(comp: Any, *, array: Any, bus_bytes: int, dram: DramTiming,
                outstanding: int = DMA_OUTSTANDING, base: int = 0, limit: int = 50_000_000) -> MachineRun:
    """Run a :class:`~hwcnn.compiler.backend.Compiled` program whose image sits at DRAM byte
    ``base`` (BASE0 = ``base``, PROG_BASE = the program region, the DMA window = the image)."""
    size = comp.regions[-1].offset + comp.regions[-1].size
    return run_insns(comp.insns, target=comp.target, array=array, bus_bytes=bus_bytes,
                     dram=dram, outstanding=outstanding, base=base,
                     prog_base=base + comp.region("program").offset, window=(base, size),
                     origin=comp.origin, limit=limit)
