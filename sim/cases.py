"""Host-side tile test cases for the RTL testbenches, written as one JSON file per run.

Two sources of tiles:

* **Slices of real layers** of the shipped models (:data:`LAYER_SLICES`): the layer's geometry
  comes from :func:`hwcnn.graph.build_graph` (window, stride, padding, groups and the im2col
  dimensions of :func:`hwcnn.graph.shapes.gemm_dims`), its data is random int8 with the extremes -128
  and 127 forced into every operand. A slice takes a range of output pixels, a range of filters
  and, for layers whose K does not fit the test buffers, a range of input channels (a K-slice
  is exactly the partial GEMM a K-fold computes). The im2col here is a plain loop, independent
  of :mod:`hwcnn.numerics.golden_ops`; ``tests/test_sim_cases.py`` checks it against a direct
  convolution.
* **Constrained-random tiles** per array size and seed (:func:`random_cases`): sizes below, at
  and above the array (ragged), ``m``/``n``/``k`` = 1 edges, all-extreme operands, every
  rounding mode, WRAP and ReLU/ReLU6 clamps, per-tensor and per-channel requantization, random
  pool geometries, and zero-size descriptors that the hardware must refuse.

Cases carry operands and requantization parameters only; expected values are computed inside
the simulator by the golden model (:mod:`hwcnn.numerics.golden_ops`). Seeds: :data:`CI_SEEDS` by default,
``HWCNN_RANDOM_SEEDS="4,5,10-20"`` for more.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hwcnn.frontend import layers as L
from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.graph.shapes import Window
from hwcnn.numerics.fixedpoint import Overflow, Rounding, quantize_multiplier
from sim.tb.tiles import (
    REFUSED_SIZE_FIELDS,
    SCHEMA,
    GemmCase,
    PoolCase,
    RefusedCase,
    TileCase,
    read_case_file,
    write_case_file,
)

#: Seeds run in CI; ``HWCNN_RANDOM_SEEDS`` adds more (see :func:`run_seeds`).
CI_SEEDS = (1, 2, 3)
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerSlice:
    """Which part of a real layer becomes a tile (half-open ranges, output pixels row-major).

    ``channels`` restricts the input channels (of the group) summed over; None = all.
    For a pooling layer ``pixels`` is unused: ``out_rows``/``out_cols`` pick the output window
    and ``channels`` the channels pooled.
    """

    model: str
    layer: str
    pixels: tuple[int, int] = (0, 1)
    filters: tuple[int, int] | None = None
    channels: tuple[int, int] | None = None
    group: int = 0
    out_rows: tuple[int, int] = (0, 1)
    out_cols: tuple[int, int] = (0, 1)


#: The real-layer corpus: LeNet-5 conv1/conv2/dense, a LeNet pooling layer and a padded ResNet
#: max pool, a strided and a padded AlexNet conv, MobileNetV2 depthwise groups.
LAYER_SLICES: tuple[LayerSlice, ...] = (
    LayerSlice(model="lenet5", layer="c1", pixels=(17, 28)),                    # m=11 n=6 k=25
    LayerSlice(model="lenet5", layer="c3", pixels=(0, 9)),                      # m=9 n=16 k=150
    LayerSlice(model="lenet5", layer="output"),                                 # m=1 n=10 k=84
    LayerSlice(model="lenet5", layer="f6", filters=(0, 12)),                    # m=1 n=12 k=120
    LayerSlice(model="lenet5", layer="s2", channels=(0, 6), out_rows=(0, 3), out_cols=(0, 4)),
    LayerSlice(model="resnet18", layer="maxpool", channels=(0, 5), out_rows=(0, 3),
               out_cols=(0, 3)),                                                # pad 1, stride 2
    LayerSlice(model="alexnet227", layer="conv1", pixels=(50, 56), filters=(0, 5)),   # stride 4
    LayerSlice(model="alexnet227", layer="conv3", pixels=(0, 13), filters=(0, 6),
               channels=(0, 8)),                                                # pad 1, k=72
    LayerSlice(model="mobilenet_v2", layer="b2/dw", pixels=(0, 10), group=0),    # stride 2, pad 1
    LayerSlice(model="mobilenet_v2", layer="b2/dw", pixels=(50, 62), group=95),
)


def seeds_from_env(default: Sequence[int] = CI_SEEDS) -> tuple[int, ...]:
    """Seeds from ``HWCNN_RANDOM_SEEDS`` (``"4,5,10-20"``), else ``default``.

    Raises
    ------
    ValueError
        For a malformed list.
    """
    text = os.environ.get("HWCNN_RANDOM_SEEDS", "").strip()
    if not text:
        return tuple(default)
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"HWCNN_RANDOM_SEEDS: {part!r} is not a seed or a range like 10-20")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return tuple(seeds)


def run_seeds() -> tuple[int, ...]:
    """:data:`CI_SEEDS` followed by the extra seeds of ``HWCNN_RANDOM_SEEDS`` (no repeats)."""
    extra = seeds_from_env(default=())
    return CI_SEEDS + tuple(dict.fromkeys(s for s in extra if s not in CI_SEEDS))


def int8_data(rng: np.random.Generator, shape: tuple[int, ...], extreme: float = 0.05) -> np.ndarray:
    """Uniform int8 with a fraction ``extreme`` of -128/127, and both extremes always present."""
    x = rng.integers(-128, 128, size=shape, dtype=np.int64)
    flat = x.reshape(-1)
    hits = rng.random(flat.size) < extreme
    flat[hits] = rng.choice(np.array([-128, 127]), size=int(hits.sum()))
    if flat.size >= 2:
        flat[rng.choice(flat.size, size=2, replace=False)] = (-128, 127)
    return x


def spread_requant(acc: np.ndarray, rng: np.random.Generator, *, saturate_frac: float = 1.25
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(m0, shift)`` mapping each column's largest ``|acc|`` to ~``160`` (int8 scale).

    Outputs then cover the whole int8 range with a few saturating, so the requantizer's clamp,
    rounding and sign handling are all exercised. A small random jitter avoids round multipliers.
    """
    amax = np.maximum(np.abs(acc).max(axis=0), 1).astype(np.float64)
    real = 127.0 * saturate_frac / amax * rng.uniform(0.8, 1.0, size=amax.shape)
    m0, shift = quantize_multiplier(real)
    return m0.astype(np.int64), shift.astype(np.int64)


