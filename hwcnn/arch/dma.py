"""DMA transfers as data: the descriptor, its INCR bursts, and the DRAM timing parameters.

Pure Python (no Amaranth): the RTL (``hwcnn.hw.axi``), the closed form (:mod:`.dma_timing`),
the stepped model (``hwcnn.machine.dmasim``) and the tests share these definitions.

A transfer moves ``planes`` x ``rows`` rows of ``row_bytes`` bytes. Row ``r`` of plane ``p``
starts at DRAM byte ``dram_addr + p*plane_stride + r*row_stride`` and is buffer row
``i = p*rows + r``, whose first beat is buffer word ``buf_addr + i*buf_stride``. Byte lanes are
preserved (no data-realignment engine): DRAM byte ``x`` travels in byte lane ``x mod B`` of its
beat (``B`` = bus bytes), so a row of ``n = ceil((x0 mod B + row_bytes) / B)`` beats (``x0`` its
first byte) fills words ``buf_addr + i*buf_stride + [0, n)``; its first and last beat carry
partial strobes. Each row is cut into INCR bursts of ``min(remaining beats, 256, beats to the
next 4 KiB boundary)`` beats from its beat-aligned start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ConfigError

#: Bits of ``rows`` / ``planes`` (the RTL's window check multiplies them bit-serially).
DIM_BITS = 16
#: Bits of ``row_bytes``.
ROW_BYTES_BITS = 20
MAX_BURST_BEATS = 256
PAGE_BYTES = 4096
#: DRAM read latency in array cycles where no board gives one: a planning value
#: (:class:`DramTiming`'s default, ``hwcnn.boards.profiles.DEFAULT_DRAM_LATENCY``).
DEFAULT_LATENCY = 16
#: Smallest DRAM latency the simulation shim can honour in front of cocotbext-axi's AxiRam.
MIN_LATENCY = 4


class ErrorCode(enum.IntEnum):
    """Codes in STATUS[15:8] (and, 0-3, on the DMA status stream); 0 = no error.

    ``hwcnn_soc`` keeps the first nonzero code of a run (rtl/README.md 7 and 10);
    :attr:`meaning` is the one-line text the tools print for it.
    """

    NONE = 0
    DMA_WINDOW = 1      # a DMA transfer outside [WIN_BASE, WIN_BASE + WIN_SIZE): refused, no traffic
    DMA_SLVERR = 2      # an AXI SLVERR response (sticky; the transfer's bursts were finished)
    DMA_DECERR = 3      # an AXI DECERR response
    ILLEGAL_OPCODE = 4  # the fetch unit read an instruction with opcode 6 or 7
    BUF_RANGE = 5       # an instruction addresses a buffer word at or beyond the buffer's depth
    PROG_ALIGN = 6      # PROG_BASE is not a multiple of 32 bytes (one instruction)
    NO_END = 7          # all PROG_LEN instructions ran (PROG_LEN = 0: none) and none was END

    @property
    def meaning(self) -> str:
        return _MEANING[self]


_MEANING = {
    ErrorCode.NONE: "no error",
    ErrorCode.DMA_WINDOW: "a DMA transfer outside the DMA window (WIN_BASE, WIN_SIZE)",
    ErrorCode.DMA_SLVERR: "an AXI SLVERR response on the DRAM bus",
    ErrorCode.DMA_DECERR: "an AXI DECERR response on the DRAM bus",
    ErrorCode.ILLEGAL_OPCODE: "an instruction with opcode 6 or 7",
    ErrorCode.BUF_RANGE: "an instruction addresses a word beyond its buffer's depth",
    ErrorCode.PROG_ALIGN: "PROG_BASE is not a multiple of 32 bytes",
    ErrorCode.NO_END: "the program ran out without END (PROG_LEN too small, or 0)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DmaDesc:
    """One transfer (see the module docstring); a zero size makes a no-op transfer."""

    dram_addr: int
    row_bytes: int
    rows: int = 1
    row_stride: int = 0
    planes: int = 1
    plane_stride: int = 0
    buf_addr: int = 0
    buf_stride: int = 0

    def __post_init__(self) -> None:
        # the common case in one expression (models build millions of descriptors); any
        # doubt goes through the field-by-field check with its message
        r, pl, rb = self.rows, self.planes, self.row_bytes
        if (type(r) is int and type(pl) is int and type(rb) is int
                and 0 <= r < _DIM_LIMIT and 0 <= pl < _DIM_LIMIT and 0 <= rb < _ROW_LIMIT
                and type(self.dram_addr) is int and self.dram_addr >= 0
                and type(self.row_stride) is int and self.row_stride >= 0
                and type(self.plane_stride) is int and self.plane_stride >= 0
                and type(self.buf_addr) is int and self.buf_addr >= 0
                and type(self.buf_stride) is int and self.buf_stride >= 0):
            return
        limits = {"rows": DIM_BITS, "planes": DIM_BITS, "row_bytes": ROW_BYTES_BITS}
        for name in FIELDS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"DMA descriptor: {name} must be a non-negative integer, "
                                  f"not {v!r}")
            if name in limits and v >= 1 << limits[name]:
                raise ConfigError(f"DMA descriptor: {name} {v} needs more than "
                                  f"{limits[name]} bits")

    @property
    def empty(self) -> bool:
        return self.rows == 0 or self.planes == 0 or self.row_bytes == 0

    def row_starts(self) -> list[int]:
        """DRAM address of every row, in transfer order."""
        return [self.dram_addr + p * self.plane_stride + r * self.row_stride
                for p in range(self.planes) for r in range(self.rows)]

    def end(self) -> int:
        """One past the last DRAM byte of the last row (strides are non-negative)."""
        if self.empty:
            return self.dram_addr
        return (self.dram_addr + (self.planes - 1) * self.plane_stride
                + (self.rows - 1) * self.row_stride + self.row_bytes)

    def fields(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIELDS}


_DIM_LIMIT = 1 << DIM_BITS
_ROW_LIMIT = 1 << ROW_BYTES_BITS

FIELDS = ("dram_addr", "row_bytes", "rows", "row_stride", "planes", "plane_stride", "buf_addr",
          "buf_stride")


def in_window(desc: DmaDesc, window: tuple[int, int], addr_width: int = 32) -> bool:
    """The DMA's window check: every byte of ``desc`` inside ``[base, base + size)`` and below
    ``2**addr_width`` (an empty transfer is never refused)."""
    if desc.empty:
        return True
    base, size = window
    return desc.dram_addr >= base and desc.end() <= min(base + size, 1 << addr_width)


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    """One INCR burst: beat-aligned ``addr``, ``beats`` (1..256), the buffer word of its first
    beat, and the byte strobes of its first and last beat (all ones inside a row)."""

    addr: int
    beats: int
    buf_addr: int
    first_strb: int
    last_strb: int


def bursts(desc: DmaDesc, bus_bytes: int) -> list[Burst]:
    """The bursts of ``desc`` in issue order (the RTL's address walker emits exactly these)."""
    if desc.empty:
        return []
    ones = (1 << bus_bytes) - 1
    out = []
    for i, start in enumerate(desc.row_starts()):
        off = start % bus_bytes
        beats = -(-(off + desc.row_bytes) // bus_bytes)
        end_off = (off + desc.row_bytes) % bus_bytes
        first_mask = (ones << off) & ones
        last_mask = ones if end_off == 0 else (1 << end_off) - 1
        beat0 = start // bus_bytes
        done = 0
        while done < beats:
            cur = beat0 + done
            page_left = PAGE_BYTES // bus_bytes - cur % (PAGE_BYTES // bus_bytes)
            n = min(beats - done, MAX_BURST_BEATS, page_left)
            out.append(Burst(addr=cur * bus_bytes, beats=n,
                             buf_addr=desc.buf_addr + i * desc.buf_stride + done,
                             first_strb=first_mask if done == 0 else ones,
                             last_strb=last_mask if done + n == beats else ones))
            done += n
    return out


def burst_beats(desc: DmaDesc, bus_bytes: int) -> list[int]:
    """The beats of every burst of ``desc`` in issue order: ``[b.beats for b in bursts(desc,
    bus_bytes)]`` without building the bursts (the cycle formulas need only these)."""
    if desc.empty:
        return []
    nb = bus_bytes
    page = PAGE_BYTES // nb
    out: list[int] = []
    rb, a0, rs, ps = desc.row_bytes, desc.dram_addr, desc.row_stride, desc.plane_stride
    for pl in range(desc.planes):
        for r in range(desc.rows):
            start = a0 + pl * ps + r * rs
            beats = -(-(start % nb + rb) // nb)
            cur = start // nb
            left = page - cur % page
            if beats <= left and beats <= MAX_BURST_BEATS:     # one burst: the common case
                out.append(beats)
                continue
            while beats:
                n = min(beats, MAX_BURST_BEATS, page - cur % page)
                out.append(n)
                cur += n
                beats -= n
    return out


def slot_next(t: int, nxt: int, p: int, q: int, beats: int) -> int:
    """The slot server's register after ``beats`` (1 or 2) beats moved in cycle ``t``: a beat
    may move when ``t*q >= nxt`` (``tau = p/q`` of :meth:`DramTiming.shared_slot`), and the
    server keeps at most one cycle of unused credit. A W beat moves in the same cycle as an
    eligible R beat (which goes first, whether or not its client takes it) only when
    :func:`second_beat_ok`."""
    base = t * q - q + 1
    return max(nxt, base) + beats * p


def second_beat_ok(t: int, nxt: int, p: int, q: int) -> bool:
    """Whether the slot server has room for a second beat in cycle ``t`` (a W beat next to
    an eligible R beat): ``t*q >= slot_next(t, nxt, p, q, 1)``; never when ``tau >= 1``."""
    return t * q >= slot_next(t, nxt, p, q, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DramTiming:
    """The DRAM model: ``latency`` cycles from an AR handshake to the earliest first R beat (and
    from a WLAST handshake to its B), and an average ``bytes_per_cycle`` shared by reads and
    writes (each of the R and W channels at most one bus beat per cycle:
    :meth:`shared_slot`, :func:`slot_next`)."""

    latency: int = DEFAULT_LATENCY
    bytes_per_cycle: Fraction = Fraction(16)

    def __post_init__(self) -> None:
        lat = self.latency
        if isinstance(lat, bool) or not isinstance(lat, int) or lat < MIN_LATENCY:
            raise ConfigError(f"DRAM latency must be an integer of at least {MIN_LATENCY} "
                              f"cycles, not {lat!r}")
        bw = self.bytes_per_cycle
        if isinstance(bw, bool) or not isinstance(bw, (int, Fraction)) or not bw > 0:
            raise ConfigError(f"DRAM bandwidth must be a positive integer or Fraction of "
                              f"bytes per cycle, not {bw!r}")

    def slot(self, bus_bytes: int) -> tuple[int, int]:
        """Cycles per beat of ONE channel ``tau = B / min(bandwidth, B)`` as ``(p, q)``,
        ``tau = p/q >= 1`` (a channel moves at most one beat per cycle)."""
        tau = Fraction(bus_bytes) / min(Fraction(self.bytes_per_cycle), Fraction(bus_bytes))
        return tau.numerator, tau.denominator

    def shared_slot(self, bus_bytes: int) -> tuple[int, int]:
        """Cycles per beat of the slot server that R and W share, ``tau = B / bandwidth`` as
        ``(p, q)``: below 1 when the DRAM has bandwidth for more than one bus beat per cycle
        (then an R and a W beat can move in the same cycle, :func:`slot_next`)."""
        tau = Fraction(bus_bytes) / Fraction(self.bytes_per_cycle)
        return tau.numerator, tau.denominator

    @classmethod
    def from_board(cls, dram_gbps: float, clock_mhz: float, latency: int = DEFAULT_LATENCY
                   ) -> DramTiming:
        """Bandwidth of a board's DRAM at the array clock (bytes per cycle, as an exact
        fraction of the decimal figures)."""
        bw = Fraction(str(dram_gbps)) * 1000 / Fraction(str(clock_mhz))
        return cls(latency=latency, bytes_per_cycle=bw)
