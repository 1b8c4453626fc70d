"""Routing of instructions to the load / compute / store queues and the dependency tokens.

Four token queues link neighbouring units (VTA, ``rtl/README.md`` 9.3): ``l2g`` (load ->
compute, "the operands are loaded"), ``g2l`` (compute -> load, "a buffer half is free again"),
``g2s`` (compute -> store, "the output half is ready") and ``s2g`` (store -> compute, "the output
half is drained"). The two WAR queues start pre-charged with one token per buffer half
(:data:`HALVES`, loaded on ``start``); an instruction's pops are served before it runs, its
pushes after it finishes. A program ends with every token queue empty (the units that hold
credits pop the rest before END). :func:`replay` executes the counters in program order and
refuses a program in which a counter would go negative or above :data:`TOKEN_DEPTH`, or that
ends unbalanced.
"""

from __future__ import annotations

import enum

from .fields import Buffer, Insn, Opcode, ProgramError

#: Buffer halves (ping-pong): the pre-charge of the WAR queues g2l and s2g.
HALVES = 2
#: Capacity of each token queue (a counter; VTA's HLS queues are 8 deep).
TOKEN_DEPTH = 8


class Queue(enum.IntEnum):
    LOAD = 0
    COMPUTE = 1
    STORE = 2


def queue_of(insn: Insn) -> Queue:
    """Which unit executes ``insn``: LOAD into ACT/WGT/PARAM and LOAD2D -> load; LOAD into OUT
    (pool inputs, as VTA routes LOAD ACC), GEMM, VEC, END -> compute; STORE -> store."""
    if insn.op is Opcode.LOAD2D or (insn.op is Opcode.LOAD and insn["buffer"] != Buffer.OUT):
        return Queue.LOAD
    if insn.op is Opcode.STORE:
        return Queue.STORE
    return Queue.COMPUTE


#: (queue, token bit) -> the token queue it pops from / pushes to (None: no neighbour)
_LINKS: dict[tuple[Queue, str], str | None] = {
    (Queue.LOAD, "pop_prev"): None, (Queue.LOAD, "push_prev"): None,
    (Queue.LOAD, "pop_next"): "g2l", (Queue.LOAD, "push_next"): "l2g",
    (Queue.COMPUTE, "pop_prev"): "l2g", (Queue.COMPUTE, "push_prev"): "g2l",
    (Queue.COMPUTE, "pop_next"): "s2g", (Queue.COMPUTE, "push_next"): "g2s",
    (Queue.STORE, "pop_prev"): "g2s", (Queue.STORE, "push_prev"): "s2g",
    (Queue.STORE, "pop_next"): None, (Queue.STORE, "push_next"): None,
}

INITIAL = {"l2g": 0, "g2l": HALVES, "g2s": 0, "s2g": HALVES}


def token_queue(q: Queue, bit: str) -> str | None:
    return _LINKS[(q, bit)]


def replay(insns: list[Insn], depth: int = TOKEN_DEPTH) -> dict[str, int]:
    """Run the four token counters in program order; return the peak of each.

    ProgramError when a pop finds no token (the machine would wait for a push that comes
    later in the stream: a deadlock), a push overfills a queue, a unit without that neighbour
    sets a bit, the last instruction is not END, or the counters do not end as they started.
    """
    count = dict(INITIAL)
    peak = dict(count)
    for i, insn in enumerate(insns):
        q = queue_of(insn)
        if insn.op is Opcode.END and any(insn[b] for b in ("pop_prev", "pop_next", "push_prev",
                                                            "push_next")):
            raise ProgramError(f"instruction {i}: END carries token bits")
        for phase in (("pop_prev", "pop_next"), ("push_prev", "push_next")):
            for bit in phase:
                if not insn[bit]:
                    continue
                tq = token_queue(q, bit)
                if tq is None:
                    raise ProgramError(f"instruction {i}: {insn.op.name} on the {q.name.lower()} "
                                       f"queue cannot {bit}")
                count[tq] += 1 if bit.startswith("push") else -1
                if count[tq] < 0:
                    raise ProgramError(f"instruction {i}: {bit} finds no {tq} token (deadlock)")
                if count[tq] > depth:
                    raise ProgramError(f"instruction {i}: {bit} overfills the {tq} queue "
                                       f"(depth {depth})")
                peak[tq] = max(peak[tq], count[tq])
        if insn.op is Opcode.END and i != len(insns) - 1:
            raise ProgramError(f"instruction {i}: END before the end of the program")
    if not insns or insns[-1].op is not Opcode.END:
        raise ProgramError("the program does not end with END")
    if any(count.values()):
        left = ", ".join(f"{k} {v}" for k, v in count.items() if v)
        raise ProgramError(f"unbalanced tokens at END: {left} left in the queues")
    return peak