# --- im2col of real layers ---------------------------------------------------------------------

def im2col_rows(x: np.ndarray, win: Window, pixels: range, channels: range) -> np.ndarray:
    """Rows ``pixels`` of the im2col matrix of ``x`` (C, H, W) over input ``channels``.

    Row ``p`` is output pixel ``(p // out_w, p % out_w)``; column order is channel-major then
    kernel row-major (``k = (c - channels.start) * kh*kw + ty*kw + tx``); padding reads 0.
    """
    kh, kw = win.kernel
    sh, sw = win.stride
    dh, dw = win.dilation
    (top, _), (left, _) = win.pads
    out_w = win.out[1]
    _, h, w = x.shape
    rows = np.zeros((len(pixels), len(channels) * kh * kw), dtype=np.int64)
    for i, p in enumerate(pixels):
        oy, ox = divmod(p, out_w)
        col = 0
        for c in channels:
            for ty in range(kh):
                for tx in range(kw):
                    y, xx = oy * sh + ty * dh - top, ox * sw + tx * dw - left
                    if 0 <= y < h and 0 <= xx < w:
                        rows[i, col] = x[c, y, xx]
                    col += 1
    return rows


@functools.lru_cache(maxsize=8)
def _model_graph(path: Path):  # type: ignore[no-untyped-def]
    return build_graph(load_spec(path))


def _layer(model: str, name: str, models_dir: Path) -> dict:  # type: ignore[type-arg]
    g = _model_graph(models_dir / f"{model}.yaml")
    if name not in g:
        raise KeyError(f"{model} has no layer {name!r}")
    return dict(g.nodes[name])


