"""The shared AXI4 DMA master: one read engine and one write engine behind per-client arbiters.

Clients (default: ``fetch`` and ``load`` read, ``store`` writes) each have a descriptor stream
``<name>_cmd`` and a status stream ``<name>_status`` (8-bit error code, 0 = done without error);
a read client receives its beats on ``<name>_beats``, a write client serves buffer reads on
``<name>_rd_addr`` / ``<name>_rd_data``. Reads and writes run concurrently (AXI's read and write
channels are independent).

Arbitration (per engine), round robin (client 0 first after reset). When the engine is idle
(no transfer in it: ``idle`` of the engine), the first client with a pending descriptor,
counting from the one after the last granted client, gets the engine in the same cycle (no
arbitration cycle) and becomes its owner. While the engine holds a transfer, only the owner's
descriptor is offered to it (the walker accepts it once the previous transfer has issued its
last burst: chained transfers, ``walker.py``), and only in a cycle in which no other client
offers one; so under contention the owner's transfers drain, the engine becomes idle and round
robin moves on. Statuses and beats (write: buffer reads) go to the owner.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bus import AxiSignature
from .desc import beat_layout, desc_layout
from .engines import DmaReadEngine, DmaWriteEngine


class Dma(wiring.Component):
    """AXI4 master ``m_axi`` shared by read and write clients.

    Parameters
    ----------
    addr_width, data_width : int
        AXI address and data bits (``data_width`` 64, 128 or 256).
    buf_addr_width : int
        Buffer word address bits.
    outstanding : int
        Bursts in flight per engine (reads: AR not yet answered by RLAST; writes: AW without B).
    read_clients, write_clients : sequence of str
    """

    def __init__(self, *, addr_width: int = 32, data_width: int = 64, buf_addr_width: int = 12,
                 outstanding: int = 4, read_clients: Sequence[str] = ("fetch", "load"),
                 write_clients: Sequence[str] = ("store",)) -> None:
        if data_width not in (64, 128, 256):
            raise ValueError(f"DMA data width must be 64, 128 or 256, not {data_width}")
        self.params = {"addr_width": addr_width, "data_width": data_width,
                       "buf_addr_width": buf_addr_width, "outstanding": outstanding}
        self.read_clients, self.write_clients = tuple(read_clients), tuple(write_clients)
        desc = stream.Signature(desc_layout(addr_width, buf_addr_width))
        members: dict[str, wiring.Member] = {"m_axi": Out(AxiSignature(addr_width, data_width)),
                                             "win_base": In(64), "win_size": In(64),
                                             "read_busy": Out(1), "write_busy": Out(1)}
        for name in self.read_clients + self.write_clients:
            members[f"{name}_cmd"] = In(desc)
            members[f"{name}_status"] = Out(stream.Signature(8))
        for name in self.read_clients:
            members[f"{name}_beats"] = Out(stream.Signature(beat_layout(buf_addr_width,
                                                                         data_width)))
        for name in self.write_clients:
            members[f"{name}_rd_addr"] = Out(stream.Signature(buf_addr_width))
            members[f"{name}_rd_data"] = In(stream.Signature(data_width))
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.m_axi
        rd = m.submodules.rd = DmaReadEngine(**self.params)
        wr = m.submodules.wr = DmaWriteEngine(**self.params)
        for e in (rd, wr):
            m.d.comb += [e.win_base.eq(self.win_base), e.win_size.eq(self.win_size)]
        m.d.comb += [self.read_busy.eq(rd.busy), self.write_busy.eq(wr.busy)]
        for name, member in bus.signature.members.items():
            src = rd if name.startswith(("ar", "r")) else wr
            if member.flow == Out:
                m.d.comb += getattr(bus, name).eq(getattr(src.m_axi, name))
            else:
                m.d.comb += getattr(src.m_axi, name).eq(getattr(bus, name))
        _arbitrate(m, rd, [(getattr(self, f"{n}_cmd"), getattr(self, f"{n}_status"),
                            getattr(self, f"{n}_beats")) for n in self.read_clients], "beats")
        _arbitrate_write(m, wr, [(getattr(self, f"{n}_cmd"), getattr(self, f"{n}_status"),
                                  getattr(self, f"{n}_rd_addr"), getattr(self, f"{n}_rd_data"))
                                 for n in self.write_clients])
        return m


def _grant(m: Module, engine: wiring.Component, cmds: list, statuses: list, tag: str) -> Signal:
    """Round-robin arbitration with chaining (module docstring); returns the owner index."""
    n = len(cmds)
    owner = Signal(range(max(n, 2)), name=f"{tag}_owner")
    last = Signal(range(max(n, 2)), name=f"{tag}_last", init=n - 1)  # client 0 first
    active = Signal(name=f"{tag}_active")             # a transfer in the engine
    m.d.comb += active.eq(~engine.idle)
    winner = Signal.like(owner, name=f"{tag}_winner")
    # the first valid client after `last` (round robin): scan priorities from lowest to highest
    for off in reversed(range(1, n + 1)):
        for cur in range(n):
            with m.If((last == cur) & cmds[(cur + off) % n].valid):
                m.d.comb += winner.eq((cur + off) % n)
    # while active, the owner may chain its next descriptor unless another client is waiting
    other = Signal(name=f"{tag}_other")
    for i in range(n):
        with m.If(owner == i):
            m.d.comb += other.eq(Cat(*(c.valid for j, c in enumerate(cmds) if j != i)).any()
                                 if n > 1 else 0)
    sel = Signal.like(owner, name=f"{tag}_sel")
    m.d.comb += sel.eq(winner)
    with m.If(active):
        m.d.comb += sel.eq(owner)
    gate = ~active | ~other
    for i, (c, s) in enumerate(zip(cmds, statuses, strict=True)):
        with m.If(sel == i):
            m.d.comb += [engine.cmd.valid.eq(c.valid & gate), engine.cmd.payload.eq(c.payload),
                         c.ready.eq(engine.cmd.ready & gate)]
        m.d.comb += [s.payload.eq(engine.status.payload),
                     s.valid.eq(engine.status.valid & (owner == i))]
        with m.If(owner == i):
            m.d.comb += engine.status.ready.eq(s.ready)
    with m.If(engine.cmd.valid & engine.cmd.ready):
        m.d.sync += [owner.eq(sel), last.eq(sel)]
    return owner


def _arbitrate(m: Module, engine: DmaReadEngine, clients: list, _: str) -> None:
    owner = _grant(m, engine, [c[0] for c in clients], [c[1] for c in clients], "rd")
    for i, (_c, _s, beats) in enumerate(clients):
        m.d.comb += [beats.payload.eq(engine.beats.payload),
                     beats.valid.eq(engine.beats.valid & (owner == i))]
        with m.If(owner == i):
            m.d.comb += engine.beats.ready.eq(beats.ready)


def _arbitrate_write(m: Module, engine: DmaWriteEngine, clients: list) -> None:
    owner = _grant(m, engine, [c[0] for c in clients], [c[1] for c in clients], "wr")
    for i, (_c, _s, ra, rd) in enumerate(clients):
        m.d.comb += [ra.payload.eq(engine.buf_rd_addr.payload),
                     ra.valid.eq(engine.buf_rd_addr.valid & (owner == i))]
        with m.If(owner == i):
            m.d.comb += [engine.buf_rd_addr.ready.eq(ra.ready),
                         engine.buf_rd_data.valid.eq(rd.valid),
                         engine.buf_rd_data.payload.eq(rd.payload)]
        m.d.comb += rd.ready.eq(engine.buf_rd_data.ready & (owner == i))
