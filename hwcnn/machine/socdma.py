"""The shared DMA and the DRAM model inside the whole-machine cycle model (:mod:`.socsim`).

The same rules as :mod:`hwcnn.machine.dmasim` (the RTL of ``hw/axi/walker.py``, ``engines.py``
and ``dramshim.py``: per-engine round-robin arbiters with chaining, the walker's set-up /
check / issue / hold and its two transfer slots (code shared with dmasim: :mod:`.dmawalk`),
``outstanding`` bursts per engine, the DRAM's read latency, one shared data slot server for R
and W beats (:func:`hwcnn.arch.dma.slot_next`; R first, W in the same cycle when the DRAM's
bandwidth leaves room for a second beat), B ``latency`` cycles after WLAST), extended with
the clients of ``hwcnn_soc``: a read client may hold RREADY low (the load units' byte aligner),
and the write client's words come from the store unit's packer (``rd_data`` valid when its beat
FIFO holds a beat) instead of a 1-cycle word reader. Clients are objects with these members,
all evaluated from registers at the start of a cycle:

* ``cmd()``: the descriptor offered on ``dma.cmd`` this cycle, or ``None``;
* read clients: ``beat_ready()``; write clients: ``addr_ready()`` (``rd_addr.ready``) and
  ``word_valid()`` (``rd_data.valid``);
* events written by :meth:`Dma.step` for the client to apply in its own update:
  ``ev_cmd`` (descriptor taken), ``ev_beat`` (bytes of the beat taken, or ``None``),
  ``ev_status`` (status code taken, or ``None``), ``ev_addr`` (a word request taken),
  ``ev_word`` (a word taken on W).

AXI error responses are not modelled (the compiler refuses programs that would cause one);
window refusals are.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..arch.dma import DramTiming, second_beat_ok, slot_next
from ..arch.soc import WRITE_PREFETCH as _WRITE_PREFETCH
from .dmawalk import Engine

#: Beats the write engine prefetches ahead of W (``hw.axi.engines.WRITE_PREFETCH``).
WRITE_PREFETCH = _WRITE_PREFETCH


class Dma:
    """DMA + DRAM model; :meth:`step` plays one cycle."""

    def __init__(self, *, bus_bytes: int, dram: DramTiming, outstanding: int,
                 read_clients: tuple[Any, ...], write_clients: tuple[Any, ...],
                 window: tuple[int, int], addr_width: int = 32) -> None:
        self.nb, self.n = bus_bytes, outstanding
        self.p, self.q = dram.shared_slot(bus_bytes)
        self.lat = dram.latency
        self.window, self.addr_width = window, addr_width
        self.read_clients, self.write_clients = read_clients, write_clients
        self.rd = Engine(n_clients=len(read_clients), bus_bytes=bus_bytes,
                         outstanding=outstanding, window=window, addr_width=addr_width)
        self.wr = Engine(n_clients=len(write_clients), bus_bytes=bus_bytes,
                         outstanding=outstanding, window=window, addr_width=addr_width)
        self.nxt = 0
        self.rbursts: deque[list[Any]] = deque()   # [first release, beats left, beat bytes]
        self.first = True
        self.bts: deque[int] = deque()             # B release cycles
        self.info: deque[list[int]] = deque()      # write bursts: [visible from, beats, j]
        self.beatq: deque[tuple[int, bool]] = deque()  # (visible from, last)

    def idle(self) -> bool:
        return (self.rd.idle() and self.wr.idle() and not self.rbursts
                and not self.bts and not self.info and not self.beatq)

    def skip(self, n: int) -> None:
        """``n`` quiet cycles (:meth:`idle`): nothing in the DMA changes."""

    def _rd_offers(self) -> list[Any]:
        return [c.cmd() for c in self.read_clients]

    def _wr_offers(self) -> list[Any]:
        return [c.cmd() for c in self.write_clients]

    def step(self, t: int) -> bool:
        """One cycle; returns whether anything moved or is in flight (not a quiet cycle)."""
        q = self.q
        slot_ok = t * q >= self.nxt
        rb = self.rbursts
        r_elig = bool(rb) and (not self.first or rb[0][0] <= t)
        rd, wr = self.rd, self.wr
        r_take = r_last = False
        if r_elig and slot_ok:
            rclient = self.read_clients[rd.owner]
            if rclient.beat_ready():
                r_take = True
                head = rb[0]
                left = head[1]
                pops = head[2]
                rclient.ev_beat = pops[len(pops) - left]
                left -= 1
                head[1] = left
                r_last = left == 0
                if r_last:
                    rb.popleft()
                self.first = r_last
        bq = self.beatq
        inf = self.info
        bts = self.bts
        b_take = bool(bts) and bts[0] <= t
        if b_take:
            bts.popleft()
        w_take = False
        if bq or inf:
            wclient = self.write_clients[wr.owner]
            w_last = False
            # W: a free slot, or next to an eligible R beat the server's second one
            w_ok = second_beat_ok(t, self.nxt, self.p, q) if r_elig else slot_ok
            if w_ok and bq and bq[0][0] <= t and wclient.word_valid():
                w_take = True
                w_last = bq.popleft()[1]
                wclient.ev_word = True
            # the beat walker: one buffer word request per cycle while the beat FIFO has room
            # (level of the register: a W pop this cycle frees room only next cycle)
            if (inf and inf[0][0] <= t and len(bq) + w_take < WRITE_PREFETCH
                    and wclient.addr_ready()):
                wclient.ev_addr = True
                head = inf[0]
                j = head[2]
                bq.append((t + 1, j == head[1] - 1))
                j += 1
                head[2] = j
                if j == head[1]:
                    inf.popleft()
            if w_last:
                bts.append(t + self.lat)
        if r_take or w_take:
            self.nxt = slot_next(t, self.nxt, self.p, q, r_take + w_take)
        busy = r_take or w_take or bool(rb or bts or inf or bq)
        # the read engine: skipped in the cycles in which Engine.step would change nothing
        est = rd.state
        if r_last:
            hold = False
        elif est == "ISSUE":
            hold = (not rd.err and rd.inflight >= rd.n
                    and not (rd.d_valid and rd.d_left == 0))
        elif est == "HOLD":
            hold = rd.d_valid and rd.d_left != 0
        else:
            hold = est == "IDLE" and _engine_holds(rd, self.read_clients)
        if hold:
            busy = busy or not rd.idle()
        else:
            acc, b, st = rd.step(self._rd_offers, r_last, 0)
            clients = self.read_clients
            if acc is not None:
                clients[acc].ev_cmd = True
            if st is not None:
                clients[st[0]].ev_status = st[1]
            if b is not None:
                nb = self.nb
                ones = (1 << nb) - 1
                beats = b.beats
                if beats == 1:
                    pops = [(b.first_strb & b.last_strb).bit_count()]
                else:
                    pops = [nb] * beats
                    pops[0] = (b.first_strb & ones).bit_count()
                    pops[-1] = (b.last_strb & ones).bit_count()
                rb.append([t + self.lat, beats, pops])
            busy = busy or not rd.idle()
        est = wr.state
        if b_take:
            hold = False
        elif est == "ISSUE":
            hold = (not wr.err and wr.inflight >= wr.n
                    and not (wr.d_valid and wr.d_left == 0))
        elif est == "HOLD":
            hold = wr.d_valid and wr.d_left != 0
        else:
            hold = est == "IDLE" and _engine_holds(wr, self.write_clients)
        if hold:
            busy = busy or not wr.idle()
        else:
            acc, b, st = wr.step(self._wr_offers, b_take, 0)
            clients = self.write_clients
            if acc is not None:
                clients[acc].ev_cmd = True
            if st is not None:
                clients[st[0]].ev_status = st[1]
            if b is not None:
                inf.append([t + 1, b.beats, 0])
            busy = busy or not wr.idle()
        return busy


def _engine_holds(eng: Engine, clients: tuple[Any, ...]) -> bool:
    """Whether :meth:`Engine.step` of a cycle in which no burst of ``eng`` completes (and no
    error response comes) changes none of its registers and returns nothing, for an idle
    walker: it grants no client (none offers; or, with a draining transfer in D, the owner
    offers no chained descriptor). ``cmd()`` of a client has no side effects. (The other
    such cycles, checked in :meth:`Dma.step`: ISSUE waiting for a free burst slot, and
    HOLD, while D offers no status.)"""
    if not eng.d_valid:
        for c in clients:
            if c.cmd() is not None:
                return False
        return True
    return eng.d_left != 0 and clients[eng.owner].cmd() is None
