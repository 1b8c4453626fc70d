"""Accelerator top level (Verilog module ``hwcnn_top``): the buffers and the tile engine
(:class:`hwcnn.hw.soc.engine.TileEngine`: sequencer, array, skews, requantizers, vector unit),
with the host interface of rtl/README.md section 2.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import HardwareConfig
from .buffers import Buffers
from .params import BufferDepths, addr_bits, param_lane_bits
from .signatures import DescriptorSignature, ReadSignature, WriteSignature
from .soc.engine import TileEngine, connect_buffers


class Accelerator(wiring.Component):
    """The whole accelerator for one :class:`HardwareConfig` and :class:`BufferDepths`.

    Parameters
    ----------
    config : HardwareConfig
    depths : BufferDepths

    Members
    -------
    act_wr, wgt_wr, par_wr, out_wr : In(WriteSignature)  host buffer writes
    out_rd : In(ReadSignature)                           host output-buffer reads (latency 1)
    start : In(1)
    desc : In(DescriptorSignature)                       tile descriptor
    busy, done, error : Out(1)
    """

    def __init__(self, config: HardwareConfig, depths: BufferDepths) -> None:
        arr = config.array
        self._config, self._depths = config, depths
        super().__init__({
            "act_wr": In(WriteSignature(addr_bits(depths.act), arr.rows * arr.act_bits)),
            "wgt_wr": In(WriteSignature(addr_bits(depths.weight), arr.cols * arr.weight_bits)),
            "par_wr": In(WriteSignature(addr_bits(depths.param),
                                        arr.cols * param_lane_bits(config))),
            "out_wr": In(WriteSignature(addr_bits(depths.out), arr.cols * arr.act_bits)),
            "out_rd": In(ReadSignature(addr_bits(depths.out), arr.cols * arr.act_bits)),
            "start": In(1),
            "desc": In(DescriptorSignature(config, depths)),
            "busy": Out(1), "done": Out(1), "error": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.buffers = buf = Buffers(self._config, self._depths)
        m.submodules.engine = eng = TileEngine(self._config, self._depths)

        # Host side.
        for name in ("act_wr", "wgt_wr", "par_wr", "out_wr", "out_rd"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(buf, name))
        wiring.connect(m, wiring.flipped(self.desc), eng.desc)
        m.d.comb += [eng.start.eq(self.start), self.busy.eq(eng.busy),
                     self.done.eq(eng.done), self.error.eq(eng.error)]

        # Engine <-> buffers; the engine owns the output memory while a tile runs.
        connect_buffers(m, eng, buf, eng.busy)
        return m
