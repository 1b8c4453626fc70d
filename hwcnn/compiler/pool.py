"""Vector-unit planning of the lowering (:mod:`hwcnn.compiler`): pool, global-average, add and
stand-alone activation layers become vector-unit tiles (one tile = up to ``C`` channels x a band
of output rows that fits the output memory; cycles from :func:`hwcnn.arch.timing.pool_tile_cycles`,
one window tap per cycle)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..arch import timing
from ..arch.config import HardwareConfig
from ..errors import ConfigError
from ..frontend import layers as L
from .plan import MAX_DESC, LayerPlan, PoolTile, Unit, _bytes, _caps


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolGeom:
    """A 2-D pool-unit job: ``channels`` maps of ``in_h x in_w`` -> ``out_h x out_w``."""

    channels: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    win: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    #: AVG ``count_include_pad``: the divisor counts the taps inside the padded input
    #: (``pad`` top/left, ``pad_far`` bottom/right).
    count_pad: bool = False
    pad_far: tuple[int, int] = (0, 0)


def _band_rows(g: PoolGeom, oy0: int, rows: int) -> tuple[int, int]:
    """Input rows ``(iy0, count)`` that output rows ``oy0 .. oy0+rows-1`` read."""
    first = max(0, oy0 * g.stride[0] - g.pad[0])
    last = min(g.in_h, (oy0 + rows - 1) * g.stride[0] - g.pad[0] + g.win[0])
    return first, max(last - first, 0)


def plan_pool(name: str, layer: L.Layer, hw: HardwareConfig, geoms: tuple[PoolGeom, ...],
              note: str) -> LayerPlan:
    """Pool-unit tiles for one layer (several passes for a 3-D max pool)."""
    arr = hw.array
    lanes, o_word = arr.cols, _bytes(arr.cols, arr.act_bits)
    full = _caps(hw).out
    for g in geoms:
        if max(g.win) > 255 or max(g.stride) > 255 or max(g.pad) > 255:
            raise ConfigError(f"layer {name!r}: pool window/stride/padding exceeds the 8-bit "
                              f"descriptor fields (window {g.win[0]}x{g.win[1]})")
    cyc, rd, wr, occ, dbl, specs = [], [], [], [], [], []
    for g in geoms:
        fits = None
        for double, cap in ((True, full // 2), (False, full)):
            rows = min(g.out_h, MAX_DESC)
            while rows and (_band_rows(g, 0, rows)[1] * g.in_w + rows * g.out_w) * o_word > cap:
                rows = rows * 3 // 4 if rows > 4 else rows - 1
            if rows:
                fits = (rows, double)
                break
        if fits is None:
            need = (_band_rows(g, 0, 1)[1] * g.in_w + g.out_w) * o_word
            raise ConfigError(f"layer {name!r}: output buffer too small for one pool tile: needs "
                              f"{need / 1024:.1f} KiB, have {hw.memory.out_kib} KiB")
        rows, double = fits
        for c0 in range(0, g.channels, lanes):
            ch = min(lanes, g.channels - c0)
            for oy0 in range(0, g.out_h, rows):
                b = min(rows, g.out_h - oy0)
                iy0, ih = _band_rows(g, oy0, b)
                cyc.append(timing.pool_tile_cycles(b, g.out_w, g.win[0], g.win[1], arr))
                rd.append(_bytes(ch * ih * g.in_w, arr.act_bits))
                wr.append(_bytes(ch * b * g.out_w, arr.act_bits))
                occ.append((ih * g.in_w + b * g.out_w) * o_word)
                dbl.append(double)
                pad_top = max(0, g.pad[0] - oy0 * g.stride[0])
                specs.append((c0, ch, oy0, b, iy0, ih, g, pad_top))

    def tiles() -> Iterator[PoolTile]:
        for i, ((c0, ch, oy0, b, iy0, ih, g, pt), d) in enumerate(zip(specs, dbl)):
            yield PoolTile(layer=name, index=i, c0=c0, channels=ch, oy0=oy0, out_h=b,
                           out_w=g.out_w, iy0=iy0, in_h=ih, in_w=g.in_w, win=g.win,
                           stride=g.stride, pad=(pt, g.pad[1]), out_bytes=occ[i],
                           dram_read=rd[i], dram_write=wr[i], double_buffered=d,
                           count_pad=g.count_pad, pad_far=g.pad_far)

    i64 = lambda v: np.asarray(v, dtype=np.int64)
    return LayerPlan(name=name, layer=layer, unit=Unit.POOL, note=note, macs=0, cycles=i64(cyc),
                     dram_read=i64(rd), dram_write=i64(wr), occupancy=i64(occ),
                     double_buffered=np.asarray(dbl, dtype=bool), make_tiles=tiles)


def pool_geoms(name: str, layer: L.Pool | L.GlobalAvgPool, x: L.TensorShape, win) -> tuple[PoolGeom, ...]:
    """2-D pool-unit passes computing a pool layer exactly."""
    sp = x.spatial
    if isinstance(layer, L.GlobalAvgPool):  # the window covers everything: fold dims into 2
        return (PoolGeom(channels=x.channels, in_h=math.prod(sp[:-1]), in_w=sp[-1], out_h=1,
                         out_w=1, win=(math.prod(sp[:-1]), sp[-1]), stride=(1, 1), pad=(0, 0)),)
    pads = tuple(lo for lo, _ in win.pads)
    far = tuple(hi for _, hi in win.pads)
    cp = layer.op is L.PoolOp.AVG and layer.count_include_pad
    if len(sp) == 1:
        return (PoolGeom(channels=x.channels, in_h=1, in_w=sp[0], out_h=1, out_w=win.out[0],
                         win=(1, win.kernel[0]), stride=(1, win.stride[0]), pad=(0, pads[0]),
                         count_pad=cp, pad_far=(0, far[0])),)
    if len(sp) == 2:
        return (PoolGeom(channels=x.channels, in_h=sp[0], in_w=sp[1], out_h=win.out[0],
                         out_w=win.out[1], win=tuple(win.kernel), stride=tuple(win.stride),
                         pad=pads, count_pad=cp, pad_far=far),)
    if layer.op is not L.PoolOp.MAX:
        raise ConfigError(f"layer {name!r}: 3-D {layer.op.value} pooling cannot be computed "
                          "exactly by the 2-D vector unit (only max pooling splits into passes)")
    d, h, w = sp
    od, oh, ow = win.out
    # Max is separable: per depth slice over (h, w), then over depth (1 x 1 window across maps).
    first = PoolGeom(channels=x.channels * d, in_h=h, in_w=w, out_h=oh, out_w=ow,
                     win=win.kernel[1:], stride=win.stride[1:], pad=pads[1:])
    second = PoolGeom(channels=x.channels, in_h=d, in_w=oh * ow, out_h=od, out_w=oh * ow,
                      win=(win.kernel[0], 1), stride=(win.stride[0], 1), pad=(pads[0], 0))
    return (first, second)
