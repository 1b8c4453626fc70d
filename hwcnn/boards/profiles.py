"""FPGA board profiles: resources, typical clock and off-chip bandwidth, each with its source.

The data lives in ``hwcnn/boards/data/boards.yaml``; this module parses it into frozen records, finds a
board by a forgiving id (``PYNQ_Z2`` == ``pynq-z2``), derives defaults for a
:class:`~hwcnn.arch.config.HardwareConfig`, and checks that a configuration fits the board.

Multipliers per PE. A PE multiplies an ``act_bits`` by a ``weight_bits`` signed operand. A DSP
multiplier mode with signed ports ``a x b`` holds it directly when the operands fit the ports
(either orientation). A wider signed operand of ``w`` bits is split into one signed top chunk of
up to ``p`` bits and unsigned low chunks of ``p - 1`` bits (an unsigned chunk must fit a signed
port), i.e. ``1 + ceil((w - p) / (p - 1))`` chunks; the PE then needs the product of the chunk
counts of both operands (a mode whose ports also take unsigned operands, ``unsigned: true`` in
boards.yaml, uses ``ceil(w / p)`` chunks). This is the schoolbook decomposition; we do not
model DSP packing (two int8 MACs per DSP48E2) because the RTL does not use it.

Everything else the design uses (requantizer and pool multipliers, RAM blocks by their
geometry, LUTs) comes from :mod:`hwcnn.boards.resources`; :meth:`Board.check_fit` checks all of
it and :meth:`Board.default_memory` sizes the buffers so that the default configuration fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..arch.config import ArrayConfig, HardwareConfig, MemoryConfig, MemoryShape
from ..arch.dma import DramTiming
from ..arch.vector import vector_widths
from ..errors import ConfigError
from . import resources as res

#: DRAM read latency of :meth:`Board.dram_timing` in array cycles: a planning value, not a
#: measurement (no board in boards.yaml publishes one).
DEFAULT_DRAM_LATENCY = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Sourced:
    """A number and where it comes from (document, measurement or derivation)."""

    value: float
    source: str

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ConfigError(f"board value must be a number, not {self.value!r}")
        if self.value < 0:
            raise ConfigError(f"board value must not be negative, not {self.value!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(f"board value {self.value!r} has no source")


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiplierMode:
    """One way to use the DSP blocks: ``count`` signed ``a x b`` multipliers of ``type``."""

    a: int
    b: int
    count: int
    type: str
    source: str
    unsigned: bool = False

    def __post_init__(self) -> None:
        for name in ("a", "b", "count"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"multiplier {name} must be a positive integer, not {v!r}")
        if not self.source.strip():
            raise ConfigError(f"multiplier mode {self.type!r} has no source")

    def per_pe(self, act_bits: int, weight_bits: int) -> int:
        """Multipliers of this mode one ``act_bits x weight_bits`` signed product needs."""
        u = self.unsigned
        straight = operand_chunks(act_bits, self.a, u) * operand_chunks(weight_bits, self.b, u)
        swapped = operand_chunks(act_bits, self.b, u) * operand_chunks(weight_bits, self.a, u)
        return min(straight, swapped)


def operand_chunks(width: int, port: int, unsigned: bool = False) -> int:
    """Chunks a signed ``width``-bit operand splits into for a signed ``port``-bit input
    (``unsigned``: the port also takes unsigned operands, so low chunks use all its bits).

    >>> operand_chunks(8, 18), operand_chunks(18, 18), operand_chunks(19, 18), operand_chunks(35, 18), operand_chunks(36, 18)
    (1, 1, 2, 2, 3)
    >>> operand_chunks(32, 16), operand_chunks(32, 16, unsigned=True)
    (3, 2)
    """
    if width <= port:
        return 1
    if unsigned:
        return -(-width // port)
    if port < 2:
        raise ConfigError(f"a {port}-bit signed multiplier port cannot hold an unsigned chunk")
    return 1 + math.ceil((width - port) / (port - 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class DspPlan:
    """How an array maps onto a board's multipliers."""

    mode: MultiplierMode
    per_pe: int
    needed: int

    @property
    def available(self) -> int:
        return self.mode.count

    @property
    def fits(self) -> bool:
        return self.needed <= self.mode.count


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    """A real FPGA board: what the performance model needs, every number with its source."""

    id: str
    name: str
    part: str
    luts: Sourced
    multipliers: tuple[MultiplierMode, ...]
    bram_kbits: Sourced
    extra_ram_kbits: Sourced
    dram_gbps: Sourced
    clock_mhz: Sourced
    family: str

    def __post_init__(self) -> None:
        if self.family not in res.FAMILIES:
            raise ConfigError(f"board {self.id!r}: unknown family {self.family!r}; expected one "
                              f"of {', '.join(res.FAMILIES)}")
        if not self.multipliers:
            raise ConfigError(f"board {self.id!r}: no multiplier modes")
        if not self.dram_gbps.value > 0:
            raise ConfigError(f"board {self.id!r}: off-chip bandwidth must be positive")
        if not self.clock_mhz.value > 0:
            raise ConfigError(f"board {self.id!r}: clock must be positive")

    @property
    def onchip_bytes(self) -> int:
        """Block RAM plus large on-chip RAM (UltraRAM, SPRAM), in bytes."""
        return int((self.bram_kbits.value + self.extra_ram_kbits.value) * 1024) // 8

    @property
    def dsp_summary(self) -> str:
        """E.g. ``220 DSP48E1 (25x18)``."""
        return ", ".join(f"{m.count} {m.type} ({m.a}x{m.b})" for m in self.multipliers)

    def dram_bytes_per_cycle(self, clock_mhz: float) -> float:
        """Peak off-chip bytes per array clock cycle at ``clock_mhz``."""
        return self.dram_gbps.value * 1000.0 / clock_mhz

    def dram_timing(self, clock_mhz: float | None = None,
                    latency: int = DEFAULT_DRAM_LATENCY) -> DramTiming:
        """The DMA's DRAM model (:class:`hwcnn.arch.dma.DramTiming`) for this board: its peak
        bandwidth at ``clock_mhz`` (default: the board's clock) as an exact fraction of bytes per
        cycle; ``latency`` is a planning value (no board lists one)."""
        return DramTiming.from_board(self.dram_gbps.value, clock_mhz or self.clock_mhz.value,
                                     latency=latency)

    @property
    def ram(self) -> res.RamFamily:
        return res.FAMILIES[self.family]

    @property
    def ram_blocks(self) -> int:
        """Block RAM primitives (``bram_kbits`` / the family's block size)."""
        return int(self.bram_kbits.value // self.ram.block_kbits)

    @property
    def large_ram_blocks(self) -> int:
        """UltraRAM blocks (288 Kibit each) usable by the design."""
        return int(self.extra_ram_kbits.value // 288) if self.ram.large else 0

    def dsp_plan(self, array: ArrayConfig) -> DspPlan:
        """The multiplier mode that leaves the most headroom for ``array`` (PEs, the
        requantizer lanes and the pool address multiplier together)."""
        plans = [DspPlan(mode=m, per_pe=(p := m.per_pe(array.act_bits, array.weight_bits)),
                         needed=array.pes * p + self._extra_multipliers(m, array))
                 for m in self.multipliers]
        return min(plans, key=lambda pl: (pl.needed / pl.mode.count, -pl.mode.count))

    def usage(self, hw: HardwareConfig) -> res.Usage:
        """Everything ``hw`` uses on this board (:mod:`hwcnn.boards.resources`)."""
        a = hw.array
        plan = self.dsp_plan(a)
        m = plan.mode
        fam = self.ram
        return res.Usage(
            pe_multipliers=a.pes * plan.per_pe,
            requant_multipliers=a.cols * operand_chunks(a.acc_bits, m.a, m.unsigned)
            * operand_chunks(res.REQUANT_M0_BITS, m.b, m.unsigned),
            pool_multipliers=self._pool_multipliers(m),
            vector_multipliers=self._vector_multipliers(m, a),
            multiplier_type=m.type,
            memories=res.place_memories(hw, fam, self.large_ram_blocks),
            block=fam.block, large=fam.large,
            logic_luts=res.logic_luts(a, self.family))

    def max_square_array(self, act_bits: int, weight_bits: int, acc_bits: int = 32) -> int:
        """Side of the largest power-of-two square array whose multipliers (PEs, requantizer
        lanes, pool address) and logic fit the board; ConfigError if not even 1x1 does."""
        side, best = 1, 0
        while True:
            arr = ArrayConfig(rows=side, cols=side, act_bits=act_bits, weight_bits=weight_bits,
                              acc_bits=acc_bits)
            plan = self.dsp_plan(arr)
            if not (plan.fits and res.logic_luts(arr, self.family) <= self.luts.value):
                break
            best, side = side, 2 * side
        if not best:
            raise ConfigError(f"board {self.id}: not even a 1x1 array fits: it needs "
                              f"{plan.needed} {plan.mode.type} multipliers (PE, requantizer, "
                              f"vector unit), the board has {plan.available}")
        return best

    def default_memory(self, array: ArrayConfig, dram_bytes_per_cycle: float) -> MemoryConfig:
        """Default memories for ``array`` that fit this board (:meth:`check_fit`) within 7/8
        of its block RAM (the rest is for skew registers, FIFOs and the host interface):
        parameter words one block deep (:func:`_one_block_deep`), 2,048 accumulator words
        (halved while they would take more than a quarter of the block RAM), and the act,
        weight and out memories in the proportion 1/4, 1/2, 1/4 of the on-chip RAM, scaled
        down (binary search on the scale) until everything fits."""
        fam = self.ram
        budget = self.ram_blocks * 7 / 8
        param = _one_block_deep(fam)
        acc = 2048
        while acc > 64 and res.blocks(MemoryShape(name="acc", width=array.cols * array.acc_bits,
                                                  depth=acc), fam) > budget / 4 \
                and not self.large_ram_blocks:
            acc //= 2
        usable = self.onchip_bytes * 7 // 8 // 1024

        def config(scale: float) -> MemoryConfig:
            return MemoryConfig(act_kib=max(int(usable * scale / 4), 1),
                                weight_kib=max(int(usable * scale / 2), 1),
                                out_kib=max(int(usable * scale / 4), 1), param_words=param,
                                acc_words=acc, dram_bytes_per_cycle=dram_bytes_per_cycle)

        def fits(mem: MemoryConfig) -> bool:
            use = self.usage(HardwareConfig(array=array, memory=mem))
            return use.blocks <= budget and use.large_blocks <= self.large_ram_blocks

        lo, hi = 0, 1024          # scale = t / 1024
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(config(mid / 1024)):
                lo = mid
            else:
                hi = mid - 1
        return config(lo / 1024)

    def default_buffer_kib(self, array: ArrayConfig | None = None) -> tuple[int, int, int]:
        """Default (activation, weight, output) buffer KiB of :meth:`default_memory` for
        ``array`` (default: the largest square int8 array)."""
        if array is None:
            s = max(self.max_square_array(8, 8), 1)
            array = ArrayConfig(rows=s, cols=s)
        m = self.default_memory(array, 1.0)
        return m.act_kib, m.weight_kib, m.out_kib

    def _extra_multipliers(self, mode: MultiplierMode, array: ArrayConfig) -> int:
        """Multipliers besides the PEs: one requantizer per column, the vector unit's tap
        address and its reciprocal multiplier per lane."""
        u = mode.unsigned
        requant = (operand_chunks(array.acc_bits, mode.a, u)
                   * operand_chunks(res.REQUANT_M0_BITS, mode.b, u))
        return (array.cols * requant + self._pool_multipliers(mode)
                + self._vector_multipliers(mode, array))

    @staticmethod
    def _vector_multipliers(mode: MultiplierMode, array: ArrayConfig) -> int:
        """One reciprocal product per vector lane (C lanes): unsigned ``t_bits x m_bits``
        (signed operands one bit wider where the multiplier is signed only)."""
        w = vector_widths(array.act_bits)
        u = mode.unsigned
        x, y = (w.t_bits, w.m_bits) if u else (w.t_bits + 1, w.m_bits + 1)
        return array.cols * min(operand_chunks(x, mode.a, u) * operand_chunks(y, mode.b, u),
                                operand_chunks(x, mode.b, u) * operand_chunks(y, mode.a, u))

    def _pool_multipliers(self, mode: MultiplierMode) -> int:
        if self.family in res.POOL_MULTIPLIERS:
            return res.POOL_MULTIPLIERS[self.family]
        x, y = res.POOL_ADDR_BITS
        u = mode.unsigned
        return min(operand_chunks(x, mode.a, u) * operand_chunks(y, mode.b, u),
                   operand_chunks(x, mode.b, u) * operand_chunks(y, mode.a, u))

    def check_fit(self, hw: HardwareConfig) -> None:
        """Raise :class:`ConfigError` (one line) when ``hw`` does not fit this board:
        multipliers, block RAM (by primitive geometry), UltraRAM and LUTs."""
        a = hw.array
        plan = self.dsp_plan(a)
        if not plan.fits:
            try:
                s = self.max_square_array(a.act_bits, a.weight_bits, a.acc_bits)
                largest = f"largest square array that fits: {s}x{s}"
            except ConfigError:
                largest = "no array fits"
            raise ConfigError(
                f"array {a.rows}x{a.cols} needs {plan.needed} {plan.mode.type} multipliers "
                f"({plan.per_pe} per PE for {a.act_bits}x{a.weight_bits}-bit operands, "
                f"{plan.needed - a.pes * plan.per_pe} for the requantizers and the vector unit) "
                f"but {self.id} has {plan.available}; {largest}"
            )
        use = self.usage(hw)
        m = hw.memory
        if use.blocks > self.ram_blocks or use.large_blocks > self.large_ram_blocks:
            large = (f" and {use.large_blocks} of {self.large_ram_blocks} {use.large}"
                     if self.large_ram_blocks else "")
            raise ConfigError(
                f"buffers {m.act_kib}+{m.weight_kib}+{m.out_kib} KiB, {m.param_words} parameter "
                f"and {m.acc_words} accumulator words need {use.blocks:g} {use.block} blocks "
                f"(of {self.ram_blocks}){large} on {self.id}")
        if use.luts > self.luts.value:
            raise ConfigError(f"array {a.rows}x{a.cols} needs about {use.luts:,} LUTs but "
                              f"{self.id} has {int(self.luts.value):,}")


def _one_block_deep(fam: res.RamFamily) -> int:
    """Parameter words: as many as one block holds in its widest mode (the memory is wide, so
    its block count does not grow up to that depth)."""
    return max(d for w, d in fam.modes if w == max(w2 for w2, _ in fam.modes))


def normalize_id(text: str) -> str:
    """Board ids compare case-, dash-, underscore- and space-insensitively.

    >>> normalize_id("PYNQ_Z2") == normalize_id("pynq-z2") == normalize_id("Pynq Z2")
    True
    """
    return "".join(ch for ch in text.lower() if ch not in "-_ .")


def _sourced(board_id: str, key: str, raw: object) -> Sourced:
    if not isinstance(raw, dict) or set(raw) != {"value", "source"}:
        raise ConfigError(f"boards.yaml: board {board_id!r}: {key} must be {{value, source}}")
    return Sourced(value=raw["value"], source=str(raw["source"]))


def _parse_board(raw: dict) -> Board:
    bid = str(raw.get("id", "?"))
    modes = tuple(
        MultiplierMode(a=m["a"], b=m["b"], count=m["count"], type=str(m["type"]),
                       source=str(m["source"]), unsigned=bool(m.get("unsigned", False)))
        for m in raw.get("multipliers", ())
    )
    return Board(
        id=bid,
        name=str(raw["name"]),
        part=str(raw["part"]),
        luts=_sourced(bid, "luts", raw.get("luts")),
        multipliers=modes,
        bram_kbits=_sourced(bid, "bram_kbits", raw.get("bram_kbits")),
        extra_ram_kbits=_sourced(bid, "extra_ram_kbits", raw.get("extra_ram_kbits")),
        dram_gbps=_sourced(bid, "dram_gbps", raw.get("dram_gbps")),
        clock_mhz=_sourced(bid, "clock_mhz", raw.get("clock_mhz")),
        family=str(raw.get("family", "")),
    )


@cache
def all_boards() -> tuple[Board, ...]:
    """Every board in ``hwcnn/boards/data/boards.yaml``, in file order."""
    text = resources.files("hwcnn.boards").joinpath("data/boards.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    boards = tuple(_parse_board(b) for b in data["boards"])
    seen: set[str] = set()
    for b in boards:
        key = normalize_id(b.id)
        if key in seen:
            raise ConfigError(f"boards.yaml: duplicate board id {b.id!r}")
        seen.add(key)
    return boards


def get_board(name: str) -> Board:
    """Look a board up by id (case/dash/underscore-insensitive); ConfigError if unknown."""
    key = normalize_id(name)
    for b in all_boards():
        if normalize_id(b.id) == key:
            return b
    known = ", ".join(b.id for b in all_boards())
    raise ConfigError(f"unknown board {name!r}; known boards: {known}")


def dram_timing_of(hw: HardwareConfig, board: Board | None) -> DramTiming:
    """The DRAM model a run of ``hw`` assumes: the board's (its bandwidth at the array clock,
    the planning latency), or the configuration's own bandwidth with the same latency."""
    if board is not None:
        return board.dram_timing(hw.clock_mhz)
    from fractions import Fraction

    bw = Fraction(str(hw.memory.dram_bytes_per_cycle)).limit_denominator(10_000)
    return DramTiming(latency=DEFAULT_DRAM_LATENCY, bytes_per_cycle=bw)
