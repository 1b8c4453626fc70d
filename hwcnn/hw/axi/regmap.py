"""The control/status register map of the AXI4-Lite slave (rtl/README.md section 7); no Amaranth.

Every register is 32 bits at a 4-byte stride; 64-bit values are two words, low word first.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``ID`` register value: ASCII "HWCN".
ID_VALUE = 0x4857434E
#: ``VERSION`` register: major << 16 | minor of this register map (1.1: CYCLES counts the
#: busy cycles since the last start instead of running from reset; error code 7 NO_END).
VERSION_VALUE = (1 << 16) | 1

CTRL_START = 1 << 0
STATUS_BUSY, STATUS_DONE, STATUS_ERROR = 1 << 0, 1 << 1, 1 << 2
#: STATUS bits [15:8] hold the error code.
STATUS_CODE_SHIFT = 8
#: The units whose busy cycles hwcnn_soc counts in BUSY0, BUSY1, ...
UNITS = ("fetch", "load", "compute", "store")


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    """One 32-bit register: byte ``offset``, ``name``, writable or read-only."""

    offset: int
    name: str
    writable: bool
    doc: str


def register_map(n_bases: int = 4, n_units: int = 4) -> tuple[Register, ...]:
    """Every register of a CSR block with ``n_bases`` tensor bases and ``n_units`` busy counters."""
    regs = [Register(offset=0x00, name="ID", writable=False, doc=f"{ID_VALUE:#010x} ('HWCN')"),
            Register(offset=0x04, name="VERSION", writable=False, doc="major << 16 | minor"),
            Register(offset=0x08, name="CTRL", writable=True,
                     doc="write bit 0 = 1: start (ignored while busy); reads 0"),
            Register(offset=0x0C, name="STATUS", writable=False,
                     doc="bit 0 busy, bit 1 done, bit 2 error, bits 15:8 error code"),
            Register(offset=0x10, name="PROG_BASE_LO", writable=True,
                     doc="byte address of instruction 0 (a multiple of 32)"),
            Register(offset=0x14, name="PROG_BASE_HI", writable=True, doc=""),
            Register(offset=0x18, name="PROG_LEN", writable=True,
                     doc="number of instructions (32 bytes each)"),
            Register(offset=0x20, name="WIN_BASE_LO", writable=True, doc="DMA window base"),
            Register(offset=0x24, name="WIN_BASE_HI", writable=True, doc=""),
            Register(offset=0x28, name="WIN_SIZE_LO", writable=True, doc="DMA window size (bytes)"),
            Register(offset=0x2C, name="WIN_SIZE_HI", writable=True, doc=""),
            Register(offset=0x30, name="CYCLES_LO", writable=False,
                     doc="cycles busy since the last start (after done: start-to-done "
                         "cycles); reading LO latches HI"),
            Register(offset=0x34, name="CYCLES_HI", writable=False, doc="latched by CYCLES_LO")]
    for i in range(n_bases):
        doc = ("DRAM base: added to every instruction's dram_base offset" if i == 0
               else f"tensor base address {i} (not used by hwcnn_soc)")
        regs += [Register(offset=0x40 + 8 * i, name=f"BASE{i}_LO", writable=True, doc=doc),
                 Register(offset=0x44 + 8 * i, name=f"BASE{i}_HI", writable=True, doc="")]
    unit0 = 0x40 + 8 * n_bases
    for i in range(n_units):
        regs.append(Register(offset=unit0 + 4 * i, name=f"BUSY{i}", writable=False,
                             doc=f"cycles unit {i} was busy since the last start"
                                 + (f" ({UNITS[i]})" if i < len(UNITS) else "")))
    return tuple(regs)


def offsets(n_bases: int = 4, n_units: int = 4) -> dict[str, int]:
    """Register name -> byte offset."""
    return {r.name: r.offset for r in register_map(n_bases, n_units)}
