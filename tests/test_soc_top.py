"""The complete accelerator ``Soc`` (Verilog ``hwcnn_soc``) in Amaranth's simulator: a host
process programs its AXI4-Lite registers, a testbench AXI4 slave serves a NumPy DRAM holding the
image ``hwcnn compile`` writes, and every layer read back from DRAM must equal the golden
network. Error programs stop the machine with their code, busy low (never a hang)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hwcnn.arch.config import Dataflow
from hwcnn.arch.dma import ErrorCode
from hwcnn.hw.axi.regmap import (
    STATUS_BUSY,
    STATUS_CODE_SHIFT,
    STATUS_DONE,
    STATUS_ERROR,
    offsets,
)
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.hw.soc.top import Soc
from hwcnn.isa import Buffer, Insn, MemMode, Opcode, encode, make, to_bytes
from tests.test_program import _compiled
from tests.test_soc_fetch import AxiRam, golden_check

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY
REG = offsets()
#: where the image sits in the simulated DRAM (BASE0): offsets must be added by the units
BASE = 0x1000


class Host:
    """An AXI4-Lite master in a testbench process (one transaction at a time); ``cycle`` counts
    the clock edges it has waited for."""

    def __init__(self, bus) -> None:  # type: ignore[no-untyped-def]
        self.bus, self.cycle = bus, 0

    async def _tick(self, ctx, *sig):  # type: ignore[no-untyped-def]
        out = await ctx.tick().sample(*sig)
        self.cycle += 1
        return out[2:]

    async def write(self, ctx, name: str, value: int) -> int:  # type: ignore[no-untyped-def]
        b = self.bus
        ctx.set(b.awaddr, REG[name])
        ctx.set(b.wdata, value)
        ctx.set(b.wstrb, 0xF)
        ctx.set(b.awvalid, 1)
        ctx.set(b.wvalid, 1)
        ctx.set(b.bready, 1)
        aw = w = False
        while not (aw and w):
            awr, wr = await self._tick(ctx, b.awready, b.wready)
            if awr and not aw:
                aw = True
                ctx.set(b.awvalid, 0)
            if wr and not w:
                w = True
                ctx.set(b.wvalid, 0)
        while True:
            bv, resp = await self._tick(ctx, b.bvalid, b.bresp)
            if bv:
                ctx.set(b.bready, 0)
                return int(resp)

    async def read(self, ctx, name: str) -> int:  # type: ignore[no-untyped-def]
        b = self.bus
        ctx.set(b.araddr, REG[name])
        ctx.set(b.arvalid, 1)
        while not (await self._tick(ctx, b.arready))[0]:
            pass
        ctx.set(b.arvalid, 0)
        ctx.set(b.rready, 1)
        while True:
            rv, data = await self._tick(ctx, b.rvalid, b.rdata)
            if rv:
                ctx.set(b.rready, 0)
                return int(data)


def run_soc(params: SocParams, dram: np.ndarray, *, prog_base: int, prog_len: int,
            win: tuple[int, int], limit: int = 200_000, stall: float = 0.0) -> dict[str, int]:
    """Program the registers, start, poll STATUS until busy drops; returns STATUS, the BUSY
    counters, ``cycles`` = the cycle of the done / error pulse counted from the start pulse
    (cycle 0), sampled on the Frontend, and ``cycles_reg`` = CYCLES read after the stop."""
    soc = Soc(params)
    fe = soc.frontend
    ram = AxiRam(soc.m_axi, dram, params.bus_bytes, latency=6, stall=stall, seed=11)
    host = Host(soc.s_axil)
    res: dict[str, int] = {}

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        for name, value in (("WIN_BASE_LO", win[0]), ("WIN_SIZE_LO", win[1]),
                            ("BASE0_LO", BASE), ("PROG_BASE_LO", prog_base),
                            ("PROG_LEN", prog_len)):
            assert await host.write(ctx, name, value) == 0
            assert await host.read(ctx, name) == value
        assert await host.write(ctx, "CTRL", 1) == 0
        start = host.cycle          # the start pulse: the cycle after AW and W are both held
        while True:
            status = await host.read(ctx, "STATUS")
            if not status & STATUS_BUSY:
                break
            assert host.cycle - start < limit, "no done/error: a hang"
        res["status"] = status
        for i in range(4):
            res[f"busy{i}"] = await host.read(ctx, f"BUSY{i}")
        lo = await host.read(ctx, "CYCLES_LO")
        res["cycles_reg"] = lo | await host.read(ctx, "CYCLES_HI") << 32

    async def monitor(ctx) -> None:  # type: ignore[no-untyped-def]
        cycle, t0 = 0, None
        async for _, _, st, end in ctx.tick().sample(fe.start, fe.done | fe.error):
            if st:
                t0 = cycle
            if end and t0 is not None and "cycles" not in res:
                res["cycles"] = cycle - t0
            cycle += 1

    sim = Simulator(soc)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(ram.run, background=True)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return res


def _params(prog, comp, dw: int) -> SocParams:  # type: ignore[no-untyped-def]
    p = SocParams(config=prog.hw, depths=BufferDepths.for_config(prog.hw), data_width=dw)
    assert p.target == comp.target            # the machine the program was compiled for
    return p


def _image(comp) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    size = comp.regions[-1].offset + comp.regions[-1].size
    dram = np.zeros(BASE + size + 256, np.uint8)
    dram[BASE:BASE + len(comp.image)] = np.frombuffer(comp.image, np.uint8)
    return dram, size


@pytest.mark.slow
@pytest.mark.parametrize("model, df, dw, stall", [
    ("tiny_cnn", WS, 64, 0.0), ("tiny_cnn", OS, 128, 0.0), ("tiny_cnn", WS, 256, 0.0),
    ("tiny_cnn", OS, 64, 0.3)])
def test_network_on_the_soc_equals_golden(model: str, df: Dataflow, dw: int,
                                          stall: float) -> None:
    """The image at DRAM byte BASE (BASE0 = BASE, the window exactly the image); with
    ``stall`` the AXI slave withholds its readies and valids at random (back-pressure)."""
    prog, q, x, comp = _compiled(model, df, 4, 4, 1)
    dram, size = _image(comp)
    r = run_soc(_params(prog, comp, dw), dram, prog_base=BASE + comp.region("program").offset,
                prog_len=len(comp.insns), win=(BASE, size), stall=stall)
    assert r["status"] == STATUS_DONE, hex(r["status"])
    assert r["cycles_reg"] == r["cycles"]        # CYCLES = start-to-done, held after done
    golden_check(comp, prog, q, x, dram[BASE:])
    assert not dram[:BASE].any()                 # nothing outside the window was written
    assert all(r[f"busy{i}"] > 0 for i in range(4))
    assert r["busy2"] < r["cycles"] and r["busy0"] < r["cycles"]
    print(f"{model} {df.value} {dw}-bit stall {stall}: {r['cycles']} cycles, "
          f"busy {[r[f'busy{i}'] for i in range(4)]}")


# --- error programs (short: fast tier) ------------------------------------------------------------
def _tiny_params(dw: int = 64) -> SocParams:
    from hwcnn.arch.config import ArrayConfig, HardwareConfig

    return SocParams(config=HardwareConfig(array=ArrayConfig(rows=2, cols=2)),
                     depths=BufferDepths(act=16, weight=16, out=16, param=4, acc=16),
                     data_width=dw)


def _run_program(words: list[int], dw: int = 64) -> dict[str, int]:
    dram = np.zeros(BASE + 0x400, np.uint8)
    blob = b"".join(w.to_bytes(32, "little") for w in words)
    dram[BASE:BASE + len(blob)] = np.frombuffer(blob, np.uint8)
    dram[BASE + 0x200:BASE + 0x300] = np.arange(256, dtype=np.uint8)
    return run_soc(_tiny_params(dw), dram, prog_base=BASE, prog_len=len(words),
                   win=(BASE, 0x400), limit=5000)


def _words(insns: list[Insn]) -> list[int]:
    return [int.from_bytes(to_bytes([i]), "little") for i in insns]


def _status(code: int) -> int:
    return STATUS_ERROR | code << STATUS_CODE_SHIFT


LOAD_OK = make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=0,
               dram_base=0x200, rows=4)


def test_a_short_program_is_done() -> None:
    """Done, and CYCLES (read well after the done pulse: it holds) = the done pulse's cycle."""
    r = _run_program(_words([LOAD_OK, make(Opcode.END)]))
    assert r["status"] == STATUS_DONE
    assert r["cycles_reg"] == r["cycles"] > 30


