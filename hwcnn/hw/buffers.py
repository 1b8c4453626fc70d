"""On-chip buffers: activation, weight, parameter, output and accumulator memories."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
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
        self._pair = arr.drain_rows == 2
        if self._pair:
            members["eng_out_wr2"] = In(WriteSignature(*widths["out"]))
            members["acc_rd2"] = In(ReadSignature(*widths["acc"]))
            members["acc_wr2"] = In(WriteSignature(*widths["acc"]))
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self._depths
        depth = {"act": d.act, "wgt": d.weight, "par": d.param, "out": d.out, "acc": d.acc}
        if self._pair:
            self._banked(m, depth)
            names: tuple[str, ...] = ("act", "wgt", "par")
        else:
            names = ("act", "wgt", "par", "out", "acc")
        for name in names:
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

    def _banked(self, m: Module, depth: dict[str, int]) -> None:
        """``drain_rows = 2``: the output and accumulator memories as an even and an odd bank
        (word ``a`` is word ``a >> 1`` of bank ``a & 1``), so the drain's second write (and the
        accumulator memory's second read), always at the address after the first, goes to the
        other bank in the same cycle; every other access sees one memory."""
        lanes = self._lane_writes

        def banks(name: str) -> list[Memory]:
            out = []
            for b in range(2):
                mem = Memory(shape=self._widths[name][1], depth=max(2, -(-depth[name] // 2)),
                             init=[])
                m.submodules[f"{name}_mem{b}"] = mem
                out.append(mem)
            return out

        def writes(mems: list[Memory], gran: int | None, first: tuple[Value, Value, Value],
                   second: tuple[Value, Value, Value]) -> None:
            (en_a, addr_a, data_a), (en_b, addr_b, data_b) = first, second
            for b, mem in enumerate(mems):
                wp = mem.write_port(granularity=gran)
                hit_a = en_a.any() & (addr_a[0] == b)
                hit_b = en_b & (addr_b[0] == b)
                wide_b = en_b.replicate(len(wp.en)) if gran else en_b
                m.d.comb += [
                    wp.en.eq(Mux(hit_a, en_a, Mux(hit_b, wide_b, 0))),
                    wp.addr.eq(Mux(hit_a, addr_a[1:], addr_b[1:])),
                    wp.data.eq(Mux(hit_a, data_a, data_b)),
                ]

        def read(mems: list[Memory], port: object) -> None:
            """A read port of its own in each bank; the data of the bank of last cycle's
            address."""
            lsb = Signal(name=f"{port.addr.name}_lsb")  # type: ignore[attr-defined]
            m.d.sync += lsb.eq(port.addr[0])  # type: ignore[attr-defined]
            rps = [mem.read_port() for mem in mems]
            for rp in rps:
                m.d.comb += rp.addr.eq(port.addr[1:])  # type: ignore[attr-defined]
            m.d.comb += port.data.eq(Mux(lsb, rps[1].data, rps[0].data))  # type: ignore[attr-defined]

        # Output memory: the shared write port (engine while it owns the memory, else out_wr)
        # and the engine's pair write; reads as in the single memory.
        out = banks("out")
        own = self.engine_owns_out
        gran = self._lanes["out"][2] if lanes else None
        eng_en = self.eng_out_wr.en.replicate(len(self.out_wr.en)) if lanes else self.eng_out_wr.en
        writes(out, gran,
               (Mux(own, eng_en, self.out_wr.en), Mux(own, self.eng_out_wr.addr, self.out_wr.addr),
                Mux(own, self.eng_out_wr.data, self.out_wr.data)),
               (self.eng_out_wr2.en & own, self.eng_out_wr2.addr, self.eng_out_wr2.data))
        if self._store_port:
            read(out, self.eng_out_rd)
            read(out, self.out_rd)
        else:
            shared = Signal.like(self.out_rd.addr, name="out_rd_shared_addr")
            m.d.comb += shared.eq(Mux(own, self.eng_out_rd.addr, self.out_rd.addr))
            lsb = Signal(name="out_rd_lsb")
            m.d.sync += lsb.eq(shared[0])
            rps = [mem.read_port() for mem in out]
            for rp in rps:
                m.d.comb += rp.addr.eq(shared[1:])
            data = Mux(lsb, rps[1].data, rps[0].data)
            m.d.comb += [self.eng_out_rd.data.eq(data), self.out_rd.data.eq(data)]

        # Accumulator memory: the pair's two reads (acc_rd2 at acc_rd's address + 1) share the
        # banks' one read port each; its two writes likewise.
        acc = banks("acc")
        writes(acc, None, (self.acc_wr.en, self.acc_wr.addr, self.acc_wr.data),
               (self.acc_wr2.en, self.acc_wr2.addr, self.acc_wr2.data))
        lsb = Signal(name="acc_rd_lsb")
        m.d.sync += lsb.eq(self.acc_rd.addr[0])
        rps = [mem.read_port() for mem in acc]
        for b, rp in enumerate(rps):
            mine = self.acc_rd.addr[0] == b
            m.d.comb += rp.addr.eq(Mux(mine, self.acc_rd.addr[1:], self.acc_rd2.addr[1:]))
        m.d.comb += [self.acc_rd.data.eq(Mux(lsb, rps[1].data, rps[0].data)),
                     self.acc_rd2.data.eq(Mux(lsb, rps[0].data, rps[1].data))]
