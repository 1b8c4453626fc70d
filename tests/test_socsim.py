"""The whole-machine cycle model (hwcnn.machine.socsim) against the Amaranth simulation of
``Soc`` behind the DRAM timing shim: the done cycle, BUSY0..3, every instruction's dispatch and
finish cycle and every W handshake must be equal (tests/socsim_rtl.py records the RTL's). Plus
hand-worked cycle counts of the model alone (fast) and a negative control."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.dma import DmaDesc
from hwcnn.arch.dma_timing import setup_cycles, transfer_cycles
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.isa import Buffer, Insn, MemMode, Opcode, make, to_bytes
from hwcnn.isa.fields import Opcode as Op
from hwcnn.isa.queues import Queue, queue_of
from hwcnn.machine.socsim import MachineRun, run_insns, run_program
from tests.socsim_rtl import rtl_run, timing

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY
BASE = 0x1000
SMALL = BufferDepths(act=256, weight=256, out=256, param=64, acc=64)


def _params(df: Dataflow, dw: int = 64, r: int = 4, c: int = 4) -> SocParams:
    hw = HardwareConfig(array=ArrayConfig(rows=r, cols=c, dataflow=df))
    return SocParams(config=hw, depths=SMALL, data_width=dw)


def _model(p: SocParams, insns: list[Insn], lat: int, bpc: int) -> MachineRun:
    return run_insns(insns, target=p.target, array=p.config.array, bus_bytes=p.bus_bytes,
                     dram=timing(lat, bpc), base=BASE, prog_base=0)


def test_end_only_program_by_hand() -> None:
    """END alone: the fetch descriptor is offered in cycle 2 and taken at once; its one
    32-byte transfer takes transfer_cycles; the instruction is routable the cycle after the
    status, at the compute queue's head the next, dispatched (END) then, done one cycle
    after (``ended`` is a register)."""
    p = _params(WS)
    run = _model(p, [make(Opcode.END)], 8, 8)
    xfer = transfer_cycles(DmaDesc(dram_addr=0, row_bytes=32), write=False, bus_bytes=8,
                           dram=timing(8, 8))
    s = 2 + xfer                       # status handshake
    assert run.insns[0] == (s + 2, s + 2)
    assert run.cycles == s + 3
    assert run.busy[0] == s + 1        # fetch busy from cycle 1 to the routing cycle s+1
    assert run.busy[1:] == (0, 0, 0)


def test_one_load_words_by_hand() -> None:
    """LOAD 3 words into WGT, then END: the load dispatcher takes it the cycle after it is in
    the queue, the unit starts the cycle after (START), issues its descriptor in RUN (two
    cycles after the handshake, the DMA idle), 12 bytes in two 8-byte beats; the DMA status
    comes FINISH = 1 cycle after the transfer's last beat -- transfer_cycles counts it -- with
    the last word's write, and the unit's status two cycles after that."""
    p = _params(WS)
    ld = make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=0,
              dram_base=0x100, rows=3)
    run = _model(p, [ld, make(Opcode.END)], 8, 8)
    xfer = transfer_cycles(DmaDesc(dram_addr=BASE + 0x100, row_bytes=12), write=False,
                           bus_bytes=8, dram=timing(8, 8))
    fetch_status = 2 + transfer_cycles(DmaDesc(dram_addr=0, row_bytes=64), write=False,
                                       bus_bytes=8, dram=timing(8, 8))
    h = fetch_status + 3               # routable, in the queue, ISSUE: executor handshake
    assert run.insns[0][0] == h
    # the descriptor is offered in h+2 (RUN) and taken at once; the DMA status comes the
    # cycle after the last beat, the cycle in which the last word is written: the unit sees
    # both one cycle later, finishes in the cycle after that and offers status from +1
    assert run.insns[0][1] == h + 2 + xfer + 2 + 1
    assert xfer > setup_cycles(1, 1)


def _f(**kw: object) -> dict:
    """Instruction fields (the opcode under ``op``)."""
    return kw


def _rand_program(p: SocParams, rng: np.random.Generator, tiles: int) -> list[Insn]:
    t, r = p.target, p.config.array.rows
    c = p.config.array.cols
    eb = t.elem_bytes
    prog: list[Insn] = []
    for _ in range(tiles):
        loads: list[dict] = []
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(0, 4))
            if kind == 0:
                buf = [Buffer.WGT, Buffer.PARAM, Buffer.ACT][int(rng.integers(0, 3))]
                rows = int(rng.integers(1, 7))
                loads.append(_f(op=Opcode.LOAD, buffer=buf, mode=MemMode.WORDS,
                                  sram_base=int(rng.integers(0, 40)),
                                  dram_base=int(rng.integers(0, 600)), rows=rows))
            elif kind == 1:
                elems = int(rng.integers(1, 2 * r + 2))
                loads.append(_f(op=Opcode.LOAD, buffer=Buffer.ACT, mode=MemMode.PIXELS,
                                  sram_base=int(rng.integers(0, 20)),
                                  dram_base=int(rng.integers(0, 600)),
                                  rows=int(rng.integers(1, 6)), elems=elems,
                                  dram_stride=elems * eb + int(rng.integers(0, 6)),
                                  sram_stride=int(rng.integers(1, 3)), fold_stride=12))
            else:
                in_h, in_w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
                kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
                sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
                ph, pw = int(rng.integers(0, 2)), int(rng.integers(0, 2))
                kh, kw = min(kh, in_h + 2 * ph), min(kw, in_w + 2 * pw)
                out_h = (in_h + 2 * ph - kh) // sh + 1
                out_w = (in_w + 2 * pw - kw) // sw + 1
                cg = int(rng.integers(1, 6))
                ktot = kh * kw * cg
                m0 = int(rng.integers(0, out_h * out_w))
                m = int(rng.integers(1, min(6, out_h * out_w - m0) + 1))
                if kind == 2:
                    k0, k = 0, ktot
                else:
                    k0 = int(rng.integers(0, ktot))
                    k = int(rng.integers(1, min(ktot - k0, 9) + 1))
                loads.append(_f(op=Opcode.LOAD2D, sram_base=int(rng.integers(0, 20)),
                                  dram_base=int(rng.integers(0, 300)), in_h=in_h, in_w=in_w,
                                  pix_stride=cg + int(rng.integers(0, 3)), out_w=out_w, cg=cg,
                                  kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=1, dw=1,
                                  m0=m0, m=m, k0=k0, k=k))
        loads[0]["pop_next"] = 1
        loads[-1]["push_next"] = 1
        prog += [make(d.pop("op"), **d) for d in loads]
        comp: list[dict] = []
        if rng.integers(0, 3) == 0:
            comp.append(_f(op=Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.WORDS,
                             sram_base=int(rng.integers(0, 40)),
                             dram_base=int(rng.integers(0, 600)),
                             rows=int(rng.integers(1, 9))))
        mm, nn, kk = (int(rng.integers(1, 7)) for _ in range(3))
        comp.append(_f(op=Opcode.GEMM, m=mm, n=nn, k=kk, a_base=0, b_base=0, p_base=0,
                         c_base=int(rng.integers(0, 40))))
        if rng.integers(0, 2):
            ih, iw = int(rng.integers(2, 5)), int(rng.integers(2, 5))
            comp.append(_f(op=Opcode.VEC, pool_op=0, in_h=ih, in_w=iw, out_h=ih - 1,
                             out_w=iw - 1, win_h=2, win_w=2, stride_h=1, stride_w=1,
                             pin_base=0, c_base=100))
        comp[0]["pop_prev"] = comp[0]["pop_next"] = 1
        comp[-1]["push_prev"] = comp[-1]["push_next"] = 1
        prog += [make(d.pop("op"), **d) for d in comp]
        if rng.integers(0, 2):
            st = _f(mode=MemMode.WORDS, rows=int(rng.integers(1, 9)))
        else:
            elems = int(rng.integers(1, 2 * c + 2))
            st = _f(mode=MemMode.PIXELS, rows=int(rng.integers(1, 6)), elems=elems,
                      dram_stride=elems + int(rng.integers(0, 7)),
                      sram_stride=int(rng.integers(1, 3)), fold_stride=10)
        prog.append(make(Opcode.STORE, buffer=Buffer.OUT, sram_base=int(rng.integers(0, 30)),
                         dram_base=0x800 + int(rng.integers(0, 300)), pop_prev=1,
                         push_prev=1, **st))
    prog.append(make(Opcode.END))
    # tokens balance per tile by construction (the pre-charged g2l / s2g stay at END)
    return prog


def _port(insn: Insn) -> str:
    q = queue_of(insn)
    if q is Queue.LOAD:
        return "load"
    if q is Queue.STORE:
        return "store"
    return "cload" if insn.op is Op.LOAD else "gemm"


def _rtl_insns(insns: list[Insn], res: dict) -> list[tuple[int, int]]:
    """Per instruction (dispatch, finish) from the RTL's port handshakes (END excluded)."""
    seqs = {k: [c for _, c in v] for k, v in res["ports"].items()}
    cnt = dict.fromkeys(seqs, 0)
    out = []
    for ins in insns:
        if ins.op is Op.END:
            out.append((-1, -1))
            continue
        k = _port(ins)
        j = cnt[k]
        cnt[k] += 1
        out.append((seqs[k][2 * j], seqs[k][2 * j + 1]))
    return out


