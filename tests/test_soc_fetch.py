"""Fetch, instruction queues, tokens and dispatchers (``hwcnn.hw.soc.top.Frontend``) in
Amaranth's simulator, with the real DMA behind a testbench AXI RAM and executors written here.

The executors are testbench processes implementing ``UnitSignature``: they take an instruction,
wait a (random) number of cycles, then apply it to a shared functional machine
(``program_exec._Machine``: DRAM + buffers, atomically) and offer a status. So a compiled
tiny_cnn run through the RTL's fetch / tokens / dispatch reads back from DRAM equal to the
golden model only if the RTL honours every token; the order in which instructions start and
finish is also checked against the token rules directly (no counter below 0 or above the
depth at any cycle, each queue in program order, one instruction at a time).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hwcnn.arch.config import Dataflow
from hwcnn.arch.dma import ErrorCode
from hwcnn.hw.axi.bus import Resp
from hwcnn.hw.axi.dma import Dma
from hwcnn.hw.soc.ports import DMA_BUF_ADDR_BITS
from hwcnn.hw.soc.top import EXECUTOR_PORTS, Frontend
from hwcnn.isa import Buffer, Insn, Opcode, Queue, decode, encode, make, queue_of, to_bytes
from hwcnn.isa.queues import INITIAL, TOKEN_DEPTH, token_queue
from hwcnn.machine.program_exec import _Machine, read_tensor
from hwcnn.numerics.golden import run_network
from tests.test_program import _compiled

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY


# --- a testbench AXI4 slave over a NumPy DRAM ------------------------------------------------------
@dataclass
class AxiRam:
    """AXI4 slave: AR/AW/W ready, the first R beat ``latency`` cycles after AR, one beat per
    cycle, B ``latency`` cycles after WLAST; SLVERR for any byte in ``bad``. With ``stall`` > 0
    every ready and every new R / B valid is withheld in a random fraction ``stall`` of the
    cycles (back-pressure; a valid once offered stays until taken, as AXI requires)."""

    bus: object
    dram: np.ndarray
    nb: int
    latency: int = 4
    bad: tuple[int, int] = (0, 0)
    stall: float = 0.0
    seed: int = 0
    reads: int = 0          # AR handshakes seen
    writes: int = 0         # AW handshakes seen

    def _resp(self, addr: int) -> int:
        lo, hi = self.bad
        return Resp.SLVERR if lo < addr + self.nb and addr < hi else Resp.OKAY

    async def run(self, ctx) -> None:  # type: ignore[no-untyped-def]
        b, nb = self.bus, self.nb
        rq: list[list[int]] = []   # [ready cycle, addr, beats left]
        wq: list[list[int]] = []   # [addr, beat]
        bq: list[list[int]] = []   # [ready cycle, resp]
        wbad = 0
        rng = random.Random(self.seed)
        go = lambda: self.stall == 0 or rng.random() >= self.stall
        cycle = 0
        rv = bv = False
        while True:
            ar_ok, aw_ok, w_ok = go(), go(), go()
            for sig, ok in ((b.arready, ar_ok), (b.awready, aw_ok), (b.wready, w_ok)):
                ctx.set(sig, ok)
            rv = rv or (bool(rq) and rq[0][0] <= cycle and go())
            if rv:
                a = rq[0][1]
                ctx.set(b.rdata, int.from_bytes(self.dram[a:a + nb].tobytes(), "little"))
                ctx.set(b.rlast, rq[0][2] == 1)
                ctx.set(b.rresp, self._resp(a))
            ctx.set(b.rvalid, rv)
            bv = bv or (bool(bq) and bq[0][0] <= cycle and go())
            ctx.set(b.bvalid, bv)
            if bv:
                ctx.set(b.bresp, bq[0][1])
            (_, _, arv, ara, arl, rr, awv, awa, wv, wd, ws, wl, br) = await ctx.tick().sample(
                b.arvalid, b.araddr, b.arlen, b.rready, b.awvalid, b.awaddr, b.wvalid,
                b.wdata, b.wstrb, b.wlast, b.bready)
            arv, awv, wv = arv and ar_ok, awv and aw_ok, wv and w_ok
            if arv:
                rq.append([cycle + self.latency, ara, arl + 1])
                self.reads += 1
            if rv and rr:
                rv = False
                rq[0][1] += nb
                rq[0][2] -= 1
                if rq[0][2] == 0:
                    rq.pop(0)
            if awv:
                wq.append([awa, 0])
                self.writes += 1
            if wv:
                a = wq[0][0] + nb * wq[0][1]
                if self._resp(a):
                    wbad = 1
                else:
                    for lane in range(nb):
                        if ws >> lane & 1:
                            self.dram[a + lane] = wd >> 8 * lane & 0xFF
                wq[0][1] += 1
                if wl:
                    wq.pop(0)
                    bq.append([cycle + self.latency, Resp.SLVERR if wbad else Resp.OKAY])
                    wbad = 0
            if bv and br:
                bv = False
                bq.pop(0)
            cycle += 1


# --- executors written in the test -------------------------------------------------------------------
@dataclass
class Log:
    """Per instruction (program index): handshake cycle, status cycle; per queue the order."""

    start: dict[int, int] = field(default_factory=dict)
    finish: dict[int, int] = field(default_factory=dict)
    order: dict[str, list[int]] = field(default_factory=dict)


class Executor:
    """A UnitSignature server: always ready when idle, ``delay(insn)`` cycles of work, then the
    instruction applied to ``machine`` and its status (``fail(index)``) offered until taken."""

    def __init__(self, port, name: str, insns: list[Insn], machine: _Machine | None, log: Log,
                 delay, fail=lambda i: 0) -> None:  # type: ignore[no-untyped-def]
        self.port, self.name, self.machine, self.log = port, name, machine, log
        self.delay, self.fail = delay, fail
        q = EXECUTOR_PORTS[name][0]
        mine = [i for i, ins in enumerate(insns) if queue_of(ins) is q and ins.op is not Opcode.END]
        if name in ("gemm", "cload"):
            mine = [i for i in mine if (insns[i].op is Opcode.LOAD) == (name == "cload")]
        self.expect = mine
        self.insns = insns
        log.order[name] = []

    async def run(self, ctx) -> None:  # type: ignore[no-untyped-def]
        p = self.port
        cycle = 0
        ctx.set(p.insn.ready, 1)
        while True:
            _, _, v, word = await ctx.tick().sample(p.insn.valid, p.insn.payload)
            if not v:
                cycle += 1
                continue
            ins = decode(word)
            k = len(self.log.order[self.name])
            assert k < len(self.expect), (self.name, ins)
            idx = self.expect[k]
            assert ins == self.insns[idx], (self.name, idx, ins)
            self.log.order[self.name].append(idx)
            self.log.start[idx] = cycle
            ctx.set(p.insn.ready, 0)
            cycle += 1
            for _ in range(self.delay(ins) - 1):
                await ctx.tick()
                cycle += 1
            if self.machine is not None:
                self.machine.execute(ins)
            ctx.set(p.status.valid, 1)
            ctx.set(p.status.payload, self.fail(idx))
            while True:
                _, _, r = await ctx.tick().sample(p.status.ready)
                if r:
                    break
                cycle += 1
            self.log.finish[idx] = cycle
            cycle += 1
            ctx.set(p.status.valid, 0)
            ctx.set(p.insn.ready, 1)


@dataclass
class Run:
    cycles: int
    done: bool
    error: bool
    code: int
    log: Log
    ram: AxiRam
    unit_busy: list[int]
    first: tuple[bool, bool, int]


def run_frontend(insns: list[Insn], *, dram: np.ndarray | None = None, dw: int = 64,
                 prog_base: int = 0, machine: _Machine | None = None, delay=None,
                 fail=lambda i: 0, bad: tuple[int, int] = (0, 0), limit: int = 20000,
                 stall: float = 0.0, then: tuple[int, int] | None = None,
                 expect: list[Insn] | None = None, **fetch_args) -> Run:  # type: ignore[no-untyped-def]
    """Start the Frontend on ``insns`` at ``prog_base`` and run until it stops; with ``then``
    = (prog_base, prog_len) start it again afterwards (the returned Run is the last one, the
    first one's (done, error, code) in ``Run.first``). The executors expect ``expect`` (default
    ``insns``) in order."""
    if dram is None:
        dram = np.zeros(max(4096, prog_base + 32 * len(insns) + 64), np.uint8)
        dram[prog_base:prog_base + 32 * len(insns)] = np.frombuffer(to_bytes(insns), np.uint8)
    fe = Frontend(dw, **fetch_args)
    dma = Dma(data_width=dw, buf_addr_width=DMA_BUF_ADDR_BITS, outstanding=2,
              read_clients=("fetch",), write_clients=("store",))
    top = Module()
    top.submodules.fe, top.submodules.dma = fe, dma
    for mem in ("cmd", "status", "beats"):
        wiring.connect(top, getattr(fe.dma, mem), getattr(dma, f"fetch_{mem}"))
    ram = AxiRam(dma.m_axi, dram, dw // 8, bad=bad, stall=stall)
    log = Log()
    rng = random.Random(7)
    delay = delay or (lambda ins: rng.randint(1, 12))
    execs = [Executor(getattr(fe, n), n, expect or insns, machine, log, delay, fail)
             for n in EXECUTOR_PORTS]
    res: dict[str, object] = {}
    runs = [(prog_base, len(insns))] + ([then] if then else [])

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dma.win_size, len(dram))
        for base, length in runs:
            ctx.set(fe.prog_base, base)
            ctx.set(fe.prog_len, length)
            ctx.set(fe.start, 1)
            await ctx.tick()
            ctx.set(fe.start, 0)
            busy = [0, 0, 0, 0]
            for cycle in range(1, limit):
                _, _, b, d, e, c, ub = await ctx.tick().sample(fe.busy, fe.done, fe.error,
                                                                fe.code, fe.unit_busy)
                for u in range(4):
                    busy[u] += ub >> u & 1
                if d or e or not b:
                    _, _, b2 = await ctx.tick().sample(fe.busy)
                    assert not b2, "busy after done/error"
                    if "first" not in res:
                        res["first"] = (bool(d), bool(e), c)
                    res.update(cycles=cycle, done=bool(d), error=bool(e), code=c, busy=busy)
                    break
            else:
                raise AssertionError(f"no done/error after {limit} cycles (a hang)")

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(ram.run, background=True)
    for ex in execs:
        sim.add_testbench(ex.run, background=True)
    sim.run()
    return Run(cycles=res["cycles"], done=res["done"], error=res["error"], code=res["code"],
               log=log, ram=ram, unit_busy=res["busy"], first=res["first"])


def check_tokens(insns: list[Insn], log: Log) -> None:
    """Every dispatched instruction popped its tokens in the cycle before its handshake and
    pushed them in its status cycle; replay those events in time: no counter below 0 or above
    the depth; per queue one instruction at a time."""
    events: list[tuple[int, int, str]] = []     # (cycle, +1/-1, token queue); pushes count next cycle
    for i, t in log.start.items():
        q = queue_of(insns[i])
        for bit in ("pop_prev", "pop_next"):
            if insns[i][bit] and token_queue(q, bit):
                events.append((t - 1, -1, token_queue(q, bit) or ""))
        if i in log.finish:
            for bit in ("push_prev", "push_next"):
                if insns[i][bit] and token_queue(q, bit):
                    events.append((log.finish[i] + 1, +1, token_queue(q, bit) or ""))
    count = dict(INITIAL)
    for _c, d, tq in sorted(events, key=lambda e: (e[0], -e[1])):
        count[tq] += d
        assert 0 <= count[tq] <= TOKEN_DEPTH, (tq, count)
    for q in Queue:
        mine = sorted((log.start[i], log.finish[i]) for i in log.start if queue_of(insns[i]) is q)
        for (_s0, f0), (s1, _f1) in itertools.pairwise(mine):
            assert s1 > f0 + 1, q        # the next handshake comes after the status was taken


def golden_check(comp, prog, q, x, dram: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Every layer read back from ``dram`` equals the golden network (as check_compiled; a
    layer kept on chip, ``comp.on_chip``, has no tensor to read)."""
    ref = run_network(q, x)
    host = {p.name: (p.host or p.name) for p in prog.layers}
    tail = {host[p.name]: p.name for p in prog.layers}
    for p in prog.layers:
        if p.name in comp.on_chip:
            continue
        want = np.asarray(ref.tensor(q, tail[host[p.name]]))
        got = read_tensor(comp, dram, p.name)
        assert np.array_equal(got.reshape(-1), want.reshape(-1)), p.name
    assert len(np.unique(got)) > 1


