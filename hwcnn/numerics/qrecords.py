"""The records of stage 3 (:mod:`.quantize`): the quantization policy, tensor formats, the
per-layer :class:`QLayer` and the :class:`QuantizedNetwork` handed to the golden model, the
compiler's back end and the machine. Frozen values only; the quantizer itself is in
:mod:`.quantize`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..errors import ConfigError
from ..frontend import layers as L
from ..graph.shapes import Window
from . import fixedpoint as fp
from .fixedpoint import Overflow, Rounding
from .golden_ops import Requant


class Calibration(enum.Enum):
    MAX_ABS = "maxabs"
    PERCENTILE = "percentile"


class ScaleMode(enum.Enum):
    REAL = "real"     # any positive scale; requantize with a 31-bit multiplier + shift
    POW2 = "pow2"     # scales are powers of two (Qm.n); requantize with a shift only


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantPolicy:
    """How to quantize: widths, granularity, calibration statistic, scale mode, rounding."""

    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    per_channel: bool = True
    calibration: Calibration = Calibration.MAX_ABS
    percentile: float = 99.99
    scale_mode: ScaleMode = ScaleMode.REAL
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SATURATE

    def __post_init__(self) -> None:
        for what, bits in (("activation", self.act_bits), ("weight", self.weight_bits)):
            if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
                raise ConfigError(f"unsupported {what} width {bits!r}: the golden model "
                                  "supports 2..16-bit activations and weights")
        if self.acc_bits != 32:
            raise ConfigError(f"unsupported accumulator width {self.acc_bits!r}: the "
                              "requantizer takes 32-bit accumulators")
        if not 50.0 <= self.percentile <= 100.0:
            raise ConfigError(f"percentile must be within 50..100, not {self.percentile!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorFormat:
    """Format of one activation tensor: ``bits``-wide signed ints, ``real = q * scale``."""

    scale: float
    bits: int
    pow2: bool = False

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def qformat(self) -> fp.QFormat | None:
        """The ``ap_fixed`` format when the scale is a power of two."""
        if not self.pow2:
            return None
        frac = -int(math.log2(self.scale))
        return fp.QFormat(width=self.bits, int_bits=self.bits - frac)

    def __str__(self) -> str:
        q = self.qformat
        return str(q).split(" ")[0] if q is not None else f"int{self.bits}*{self.scale:.4g}"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class QLayer:
    """One integer operation of the quantized network (a layer plus what was fused into it).

    ``inputs`` name the tensors read (each the name of another QLayer). Conv/dense carry
    integer ``weight`` / ``bias`` (accumulator scale) and ``requant``; sum pools ``requant``;
    adds ``add_m0`` + ``add_shift`` (single-rounding alignment); concats ``concat_rq``; every
    layer has the clamp ``lo``/``hi`` of its output (activation bounds).
    """

    name: str
    layer: L.Layer
    inputs: tuple[str, ...]
    out: TensorFormat
    lo: int
    hi: int
    fused: tuple[str, ...] = ()
    window: Window | None = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    #: max |weight| (the exactness bound of the BLAS GEMMs uses it, see exactgemm)
    wmax: int = 0
    requant: Requant | None = None
    add_m0: tuple[int, ...] = ()
    add_shift: int = 0
    concat_rq: tuple[Requant, ...] = ()
    acc_bits_needed: int = 0
    bias_saturated: int = 0

    def __post_init__(self) -> None:
        # Frozen means frozen: the integer parameters are shared by every run and must not drift.
        for arr in (self.weight, self.bias, self.weight_scale):
            if arr is not None:
                arr.flags.writeable = False

    @property
    def tail(self) -> str:
        """The last original layer this operation computes (whose float output it matches)."""
        return self.fused[-1] if self.fused else self.name


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class QuantizedNetwork:
    """Frozen result of quantization; ``alias`` maps EVERY layer name to the QLayer holding
    its tensor (itself, or the layer it was folded/fused into)."""

    name: str
    graph: nx.DiGraph
    policy: QuantPolicy
    layers: tuple[QLayer, ...]
    alias: Mapping[str, str]
    input_name: str
    outputs: tuple[str, ...]
    by_name: Mapping[str, QLayer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {q.name: q for q in self.layers})

    @property
    def input_format(self) -> TensorFormat:
        return self.by_name[self.input_name].out
