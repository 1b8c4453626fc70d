"""Stage 4: layer graph + :class:`HardwareConfig` -> :class:`Program` (an ordered tile schedule).

What runs where (the accelerator of ``rtl/README.md``):

* conv (any rank) and dense -> GEMM tiles, im2col mapping from :func:`hwcnn.shapes.gemm_dims`
  (M = output pixels, K = kernel volume x C_in/groups, N = filters/groups), one GEMM per group
  (a depthwise conv is ``C`` GEMMs with N = 1: it uses one array column, honestly). A tile keeps
  the layer's whole K (the hardware adds the bias in the first K-fold and requantizes after the
  last; it cannot carry partial sums between tiles) and covers ``m x n`` of one group.
* max/avg/sum pooling and global average pooling -> pool-unit tiles (one tile = up to ``C``
  channels x a band of output rows).
* add -> pool-unit SUM tiles: the ``n`` inputs of each pixel are stacked as a 1 x n window
  (requantized with one M0/shift, so the quantizer gives the inputs one scale).
* relu/relu6 -> the output clamp of the layer that produces their input (conv, dense, add,
  avg/sum pool; MAX pooling ignores the clamp) when they are its only reader; otherwise a
  1 x 1 AVG pool tile with ``lo = 0`` (an average of one element is the element).
* batchnorm -> folded into the preceding conv/dense (only reader); otherwise a depthwise
  1 x 1 GEMM (groups = C, K = 1, N = 1).
* concat, flatten, dropout -> free (producers write to the right DRAM offsets); softmax -> host.

Buffers. ``act_kib``/``weight_kib``/``out_kib`` of :class:`MemoryConfig` are the three on-chip
memories; the output memory also holds the WS accumulator words (``m`` x C x acc_bits) and the
pool unit's input and output maps; the weight memory also holds the parameter words
(C x (acc_bits + 37) bits per column fold). A tile whose footprint fits HALF of every memory is
double-buffered (its loads overlap the previous tile's compute, see :mod:`hwcnn.memsim`);
otherwise it uses the whole memory and runs single-buffered.

DRAM traffic counts the data a tile needs that is not already on chip: the im2col-expanded A
slice (the design re-reads overlapping input windows, counted honestly), the B slice plus
parameters, and the requantized outputs; zero padding lanes are generated on chip, not read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

from . import fixedpoint as fp
from . import layers as L
from . import timing
from .config import ArrayConfig, Dataflow, HardwareConfig
from .errors import ConfigError
from .graph import ordered_nodes

#: Parameter word bits per column besides the bias: M0 (31) + shift (6) (rtl/README.md 2).
PARAM_EXTRA_BITS = 37
#: Descriptor size fields are 16 bits wide.
MAX_DESC = (1 << 16) - 1


class Unit:
    """Where a layer runs (plain string constants, shown in reports)."""

    ARRAY = "array"
    POOL = "pool"
    FUSED = "fused"
    FREE = "free"
    HOST = "host"


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmTile:
    """One GEMM tile: ``Out[m0:m0+m, n0:n0+n] = requant(bias + A[m0:m0+m, :k] @ B[:k, n0:n0+n])``
    of GEMM ``group``; occupancy and DRAM traffic in bytes."""

    layer: str
    index: int
    group: int
    m0: int
    m: int
    n0: int
    n: int
    k: int
    act_bytes: int
    weight_bytes: int
    out_bytes: int
    dram_read: int
    dram_write: int
    double_buffered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolTile:
    """One pool-unit tile: channels ``c0:c0+channels``, output rows ``oy0:oy0+out_h`` computed
    from input rows ``iy0:iy0+in_h`` (window/stride/pad in band-local coordinates)."""

    layer: str
    index: int
    c0: int
    channels: int
    oy0: int
    out_h: int
    out_w: int
    iy0: int
    in_h: int
    in_w: int
    win: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out_bytes: int
    dram_read: int
    dram_write: int
    double_buffered: bool


Tile = GemmTile | PoolTile


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPlan:
    """How one layer runs: its unit, tiling choice, and per-tile arrays (program order).

    ``cycles``/``dram_read``/``dram_write``/``occupancy`` have one entry per tile;
    ``occupancy`` is the bytes the tile holds in the three on-chip memories.
    """

    name: str
    layer: L.Layer
    unit: str
    note: str
    macs: int
    cycles: np.ndarray
    dram_read: np.ndarray
    dram_write: np.ndarray
    occupancy: np.ndarray
    double_buffered: np.ndarray
    make_tiles: Callable[[], Iterator[Tile]] = field(repr=False, compare=False)

    @property
    def tiles(self) -> int:
        return len(self.cycles)

    @property
    def buffer_peak(self) -> int:
        """Peak on-chip bytes in use: a double-buffered tile shares the memories with the
        prefetch of the next one, so it counts twice."""
        if not len(self.occupancy):
            return 0
        return int((self.occupancy * np.where(self.double_buffered, 2, 1)).max())


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """The ordered tile program of a network on one hardware configuration."""

    hw: HardwareConfig
    layers: tuple[LayerPlan, ...]

    def tiles(self) -> Iterator[Tile]:
        """Every tile, in execution order (generated on demand)."""
        for plan in self.layers:
            yield from plan.make_tiles()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated per-tile compute cycles, DRAM reads, DRAM writes, double-buffer flags."""
        cat = np.concatenate
        z = [np.zeros(0, np.int64)]
        return (cat(z + [p.cycles for p in self.layers]), cat(z + [p.dram_read for p in self.layers]),
                cat(z + [p.dram_write for p in self.layers]),
                cat([np.zeros(0, bool)] + [p.double_buffered for p in self.layers]))


