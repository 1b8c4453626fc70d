"""The machine a program is compiled for: array, buffer depths, DRAM window (plain numbers).

Built by the compiler from a :class:`~hwcnn.arch.config.HardwareConfig` and its buffer word
depths; the program checks, the disassembler and the interpreter read word widths and lane
counts from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch.config import PARAM_EXTRA_BITS, ArrayConfig
from .fields import DRAM_BITS, Buffer

#: Default DRAM window: everything a 32-bit ``dram_base`` reaches.
DEFAULT_DRAM_BYTES = 1 << DRAM_BITS


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Array geometry, word depths of the five buffers, and the DRAM window in bytes."""

    array: ArrayConfig
    act: int
    weight: int
    param: int
    out: int
    acc: int
    dram_bytes: int = DEFAULT_DRAM_BYTES

    def depth(self, buf: Buffer) -> int:
        return {Buffer.ACT: self.act, Buffer.WGT: self.weight, Buffer.PARAM: self.param,
                Buffer.OUT: self.out}[buf]

    def lanes(self, buf: Buffer) -> int:
        return self.array.rows if buf is Buffer.ACT else self.array.cols

    def lane_bits(self, buf: Buffer) -> int:
        a = self.array
        return {Buffer.ACT: a.act_bits, Buffer.WGT: a.weight_bits,
                Buffer.PARAM: a.acc_bits + PARAM_EXTRA_BITS, Buffer.OUT: a.act_bits}[buf]

    def word_bytes(self, buf: Buffer) -> int:
        """Bytes one buffer word takes in DRAM (its lanes packed, padded to a whole byte)."""
        return -(-self.lanes(buf) * self.lane_bits(buf) // 8)

    @property
    def elem_bytes(self) -> int:
        """Bytes of one tensor element in DRAM (little-endian two's complement)."""
        return -(-self.array.act_bits // 8)
