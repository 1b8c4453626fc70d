"""Per-layer budgets: parameters, MACs, operations and memory — one source of truth.

Conventions (the lecture's, see README "Budgets"):

- ``weights``: conv ``K * (F*F*C_in/groups)`` (``F*F*F`` for 3D), dense ``inputs * units``,
  batchnorm ``C`` (gamma); ``biases``: one per filter/unit when ``bias`` is on, batchnorm ``C``
  (beta). BatchNorm running mean/variance are buffers, not parameters (as in PyTorch).
  ``params = weights + biases``, i.e. the lecture's ``K(F*F*C + 1)``.
- ``macs``: one per weight use (conv: output elements x F*F*C_in/groups; dense: inputs x units).
- ``ops`` (the lecture's "operations"): conv = MACs, dense = inputs x outputs, pooling = output
  elements x window volume (F*F; the whole map for global average pooling); element-wise
  layers count 0 here and appear in ``eltwise_ops`` instead (relu/relu6: 1 per element,
  batchnorm: 2 (multiply and add), add with n inputs: n-1, softmax: 3 (exp, sum, divide);
  tanh / sigmoid / hardsigmoid: 1 per element (one function evaluation or table look-up),
  hardswish / silu: 2 (the gate and the product), mul with n inputs: n-1 per output element,
  lrn: ``size + 3`` (``size`` squares summed, then scale-and-offset, power and divide)).
  Adaptive average pooling counts like pooling: per output element its window's volume
  (PyTorch's windows, :func:`hwcnn.graph.shapes.adaptive_bounds`). pad, resize and
  channel_shuffle move data and count 0.
- ``activation_elements``: elements of the layer's output (the input layer counts the image);
  ``activation_bytes`` at ``activation_bits``; ``weight_bytes`` = weights at ``weight_bits``
  plus biases at ``bias_bits`` (each rounded up to whole bytes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from ..frontend import layers as L
from .shapes import GemmDims, Window, adaptive_bounds


class Group(enum.Enum):
    """Which subtotal a layer belongs to: the lecture's conv-vs-FC comparison, and the rest.

    ``OTHER`` holds the input image, batchnorm, activations, add, concat, flatten, dropout and
    softmax, so the subtotals of the groups add up to the total of the network.
    """

    CONV = "conv+pool"
    DENSE = "dense"
    OTHER = "other"


def group_of(layer: L.Layer) -> Group:
    match layer:
        case L.Conv() | L.Pool() | L.GlobalAvgPool():
            return Group.CONV
        case L.Dense():
            return Group.DENSE
    return Group.OTHER


def _bytes(count: int, bits: int) -> int:
    return -(-count * bits // 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCost:
    """Budget of one layer (or a sum of layers: ``a + b``)."""

    weights: int = 0
    biases: int = 0
    macs: int = 0
    ops: int = 0
    eltwise_ops: int = 0
    activation_elements: int = 0
    activation_bytes: int = 0
    weight_bytes: int = 0

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def __add__(self, other: LayerCost) -> LayerCost:
        return LayerCost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def layer_cost(layer: L.Layer, in_shapes: tuple[L.TensorShape, ...], out_shape: L.TensorShape,
               window: Window | None, gemm: GemmDims | None, formats: L.NumberFormats) -> LayerCost:
    """Budget of ``layer`` from its resolved shapes (see module docstring for conventions)."""
    weights = biases = macs = ops = elt = 0
    out = out_shape.size
    match layer:
        case L.Conv() | L.Dense():
            assert gemm is not None
            weights = gemm.groups * gemm.k * gemm.n
            biases = (gemm.groups * gemm.n) if layer.bias else 0
            macs = ops = gemm.macs
        case L.Pool() | L.GlobalAvgPool():
            assert window is not None
            ops = out * window.volume
        case L.BatchNorm():
            weights = biases = out_shape.channels
            elt = 2 * out
        case L.Activation():
            elt = out
        case L.Add():
            elt = out * (len(in_shapes) - 1)
        case L.Softmax():
            elt = 3 * out
        case L.Nonlinear(fn=fn):
            elt = (2 if fn in (L.Fn.HARDSWISH, L.Fn.SILU) else 1) * out
        case L.Mul():
            elt = out * (len(in_shapes) - 1)
        case L.LRN(size=size):
            elt = (size + 3) * out
        case L.AdaptiveAvgPool():
            # separable: the sum over output positions of the window volume is a product of sums
            per_channel = 1
            for w, o in zip(in_shapes[0].spatial, out_shape.spatial):
                per_channel *= sum(hi - lo for lo, hi in adaptive_bounds(w, o))
            ops = out_shape.channels * per_channel
    return LayerCost(
        weights=weights, biases=biases, macs=macs, ops=ops, eltwise_ops=elt,
        activation_elements=out,
        activation_bytes=_bytes(out, formats.activation_bits),
        weight_bytes=_bytes(weights, formats.weight_bits) + _bytes(biases, formats.bias_bits),
    )
