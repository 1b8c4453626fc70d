"""Buffer depths and the widths derived from a hardware configuration (no Amaranth needed).

:class:`hwcnn.arch.config.MemoryConfig` sizes buffers in KiB for the estimators; the RTL needs word
depths, so they live in their own record here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch.config import HardwareConfig
from ..errors import ConfigError
from ..numerics.fixedpoint import acc_bits_for

#: Width of the size fields m, n, k, in_h, in_w, out_h, out_w of a tile descriptor.
DIM_BITS = 16
#: Width of the window fields win_h, win_w, stride_h, stride_w, pad_top, pad_left.
WIN_BITS = 8
#: Requantization multiplier width (unsigned, ``0 <= M0 < 2**31``) and shift width (0..62).
M0_BITS = 31
SHIFT_BITS = 6
#: Largest accumulator the requantizer accepts (the contract's ``|acc| < 2**31``).
MAX_ACC_BITS = 32
#: Largest buffer depth the generator accepts (keeps address fields and the Verilog small).
MAX_DEPTH = 1 << 20


def addr_bits(depth: int) -> int:
    """Address width of a buffer of ``depth`` words (at least 1)."""
    return max(1, (depth - 1).bit_length())


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferDepths:
    """Word depths of the on-chip buffers (one word = one lane vector, see rtl/README.md)."""

    act: int = 256
    weight: int = 256
    out: int = 256
    param: int = 16
    acc: int = 256

    def __post_init__(self) -> None:
        for name in ("act", "weight", "out", "param", "acc"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DEPTH:
                raise ConfigError(f"buffer depth {name} must be between 1 and {MAX_DEPTH}, "
                                  f"not {v!r}")

    @classmethod
    def for_config(cls, config: HardwareConfig) -> BufferDepths:
        """The word depths of the memories ``config`` describes (its KiB budgets, parameter
        and accumulator words; :meth:`hwcnn.arch.config.HardwareConfig.memories`), so that
        the generated RTL is the machine the estimate and the board fit count."""
        d = {m.name: m.depth for m in config.memories()}
        return cls(act=d["act"], weight=d["weight"], out=d["out"], param=d["param"],
                   acc=d["acc"])


def param_lane_bits(config: HardwareConfig) -> int:
    """Width of one lane of a parameter word: bias (acc_bits) + M0 (31) + shift (6)."""
    return config.array.acc_bits + M0_BITS + SHIFT_BITS


def pool_sum_bits(config: HardwareConfig) -> int:
    """Width of the vector unit's exact window sum: any (2**WIN_BITS - 1)**2 act values."""
    return config.array.act_bits + 2 * WIN_BITS + 1


def check_buildable(config: HardwareConfig, depths: BufferDepths) -> None:
    """Refuse configurations the numeric contract cannot hold (raises ConfigError).

    The accumulator must hold every K a tile can have (``K <= depths.weight``, one weight word
    per k) plus the bias, and must not exceed the requantizer's 32-bit input.
    """
    arr = config.array
    if arr.acc_bits > MAX_ACC_BITS:
        raise ConfigError(f"acc_bits {arr.acc_bits} exceeds {MAX_ACC_BITS}: the requantizer "
                          f"takes |acc| < 2**31")
    need = acc_bits_for(arr.act_bits, arr.weight_bits, depths.weight, bias=True)
    if arr.acc_bits < need:
        raise ConfigError(f"acc_bits {arr.acc_bits} cannot hold a {depths.weight}-term dot "
                          f"product of {arr.act_bits}-bit x {arr.weight_bits}-bit values plus "
                          f"bias (needs {need}); lower --weight-depth or raise --acc-bits")
