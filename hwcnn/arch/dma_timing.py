"""Exact cycles of one DMA transfer on an idle machine (the RTL of ``hwcnn.hw.axi`` in front of
the DRAM model :class:`~.dma.DramTiming`): the one source of DMA cycle numbers.

Cycle 0 is the descriptor handshake; the result is the cycle of the status handshake (the
client takes the status at once). ``S`` cycles of set-up (bit-serial window check,
:func:`setup_cycles`) come first; an empty or refused transfer ends there. The set-up is the
handshake cycle, one shift-add step per bit of the longer of ``rows - 1`` and ``planes - 1``
(each taken modulo ``2**DIM_BITS``; the shift-add stops as soon as both remaining multipliers
are zero) and one CHECK cycle::

    S = 2 + max(bitlen(rows - 1), bitlen(planes - 1))      (2 for rows = planes = 1; at most 18)

Burst ``i`` (``n_i`` beats) then issues its AR / AW at

    a_0 = S,   a_i = max(a_{i-1} + 1, done_{i-N} + 1)      (N = outstanding bursts)

(``done`` = the RLAST handshake of a read burst, the B handshake of a write burst). The DRAM's
data slots start every ``tau = p/q`` cycles (:meth:`DramTiming.slot`); in units of ``1/q``
cycles burst ``i``'s first beat starts at

    s_i = max((e_i - 1)*q + 1, s_{i-1} + n_{i-1}*p)

where ``e_i`` is the first cycle the beat could move: ``a_i + L`` for a read (DRAM latency),
``a_i + 3`` for a write (the buffer word needs 2 cycles after the beat walker sees the burst).
Inside a burst beats follow the server (``s + j*p``; the beat moves in cycle
``ceil(s / q)``), so the last beat moves in ``l_i = ceil((s_i + (n_i - 1)*p) / q)``;
``done_i = l_i`` for a read, ``l_i + L`` for a write. The status handshake is
``done_last + 1`` (the cycle after the last RLAST / B: the draining slot's burst count is zero).
This is a recurrence over bursts, O(bursts), never over cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dma import DIM_BITS, DmaDesc, DramTiming, burst_beats, in_window

#: The longest set-up (a 16-bit ``rows - 1`` or ``planes - 1``, e.g. ``rows = 0``).
SETUP_CYCLES_MAX = DIM_BITS + 2
#: Cycles from an AW handshake to the earliest W beat of that burst.
WRITE_DATA_DELAY = 3
#: Cycles from the last RLAST / B handshake to the status handshake.
FINISH_CYCLES = 1


def setup_steps(rows: int, planes: int) -> int:
    """Shift-add steps of the walker's window check: the bit length of the longer multiplier,
    ``max(bitlen((rows-1) mod 2**DIM_BITS), bitlen((planes-1) mod 2**DIM_BITS))``."""
    mask = (1 << DIM_BITS) - 1
    return max(((rows - 1) & mask).bit_length(), ((planes - 1) & mask).bit_length())


def setup_cycles(rows: int, planes: int) -> int:
    """Cycles from the descriptor handshake to the first AR / AW (and to the status of an empty
    or refused transfer): the handshake, :func:`setup_steps` shift-add steps, one CHECK."""
    return 2 + setup_steps(rows, planes)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferTiming:
    """Per-burst times of one transfer (cycles from the descriptor handshake)."""

    issue: tuple[int, ...]        # AR / AW handshake of each burst
    last_beat: tuple[int, ...]    # cycle of each burst's last R / W beat
    done: tuple[int, ...]         # RLAST (read) / B (write) handshake
    status: int                   # status handshake = the transfer's cycle count

    @property
    def cycles(self) -> int:
        return self.status


def _slots(a: int, beats: int, s_prev: int | None, n_prev: int | None, *, write: bool,
           lat: int, p: int, q: int) -> tuple[int, int]:
    """A burst issued in cycle ``a``: its first data slot ``s`` (in ``1/q`` cycles) after the
    previous burst's ``n_prev`` beats from ``s_prev``, and the cycle of its last beat."""
    e = a + (WRITE_DATA_DELAY if write else lat)
    s = (e - 1) * q + 1
    if s_prev is not None and n_prev is not None:
        s = max(s, s_prev + n_prev * p)
    return s, -(-(s + (beats - 1) * p) // q)


def transfer_timing(desc: DmaDesc, *, write: bool, bus_bytes: int, dram: DramTiming,
                    outstanding: int, window: tuple[int, int] | None = None,
                    addr_width: int = 32) -> TransferTiming:
    """Every burst's issue / last-beat / done cycle and the status cycle (module docstring);
    a descriptor outside ``window`` (base, size) is refused after the set-up."""
    setup = setup_cycles(desc.rows, desc.planes)
    if window is not None and not in_window(desc, window, addr_width):
        return TransferTiming(issue=(), last_beat=(), done=(), status=setup)
    p, q = dram.slot(bus_bytes)
    lat = dram.latency
    issue: list[int] = []
    last: list[int] = []
    done: list[int] = []
    s_prev = n_prev = None
    for i, beats in enumerate(burst_beats(desc, bus_bytes)):
        a = setup if i == 0 else issue[-1] + 1
        if i >= outstanding:
            a = max(a, done[i - outstanding] + 1)
        s, lb = _slots(a, beats, s_prev, n_prev, write=write, lat=lat, p=p, q=q)
        issue.append(a)
        last.append(lb)
        done.append(lb + lat if write else lb)
        s_prev, n_prev = s, beats
    status = done[-1] + FINISH_CYCLES if done else setup
    return TransferTiming(issue=tuple(issue), last_beat=tuple(last), done=tuple(done),
                          status=status)


def transfer_cycles(desc: DmaDesc, *, write: bool, bus_bytes: int, dram: DramTiming,
                    outstanding: int = 4, window: tuple[int, int] | None = None,
                    addr_width: int = 32) -> int:
    """Cycles of one transfer on an idle DMA and DRAM (descriptor handshake = cycle 0 to the
    status handshake); :func:`setup_cycles` for an empty or refused one."""
    return transfer_timing(desc, write=write, bus_bytes=bus_bytes, dram=dram,
                           outstanding=outstanding, window=window,
                           addr_width=addr_width).status


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainTiming:
    """Cycles of back-to-back chained transfers of one client (cycle 0 = the first handshake)."""

    cmd: tuple[int, ...]          # descriptor handshake of each transfer
    status: tuple[int, ...]       # status handshake of each transfer
    issue: tuple[int, ...]        # AR / AW handshake of every burst, in order


def chain_timing(descs: list[DmaDesc], *, write: bool, bus_bytes: int, dram: DramTiming,
                 outstanding: int = 4, window: tuple[int, int] | None = None,
                 addr_width: int = 32, gaps: list[int] | None = None) -> ChainTiming:
    """Exact cycles of ``descs`` offered back to back by ONE client on an idle engine (each one
    offered from the cycle after the previous handshake or earlier; statuses taken at once; no
    other client; no error response). The walker holds the walking transfer W and the
    draining one D (``hw/axi/walker.py``): transfer ``k``'s walk ends in ``end_k`` (its CHECK
    for an empty or refused transfer, else its last AR / AW), it becomes D in
    ``move_k = max(end_k, status_{k-1})`` (D is free, or its status is taken that cycle), the
    next descriptor is taken in ``c_{k+1} = move_k + 1``, and

        status_k = max(move_k, done_last_k) + 1          (done_last_k = -inf without bursts)

    The bursts of all transfers form ONE sequence for the issue and data-slot recurrences of
    :func:`transfer_timing` (``outstanding`` bursts in flight per engine, one slot server), the
    first burst of transfer ``k`` not before ``c_k + S_k``. A single descriptor gives exactly
    :func:`transfer_timing`'s status. ``gaps`` (optional, one per descriptor): a client that
    offers descriptor ``k`` no earlier than ``gaps[k]`` cycles after the previous handshake
    (``gaps[0]``: after cycle 0), i.e. ``c_k = max(move_{k-1} + 1, c_{k-1} + gaps[k])``."""
    p, q = dram.slot(bus_bytes)
    lat = dram.latency
    cmds: list[int] = []
    stats: list[int] = []
    issue: list[int] = []
    done: list[int] = []
    # the recurrences of transfer_timing / _slots, inlined (millions of bursts per network)
    delay = WRITE_DATA_DELAY if write else lat
    s_next = None                     # s_prev + n_prev * p: the server's next free slot
    setups: dict[tuple[int, int], int] = {}
    c = gaps[0] if gaps else 0
    for k, desc in enumerate(descs):
        if gaps and k:
            c = max(c, cmds[-1] + gaps[k])
        cmds.append(c)
        setup = setups.get((desc.rows, desc.planes))
        if setup is None:
            setup = setups[(desc.rows, desc.planes)] = setup_cycles(desc.rows, desc.planes)
        refused = window is not None and not in_window(desc, window, addr_width)
        bs = [] if refused else burst_beats(desc, bus_bytes)
        end = c + setup - 1
        last_done = None
        for j, beats in enumerate(bs):
            a = c + setup if j == 0 else issue[-1] + 1
            g = len(issue)
            if g >= outstanding:
                a = max(a, done[g - outstanding] + 1)
            s = (a + delay - 1) * q + 1
            if s_next is not None and s_next > s:
                s = s_next
            lb = -(-(s + (beats - 1) * p) // q)
            issue.append(a)
            last_done = lb + lat if write else lb
            done.append(last_done)
            s_next = s + beats * p
            end = a
        move = max(end, stats[k - 1]) if k else end
        stats.append(max(move, last_done if last_done is not None else move) + 1)
        c = move + 1
    return ChainTiming(cmd=tuple(cmds), status=tuple(stats), issue=tuple(issue))
