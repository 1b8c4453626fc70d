"""The store unit and the compute executor inside the whole-machine cycle model
(:mod:`.socsim`), cycle by cycle as ``hw/soc/store.py``, ``pack.py`` and ``compute.py``
document them (timing only: the descriptors, the word reads, the packer's byte counts and the
beat FIFO that feeds the DMA's W channel)."""

from __future__ import annotations

from collections import deque
from typing import Any

from ..arch.config import ArrayConfig
from ..arch.dma import DmaDesc
from ..arch.soc import (
    STORE_BEAT_FIFO,
    STORE_CHUNK_BYTES,
    STORE_COUNT_BITS,
    STORE_MAX_ROWS,
    STORE_READER_DEPTH,
    store_contiguous,
)
from ..arch.timing import (
    COMPUTE_NOP_CYCLES,
    compute_insn_cycles,
    gemm_tile_cycles,
    pool_tile_cycles,
)
from ..isa.fields import SIZE_FIELDS, Buffer, Insn, MemMode, Opcode
from .socload import SocModelError

#: Largest WORDS descriptor (bytes) and PIXELS descriptor (rows) of the store unit.
CHUNK_BYTES, MAX_ROWS = STORE_CHUNK_BYTES, STORE_MAX_ROWS
#: Words the store reader holds; beats between the packer and the DMA (``hw.soc.pack``).
READER_DEPTH, BEAT_FIFO = STORE_READER_DEPTH, STORE_BEAT_FIFO


