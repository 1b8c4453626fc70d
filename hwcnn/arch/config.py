"""Hardware configuration: the one object threaded through lowering, simulation and RTL.

All records are frozen and validate themselves on construction; a bad value raises
:class:`hwcnn.errors.ConfigError` naming the field and the value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..errors import ConfigError

#: Operand widths the numeric contract supports (signed two's complement).
MIN_BITS = 2
MAX_BITS = 32


class Dataflow(enum.Enum):
    """What stays inside each processing element while a GEMM tile runs.

    ``OUTPUT_STATIONARY``: PE(i, j) accumulates ``C[i, j]``; rows of A enter from the west,
    columns of B from the north, both skewed, K values streamed in time.
    ``WEIGHT_STATIONARY``: PE(k, j) holds ``B[k, j]``; rows of A enter from the west (skewed),
    partial sums flow south and leave the bottom row, M rows streamed in time.
    """

    OUTPUT_STATIONARY = "os"
    WEIGHT_STATIONARY = "ws"

    @classmethod
    def parse(cls, text: str) -> Dataflow:
        for member in cls:
            if text.lower() in (member.value, member.name.lower()):
                return member
        raise ConfigError(f"unknown dataflow {text!r}; expected 'ws' or 'os'")


def _check_int(owner: str, name: str, value: object, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}: {name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{owner}: {name} must be {bound}, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayConfig:
    """An R x C systolic MAC array: ``rows`` x ``cols`` PEs, signed operands.

    ``acc_bits`` is the accumulator register width inside each PE; the numeric contract
    (:mod:`hwcnn.numerics.fixedpoint`) decides which K a given width can hold without overflow.

    ``drain_rows`` (output stationary only): rows of finished sums the drain reads per cycle.
    1: one row into ``C`` requantizer lanes, one output word per cycle. 2: every PE keeps two
    shadow registers (even and odd folds), a pair of rows ``(2q, 2q + 1)`` is read per cycle
    into ``2C`` lanes and written as two consecutive output words (the output and
    accumulator memories are split into even and odd banks), so a fold period can be as
    short as ``max(R*ceil(k/R), ceil(R/2), ceil((C + floor(R/2))/2))`` instead of
    ``max(R*ceil(k/R), C)`` (:func:`hwcnn.arch.timing.gemm_period_terms`, rtl/README.md 5):
    shorter only on an array wider than ``R*ceil(k/R)``.
    """

    rows: int
    cols: int
    dataflow: Dataflow = Dataflow.WEIGHT_STATIONARY
    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    drain_rows: int = 1

    def __post_init__(self) -> None:
        _check_int("array", "rows", self.rows, 1, 1024)
        _check_int("array", "cols", self.cols, 1, 1024)
        if not isinstance(self.dataflow, Dataflow):
            raise ConfigError(f"array: dataflow must be a Dataflow, not {self.dataflow!r}")
        _check_int("array", "act_bits", self.act_bits, MIN_BITS, MAX_BITS)
        _check_int("array", "weight_bits", self.weight_bits, MIN_BITS, MAX_BITS)
        _check_int("array", "acc_bits", self.acc_bits, MIN_BITS, 64)
        if self.acc_bits < self.act_bits + self.weight_bits:
            raise ConfigError(
                f"array: acc_bits {self.acc_bits!r} cannot hold one product of "
                f"{self.act_bits}-bit by {self.weight_bits}-bit operands "
                f"(needs at least {self.act_bits + self.weight_bits})"
            )
        _check_int("array", "drain_rows", self.drain_rows, 1, 2)
        if self.drain_rows == 2 and (self.dataflow is not Dataflow.OUTPUT_STATIONARY
                                     or self.rows < 2):
            raise ConfigError("array: drain_rows 2 needs an output-stationary array of at "
                              f"least 2 rows, not {self.rows}x{self.cols} "
                              f"{self.dataflow.value}")

    @property
    def pes(self) -> int:
        """Number of processing elements (= multipliers)."""
        return self.rows * self.cols


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryConfig:
    """On-chip buffers and the off-chip (DRAM) interface.

    The accelerator has five memories (rtl/README.md section 3): the activation, weight and
    output memories sized in KiB, and the parameter (bias/M0/shift, one word per column fold)
    and accumulator (int32 partial sums) memories sized in words (``C`` lanes each).
    ``dram_bytes_per_cycle`` is the sustained off-chip (DRAM) bandwidth at the array clock;
    ``port_bytes_per_cycle`` the accelerator's memory port, when it is narrower than the DRAM
    can feed: the complete accelerator's AXI4 master moves one data beat of its width per
    cycle (``Board.default_memory`` sets it from the board's ``axi_bits``; ``None``: the tile
    engine fed at the DRAM's bandwidth). :attr:`bytes_per_cycle`, the smaller of the two, is
    what the tile search and the DRAM timeline (memsim) plan with.
    """

    act_kib: int = 64
    weight_kib: int = 64
    out_kib: int = 64
    dram_bytes_per_cycle: float = 16.0
    param_words: int = 512
    acc_words: int = 2048
    port_bytes_per_cycle: float | None = None

    def __post_init__(self) -> None:
        _check_int("memory", "act_kib", self.act_kib, 1)
        _check_int("memory", "weight_kib", self.weight_kib, 1)
        _check_int("memory", "out_kib", self.out_kib, 1)
        _check_int("memory", "param_words", self.param_words, 1)
        _check_int("memory", "acc_words", self.acc_words, 1)
        bw = self.dram_bytes_per_cycle
        if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not bw > 0:
            raise ConfigError(f"memory: dram_bytes_per_cycle must be positive, not {bw!r}")
        port = self.port_bytes_per_cycle
        if port is not None and (isinstance(port, bool) or not isinstance(port, (int, float))
                                 or not port > 0):
            raise ConfigError(f"memory: port_bytes_per_cycle must be positive, not {port!r}")

    @property
    def bytes_per_cycle(self) -> float:
        """Off-chip bytes the accelerator moves per cycle: the DRAM's bandwidth, capped by its
        memory port's (the tile search's and memsim's bandwidth)."""
        port = self.port_bytes_per_cycle
        bw = self.dram_bytes_per_cycle
        return bw if port is None or port >= bw else float(port)


#: Parameter word bits per column besides the bias: M0 (31) + shift (6) (rtl/README.md 2).
PARAM_EXTRA_BITS = 37


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryShape:
    """One on-chip memory of the design: ``depth`` words of ``width`` bits."""

    name: str
    width: int
    depth: int

    @property
    def bits(self) -> int:
        return self.width * self.depth


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareConfig:
    """Array + memories + clock: everything the lowering, simulators and RTL need."""

    array: ArrayConfig
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    clock_mhz: float = 100.0

    def __post_init__(self) -> None:
        c = self.clock_mhz
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
            raise ConfigError(f"clock_mhz must be positive, not {c!r}")

    def memories(self) -> tuple[MemoryShape, ...]:
        """The five memories this configuration describes, in words (rtl/README.md 3).

        A KiB budget holds ``KiB * 1024 // word bytes`` words, where a word of ``L`` lanes of
        ``w`` bits takes ``ceil(L * w / 8)`` bytes, exactly as the compiler counts tile
        footprints; the parameter and accumulator memories are given in words. The RTL
        generator (``hwcnn rtl --buffers/--board``) and the board fit use these depths.
        """
        a, m = self.array, self.memory

        def words(kib: int, lanes: int, bits: int) -> int:
            return kib * 1024 // -(-lanes * bits // 8)

        return (
            MemoryShape(name="act", width=a.rows * a.act_bits,
                        depth=words(m.act_kib, a.rows, a.act_bits)),
            MemoryShape(name="weight", width=a.cols * a.weight_bits,
                        depth=words(m.weight_kib, a.cols, a.weight_bits)),
            MemoryShape(name="param", width=a.cols * (a.acc_bits + PARAM_EXTRA_BITS),
                        depth=m.param_words),
            MemoryShape(name="out", width=a.cols * a.act_bits,
                        depth=words(m.out_kib, a.cols, a.act_bits)),
            MemoryShape(name="acc", width=a.cols * a.acc_bits, depth=m.acc_words),
        )