@pytest.mark.parametrize("bad, code", [
    (make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=14, dram_base=0x200,
          rows=4), ErrorCode.BUF_RANGE),
    (make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=0, dram_base=0x3FC,
          rows=4), ErrorCode.DMA_WINDOW),
])
def test_unit_errors_stop_the_soc(bad: Insn, code: ErrorCode) -> None:
    r = _run_program(_words([LOAD_OK, bad, LOAD_OK, make(Opcode.END)]))
    assert r["status"] == _status(code), hex(r["status"])


def test_illegal_opcode_and_alignment_on_the_soc() -> None:
    words = _words([LOAD_OK, make(Opcode.END)])
    words.insert(1, encode(make(Opcode.END)) | 6)
    assert _run_program(words)["status"] == _status(ErrorCode.ILLEGAL_OPCODE)
    dram = np.zeros(BASE + 0x400, np.uint8)
    r = run_soc(_tiny_params(), dram, prog_base=BASE + 8, prog_len=2, win=(BASE, 0x400))
    assert r["status"] == _status(ErrorCode.PROG_ALIGN)


def test_a_program_without_end_stops_with_no_end() -> None:
    """PROG_LEN = 0 and a program whose instructions (all run) hold no END: STATUS = error
    with NO_END and busy low, never a hang; PROG_LEN = 0 stops in cycle 1, and a LOAD alone
    stops in the cycle after its status handshake (the cycle model's MachineStop cycle)."""
    from hwcnn.machine.socsim import MachineStop, run_insns
    from tests.socsim_rtl import timing

    r = _run_program([])
    assert r["status"] == _status(ErrorCode.NO_END) and r["cycles"] == r["cycles_reg"] == 1
    assert r["busy0"] == r["busy1"] == 0
    r = _run_program(_words([LOAD_OK, LOAD_OK]))
    assert r["status"] == _status(ErrorCode.NO_END), hex(r["status"])
    assert r["cycles_reg"] == r["cycles"]        # CYCLES holds at an error too
    assert r["busy1"] > 0 and r["cycles"] > r["busy1"]
    p = _tiny_params()
    with pytest.raises(MachineStop, match=r"error 7 \(NO_END: ") as exc:
        run_insns([], target=p.target, array=p.config.array, bus_bytes=8, dram=timing(6, 8))
    assert exc.value.code == ErrorCode.NO_END and exc.value.cycle == 1


