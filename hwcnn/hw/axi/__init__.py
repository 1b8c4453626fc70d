"""AXI building blocks of the accelerator's memory interface (rtl/README.md sections 7-8).

:mod:`.bus` (AXI4 / AXI4-Lite signatures, master side), :mod:`.regmap` + :mod:`.csr` (the
AXI4-Lite control/status registers), :mod:`.desc` (descriptor, burst and beat layouts),
:mod:`.walker` (descriptor -> window check -> INCR bursts), :mod:`.engines` (read and write
engines), :mod:`.dma` (the shared master with its per-engine arbiters), :mod:`.bufport` (buffer
adapters) and :mod:`.dramshim` (simulation only: the DRAM timing model in front of a RAM).
Cycle counts: :mod:`hwcnn.arch.dma_timing` (closed form), :mod:`hwcnn.machine.dmasim` (stepped).
"""
