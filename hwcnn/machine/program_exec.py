"""Functional interpreter of a compiled instruction stream (not the cycle model).

:func:`run_program` executes a program the way the decoupled machine may: three units (load,
compute, store) each take their queue's instructions in order, and an instruction starts only
when the tokens it pops are there (:mod:`hwcnn.isa.queues`). The schedule is adversarial: by
default the load unit runs as far ahead as its tokens allow, then compute, with the store unit
last ("eager"), so a missing token shows up as an operand overwritten before it was used or
a tensor read from DRAM before it was stored; ``"store-first"`` prefers store, then compute
(an operand used before it was loaded); ``"random"`` picks any ready unit.

LOAD / LOAD2D / STORE move bytes between a copy of the DRAM image and the buffers
(``rtl/README.md`` 9.2); GEMM and VEC run the bit-exact tile kernels of
:mod:`hwcnn.machine.execution` on the operands read back from the buffers (one with a zero size
field, ``hwcnn.isa.fields.SIZE_FIELDS``, is a NOP). Buffers start
filled with garbage, so an operand that was never loaded does not happen to be right.
:func:`check_compiled` reads every layer's tensor back from DRAM and compares it with the
golden network (:func:`hwcnn.machine.verification.compare`); a layer the program keeps on chip
(``Compiled.on_chip``) has no tensor in DRAM and is not compared.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from ..arch.config import HardwareConfig
from ..compiler.backend import Compiled
from ..compiler.plan import PoolTile, Program
from ..compiler.progcheck import check_program
from ..compiler.qparams import PoolParams
from ..frontend import layers as L
from ..hw.layout import act_words, pack_word, unpack_word
from ..isa.disasm import is_nop
from ..isa.fields import Buffer, Insn, MemMode, Opcode, ProgramError
from ..isa.queues import INITIAL, TOKEN_DEPTH, Queue, queue_of, token_queue
from ..isa.target import Target
from ..numerics import fixedpoint as fp
from ..numerics.golden_ops import Requant
from ..numerics.quantize import QuantizedNetwork
from .execution import _run_gemm, _run_pool
from .results import Engine, Execution, LayerExecution
from .verification import Verification, compare

_ROUNDING = list(fp.Rounding)
_POOL = {0: L.PoolOp.MAX, 1: L.PoolOp.AVG, 2: L.PoolOp.SUM}


class _Machine:
    def __init__(self, target: Target, dram: np.ndarray, seed: int) -> None:
        self.t = target
        self.cfg = HardwareConfig(array=target.array)
        self.dram = dram
        a = target.array
        rng = np.random.default_rng(seed)
        junk = lambda d, n, bits: rng.integers(-(1 << (bits - 1)), 1 << (bits - 1),
                                               size=(d, n), dtype=np.int64)
        self.buf = {Buffer.ACT: junk(target.act, a.rows, a.act_bits),
                    Buffer.WGT: junk(target.weight, a.cols, a.weight_bits),
                    Buffer.OUT: junk(target.out, a.cols, a.act_bits)}
        self.param = np.stack([junk(target.param, a.cols, 16)] * 3, axis=-1) & 0xFFFF
        self.param[..., 2] %= 32       # a valid shift, so garbage parameters give garbage
        self.acc = junk(target.acc, a.cols, a.acc_bits)
        self.eb = target.elem_bytes

    # -- DRAM elements ------------------------------------------------------------------------
    def read(self, addr: np.ndarray) -> np.ndarray:
        v = np.zeros(addr.shape, np.int64)
        for b in range(self.eb):
            v |= self.dram[addr + b].astype(np.int64) << (8 * b)
        bits = 8 * self.eb
        return np.where(v >= 1 << (bits - 1), v - (1 << bits), v)

    def write(self, addr: np.ndarray, vals: np.ndarray) -> None:
        v = np.asarray(vals, np.int64) & ((1 << (8 * self.eb)) - 1)
        for b in range(self.eb):
            self.dram[addr + b] = (v >> (8 * b)) & 0xFF

    # -- instructions -------------------------------------------------------------------------
    def mem(self, insn: Insn) -> None:
        f = insn.get()
        rows = f["rows"]
        if rows == 0:
            return
        buf = Buffer(f["buffer"])
        if f["mode"] == MemMode.WORDS:
            wb = self.t.word_bytes(buf)
            for row in range(rows):
                lo = f["dram_base"] + row * wb
                if insn.op is Opcode.LOAD:
                    value = int.from_bytes(self.dram[lo:lo + wb].tobytes(), "little")
                    self._put_word(buf, f["sram_base"] + row, value)
                else:   # STORE reads the OUT buffer (progcheck)
                    packed = pack_word(self.buf[buf][f["sram_base"] + row], self.t.lane_bits(buf))
                    self.dram[lo:lo + wb] = np.frombuffer(packed.to_bytes(wb, "little"), np.uint8)
            return
        lanes = self.t.lanes(buf)
        i, e = np.meshgrid(np.arange(rows), np.arange(f["elems"]), indexing="ij")
        word = f["sram_base"] + (e // lanes) * f["fold_stride"] + i * f["sram_stride"]
        lane = e % lanes
        addr: np.ndarray = f["dram_base"] + i * f["dram_stride"] + e * self.eb
        mem = self.buf[buf]
        if insn.op is Opcode.LOAD:
            mem[np.unique(word)] = 0
            mem[word, lane] = self.read(addr)
        else:
            self.write(addr, mem[word, lane])

    def _put_word(self, buf: Buffer, addr: int, word: int) -> None:
        a = self.t.array
        if buf is Buffer.PARAM:
            lb = a.acc_bits + 37
            for c in range(a.cols):
                v = (word >> (c * lb)) & ((1 << lb) - 1)
                bias = v & ((1 << a.acc_bits) - 1)
                bias -= (bias >> (a.acc_bits - 1)) << a.acc_bits
                self.param[addr, c] = (bias, (v >> a.acc_bits) & ((1 << 31) - 1),
                                       v >> (a.acc_bits + 31))
            return
        bits = self.t.lane_bits(buf)
        self.buf[buf][addr] = unpack_word(word, self.t.lanes(buf), bits)

    def load2d(self, insn: Insn) -> None:
        f = insn.get()
        m, k = f["m"], f["k"]
        if m == 0:
            return
        i, kk = np.meshgrid(f["m0"] + np.arange(m), f["k0"] + np.arange(k), indexing="ij")
        oy, ox = np.divmod(i, f["out_w"])
        c, pos = kk % f["cg"], kk // f["cg"]
        ky, kx = np.divmod(pos, f["kw"])
        y = oy * f["sh"] - f["ph"] + ky * f["dh"]
        x = ox * f["sw"] - f["pw"] + kx * f["dw"]
        ok = (y >= 0) & (y < f["in_h"]) & (x >= 0) & (x < f["in_w"])
        addr = f["dram_base"] + ((np.where(ok, y, 0) * f["in_w"] + np.where(ok, x, 0))
                                 * f["pix_stride"] + c) * self.eb
        a = np.where(ok, self.read(addr), 0)
        words = act_words(a, self.cfg)
        r = self.t.array.rows
        self.buf[Buffer.ACT][f["sram_base"]:f["sram_base"] + len(words)] = [
            unpack_word(w, r, self.t.array.act_bits) for w in words]

    def read_a(self, base: int, m: int, k: int) -> np.ndarray:
        """``A[m x k]`` from the activation words (rtl/README.md 3; both dataflows)."""
        r = self.t.array.rows
        act = self.buf[Buffer.ACT]
        fk = -(-k // r)
        w = act[base:base + fk * m].reshape(fk, m, r)           # [kf, i, lane]
        return w.transpose(1, 0, 2).reshape(m, fk * r)[:, :k]

    def gemm(self, insn: Insn) -> None:
        f = insn.get()
        m, n, k = f["m"], f["n"], f["k"]
        c = self.t.array.cols
        fn = -(-n // c)
        a = self.read_a(f["a_base"], m, k)
        w = self.buf[Buffer.WGT][f["b_base"]:f["b_base"] + fn * k].reshape(fn, k, c)
        b = w.transpose(1, 0, 2).reshape(k, fn * c)[:, :n]
        p = self.param[f["p_base"]:f["p_base"] + fn].reshape(fn * c, 3)[:n]
        bias = p[:, 0] if f["bias_en"] else np.zeros(n, np.int64)
        m0, sh = (p[:, 1], p[:, 2]) if f["per_channel"] else (f["m0"], f["shift"])
        rq = Requant(m0=m0, shift=sh, lo=f["lo"], hi=f["hi"], bits=self.t.array.act_bits,
                     rounding=_ROUNDING[f["rounding"]],
                     mode=fp.Overflow.WRAP if f["wrap"] else fp.Overflow.SATURATE)
        acc_in = None
        if f["acc_in"]:
            acc_in = self.acc[:fn * m].reshape(fn, m, c).transpose(1, 0, 2).reshape(
                m, fn * c)[:, :n]
        y, _ = _run_gemm(Engine.GOLDEN, self.t.array, a, b, bias, rq, acc_in,
                         bool(f["acc_out"]))
        full = np.zeros((m, fn * c), np.int64)
        full[:, :n] = y
        words = full.reshape(m, fn, c).transpose(1, 0, 2).reshape(fn * m, c)
        if f["acc_out"]:
            self.acc[:fn * m] = words
        else:
            self.buf[Buffer.OUT][f["c_base"]:f["c_base"] + fn * m] = words

    def vec(self, insn: Insn) -> None:
        f = insn.get()
        c = self.t.array.cols
        nin = f["in_h"] * f["in_w"]
        out = self.buf[Buffer.OUT]
        band = out[f["pin_base"]:f["pin_base"] + nin].T.reshape(c, f["in_h"], f["in_w"])
        t = PoolTile(layer="", index=0, c0=0, channels=c, oy0=0, out_h=f["out_h"],
                     out_w=f["out_w"], iy0=0, in_h=f["in_h"], in_w=f["in_w"],
                     win=(f["win_h"], f["win_w"]), stride=(f["stride_h"], f["stride_w"]),
                     pad=(f["pad_top"], f["pad_left"]), out_bytes=0, dram_read=0, dram_write=0,
                     double_buffered=False, count_pad=bool(f["count_pad"]),
                     pad_far=(f["pad_bottom"], f["pad_right"]))
        pp = PoolParams(op=_POOL[f["pool_op"]], lo=f["lo"], hi=f["hi"], m0=f["m0"],
                        shift=f["shift"], rounding=_ROUNDING[f["rounding"]],
                        mode=fp.Overflow.WRAP if f["wrap"] else fp.Overflow.SATURATE)
        y, _ = _run_pool(Engine.GOLDEN, self.t.array, band.astype(np.int64), t, pp)
        nout = f["out_h"] * f["out_w"]
        out[f["c_base"]:f["c_base"] + nout] = y.reshape(c, nout).T

    def execute(self, insn: Insn) -> None:
        match insn.op:
            case Opcode.LOAD | Opcode.STORE:
                self.mem(insn)
            case Opcode.LOAD2D:
                self.load2d(insn)
            case Opcode.GEMM | Opcode.VEC if is_nop(insn):
                pass                    # a zero size (isa.fields.SIZE_FIELDS): a NOP
            case Opcode.GEMM:
                self.gemm(insn)
            case Opcode.VEC:
                self.vec(insn)


def run_program(insns: Sequence[Insn], target: Target, image: bytes, dram_size: int, *,
                schedule: str = "eager", seed: int = 0, check: bool = True) -> np.ndarray:
    """Execute ``insns`` on a copy of ``image`` (zero-extended to ``dram_size`` bytes); return
    the DRAM after END. ProgramError on a deadlock (no unit can start) or a token overflow."""
    if check:
        check_program(insns, target)
    dram = np.zeros(dram_size, np.uint8)
    dram[:len(image)] = np.frombuffer(image, np.uint8)
    mach = _Machine(target, dram, seed)
    queues: dict[Queue, list[int]] = {q: [] for q in Queue}
    for i, insn in enumerate(insns):
        queues[queue_of(insn)].append(i)
    heads = {q: 0 for q in Queue}
    count = dict(INITIAL)
    rng = random.Random(seed)

    def ready(q: Queue) -> bool:
        if heads[q] >= len(queues[q]):
            return False
        insn = insns[queues[q][heads[q]]]
        need: dict[str, int] = {}
        for bit in ("pop_prev", "pop_next"):
            if insn[bit]:
                tq = token_queue(q, bit)
                assert tq is not None
                need[tq] = need.get(tq, 0) + 1
        return all(count[tq] >= n for tq, n in need.items())

    while any(heads[x] < len(queues[x]) for x in Queue):
        cands = [x for x in Queue if ready(x)]
        if not cands:
            left = {x.name.lower(): len(queues[x]) - heads[x] for x in Queue}
            raise ProgramError(f"deadlock: no unit can start (instructions left {left}, "
                               f"tokens {count})")
        q = (rng.choice(cands) if schedule == "random" else
             cands[-1] if schedule == "store-first" else cands[0])
        idx = queues[q][heads[q]]
        insn = insns[idx]
        heads[q] += 1
        for bit in ("pop_prev", "pop_next"):
            if insn[bit]:
                count[token_queue(q, bit) or ""] -= 1
        mach.execute(insn)
        for bit in ("push_prev", "push_next"):
            if insn[bit]:
                tq = token_queue(q, bit) or ""
                count[tq] += 1
                if count[tq] > TOKEN_DEPTH:
                    raise ProgramError(f"instruction {idx}: {tq} overflows")
    return dram


def read_tensor(comp: Compiled, dram: np.ndarray, layer: str) -> np.ndarray:
    """Layer ``layer``'s value read back from DRAM, in the layer's (channels-first) shape."""
    v = comp.views[layer]
    base = comp.region(v.region).offset + v.rel
    p, c = np.meshgrid(np.arange(v.pixels), np.arange(v.channels), indexing="ij")
    mach = _Machine.__new__(_Machine)
    mach.dram, mach.eb = dram, comp.target.elem_bytes
    vals = mach.read(base + (p * v.pix_stride + c) * comp.target.elem_bytes)
    return vals.T.reshape(comp.shapes[layer])


def compare_dram(comp: Compiled, program: Program, qnet: QuantizedNetwork, x: np.ndarray,
                 dram: np.ndarray) -> Verification:
    """Every layer of ``program`` stored in DRAM read back from ``dram`` (the image's offset 0
    first) and compared with the golden network (cycles are not part of it: reported as 0).
    A layer the program keeps on chip (``comp.on_chip``: a conv pooled in the output buffer)
    has no tensor in DRAM and is left out; its pool's output is compared."""
    host = {p.name: (p.host or p.name) for p in program.layers}
    tail = {host[p.name]: p.name for p in program.layers}
    out = []
    for p in program.layers:
        if p.name in comp.on_chip:
            continue
        y = read_tensor(comp, dram, p.name)
        out.append(LayerExecution(name=p.name, unit=p.unit, host=host[p.name],
                                  represents=tail[host[p.name]], tiles=p.tiles, cycles=0,
                                  predicted_cycles=0, cycle_mismatch=None, output=y,
                                  writer=np.full(y.shape, -1, np.int64)))
    return compare(Execution(engine=Engine.GOLDEN, layers=tuple(out)), qnet, x)


def check_compiled(comp: Compiled, program: Program, qnet: QuantizedNetwork, x: np.ndarray,
                   *, schedule: str = "eager", seed: int = 0) -> Verification:
    """Run ``comp`` (compiled with input ``x``) on the functional interpreter and compare
    every layer read back from DRAM with the golden network (:func:`compare_dram`)."""
    size = comp.regions[-1].offset + comp.regions[-1].size
    dram = run_program(comp.insns, comp.target, comp.image, size, schedule=schedule, seed=seed)
    return compare_dram(comp, program, qnet, x, dram)
