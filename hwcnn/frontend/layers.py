"""The layer data model: one frozen dataclass per layer kind, and the tensor shape record.

Shapes are channels-first: a feature map is ``(C, H, W)`` (``(C, D, H, W)`` for 3D layers) and
a flat vector is ``(C,)`` with no spatial dimensions. Stages dispatch on these classes with
``match``; there is no string registry of kinds outside :mod:`hwcnn.frontend.spec` (which maps the YAML
``kind:`` names to these classes).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class TensorShape:
    """An activation tensor for one image: ``channels`` x ``spatial`` (empty for vectors)."""

    channels: int
    spatial: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.channels * math.prod(self.spatial)

    @property
    def rank(self) -> int:
        """Number of spatial dimensions (0 for a vector, 2 for an image, 3 for a volume)."""
        return len(self.spatial)

    def as_list(self) -> list[int]:
        """Channels-first list, e.g. ``[96, 55, 55]``."""
        return [self.channels, *self.spatial]

    def lecture(self) -> str:
        """The lecture's spelling: spatial dims first, channels last, e.g. ``55x55x96``."""
        return "x".join(str(d) for d in (*self.spatial, self.channels))


class Act(enum.Enum):
    """A fused activation (applied to a conv/dense output before it is stored)."""

    RELU = "relu"
    RELU6 = "relu6"


class Fn(enum.Enum):
    """A stand-alone smooth or piecewise nonlinearity (not fusable into a GEMM clamp)."""

    TANH = "tanh"
    SIGMOID = "sigmoid"
    HARDSIGMOID = "hardsigmoid"
    HARDSWISH = "hardswish"
    SILU = "silu"


class PoolOp(enum.Enum):
    MAX = "max"
    AVG = "avg"
    SUM = "sum"


#: Padding as given: per spatial dim a symmetric amount, per spatial dim a ``(low, high)`` pair
#: (asymmetric, as ONNX ``pads``), or "same" / "valid".
Pads: TypeAlias = tuple[int, ...] | tuple[tuple[int, int], ...]
Padding: TypeAlias = Pads | str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layer:
    name: str
    inputs: tuple[str, ...] = ()
    #: 1-based line of the layer in its YAML file, for error messages (not part of identity).
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Input(_Layer):
    """The network input (one image): ``shape`` is channels-first."""

    shape: TensorShape


