"""FPGA board profiles: resources, typical clock, off-chip bandwidth and the AXI width of the
complete accelerator's master (``axi_bits``), each with its source.

The data lives in ``hwcnn/boards/data/boards.yaml``; this module parses it into frozen records, finds a
board by a forgiving id (``PYNQ_Z2`` == ``pynq-z2``), derives defaults for a
:class:`~hwcnn.arch.config.HardwareConfig`, and checks that a configuration fits the board.

Multipliers. A PE multiplies an ``act_bits`` by a ``weight_bits`` signed operand. A DSP
multiplier mode with signed ports ``a x b`` holds it directly when the operands fit the ports
(either orientation); a wider operand is split into port-sized chunks (signed-only ports:
unsigned low chunks of ``p - 1`` bits; ``unsigned: true`` in boards.yaml: ``p`` bits) and every
chunk pair Yosys maps to a DSP counts (:func:`hwcnn.boards.resources.product_multipliers`,
the same rule for every product of the design). This is the schoolbook decomposition; we do
not model DSP packing (two int8 MACs per DSP48E2) because the RTL does not use it.
:func:`operand_chunks` is the chunk count of one operand.

Everything else the design uses (requantizer, vector, tap address and the SoC units'
multipliers as Yosys maps them, RAM blocks by their geometry, LUTs) comes from
:mod:`hwcnn.boards.resources`; :meth:`Board.check_fit` checks all of it for the complete
accelerator ``hwcnn_soc`` and :meth:`Board.default_memory` sizes the buffers so that the default
configuration fits. Boards on which not even a 1x1 ``hwcnn_soc`` fits are listed under
``unsupported`` in boards.yaml; :func:`get_board` refuses them with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..arch.config import ArrayConfig, HardwareConfig, MemoryConfig, MemoryShape
from ..arch.dma import DEFAULT_LATENCY, DramTiming
from ..errors import ConfigError
from . import resources as res

#: DRAM read latency of :meth:`Board.dram_timing` in array cycles: a planning value, not a
#: measurement (no board in boards.yaml publishes one).
DEFAULT_DRAM_LATENCY = DEFAULT_LATENCY
#: The AXI4 data widths the complete accelerator's master supports
#: (:class:`hwcnn.hw.soc.ports.SocParams` ``data_width``), the values of boards.yaml's ``axi_bits``.
AXI_WIDTHS = (64, 128, 256)


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
    #: (product name, multipliers): pe, requant, vector, pool, and for the SoC store, load
    parts: tuple[tuple[str, int], ...] = ()

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
    #: AXI4 data width of the complete accelerator's master on this board (the widest the
    #: board's path to its DRAM takes, within :data:`AXI_WIDTHS`)
    axi_bits: Sourced
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
        if self.axi_bits.value not in AXI_WIDTHS:
            raise ConfigError(f"board {self.id!r}: {_axi_refusal(self.axi_bits.value)}")

    @property
    def axi_width(self) -> int:
        """``axi_bits`` as an int: the AXI data width ``hwcnn_soc`` is built and modelled with
        on this board (``hwcnn rtl --top soc``, ``hwcnn verify --engine rtl``, ``hwcnn report
        --machine`` and the fit's FIFOs, unless told otherwise)."""
        return int(self.axi_bits.value)

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

    def _plan(self, hw: HardwareConfig, top: str,
              memories: tuple[MemoryShape, ...] | None = None) -> DspPlan:
        """The multiplier mode with the most headroom for every product of ``hw``'s design
        (:func:`hwcnn.boards.resources.engine_products`, with ``top == "soc"`` also
        :func:`~hwcnn.boards.resources.soc_products`), counted by the family's
        :class:`~hwcnn.boards.resources.DspRule`."""
        if top not in ("soc", "engine"):
            raise ConfigError(f"top must be 'soc' or 'engine', not {top!r}")
        rule = res.DSP_RULES.get(self.family, res._DEFAULT_RULE)
        prods = res.engine_products(hw, memories) + (res.soc_products(hw, rule) if top == "soc" else ())
        plans = []
        for m in self.multipliers:
            parts: dict[str, int] = {}
            for p in prods:
                n = p.count * res.product_multipliers(p, m.a, m.b, m.unsigned, rule)
                parts[p.name] = parts.get(p.name, 0) + n
            pes = hw.array.pes
            plans.append(DspPlan(mode=m, per_pe=parts["pe"] // pes, needed=sum(parts.values()),
                                 parts=tuple(parts.items())))
        return min(plans, key=lambda pl: (pl.needed / pl.mode.count, -pl.mode.count))

    def dsp_plan(self, array: ArrayConfig, memory: MemoryConfig | None = None,
                 top: str = "soc") -> DspPlan:
        """:meth:`_plan` of ``array`` with ``memory`` (default: the MemoryConfig defaults;
        only the vector unit's tap address product depends on it, through the output
        buffer's address bits)."""
        hw = HardwareConfig(array=array, memory=memory if memory is not None else MemoryConfig())
        return self._plan(hw, top)

    def usage(self, hw: HardwareConfig, top: str = "soc",
              memories: tuple[MemoryShape, ...] | None = None,
              data_width: int | None = None) -> res.Usage:
        """Everything ``hw`` uses on this board (:mod:`hwcnn.boards.resources`): the complete
        accelerator ``hwcnn_soc`` (what ``hwcnn rtl --top soc`` deploys), or with
        ``top="engine"`` the tile engine ``hwcnn_top`` alone. ``memories``: word depths other
        than ``hw.memories()`` (``hwcnn rtl --rows R --cols C`` with its default depths).
        ``data_width``: the SoC's AXI width, which sizes its FIFOs (default: the board's
        :attr:`axi_width`)."""
        a = hw.array
        plan = self._plan(hw, top, memories)
        parts = dict(plan.parts)
        fam = self.ram
        soc = top == "soc"
        return res.Usage(
            top=top,
            pe_multipliers=parts["pe"], requant_multipliers=parts["requant"],
            pool_multipliers=parts["pool"], vector_multipliers=parts["vector"],
            soc_multipliers=parts.get("store", 0) + parts.get("load", 0),
            multiplier_type=plan.mode.type,
            memories=res.place_memories(hw, fam, self.large_ram_blocks, soc=soc,
                                        memories=memories),
            fifos=(res.fifo_uses(hw, fam, self.axi_width if data_width is None else data_width)
                   if soc else ()),
            block=fam.block, large=fam.large,
            logic_luts=res.logic_luts(a, self.family),
            soc_luts=(res.soc_logic_luts(a, self.family, self.axi_width if data_width is None
                                         else data_width) if soc else 0))

    def max_square_array(self, act_bits: int, weight_bits: int, acc_bits: int = 32) -> int:
        """Side of the largest power-of-two square array of the complete accelerator whose
        multipliers (every product, :meth:`dsp_plan`) and logic (engine, SoC and its FIFOs)
        fit the board; ConfigError if not even 1x1 does."""
        side, best = 1, 0
        while True:
            arr = ArrayConfig(rows=side, cols=side, act_bits=act_bits, weight_bits=weight_bits,
                              acc_bits=acc_bits)
            plan = self.dsp_plan(arr)
            hw = HardwareConfig(array=arr)
            fixed = self.usage(hw)           # logic and FIFOs: independent of the buffers
            luts = fixed.logic_luts + fixed.soc_luts + sum(u.lutram_luts for u in fixed.fifos)
            if not (plan.fits and luts <= self.luts.value):
                break
            best, side = side, 2 * side
        if not best:
            raise ConfigError(f"board {self.id}: not even a 1x1 array of the complete "
                              f"accelerator fits: it needs {plan.needed} {plan.mode.type} "
                              f"multipliers (of {plan.available}) and about {luts:,} LUTs "
                              f"(of {int(self.luts.value):,})")
        return best

    def default_memory(self, array: ArrayConfig, dram_bytes_per_cycle: float,
                       bus_bits: int | None = None) -> MemoryConfig:
        """Default memories for ``array`` that fit this board (:meth:`check_fit`, the complete
        accelerator: the output memory twice) within 7/8 of its block RAM (the rest covers
        Yosys's not always cheapest arrangement of deep memories, measured up to 2 blocks):
        parameter words one block deep (:func:`_one_block_deep`), 2,048 accumulator words
        (halved while they would take more than a quarter of the block RAM), and the act,
        weight and out memories in the proportion 1/4, 1/2, 1/4 of the on-chip RAM, scaled
        down (binary search on the scale) until everything fits. The memory port is the
        complete accelerator's AXI master, ``bus_bits`` wide (default: the board's
        ``axi_bits``): ``port_bytes_per_cycle`` = its bytes, one beat per cycle."""
        port = axi_width_of(self, bus_bits) // 8
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
                                acc_words=acc, dram_bytes_per_cycle=dram_bytes_per_cycle,
                                port_bytes_per_cycle=float(port))

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

    def check_fit(self, hw: HardwareConfig, data_width: int | None = None) -> None:
        """Raise :class:`ConfigError` (one line) when ``hw`` does not fit this board:
        multipliers, block RAM (by primitive geometry), UltraRAM and LUTs (the SoC's FIFOs at
        AXI width ``data_width``, default the board's :attr:`axi_width`)."""
        a = hw.array
        plan = self._plan(hw, "soc")
        if not plan.fits:
            try:
                s = self.max_square_array(a.act_bits, a.weight_bits, a.acc_bits)
                largest = f"largest square array that fits: {s}x{s}"
            except ConfigError:
                largest = "no array fits"
            raise ConfigError(
                f"array {a.rows}x{a.cols} needs {plan.needed} {plan.mode.type} multipliers "
                f"({plan.per_pe} per PE for {a.act_bits}x{a.weight_bits}-bit operands, "
                f"{plan.needed - a.pes * plan.per_pe} for the requantizers, the vector unit and "
                f"the SoC's load and store units) "
                f"but {self.id} has {plan.available}; {largest}"
            )
        use = self.usage(hw, data_width=data_width)
        m = hw.memory
        if use.blocks > self.ram_blocks or use.large_blocks > self.large_ram_blocks:
            large = (f" and {use.large_blocks} of {self.large_ram_blocks} {use.large}"
                     if self.large_ram_blocks else "")
            raise ConfigError(
                f"buffers {m.act_kib}+{m.weight_kib}+{m.out_kib} KiB, {m.param_words} parameter "
                f"and {m.acc_words} accumulator words need {use.blocks:g} {use.block} blocks "
                f"(of {self.ram_blocks}){large} on {self.id}")
        if use.luts > self.luts.value:
            width = self.axi_width if data_width is None else data_width
            raise ConfigError(f"array {a.rows}x{a.cols} needs about {use.luts:,} LUTs "
                              f"({width}-bit AXI) but {self.id} has {int(self.luts.value):,}")


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


