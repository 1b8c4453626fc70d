"""Shared interface signatures of the accelerator (their paths become Verilog port names).

All signatures are written from the point of view of the INITIATOR (the host, or the tile
sequencer when it drives a buffer); a component that serves the interface declares it with
``In(...)``, which flips every member. Amaranth joins signature paths with ``__``, so the
``addr`` member of a port ``act_wr`` is the Verilog port ``act_wr__addr``.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import HardwareConfig
from .params import DIM_BITS, M0_BITS, SHIFT_BITS, WIN_BITS, BufferDepths, addr_bits


class WriteSignature(wiring.Signature):
    """One synchronous memory write: ``en``, ``addr`` and ``data`` driven by the initiator.

    Parameters
    ----------
    addr_width, data_width : int
    """

    def __init__(self, addr_width: int, data_width: int) -> None:
        self._addr_width, self._data_width = addr_width, data_width
        super().__init__({"en": Out(1), "addr": Out(addr_width), "data": Out(data_width)})

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other: object) -> bool:
        return (type(other) is WriteSignature and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self) -> int:
        return hash((WriteSignature, self._addr_width, self._data_width))

    def __repr__(self) -> str:
        return f"WriteSignature({self._addr_width}, {self._data_width})"


class ReadSignature(wiring.Signature):
    """One synchronous memory read: the initiator drives ``addr``; ``data`` of the address of
    the previous cycle comes back (read latency 1).
    """

    def __init__(self, addr_width: int, data_width: int) -> None:
        self._addr_width, self._data_width = addr_width, data_width
        super().__init__({"addr": Out(addr_width), "data": In(data_width)})

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other: object) -> bool:
        return (type(other) is ReadSignature and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self) -> int:
        return hash((ReadSignature, self._addr_width, self._data_width))

    def __repr__(self) -> str:
        return f"ReadSignature({self._addr_width}, {self._data_width})"


def descriptor_members(config: HardwareConfig, depths: BufferDepths) -> dict[str, wiring.Member]:
    """The tile descriptor fields (rtl/README.md section 4), as initiator outputs."""
    a = config.array.act_bits
    return {
        "kind": Out(1),
        "m": Out(DIM_BITS), "n": Out(DIM_BITS), "k": Out(DIM_BITS),
        "a_base": Out(addr_bits(depths.act)),
        "b_base": Out(addr_bits(depths.weight)),
        "p_base": Out(addr_bits(depths.param)),
        "c_base": Out(addr_bits(depths.out)),
        "pin_base": Out(addr_bits(depths.out)),
        "m0": Out(unsigned(M0_BITS)),
        "shift": Out(unsigned(SHIFT_BITS)),
        "rounding": Out(2),
        "wrap": Out(1),
        "per_channel": Out(1),
        "bias_en": Out(1),
        "acc_in": Out(1), "acc_out": Out(1),
        "lo": Out(signed(a)), "hi": Out(signed(a)),
        "pool_op": Out(2),
        "in_h": Out(DIM_BITS), "in_w": Out(DIM_BITS),
        "out_h": Out(DIM_BITS), "out_w": Out(DIM_BITS),
        "win_h": Out(WIN_BITS), "win_w": Out(WIN_BITS),
        "stride_h": Out(WIN_BITS), "stride_w": Out(WIN_BITS),
        "pad_top": Out(WIN_BITS), "pad_left": Out(WIN_BITS),
        "pad_bottom": Out(WIN_BITS), "pad_right": Out(WIN_BITS),
        "count_pad": Out(1),
    }


class DescriptorSignature(wiring.Signature):
    """The tile descriptor: every field of :func:`descriptor_members` driven by the host."""

    def __init__(self, config: HardwareConfig, depths: BufferDepths) -> None:
        self._key = (config.array, depths)
        super().__init__(descriptor_members(config, depths))

    def __eq__(self, other: object) -> bool:
        return type(other) is DescriptorSignature and other._key == self._key

    def __hash__(self) -> int:
        return hash((DescriptorSignature, self._key))

    def __repr__(self) -> str:
        return f"DescriptorSignature({self._key[0]!r}, {self._key[1]!r})"
