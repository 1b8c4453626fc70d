"""The DMA front end shared by the read and write engines: descriptor in, window check, bursts out.

Timing (cycle 0 = the descriptor handshake): a bit-serial shift-add computes
``(planes-1)*plane_stride`` and ``(rows-1)*row_stride`` (no DSP), one multiplier bit of both
products per cycle, LSB first, and stops as soon as the remaining multiplier bits of both are
zero: ``n = max(bitlen(rows-1), bitlen(planes-1))`` SETUP cycles (``rows-1`` and ``planes-1``
taken modulo ``2**DIM_BITS``; ``n = 0`` for ``rows = planes = 1``: the handshake goes straight
to CHECK), then one CHECK cycle, then bursts from cycle ``S = n + 2``
(``hwcnn.arch.dma_timing.setup_cycles``), one per cycle while the engine takes them (and fewer
than ``outstanding`` are in flight). A transfer whose last byte lies outside
``[win_base, win_base + win_size)`` is refused in CHECK (code ``DMA_WINDOW``, no burst); a
transfer with a zero size ends in CHECK (code 0).

Chaining: the walker holds two transfers, W (being set up / walked) and D (its walk is over,
its bursts drain). W's walk ends in CHECK (empty or refused), with its last burst handshake,
or when the engine stops (``abort``); in that cycle W becomes D if D is free (empty, or its
status is taken in that same cycle) and the walker is in IDLE from the next cycle, where it
accepts the next descriptor (``cmd.ready`` is high exactly in IDLE); otherwise W waits in
HOLD until D is free. ``ended`` (one burst completion per cycle, in issue order) counts down
D's bursts first (while D has bursts in flight), else W's. D's status (its code) is offered
from the cycle after its last completion (or from the cycle after it became D if none was in
flight) until taken. So a single transfer's status is offered in ``done_last + 1``, and a
descriptor offered back to back is accepted the cycle after the previous one became D
(``hwcnn.arch.dma_timing.chain_timing``). ``idle`` = IDLE with D empty (the arbiter may grant
another client only then).

Error codes: an error response (``resp`` nonzero in the cycle of the R beat / B) sets the
engine's sticky code if it is zero; while it is nonzero the walker issues no burst (``stop``;
W's walk ends, a transfer accepted later issues none). A transfer's code is the first of: the
sticky code when it was accepted, an error response between its acceptance and the offer of
its status (so the transfer the response belongs to and a transfer chained behind it), its
window refusal. A transfer whose status was already offered keeps its code. The sticky code
is cleared by a descriptor accepted while the engine is idle (a fresh grant).

Bursts: each row (``ceil((addr mod B + row_bytes)/B)`` beats from its beat-aligned start) is cut
into INCR bursts of ``min(remaining beats, 256, beats to the next 4 KiB boundary)``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import ErrorCode
from ..params import addr_bits
from .bus import MAX_BURST_BEATS, PAGE_BYTES
from .desc import DIM_BITS, ROW_BYTES_BITS, burst_layout, desc_layout


def _end(m: Module, end: Signal, move: Signal) -> None:
    """The walk of W ends this cycle: to IDLE if it becomes D now, else HOLD."""
    m.d.comb += end.eq(1)
    with m.If(move):
        m.next = "IDLE"
    with m.Else():
        m.next = "HOLD"


class BurstWalker(wiring.Component):
    """Descriptor stream ``cmd`` -> burst stream ``burst`` + status stream (error code)."""

    def __init__(self, *, addr_width: int, buf_addr_width: int, data_width: int,
                 outstanding: int = 4) -> None:
        self.addr_width, self.buf_addr_width, self.data_width = addr_width, buf_addr_width, data_width
        self.outstanding = outstanding
        super().__init__({
            "cmd": In(stream.Signature(desc_layout(addr_width, buf_addr_width))),
            "burst": Out(stream.Signature(burst_layout(addr_width, buf_addr_width, data_width))),
            "status": Out(stream.Signature(8)),
            "win_base": In(64), "win_size": In(64),
            "begin": Out(1),          # pulse: a descriptor was accepted
            "abort": In(1),           # stop emitting bursts (``stop``, unless an AR/AW is held)
            "ended": In(1),           # pulse: a burst of the engine completed (RLAST / B)
            "resp": In(8),            # the code of an error response taken this cycle, else 0
            "stop": Out(1),           # the sticky code is nonzero: issue no burst
            "idle": Out(1),           # no transfer in the engine (W and D empty)
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        aw, nb = self.addr_width, self.data_width // 8
        lg = addr_bits(nb)
        page_beats = PAGE_BYTES // nb
        d = Signal.like(self.cmd.payload)
        # shift-add products, (n-1)*stride
        prod_r, prod_p = Signal(aw + DIM_BITS), Signal(aw + DIM_BITS)
        mr, mp = Signal(DIM_BITS), Signal(DIM_BITS)        # multiplier bits, shifted right
        sr, sp = Signal(aw + DIM_BITS), Signal(aw + DIM_BITS)  # multiplicands, shifted left
        # walk state
        row_addr, plane_addr = Signal(aw + 1), Signal(aw + 1)
        rows_left, planes_left = Signal(DIM_BITS), Signal(DIM_BITS)
        beat_in_row = Signal(ROW_BYTES_BITS)
        buf_row = Signal(self.buf_addr_width)

        off = row_addr[:lg]
        row_beats = Signal(ROW_BYTES_BITS + 1)
        m.d.comb += row_beats.eq((off + d.row_bytes + nb - 1) >> lg)
        cur = Signal(aw - lg + 1)
        m.d.comb += cur.eq((row_addr >> lg) + beat_in_row)
        page_left = Signal(range(page_beats + 1))
        m.d.comb += page_left.eq(page_beats - cur[:addr_bits(page_beats)])
        rem = Signal(ROW_BYTES_BITS + 1)
        m.d.comb += rem.eq(row_beats - beat_in_row)
        n1 = Signal(range(MAX_BURST_BEATS + 1))
        m.d.comb += n1.eq(Mux(page_left < MAX_BURST_BEATS, page_left, MAX_BURST_BEATS))
        blen = Signal(range(MAX_BURST_BEATS + 1))
        m.d.comb += blen.eq(Mux(rem < n1, rem, n1))
        last_of_row = Signal()
        m.d.comb += last_of_row.eq(blen == rem)
        ones = Const((1 << nb) - 1, nb)
        end_off = Signal(lg)
        m.d.comb += end_off.eq(off + d.row_bytes[:lg])
        first_mask = Signal(nb)
        last_mask = Signal(nb)
        m.d.comb += [first_mask.eq(ones << off), last_mask.eq(Mux(end_off == 0, ones,
                                                                   ~(ones << end_off)))]
        p = self.burst.payload
        m.d.comb += [p.addr.eq(cur << lg), p.len.eq(blen - 1),
                     p.buf_addr.eq(buf_row + beat_in_row),
                     p.first_strb.eq(Mux(beat_in_row == 0, first_mask, ones)),
                     p.last_strb.eq(Mux(last_of_row, last_mask, ones))]

        # ---- transfers: the walking one (W) and one whose bursts drain (D) -------------------
        n_out = self.outstanding
        err = Signal(8)                                   # the engine's sticky code
        w_code, w_left = Signal(8), Signal(range(n_out + 1))
        d_valid, d_left, d_code = Signal(), Signal(range(n_out + 1)), Signal(8)
        fire = Signal()
        m.d.comb += fire.eq(self.burst.valid & self.burst.ready)
        m.d.comb += [self.status.valid.eq(d_valid & (d_left == 0)),
                     self.status.payload.eq(d_code), self.stop.eq(err != 0)]
        st_take = Signal()
        m.d.comb += st_take.eq(self.status.valid & self.status.ready)
        to_d = Signal()                                   # the completion is D's
        m.d.comb += to_d.eq(self.ended & d_valid & (d_left != 0))
        w_left_next = Signal.like(w_left)
        m.d.comb += w_left_next.eq(w_left + fire - (self.ended & ~to_d))
        w_code_upd = Signal(8)                            # W's code after this cycle's response
        m.d.comb += w_code_upd.eq(Mux(w_code != 0, w_code, self.resp))
        final = Signal(8)                                 # W's code if its walk ends now
        m.d.comb += final.eq(w_code_upd)
        end = Signal()                                    # W's walk ends this cycle
        idle_fsm = Signal()
        m.d.comb += self.idle.eq(idle_fsm & ~d_valid)
        fresh = Signal()
        m.d.comb += fresh.eq(self.cmd.valid & self.cmd.ready & ~d_valid)
        err_next = Signal(8)
        m.d.comb += err_next.eq(Mux(fresh, 0, Mux(err != 0, err, self.resp)))
        m.d.sync += err.eq(err_next)
        # D: a completion of its bursts; an error response while it is unfinished
        with m.If(st_take):
            m.d.sync += d_valid.eq(0)
        with m.Else():
            with m.If(to_d):
                m.d.sync += d_left.eq(d_left - 1)
            with m.If(d_valid & (d_left != 0) & (d_code == 0)):
                m.d.sync += d_code.eq(self.resp)
        with m.If(~idle_fsm):
            m.d.sync += [w_left.eq(w_left_next), w_code.eq(w_code_upd)]
        move = Signal()                                   # W becomes D
        m.d.comb += move.eq(end & (~d_valid | st_take))
        with m.If(move):
            m.d.sync += [d_valid.eq(1), d_left.eq(w_left_next), d_code.eq(final),
                         w_left.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1), idle_fsm.eq(1)]
                with m.If(self.cmd.valid):
                    c = self.cmd.payload
                    m.d.comb += self.begin.eq(1)
                    r1, p1 = Signal(DIM_BITS), Signal(DIM_BITS)
                    m.d.comb += [r1.eq(c.rows - 1), p1.eq(c.planes - 1)]
                    m.d.sync += [d.eq(c), prod_r.eq(0), prod_p.eq(0), mr.eq(r1), mp.eq(p1),
                                 sr.eq(c.row_stride), sp.eq(c.plane_stride),
                                 w_code.eq(err_next), w_left.eq(0)]
                    m.next = "SETUP"
                    with m.If((r1 == 0) & (p1 == 0)):
                        m.next = "CHECK"
            with m.State("SETUP"):
                m.d.sync += [prod_r.eq(prod_r + Mux(mr[0], sr, 0)),
                             prod_p.eq(prod_p + Mux(mp[0], sp, 0)),
                             mr.eq(mr >> 1), mp.eq(mp >> 1), sr.eq(sr << 1), sp.eq(sp << 1)]
                with m.If(((mr >> 1) == 0) & ((mp >> 1) == 0)):     # no multiplier bit left
                    m.next = "CHECK"
            with m.State("CHECK"):
                last_end = Signal(aw + DIM_BITS + 2)
                win_end = Signal(66)
                m.d.comb += [last_end.eq(d.dram_addr + prod_r + prod_p + d.row_bytes),
                             win_end.eq(self.win_base + self.win_size)]
                empty = (d.rows == 0) | (d.planes == 0) | (d.row_bytes == 0)
                inside = ((d.dram_addr >= self.win_base) & (last_end <= win_end)
                          & (last_end <= (1 << aw)))
                m.d.sync += [row_addr.eq(d.dram_addr), plane_addr.eq(d.dram_addr),
                             rows_left.eq(d.rows), planes_left.eq(d.planes),
                             beat_in_row.eq(0), buf_row.eq(d.buf_addr)]
                with m.If(empty):
                    _end(m, end, move)
                with m.Elif(~inside):
                    _end(m, end, move)
                    m.d.comb += final.eq(Mux(w_code_upd != 0, w_code_upd, ErrorCode.DMA_WINDOW))
                    m.d.sync += w_code.eq(final)
                with m.Else():
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += self.burst.valid.eq(~self.abort)
                with m.If(self.abort):
                    _end(m, end, move)
                with m.Elif(self.burst.ready):
                    with m.If(last_of_row):
                        m.d.sync += [beat_in_row.eq(0), buf_row.eq(buf_row + d.buf_stride)]
                        with m.If(rows_left == 1):
                            with m.If(planes_left == 1):
                                _end(m, end, move)
                            nxt = plane_addr + d.plane_stride
                            m.d.sync += [plane_addr.eq(nxt), row_addr.eq(nxt),
                                         rows_left.eq(d.rows), planes_left.eq(planes_left - 1)]
                        with m.Else():
                            m.d.sync += [row_addr.eq(row_addr + d.row_stride),
                                         rows_left.eq(rows_left - 1)]
                    with m.Else():
                        m.d.sync += beat_in_row.eq(beat_in_row + blen)
            with m.State("HOLD"):
                m.d.comb += end.eq(1)
                with m.If(move):
                    m.next = "IDLE"
        return m
