"""Tile descriptors as validated Python values, and their encoding into ``desc__*`` fields.

These records are what a host (the cocotb testbench, the Amaranth tests, a driver) puts on the
``desc`` port of ``hwcnn_top`` before pulsing ``start``; ``rtl/README.md`` section 4 documents
every field. Construction checks what a descriptor alone can check; :meth:`GemmDesc.check` and
:meth:`PoolDesc.check` check it against a configuration (buffer ranges, accumulator width).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..arch.config import Dataflow, HardwareConfig
from ..errors import ConfigError
from ..numerics.fixedpoint import AVG_MAX_TAPS, MAX_SHIFT, Overflow, Rounding, acc_bits_for
from .layout import act_word_count
from .params import DIM_BITS, WIN_BITS, BufferDepths

#: Encoding of the ``rounding`` field: the order of :class:`hwcnn.numerics.fixedpoint.Rounding`.
ROUNDING_CODE: dict[Rounding, int] = {r: i for i, r in enumerate(Rounding)}


class TileKind(enum.IntEnum):
    """Value of the ``kind`` field."""

    GEMM = 0
    POOL = 1


class PoolOpCode(enum.IntEnum):
    """Value of the ``pool_op`` field."""

    MAX = 0
    AVG = 1
    SUM = 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check(owner: str, name: str, v: object, lo: int, hi: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"{owner}: {name} must be an integer in {lo}..{hi}, not {v!r}")


def _check_range(owner: str, what: str, base: int, words: int, depth: int) -> None:
    if base + words > depth:
        raise ConfigError(f"{owner}: {what} words [{base}, {base + words}) exceed the buffer "
                          f"depth {depth}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Requant:
    """Output stage ``clamp(overflow(round_shift(acc * m0, shift, rounding)), lo, hi)``."""

    lo: int
    hi: int
    m0: int = 1
    shift: int = 0
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SATURATE

    def __post_init__(self) -> None:
        _check("requant", "m0", self.m0, 0, (1 << 31) - 1)
        _check("requant", "shift", self.shift, 0, MAX_SHIFT)
        if not isinstance(self.rounding, Rounding) or not isinstance(self.overflow, Overflow):
            raise ConfigError("requant: rounding/overflow must be fixedpoint enums")
        if self.lo > self.hi:
            raise ConfigError(f"requant: empty clamp range [{self.lo}, {self.hi}]")

    def check(self, act_bits: int) -> None:
        lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
        if not (lo <= self.lo <= self.hi <= hi):
            raise ConfigError(f"requant: clamp [{self.lo}, {self.hi}] outside the "
                              f"{act_bits}-bit range [{lo}, {hi}]")

    def fields(self) -> dict[str, int]:
        return {"m0": self.m0, "shift": self.shift, "rounding": ROUNDING_CODE[self.rounding],
                "wrap": int(self.overflow is Overflow.WRAP), "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmDesc:
    """One GEMM tile: ``Out[m x n] = requant(bias + A[m x k] @ B[k x n])`` (rtl/README.md).

    K-split chains (a GEMM whose K is cut into chunks run as consecutive tiles): ``acc_in``
    starts the sums from the int32 partial sums in the accumulator buffer instead of the bias;
    ``acc_out`` writes the int32 sums to the accumulator buffer (word ``nf*m + i``) instead of
    requantizing into the output buffer. The accumulator width is checked for this tile's
    ``k``; the host must check the chain's total K (wrapping partial sums are exact whenever
    the final sum fits ``acc_bits``).
    """

    m: int
    n: int
    k: int
    requant: Requant
    a_base: int = 0
    b_base: int = 0
    p_base: int = 0
    c_base: int = 0
    per_channel: bool = False
    bias_en: bool = True
    acc_in: bool = False
    acc_out: bool = False

    def __post_init__(self) -> None:
        for name in ("m", "n", "k"):
            _check("gemm tile", name, getattr(self, name), 1, (1 << DIM_BITS) - 1)
        for name in ("a_base", "b_base", "p_base", "c_base"):
            _check("gemm tile", name, getattr(self, name), 0, 1 << 30)

    def check(self, config: HardwareConfig, depths: BufferDepths) -> None:
        """Raise ConfigError unless the tile fits ``config`` and ``depths``."""
        arr = config.array
        r, c = arr.rows, arr.cols
        fn = _ceil_div(self.n, c)
        os_ = arr.dataflow is Dataflow.OUTPUT_STATIONARY
        act_words = act_word_count(self.m, self.k, r)
        _check_range("gemm tile", "activation", self.a_base, act_words, depths.act)
        _check_range("gemm tile", "weight", self.b_base, fn * self.k, depths.weight)
        _check_range("gemm tile", "parameter", self.p_base, fn, depths.param)
        if not self.acc_out:
            _check_range("gemm tile", "output", self.c_base, fn * self.m, depths.out)
        if self.acc_in or self.acc_out:
            _check_range("gemm tile", "accumulator", 0, fn * self.m, depths.acc)
        if not os_ and self.m > depths.acc:
            raise ConfigError(f"gemm tile: m {self.m} exceeds the accumulator buffer depth "
                              f"{depths.acc}")
        need = acc_bits_for(arr.act_bits, arr.weight_bits, self.k, bias=self.bias_en)
        if need > arr.acc_bits:
            raise ConfigError(f"gemm tile: k {self.k} needs {need} accumulator bits, the "
                              f"array has {arr.acc_bits}")
        self.requant.check(arr.act_bits)

    def fields(self) -> dict[str, int]:
        """Values of the ``desc__*`` ports (names without the ``desc__`` prefix)."""
        return {"kind": TileKind.GEMM, "m": self.m, "n": self.n, "k": self.k,
                "a_base": self.a_base, "b_base": self.b_base, "p_base": self.p_base,
                "c_base": self.c_base, "per_channel": int(self.per_channel),
                "bias_en": int(self.bias_en), "acc_in": int(self.acc_in),
                "acc_out": int(self.acc_out), **self.requant.fields()}


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolDesc:
    """One vector-unit tile over one group of C channels held in the OUTPUT buffer
    (rtl/README.md 4). AVG divides by the taps inside the input (``count_pad = False``) or
    by the taps inside the padded input, ``pad_bottom``/``pad_right`` below/right of it
    (``count_pad = True``, PyTorch's ``count_include_pad``); an AVG window has at most
    ``AVG_MAX_TAPS`` taps (the reciprocal table)."""

    op: PoolOpCode
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    win_h: int
    win_w: int
    requant: Requant
    stride_h: int = 1
    stride_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0
    count_pad: bool = False
    pin_base: int = 0
    c_base: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.op, PoolOpCode):
            raise ConfigError(f"pool tile: op must be a PoolOpCode, not {self.op!r}")
        for name in ("in_h", "in_w", "out_h", "out_w"):
            _check("pool tile", name, getattr(self, name), 1, (1 << DIM_BITS) - 1)
        for name in ("win_h", "win_w", "stride_h", "stride_w"):
            _check("pool tile", name, getattr(self, name), 1, (1 << WIN_BITS) - 1)
        for name in ("pad_top", "pad_left", "pad_bottom", "pad_right"):
            _check("pool tile", name, getattr(self, name), 0, (1 << WIN_BITS) - 1)
        if not isinstance(self.count_pad, bool):
            raise ConfigError(f"pool tile: count_pad must be a bool, not {self.count_pad!r}")
        if self.op is PoolOpCode.AVG and self.win_h * self.win_w > AVG_MAX_TAPS:
            raise ConfigError(f"pool tile: an average of {self.win_h}x{self.win_w} taps exceeds "
                              f"the {AVG_MAX_TAPS}-entry reciprocal table")
        for name in ("pin_base", "c_base"):
            _check("pool tile", name, getattr(self, name), 0, 1 << 30)
        # Every window must see at least one input element (n >= 1 for AVG, a value for MAX).
        for (o, s, p, w, size, axis) in ((self.out_h, self.stride_h, self.pad_top, self.win_h,
                                          self.in_h, "row"),
                                         (self.out_w, self.stride_w, self.pad_left, self.win_w,
                                          self.in_w, "column")):
            if p >= w:
                raise ConfigError(f"pool tile: the first {axis} window lies in the padding")
            if (o - 1) * s - p >= size:
                raise ConfigError(f"pool tile: the last {axis} window lies in the padding")

    def check(self, config: HardwareConfig, depths: BufferDepths) -> None:
        """Raise ConfigError unless the tile fits ``config`` and ``depths``."""
        arr = config.array
        nin, nout = self.in_h * self.in_w, self.out_h * self.out_w
        _check_range("pool tile", "input", self.pin_base, nin, depths.out)
        _check_range("pool tile", "output", self.c_base, nout, depths.out)
        if self.pin_base < self.c_base + nout and self.c_base < self.pin_base + nin:
            raise ConfigError("pool tile: input and output ranges overlap")
        if self.op is PoolOpCode.SUM:
            # The exact window sum must fit the accumulator the requantizer takes.
            sum_bits = arr.act_bits + (self.win_h * self.win_w - 1).bit_length()
            if sum_bits > arr.acc_bits:
                raise ConfigError(f"pool tile: a {self.win_h}x{self.win_w} sum needs "
                                  f"{sum_bits} bits, the accumulator has {arr.acc_bits}")
        self.requant.check(arr.act_bits)

    def fields(self) -> dict[str, int]:
        """Values of the ``desc__*`` ports (names without the ``desc__`` prefix)."""
        return {"kind": TileKind.POOL, "pool_op": self.op, "in_h": self.in_h,
                "in_w": self.in_w, "out_h": self.out_h, "out_w": self.out_w,
                "win_h": self.win_h, "win_w": self.win_w, "stride_h": self.stride_h,
                "stride_w": self.stride_w, "pad_top": self.pad_top, "pad_left": self.pad_left,
                "pad_bottom": self.pad_bottom, "pad_right": self.pad_right,
                "count_pad": int(self.count_pad), "pin_base": self.pin_base, "c_base": self.c_base, **self.requant.fields()}


TileDesc = GemmDesc | PoolDesc
