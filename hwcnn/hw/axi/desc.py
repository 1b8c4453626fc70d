"""DMA transfer descriptors and burst records: ``lib.data`` layouts plus a validated Python twin.

A transfer moves ``planes`` x ``rows`` rows of ``row_bytes`` bytes. Row ``r`` of plane ``p``
starts at DRAM byte ``dram_addr + p*plane_stride + r*row_stride`` and is buffer row
``i = p*rows + r``, whose first beat is buffer word ``buf_addr + i*buf_stride``. Byte lanes are
preserved (no data-realignment engine): DRAM byte ``x`` travels in byte lane ``x mod B`` of its
beat, so a row of ``n`` beats (``n = ceil((x0 mod B + row_bytes) / B)``, ``x0`` its first byte)
fills words ``buf_addr + i*buf_stride + [0, n)``; the first and last beat carry partial strobes.
"""

from __future__ import annotations

from amaranth.lib import data

from ...arch.dma import DIM_BITS, ROW_BYTES_BITS, DmaDesc

__all__ = ["DIM_BITS", "ROW_BYTES_BITS", "DmaDesc", "beat_layout", "burst_layout", "desc_layout"]


def desc_layout(addr_width: int, buf_addr_width: int) -> data.StructLayout:
    """The descriptor a client hands the DMA (one stream payload)."""
    return data.StructLayout({
        "dram_addr": addr_width, "row_bytes": ROW_BYTES_BITS, "rows": DIM_BITS,
        "row_stride": addr_width, "planes": DIM_BITS, "plane_stride": addr_width,
        "buf_addr": buf_addr_width, "buf_stride": buf_addr_width,
    })


def burst_layout(addr_width: int, buf_addr_width: int, data_width: int) -> data.StructLayout:
    """One INCR burst as the address walker emits it (``addr`` beat-aligned, ``len`` = beats-1)."""
    strb = data_width // 8
    return data.StructLayout({
        "addr": addr_width, "len": 8, "buf_addr": buf_addr_width,
        "first_strb": strb, "last_strb": strb,
    })


def beat_layout(buf_addr_width: int, data_width: int) -> data.StructLayout:
    """One beat on the buffer side: word address, bus-width data, byte strobes."""
    return data.StructLayout({"addr": buf_addr_width, "data": data_width,
                              "strb": data_width // 8})
