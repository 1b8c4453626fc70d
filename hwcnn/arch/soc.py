"""Sizes of the complete accelerator's units that its timing depends on (no Amaranth).

The RTL (``hwcnn.hw.soc``, ``hwcnn.hw.axi``) and the whole-machine cycle model
(``hwcnn.machine.socsim`` and its unit models) both import them from here, so that the model
cannot drift from the hardware it is proven equal to.
"""

from __future__ import annotations

import math

from .dma import DIM_BITS, ROW_BYTES_BITS, DmaDesc
from .dma_timing import setup_cycles

#: Fetch: instructions per DMA transfer, instruction buffer, and each queue FIFO's depth.
FETCH_CHUNK = 8
FETCH_BUFFER = 16
QUEUE_DEPTH = 8

#: Load unit: bytes per WORDS descriptor (the descriptor's 20-bit row_bytes field) and pixels
#: per PIXELS descriptor (its 16-bit rows field).
LOAD_WORD_CHUNK = 1 << (ROW_BYTES_BITS - 1)
LOAD_PIXEL_CHUNK = 1 << (DIM_BITS - 1)
#: Bursts in flight per DMA engine of ``hwcnn_soc`` (``hw.soc.ports.SocParams.outstanding``,
#: the stepped and instruction-level models' default). Small bursts (an im2col pixel's kernel
#: rows, strided pixel rows) are bound by ``outstanding`` bursts per DRAM latency: with 8
#: instead of 4, LeNet-5 on PYNQ-Z2 runs in 41,288 cycles instead of 49,047 and ResNet-18 on
#: KV260 (128-bit AXI) in 2.87 M instead of 3.18 M (the burst FIFOs are distributed RAM, 32
#: deep per RAM32M: no extra LUTs on Xilinx).
DMA_OUTSTANDING = 8
#: Load unit: its DMA transfers outstanding at most (the DMA walker holds two per engine).
LOAD_OUTSTANDING = 2
#: im2col (LOAD2D): cycles of each set-up phase.
IM2COL_PHASES = (25, 21, 14)


