"""The four dependency-token queues of the complete accelerator (``rtl/README.md`` 9.3, 10.4).

A token queue carries no data, so each is a counter: ``l2g`` (load -> compute), ``g2l``
(compute -> load), ``g2s`` (compute -> store) and ``s2g`` (store -> compute), each of depth
:data:`hwcnn.isa.queues.TOKEN_DEPTH`. ``start`` loads every counter with its pre-charge
:data:`hwcnn.isa.queues.INITIAL` (``g2l = s2g = 2`` buffer halves, ``l2g = g2s = 0``).

Each counter has exactly one consumer and one producer (a dispatcher of
:mod:`hwcnn.hw.soc.dispatch`), connected through :class:`PopSignature` (``avail`` = count > 0,
``take`` = pop one) and :class:`PushSignature` (``room`` = count < depth, ``give`` = push one).
Cycle rule: ``count(t+1) = count(t) + give(t) - take(t)``; a pop and a push in the same cycle
cancel. ``avail`` and ``room`` are functions of the registered count only (a push in cycle ``t``
makes a token available in ``t+1``, a pop in ``t`` frees room in ``t+1``). The dispatchers raise
``take`` only when ``avail`` and ``give`` only when ``room`` is high, so a counter never goes
below 0 or above its depth. ``start`` wins over a same-cycle take/give (the machine is idle
when it starts).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...isa.queues import INITIAL, TOKEN_DEPTH

#: The token queues, in the order of ``hwcnn.isa.queues.INITIAL``.
NAMES = tuple(INITIAL)


class PopSignature(wiring.Signature):
    """Consumer side of a token queue: ``avail`` (in), ``take`` (out, pop one token)."""

    def __init__(self) -> None:
        super().__init__({"avail": In(1), "take": Out(1)})


class PushSignature(wiring.Signature):
    """Producer side of a token queue: ``room`` (in), ``give`` (out, push one token)."""

    def __init__(self) -> None:
        super().__init__({"room": In(1), "give": Out(1)})


class Tokens(wiring.Component):
    """The four counters. Members: ``start`` (in, pre-charge), ``<name>_pop`` /
    ``<name>_push`` (the consumer's / producer's port), ``<name>_count`` (out, for tests and
    debugging)."""

    def __init__(self, depth: int = TOKEN_DEPTH) -> None:
        self.depth = depth
        members: dict[str, wiring.Member] = {"start": In(1)}
        for n in NAMES:
            members[f"{n}_pop"] = In(PopSignature())
            members[f"{n}_push"] = In(PushSignature())
            members[f"{n}_count"] = Out(range(depth + 1))
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for n in NAMES:
            count = Signal(range(self.depth + 1), name=f"{n}_tokens", init=INITIAL[n])
            pop, push = getattr(self, f"{n}_pop"), getattr(self, f"{n}_push")
            m.d.comb += [getattr(self, f"{n}_count").eq(count), pop.avail.eq(count != 0),
                         push.room.eq(count != self.depth)]
            with m.If(self.start):
                m.d.sync += count.eq(INITIAL[n])
            with m.Else():
                m.d.sync += count.eq(count + push.give - pop.take)
        return m
