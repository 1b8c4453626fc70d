"""Simulator-side building blocks of the DMA testbench (``tb_dma.py``): the per-cycle service
loop (:class:`Bench`), the byte-by-byte expected data, random descriptors, the models' cycles
and the results file. See ``tb_dma.py`` for the conventions."""

from __future__ import annotations

import json
import logging
import os
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
from cocotb.triggers import FallingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hwcnn.arch.dma import DmaDesc
from hwcnn.arch.dma_timing import transfer_cycles
from hwcnn.hw.axi.desc import beat_layout, desc_layout
from hwcnn.hw.axi.regmap import offsets
from hwcnn.machine.dmasim import DmaModel, Request
from sim import dma_top
from sim.tb.common import reset, start_clock

RAM_BYTES = 1 << 20
WIN = (0x1000, RAM_BYTES - 0x2000)      # DMA window of the tests: [4 KiB, 1 MiB - 4 KiB)
BUF_WORDS = 1 << dma_top.BUF_ADDR_WIDTH
TIMEOUT = 200_000
REGS = offsets(4, 2 * len(dma_top.INSTANCES))


def _pack(layout, values: dict[str, int]) -> int:  # type: ignore[no-untyped-def]
    out = 0
    for name, fld in layout:
        out |= (int(values[name]) & ((1 << fld.width) - 1)) << fld.offset
    return out


def _unpack(layout, raw: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name: (raw >> fld.offset) & ((1 << fld.width) - 1) for name, fld in layout}


@dataclass
class Done:
    client: str
    desc: DmaDesc
    cmd_cycle: int
    status_cycle: int = -1
    code: int = -1


@dataclass
class Width:
    """One DMA instance: its RAM, client queues, buffers and handshake log."""

    key: str
    w: int
    shimmed: bool
    dut: object
    ram: AxiRam
    queues: dict[str, deque] = field(default_factory=dict)
    # per client its accepted transfers whose status is not yet taken, oldest first (the DMA
    # chains up to two); a client without one has no key
    active: dict[str, list[Done]] = field(default_factory=dict)
    finished: list[Done] = field(default_factory=list)
    bufs: dict[str, dict[int, int]] = field(default_factory=dict)
    store_mem: dict[int, int] = field(default_factory=dict)
    prev_addr: int = 0
    held: dict[str, tuple] = field(default_factory=dict)   # channel -> payload offered, not taken

    @property
    def nb(self) -> int:
        return self.w // 8

    def sig(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.dut, f"{self.key}_{name}")


