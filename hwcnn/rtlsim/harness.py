"""The Verilog top of a whole-network simulation: the accelerator behind the DRAM timing shim.

``hwcnn_soc_tb`` holds the complete accelerator (``hwcnn.hw.soc.top.Soc``, Verilog module
``hwcnn_soc``; MACHINE.md) with its AXI4-Lite slave on the top-level port ``s_axil__*`` (the
testbench's cocotbext-axi ``AxiLiteMaster``) and its AXI4 master ``m_axi`` through
:class:`hwcnn.hw.axi.dramshim.DramShim` (the board's :class:`~hwcnn.arch.dma.DramTiming`:
latency and bandwidth) to the top-level port ``m_axi__*`` (cocotbext-axi's ``AxiRam``). Nothing
else but ``clk``/``rst``.

Any component with the Soc's two members (``s_axil: In(AxiLiteSignature(12))``, ``m_axi:
Out(AxiSignature(32, W))``) can be wrapped (:func:`harness_verilog` takes a factory), which is
how the harness itself is tested before and besides the real machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.dma import DramTiming
from ..hw.axi.bus import AxiLiteSignature, AxiSignature
from ..hw.axi.dramshim import DramShim
from ..hw.soc.ports import AXI_ADDR_BITS, SocParams

#: Verilog name of the harness top.
TOP = "hwcnn_soc_tb"
#: AXI4-Lite address bits of the control block (MACHINE.md).
CSR_ADDR_BITS = 12


def default_soc(params: SocParams) -> wiring.Component:
    """``hwcnn.hw.soc.top.Soc(params)`` (imported here: the machine is built on demand)."""
    from ..hw.soc.top import Soc  # type: ignore[import-not-found,unused-ignore]

    soc: wiring.Component = Soc(params)
    return soc


class SocHarness(wiring.Component):
    """``s_axil`` -> the machine -> DramShim -> ``m_axi``."""

    def __init__(self, soc: wiring.Component, timing: DramTiming, data_width: int) -> None:
        self.soc, self.timing, self.data_width = soc, timing, data_width
        super().__init__({"s_axil": In(AxiLiteSignature(CSR_ADDR_BITS)),
                          "m_axi": Out(AxiSignature(AXI_ADDR_BITS, data_width))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.soc = soc = self.soc
        shim = m.submodules.shim = DramShim(self.timing, addr_width=AXI_ADDR_BITS,
                                            data_width=self.data_width)
        wiring.connect(m, wiring.flipped(self.s_axil), soc.s_axil)
        wiring.connect(m, soc.m_axi, shim.s_axi)
        wiring.connect(m, shim.m_axi, wiring.flipped(self.m_axi))
        return m


def harness_verilog(params: SocParams, timing: DramTiming,
                    soc: Callable[[SocParams], wiring.Component] | None = None) -> str:
    """The Verilog text of ``hwcnn_soc_tb`` (reproducible: no source locations); ``soc``
    builds the machine (default :func:`default_soc`)."""
    top = SocHarness((soc or default_soc)(params), timing, params.data_width)
    text: str = verilog.convert(top, name=TOP, emit_src=False)
    return text


def write_harness(out_dir: Path, verilog_text: str) -> Path:
    """Write ``hwcnn_soc_tb.v`` into ``out_dir`` (unchanged files are not touched)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{TOP}.v"
    if not path.is_file() or path.read_text(encoding="utf-8") != verilog_text:
        path.write_text(verilog_text, encoding="utf-8")
    return path


def build_key(verilog_text: str) -> str:
    """A digest of ``verilog_text`` (:func:`hwcnn.rtlsim.session.build_model` appends the
    toolchain versions before hashing and names the simulator in the directory)."""
    return hashlib.sha256(verilog_text.encode()).hexdigest()[:16]


__all__ = ["TOP", "SocHarness", "build_key", "default_soc", "harness_verilog", "write_harness"]