def test_soc_ports_are_the_two_buses() -> None:
    soc = Soc(_tiny_params(128))
    names = {"__".join(map(str, path)) for path, _, _ in soc.signature.flatten(soc)}
    axil = {"awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready",
            "bresp", "bvalid", "bready", "araddr", "arprot", "arvalid", "arready", "rdata",
            "rresp", "rvalid", "rready"}
    axi = {f"{c}{f}" for c in ("aw", "ar") for f in ("id", "addr", "len", "size", "burst",
                                                    "valid", "ready")}
    axi |= {"wdata", "wstrb", "wlast", "wvalid", "wready", "bid", "bresp", "bvalid", "bready",
            "rid", "rdata", "rresp", "rlast", "rvalid", "rready"}
    assert names == {f"s_axil__{n}" for n in axil} | {f"m_axi__{n}" for n in axi}
    assert len(soc.m_axi.wdata) == 128 and len(soc.m_axi.araddr) == 32
    assert len(soc.s_axil.awaddr) == 12
    Fragment.get(soc, None)      # it elaborates (and its parts are used)


def test_bus_width_needs_the_soc_top(capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.cli_run import run_cli

    out = run_cli(["rtl", "--rows", "2", "--cols", "2", "--bus-width", "128", "-o", "-"], capsys)
    assert out.code == 2 and out.out == ""
    assert out.err == "hwcnn: error: rtl: --bus-width applies to --top soc only\n"


@pytest.mark.parametrize("args, width", [
    (["--board", "arty-a7-35t"], 128),                     # boards.yaml axi_bits (its MIG's)
    (["--board", "kv260", "--rows", "2", "--cols", "2", "--buffers", "16"], 128),  # HP_FPD
    (["--board", "pynq-z2", "--rows", "2", "--cols", "2", "--buffers", "16"], 64),  # HP
    (["--board", "kv260", "--rows", "2", "--cols", "2", "--buffers", "16", "--bus-width", "64"],
     64),  # an explicit width wins
    (["--rows", "2", "--cols", "2"], 64),                  # no board: the RTL's default
    (["--rows", "2", "--cols", "2", "--bus-width", "256"], 256)])
def test_rtl_soc_takes_the_board_s_axi_width(args: list[str], width: int,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from hwcnn.hw import rtlgen
    from tests.cli_run import run_cli

    built = []
    monkeypatch.setattr(rtlgen, "generate_soc",
                        lambda params: built.append(params) or {"hwcnn_soc.v": "// soc\n"})
    out = run_cli(["rtl", *args, "--top", "soc", "-o", "-"], capsys)
    assert out.code == 0, (out.err, out.crash)
    assert [p.data_width for p in built] == [width]
    assert out.out == "// soc\n"
    if "--board" in args:
        assert out.err.rstrip("\n").endswith(f" LUTs, {width}-bit AXI")


def test_rtl_soc_checks_the_fit_at_an_explicit_width(capsys: pytest.CaptureFixture[str]) -> None:
    # The Arty A7-35T's default 2x2 fits at its 128 bits, not at 256, where the SoC's logic
    # and FIFOs are wider (tests/test_resources.py: the model against the 4x4 SoC measured at
    # 64 / 128 / 256 bits); the count is the board's usage of that configuration.
    from hwcnn.arch.config import HardwareConfig
    from hwcnn.boards.profiles import board_profile
    from hwcnn.cli.options import hardware_from_options
    from tests.cli_run import run_cli

    hw, _ = hardware_from_options(board="arty-a7-35t")
    brd = board_profile("arty-a7-35t")
    assert isinstance(hw, HardwareConfig) and (hw.array.rows, hw.array.cols) == (2, 2)
    luts = brd.usage(hw, data_width=256).luts
    assert brd.usage(hw, data_width=128).luts <= 20800 < luts
    out = run_cli(["rtl", "--board", "arty-a7-35t", "--top", "soc", "--bus-width", "256",
                   "-o", "-"], capsys)
    assert out.code == 2 and out.out == "" and out.crash is None
    assert out.err == (f"hwcnn: error: array 2x2 needs about {luts:,} LUTs (256-bit AXI) but "
                       "arty-a7-35t has 20,800\n")


@pytest.mark.slow
def test_soc_verilog_is_reproducible(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import re

    from hwcnn.hw import rtlgen

    a = rtlgen.generate_soc(_tiny_params(256))
    b = rtlgen.write_soc(_tiny_params(256), tmp_path / "v")
    assert [p.name for p in b] == ["hwcnn_soc.v"]
    assert b[0].read_text() == a["hwcnn_soc.v"]
    text = a["hwcnn_soc.v"]
    assert "bus_width=256" in text.splitlines()[1]
    ports = re.search(r"^module hwcnn_soc\((.*?)\);", text, re.DOTALL | re.MULTILINE).group(1)
    names = {p.strip() for p in ports.split(",")}
    assert {"clk", "rst", "m_axi__wdata", "s_axil__awaddr"} <= names
    assert all(n in ("clk", "rst") or n.startswith(("m_axi__", "s_axil__")) for n in names)
    assert re.search(r"input \[255:0\] m_axi__rdata;", text)