@dataclass(frozen=True, slots=True)
class _Caps:
    act: int
    weight: int
    out: int


def _caps(hw: HardwareConfig) -> _Caps:
    m = hw.memory
    return _Caps(m.act_kib * 1024, m.weight_kib * 1024, m.out_kib * 1024)


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# -- GEMM tiling -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _GemmChoice:
    mt: int
    nt: int
    m_inner: bool
    double: bool
    compute: int
    traffic: int
    cost: float


def _footprint(arr: ArrayConfig, mt: int, nt: int, k: int) -> tuple[int, int, int]:
    """Bytes of one ``mt x nt`` tile (full ``k``) in the act, weight and output memories."""
    r, c = arr.rows, arr.cols
    a_word, w_word, o_word = _bytes(r, arr.act_bits), _bytes(c, arr.weight_bits), _bytes(c, arr.act_bits)
    fn = _cdiv(nt, c)
    weight = fn * k * w_word + fn * _bytes(c, arr.acc_bits + PARAM_EXTRA_BITS)
    out = fn * mt * o_word
    if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
        act = _cdiv(mt, r) * k * a_word
    else:
        act = _cdiv(k, r) * mt * a_word
        out += mt * _bytes(c, arr.acc_bits)  # accumulator words
    return act, weight, out


def _min_footprint(arr: ArrayConfig, m: int, n: int, k: int) -> tuple[int, int, int]:
    """Footprint of the smallest tile the array can run: one fold of rows (OS) or one row
    (WS), one fold of columns, the whole K."""
    mt = min(m, arr.rows) if arr.dataflow is Dataflow.OUTPUT_STATIONARY else 1
    return _footprint(arr, mt, min(n, arr.cols), k)