class StoreUnitModel:
    """``StoreUnit``: a DMA write client and the store queue's executor."""

    def __init__(self, *, target: Any, bus_bytes: int, base: int) -> None:
        self.t, self.nb, self.base = target, bus_bytes, base
        lanes, bits = target.lanes(Buffer.OUT), target.lane_bits(Buffer.OUT)
        self.lanes, self.eb = lanes, -(-bits // 8)
        self.wb = -(-lanes * bits // 8)
        self.depth = target.depth(Buffer.OUT)
        self.state = "IDLE"
        self.f: dict[str, int] = {}
        self.ev_cmd, self.ev_status, self.ev_word = False, None, False
        self.active = False
        self.reqs: list[tuple[int, bool, bool, int]] = []
        self.r_i = 0
        self.pending: tuple[int, bool, bool, int] | None = None
        self.pq: deque[tuple[int, bool, bool, int]] = deque()
        self.cnt, self.tail = 0, False
        self.bq = 0                      # beats in the beat FIFO
        self.ev_addr = False
        self.pend, self.cred = False, 0  # the DMA's word requests: taken last cycle, answerable
        self.cur = self.rem = 0
        self.seq = False                 # a contiguous PIXELS store (one byte stream)
        self.mr = self.mpb = 0           # the bit-serial byte count's rows bits / addend
        self.pixels = False              # the instruction's mode is PIXELS
        #: cycle of the last W handshake of the current instruction
        self.last_w = -1

    def insn_ready(self) -> bool:
        return self.state == "IDLE"

    def status_valid(self) -> bool:
        return self.state == "STATUS"

    def word_valid(self) -> bool:
        return self.bq > 0 and self.cred != 0

    def addr_ready(self) -> bool:
        return self.pend + self.cred < READER_DEPTH

    def cmd(self) -> DmaDesc | None:
        if self.state != "CMD":
            return None
        f = self.f
        if self.mr:
            return None                       # the byte count is not complete yet
        if f["mode"] == MemMode.PIXELS and not self.seq:
            return DmaDesc(dram_addr=self.cur, rows=min(self.rem, MAX_ROWS),
                           row_bytes=f["elems"] * self.eb, row_stride=f["dram_stride"])
        room = CHUNK_BYTES - self.cur % CHUNK_BYTES
        return DmaDesc(dram_addr=self.cur, row_bytes=min(self.rem, room))

    def accept(self, insn: Insn) -> None:
        if insn.op is not Opcode.STORE:
            raise SocModelError(f"{insn.op.name} on the store unit")
        f = self.f = insn.get()
        self.state = "DECODE"
        self.seq = store_contiguous(f["mode"] == MemMode.PIXELS, f["elems"], f["dram_stride"],
                                    self.eb)
        self.mr, self.mpb, self.rem = (f["rows"] if self.seq else 0), f["elems"] * self.eb, 0
        self.pixels = f["mode"] == MemMode.PIXELS
        self.last_w = -1

    def finish_status(self) -> None:
        self.state = "IDLE"

    def _requests(self, start: int) -> list[tuple[int, bool, bool, int]]:
        """(piece bytes, first, last, row offset mod B) of every word read, in order."""
        f, nb = self.f, self.nb
        if f["mode"] == MemMode.WORDS:
            return [(self.wb, i == 0, i == f["rows"] - 1, start % nb) for i in range(f["rows"])]
        out = []
        for i in range(f["rows"]):
            erem = f["elems"]
            off = (start + i * f["dram_stride"]) % nb
            first = i == 0 or not self.seq
            while True:
                last = erem <= self.lanes
                out.append((min(erem, self.lanes) * self.eb, first,
                            last and (not self.seq or i == f["rows"] - 1), off))
                if last:
                    break
                first, erem = False, erem - self.lanes
        return out

    def update(self, t: int) -> None:
        st = self.state
        if st == "WAIT" or st == "CMD":
            self._datapath(t)
            if st == "WAIT" and self.ev_status is None and not self.mr:
                # waiting for the transfer's status (the byte count complete): no change
                self.ev_cmd, self.ev_word, self.ev_addr = False, False, False
                return
        else:                                 # the data path is held in reset (clear)
            self.pending, self.cnt, self.tail, self.bq = None, 0, False, 0
            self.pq.clear()
            self.pend, self.cred = False, 0
        f = self.f
        pixels = self.pixels
        mr = self.mr                          # the register in this cycle
        if mr:
            low = mr & ((1 << STORE_COUNT_BITS) - 1)
            self.rem += low * self.mpb
            self.mr, self.mpb = mr >> STORE_COUNT_BITS, self.mpb << STORE_COUNT_BITS
        if st == "DECODE":
            nop = f["rows"] == 0 or (pixels and f["elems"] == 0)
            self.state = "STATUS" if nop else "CHECK"
        elif st == "CHECK":
            fmax = (f["elems"] - 1) // self.lanes if pixels else 0
            maxw = (f["sram_base"] + fmax * f["fold_stride"] + (f["rows"] - 1) * f["sram_stride"]
                    if pixels else f["sram_base"] + f["rows"] - 1)
            if maxw >= self.depth:
                raise SocModelError("STORE beyond the output buffer (BUF_RANGE)")
            start = self.base + f["dram_base"]
            self.cur = start
            if not self.seq:
                self.rem = f["rows"] if pixels else f["rows"] * self.wb
            self.reqs, self.r_i = self._requests(start), 0
            self.active = True
            self.state = "CMD"
        elif st == "CMD" and not mr:
            if self.cur >> 32:
                raise SocModelError("STORE beyond 2**32 (DMA_WINDOW)")
            if self.ev_cmd:
                d = self.cmd()
                assert d is not None
                rowsm = pixels and not self.seq
                chunk = d.rows if rowsm else d.row_bytes
                self.cur += f["dram_stride"] * MAX_ROWS if rowsm else chunk
                self.rem -= chunk
                self.state = "WAIT"
        elif st == "WAIT" and self.ev_status is not None:
            if self.ev_status:
                raise SocModelError(f"DMA status {self.ev_status} on a store")
            if self.rem == 0:
                self.active = False
                self.state = "STATUS"
            else:
                self.state = "CMD"
        self.ev_cmd, self.ev_status, self.ev_word, self.ev_addr = False, None, False, False

    def _datapath(self, t: int) -> None:
        nb = self.nb
        level = self.bq                       # the beat FIFO's level register
        ev_word = self.ev_word
        self.cred += self.pend - ev_word
        self.pend = self.ev_addr
        if ev_word:
            self.bq = level - 1
            self.last_w = t
        pq = self.pq
        pending = self.pending
        fire = self.active and len(pq) + (pending is not None) < READER_DEPTH
        cnt, tail = self.cnt, self.tail
        if pq and not tail and cnt < nb:      # absorb a word piece
            n, first, last, off = pq.popleft()
            total = (off if first else cnt) + n
            end = last
        else:
            total, end = cnt, tail
        if (total >= nb or (end and total != 0)) and level != BEAT_FIFO:
            self.bq += 1
            if total > nb:
                self.cnt, self.tail = total - nb, end
            else:
                self.cnt, self.tail = 0, False
        else:
            self.cnt, self.tail = total, end
        if pending is not None:
            pq.append(pending)
        if fire:
            r_i = self.r_i
            self.pending = self.reqs[r_i]
            r_i += 1
            self.r_i = r_i
            if r_i == len(self.reqs):
                self.active = False
        else:
            self.pending = None


class ComputeModel:
    """The ComputeCore's GEMM / VEC executor: status ``compute_insn_cycles(T)`` after the
    handshake (``hwcnn.arch.timing``; a zero size: ``COMPUTE_NOP_CYCLES``), the next
    instruction from the cycle after the status."""

    def __init__(self, array: ArrayConfig) -> None:
        self.array = array
        self.busy = False
        self.ready_at = 0

    def insn_ready(self) -> bool:
        return not self.busy

    def status_valid_at(self, t: int) -> bool:
        return self.busy and t >= self.ready_at

    def accept(self, insn: Insn, t: int) -> None:
        f = insn.get()
        if insn.op in SIZE_FIELDS and any(f[x] == 0 for x in SIZE_FIELDS[insn.op]):
            self.busy, self.ready_at = True, t + COMPUTE_NOP_CYCLES     # a NOP
            return
        if insn.op is Opcode.GEMM:
            tile = gemm_tile_cycles(f["m"], f["n"], f["k"], self.array)
        elif insn.op is Opcode.VEC:
            tile = pool_tile_cycles(f["out_h"], f["out_w"], f["win_h"], f["win_w"], self.array)
        else:
            raise SocModelError(f"{insn.op.name} on the compute executor")
        self.busy, self.ready_at = True, t + compute_insn_cycles(tile)

    def finish_status(self) -> None:
        self.busy = False
