"""The load units inside the whole-machine cycle model (:mod:`.socsim`): LOAD (WORDS, PIXELS)
and LOAD2D, cycle by cycle as ``hw/soc/load.py``, ``align.py`` and ``im2col.py`` document them.

Only timing is modelled (no data): the descriptors the unit issues, the byte aligner's count
(``beats.ready = rest <= U``), one buffer write per cycle (a word, a PIXELS word piece of ``min(L, elems - e)`` elements, or a LOAD2D run:
:meth:`Im2colModel._element_arrays` lists every element's run as ``im2col.py`` defines it, and
an in-bounds run is cut to ``min(nmax, cnt div eb)`` elements), the im2col set-up and its
descriptor and element walkers. Programs the compiler accepts raise no error code here; an instruction the
unit would refuse raises :class:`SocModelError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
        self.rows, self.nmax = rows, nmax        # lanes per word, in-bounds run cap
        self.base = base + f["dram_base"]
        self.full = f["k0"] == 0 and f["k"] == f["kh"] * f["kw"] * f["cg"]
        self.wait = sum(PHASES)
        self.gen_done = self.done = self.busy = False
        self.script = self._script()
        self.item = 0
        self.pre = self.script[0][0]
        # elements=False: the descriptor walker's script only (no element plan; not steppable)
        self.inb: list[bool] = []
        self.run: list[int] = []
        #: per element: the elements of the run written from it with every byte held (an
        #: in-bounds run cut to ``nmax``, a padding run whole)
        self.cap: list[int] = []
        if elements:
            inb, run = self._element_arrays()
            self.inb, self.run = inb.tolist(), run.tolist()
            self.cap = np.where(inb, np.minimum(run, nmax), run).tolist()
        self.n_elems = len(self.inb)
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

    def _element_arrays(self) -> tuple[np.ndarray, np.ndarray]:
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
        return inb.ravel(), ends - idx + 1

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
        e = self.e_i
        n = self.cap[e]
        if self.inb[e]:
            held = cnt // self.eb
            if held < n:
                return held
        return n

    def take(self, cnt: int) -> int:
        """Bytes the element walker takes from the aligner this cycle."""
        if not self.busy:
            return 0
        e = self.e_i
        if not self.inb[e]:
            return 0
        eb = self.eb
        n = self.cap[e]
        held = cnt // eb
        return (held if held < n else n) * eb

    def update(self, taken: bool, cnt: int) -> None:
        """Registers of the cycle: ``taken``, the DMA took the descriptor offered; ``cnt``,
        bytes in the aligner."""
        self.step(taken, cnt)

    def step(self, taken: bool, cnt: int) -> int:
        """:meth:`update`, returning :meth:`take` of the registers before it."""
        if self.wait:
            self.wait -= 1
            if self.wait == 0:
                self.busy = True
            return 0
        nbytes = 0
        if self.busy:
            e = self.e_i
            n = self.cap[e]
            if self.inb[e]:
                eb = self.eb
                held = cnt // eb
                if held < n:
                    n = held
                nbytes = n * eb
            if n:
                e += n
                self.e_i = e
                if e == self.n_elems:
                    self.busy, self.done = False, True
        if not self.gen_done:
            if self.pre:
                self.pre -= 1
                if self.pre == 0 and self.script[self.item][1] is None:
                    self.gen_done = True
            elif taken:
                self.item += 1
                self.pre = self.script[self.item][0]
        return nbytes


class LoadUnitModel:
    """One ``LoadUnit`` (``hw/soc/load.py``) as a DMA read client and a unit executor."""

    def __init__(self, *, target: Any, bus_bytes: int, buffers: tuple[Buffer, ...],
                 base: int) -> None:
        self.t, self.nb, self.base = target, bus_bytes, base
        self.buffers = buffers
        self.nmax = im2col_run_max(target.array.rows, bus_bytes, target.elem_bytes)
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
        self.elems = self.rows = 0                # the instruction's fields (not LOAD2D)

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
        st = self.state
        if st == "RUN":
            if self.kind == 2:
                im = self.im
                return im.take(self.cnt) if im is not None else 0
        elif st != "START" or self.kind == 2:
            return 0
        if self.w_done:
            return 0
        if self.kind == 1:                    # the PIXELS word piece: min(L, elems - e)
            e = self.elems - self.w_e
            size = (self.lanes if self.lanes < e else e) * self.t.elem_bytes
        else:
            size = self.size
        return size if self.cnt >= size else 0

    def beat_ready(self) -> bool:
        if self.kind == 2 and self.state == "RUN":
            im = self.im
            if im is not None:
                return self.cnt - im.take(self.cnt) <= self.u
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
        self.elems, self.rows = f.get("elems", 0), f.get("rows", 0)
        self.seq = (insn.op is Opcode.LOAD and self.kind == 1
                    and load_contiguous(True, f["elems"], f["dram_stride"], eb))
        # bit-serial byte count: STORE_COUNT_BITS bits of rows per cycle from cycle 1
        self.count_wait = store_count_ready(f["rows"]) - 1 if self.seq else 0
        self.state = "STATUS" if nop else "START"

    def update(self) -> None:
        """Registers of the cycle (after the DMA and the dispatcher have set the events)."""
        st = self.state
        if st == "RUN":
            ev_cmd = self.ev_cmd
            cnt = self.cnt
            if self.kind == 2:
                im = self.im
                assert im is not None
                finish = self.outst == 0 and im.gen_done and im.done
                taken = im.step(ev_cmd, cnt)
                if ev_cmd:
                    self.outst += 1
            else:
                taken = self._taken()
                finish = self.outst == 0 and self.g_done and self.w_done
                if taken:
                    self._write()
                if ev_cmd:
                    self.outst += 1
                    self._advance()
            ev_status = self.ev_status
            if ev_status is not None:
                if ev_status:
                    raise SocModelError(f"DMA status {ev_status} on a load")
                self.outst -= 1
            if finish:
                self.state = "STATUS"
            if self.count_wait:
                self.count_wait -= 1
            ev_beat = self.ev_beat
            self.cnt = cnt - taken + ev_beat if ev_beat is not None else cnt - taken
        elif st == "START":
            taken = self._taken()
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
                                      self.t.array.rows, self.nmax)
            self.state = "RUN"
            if self.count_wait:
                self.count_wait -= 1
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
