"""The load units inside the whole-machine cycle model (:mod:`.socsim`): LOAD (WORDS, PIXELS)
and LOAD2D, cycle by cycle as ``hw/soc/load.py``, ``align.py`` and ``im2col.py`` document them.

Only timing is modelled (no data): the descriptors the unit issues, the byte aligner's count
(``beats.ready = rest <= U``), one buffer write per cycle (a word, a PIXELS word piece of ``min(L, elems - e)`` elements, or a LOAD2D run:
:meth:`Im2colModel._element_plan` lists every element's run as ``im2col.py`` defines it, and
an in-bounds run is cut to ``min(nmax, cnt div eb)`` elements), the im2col set-up and its
descriptor and element walkers. Programs the compiler accepts raise no error code here; an instruction the
unit would refuse raises :class:`SocModelError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arch.config import Dataflow
from ..arch.dma import DmaDesc
from ..arch.soc import (
    IM2COL_PHASES,
    LOAD_OUTSTANDING,
    LOAD_PIXEL_CHUNK,
    LOAD_WORD_CHUNK,
    im2col_run_max,
    load_contiguous,
    store_count_ready,
)
from ..errors import HwcnnError
from ..isa.fields import Buffer, Insn, MemMode, Opcode

#: Bytes per WORDS descriptor and pixels per PIXELS descriptor (``hw.soc.load``).
WORD_CHUNK, PIXEL_CHUNK = LOAD_WORD_CHUNK, LOAD_PIXEL_CHUNK
#: im2col set-up phases (``hw.soc.im2col``).
PHASES = IM2COL_PHASES


def pixel_lanes(target: Any, buf: Buffer) -> int:
    """Lanes ``L`` of a PIXELS word piece (``hw.soc.load.pixel_lanes``)."""
    return target.lanes(Buffer.ACT if buf is Buffer.ACT else Buffer.OUT)


class SocModelError(HwcnnError):
    """The program does something the cycle model does not cover (an error path)."""


class Im2colModel:
    """Descriptor walker and element walker of one LOAD2D (``hw/soc/im2col.py``): the walkers
    load their first pixel ``sum(PHASES)`` cycles after the start pulse and run from the next
    cycle."""

    def __init__(self, f: dict[str, int], base: int, eb: int, rows: int = 1,
                 nmax: int = 1, elements: bool = True) -> None:
        self.f, self.eb = f, eb
        self.rows, self.nmax = rows, nmax        # WS: lanes per word, in-bounds run cap
        self.base = base + f["dram_base"]
        self.full = f["k0"] == 0 and f["k"] == f["kh"] * f["kw"] * f["cg"]
        self.wait = sum(PHASES)
        self.gen_done = self.done = self.busy = False
        self.script = self._script()
        self.item = 0
        self.pre = self.script[0][0]
        # elements=False: the descriptor walker's script only (no element plan; not steppable)
        self.inb, self.run = self._element_plan() if elements else ([], [])
        self.e_i = 0

    def _pixel(self, i: int) -> tuple[int, int]:
        f = self.f
        oy, ox = divmod(f["m0"] + i, f["out_w"])
        return oy * f["sh"] - f["ph"], ox * f["sw"] - f["pw"]

    def _inside(self, y: int, x: int) -> bool:
        return 0 <= y < self.f["in_h"] and 0 <= x < self.f["in_w"]

    def _script(self) -> list[tuple[int, DmaDesc | None]]:
        """The descriptor walker's states as (plain cycles before an ISSUE, its descriptor);
        the last entry (descriptor None) counts the cycles up to and including the last NEXT."""
        f, eb = self.f, self.eb
        pix = f["pix_stride"] * eb
        pitch = pix * f["in_w"]
        out: list[tuple[int, DmaDesc | None]] = []
        pre = 0
        for i in range(f["m"]):
            y0, x0 = self._pixel(i)
            pre += 1                                               # PIX
            if self.full:
                ys = [j for j in range(f["kh"]) if 0 <= y0 + j * f["dh"] < f["in_h"]]
                xs = [j for j in range(f["kw"]) if 0 <= x0 + j * f["dw"] < f["in_w"]]
                pre += max(f["kh"], f["kw"]) + 1                   # SCAN, RECT
                if ys and xs:
                    ylo, xlo = y0 + ys[0] * f["dh"], x0 + xs[0] * f["dw"]
                    addr = self.base + ylo * pitch + xlo * pix
                    span = len(xs) * f["cg"] * eb
                    if f["dw"] * pix == f["cg"] * eb and span < 1 << 20:
                        # kernel columns adjacent in DRAM: one DMA row per kernel row
                        d = DmaDesc(dram_addr=addr, row_bytes=span, rows=len(ys),
                                    row_stride=f["dh"] * pitch, plane_stride=f["dh"] * pitch)
                    else:
                        d = DmaDesc(dram_addr=addr, row_bytes=f["cg"] * eb, rows=len(xs),
                                    row_stride=f["dw"] * pix, planes=len(ys),
                                    plane_stride=f["dh"] * pitch)
                    out.append((pre, d))                   # ISSUE after RECT
                    pre = 0
            else:
                cg, kw = f["cg"], f["kw"]
                pos0, clo = divmod(f["k0"], cg)
                ky, kx = divmod(pos0, kw)
                left = f["k"]
                while True:
                    n = min(cg - clo if cg > clo else left, left)
                    sy, sx = y0 + ky * f["dh"], x0 + kx * f["dw"]
                    pre += 1                                       # POS
                    if self._inside(sy, sx):
                        # ISSUE (its handshake steps to the next position)
                        out.append((pre, DmaDesc(
                            dram_addr=self.base + sy * pitch + sx * pix + clo * eb,
                            row_bytes=n * eb)))
                        pre = 0
                    if left == n:
                        break
                    left, clo, kx = left - n, 0, kx + 1
                    if kx == kw:
                        kx, ky = 0, ky + 1
            pre += 1                                               # NEXT
        out.append((pre, None))
        return out

    def _element_plan(self) -> tuple[list[bool], list[int]]:
        """Per element ``A[i, kk]`` (i-major): in bounds?, and the run starting there: the
        elements up to the first one that is in another word (WS: lane ``kk mod R`` back to 0;
        OS: every element), another pixel, another kernel row, (dw != 1) another kernel
        position, or of the other kind (padding / in bounds)."""
        f = self.f
        m, k, cg, kw = f["m"], f["k"], f["cg"], f["kw"]
        i = np.arange(m)[:, None]
        kk = np.arange(k)[None, :]
        oy, ox = np.divmod(f["m0"] + i, f["out_w"])
        pos = (f["k0"] + kk) // cg
        ky, kx = np.divmod(pos, kw)
        y = oy * f["sh"] - f["ph"] + ky * f["dh"]
        x = ox * f["sw"] - f["pw"] + kx * f["dw"]
        inb = (y >= 0) & (y < f["in_h"]) & (x >= 0) & (x < f["in_w"])
        # same run as the next element?
        key = ky if f["dw"] == 1 else pos
        cont = np.zeros((m, k), dtype=bool)
        if self.rows > 1:
            cont[:, :-1] = ((kk[:, 1:] % self.rows != 0) & (key[:, 1:] == key[:, :-1])
                            & (inb[:, 1:] == inb[:, :-1]))
        flat = cont.ravel()
        idx = np.arange(flat.size)
        ends = np.where(flat, flat.size, idx)            # a run's last element: its own index
        ends = np.minimum.accumulate(ends[::-1])[::-1]
        return inb.ravel().tolist(), (ends - idx + 1).tolist()

    # --- per cycle (comb from registers, then update) -------------------------------------
    def cmd(self) -> DmaDesc | None:
        if self.wait or self.gen_done or self.pre:
            return None
        return self.script[self.item][1]

    def _elems(self, cnt: int) -> int:
        """Elements written this cycle with ``cnt`` bytes in the aligner: a padding run whole,
        an in-bounds one up to ``nmax`` and the whole elements held."""
        if not self.busy:
            return 0
        n = self.run[self.e_i]
        if self.inb[self.e_i]:
            n = min(n, self.nmax, cnt // self.eb)
        return n

    def take(self, cnt: int) -> int:
        """Bytes the element walker takes from the aligner this cycle."""
        return self._elems(cnt) * self.eb if self.busy and self.inb[self.e_i] else 0

    def update(self, taken: bool, cnt: int) -> None:
        if self.wait:
            self.wait -= 1
            if self.wait == 0:
                self.busy = True
            return
        n = self._elems(cnt)
        if n:
            self.e_i += n
            if self.e_i == len(self.inb):
                self.busy, self.done = False, True
        if not self.gen_done:
            if self.pre:
                self.pre -= 1
                if self.pre == 0 and self.script[self.item][1] is None:
                    self.gen_done = True
            elif taken:
                self.item += 1
                self.pre = self.script[self.item][0]


class LoadUnitModel:
    """One ``LoadUnit`` (``hw/soc/load.py``) as a DMA read client and a unit executor."""

    def __init__(self, *, target: Any, bus_bytes: int, buffers: tuple[Buffer, ...],
                 base: int) -> None:
        self.t, self.nb, self.base = target, bus_bytes, base
        self.buffers = buffers
        self.os = target.array.dataflow is Dataflow.OUTPUT_STATIONARY
        self.nmax = im2col_run_max(target.array.rows, bus_bytes, target.elem_bytes, self.os)
        self.u = max([target.word_bytes(b) for b in buffers] + [target.elem_bytes]
                     + [pixel_lanes(target, b) * target.elem_bytes for b in buffers
                        if b is not Buffer.PARAM]
                     + ([target.elem_bytes * self.nmax] if Buffer.ACT in buffers else []))
        self.state = "IDLE"
        self.cnt = 0
        self.size = 0
        self.outst = 0
        self.im: Im2colModel | None = None
        self.ev_cmd, self.ev_beat, self.ev_status = False, None, None
        self.f: dict[str, int] = {}
        self.kind = 0
        self.g_addr = self.g_left = 0
        self.g_done = self.w_done = False
        self.w_i = self.w_e = 0
        self.lanes = 1
        self.seq, self.count_wait = False, 0

    # --- comb ------------------------------------------------------------------------------
    def insn_ready(self) -> bool:
        return self.state == "IDLE"

    def status_valid(self) -> bool:
        return self.state == "STATUS"

    def _gen_desc(self) -> DmaDesc | None:
        if self.kind == 2:
            assert self.im is not None
            return self.im.cmd()
        if self.g_done:
            return None
        f = self.f
        if self.count_wait:
            return None                         # the contiguous byte count is not complete
        if self.kind == 0 or self.seq:
            return DmaDesc(dram_addr=self.g_addr, row_bytes=min(self.g_left, WORD_CHUNK))
        return DmaDesc(dram_addr=self.g_addr, row_bytes=f["elems"] * self.t.elem_bytes,
                       rows=min(self.g_left, PIXEL_CHUNK), row_stride=f["dram_stride"])

    def cmd(self) -> DmaDesc | None:
        if self.state != "RUN" or self.outst >= LOAD_OUTSTANDING:
            return None
        return self._gen_desc()

    def _taken(self) -> int:
        """Bytes leaving the aligner this cycle (LOAD2D: the element walker's run)."""
        if self.state not in ("START", "RUN"):
            return 0
        if self.kind == 2:
            return self.im.take(self.cnt) if self.im is not None and self.state == "RUN" else 0
        size = self._piece() * self.t.elem_bytes if self.kind == 1 else self.size
        return size if self.cnt >= size and not self.w_done else 0

    def _piece(self) -> int:
        """Elements of the PIXELS word piece written next: ``min(L, elems - e)``."""
        return min(self.lanes, self.f["elems"] - self.w_e)

    def beat_ready(self) -> bool:
        return self.cnt - self._taken() <= self.u

    # --- update ----------------------------------------------------------------------------
    def accept(self, insn: Insn) -> None:
        """The instruction handshake (state IDLE)."""
        f = insn.get()
        self.f = f
        if insn.op is Opcode.LOAD2D:
            if Buffer.ACT not in self.buffers:
                raise SocModelError("LOAD2D on a load unit without ACT")
            self.kind = 2
            nop = f["m"] == 0 or f["k"] == 0
            self.size = self.t.elem_bytes
        else:
            buf, mode = Buffer(f["buffer"]), MemMode(f["mode"])
            if buf not in self.buffers or (mode is MemMode.PIXELS and buf is Buffer.PARAM):
                raise SocModelError(f"LOAD into {buf.name} ({mode.name}) refused by the unit")
            self.kind = 0 if mode is MemMode.WORDS else 1
            nop = f["rows"] == 0 or (self.kind == 1 and f["elems"] == 0)
            self.size = self.t.word_bytes(buf) if self.kind == 0 else self.t.elem_bytes
            self.lanes = pixel_lanes(self.t, buf)
        eb = self.t.elem_bytes
        self.seq = (insn.op is Opcode.LOAD and self.kind == 1
                    and load_contiguous(True, f["elems"], f["dram_stride"], eb))
        # bit-serial byte count: STORE_COUNT_BITS bits of rows per cycle from cycle 1
        self.count_wait = store_count_ready(f["rows"]) - 1 if self.seq else 0
        self.state = "STATUS" if nop else "START"

    def update(self) -> None:
        """Registers of the cycle (after the DMA and the dispatcher have set the events)."""
        st = self.state
        taken = self._taken()
        if st == "START":
            f = self.f
            self.g_addr = self.base + f["dram_base"]
            if self.kind != 2:
                self.g_left = (f["rows"] * self.size if self.kind == 0 else
                               f["rows"] * f["elems"] * self.t.elem_bytes if self.seq
                               else f["rows"])
            self.g_done = self.w_done = False
            self.w_i = self.w_e = 0
            self.outst = 0
            if self.kind == 2:
                self.im = Im2colModel(self.f, self.base, self.t.elem_bytes,
                                      1 if self.os else self.t.array.rows, self.nmax)
            self.state = "RUN"
        elif st == "RUN":
            finish = self.outst == 0 and self.g_done_now() and self.wr_done_now()
            if self.kind == 2:
                assert self.im is not None
                self.im.update(self.ev_cmd, self.cnt)
            elif taken:
                self._write()
            if self.ev_cmd:
                self.outst += 1
                if self.kind != 2:
                    self._advance()
            if self.ev_status is not None:
                if self.ev_status:
                    raise SocModelError(f"DMA status {self.ev_status} on a load")
                self.outst -= 1
            if finish:
                self.state = "STATUS"
        if st in ("START", "RUN") and self.count_wait:
            self.count_wait -= 1
        if st in ("START", "RUN"):
            self.cnt = self.cnt - taken + (self.ev_beat or 0)
        else:
            self.cnt = 0                        # the aligner is cleared in IDLE and STATUS
        self.ev_cmd, self.ev_beat, self.ev_status = False, None, None

    def finish_status(self) -> None:
        """The status handshake (state STATUS)."""
        self.state = "IDLE"
        self.im = None

    def g_done_now(self) -> bool:
        if self.kind == 2:
            assert self.im is not None
            return self.im.gen_done
        return self.g_done

    def wr_done_now(self) -> bool:
        if self.kind == 2:
            assert self.im is not None
            return self.im.done
        return self.w_done

    def _write(self) -> None:
        f = self.f
        if self.kind == 0 or self.w_e + self.lanes >= f["elems"]:
            self.w_done = self.w_i == f["rows"] - 1
            self.w_i += 1
            self.w_e = 0
        else:
            self.w_e += self.lanes

    def _advance(self) -> None:
        f = self.f
        if self.kind == 0 or self.seq:
            chunk = min(self.g_left, WORD_CHUNK)
            self.g_addr += WORD_CHUNK
        else:
            chunk = min(self.g_left, PIXEL_CHUNK)
            self.g_addr += f["dram_stride"] * PIXEL_CHUNK
        self.g_done = self.g_left == chunk
        self.g_left -= chunk
