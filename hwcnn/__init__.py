"""hwcnn: from a CNN layer description to a verified FPGA systolic accelerator."""

__version__ = "0.1.0"