# --- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("df, dw, stall", [(WS, 64, 0.0), (OS, 128, 0.0), (WS, 256, 0.0),
                                           (OS, 64, 0.5)])
def test_tiny_cnn_through_fetch_and_tokens_equals_golden(df: Dataflow, dw: int,
                                                         stall: float) -> None:
    prog, q, x, comp = _compiled("tiny_cnn", df)
    size = comp.regions[-1].offset + comp.regions[-1].size
    dram = np.zeros(size, np.uint8)
    dram[:len(comp.image)] = np.frombuffer(comp.image, np.uint8)
    mach = _Machine(comp.target, dram, seed=5)
    r = run_frontend(list(comp.insns), dram=dram, dw=dw, machine=mach, stall=stall)
    assert r.done and not r.error and r.code == 0
    insns = list(comp.insns)
    assert sorted(r.log.start) == [i for i, s in enumerate(insns) if s.op is not Opcode.END]
    check_tokens(insns, r.log)
    golden_check(comp, prog, q, x, mach.dram)
    assert r.ram.reads == -(-len(insns) // 8)      # chunks of 8 instructions, one burst each
    assert all(b > 0 for b in r.unit_busy)


def test_slow_compute_fills_a_token_queue_and_the_load_unit_waits_for_room() -> None:
    """10 loads each push l2g, 10 GEMMs each pop one (replay peak 1). With a slow compute unit
    the load unit runs ahead until l2g holds TOKEN_DEPTH tokens, then waits for room."""
    body = []
    for _ in range(10):
        body += [make(Opcode.LOAD, buffer=Buffer.WGT, push_next=1), make(Opcode.GEMM, pop_prev=1)]
    insns = body + [make(Opcode.END)]
    slow = lambda ins: 300 if ins.op is Opcode.GEMM else 1
    r = run_frontend(insns, delay=slow, queue_depth=16, buffer=16)
    assert r.done
    check_tokens(insns, r.log)
    loads = [i for i, s in enumerate(insns) if s.op is Opcode.LOAD]
    gemms = [i for i, s in enumerate(insns) if s.op is Opcode.GEMM]
    # loads 0-8 push 9 tokens, GEMM 0 pops one: the last load's status (offered one cycle
    # after its handshake) is taken only once GEMM 1 has popped, 300 cycles later
    assert r.log.start[loads[9]] < r.log.start[gemms[1]] - 150
    assert r.log.finish[loads[9]] == r.log.start[gemms[1]]


@pytest.mark.parametrize("chunk, buffer, depth", [(2, 2, 1), (3, 4, 2)])
def test_full_queues_stall_fetch_in_order(chunk: int, buffer: int, depth: int) -> None:
    prog, q, x, comp = _compiled("tiny_cnn", OS)
    size = comp.regions[-1].offset + comp.regions[-1].size
    dram = np.zeros(size, np.uint8)
    dram[:len(comp.image)] = np.frombuffer(comp.image, np.uint8)
    mach = _Machine(comp.target, dram, seed=1)
    r = run_frontend(list(comp.insns), dram=dram, machine=mach, chunk=chunk, buffer=buffer,
                     queue_depth=depth)
    assert r.done
    check_tokens(list(comp.insns), r.log)
    golden_check(comp, prog, q, x, mach.dram)


def _nops(n: int) -> list[Insn]:
    return [make(Opcode.LOAD, buffer=Buffer.ACT), make(Opcode.STORE, buffer=Buffer.OUT),
            make(Opcode.GEMM)] * n


def test_illegal_opcode_stops_fetch() -> None:
    insns = _nops(3) + [make(Opcode.END)]
    bad = encode(make(Opcode.LOAD, buffer=Buffer.WGT)) & ~0b111 | 7
    words = [encode(i) for i in insns]
    words.insert(5, bad)
    dram = np.zeros(4096, np.uint8)
    dram[64:64 + 32 * len(words)] = np.frombuffer(
        b"".join(w.to_bytes(32, "little") for w in words), np.uint8)
    r = run_frontend(insns, dram=dram, prog_base=64)
    r2 = run_frontend([*insns[:5], make(Opcode.END)], prog_base=64)   # negative control
    assert r2.done and r2.code == 0
    assert r.error and not r.done and r.code == ErrorCode.ILLEGAL_OPCODE == 4
    # nothing after it runs (what was queued before it is abandoned once the error stops dispatch)
    assert {0, 1, 2} <= set(r.log.start) <= {0, 1, 2, 3, 4}
    assert set(r.log.finish) == set(r.log.start)


def test_prog_base_alignment() -> None:
    insns = _nops(1) + [make(Opcode.END)]
    r = run_frontend(insns, prog_base=48)
    assert r.error and r.code == ErrorCode.PROG_ALIGN == 6
    assert r.ram.reads == 0 and not r.log.start and r.cycles <= 3
    assert run_frontend(insns, prog_base=32).done


def test_unit_error_stops_the_machine() -> None:
    _, _, _, comp = _compiled("tiny_cnn", WS)
    insns = list(comp.insns)
    gemms = [i for i, s in enumerate(insns) if s.op is Opcode.GEMM]
    r = run_frontend(insns, fail=lambda i: ErrorCode.BUF_RANGE if i == gemms[1] else 0,
                     delay=lambda ins: 3)
    assert r.error and not r.done and r.code == ErrorCode.BUF_RANGE == 5
    assert gemms[1] in r.log.finish
    after = [i for i in r.log.start if r.log.start[i] > r.log.finish[gemms[1]]]
    assert after == []          # nothing is dispatched once the error is seen
    assert not [i for i in r.log.start if i not in r.log.finish]   # and every unit finished
    assert len(r.log.start) < len(insns) - 1


def test_fetch_dma_error() -> None:
    insns = _nops(6) + [make(Opcode.END)]
    r = run_frontend(insns, bad=(32 * 9, 32 * 9 + 1))    # the second chunk
    assert r.error and r.code == ErrorCode.DMA_SLVERR == 2
    assert max(r.log.start) < 8                          # nothing of the second chunk routed
    assert run_frontend(insns).done                      # negative control


def test_program_without_end_stops_with_no_end() -> None:
    """Every instruction runs, none is END: error NO_END once the last one has finished and
    fetch and the queues are idle; PROG_LEN = 0: NO_END in cycle 1, nothing read."""
    r = run_frontend(_nops(2))
    assert r.error and not r.done and r.code == ErrorCode.NO_END == 7
    assert len(r.log.finish) == 6 and r.cycles == max(r.log.finish.values()) + 1
    r = run_frontend([])
    assert r.error and not r.done and r.code == ErrorCode.NO_END
    assert r.cycles == 1 and r.ram.reads == 0 and not r.log.start
    r = run_frontend([], prog_base=48)          # a kept code takes precedence over NO_END
    assert r.error and r.code == ErrorCode.PROG_ALIGN and r.cycles == 1


def test_negative_control_a_dropped_token_gives_wrong_outputs() -> None:
    """Without the first GEMM's l2g pop (and slow loads) the GEMM runs on operands that were
    never loaded: the golden comparison above is not vacuous."""
    prog, q, x, comp = _compiled("tiny_cnn", WS)
    insns = list(comp.insns)
    first = next(i for i, s in enumerate(insns) if s.op is Opcode.GEMM)
    f = insns[first].get()
    f.pop("opcode")
    f["pop_prev"] = 0
    insns[first] = make(Opcode.GEMM, **f)
    size = comp.regions[-1].offset + comp.regions[-1].size
    dram = np.zeros(size, np.uint8)
    dram[:len(comp.image)] = np.frombuffer(comp.image, np.uint8)
    dram[:32 * len(insns)] = np.frombuffer(to_bytes(insns), np.uint8)
    mach = _Machine(comp.target, dram, seed=5)
    r = run_frontend(insns, dram=dram, machine=mach,
                     delay=lambda ins: 30 if queue_of(ins) is Queue.LOAD else 2)
    assert r.done
    assert dict(comp.on_chip) == {"conv1": "pool1"}   # conv1 pooled in OUT: seen in pool1
    with pytest.raises(AssertionError, match="pool1"):
        golden_check(comp, prog, q, x, mach.dram)


def test_start_after_an_error_flushes_the_queues_and_recharges_the_tokens() -> None:
    """Run A leaves a STORE waiting for g2s in the store FIFO and three l2g tokens, and stops
    on an illegal opcode (in its second chunk, after its loads); run B (a LOAD pushing l2g, a
    GEMM popping it) must see none of it: the STORE is never dispatched and the GEMM waits
    for B's own (slow) LOAD."""
    a = ([make(Opcode.STORE, buffer=Buffer.OUT, pop_prev=1)]
         + [make(Opcode.LOAD, buffer=Buffer.WGT, push_next=1)] * 3
         + [make(Opcode.LOAD, buffer=Buffer.WGT)] * 4)
    b = [make(Opcode.LOAD, buffer=Buffer.ACT, push_next=1), make(Opcode.GEMM, pop_prev=1),
         make(Opcode.END)]
    words = [encode(i) for i in a] + [7] * 8 + [encode(i) for i in b]
    dram = np.zeros(4096, np.uint8)
    dram[:32 * len(words)] = np.frombuffer(b"".join(w.to_bytes(32, "little") for w in words),
                                           np.uint8)
    slow_act = lambda ins: 60 if ins.op is Opcode.LOAD and ins["buffer"] == Buffer.ACT else 1
    r = run_frontend(a * 2, dram=dram, then=(32 * 16, 3), expect=a[1:] + b, delay=slow_act)
    assert r.first == (False, True, ErrorCode.ILLEGAL_OPCODE)
    assert r.done and r.code == 0
    assert r.log.order["store"] == []
    assert r.log.order["load"] == list(range(8)) and r.log.order["gemm"] == [8]
    assert r.log.start[8] == r.log.finish[7] + 2      # B's GEMM pops B's push, nothing stale
    # the LOAD took 60 cycles: a stale l2g token would have let the GEMM start long before
    assert r.log.finish[7] - r.log.start[7] >= 59