def conv_slice_data(sl: LayerSlice, node: dict, rng: np.random.Generator  # type: ignore[type-arg]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random input ``x`` and weights ``w`` of a conv layer and the slice's ``(A, B)``.

    -128 and 127 are forced into input pixels the slice actually reads (not padding) and into
    the sliced weights, so every real-layer tile exercises both extremes.
    """
    layer, gemm, win = node["layer"], node["gemm"], node["window"]
    in_shape = node["in_shapes"][0]
    cin = in_shape.channels // layer.groups
    f0, f1 = sl.filters or (0, gemm.n)
    c0, c1 = sl.channels or (0, cin)
    if not (0 <= sl.pixels[0] < sl.pixels[1] <= gemm.m and 0 <= f0 < f1 <= gemm.n
            and 0 <= c0 < c1 <= cin and 0 <= sl.group < gemm.groups):
        raise ValueError(f"slice {sl!r} is outside layer dims {gemm!r}")
    x = int8_data(rng, (in_shape.channels, *in_shape.spatial))
    w = int8_data(rng, (layer.filters, cin, *win.kernel))
    base = sl.group * cin
    pixels, chans = range(*sl.pixels), range(base + c0, base + c1)
    # Which input element each A entry reads (flat index + 1; 0 = padding).
    where = im2col_rows(np.arange(1, x.size + 1).reshape(x.shape), win, pixels, chans)
    read = np.unique(where[where > 0]) - 1
    x.flat[rng.choice(read, size=min(2, read.size), replace=False)] = (-128, 127)[:min(2, read.size)]
    filt = sl.group * gemm.n + np.arange(f0, f1)
    wf = w[filt][:, c0:c1].reshape(f1 - f0, -1)
    wf.flat[rng.choice(wf.size, size=min(2, wf.size), replace=False)] = (-128, 127)[:min(2, wf.size)]
    w[filt, c0:c1] = wf.reshape(f1 - f0, c1 - c0, *win.kernel)
    a = im2col_rows(x, win, pixels, chans)
    b = w[filt][:, c0:c1].reshape(f1 - f0, -1).T
    if c1 - c0 == cin:
        assert a.shape[1] == gemm.k, (a.shape, gemm)
    return x, w, a, b


def _slice_gemm(sl: LayerSlice, node: dict, rng: np.random.Generator) -> GemmCase:  # type: ignore[type-arg]
    layer, gemm = node["layer"], node["gemm"]
    f0, f1 = sl.filters or (0, gemm.n)
    origin = f"{sl.model}/{sl.layer}"
    match layer:
        case L.Conv():
            win = node["window"]
            c0, c1 = sl.channels or (0, node["in_shapes"][0].channels // layer.groups)
            _, _, a, b = conv_slice_data(sl, node, rng)
            origin += (f" pixels {sl.pixels[0]}..{sl.pixels[1] - 1} filters {f0}..{f1 - 1}"
                       f" channels {c0}..{c1 - 1}" + (f" group {sl.group}" if gemm.groups > 1 else "")
                       + f" (stride {win.stride}, pads {win.pads}; layer GEMM {gemm.m}x{gemm.n}x{gemm.k})")
        case L.Dense():
            a = int8_data(rng, (1, gemm.k))
            b = int8_data(rng, (gemm.k, gemm.n))[:, f0:f1].copy()
            b.flat[:2] = (-128, 127)
            origin += f" units {f0}..{f1 - 1} (layer GEMM {gemm.m}x{gemm.n}x{gemm.k})"
        case _:
            raise TypeError(f"{origin} is not a conv or dense layer")
    bias = rng.integers(-(1 << 12), 1 << 12, size=b.shape[1], dtype=np.int64)
    m0, shift = spread_requant(a @ b + bias, rng)
    relu = getattr(layer, "activation", None) is not None
    return GemmCase(name=f"{sl.model}/{sl.layer}#{sl.pixels[0]}g{sl.group}", origin=origin,
                    a=a, b=b, bias=bias, m0=m0, shift=shift, lo=0 if relu else -128, hi=127,
                    per_channel=True)


def _slice_pool(sl: LayerSlice, node: dict, rng: np.random.Generator) -> PoolCase:  # type: ignore[type-arg]
    layer, win = node["layer"], node["window"]
    c0, c1 = sl.channels or (0, node["in_shapes"][0].channels)
    (r0, r1), (q0, q1) = sl.out_rows, sl.out_cols
    if r0 != 0 or q0 != 0:
        raise ValueError("pool slices start at output (0, 0) so the padding stays at the border")
    (top, _), (left, _) = win.pads
    # The input region the chosen outputs read; windows never run past it (no padding there).
    in_h = min((r1 - 1) * win.stride[0] + win.kernel[0] - top, node["in_shapes"][0].spatial[0])
    in_w = min((q1 - 1) * win.stride[1] + win.kernel[1] - left, node["in_shapes"][0].spatial[1])
    x = int8_data(rng, (c1 - c0, in_h, in_w))
    op = {L.PoolOp.MAX: "max", L.PoolOp.AVG: "avg", L.PoolOp.SUM: "sum"}[layer.op]
    return PoolCase(name=f"{sl.model}/{sl.layer}", origin=(
        f"{sl.model}/{sl.layer} channels {c0}..{c1 - 1} outputs {r1}x{q1} "
        f"(kernel {win.kernel}, stride {win.stride}, pads {win.pads})"),
        op=op, x=x, out_h=r1, out_w=q1, win=win.kernel, stride=win.stride, pad=(top, left),
        m0=1, shift=0, lo=-128, hi=127)


def slice_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of slice number ``index`` (so a test can regenerate its data)."""
    return np.random.default_rng([seed, index])


def layer_cases(seed: int = 0, models_dir: Path = MODELS_DIR,
                slices: Iterable[LayerSlice] = LAYER_SLICES) -> tuple[TileCase, ...]:
    """Tiles cut from real layers of the shipped models (data random with ``seed``)."""
    out: list[TileCase] = []
    for i, sl in enumerate(slices):
        rng = slice_rng(seed, i)
        node = _layer(sl.model, sl.layer, models_dir)
        match node["layer"]:
            case L.Pool():
                out.append(_slice_pool(sl, node, rng))
            case _:
                out.append(_slice_gemm(sl, node, rng))
    return tuple(out)


# --- constrained random -------------------------------------------------------------------------

def _random_gemm(rng: np.random.Generator, name: str, m: int, n: int, k: int, *,
                 extreme_only: bool = False) -> GemmCase:
    if extreme_only:
        a = rng.choice(np.array([-128, 127]), size=(m, k))
        b = rng.choice(np.array([-128, 127]), size=(k, n))
    else:
        a, b = int8_data(rng, (m, k), 0.1), int8_data(rng, (k, n), 0.1)
    bias_en = bool(rng.random() < 0.8)
    bias = rng.integers(-(1 << 20), 1 << 20, size=n, dtype=np.int64) if bias_en else None
    acc = a @ b + (0 if bias is None else bias)
    per_channel = bool(rng.random() < 0.6)
    m0, shift = spread_requant(acc, rng, saturate_frac=float(rng.choice([0.5, 1.25, 4.0])))
    if not per_channel:
        m0, shift = m0[:1].copy(), shift[:1].copy()
    if rng.random() < 0.15:                       # power-of-two mode: m0 = 1, shift = log2
        m0[:] = 1
        shift[:] = max(0, int(np.abs(acc).max()).bit_length() - 7)
    rounding = Rounding(rng.choice([r.value for r in Rounding]))
    mode = Overflow.WRAP if rng.random() < 0.2 else Overflow.SATURATE
    lo, hi = -128, 127
    clamp = rng.random()
    if clamp < 0.2:
        lo = 0                                    # ReLU
    elif clamp < 0.3:
        lo, hi = 0, int(rng.integers(1, 127))     # ReLU6 with a quantized 6.0
    return GemmCase(name=name, origin=f"random {m}x{n}x{k}", a=a, b=b, bias=bias, m0=m0,
                    shift=shift, lo=lo, hi=hi, per_channel=per_channel, rounding=rounding,
                    mode=mode)


def _random_pool(rng: np.random.Generator, name: str, channels: int) -> PoolCase:
    while True:
        wh, ww = (int(v) for v in rng.integers(1, 4, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, wh // 2 + 1)), int(rng.integers(0, ww // 2 + 1))
        ih, iw = (int(v) for v in rng.integers(1, 9, size=2))
        oh, ow = (ih + ph - wh) // sh + 1, (iw + pw - ww) // sw + 1
        if oh >= 1 and ow >= 1 and ih + ph >= wh and iw + pw >= ww:
            break
    op = str(rng.choice(["max", "avg", "sum"]))
    x = int8_data(rng, (channels, ih, iw), 0.2)
    lo, hi, m0, shift = -128, 127, 1, 0
    if op == "sum":
        real = 127.0 / max(1, wh * ww * 128) * float(rng.uniform(1.0, 4.0))
        m0, shift = (int(v) for v in quantize_multiplier(real))
    if op != "max" and rng.random() < 0.3:
        lo = 0
    count_pad, far = False, (0, 0)
    if op == "avg" and rng.random() < 0.5:      # count_include_pad, with far padding
        count_pad, far = True, (int(rng.integers(0, wh)), int(rng.integers(0, ww)))
    return PoolCase(name=name, origin=f"random pool {ih}x{iw} win {wh}x{ww} stride {sh}x{sw} "
                    f"pad {ph},{pw}", op=op, x=x, out_h=oh, out_w=ow, win=(wh, ww),
                    stride=(sh, sw), pad=(ph, pw), m0=m0, shift=shift, lo=lo, hi=hi,
                    count_pad=count_pad, pad_far=far)


def _refused(rng: np.random.Generator, name: str, tile: str) -> RefusedCase:
    fields = REFUSED_SIZE_FIELDS[tile]
    sizes = {f: int(v) for f, v in zip(fields, rng.integers(0, 4, size=len(fields)), strict=True)}
    sizes[fields[int(rng.integers(0, len(fields)))]] = 0
    return RefusedCase(name=name, tile=tile, sizes=sizes)


def _with_k_split(case: GemmCase, rng: np.random.Generator) -> GemmCase:
    """The same GEMM run as a K-split chain of 2-3 ragged chunks (rtl/README.md 4)."""
    parts = min(case.k, int(rng.integers(2, 4)))
    cuts = sorted(int(v) for v in rng.choice(np.arange(1, case.k), size=parts - 1,
                                              replace=False))
    sizes = np.diff([0, *cuts, case.k])
    return replace(case, origin=f"{case.origin}, K-split chain",
                   k_split=tuple(int(v) for v in sizes))


def random_cases(seed: int, rows: int, cols: int) -> tuple[TileCase, ...]:
    """Constrained-random tiles for an ``rows`` x ``cols`` array (sizes relative to it)."""
    rng = np.random.default_rng([seed, rows, cols])
    r, c = rows, cols

    def pick(lo: int, hi: int) -> int:
        return int(rng.integers(lo, max(lo, hi) + 1))

    tag = f"rand{seed}"
    cases: list[TileCase] = [
        _random_gemm(rng, f"{tag}/small", pick(1, r - 1), pick(1, c - 1), pick(1, r - 1)),
        _random_gemm(rng, f"{tag}/exact", r, c, r),
        _random_gemm(rng, f"{tag}/ragged", pick(r + 1, 3 * r), pick(c + 1, 3 * c),
                     pick(r + 1, 4 * r)),
        _random_gemm(rng, f"{tag}/extreme", pick(r + 1, 2 * r), pick(c + 1, 2 * c),
                     pick(2 * r, 40), extreme_only=True),
        _random_gemm(rng, f"{tag}/m1", 1, pick(1, 2 * c), pick(1, 3 * r)),
        _random_gemm(rng, f"{tag}/n1k1", pick(1, 2 * r), 1, 1),
        _random_pool(rng, f"{tag}/pool_a", pick(1, c)),
        _random_pool(rng, f"{tag}/pool_b", c),
        _refused(rng, f"{tag}/refused", "gemm"),
        _refused(rng, f"{tag}/refused_pool", "pool"),
    ]
    cases.append(_with_k_split(_random_gemm(rng, f"{tag}/ksplit", pick(1, 2 * r), pick(1, 2 * c),
                                            pick(r + 2, 4 * r)), rng))
    if seed == CI_SEEDS[0]:
        # One deterministic worst case per array: every product is (-128)*(-128) = 2**14.
        m, n, k = r + 1, c + 1, 64
        a = np.full((m, k), -128, dtype=np.int64)
        b = np.full((k, n), -128, dtype=np.int64)
        # acc_j = 64 * 2**14 + bias_j = j * 2**17 + 12345: outputs spread over the int8 range.
        bias = -(1 << 20) + np.arange(n, dtype=np.int64) * (1 << 17) + 12345
        cases.append(GemmCase(name=f"{tag}/all_min", origin=f"all -128, {m}x{n}x{k}", a=a, b=b,
                              bias=bias,
                              m0=np.array([1]), shift=np.array([13]), lo=-128, hi=127,
                              per_channel=False))
    return tuple(cases)


def corpus(rows: int, cols: int, seeds: Sequence[int] | None = None, *,
           data_seed: int = 0) -> tuple[TileCase, ...]:
    """The tile corpus of one array size: real-layer slices, then random tiles per seed.

    ``seeds`` defaults to :func:`run_seeds` (CI seeds plus ``HWCNN_RANDOM_SEEDS``).
    """
    seeds = run_seeds() if seeds is None else tuple(seeds)
    out = list(layer_cases(data_seed))
    for s in seeds:
        out.extend(random_cases(s, rows, cols))
    return tuple(out)


def describe(cases: Sequence[TileCase]) -> str:
    """One line per case (for logs)."""
    return "\n".join(f"{c.name:28s} {c.summary()}" for c in cases)


__all__ = [
    "CI_SEEDS",
    "LAYER_SLICES",
    "SCHEMA",
    "LayerSlice",
    "conv_slice_data",
    "corpus",
    "describe",
    "im2col_rows",
    "int8_data",
    "layer_cases",
    "random_cases",
    "read_case_file",
    "seeds_from_env",
    "slice_rng",
    "spread_requant",
    "write_case_file",
]