def row_beats(row_bytes: int, bus_bytes: int, align: int = 1) -> float:
    """Bus beats of one DMA row of ``row_bytes`` bytes whose start address is a multiple of
    ``align``: ``ceil((o + row_bytes) / B)`` averaged over the start's offsets ``o`` in a beat,
    ``0, g, 2g, .. < B`` with ``g = gcd(align, B)`` (a row aligned to the bus takes exactly
    ``ceil(row_bytes / B)``).

    >>> row_beats(192, 16, 64), row_beats(9, 16, 3), row_beats(24, 16, 8)
    (12.0, 1.5, 2.0)
    """
    if row_bytes <= 0:
        return 0.0
    g = math.gcd(max(align, 1), bus_bytes)
    offs = range(0, bus_bytes, g)
    return sum(-(-(o + row_bytes) // bus_bytes) for o in offs) / len(offs)


def load2d_pixel_cycles(kh: int, kw: int, row_bytes: int, bus_bytes: int, latency: int, *,
                        align: int = 1, runs: int = 0, merged: bool = True) -> float:
    """The pace of a LOAD2D of whole kernel positions, in cycles per output pixel (an estimate
    for planning, rtl/README.md 10.2; within a few per cent of the stepped load unit on 3x3
    and 1x1 gathers of 3 to 256 channels): one rectangle descriptor per pixel of ``kh`` DMA
    rows of ``row_bytes`` (:func:`row_beats` each, their starts multiples of ``align``), and
    the slowest of: the descriptor walker's NEXT, PIX, SCAN, RECT, ISSUE (``4 + max(kh, kw)``
    cycles, ``hw/soc/im2col.py``), the bus beats, the element walker's ``runs``, and, with two
    of the unit's transfers in flight (:data:`LOAD_OUTSTANDING`), ``(latency + S + beats + 1)
    / 2``, ``S`` the DMA's set-up of the descriptor. ``merged``: the kernel columns are
    adjacent in DRAM (one DMA row per kernel row); otherwise ``row_bytes`` is one kernel
    position's and the descriptor has ``kh*kw`` rows, whose bursts the DMA keeps at most
    :data:`DMA_OUTSTANDING` in flight, about ``latency + 2`` cycles each. Both dataflows:
    their activation words have the same layout (rtl/README.md 3)."""
    return max(load2d_pixel_terms(kh, kw, row_bytes, bus_bytes, latency, align=align,
                                  runs=runs, merged=merged))


def load2d_descriptor(kh: int, kw: int, merged: bool = True) -> tuple[int, int]:
    """``(DMA rows, DMA set-up S)`` of one pixel's rectangle descriptor: ``kh`` rows of whole
    kernel rows when the kernel columns are adjacent in DRAM (``merged``), else ``kh*kw``
    rows of one kernel position each (``kw`` rows in ``kh`` planes)."""
    if merged:
        return kh, setup_cycles(kh, 1)
    return kh * kw, setup_cycles(kw, kh)


def load2d_pixel_terms(kh: int, kw: int, row_bytes: int, bus_bytes: int, latency: int, *,
                       align: int = 1, runs: int = 0, merged: bool = True
                       ) -> tuple[float, float, float, float]:
    """The terms of :func:`load2d_pixel_cycles`: ``(beats, 4 + max(kh, kw), (latency + S +
    beats + 1) / 2, runs)``; not ``merged``, the bursts' bound is in the third term."""
    rows, s = load2d_descriptor(kh, kw, merged)
    beats = rows * row_beats(row_bytes, bus_bytes, align)
    wait = (latency + s + beats + 1) / LOAD_OUTSTANDING
    if not merged:
        wait = max(wait, rows * (latency + 2) / DMA_OUTSTANDING)
    return beats, float(4 + max(kh, kw)), wait, float(runs)


def load2d_chunk_cycles(positions: tuple[int, ...], bus_bytes: int, latency: int, *,
                        align: int = 1, runs: int = 0) -> float:
    """The pace of a LOAD2D of a K-split chunk, in cycles per output pixel (planning, as
    :func:`load2d_pixel_cycles`): one one-row descriptor per kernel position of the chunk
    (``positions``: its bytes in each), each the slower of its beats and, two transfers in
    flight, ``(latency + S + beats + 1) / 2``; at least the descriptor walker's ``2 +
    2*positions`` (POS and ISSUE per position) and the element walker's ``runs``."""
    s = setup_cycles(1, 1)
    per = sum(max(b, (latency + s + b + 1) / LOAD_OUTSTANDING)
              for b in (row_beats(n, bus_bytes, align) for n in positions))
    return max(per, 2.0 + 2 * len(positions), float(runs))


def im2col_run_max(rows: int, bus_bytes: int, elem_bytes: int) -> int:
    """In-bounds elements the LOAD2D element walker takes from the byte aligner in one cycle
    at most: ``min(R, B div eb)`` (at least 1), i.e. at most one word of ``R`` lanes and at
    most one bus width of bytes (``hw/soc/im2col.py``), in both dataflows (an activation word
    holds ``R`` consecutive elements of one im2col row, rtl/README.md 3). A padding run is not
    bounded by it (at most ``R`` lanes)."""
    return max(1, min(rows, bus_bytes // elem_bytes))

#: Store unit: largest WORDS descriptor (bytes; a multiple of every bus width) and PIXELS
#: descriptor (pixels = DMA rows).
STORE_CHUNK_BYTES = 1 << (ROW_BYTES_BITS - 1)
STORE_MAX_ROWS = (1 << DIM_BITS) - 1
#: Store unit: words its OUT reader holds, and beats buffered between packer and DMA.
STORE_READER_DEPTH = 3
STORE_BEAT_FIFO = 4

#: DMA: beats the write engine prefetches from the buffer ahead of W, and words the
#: ``WordReader`` of a plain write client holds.
WRITE_PREFETCH = 4
WORD_READER_DEPTH = 3

#: Store unit, contiguous PIXELS stores (``dram_stride == elems*eb``): bits of ``rows`` the
#: bit-serial byte count ``rows * (elems*eb)`` consumes per cycle (shift-add, no multiplier).
STORE_COUNT_BITS = 2


def store_contiguous(pixels: bool, elems: int, dram_stride: int, eb: int) -> bool:
    """A PIXELS STORE whose pixels are adjacent in DRAM: one byte stream of
    ``rows*elems*eb`` bytes, cut into descriptors like mode WORDS."""
    return pixels and dram_stride == elems * eb


def store_count_ready(rows: int) -> int:
    """The cycle (0 = the instruction handshake) from which the byte count of a contiguous
    STORE of ``rows`` pixels is complete: loaded at the handshake, then ``STORE_COUNT_BITS``
    bits of ``rows`` per cycle from cycle 1, LSB first, stopping when the remaining bits are
    zero: ``1 + ceil(bitlen(rows) / STORE_COUNT_BITS)``. The first descriptor is offered from
    ``max(3, store_count_ready(rows))``."""
    return 1 + -(-rows.bit_length() // STORE_COUNT_BITS)


def store_descriptors(*, start: int, mode_pixels: bool, rows: int, elems: int,
                      dram_stride: int, eb: int, wb: int) -> list[DmaDesc]:
    """The DMA descriptors of a STORE starting at DRAM byte ``start`` (``BASE0 + dram_base``),
    as the store unit issues them when none is refused: WORDS and contiguous PIXELS one row of
    at most ``STORE_CHUNK_BYTES`` bytes each, every one but the first starting at a multiple of
    it; other PIXELS stores ``STORE_MAX_ROWS`` pixels (DMA rows) per descriptor."""

    out = []
    if not mode_pixels or store_contiguous(mode_pixels, elems, dram_stride, eb):
        left = rows * elems * eb if mode_pixels else rows * wb
        while left:
            n = min(left, STORE_CHUNK_BYTES - start % STORE_CHUNK_BYTES)
            out.append(DmaDesc(dram_addr=start, row_bytes=n))
            start, left = start + n, left - n
        return out
    while rows:
        n = min(rows, STORE_MAX_ROWS)
        out.append(DmaDesc(dram_addr=start, row_bytes=elems * eb, rows=n, row_stride=dram_stride))
        start, rows = start + n * dram_stride, rows - n
    return out


def load_contiguous(pixels: bool, elems: int, dram_stride: int, eb: int) -> bool:
    """A PIXELS LOAD whose pixels are adjacent in DRAM (:func:`store_contiguous`'s rule): one
    byte stream of ``rows*elems*eb`` bytes, descriptors like mode WORDS (at most
    ``LOAD_WORD_CHUNK`` bytes each, the ``k``-th from ``start + k*LOAD_WORD_CHUNK``); its byte
    count is formed bit-serially as the store unit's, complete from cycle
    :func:`store_count_ready` ``(rows)``, so the first descriptor is offered from
    ``max(2, store_count_ready(rows))``."""
    return store_contiguous(pixels, elems, dram_stride, eb)
