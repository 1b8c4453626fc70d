"""Interfaces shared by the units of the complete accelerator (``hwcnn.hw.soc``).

Every signature is written from the INITIATOR's side (the dispatcher that hands a unit its
instructions, the unit that drives a DMA client port or a buffer write port); the serving side
declares it with ``In(...)``.

* :class:`UnitSignature`: a dispatcher -> unit instruction stream (the raw 256-bit
  instruction; the unit views it through :func:`hwcnn.isa.layout.struct_layout`) and the
  unit's status stream back: exactly one status per accepted instruction, offered once every
  effect of the instruction is complete (buffer words written; for a STORE every DRAM write
  answered), payload an :class:`hwcnn.arch.dma.ErrorCode` (0 = done without error).
* :class:`DmaReadClientSignature` / :class:`DmaWriteClientSignature`: a client port of
  :class:`hwcnn.hw.axi.dma.Dma` (members ``cmd``/``status``/``beats`` and
  ``cmd``/``status``/``rd_addr``/``rd_data``, the Dma's ``<name>_*`` members flipped).
* :class:`LaneWriteSignature`: a buffer write with one enable per lane
  (``amaranth.lib.memory`` write port with ``granularity`` = lane bits).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.config import HardwareConfig
from ...arch.soc import DMA_OUTSTANDING
from ...isa.fields import ADDR_BITS, INSN_BITS
from ...isa.target import Target
from ..axi.desc import beat_layout, desc_layout
from ..params import BufferDepths

#: AXI address bits of the DMA (DRAM byte addresses).
AXI_ADDR_BITS = 32
#: Buffer word address bits on the DMA side (the ISA's 20-bit buffer addresses).
DMA_BUF_ADDR_BITS = ADDR_BITS
#: Status payload bits (an ErrorCode).
STATUS_BITS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class SocParams:
    """Everything the units are built from: the array and its buffer word depths, the AXI
    data width (64, 128 or 256 bits) and the bursts in flight per DMA engine."""

    config: HardwareConfig
    depths: BufferDepths
    data_width: int = 64
    outstanding: int = DMA_OUTSTANDING

    @property
    def bus_bytes(self) -> int:
        return self.data_width // 8

    @property
    def target(self) -> Target:
        """The compiler's view of the same machine (word bytes, lanes, lane bits)."""
        d = self.depths
        return Target(array=self.config.array, act=d.act, weight=d.weight, param=d.param,
                      out=d.out, acc=d.acc)


class UnitSignature(wiring.Signature):
    """Dispatcher -> unit: ``insn`` (256-bit instruction stream) and ``status`` (back)."""

    def __init__(self) -> None:
        super().__init__({"insn": Out(stream.Signature(INSN_BITS)),
                          "status": In(stream.Signature(STATUS_BITS))})


class DmaReadClientSignature(wiring.Signature):
    """Read client -> DMA: descriptors out, status and beats back."""

    def __init__(self, data_width: int) -> None:
        super().__init__({
            "cmd": Out(stream.Signature(desc_layout(AXI_ADDR_BITS, DMA_BUF_ADDR_BITS))),
            "status": In(stream.Signature(STATUS_BITS)),
            "beats": In(stream.Signature(beat_layout(DMA_BUF_ADDR_BITS, data_width))),
        })


class DmaWriteClientSignature(wiring.Signature):
    """Write client -> DMA: descriptors out, status back; the DMA asks for beat data by
    buffer word address (``rd_addr``, in order) and the client answers on ``rd_data``."""

    def __init__(self, data_width: int) -> None:
        super().__init__({
            "cmd": Out(stream.Signature(desc_layout(AXI_ADDR_BITS, DMA_BUF_ADDR_BITS))),
            "status": In(stream.Signature(STATUS_BITS)),
            "rd_addr": In(stream.Signature(DMA_BUF_ADDR_BITS)),
            "rd_data": Out(stream.Signature(data_width)),
        })


class LaneWriteSignature(wiring.Signature):
    """One synchronous buffer write: ``en`` (one bit per lane), ``addr``, ``data``."""

    def __init__(self, addr_width: int, lanes: int, lane_bits: int) -> None:
        self.addr_width, self.lanes, self.lane_bits = addr_width, lanes, lane_bits
        super().__init__({"en": Out(lanes), "addr": Out(addr_width),
                          "data": Out(lanes * lane_bits)})

    def __eq__(self, other: object) -> bool:
        return (type(other) is LaneWriteSignature and other.addr_width == self.addr_width
                and other.lanes == self.lanes and other.lane_bits == self.lane_bits)

    def __hash__(self) -> int:
        return hash((LaneWriteSignature, self.addr_width, self.lanes, self.lane_bits))

    def __repr__(self) -> str:
        return f"LaneWriteSignature({self.addr_width}, {self.lanes}, {self.lane_bits})"
