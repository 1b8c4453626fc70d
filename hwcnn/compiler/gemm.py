"""GEMM planning of the lowering (:mod:`hwcnn.compiler`): conv/dense GEMMs -> GEMM tiles.

The tiling comes from the search of :mod:`hwcnn.compiler.search`. A tile keeps the layer's
whole K, or K is split into chunks run as chained tiles (``rtl/README.md`` 4, ``acc_in`` /
``acc_out``): the first chunk adds the bias, every chunk but the last keeps its int32 partial
sums in the accumulator memory (``F_N * mt`` words of ``C x acc_bits``), the last
requantizes. Chunks are multiples of the array's rows under weight stationary (whole K-folds)
and any size under output stationary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ..arch import timing
from ..arch.config import PARAM_EXTRA_BITS, HardwareConfig
from ..errors import ConfigError
from ..frontend import layers as L
from ..numerics import fixedpoint as fp
from .gather import Gather
from .packing import pack_and_tiling
from .plan import GemmTile, LayerPlan, Unit, _cdiv
from .search import _GemmChoice, footprint, occupancy


def plan_gemm(name: str, layer: L.Layer, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
              note: str = "", gather: Gather | None = None) -> LayerPlan:
    """Tile ``groups`` GEMMs of ``C[m x n] = A[m x k] @ B[k x n]`` onto the array, ``P``
    groups per GEMM when packing them is faster (:mod:`hwcnn.compiler.packing`; the plan's
    tiles then address the packed GEMMs: ``groups/P`` of ``m x P*n x P*k``, and its ``macs``
    stay the layer's own). With a ``gather`` (:mod:`hwcnn.compiler.gather`) every tile that
    loads an A slice carries the load unit's floor for it (``load_min``)."""
    arr = hw.array
    need = fp.acc_bits_for(arr.act_bits, arr.weight_bits, k)
    if need > arr.acc_bits:
        raise ConfigError(f"layer {name!r}: K={k} needs {need}-bit accumulators, the array has "
                          f"{arr.acc_bits}")
    macs = groups * m * n * k
    pack, ch = pack_and_tiling(name, hw, m, n, k, groups, gather)
    n, k, groups = pack * n, pack * k, groups // pack
    if pack > 1:
        note = (note + "; " if note else "") + (f"{pack} groups per GEMM (block-diagonal "
                                                "weights)")
    if ch.kc:
        return _plan_split(name, layer, hw, m, n, k, groups, ch, note, macs, pack, gather)
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
    gmin = np.zeros(len(rows), dtype=np.int64)
    if gather is not None:
        gmin = np.where(new_a, _per_shape(rows, cols, lambda r_, c_: gather.tile_cycles(
            r_, k, pack)), 0)
    occ = _per_shape(rows, cols, lambda r_, c_: occupancy(arr, r_, c_, k, False))
    reps = groups

    def tiles() -> Iterator[GemmTile]:
        idx = 0
        for g in range(groups):
            for t in range(tm * tn):
                r0, c0 = int(mi[t]) * ch.mt, int(ni[t]) * ch.nt
                a, w, o = footprint(arr, int(rows[t]), int(cols[t]), k)
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
        macs=macs, cycles=np.tile(cyc, reps), dram_read=np.tile(read, reps),
        dram_write=np.tile(write, reps), occupancy=np.tile(occ, reps),
        double_buffered=np.full(reps * tm * tn, ch.double), make_tiles=tiles,
        first_input_read=int(a_sl[0]), pack=pack, load_min=np.tile(gmin, reps))


def _distinct(*cols: np.ndarray) -> list[tuple[int, ...]]:
    """The distinct tuples ``(cols[0][i], cols[1][i], ...)`` of non-negative tile sizes, in
    lexicographic order. Linear time (a bincount of mixed-radix keys) when the key range is
    small: a 1x1 array gives VGG16 millions of tiles, whose Python set took seconds."""
    if not len(cols[0]):
        return []
    radix = [int(c.max()) + 1 for c in cols]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for c, r in zip(cols, radix):
        key = key * r + c
    size = math.prod(radix)
    present = (np.flatnonzero(np.bincount(key, minlength=size)) if size <= 4 * len(key) + 4096
               else np.unique(key))
    return list(zip(*(a.tolist() for a in np.unravel_index(present, radix))))


