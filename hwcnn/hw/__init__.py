"""Stage 5c, the Amaranth RTL of the systolic MAC accelerator.

One ``wiring.Component`` per file: :mod:`.pe`, :mod:`.array`, :mod:`.skew`, :mod:`.requant`,
:mod:`.vector`, :mod:`.buffers`, :mod:`.controller` (tile sequencer, with its fold iterators in
:mod:`.foldseq`), :mod:`.soc.engine` (``TileEngine``: sequencer + array + post-processing +
vector unit, reaching the memories through its buffer ports) and :mod:`.top`
(``Accelerator`` = ``Buffers`` + ``TileEngine`` + host ports, Verilog module ``hwcnn_top``);
:mod:`.soc` holds the units of the complete accelerator; :mod:`.rtlgen` writes the Verilog.
Pure-Python helpers that do not need Amaranth: :mod:`.params` (buffer depths, derived widths),
:mod:`.descriptor` (validated tile descriptors) and :mod:`.layout` (buffer word packing).
:mod:`.wave` simulates one tile on the top level and writes its VCD (``hwcnn wave``). The host
interface is documented in ``rtl/README.md``; exact cycle counts are in :mod:`hwcnn.arch.timing`.

The hardware depends only on :mod:`hwcnn.arch` (configuration, cycle constants), the numeric
contract :mod:`hwcnn.numerics.fixedpoint` and :mod:`hwcnn.errors`. The names below are imported on
first use, so that ``import hwcnn.hw.layout`` does not pay for Amaranth.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS = {
    "Accelerator": "top", "Buffers": "buffers", "PE": "pe", "VectorUnit": "vector",
    "Requant": "requant", "Skew": "skew", "SystolicArray": "array", "TileSequencer": "controller",
    "BufferDepths": "params", "GemmDesc": "descriptor", "PoolDesc": "descriptor",
    "PoolOpCode": "descriptor", "TileKind": "descriptor", "TOP_NAME": "rtlgen",
    "generate": "rtlgen", "write": "rtlgen", "gemm_wave": "wave", "signal_table": "wave",
}

__all__ = [
    "PE",
    "TOP_NAME",
    "Accelerator",
    "BufferDepths",
    "Buffers",
    "GemmDesc",
    "PoolDesc",
    "PoolOpCode",
    "Requant",
    "Skew",
    "SystolicArray",
    "TileKind",
    "TileSequencer",
    "VectorUnit",
    "gemm_wave",
    "generate",
    "signal_table",
    "write",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hwcnn.hw' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