def _max_mt(arr: ArrayConfig, caps: _Caps, nt: int, k: int, m: int) -> int:
    """Largest tile height (<= m) whose footprint fits ``caps`` (0 if none)."""
    lo, hi = 0, min(m, MAX_DESC)
    while lo < hi:  # footprints grow monotonically with mt
        mid = (lo + hi + 1) // 2
        a, w, o = _footprint(arr, mid, nt, k)
        if a <= caps.act and w <= caps.weight and o <= caps.out:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _gemm_cycles(arr: ArrayConfig, m: int, n: int, k: int, mt: int, nt: int) -> int:
    """Sum of closed-form tile cycles over the ``ceil(m/mt) x ceil(n/nt)`` grid of one GEMM."""
    total = 0
    for rows, nrows in ((mt, m // mt), (m % mt, 1)):
        for cols, ncols in ((nt, n // nt), (n % nt, 1)):
            if rows and cols and nrows and ncols:
                total += nrows * ncols * timing.gemm_tile_cycles(rows, cols, k, arr)
    return total


def _choose_gemm(name: str, arr: ArrayConfig, hw: HardwareConfig, m: int, n: int, k: int,
                 groups: int) -> _GemmChoice:
    full = _caps(hw)
    half = _Caps(full.act // 2, full.weight // 2, full.out // 2)
    a_tot, w_tot = _bytes(m * k, arr.act_bits), _bytes(k * n, arr.weight_bits)
    p_tot, o_tot = _bytes(n, arr.acc_bits + PARAM_EXTRA_BITS), _bytes(m * n, arr.act_bits)
    fn_all = _cdiv(n, arr.cols)
    nts = sorted({min(n, arr.cols * (1 << i)) for i in range(fn_all.bit_length() + 1)} | {n})
    bw = hw.memory.dram_bytes_per_cycle
    best: _GemmChoice | None = None
    for double, caps in ((True, half), (False, full)):
        for nt in nts:
            mt = _max_mt(arr, caps, nt, k, m)
            if arr.dataflow is Dataflow.OUTPUT_STATIONARY and arr.rows < mt < m:
                mt -= mt % arr.rows
            if mt == 0 or nt > MAX_DESC:
                continue
            tm, tn = _cdiv(m, mt), _cdiv(n, nt)
            mt = _cdiv(m, tm)  # even out the ragged last tile
            if arr.dataflow is Dataflow.OUTPUT_STATIONARY and tm > 1:
                mt = min(_cdiv(mt, arr.rows) * arr.rows, m)
            compute = groups * _gemm_cycles(arr, m, n, k, mt, nt)
            for m_inner in (False, True):
                a_reads = tn if (m_inner and tm > 1) else 1
                b_reads = tm if (not m_inner and tn > 1) else 1
                traffic = groups * (a_tot * a_reads + (w_tot + p_tot) * b_reads + o_tot)
                mem = traffic / bw
                cost = max(compute, mem) if double else compute + mem
                cand = _GemmChoice(mt, nt, m_inner, double, compute, traffic, cost)
                if best is None or (cost, traffic, tm * tn) < (best.cost, best.traffic,
                                                             _cdiv(m, best.mt) * _cdiv(n, best.nt)):
                    best = cand
    if best is None:
        a, w, o = _min_footprint(arr, m, n, k)
        other = replace(arr, dataflow=Dataflow.OUTPUT_STATIONARY
                        if arr.dataflow is Dataflow.WEIGHT_STATIONARY else Dataflow.WEIGHT_STATIONARY)
        oa, ow, oo = _min_footprint(other, m, n, k)
        hint = (f"; the {other.dataflow.value} dataflow would fit"
                if oa <= full.act and ow <= full.weight and oo <= full.out else "")
        raise ConfigError(
            f"layer {name!r}: buffers too small for one tile (M={m}, N={n}, K={k}): it needs "
            f"act {a / 1024:.1f} KiB, weight {w / 1024:.1f} KiB, out {o / 1024:.1f} KiB; have "
            f"{hw.memory.act_kib}/{hw.memory.weight_kib}/{hw.memory.out_kib} KiB{hint}"
        )
    return best


def plan_gemm(name: str, layer: L.Layer, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
              note: str = "") -> LayerPlan:
    """Tile ``groups`` GEMMs of ``C[m x n] = A[m x k] @ B[k x n]`` onto the array."""
    arr = hw.array
    need = fp.acc_bits_for(arr.act_bits, arr.weight_bits, k)
    if need > arr.acc_bits:
        raise ConfigError(f"layer {name!r}: K={k} needs {need}-bit accumulators, the array has "
                          f"{arr.acc_bits}")
    if k > MAX_DESC:
        raise ConfigError(f"layer {name!r}: K={k} exceeds the 16-bit tile descriptor")
    ch = _choose_gemm(name, arr, hw, m, n, k, groups)
    tm, tn = _cdiv(m, ch.mt), _cdiv(n, ch.nt)
    # Tile grid of one group in loop order; index arrays of (mi, ni).
    if ch.m_inner:
        ni, mi = np.divmod(np.arange(tm * tn), tm)
    else:
        mi, ni = np.divmod(np.arange(tm * tn), tn)
    rows = np.minimum(ch.mt, m - mi * ch.mt)
    cols = np.minimum(ch.nt, n - ni * ch.nt)
    cyc = _per_shape(rows, cols, lambda r_, c_: timing.gemm_tile_cycles(r_, c_, k, arr))
    a_sl = (rows * k * arr.act_bits + 7) // 8
    b_sl = (cols * k * arr.weight_bits + 7) // 8 + (cols * (arr.acc_bits + PARAM_EXTRA_BITS) + 7) // 8
    first = np.arange(tm * tn) == 0
    new_a = first | (mi != np.roll(mi, 1))
    new_b = first | (ni != np.roll(ni, 1))
    read = np.where(new_a, a_sl, 0) + np.where(new_b, b_sl, 0)
    write = (rows * cols * arr.act_bits + 7) // 8
    occ = _per_shape(rows, cols, lambda r_, c_: sum(_footprint(arr, r_, c_, k)))
    reps = groups

    def tiles() -> Iterator[GemmTile]:
        idx = 0
        for g in range(groups):
            for t in range(tm * tn):
                r0, c0 = int(mi[t]) * ch.mt, int(ni[t]) * ch.nt
                a, w, o = _footprint(arr, int(rows[t]), int(cols[t]), k)
                yield GemmTile(layer=name, index=idx, group=g, m0=r0, m=int(rows[t]), n0=c0,
                               n=int(cols[t]), k=k, act_bytes=a, weight_bytes=w, out_bytes=o,
                               dram_read=int(read[t]), dram_write=int(write[t]),
                               double_buffered=ch.double)
                idx += 1

    order = "m-inner" if ch.m_inner else "n-inner"
    desc = f"{groups}x " if groups > 1 else ""
    return LayerPlan(
        name=name, layer=layer, unit=Unit.ARRAY,
        note=(note + "; " if note else "") + f"{desc}GEMM {m}x{n}x{k}, tile {ch.mt}x{ch.nt}, "
        f"{order}, {'double' if ch.double else 'single'}-buffered",
        macs=groups * m * n * k, cycles=np.tile(cyc, reps), dram_read=np.tile(read, reps),
        dram_write=np.tile(write, reps), occupancy=np.tile(occ, reps),
        double_buffered=np.full(reps * tm * tn, ch.double), make_tiles=tiles)


def _per_shape(rows: np.ndarray, cols: np.ndarray, fn: Callable[[int, int], int]) -> np.ndarray:
    """``fn(rows[i], cols[i])`` for every tile, evaluated once per distinct shape."""
    out = np.empty(len(rows), dtype=np.int64)
    for r_, c_ in {(int(a), int(b)) for a, b in zip(rows, cols)}:
        out[(rows == r_) & (cols == c_)] = fn(r_, c_)
    return out


# -- pool unit ---------------------------------------------------------------------------------


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
                           dram_read=rd[i], dram_write=wr[i], double_buffered=d)

    i64 = lambda v: np.asarray(v, dtype=np.int64)
    return LayerPlan(name=name, layer=layer, unit=Unit.POOL, note=note, macs=0, cycles=i64(cyc),
                     dram_read=i64(rd), dram_write=i64(wr), occupancy=i64(occ),
                     double_buffered=np.asarray(dbl, dtype=bool), make_tiles=tiles)


def _pool_geoms(name: str, layer: L.Pool | L.GlobalAvgPool, x: L.TensorShape, win) -> tuple[PoolGeom, ...]:
    """2-D pool-unit passes computing a pool layer exactly."""
    sp = x.spatial
    if isinstance(layer, L.GlobalAvgPool):  # the window covers everything: fold dims into 2
        return (PoolGeom(channels=x.channels, in_h=math.prod(sp[:-1]), in_w=sp[-1], out_h=1,
                         out_w=1, win=(math.prod(sp[:-1]), sp[-1]), stride=(1, 1), pad=(0, 0)),)
    pads = tuple(lo for lo, _ in win.pads)
    if len(sp) == 1:
        return (PoolGeom(channels=x.channels, in_h=1, in_w=sp[0], out_h=1, out_w=win.out[0],
                         win=(1, win.kernel[0]), stride=(1, win.stride[0]), pad=(0, pads[0])),)
    if len(sp) == 2:
        return (PoolGeom(channels=x.channels, in_h=sp[0], in_w=sp[1], out_h=win.out[0],
                         out_w=win.out[1], win=tuple(win.kernel), stride=tuple(win.stride),
                         pad=pads),)
    if layer.op is not L.PoolOp.MAX:
        raise ConfigError(f"layer {name!r}: 3-D {layer.op.value} pooling cannot be computed "
                          "exactly by the 2-D pool unit (only max pooling splits into passes)")
    d, h, w = sp
    od, oh, ow = win.out
    # Max is separable: per depth slice over (h, w), then over depth (1 x 1 window across maps).
    first = PoolGeom(channels=x.channels * d, in_h=h, in_w=w, out_h=oh, out_w=ow,
                     win=win.kernel[1:], stride=win.stride[1:], pad=pads[1:])
    second = PoolGeom(channels=x.channels, in_h=d, in_w=oh * ow, out_h=od, out_w=oh * ow,
                      win=(win.kernel[0], 1), stride=(win.stride[0], 1), pad=(pads[0], 0))
    return (first, second)


# -- the graph walk ----------------------------------------------------------------------------

def _has_clamp(layer: L.Layer) -> bool:
    """Whether the unit computing ``layer`` applies the ``[lo, hi]`` output clamp (a fused
    ReLU/ReLU6): GEMM requantization, AVG/SUM pooling and adds do; MAX pooling ignores it."""
    return not (isinstance(layer, L.Pool) and layer.op is L.PoolOp.MAX)


def _empty(name: str, layer: L.Layer, unit: str, note: str) -> LayerPlan:
    z = np.zeros(0, dtype=np.int64)
    return LayerPlan(name=name, layer=layer, unit=unit, note=note, macs=0, cycles=z, dram_read=z,
                     dram_write=z, occupancy=z, double_buffered=np.zeros(0, bool),
                     make_tiles=lambda: iter(()))


def lower(g: nx.DiGraph, hw: HardwareConfig,
          progress: Callable[[int, int], None] | None = None) -> Program:
    """Lower every layer of ``g`` (from :func:`hwcnn.graph.build_graph`) onto ``hw``.

    ``progress(done, total)`` is called after each layer (for a progress bar).
    """
    nodes = list(ordered_nodes(g))
    host: dict[str, str] = {}        # node -> node whose tile produces its value
    act: dict[str, bool] = {}        # an activation clamp is already applied at the host
    excl: dict[str, bool] = {}       # the value is read only along this chain (fusable)
    runs: set[str] = set()           # nodes with tiles of their own
    plans: list[LayerPlan] = []
    cache: dict[tuple[object, ...], LayerPlan] = {}
    for i, (name, attrs) in enumerate(nodes):
        layer = attrs["layer"]
        u: str = layer.inputs[0] if len(layer.inputs) == 1 else ""
        sole = bool(u) and g.out_degree(u) == 1 and excl.get(u, False)
        host[name], act[name], excl[name] = name, False, True
        plan: LayerPlan
        match layer:
            case L.Input():
                plan = _empty(name, layer, Unit.FREE, "network input (in DRAM)")
                excl[name] = False
            case L.Dropout() | L.Flatten():
                assert u
                host[name], act[name] = host[u], act[u]
                excl[name] = excl[u] and g.out_degree(u) == 1
                plan = _empty(name, layer, Unit.FREE, "identity on the stored tensor")
            case L.Concat():
                plan = _empty(name, layer, Unit.FREE, "producers write at channel offsets")
                excl[name] = False
            case L.Softmax():
                plan = _empty(name, layer, Unit.HOST, "runs on the host CPU")
                excl[name] = False
            case L.BatchNorm() if sole and not act[u] and isinstance(
                    g.nodes[host[u]]["layer"], (L.Conv, L.Dense)) and host[u] in runs:
                assert u
                host[name] = host[u]
                plan = _empty(name, layer, Unit.FUSED, f"folded into {host[u]}")
            case L.Activation() if sole and host[u] in runs and _has_clamp(g.nodes[host[u]]["layer"]):
                assert u
                host[name], act[name] = host[u], True
                plan = _empty(name, layer, Unit.FUSED, f"output clamp of {host[u]}")
            case L.BatchNorm():
                x = attrs["out_shape"]
                plan = plan_gemm(name, layer, hw, m=math.prod(x.spatial), n=1, k=1,
                                 groups=x.channels, note="batchnorm as depthwise 1x1")
                runs.add(name)
            case L.Activation():
                x = attrs["out_shape"]
                p = math.prod(x.spatial)
                geom = PoolGeom(channels=x.channels, in_h=p, in_w=1, out_h=p, out_w=1,
                                win=(1, 1), stride=(1, 1), pad=(0, 0))
                plan = plan_pool(name, layer, hw, (geom,), "1x1 avg pool with clamp lo=0")
                act[name] = True
                runs.add(name)
            case L.Conv() | L.Dense():
                gd = attrs["gemm"]
                key: tuple[object, ...] = ("gemm", gd.m, gd.n, gd.k, gd.groups)
                plan = _reuse(cache, key, name, layer) or plan_gemm(
                    name, layer, hw, gd.m, gd.n, gd.k, gd.groups)
                cache.setdefault(key, plan)
                act[name] = getattr(layer, "activation", None) is not None
                runs.add(name)
            case L.Add():
                x = attrs["out_shape"]
                p, n_in = math.prod(x.spatial), len(layer.inputs)
                geom = PoolGeom(channels=x.channels, in_h=p, in_w=n_in, out_h=p, out_w=1,
                                win=(1, n_in), stride=(1, 1), pad=(0, 0))
                key = ("add", p, n_in, x.channels)
                plan = _reuse(cache, key, name, layer) or plan_pool(
                    name, layer, hw, (geom,), f"sum pool over the {n_in} inputs")
                cache.setdefault(key, plan)
                runs.add(name)
            case L.Pool() | L.GlobalAvgPool():
                x = attrs["in_shapes"][0]
                geoms = _pool_geoms(name, layer, x, attrs["window"])
                kind = "global average" if isinstance(layer, L.GlobalAvgPool) else layer.op.value
                plan = plan_pool(name, layer, hw, geoms, f"{kind} pool")
                runs.add(name)
            case _:
                raise TypeError(f"lower: unknown layer record {layer!r}")
        plans.append(plan)
        if progress is not None:
            progress(i + 1, len(nodes))
    return Program(hw=hw, layers=tuple(plans))


def _reuse(cache: dict[tuple[object, ...], LayerPlan], key: tuple[object, ...], name: str, layer: L.Layer) -> LayerPlan | None:
    """A plan for an identical earlier layer, renamed (ResNet/VGG repeat their shapes)."""
    old = cache.get(key)
    if old is None:
        return None
    make = old.make_tiles

    def tiles() -> Iterator[Tile]:
        for t in make():
            yield type(t)(**{**{f: getattr(t, f) for f in t.__slots__}, "layer": name})

    return LayerPlan(name=name, layer=layer, unit=old.unit, note=old.note, macs=old.macs,
                     cycles=old.cycles, dram_read=old.dram_read, dram_write=old.dram_write,
                     occupancy=old.occupancy, double_buffered=old.double_buffered,
                     make_tiles=tiles)
