"""Shape formulas: the one place output sizes, window geometry and GEMM dimensions are computed.

Output size of a sliding window along one dimension (the lecture's formula, with dilation)::

    out = floor((W + P_lo + P_hi - d*(F - 1) - 1) / S) + 1        (ceil instead of floor in ceil_mode)

With symmetric padding ``P_lo = P_hi = P`` and ``d = 1`` this is the lecture's
``(W - F + 2P)/S + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError, shorten
from ..frontend import layers as L

#: Largest activation tensor accepted (elements per image); anything bigger is a typo.
MAX_ELEMENTS = 1 << 36


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """Resolved geometry of a conv/pool window, one entry per spatial dimension."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    out: tuple[int, ...]
    ceil_mode: bool = False

    @property
    def volume(self) -> int:
        """Kernel elements per channel (F*F for a square 2D window)."""
        return math.prod(self.kernel)


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmDims:
    """im2col mapping of a conv/dense layer: ``groups`` GEMMs of C[m x n] = A[m x k] . B[k x n]."""

    m: int
    n: int
    k: int
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.groups * self.m * self.n * self.k


def _extent(f: int, d: int) -> int:
    return d * (f - 1) + 1


def out_size(w: int, f: int, s: int, lo: int, hi: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Window positions along one dimension (see module docstring); assumes the window fits."""
    span = w + lo + hi - _extent(f, d)
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= w + lo:
        # PyTorch rule: the last window must start inside the input or the left padding.
        out -= 1
    return out


def same_pads(w: int, f: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow 'same' padding: out = ceil(W/S); any odd extra pad goes at the end."""
    out = -(-w // s)
    total = max((out - 1) * s + _extent(f, d) - w, 0)
    return total // 2, total - total // 2


def _per_dim(value: int | tuple[int, ...], rank: int, field: str, layer: L.Layer) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise SpecError(f"field {field!r} needs {rank} values for a {rank}D input, got {len(value)}",
                        layer=layer.name, line=layer.line)
    return tuple(value)


def _fit(layer: L.Layer, in_shape: L.TensorShape, kernel: tuple[int, ...], stride: tuple[int, ...],
         dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...], ceil_mode: bool,
         strict: bool) -> Window:
    outs = []
    for axis, (w, f, s, d, (lo, hi)) in enumerate(zip(in_shape.spatial, kernel, stride, dilation, pads)):
        ext = _extent(f, d)
        padded = w + lo + hi
        if ext > padded:
            what = f"kernel {f}" + (f" (dilated extent {ext})" if d > 1 else "")
            pad_txt = f"{w} + {lo} + {hi}" if lo != hi else f"{w} + 2*{lo}"
            raise SpecError(f"{what} is larger than the padded input {padded} ({pad_txt}) "
                            f"along spatial axis {axis}", layer=layer.name, line=layer.line)
        if strict and (padded - ext) % s:
            raise SpecError(f"window does not fit exactly along spatial axis {axis}: "
                            f"({w} - {ext} + {lo + hi})/{s} + 1 = {(padded - ext) / s + 1:.2f} "
                            "(strict mode)", layer=layer.name, line=layer.line)
        outs.append(out_size(w, f, s, lo, hi, d, ceil_mode))
    return Window(kernel=kernel, stride=stride, dilation=dilation, pads=pads, out=tuple(outs),
                  ceil_mode=ceil_mode)


def conv_window(layer: L.Conv, in_shape: L.TensorShape, strict: bool) -> Window:
    """Geometry of a convolution on ``in_shape`` (validates rank, groups and fit)."""
    if in_shape.rank != layer.rank:
        raise SpecError(f"conv{layer.rank}d needs a {layer.rank}D input (C, {'D, ' if layer.rank == 3 else ''}"
                        f"H, W), got shape {in_shape.as_list()}", layer=layer.name, line=layer.line)
    if in_shape.channels % layer.groups:
        raise SpecError(f"groups {layer.groups} does not divide the {in_shape.channels} input channels",
                        layer=layer.name, line=layer.line)
    if layer.filters % layer.groups:
        raise SpecError(f"groups {layer.groups} does not divide the {layer.filters} filters",
                        layer=layer.name, line=layer.line)
    if isinstance(layer.padding, str):  # "same" (spec.py turns "valid" into zeros)
        pads = tuple(same_pads(w, f, s, d) for w, f, s, d in
                     zip(in_shape.spatial, layer.kernel, layer.stride, layer.dilation))
    else:
        pads = _pairs(layer.padding, in_shape.rank, "padding", layer)
    return _fit(layer, in_shape, layer.kernel, layer.stride, layer.dilation, pads, False, strict)


def _pairs(value: int | L.Pads, rank: int, field: str, layer: L.Layer) -> tuple[tuple[int, int], ...]:
    """Padding as ``(low, high)`` per spatial dim, from an int, per-dim ints or per-dim pairs."""
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        if len(value) == 1 and rank > 1 and isinstance(layer, L.Pad):
            value = value * rank
        if len(value) != rank:
            raise SpecError(f"field {field!r} needs {rank} values for a {rank}D input, got {len(value)}",
                            layer=layer.name, line=layer.line)
        return tuple((int(p[0]), int(p[1])) for p in value)  # type: ignore[index]
    return tuple((p, p) for p in _per_dim(value, rank, field, layer))  # type: ignore[arg-type]


def pool_window(layer: L.Pool, in_shape: L.TensorShape, strict: bool) -> Window:
    """Geometry of a pooling layer (stride defaults to the kernel, as in PyTorch)."""
    rank = in_shape.rank
    if rank not in (1, 2, 3):
        raise SpecError(f"pooling needs a spatial input, got shape {in_shape.as_list()}",
                        layer=layer.name, line=layer.line)
    kernel = _per_dim(layer.kernel, rank, "kernel", layer)
    stride = kernel if layer.stride is None else _per_dim(layer.stride, rank, "stride", layer)
    dilation = _per_dim(layer.dilation, rank, "dilation", layer)
    pads = _pairs(layer.padding, rank, "padding", layer)
    for (lo, hi), f, d in zip(pads, kernel, dilation):
        for p in (lo, hi):
            if 2 * p > _extent(f, d):
                raise SpecError(f"padding {p} is more than half the kernel {f}", layer=layer.name,
                                line=layer.line)
    return _fit(layer, in_shape, kernel, stride, dilation, pads, layer.ceil_mode, strict)


def adaptive_bounds(w: int, out: int) -> tuple[tuple[int, int], ...]:
    """PyTorch's adaptive pooling windows along one dim: ``[floor(i*W/O), ceil((i+1)*W/O))``."""
    return tuple(((i * w) // out, -(-((i + 1) * w) // out)) for i in range(out))


def _spatial(layer: L.Layer, x: L.TensorShape, what: str) -> None:
    if x.rank == 0:
        raise SpecError(f"{what} needs a spatial input, got a flat vector", layer=layer.name,
                        line=layer.line)


def per_dim(value: tuple[int, ...], rank: int, field: str, layer: L.Layer) -> tuple[int, ...]:
    """A per-dimension field given once (applies to every dim) or once per spatial dim."""
    return _per_dim(value[0] if len(value) == 1 else value, rank, field, layer)


def pad_pairs(layer: L.Pad, x: L.TensorShape) -> tuple[tuple[int, int], ...]:
    """The ``(low, high)`` padding of a ``pad`` layer per spatial dim of ``x``."""
    return _pairs(layer.pads, x.rank, "padding", layer)


def broadcast(layer: L.Layer, ins: tuple[L.TensorShape, ...]) -> L.TensorShape:
    """Output of an element-wise ``mul``: equal shapes, or ``(C, 1, ..)`` / ``(C,)`` inputs
    broadcast over the positions of the one full ``(C, H, W)`` input."""
    full = max(ins, key=lambda s: s.size)
    for s in ins:
        same_c = s.channels == full.channels
        if s == full or (same_c and (s.rank == 0 or (s.rank == full.rank and set(s.spatial) == {1}))):
            continue
        shapes = ", ".join(str(t.as_list()) for t in ins)
        raise SpecError(f"mul inputs do not broadcast: {shapes} (each must equal the largest, or "
                        "be (C, 1, 1) or (C,) with its channel count)", layer=layer.name, line=layer.line)
    return full


def global_window(in_shape: L.TensorShape) -> Window:
    """Global average pooling as a window covering the whole map."""
    r = in_shape.rank
    return Window(kernel=in_shape.spatial, stride=in_shape.spatial, dilation=(1,) * r,
                  pads=((0, 0),) * r, out=(1,) * r)


def gemm_dims(layer: L.Layer, in_shape: L.TensorShape, window: Window | None,
              out_shape: L.TensorShape) -> GemmDims | None:
    """im2col GEMM dimensions of a conv or dense layer (None for other kinds).

    conv: M = output pixels, K = kernel volume * C_in/groups, N = filters/groups, one GEMM per
    group; dense: M = 1, K = input features, N = units.
    """
    match layer:
        case L.Conv():
            assert window is not None
            return GemmDims(m=math.prod(out_shape.spatial), k=window.volume * in_shape.channels // layer.groups,
                            n=layer.filters // layer.groups, groups=layer.groups)
        case L.Dense():
            return GemmDims(m=1, k=in_shape.size, n=layer.units)
    return None


def infer(layer: L.Layer, in_shapes: tuple[L.TensorShape, ...], strict: bool
          ) -> tuple[L.TensorShape, Window | None]:
    """Output shape (and window geometry) of ``layer`` given its input shapes."""
    out, window = _infer(layer, in_shapes, strict)
    if out.size > MAX_ELEMENTS:
        raise SpecError(f"output shape {out.as_list()} has {out.size:,} elements, more than the "
                        f"{MAX_ELEMENTS:,} hwcnn accepts", layer=layer.name, line=layer.line)
    return out, window


def _infer(layer: L.Layer, ins: tuple[L.TensorShape, ...], strict: bool
           ) -> tuple[L.TensorShape, Window | None]:
    def one() -> L.TensorShape:
        if len(ins) != 1:
            raise SpecError(f"{L.kind_name(layer)} takes exactly one input, got {len(ins)}",
                            layer=layer.name, line=layer.line)
        return ins[0]

    match layer:
        case L.Input(shape=shape):
            return shape, None
        case L.Conv():
            w = conv_window(layer, one(), strict)
            return L.TensorShape(layer.filters, w.out), w
        case L.Pool():
            x = one()
            w = pool_window(layer, x, strict)
            return L.TensorShape(x.channels, w.out), w
        case L.GlobalAvgPool():
            x = one()
            if x.rank == 0:
                raise SpecError("global_avgpool needs a spatial input, got a flat vector",
                                layer=layer.name, line=layer.line)
            w = global_window(x)
            return L.TensorShape(x.channels, w.out), w
        case L.Dense():
            return L.TensorShape(layer.units), None
        case L.Flatten():
            return L.TensorShape(one().size), None
        case L.Activation() | L.Dropout() | L.Softmax() | L.BatchNorm() | L.Nonlinear():
            return one(), None
        case L.LRN():
            x = one()
            if x.rank == 0:
                raise SpecError("lrn needs a (C, H, W) input, got a flat vector",
                                layer=layer.name, line=layer.line)
            return x, None
        case L.ChannelShuffle(groups=groups):
            x = one()
            if x.channels % groups:
                raise SpecError(f"groups {groups} does not divide the {x.channels} channels",
                                layer=layer.name, line=layer.line)
            return x, None
        case L.Pad():
            x = one()
            _spatial(layer, x, "pad")
            pads = pad_pairs(layer, x)
            return L.TensorShape(x.channels, tuple(w + lo + hi for w, (lo, hi) in zip(x.spatial, pads))), None
        case L.Resize():
            x = one()
            _spatial(layer, x, "resize")
            scale = per_dim(layer.scale, x.rank, "scale", layer)
            return L.TensorShape(x.channels, tuple(w * f for w, f in zip(x.spatial, scale))), None
        case L.AdaptiveAvgPool():
            x = one()
            _spatial(layer, x, "adaptive_avgpool")
            outs = per_dim(layer.output, x.rank, "output", layer)
            for axis, (size, o) in enumerate(zip(x.spatial, outs)):
                if o > size:
                    raise SpecError(f"output size {o} is larger than the input {size} along spatial "
                                    f"axis {axis}", layer=layer.name, line=layer.line)
            return L.TensorShape(x.channels, outs), None
        case L.Mul():
            if len(ins) < 2:
                raise SpecError("mul needs at least two inputs", layer=layer.name, line=layer.line)
            return broadcast(layer, ins), None
        case L.Add():
            if len(ins) < 2:
                raise SpecError("add needs at least two inputs", layer=layer.name, line=layer.line)
            if len(set(ins)) != 1:
                shapes = shorten(", ".join(str(s.as_list()) for s in ins), limit=120, quote=False)
                raise SpecError(f"add inputs have different shapes: {shapes}", layer=layer.name, line=layer.line)
            return ins[0], None
        case L.Concat():
            if len(ins) < 2:
                raise SpecError("concat needs at least two inputs", layer=layer.name, line=layer.line)
            if len({s.spatial for s in ins}) != 1:
                shapes = shorten(", ".join(str(s.as_list()) for s in ins), limit=120, quote=False)
                raise SpecError(f"concat inputs differ in spatial size: {shapes}", layer=layer.name, line=layer.line)
            return L.TensorShape(sum(s.channels for s in ins), ins[0].spatial), None
    raise TypeError(f"unknown layer record {layer!r}")
