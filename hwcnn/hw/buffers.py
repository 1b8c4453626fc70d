"""On-chip buffers: activation, weight, parameter, output and accumulator memories."""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..arch.config import HardwareConfig
from .params import BufferDepths, addr_bits, param_lane_bits
from .signatures import ReadSignature, WriteSignature
from .soc.ports import LaneWriteSignature


class Buffers(wiring.Component):
    """The accelerator's memories (``amaranth.lib.memory.Memory``, synchronous read ports, so
    they infer as block RAM); word layouts are in rtl/README.md section 3.

    The act, weight and parameter memories have one write port (the host's, or a loader's)
    and one read port (the engine's). The output memory's write port is shared: while
    ``engine_owns_out`` the engine drives it, otherwise ``out_wr`` does. Its read port is
    shared the same way (``hwcnn_top``: ``out_rd`` reads only while the engine is idle),
    unless ``store_port``: then ``out_rd`` is a second read port of its own, usable while a
    tile runs (the store unit's). The accumulator memory (int32 partial sums: WS K-folds and
    K-split tiles of both dataflows, rtl/README.md section 3) belongs to the engine.

    Parameters
    ----------
    config : HardwareConfig
    depths : BufferDepths
    lane_writes : bool
        ``act_wr`` .. ``out_wr`` are :class:`~hwcnn.hw.soc.ports.LaneWriteSignature` ports
        (one enable per lane; the memories' write ports have lane granularity), else
        :class:`~hwcnn.hw.signatures.WriteSignature` (one enable per word).
    store_port : bool
        ``out_rd`` is a read port of its own (else shared with ``eng_out_rd``).

    Members
    -------
    act_wr, wgt_wr, par_wr, out_wr : In(WriteSignature | LaneWriteSignature)   host writes
    out_rd : In(ReadSignature)                            host reads of the output memory
    act_rd, wgt_rd, par_rd, eng_out_rd : In(ReadSignature)  engine reads
    eng_out_wr : In(WriteSignature)                       engine writes of the output memory
    acc_rd : In(ReadSignature), acc_wr : In(WriteSignature)  engine accumulator memory
    engine_owns_out : In(1)
    """

    def __init__(self, config: HardwareConfig, depths: BufferDepths, *,
                 lane_writes: bool = False, store_port: bool = False) -> None:
        arr = config.array
        self._config, self._depths = config, depths
        self._lane_writes, self._store_port = lane_writes, store_port
        # name -> (address bits, lanes, lane bits)
        lanes = {
            "act": (addr_bits(depths.act), arr.rows, arr.act_bits),
            "wgt": (addr_bits(depths.weight), arr.cols, arr.weight_bits),
            "par": (addr_bits(depths.param), arr.cols, param_lane_bits(config)),
            "out": (addr_bits(depths.out), arr.cols, arr.act_bits),
            "acc": (addr_bits(depths.acc), arr.cols, arr.acc_bits),
        }
        self._lanes = lanes
        widths = {k: (aw, n * bits) for k, (aw, n, bits) in lanes.items()}
        self._widths = widths
        members = {}
        for name in ("act", "wgt", "par", "out"):
            members[f"{name}_wr"] = In(LaneWriteSignature(*lanes[name]) if lane_writes
                                       else WriteSignature(*widths[name]))
        members["out_rd"] = In(ReadSignature(*widths["out"]))
        for name in ("act", "wgt", "par"):
            members[f"{name}_rd"] = In(ReadSignature(*widths[name]))
        members["eng_out_rd"] = In(ReadSignature(*widths["out"]))
        members["eng_out_wr"] = In(WriteSignature(*widths["out"]))
        members["acc_rd"] = In(ReadSignature(*widths["acc"]))
        members["acc_wr"] = In(WriteSignature(*widths["acc"]))
        members["engine_owns_out"] = In(1)
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self._depths
        depth = {"act": d.act, "wgt": d.weight, "par": d.param, "out": d.out, "acc": d.acc}
        for name in ("act", "wgt", "par", "out", "acc"):
            # A 1-word Memory has a 0-bit address, which Verilog cannot declare cleanly.
            mem = Memory(shape=self._widths[name][1], depth=max(2, depth[name]), init=[])
            m.submodules[f"{name}_mem"] = mem
            lanes = self._lane_writes and name != "acc"
            wp = mem.write_port(granularity=self._lanes[name][2] if lanes else None)
            rp = mem.read_port()
            if name == "out":
                own = self.engine_owns_out
                eng_en = self.eng_out_wr.en.replicate(len(wp.en)) if lanes else self.eng_out_wr.en
                m.d.comb += [
                    wp.en.eq(Mux(own, eng_en, self.out_wr.en)),
                    wp.addr.eq(Mux(own, self.eng_out_wr.addr, self.out_wr.addr)),
                    wp.data.eq(Mux(own, self.eng_out_wr.data, self.out_wr.data)),
                    self.eng_out_rd.data.eq(rp.data),
                ]
                if self._store_port:
                    sp = mem.read_port()
                    m.d.comb += [rp.addr.eq(self.eng_out_rd.addr),
                                 sp.addr.eq(self.out_rd.addr), self.out_rd.data.eq(sp.data)]
                else:
                    m.d.comb += [rp.addr.eq(Mux(own, self.eng_out_rd.addr, self.out_rd.addr)),
                                 self.out_rd.data.eq(rp.data)]
                continue
            w, r = getattr(self, f"{name}_wr"), getattr(self, f"{name}_rd")
            m.d.comb += [wp.en.eq(w.en), wp.addr.eq(w.addr), wp.data.eq(w.data),
                         rp.addr.eq(r.addr), r.data.eq(rp.data)]
        return m