def _compare(insns: list[Insn], model: MachineRun, res: dict) -> None:
    assert res["status"] & 2, hex(res["status"])          # done, no error
    rtl = _rtl_insns(insns, res)
    for i, ins in enumerate(insns):
        if ins.op is not Op.END:
            assert model.insns[i] == rtl[i], (i, ins.op.name, model.insns[i], rtl[i])
    assert model.cycles == res["cycles"] == res["cycles_reg"]
    assert model.busy == res["busy"]
    assert max(model.store_writes) == res["w"][-1]


def _run_random(df: Dataflow, dw: int, lat: int, bpc: int, seed: int, tiles: int) -> None:
    p = _params(df, dw)
    prog = _rand_program(p, np.random.default_rng(seed), tiles)
    code = to_bytes(prog)
    dram = np.zeros(BASE + 0x1000, np.uint8)
    dram[:len(code)] = np.frombuffer(code, np.uint8)
    dram[BASE:BASE + 0x800] = np.random.default_rng(seed).integers(0, 256, 0x800, np.uint8)
    res = rtl_run(p, dram, base=BASE, prog_base=0, prog_len=len(prog),
                  win=(0, len(dram)), timing=timing(lat, bpc))
    model = run_insns(prog, target=p.target, array=p.config.array, bus_bytes=p.bus_bytes,
                      dram=timing(lat, bpc), base=BASE, prog_base=0, window=(0, len(dram)))
    _compare(prog, model, res)


