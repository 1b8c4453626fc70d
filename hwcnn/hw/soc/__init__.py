"""The complete accelerator (Verilog module ``hwcnn_soc``): fetch, instruction queues,
dependency tokens, load / compute / store units, the AXI4-Lite control registers and the AXI4
DMA around the tile engine (rtl/README.md sections 7-10)."""
