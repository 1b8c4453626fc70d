"""One DMA engine's arbiter and burst walker, cycle by cycle: the part of the DMA that the
stepped DMA model (:mod:`.dmasim`) and the whole-machine model (:mod:`.socdma`) share.

It mirrors ``hw/axi/dma.py`` (``_grant``) and ``hw/axi/walker.py`` register by register: the
round-robin grant of an idle engine, chaining by the owner while no other client offers, the
set-up (``arch.dma_timing.setup_steps`` shift-add steps), CHECK (empty / window), ISSUE (one
burst per cycle while fewer than ``outstanding`` are in flight and the sticky code is zero),
HOLD, the two transfer slots W (walking) and D (draining: its status is offered once its
bursts have all completed) and the error codes. The data paths (R / W beats, B, the DRAM) stay
with the callers, which tell :meth:`Engine.step` whether a burst of the engine completed this
cycle and with which error code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..arch.dma import Burst, ErrorCode, bursts, in_window
from ..arch.dma_timing import setup_steps


class Engine:
    """Arbiter + walker of one engine (read or write) with ``n_clients`` clients."""

    def __init__(self, *, n_clients: int, bus_bytes: int, outstanding: int,
                 window: tuple[int, int], addr_width: int = 32) -> None:
        self.n_clients, self.nb, self.n = n_clients, bus_bytes, outstanding
        self.window, self.addr_width = window, addr_width
        self.owner, self.last = 0, n_clients - 1
        self.state = "IDLE"
        self.timer = self.steps = 0
        self.desc: Any = None
        self.todo: deque[Burst] = deque()
        self.err = 0                          # the sticky code
        self.w_code = self.w_left = 0
        self.d_valid, self.d_left, self.d_code = False, 0, 0
        self.inflight = 0

    def idle(self) -> bool:
        """No transfer in the engine (the arbiter may grant any client)."""
        return self.state == "IDLE" and not self.d_valid

    def quiet(self) -> bool:
        return self.idle() and self.inflight == 0

    def step(self, offer: Callable[[], Sequence[Any]], ended: bool, resp: int
             ) -> tuple[int | None, Burst | None, tuple[int, int] | None]:
        """One cycle. ``offer()[i]``: client ``i``'s descriptor or ``None`` (called only while
        the walker can accept, i.e. in IDLE); ``ended``: a burst
        of this engine completed this cycle (RLAST / B), ``resp`` its error code (0 none).
        Every client takes its status in the cycle it is offered. Returns (client whose
        descriptor was accepted, the burst issued, (client, code) of the status taken)."""
        d_valid = self.d_valid
        d_left = self.d_left
        st_take = d_valid and d_left == 0
        status = self.d_code                # offered (taken) only with st_take
        d_free = not d_valid or st_take
        to_d = ended and d_valid and d_left != 0
        owner_before = self.owner
        accepted: int | None = None
        fire: Burst | None = None
        end = False
        state = self.state
        final = self.w_code or resp
        w_left_next = 0
        if state == "IDLE":
            offers = offer()
            n = self.n_clients
            winner = None
            if not d_valid:
                last = self.last
                for off in range(1, n + 1):
                    i = (last + off) % n
                    if offers[i] is not None:
                        winner = i
                        break
            elif offers[owner_before] is not None:
                winner = owner_before
                for j in range(n):
                    if j != owner_before and offers[j] is not None:
                        winner = None
                        break
            if winner is not None:
                accepted = winner
                self.owner = self.last = winner
                d = self.desc = offers[winner]
                self.err = 0 if not d_valid else (self.err or resp)
                self.w_code, self.w_left = self.err, 0
                self.steps, self.timer = setup_steps(d.rows, d.planes), 0
                self.state = "CHECK" if self.steps == 0 else "SETUP"
            elif resp and not self.err:
                self.err = resp
        else:
            if state == "ISSUE":
                if self.err:
                    end = True
                elif self.inflight < self.n:
                    todo = self.todo
                    fire = todo.popleft()
                    end = not todo
            elif state == "SETUP":
                self.timer += 1
                if self.timer == self.steps:
                    self.state = "CHECK"
            elif state == "CHECK":
                d = self.desc
                if d.empty:
                    end = True
                elif not in_window(d, self.window, self.addr_width):
                    end, final = True, final or ErrorCode.DMA_WINDOW
                else:
                    self.todo = deque(bursts(d, self.nb))
                    self.state = "ISSUE"
            else:                                   # HOLD
                end = True
            w_left_next = self.w_left
            if fire is not None:
                w_left_next += 1
            if ended and not to_d:
                w_left_next -= 1
            self.w_code, self.w_left = final, w_left_next
            if end:
                if d_free:
                    self.state = "IDLE"
                    self.w_left = 0
                else:
                    self.state = "HOLD"
            if resp and not self.err:
                self.err = resp
        # D (registers of the cycle start: d_valid, d_left, d_code)
        if end and d_free:
            self.d_valid, self.d_left, self.d_code = True, w_left_next, final
        elif st_take:
            self.d_valid = False
        elif d_valid:
            if d_left != 0 and self.d_code == 0:
                self.d_code = resp
            if to_d:
                self.d_left = d_left - 1
        if fire is not None:
            self.inflight += 1
        if ended:
            self.inflight -= 1
        return accepted, fire, (owner_before, status) if st_take else None
