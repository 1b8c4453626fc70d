"""The AXI4-Lite control/status register block of the accelerator (register map: regmap.py).

AW and W are accepted independently into one-deep holding registers (READY = holding register
empty, so VALID never waits on READY); the write happens, and B is raised, once both are held and
no B is pending. AR is accepted while no R is pending; R follows one cycle after the AR handshake.
An address outside the map, or a write to a read-only register, answers SLVERR (a write then
changes nothing; a read returns 0). Byte strobes apply to the writable registers.

``start`` is a one-cycle pulse when CTRL bit 0 is written with 1 while ``busy`` is low; it clears
STATUS.done/error/code, the per-unit busy counters and CYCLES. ``done`` (a pulse from the
machine) sets STATUS.done; ``error`` (a pulse with ``error_code``) sets STATUS.error and keeps the
FIRST code until the next start.

CYCLES (64 bits) is 0 after reset and after ``start``, and counts every cycle in which the
``busy`` input is high; it holds its value while busy is low. A machine whose busy is high from
the cycle after its start pulse through the cycle of its done/error pulse (``hwcnn_soc``) thus
leaves CYCLES = that pulse's cycle counted from the start pulse (cycle 0), exactly, until the
next start. Reading CYCLES_LO latches the high word, so LO then HI is one consistent value.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .bus import AxiLiteSignature, Resp
from .regmap import ID_VALUE, VERSION_VALUE, offsets


class ControlRegisters(wiring.Component):
    """AXI4-Lite slave ``s_axil`` (32-bit) with the machine-side control/status signals.

    Parameters
    ----------
    n_bases : int
        Tensor base address registers (64-bit each).
    n_units : int
        Per-unit busy counters (inputs ``unit_busy[i]``).
    addr_width : int
        AXI-Lite address bits (the block decodes ``addr[addr_width-1:2]``; ``addr[1:0]`` ignored).
    """

    def __init__(self, *, n_bases: int = 4, n_units: int = 4, addr_width: int = 12) -> None:
        self.n_bases, self.n_units = n_bases, n_units
        self.offsets = offsets(n_bases, n_units)
        super().__init__({
            "s_axil": In(AxiLiteSignature(addr_width)),
            "start": Out(1),
            "busy": In(1), "done": In(1), "error": In(1), "error_code": In(8),
            "unit_busy": In(n_units),
            "prog_base": Out(64), "prog_len": Out(32),
            "win_base": Out(64), "win_size": Out(64),
            "bases": Out(data.ArrayLayout(64, n_bases)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus, off = self.s_axil, self.offsets
        writable = [n for n in off if n in ("PROG_BASE_LO", "PROG_BASE_HI", "PROG_LEN",
                                            "WIN_BASE_LO", "WIN_BASE_HI", "WIN_SIZE_LO",
                                            "WIN_SIZE_HI")
                    or (n.startswith("BASE") and n[4].isdigit())]
        regs = {n: Signal(32, name=f"r_{n.lower()}") for n in writable}
        m.d.comb += [self.prog_base.eq(regs["PROG_BASE_LO"] | (regs["PROG_BASE_HI"] << 32)),
                     self.prog_len.eq(regs["PROG_LEN"]),
                     self.win_base.eq(regs["WIN_BASE_LO"] | (regs["WIN_BASE_HI"] << 32)),
                     self.win_size.eq(regs["WIN_SIZE_LO"] | (regs["WIN_SIZE_HI"] << 32))]
        for i in range(self.n_bases):
            m.d.comb += self.bases[i].eq(regs[f"BASE{i}_LO"] | (regs[f"BASE{i}_HI"] << 32))

        done, err, code = Signal(), Signal(), Signal(8)
        cycles, cycles_hi = Signal(64), Signal(32)
        counters = [Signal(32, name=f"busy{i}") for i in range(self.n_units)]
        with m.If(self.start):
            m.d.sync += cycles.eq(0)
        with m.Elif(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
        for i, c in enumerate(counters):
            with m.If(self.start):
                m.d.sync += c.eq(0)
            with m.Elif(self.unit_busy[i]):
                m.d.sync += c.eq(c + 1)
        with m.If(self.start):
            m.d.sync += [done.eq(0), err.eq(0), code.eq(0)]
        with m.Else():
            with m.If(self.done):
                m.d.sync += done.eq(1)
            with m.If(self.error & ~err):
                m.d.sync += [err.eq(1), code.eq(self.error_code)]

        # --- write channel: AW and W held independently, B once both are held -------------
        aw_full, aw_addr = Signal(), Signal.like(bus.awaddr)
        w_full, w_data, w_strb = Signal(), Signal(32), Signal(4)
        bvalid, bresp = Signal(), Signal(2)
        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full),
                     bus.bvalid.eq(bvalid), bus.bresp.eq(bresp)]
        with m.If(bus.awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(bus.awaddr)]
        with m.If(bus.wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        m.d.comb += self.start.eq(0)
        with m.If(aw_full & w_full & ~bvalid):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bvalid.eq(1), bresp.eq(Resp.SLVERR)]
            with m.Switch(aw_addr[2:]):
                for name, reg in regs.items():
                    with m.Case(off[name] >> 2):
                        m.d.sync += bresp.eq(Resp.OKAY)
                        for b in range(4):
                            with m.If(w_strb[b]):
                                m.d.sync += reg[8 * b:8 * b + 8].eq(w_data[8 * b:8 * b + 8])
                with m.Case(off["CTRL"] >> 2):
                    m.d.sync += bresp.eq(Resp.OKAY)
                    m.d.comb += self.start.eq(w_strb[0] & w_data[0] & ~self.busy)

        # --- read channel: one outstanding read ------------------------------------------
        rvalid, rdata, rresp = Signal(), Signal(32), Signal(2)
        m.d.comb += [bus.arready.eq(~rvalid), bus.rvalid.eq(rvalid), bus.rdata.eq(rdata),
                     bus.rresp.eq(rresp)]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        status = Signal(32)
        m.d.comb += status.eq(self.busy | (done << 1) | (err << 2) | (code << 8))
        values = {"ID": Const(ID_VALUE, 32), "VERSION": Const(VERSION_VALUE, 32),
                  "CTRL": Const(0, 32), "STATUS": status, "CYCLES_LO": cycles[:32],
                  "CYCLES_HI": cycles_hi, **regs}
        values |= {f"BUSY{i}": c for i, c in enumerate(counters)}
        with m.If(bus.arvalid & ~rvalid):
            m.d.sync += [rvalid.eq(1), rdata.eq(0), rresp.eq(Resp.SLVERR)]
            with m.Switch(bus.araddr[2:]):
                for name, value in values.items():
                    with m.Case(off[name] >> 2):
                        m.d.sync += [rdata.eq(value), rresp.eq(Resp.OKAY)]
                        if name == "CYCLES_LO":
                            m.d.sync += cycles_hi.eq(cycles[32:])
        return m
