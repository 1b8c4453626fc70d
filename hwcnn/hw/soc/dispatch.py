"""The per-queue dispatchers of the complete accelerator (``rtl/README.md`` 10.4).

A :class:`Dispatcher` takes the instructions of one queue (load, compute or store) in order
from its instruction FIFO, waits for the dependency tokens each one pops, hands it to its
executor (a :class:`~hwcnn.hw.soc.ports.UnitSignature` port), waits for the executor's status
and pushes the instruction's tokens. The load and store queues have one executor (``unit``);
the compute queue has two: ``gemm`` (GEMM and VEC, the ComputeCore) and ``cload`` (LOAD into
OUT, the OUT LoadUnit); END is executed by the dispatcher itself.

Token bits map to token queues by :func:`hwcnn.isa.queues.token_queue` (load: ``pop_next`` =
``g2l``, ``push_next`` = ``l2g``; compute: ``pop_prev`` = ``l2g``, ``pop_next`` = ``s2g``,
``push_prev`` = ``g2l``, ``push_next`` = ``g2s``; store: ``pop_prev`` = ``g2s``,
``push_prev`` = ``s2g``); a bit without a neighbour (load's ``*_prev``, store's ``*_next``)
and END's push bits are ignored (the compiler refuses such programs,
:func:`hwcnn.isa.queues.replay`).

Cycle behaviour, one instruction at a time (``t`` = the cycle; registers change at its end):

1. **Handshake** (state IDLE, cycle ``t``): the queue's head is valid, ``stop`` is low and
   every token queue the head pops has a token (``avail``). In that cycle the head is taken
   from the FIFO, its pops are taken (the counters are one lower from ``t+1``) and the
   instruction is registered. END instead raises ``end`` in cycle ``t`` and the dispatcher stays
   IDLE (the next head can be taken in ``t+1``).
2. **Dispatch** (state ISSUE, from ``t+1``): the registered instruction is offered on the
   executor's ``insn`` stream until it is taken, in cycle ``h >= t+1``.
3. **Status** (state WAIT, from ``h+1``): the executor's ``status`` is taken in the first cycle
   ``s >= h+1`` in which it is offered and either its code is nonzero or every token queue the
   instruction pushes has room.
4. **Push** (cycle ``s``): with code 0 the pushes are given in cycle ``s`` (the counters are one
   higher from ``s+1``); a nonzero code is kept in ``code`` (sticky until ``start``) and nothing
   is pushed. IDLE again from ``s+1``: the next instruction can be taken in ``s+1``.

So an instruction whose tokens are there and whose executor answers at once occupies the
queue for ``s - t + 1`` cycles with ``h = t+1``. ``busy`` is high from ``t+1`` to ``s``
(an instruction is at its executor). ``stop`` (any unit's or fetch's error) only prevents new
handshakes: an instruction already dispatched is finished, so the dispatcher always comes
back to IDLE.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...isa.fields import INSN_BITS, Opcode
from ...isa.layout import struct_layout
from ...isa.queues import Queue, token_queue
from .ports import STATUS_BITS, UnitSignature
from .tokens import PopSignature, PushSignature

#: executor member names per queue
EXECUTORS: dict[Queue, tuple[str, ...]] = {Queue.LOAD: ("unit",), Queue.COMPUTE: ("gemm", "cload"),
                                          Queue.STORE: ("unit",)}
POPS, PUSHES = ("pop_prev", "pop_next"), ("push_prev", "push_next")


def token_ports(queue: Queue) -> dict[str, str]:
    """Token bit -> token queue name, for the bits ``queue`` has a neighbour for."""
    out = {}
    for bit in POPS + PUSHES:
        tq = token_queue(queue, bit)
        if tq is not None:
            out[bit] = tq
    return out


class Dispatcher(wiring.Component):
    """One queue's dispatcher. Members: ``start``, ``stop`` (in); ``insn`` (in: the queue
    FIFO's head); the executors (``unit``, or ``gemm`` and ``cload``); one
    :class:`~.tokens.PopSignature` / :class:`~.tokens.PushSignature` port per token bit with a
    neighbour (named like the bit); ``code`` (the first nonzero status), ``busy``, ``end``."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.links = token_ports(queue)
        members: dict[str, wiring.Member] = {
            "start": In(1), "stop": In(1), "insn": In(stream.Signature(INSN_BITS)),
            "code": Out(STATUS_BITS), "busy": Out(1), "end": Out(1)}
        for name in EXECUTORS[queue]:
            members[name] = Out(UnitSignature())
        for bit in self.links:
            members[bit] = Out(PopSignature() if bit in POPS else PushSignature())
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        head = data.View(struct_layout("END"), self.insn.payload)
        cur = Signal(INSN_BITS)
        bits = data.View(struct_layout("END"), cur)
        execs = [getattr(self, n) for n in EXECUTORS[self.queue]]
        sel = Signal(range(len(execs)))
        code = Signal(STATUS_BITS)
        m.d.comb += self.code.eq(code)

        ready_pops = Signal()
        m.d.comb += ready_pops.eq(1)
        for bit in POPS:
            if bit in self.links:
                port = getattr(self, bit)
                with m.If(getattr(head, bit) & ~port.avail):
                    m.d.comb += ready_pops.eq(0)
        for e in execs:
            m.d.comb += e.insn.payload.eq(cur)
        status = Signal(STATUS_BITS)
        status_valid = Signal()
        for i, e in enumerate(execs):
            with m.If(sel == i):
                m.d.comb += [status.eq(e.status.payload), status_valid.eq(e.status.valid)]
        room = Signal()
        m.d.comb += room.eq(1)
        for bit in PUSHES:
            if bit in self.links:
                with m.If(getattr(bits, bit) & ~getattr(self, bit).room):
                    m.d.comb += room.eq(0)

        with m.FSM():
            with m.State("IDLE"), m.If(self.insn.valid & ~self.stop & ready_pops & ~self.start):
                m.d.comb += self.insn.ready.eq(1)
                for bit in POPS:
                    if bit in self.links:
                        m.d.comb += getattr(self, bit).take.eq(getattr(head, bit))
                if self.queue is Queue.COMPUTE:
                    with m.If(head.opcode == Opcode.END):
                        m.d.comb += self.end.eq(1)
                    with m.Else():
                        m.d.sync += [cur.eq(self.insn.payload),
                                     sel.eq(head.opcode == Opcode.LOAD)]
                        m.next = "ISSUE"
                else:
                    m.d.sync += cur.eq(self.insn.payload)
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += self.busy.eq(1)
                for i, e in enumerate(execs):
                    with m.If(sel == i):
                        m.d.comb += e.insn.valid.eq(1)
                        with m.If(e.insn.ready):
                            m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.busy.eq(1)
                take = Signal()
                m.d.comb += take.eq(status_valid & ((status != 0) | room))
                for i, e in enumerate(execs):
                    with m.If(sel == i):
                        m.d.comb += e.status.ready.eq(take)
                with m.If(take):
                    m.next = "IDLE"
                    with m.If(status == 0):
                        for bit in PUSHES:
                            if bit in self.links:
                                m.d.comb += getattr(self, bit).give.eq(getattr(bits, bit))
                    with m.Elif(code == 0):
                        m.d.sync += code.eq(status)
        with m.If(self.start):
            m.d.sync += code.eq(0)
        return m
