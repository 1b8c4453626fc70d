"""Amaranth RTL of the systolic MAC accelerator (stage 5c).

One ``wiring.Component`` per file: :mod:`.pe`, :mod:`.array`, :mod:`.skew`, :mod:`.requant`,
:mod:`.pool`, :mod:`.buffers`, :mod:`.controller` (tile sequencer) and :mod:`.top`
(``Accelerator``, Verilog module ``hwcnn_top``). Pure-Python helpers that do not need Amaranth:
:mod:`.params` (buffer depths, derived widths), :mod:`.descriptor` (validated tile descriptors)
and :mod:`.layout` (buffer word packing). The host interface is documented in ``rtl/README.md``;
exact cycle counts are in :mod:`hwcnn.timing`.

Nothing is imported here so that ``import hwcnn.hw.layout`` does not pay for Amaranth.
"""