def _axi_bits(board_id: str, raw: object) -> Sourced:
    """boards.yaml's ``axi_bits``: ``{value, source}`` with a width ``hwcnn_soc`` supports."""
    if isinstance(raw, dict) and set(raw) == {"value", "source"}:
        v = raw["value"]
        if isinstance(v, bool) or not isinstance(v, int) or v not in AXI_WIDTHS:
            raise ConfigError(f"boards.yaml: board {board_id!r}: {_axi_refusal(v)}")
    return _sourced(board_id, "axi_bits", raw)


def _axi_refusal(value: object) -> str:
    return (f"axi_bits must be {', '.join(map(str, AXI_WIDTHS[:-1]))} or {AXI_WIDTHS[-1]} "
            f"(the AXI data widths of hwcnn_soc), not {value!r}")


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
        axi_bits=_axi_bits(bid, raw.get("axi_bits")),
        family=str(raw.get("family", "")),
    )


def _board_data() -> dict:
    text = resources.files("hwcnn.boards").joinpath("data/boards.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def all_boards() -> tuple[Board, ...]:
    """Every board in ``hwcnn/boards/data/boards.yaml``, in file order (not the
    ``unsupported`` ones: boards the complete accelerator does not fit at any array size)."""
    data = _board_data()
    boards = tuple(_parse_board(b) for b in data["boards"])
    seen: set[str] = set()
    for b in boards:
        key = normalize_id(b.id)
        if key in seen:
            raise ConfigError(f"boards.yaml: duplicate board id {b.id!r}")
        seen.add(key)
    return boards


@cache
def unsupported_boards() -> tuple[tuple[Board, str], ...]:
    """``(board, reason)`` of the profiles in boards.yaml's ``unsupported`` list: real boards
    on which not even a 1x1 ``hwcnn_soc`` fits (the reason gives the measured figures)."""
    return tuple((_parse_board(b), str(b["reason"])) for b in _board_data().get("unsupported", ()))


def board_profile(name: str) -> Board:
    """The profile of a board, supported or in boards.yaml's ``unsupported`` list (for the
    resource model and its measurements; everything else uses :func:`get_board`)."""
    key = normalize_id(name)
    for b in (*all_boards(), *(u for u, _ in unsupported_boards())):
        if normalize_id(b.id) == key:
            return b
    return get_board(name)


def get_board(name: str) -> Board:
    """Look a board up by id (case/dash/underscore-insensitive); ConfigError if unknown or
    unsupported (with the reason)."""
    key = normalize_id(name)
    for b in all_boards():
        if normalize_id(b.id) == key:
            return b
    for b, reason in unsupported_boards():
        if normalize_id(b.id) == key:
            raise ConfigError(f"board {b.id} cannot hold the complete accelerator (hwcnn_soc): "
                              f"{reason}")
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


def axi_width_of(board: Board | None, bits: int | None = None) -> int:
    """The AXI data width of ``hwcnn_soc`` a run or a build assumes: ``bits`` when given
    (an explicit option), else the board's :attr:`Board.axi_width`, else the RTL's default
    (:data:`hwcnn.boards.resources.SOC_DATA_WIDTH`, 64)."""
    if bits is not None:
        return bits
    return board.axi_width if board is not None else res.SOC_DATA_WIDTH