@dataclass(frozen=True, slots=True, kw_only=True)
class Conv(_Layer):
    """N-d convolution (``rank`` 2 = conv2d, 3 = conv3d), cross-correlation as in PyTorch.

    out[k, p] = bias[k] + sum_{c in group(k), f} w[k, c, f] * x[c, p*S + f*d - P]
    Out size per dim: floor((W + P_lo + P_hi - d*(F-1) - 1) / S) + 1.
    """

    rank: int
    filters: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Padding
    dilation: tuple[int, ...]
    groups: int = 1
    bias: bool = True
    activation: Act | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool(_Layer):
    """Max / average / sum pooling over a window, per channel (2D or 3D by the input).

    ``count_include_pad``: an average divides by the window clipped to the padded input (as
    PyTorch's default and ONNX's ``count_include_pad=1``) instead of by its in-bounds elements.
    """

    op: PoolOp
    kernel: tuple[int, ...] | int
    stride: tuple[int, ...] | int | None = None
    padding: Pads | int = 0
    ceil_mode: bool = False
    dilation: tuple[int, ...] | int = 1
    count_include_pad: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalAvgPool(_Layer):
    """Average over all spatial positions: (C, ...) -> (C, 1, 1) (or (C, 1, 1, 1))."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dense(_Layer):
    """Fully connected: ``out[j] = bias[j] + sum_i w[j, i] * x[i]``; flattens its input (CHW order)."""

    units: int
    bias: bool = True
    activation: Act | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Activation(_Layer):
    """A stand-alone ReLU or ReLU6."""

    fn: Act


@dataclass(frozen=True, slots=True, kw_only=True)
class Nonlinear(_Layer):
    """Element-wise tanh, sigmoid, hardsigmoid (``clip(alpha*x + beta, 0, 1)``), hardswish
    (``x * relu6(x + 3) / 6``) or SiLU (``x * sigmoid(x)``)."""

    fn: Fn
    alpha: float = 1.0 / 6.0
    beta: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Mul(_Layer):
    """Element-wise product of two or more inputs; an input of shape ``(C, 1, 1)`` or ``(C,)``
    broadcasts over the spatial positions of a ``(C, H, W)`` one (squeeze-excitation)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LRN(_Layer):
    """Local response normalization across channels (AlexNet; ONNX ``LRN``):
    ``y[c] = x[c] / (bias + alpha/size * sum_{c' in window(c)} x[c']**2) ** beta``, the window
    ``c - floor((size-1)/2) .. c + ceil((size-1)/2)`` clipped to the channels."""

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Pad(_Layer):
    """Constant padding of the spatial dimensions, ``(low, high)`` per dimension."""

    pads: tuple[tuple[int, int], ...]
    value: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Resize(_Layer):
    """Nearest-neighbour upsampling by an integer factor per spatial dimension:
    ``y[c, i, j] = x[c, i // s_h, j // s_w]``."""

    scale: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveAvgPool(_Layer):
    """PyTorch's adaptive average pooling to ``output`` positions per spatial dimension: output
    ``i`` averages input ``floor(i*W/O) .. ceil((i+1)*W/O) - 1``."""

    output: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelShuffle(_Layer):
    """ShuffleNet's channel shuffle: channels viewed as ``(groups, C/groups)``, transposed,
    flattened: output channel ``j*groups + i`` is input channel ``i*(C/groups) + j``."""

    groups: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchNorm(_Layer):
    """Inference-time batch normalization: y = gamma * (x - mean) / sqrt(var + eps) + beta."""

    eps: float = 1e-5


@dataclass(frozen=True, slots=True, kw_only=True)
class Add(_Layer):
    """Element-wise sum of two or more inputs of identical shape (residual connection)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Concat(_Layer):
    """Concatenation along the channel axis; spatial sizes must agree."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Flatten(_Layer):
    """(C, H, W) -> (C*H*W,) in channels-first order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropout(_Layer):
    """Identity at inference time."""

    rate: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Softmax(_Layer):
    """Softmax over the channel axis (computed in float by the golden model's reference)."""


Layer: TypeAlias = (
    Input | Conv | Pool | GlobalAvgPool | Dense | Activation | BatchNorm | Add | Concat
    | Flatten | Dropout | Softmax | Nonlinear | Mul | LRN | Pad | Resize | AdaptiveAvgPool
    | ChannelShuffle
)


def kind_name(layer: Layer) -> str:
    """The YAML ``kind`` of a layer record (``conv2d``, ``maxpool``, ``dense`` ...)."""
    match layer:
        case Input():
            return "input"
        case Conv(rank=r):
            return f"conv{r}d"
        case Pool(op=op):
            return f"{op.value}pool"
        case GlobalAvgPool():
            return "global_avgpool"
        case Dense():
            return "dense"
        case Activation(fn=fn):
            return fn.value
        case BatchNorm():
            return "batchnorm"
        case Add():
            return "add"
        case Concat():
            return "concat"
        case Flatten():
            return "flatten"
        case Dropout():
            return "dropout"
        case Softmax():
            return "softmax"
        case Nonlinear(fn=fn):
            return fn.value
        case Mul():
            return "mul"
        case LRN():
            return "lrn"
        case Pad():
            return "pad"
        case Resize():
            return "resize"
        case AdaptiveAvgPool():
            return "adaptive_avgpool"
        case ChannelShuffle():
            return "channel_shuffle"
    raise TypeError(f"not a layer: {layer!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberFormats:
    """Declared storage widths (bits) used for byte budgets and as quantization defaults."""

    weight_bits: int = 8
    activation_bits: int = 8
    bias_bits: int = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    """A parsed network: layers in file order (inputs resolved to layer names)."""

    name: str
    layers: tuple[Layer, ...]
    formats: NumberFormats = NumberFormats()
    strict: bool = False
    source: str | None = field(default=None, compare=False)
