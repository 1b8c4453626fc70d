"""AXI4 and AXI4-Lite bus signatures, written from the MASTER side (HARDWARE.md 8.4-8.6).

A slave declares the bus with ``In(...)``, which flips every member. Amaranth joins member paths
with ``__``, so member ``awaddr`` of a port ``m_axi`` is the Verilog port ``m_axi__awaddr``
(cocotbext-axi: ``AxiBus.from_prefix(dut, "m_axi", bus_separator="__")``). Each AXI channel is a
valid/ready stream; the members are flat so that the Verilog names are the AXI names.
"""

from __future__ import annotations

import enum

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: AxBURST code of an incrementing burst (the only kind the DMA issues).
BURST_INCR = 1
#: Longest INCR burst in beats and the boundary no burst may cross (AXI4).
MAX_BURST_BEATS = 256
PAGE_BYTES = 4096
#: Data widths the DMA supports.
DATA_WIDTHS = (64, 128, 256)


class Resp(enum.IntEnum):
    """AXI xRESP codes."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class AxiSignature(wiring.Signature):
    """An AXI4 master port: AW, W, B, AR, R with IDs, INCR bursts, byte strobes.

    Parameters
    ----------
    addr_width : int
        AxADDR bits (32 or 64 typical).
    data_width : int
        xDATA bits (64, 128 or 256 for the DMA).
    id_width : int
        AxID / xID bits (cocotbext-axi needs them even for a single-ID master).
    """

    def __init__(self, addr_width: int, data_width: int, id_width: int = 1) -> None:
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        strb = data_width // 8
        members: dict[str, wiring.Member] = {}
        for ch in ("aw", "ar"):
            members |= {f"{ch}id": Out(id_width), f"{ch}addr": Out(addr_width),
                        f"{ch}len": Out(8), f"{ch}size": Out(3), f"{ch}burst": Out(2),
                        f"{ch}valid": Out(1), f"{ch}ready": In(1)}
        members |= {"wdata": Out(data_width), "wstrb": Out(strb), "wlast": Out(1),
                    "wvalid": Out(1), "wready": In(1),
                    "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
                    "rid": In(id_width), "rdata": In(data_width), "rresp": In(2),
                    "rlast": In(1), "rvalid": In(1), "rready": Out(1)}
        super().__init__(members)

    def __eq__(self, other: object) -> bool:
        return (type(other) is AxiSignature and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.id_width == self.id_width)

    def __hash__(self) -> int:
        return hash((AxiSignature, self.addr_width, self.data_width, self.id_width))

    def __repr__(self) -> str:
        return f"AxiSignature({self.addr_width}, {self.data_width}, {self.id_width})"


class AxiLiteSignature(wiring.Signature):
    """An AXI4-Lite master port (no IDs, no bursts), ``data_width`` 32."""

    def __init__(self, addr_width: int, data_width: int = 32) -> None:
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })

    def __eq__(self, other: object) -> bool:
        return (type(other) is AxiLiteSignature and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self) -> int:
        return hash((AxiLiteSignature, self.addr_width, self.data_width))

    def __repr__(self) -> str:
        return f"AxiLiteSignature({self.addr_width}, {self.data_width})"