def test_random_program_equals_rtl() -> None:
    _run_random(WS, 64, 8, 8, seed=1, tiles=2)


@pytest.mark.slow
@pytest.mark.parametrize("df, dw, lat, bpc, seed", [
    (WS, 64, 6, 8, 2), (OS, 64, 10, 3, 3), (WS, 128, 16, 16, 4), (OS, 128, 5, 7, 5),
    (WS, 64, 30, 2, 6), (OS, 128, 12, 32, 7), (WS, 256, 10, 24, 8)])
def test_random_programs_equal_rtl(df: Dataflow, dw: int, lat: int, bpc: int,
                                   seed: int) -> None:
    _run_random(df, dw, lat, bpc, seed, tiles=4)


@pytest.mark.slow
@pytest.mark.parametrize("name, df, dw, lat, bpc, r, c", [
    ("tiny_cnn", WS, 64, 8, 8, 4, 4), ("tiny_cnn", OS, 128, 12, 4, 4, 4),
    ("tiny_cnn", OS, 64, 20, 3, 2, 3)])
def test_compiled_network_equals_rtl(name: str, df: Dataflow, dw: int, lat: int, bpc: int,
                                     r: int, c: int) -> None:
    from tests.test_program import _compiled
    from tests.test_soc_top import _image
    prog, _, _, comp = _compiled(name, df, r, c, 1)
    p = SocParams(config=prog.hw, depths=BufferDepths.for_config(prog.hw), data_width=dw)
    dram, size = _image(comp)
    res = rtl_run(p, dram, base=BASE, prog_base=BASE + comp.region("program").offset,
                  prog_len=len(comp.insns), win=(BASE, size), timing=timing(lat, bpc))
    model = run_program(comp, array=prog.hw.array, bus_bytes=p.bus_bytes,
                        dram=timing(lat, bpc), base=BASE)
    _compare(list(comp.insns), model, res)
    from hwcnn.compiler.plan import Unit
    stored = {ly.name for ly in prog.layers if ly.unit in (Unit.ARRAY, Unit.POOL)
              and ly.name not in comp.on_chip}       # a conv pooled in OUT writes no DRAM
    assert set(model.layer_writes) == stored and len(stored) >= 3
    assert max(model.layer_writes.values()) == res["w"][-1]


