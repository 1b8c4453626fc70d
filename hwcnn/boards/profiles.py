"""FPGA board profiles: resources, typical clock and off-chip bandwidth, each with its source.

The data lives in ``hwcnn/boards/data/boards.yaml``; this module parses it into frozen records, finds a
board by a forgiving id (``PYNQ_Z2`` == ``pynq-z2``), derives defaults for a
:class:`~hwcnn.arch.config.HardwareConfig`, and checks that a configuration fits the board.

Multipliers per PE. A PE multiplies an ``act_bits`` by a ``weight_bits`` signed operand. A DSP
multiplier mode with signed ports ``a x b`` holds it directly when the operands fit the ports
(either orientation). A wider signed operand of ``w`` bits is split into one signed top chunk of
up to ``p`` bits and unsigned low chunks of ``p - 1`` bits (an unsigned chunk must fit a signed
port), i.e. ``1 + ceil((w - p) / (p - 1))`` chunks; the PE then needs the product of the chunk
counts of both operands. This is the schoolbook decomposition; we do not model DSP packing
(two int8 MACs per DSP48E2) because the RTL does not use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..arch.config import ArrayConfig, HardwareConfig
from ..errors import ConfigError


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

    def __post_init__(self) -> None:
        for name in ("a", "b", "count"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"multiplier {name} must be a positive integer, not {v!r}")
        if not self.source.strip():
            raise ConfigError(f"multiplier mode {self.type!r} has no source")

    def per_pe(self, act_bits: int, weight_bits: int) -> int:
        """Multipliers of this mode one ``act_bits x weight_bits`` signed product needs."""
        straight = operand_chunks(act_bits, self.a) * operand_chunks(weight_bits, self.b)
        swapped = operand_chunks(act_bits, self.b) * operand_chunks(weight_bits, self.a)
        return min(straight, swapped)


def operand_chunks(width: int, port: int) -> int:
    """Chunks a signed ``width``-bit operand splits into for a signed ``port``-bit input.

    >>> operand_chunks(8, 18), operand_chunks(18, 18), operand_chunks(19, 18), operand_chunks(35, 18), operand_chunks(36, 18)
    (1, 1, 2, 2, 3)
    """
    if width <= port:
        return 1
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

    def __post_init__(self) -> None:
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

    def dsp_plan(self, array: ArrayConfig) -> DspPlan:
        """The multiplier mode that leaves the most headroom for ``array``."""
        plans = [
            DspPlan(mode=m, per_pe=(p := m.per_pe(array.act_bits, array.weight_bits)),
                    needed=array.pes * p)
            for m in self.multipliers
        ]
        return min(plans, key=lambda pl: (pl.needed / pl.mode.count, -pl.mode.count))

    def max_square_array(self, act_bits: int, weight_bits: int) -> int:
        """Side of the largest power-of-two square array whose multipliers fit the board."""
        pes = max(m.count // m.per_pe(act_bits, weight_bits) for m in self.multipliers)
        side = 1
        while (2 * side) ** 2 <= pes:
            side *= 2
        return side

    def default_buffer_kib(self) -> tuple[int, int, int]:
        """Default (activation, weight, output) buffer KiB: 7/8 of the on-chip RAM (the rest
        is left for skew registers, FIFOs and the host interface), half of it for weights
        (a whole-K weight slice must fit), a quarter each for activations and outputs."""
        usable = self.onchip_bytes * 7 // 8 // 1024
        return max(usable // 4, 1), max(usable // 2, 1), max(usable // 4, 1)

    def check_fit(self, hw: HardwareConfig) -> None:
        """Raise :class:`ConfigError` (one line) when ``hw`` does not fit this board."""
        a = hw.array
        plan = self.dsp_plan(a)
        if not plan.fits:
            raise ConfigError(
                f"array {a.rows}x{a.cols} needs {plan.needed} {plan.mode.type} multipliers "
                f"({plan.per_pe} per PE for {a.act_bits}x{a.weight_bits}-bit operands) but "
                f"{self.id} has {plan.available}; largest square array that fits: "
                f"{(s := self.max_square_array(a.act_bits, a.weight_bits))}x{s}"
            )
        m = hw.memory
        need = (m.act_kib + m.weight_kib + m.out_kib) * 1024
        if need > self.onchip_bytes:
            raise ConfigError(
                f"buffers {m.act_kib}+{m.weight_kib}+{m.out_kib} KiB = {need // 1024} KiB exceed "
                f"the {self.onchip_bytes // 1024} KiB of on-chip RAM on {self.id}"
            )


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
                       source=str(m["source"]))
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
