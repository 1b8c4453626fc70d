"""What elaborating the accelerator with Amaranth costs, measured, and the limits of ``hwcnn rtl``.

Elaboration (Amaranth -> RTLIL -> the builtin Yosys -> Verilog) grows with the processing
elements and with the bits of on-chip memory (every memory word is a netlist cell). Measured
on the reference machine (2 cores; peak RSS of one process, Amaranth 0.5.8, ``hwcnn rtl`` with
the default depths unless noted):

============================== ======== ==========
configuration                   time     peak RSS
============================== ======== ==========
4x4 ws / os                     0.8 s    74 MiB
8x8 ws / os                     1.8 s    84 MiB
16x16 ws / os                   5.0 s    124 MiB
32x32 ws                        29.8 s   256 MiB
32x32 os                        13.4 s   253 MiB
4x4 ws, act depth 65,536        14.8 s   328 MiB
4x4 ws, act depth 262,144       74.3 s   1,111 MiB
============================== ======== ==========

Fit: ``peak ~ 64 MiB + 134 KiB x PEs + 128 B x memory bits``; ``time ~ 30 ms x PEs +
9 us x memory bits``. ``hwcnn rtl`` refuses more than :data:`MAX_PES` processing elements
(32x32, about 30 s) or more than :data:`MAX_MEMORY_BITS` bits of buffers (about 40 s and
600 MiB), and any configuration whose estimated peak exceeds ``--max-memory``.
"""

from __future__ import annotations

from ..arch.config import HardwareConfig
from ..errors import ConfigError
from .params import BufferDepths, param_lane_bits

#: Largest array ``hwcnn rtl`` elaborates (32x32: 30 s, 256 MiB measured).
MAX_PES = 1024
#: Largest total buffer size in bits (4 Mbit: about 40 s and 600 MiB measured).
MAX_MEMORY_BITS = 1 << 22
#: Fitted cost coefficients (see the module docstring).
BASE_BYTES = 64 << 20
BYTES_PER_PE = 134 << 10
BYTES_PER_MEMORY_BIT = 128


def memory_bits(config: HardwareConfig, depths: BufferDepths) -> int:
    """Bits of the five on-chip memories (the word widths of :mod:`hwcnn.hw.buffers`)."""
    a = config.array
    return (max(2, depths.act) * a.rows * a.act_bits + max(2, depths.weight) * a.cols * a.weight_bits
            + max(2, depths.param) * a.cols * param_lane_bits(config)
            + max(2, depths.out) * a.cols * a.act_bits + max(2, depths.acc) * a.cols * a.acc_bits)


def elaboration_bytes(config: HardwareConfig, depths: BufferDepths) -> int:
    """Estimated peak memory of elaborating and writing one configuration."""
    return (BASE_BYTES + BYTES_PER_PE * config.array.pes
            + BYTES_PER_MEMORY_BIT * memory_bits(config, depths))


def check_elaboration(config: HardwareConfig, depths: BufferDepths, max_bytes: int) -> None:
    """Refuse (one-line ConfigError) a configuration beyond the measured limits or budget."""
    a = config.array
    if a.pes > MAX_PES:
        raise ConfigError(f"rtl: a {a.rows}x{a.cols} array has {a.pes:,} PEs, more than the "
                          f"{MAX_PES:,} hwcnn rtl elaborates (32x32 takes about 30 s)")
    bits = memory_bits(config, depths)
    if bits > MAX_MEMORY_BITS:
        raise ConfigError(f"rtl: the buffers hold {bits:,} bits, more than the "
                          f"{MAX_MEMORY_BITS:,} hwcnn rtl elaborates (lower the --*-depth "
                          "options)")
    need = elaboration_bytes(config, depths)
    if need > max_bytes:
        raise ConfigError(f"rtl: elaborating {a.rows}x{a.cols} needs about {need >> 20:,} MiB, "
                          f"more than --max-memory ({max_bytes >> 20:,} MiB)")