def test_zero_size_compute_nops_equal_rtl() -> None:
    """A zero-size GEMM (carrying the tile's tokens) and VEC are NOPs: done, not BUF_RANGE, and
    every cycle as the model's (status one cycle after the handshake)."""
    p = _params(OS)
    prog = [make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=0,
                 dram_base=0x40, rows=3, pop_next=1, push_next=1),
            make(Opcode.GEMM, m=0, n=4, k=4, a_base=(1 << 20) - 1, pop_prev=1, pop_next=1),
            make(Opcode.VEC, in_h=2, in_w=2, out_h=1, out_w=0, win_h=2, win_w=2, stride_h=1,
                 stride_w=1, push_prev=1, push_next=1),
            make(Opcode.STORE, buffer=Buffer.OUT, mode=MemMode.WORDS, sram_base=0,
                 dram_base=0x800, rows=2, pop_prev=1, push_prev=1),
            make(Opcode.END)]
    code = to_bytes(prog)
    dram = np.zeros(BASE + 0x1000, np.uint8)
    dram[:len(code)] = np.frombuffer(code, np.uint8)
    res = rtl_run(p, dram, base=BASE, prog_base=0, prog_len=len(prog), win=(0, len(dram)),
                  timing=timing(8, 8))
    model = run_insns(prog, target=p.target, array=p.config.array, bus_bytes=p.bus_bytes,
                      dram=timing(8, 8), base=BASE, prog_base=0, window=(0, len(dram)))
    _compare(prog, model, res)
    for i in (1, 2):      # executor handshake -> status handshake: offered in 1, taken at once
        assert model.insns[i][1] - model.insns[i][0] == 1


def test_a_program_without_end_stops_in_the_rtls_cycle() -> None:
    """A random program without its END: the RTL stops with STATUS.error, code NO_END; the
    model raises MachineStop with that code and the RTL's error-pulse cycle."""
    from hwcnn.arch.dma import ErrorCode
    from hwcnn.machine.socsim import MachineStop

    p = _params(WS)
    prog = _rand_program(p, np.random.default_rng(1), 1)[:-1]
    code = to_bytes(prog)
    dram = np.zeros(BASE + 0x1000, np.uint8)
    dram[:len(code)] = np.frombuffer(code, np.uint8)
    res = rtl_run(p, dram, base=BASE, prog_base=0, prog_len=len(prog), win=(0, len(dram)),
                  timing=timing(8, 8))
    assert res["status"] == 0b100 | ErrorCode.NO_END << 8, hex(res["status"])
    with pytest.raises(MachineStop) as exc:
        run_insns(prog, target=p.target, array=p.config.array, bus_bytes=p.bus_bytes,
                  dram=timing(8, 8), base=BASE, prog_base=0, window=(0, len(dram)))
    assert exc.value.code == ErrorCode.NO_END
    assert exc.value.cycle == res["cycles"] == res["cycles_reg"] > 100


def test_negative_control_a_slower_dram_changes_the_count() -> None:
    p = _params(WS)
    prog = _rand_program(p, np.random.default_rng(1), 2)
    a = _model(p, prog, 8, 8)
    b = _model(p, prog, 9, 8)
    assert b.cycles > a.cycles