class Bench:
    def __init__(self, dut) -> None:  # type: ignore[no-untyped-def]
        self.dut = dut
        self.cycle = 0
        self.desc_layout = desc_layout(dma_top.ADDR_WIDTH, dma_top.BUF_ADDR_WIDTH)
        self.widths: dict[str, Width] = {}
        self.violations: list[str] = []
        for key, w, shimmed in dma_top.INSTANCES:
            ram = AxiRam(AxiBus.from_prefix(dut, f"{key}_axi", bus_separator="__"), dut.clk,
                         dut.rst, size=RAM_BYTES)
            self.widths[key] = Width(key=key, w=w, shimmed=shimmed, dut=dut, ram=ram,
                                   queues={c: deque() for c in ("fetch", "load", "store")},
                                   bufs={c: {} for c in ("fetch", "load")})
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "csr", bus_separator="__"),
                                  dut.clk, dut.rst)
        for name in ("cocotb.dma_tb_top", "cocotb"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def shimmed(self) -> list[tuple[int, Width]]:
        return [(wd.w, wd) for wd in self.widths.values() if wd.shimmed]

    def every(self) -> list[tuple[int, Width]]:
        return [(wd.w, wd) for wd in self.widths.values()]

    def _check_axi(self, wd: Width) -> None:
        """AXI: an offered AR / AW / W keeps VALID and its payload until READY."""
        fields = {"ar": ("araddr", "arlen"), "aw": ("awaddr", "awlen"),
                  "w": ("wdata", "wstrb", "wlast")}
        for ch, names in fields.items():
            valid = int(wd.sig(f"axi__{ch}valid").value)
            payload = tuple(int(wd.sig(f"axi__{n}").value) for n in names)
            if ch in wd.held and (not valid or payload != wd.held[ch]):
                self.violations.append(f"{wd.key} cycle {self.cycle}: {ch.upper()} changed "
                                       f"before READY")
            wd.held.pop(ch, None)
            if valid and not int(wd.sig(f"axi__{ch}ready").value):
                wd.held[ch] = payload

    async def start(self) -> None:
        start_clock(self.dut.clk)
        for wd in self.widths.values():
            for c in ("fetch", "load", "store"):
                wd.sig(f"{c}_cmd__valid").value = 0
                wd.sig(f"{c}_cmd__payload").value = 0
                wd.sig(f"{c}_status__ready").value = 1
            for c in ("fetch", "load"):
                wd.sig(f"{c}_beats__ready").value = 1
            wd.sig("store_mem_data").value = 0
        self.dut.m_done.value = 0
        self.dut.m_error.value = 0
        self.dut.m_code.value = 0
        await reset(self.dut.rst, self.dut.clk)
        cocotb.start_soon(self._service())

    async def _service(self) -> None:
        bl = {k: beat_layout(dma_top.BUF_ADDR_WIDTH, wd.w) for k, wd in self.widths.items()}
        while True:
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            for wd in self.widths.values():
                wd.sig("store_mem_data").value = wd.store_mem.get(wd.prev_addr, 0)
                for c, q in wd.queues.items():
                    v = wd.sig(f"{c}_cmd__valid")
                    if q and q[0][1] <= self.cycle:
                        wd.sig(f"{c}_cmd__payload").value = _pack(self.desc_layout,
                                                                  q[0][0].fields())
                        v.value = 1
                    else:
                        v.value = 0
            await Timer(1, "ns")
            for wd in self.widths.values():
                self._check_axi(wd)
                wd.prev_addr = int(wd.sig("store_mem_addr").value)
                for c, q in wd.queues.items():
                    if (q and q[0][1] <= self.cycle
                            and int(wd.sig(f"{c}_cmd__ready").value)):
                        desc = q.popleft()[0]
                        wd.active.setdefault(c, []).append(Done(client=c, desc=desc,
                                                                cmd_cycle=self.cycle))
                    if int(wd.sig(f"{c}_status__valid").value):
                        d = wd.active[c].pop(0)
                        if not wd.active[c]:
                            del wd.active[c]
                        d.status_cycle = self.cycle
                        d.code = int(wd.sig(f"{c}_status__payload").value)
                        wd.finished.append(d)
                for c in ("fetch", "load"):
                    if int(wd.sig(f"{c}_beats__valid").value):
                        b = _unpack(bl[wd.key], int(wd.sig(f"{c}_beats__payload").value))
                        old = wd.bufs[c].get(b["addr"], 0)
                        for lane in range(wd.nb):
                            if b["strb"] >> lane & 1:
                                mask = 0xFF << (8 * lane)
                                old = (old & ~mask) | (b["data"] & mask)
                        wd.bufs[c][b["addr"]] = old

    async def run(self, wd: Width, jobs: list[tuple[str, DmaDesc, int]]) -> list[Done]:
        """Queue ``(client, desc, not_before_offset)`` jobs and wait until all have finished."""
        w = wd.key
        base = self.cycle
        n0 = len(wd.finished)
        for client, desc, delay in jobs:
            wd.queues[client].append((desc, base + 1 + delay))
        while len(wd.finished) < n0 + len(jobs):
            await FallingEdge(self.dut.clk)
            assert self.cycle - base < TIMEOUT, f"DMA {w}: no status after {TIMEOUT} cycles"
        assert not self.violations, self.violations[:5]
        return wd.finished[n0:]

    async def set_window(self, base: int, size: int) -> None:
        for name, value in (("WIN_BASE_LO", base), ("WIN_BASE_HI", 0), ("WIN_SIZE_LO", size),
                            ("WIN_SIZE_HI", 0)):
            resp = await self.host.write(REGS[name], value.to_bytes(4, "little"))
            assert int(resp.resp) == 0, name


# --- expected data, byte by byte -----------------------------------------------------------

def expected_buffer(desc: DmaDesc, image: bytes, nb: int, before: dict[int, int]) -> dict[int, int]:
    buf = dict(before)
    for i, x0 in enumerate(desc.row_starts()):
        for x in range(x0, x0 + desc.row_bytes):
            word = desc.buf_addr + i * desc.buf_stride + (x // nb - x0 // nb)
            lane = x % nb
            val = buf.get(word, 0)
            buf[word] = (val & ~(0xFF << 8 * lane)) | (image[x] << 8 * lane)
    return buf


def expected_dram(desc: DmaDesc, image: bytearray, nb: int, mem: dict[int, int]) -> bytearray:
    out = bytearray(image)
    for i, x0 in enumerate(desc.row_starts()):
        for x in range(x0, x0 + desc.row_bytes):
            word = desc.buf_addr + i * desc.buf_stride + (x // nb - x0 // nb)
            out[x] = (mem.get(word, 0) >> 8 * (x % nb)) & 0xFF
    return out


def random_desc(rng: random.Random, nb: int, *, big: bool = False) -> DmaDesc:
    """A random in-window transfer whose buffer rows do not overlap (buffer <= BUF_WORDS)."""
    while True:
        row_bytes = rng.choice([1, nb - 1, nb, nb + 1, rng.randint(1, 5 * nb),
                                rng.randint(1, 600 if not big else 5000)])
        rows = rng.randint(1, 4 if not big else 3)
        planes = rng.choice([1, 1, 2])
        row_stride = row_bytes + rng.choice([0, 1, rng.randint(0, 3 * nb),
                                            4096 - row_bytes % 4096])
        plane_stride = rows * row_stride + rng.randint(0, 2 * nb)
        span = (planes - 1) * plane_stride + (rows - 1) * row_stride + row_bytes
        lo, hi = WIN[0], WIN[0] + WIN[1] - span
        if hi <= lo:
            continue
        # bias towards 4 KiB boundaries
        if rng.random() < 0.5:
            page = rng.randrange(lo // 4096 + 1, hi // 4096 + 1)
            addr = min(max(page * 4096 - rng.randint(0, 3 * nb), lo), hi - 1)
        else:
            addr = rng.randrange(lo, hi)
        row_words = -(-(nb - 1 + row_bytes) // nb)
        buf_stride = row_words + rng.randint(0, 2)
        total = planes * rows * buf_stride
        if total + 8 > BUF_WORDS:
            continue
        buf_addr = rng.randrange(0, BUF_WORDS - total)
        return DmaDesc(dram_addr=addr, row_bytes=row_bytes, rows=rows, row_stride=row_stride,
                       planes=planes, plane_stride=plane_stride, buf_addr=buf_addr,
                       buf_stride=buf_stride)


RESULTS: list[dict] = []  # type: ignore[type-arg]


def model_cycles(desc: DmaDesc, write: bool, w: int) -> int:
    return transfer_cycles(desc, write=write, bus_bytes=w // 8, dram=dma_top.TIMING,
                           outstanding=dma_top.OUTSTANDING, window=WIN)


def stepped(w: int, jobs: list[tuple[str, DmaDesc, int]], window: tuple[int, int]) -> list:  # type: ignore[type-arg]
    model = DmaModel(bus_bytes=w // 8, dram=dma_top.TIMING, outstanding=dma_top.OUTSTANDING,
                     read_clients=dma_top.READ_CLIENTS, write_clients=dma_top.WRITE_CLIENTS,
                     window=window)
    return model.run([Request(client=c, desc=d, at=t) for c, d, t in jobs])


def record(kind: str, w: int, d: Done, want: int, step: int | None = None) -> None:
    RESULTS.append({"kind": kind, "width": w, "client": d.client, "desc": d.desc.fields(),
                    "cycles": d.status_cycle - d.cmd_cycle, "closed_form": want,
                    "stepped": step, "code": d.code})


def dump() -> None:
    out = os.environ.get("HWCNN_DMA_RESULTS")
    if out:
        Path(out).write_text(json.dumps(RESULTS, indent=1) + "\n", encoding="utf-8")


def fill(ram: AxiRam, rng: random.Random) -> bytearray:
    image = bytearray(rng.randbytes(RAM_BYTES))
    ram.write(0, bytes(image))
    return image