def _per_shape(rows: np.ndarray, cols: np.ndarray, fn: Callable[[int, int], int]) -> np.ndarray:
    """``fn(rows[i], cols[i])`` for every tile, evaluated once per distinct shape."""
    out = np.empty(len(rows), dtype=np.int64)
    for r_, c_ in _distinct(rows, cols):
        out[(rows == r_) & (cols == c_)] = fn(r_, c_)
    return out


def _plan_split(name: str, layer: L.Layer, hw: HardwareConfig, m: int, n: int, k: int,
                groups: int, ch: _GemmChoice, note: str, macs: int, pack: int,
                gather: Gather | None = None) -> LayerPlan:
    """K-split tiling: for every ``mt x nt`` output tile (n-inner), a chain of K chunks."""
    arr = hw.array
    tm, tn, tk = _cdiv(m, ch.mt), _cdiv(n, ch.nt), _cdiv(k, ch.kc)
    # Tile index arrays of one group in program order: (mi, ni) n-inner, then the chunk j.
    grid, j = np.divmod(np.arange(tm * tn * tk), tk)
    mi, ni = np.divmod(grid, tn)
    rows = np.minimum(ch.mt, m - mi * ch.mt)
    cols = np.minimum(ch.nt, n - ni * ch.nt)
    ks = np.minimum(ch.kc, k - j * ch.kc)
    first, last = j == 0, j == tk - 1
    shapes = _distinct(rows, cols, ks)
    cyc = np.empty(len(rows), dtype=np.int64)
    occ = np.empty(len(rows), dtype=np.int64)
    for r_, c_, k_ in shapes:
        sel = (rows == r_) & (cols == c_) & (ks == k_)
        cyc[sel] = timing.gemm_tile_cycles(r_, c_, k_, arr)
        occ[sel] = occupancy(arr, r_, c_, k_, True)
    pbits = arr.acc_bits + PARAM_EXTRA_BITS
    read = ((rows * ks * arr.act_bits + 7) // 8 + (ks * cols * arr.weight_bits + 7) // 8
            + np.where(first, (cols * pbits + 7) // 8, 0))
    write = np.where(last, (rows * cols * arr.act_bits + 7) // 8, 0)
    gmin = np.zeros(len(rows), dtype=np.int64)
    if gather is not None:                    # every chunk gathers its A slice
        for r_, c_, k_ in shapes:
            sel = (rows == r_) & (cols == c_) & (ks == k_)
            gmin[sel] = gather.tile_cycles(r_, k_, pack)
    reps = groups

    def tiles() -> Iterator[GemmTile]:
        idx = 0
        for g in range(groups):
            for t in range(tm * tn * tk):
                r_, c_, k_ = int(rows[t]), int(cols[t]), int(ks[t])
                a, w, o = footprint(arr, r_, c_, k_)
                yield GemmTile(layer=name, index=idx, group=g, m0=int(mi[t]) * ch.mt, m=r_,
                               n0=int(ni[t]) * ch.nt, n=c_, k0=int(j[t]) * ch.kc, k=k_,
                               acc_in=not bool(first[t]), acc_out=not bool(last[t]),
                               act_bytes=a, weight_bytes=w, out_bytes=o,
                               dram_read=int(read[t]), dram_write=int(write[t]),
                               double_buffered=ch.double)
                idx += 1

    desc = f"{groups}x " if groups > 1 else ""
    return LayerPlan(
        name=name, layer=layer, unit=Unit.ARRAY,
        note=(note + "; " if note else "") + f"{desc}GEMM {m}x{n}x{k}, tile {ch.mt}x{ch.nt}, "
        f"K split into {tk} chunks of {ch.kc}, {'double' if ch.double else 'single'}-buffered",
        macs=macs, cycles=np.tile(cyc, reps), dram_read=np.tile(read, reps),
        dram_write=np.tile(write, reps), occupancy=np.tile(occ, reps),
        double_buffered=np.full(reps * len(rows), ch.double), make_tiles=tiles,
        first_input_read=int(rows[0] * ks[0] * arr.act_bits + 7) // 8, pack=pack,
        load_min=np.tile(gmin, reps))
