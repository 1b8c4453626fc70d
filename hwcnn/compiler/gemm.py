"""GEMM planning of the lowering (:mod:`hwcnn.compiler`): conv/dense GEMMs -> GEMM tiles.

A tile keeps the layer's whole K when such a tile fits the buffers. Otherwise K is split into
chunks run as chained tiles (``rtl/README.md`` 4, ``acc_in`` / ``acc_out``): the first chunk
adds the bias, every chunk but the last keeps its int32 partial sums in the accumulator words
(counted in the output memory, ``F_N * mt`` words of ``C x acc_bits``), the last requantizes.
Chunks are multiples of the array's rows under weight stationary (whole K-folds) and any size
under output stationary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig, Dataflow, HardwareConfig
from ..errors import ConfigError
from ..frontend import layers as L
from ..numerics import fixedpoint as fp
from .plan import MAX_DESC, PARAM_EXTRA_BITS, GemmTile, LayerPlan, Unit, _bytes, _Caps, _caps, _cdiv


@dataclass(frozen=True, slots=True)
class _GemmChoice:
    mt: int
    nt: int
    m_inner: bool
    double: bool
    compute: int
    traffic: int
    cost: float
    kc: int = 0          # K chunk of a K-split tiling; 0 = whole K per tile


def _footprint(arr: ArrayConfig, mt: int, nt: int, k: int,
               split: bool = False) -> tuple[int, int, int]:
    """Bytes of one ``mt x nt`` tile over ``k`` (its K chunk when ``split``) in the act,
    weight and output memories."""
    r, c = arr.rows, arr.cols
    a_word, w_word, o_word = _bytes(r, arr.act_bits), _bytes(c, arr.weight_bits), _bytes(c, arr.act_bits)
    acc_word = _bytes(c, arr.acc_bits)
    fn = _cdiv(nt, c)
    weight = fn * k * w_word + fn * _bytes(c, arr.acc_bits + PARAM_EXTRA_BITS)
    out = fn * mt * o_word
    if arr.dataflow is Dataflow.OUTPUT_STATIONARY:
        act = _cdiv(mt, r) * k * a_word
    else:
        act = _cdiv(k, r) * mt * a_word
    if split:
        out += fn * mt * acc_word  # partial sums of every N-fold stay between chunks
    elif arr.dataflow is Dataflow.WEIGHT_STATIONARY:
        out += mt * acc_word  # accumulator words of the K-folds (reused per N-fold)
    return act, weight, out


def _k_unit(arr: ArrayConfig, k: int) -> int:
    """Granularity of K chunks: whole K-folds (R) under WS, any size under OS."""
    return min(k, arr.rows) if arr.dataflow is Dataflow.WEIGHT_STATIONARY else 1


def _min_footprint(arr: ArrayConfig, m: int, n: int, k: int) -> tuple[int, int, int]:
    """Footprint of the smallest tile the search can pick: one output row, one fold of
    columns, the smallest K chunk (the whole K if it cannot be split)."""
    kc = _k_unit(arr, k)
    return _footprint(arr, 1, min(n, arr.cols), kc, split=kc < k)


def _max_mt(arr: ArrayConfig, caps: _Caps, nt: int, k: int, m: int, split: bool = False) -> int:
    """Largest tile height (<= m) whose footprint fits ``caps`` (0 if none)."""
    lo, hi = 0, min(m, MAX_DESC)
    while lo < hi:  # footprints grow monotonically with mt
        mid = (lo + hi + 1) // 2
        a, w, o = _footprint(arr, mid, nt, k, split)
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


def _sizes(total: int, tile: int) -> list[tuple[int, int]]:
    """``(size, count)`` of the tiles cutting ``total`` into pieces of ``tile`` (last ragged)."""
    return [(s, c) for s, c in ((tile, total // tile), (total % tile, 1)) if s and c]


def _split_cost(arr: ArrayConfig, m: int, n: int, k: int, mt: int, nt: int,
                kc: int) -> tuple[int, int]:
    """(compute cycles, DRAM bytes) of one GEMM tiled ``mt x nt`` with K chunks of ``kc``.

    Every chunk tile reads its A slice and B slice (no reuse across the chain), the first
    chunk of a chain reads the parameter words, the last writes the outputs.
    """
    ab, wb, ob = arr.act_bits, arr.weight_bits, arr.act_bits
    pb = arr.acc_bits + PARAM_EXTRA_BITS
    compute = traffic = 0
    for kk, nk in _sizes(k, kc):
        compute += nk * _gemm_cycles(arr, m, n, kk, mt, nt)
        for rows, nr in _sizes(m, mt):
            for cols, nc in _sizes(n, nt):
                traffic += nk * nr * nc * (_bytes(rows * kk, ab) + _bytes(kk * cols, wb))
    for rows, nr in _sizes(m, mt):
        for cols, nc in _sizes(n, nt):
            traffic += nr * nc * (_bytes(cols, pb) + _bytes(rows * cols, ob))
    return compute, traffic


def _k_chunks(arr: ArrayConfig, k: int) -> list[int]:
    """Candidate K chunks (< k, <= the 16-bit descriptor), largest first: ``k`` cut into
    ``2, 3, ..., 16`` parts, then ever 25 % more parts, each rounded up to the chunk unit and
    evened out (all chunks equal but a shorter last one)."""
    unit = _k_unit(arr, k)
    top = min(k - 1, MAX_DESC) // unit * unit
    out: set[int] = set()
    parts = 2
    while top >= unit:
        kc = min(_cdiv(_cdiv(k, parts), unit) * unit, top)
        kc = min(_cdiv(_cdiv(k, _cdiv(k, kc)), unit) * unit, top)
        out.add(kc)
        if kc <= unit:
            break
        parts = parts + 1 if parts < 16 else parts * 5 // 4
    return sorted(out, reverse=True)


def _better(cand: _GemmChoice, best: _GemmChoice | None, m: int, n: int, k: int) -> bool:
    """Lower cost, then less traffic, then fewer tiles."""
    if best is None:
        return True

    def tiles(ch: _GemmChoice) -> int:
        return _cdiv(m, ch.mt) * _cdiv(n, ch.nt) * (_cdiv(k, ch.kc) if ch.kc else 1)

    return (cand.cost, cand.traffic, tiles(cand)) < (best.cost, best.traffic, tiles(best))


def choose_gemm(name: str, arr: ArrayConfig, hw: HardwareConfig, m: int, n: int, k: int,
                 groups: int) -> _GemmChoice:
    full = _caps(hw)
    half = _Caps(full.act // 2, full.weight // 2, full.out // 2)
    a_tot, w_tot = _bytes(m * k, arr.act_bits), _bytes(k * n, arr.weight_bits)
    p_tot, o_tot = _bytes(n, arr.acc_bits + PARAM_EXTRA_BITS), _bytes(m * n, arr.act_bits)
    fn_all = _cdiv(n, arr.cols)
    nts = sorted({min(n, arr.cols * (1 << i)) for i in range(fn_all.bit_length() + 1)} | {n})
    bw = hw.memory.dram_bytes_per_cycle
    best: _GemmChoice | None = None
    # Whole K per tile first; K-split (chained tiles) only when no whole-K tile fits.
    for kc in ([k] if k <= MAX_DESC else []), _k_chunks(arr, k):
        for double, caps in ((True, half), (False, full)):
            for nt in nts:
                for kk in kc:
                    split = kk < k
                    mt = _max_mt(arr, caps, nt, kk, m, split)
                    if arr.dataflow is Dataflow.OUTPUT_STATIONARY and arr.rows < mt < m:
                        mt -= mt % arr.rows
                    if mt == 0 or nt > MAX_DESC:
                        continue
                    tm, tn = _cdiv(m, mt), _cdiv(n, nt)
                    mt = _cdiv(m, tm)  # even out the ragged last tile
                    if arr.dataflow is Dataflow.OUTPUT_STATIONARY and tm > 1:
                        mt = min(_cdiv(mt, arr.rows) * arr.rows, m)
                    if split:
                        compute, traffic = _split_cost(arr, m, n, k, mt, nt, kk)
                        compute, traffic = groups * compute, groups * traffic
                        mem = traffic / bw
                        cost = max(compute, mem) if double else compute + mem
                        cand = _GemmChoice(mt, nt, False, double, compute, traffic, cost, kk)
                        if _better(cand, best, m, n, k):
                            best = cand
                        continue
                    compute = groups * _gemm_cycles(arr, m, n, k, mt, nt)
                    for m_inner in (False, True):
                        a_reads = tn if (m_inner and tm > 1) else 1
                        b_reads = tm if (not m_inner and tn > 1) else 1
                        traffic = groups * (a_tot * a_reads + (w_tot + p_tot) * b_reads + o_tot)
                        mem = traffic / bw
                        cost = max(compute, mem) if double else compute + mem
                        cand = _GemmChoice(mt, nt, m_inner, double, compute, traffic, cost)
                        if _better(cand, best, m, n, k):
                            best = cand
        if best is not None:
            return best
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


def plan_gemm(name: str, layer: L.Layer, hw: HardwareConfig, m: int, n: int, k: int, groups: int,
              note: str = "") -> LayerPlan:
    """Tile ``groups`` GEMMs of ``C[m x n] = A[m x k] @ B[k x n]`` onto the array."""
    arr = hw.array
    need = fp.acc_bits_for(arr.act_bits, arr.weight_bits, k)
    if need > arr.acc_bits:
        raise ConfigError(f"layer {name!r}: K={k} needs {need}-bit accumulators, the array has "
                          f"{arr.acc_bits}")
    ch = choose_gemm(name, arr, hw, m, n, k, groups)
    if ch.kc:
        return _plan_split(name, layer, hw, m, n, k, groups, ch, note)
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


def _plan_split(name: str, layer: L.Layer, hw: HardwareConfig, m: int, n: int, k: int,
                groups: int, ch: _GemmChoice, note: str) -> LayerPlan:
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
    shapes = {(int(a), int(b), int(c)) for a, b, c in zip(rows, cols, ks)}
    cyc = np.empty(len(rows), dtype=np.int64)
    occ = np.empty(len(rows), dtype=np.int64)
    for r_, c_, k_ in shapes:
        sel = (rows == r_) & (cols == c_) & (ks == k_)
        cyc[sel] = timing.gemm_tile_cycles(r_, c_, k_, arr)
        occ[sel] = sum(_footprint(arr, r_, c_, k_, split=True))
    pbits = arr.acc_bits + PARAM_EXTRA_BITS
    read = ((rows * ks * arr.act_bits + 7) // 8 + (ks * cols * arr.weight_bits + 7) // 8
            + np.where(first, (cols * pbits + 7) // 8, 0))
    write = np.where(last, (rows * cols * arr.act_bits + 7) // 8, 0)
    reps = groups

    def tiles() -> Iterator[GemmTile]:
        idx = 0
        for g in range(groups):
            for t in range(tm * tn * tk):
                r_, c_, k_ = int(rows[t]), int(cols[t]), int(ks[t])
                a, w, o = _footprint(arr, r_, c_, k_, split=True)
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
        macs=groups * m * n * k, cycles=np.tile(cyc, reps), dram_read=np.tile(read, reps),
        dram_write=np.tile(write, reps), occupancy=np.tile(occ, reps),
        double_buffered=np.full(reps * len(rows), ch.double), make_tiles=tiles)
