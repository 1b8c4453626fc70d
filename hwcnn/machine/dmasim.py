"""Stepped cycle model of the AXI DMA (``hwcnn.hw.axi``) and the DRAM model in front of it.

One :meth:`DmaModel.run` call plays descriptor requests of several clients cycle by cycle: the
per-engine round-robin arbiters and each engine's address walker (set-up, window check,
bursts, chained transfers; shared with :mod:`.socdma` in :mod:`.dmawalk`),
the read engine's in-flight bursts, the write engine's beat walker, buffer reader and beat FIFO,
and the DRAM model (:class:`hwcnn.arch.dma.DramTiming`: read latency, one shared slot server for
R and W beats, R first and W beside it when the bandwidth leaves room for a second beat
(:func:`hwcnn.arch.dma.slot_next`), B ``latency`` cycles after WLAST). Every rule mirrors a register
or a handshake of the RTL (the module docstrings of ``hw/axi/walker.py``, ``engines.py``,
``bufport.py``, ``dramshim.py``); for one transfer alone it equals the closed form of
:mod:`hwcnn.arch.dma_timing`, and the cocotb tests compare both with the Verilog.

Assumptions (those of the test harness): clients take beats and statuses at once, the write
clients' buffers answer through ``hw.axi.bufport.WordReader`` on a 1-cycle memory, the backing
RAM behind the DRAM model is faster than the model. Not modelled: AXI error responses (their
data path is the same; the RTL tests check the codes), window refusal is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..arch.dma import DmaDesc, DramTiming, second_beat_ok, slot_next
from ..arch.soc import WORD_READER_DEPTH
from .dmawalk import Engine

#: Words the write path holds between the beat walker and W (buffer reader depth).
READER_DEPTH = WORD_READER_DEPTH


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A descriptor offered by ``client`` from cycle ``at`` on (held until taken)."""

    client: str
    desc: DmaDesc
    at: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """When a request's descriptor and status were taken, and its status code."""

    client: str
    desc: DmaDesc
    cmd_cycle: int
    status_cycle: int
    code: int

    @property
    def cycles(self) -> int:
        return self.status_cycle - self.cmd_cycle


class DmaModel:
    """The DMA of one bus width with its clients, on the DRAM model."""

    def __init__(self, *, bus_bytes: int, dram: DramTiming, outstanding: int = 4,
                 read_clients: Sequence[str] = ("fetch", "load"),
                 write_clients: Sequence[str] = ("store",),
                 window: tuple[int, int] = (0, 1 << 32), addr_width: int = 32) -> None:
        self.nb, self.dram, self.n = bus_bytes, dram, outstanding
        self.read_clients, self.write_clients = tuple(read_clients), tuple(write_clients)
        self.window, self.addr_width = window, addr_width

    def run(self, requests: Sequence[Request], limit: int = 10_000_000) -> list[Outcome]:
        """Play ``requests``; outcomes in the order of ``requests``."""
        p, q = self.dram.shared_slot(self.nb)
        lat = self.dram.latency
        rd, wr = (Engine(n_clients=len(clients), bus_bytes=self.nb, outstanding=self.n,
                         window=self.window, addr_width=self.addr_width)
                  for clients in (self.read_clients, self.write_clients))
        pending = {c: deque(r for r in requests if r.client == c)
                   for c in self.read_clients + self.write_clients}
        unknown = [r.client for r in requests if r.client not in pending]
        if unknown:
            raise ValueError(f"unknown DMA client {unknown[0]!r}")
        done: dict[int, Outcome] = {}
        index = {id(r): i for i, r in enumerate(requests)}
        # DRAM model
        nxt = 0
        rbursts: deque[list[int]] = deque()     # [release cycle of first beat, beats left]
        first = True
        bts: deque[int] = deque()               # B release cycles
        # write data path
        info: deque[list[int]] = deque()         # [visible from cycle, beats, next beat j]
        beats_w: deque[tuple[int, bool]] = deque()  # (W-eligible from cycle, last)
        held = 0                                 # addresses issued - W beats taken
        rd_taken: deque[tuple[Request, int]] = deque()   # accepted, status not yet taken
        wr_taken: deque[tuple[Request, int]] = deque()
        t = 0
        while len(done) < len(requests):
            if t > limit:
                raise RuntimeError(f"DMA model: no progress after {limit} cycles")
            slot_ok = t * q >= nxt
            r_elig = bool(rbursts) and (not first or rbursts[0][0] <= t)
            # --- read engine: R beats ---
            r_take = r_elig and slot_ok
            r_last = False
            if r_take:
                rbursts[0][1] -= 1
                r_last = rbursts[0][1] == 0
                if r_last:
                    rbursts.popleft()
                first = r_last
            # --- write engine: W, B, beat walker ---
            w_ok = second_beat_ok(t, nxt, p, q) if r_elig else slot_ok
            w_take = w_ok and bool(beats_w) and beats_w[0][0] <= t
            w_last = False
            if w_take:
                w_last = beats_w.popleft()[1]
            b_take = bool(bts) and bts[0] <= t
            if b_take:
                bts.popleft()
            ra = bool(info) and info[0][0] <= t and held < READER_DEPTH
            held += int(ra) - int(w_take)
            if ra:
                head = info[0]
                j = head[2]
                beats_w.append((t + 2, j == head[1] - 1))
                head[2] += 1
                if head[2] == head[1]:
                    info.popleft()
            if w_last:
                bts.append(t + lat)
            if r_take or w_take:
                nxt = slot_next(t, nxt, p, q, r_take + w_take)
            # --- arbiters, walkers, AR / AW issue ---
            for eng, clients, taken, is_write in ((rd, self.read_clients, rd_taken, False),
                                                  (wr, self.write_clients, wr_taken, True)):
                def offer(cl: tuple[str, ...] = clients, now: int = t) -> list[DmaDesc | None]:
                    return [pending[c][0].desc if pending[c] and pending[c][0].at <= now
                            else None for c in cl]

                acc, b, st = eng.step(offer, b_take if is_write else r_last, 0)
                if acc is not None:
                    taken.append((pending[clients[acc]].popleft(), t))
                if st is not None:
                    req, c0 = taken.popleft()
                    done[index[id(req)]] = Outcome(client=req.client, desc=req.desc,
                                                   cmd_cycle=c0, status_cycle=t, code=st[1])
                if b is not None:
                    if is_write:
                        info.append([t + 1, b.beats, 0])
                    else:
                        rbursts.append([t + lat, b.beats])
            t += 1
        return [done[i] for i in range(len(requests))]
