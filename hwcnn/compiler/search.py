"""The GEMM tile search of the lowering (:mod:`hwcnn.compiler`): the tiling with the fewest
predicted cycles, DRAM stalls included.

A GEMM ``C[M x N] = A[M x K] @ B[K x N]`` (one group) is cut into tiles of ``mt x nt`` outputs
and, optionally, K chunks of ``kc`` run as chained tiles (``acc_in`` / ``acc_out``,
rtl/README.md 4). The search enumerates

* the buffering: double-buffered (the tile fits HALF of the act, weight, output and parameter
  memories, so its loads overlap the previous tile's compute) or single-buffered;
* the tile width ``nt``: whole column folds (multiples of ``C``), powers of two, the evened
  widths of ``N`` cut into 2..8 tiles (whole-K tilings only), and ``N`` itself;
* the K chunk: the whole ``K`` and every candidate chunk of :func:`k_chunks` (split chains cost
  no extra cycles in the RTL, so a split is taken whenever the taller tile it allows pays off),
  smallest chunks last: a chunk that gives the same tile height as the next larger one is
  skipped (it only adds tiles), and the search stops shrinking ``kc`` once the tile height is
  bound by something other than the activation memory;
* the loop order of whole-K tilings: ``n-inner`` keeps the A slice resident while B slices
  stream, ``m-inner`` keeps the B slice resident (split chains re-read both);
* the tile height ``mt``: the largest that fits (closed form per memory, :func:`max_rows`),
  evened out over the tiles; under output stationary a multiple of ``R`` when there is more
  than one row fold, rounded DOWN before evening out so that the tile still fits.

Every cycle number comes from :mod:`hwcnn.arch.timing` (``gemm_tile_cycles``, called by name,
so new closed forms there change the search's choices). The DRAM part follows the stall model
of :mod:`hwcnn.machine.memsim` (one port, ``ceil(bytes / bytes_per_cycle)`` per transfer):
a double-buffered tile costs ``max(compute, (load + store) / bw)`` (its transfers hide behind
the neighbouring computes), a single-buffered one ``compute + (load + store) / bw``. The score
is this sum over the tiles, evaluated per class of equal tiles (edges, first tiles of a row,
chain ends), not per tile, which keeps a whole VGG16 lowering in milliseconds;
``tests/test_lower.py`` checks it against memsim's timeline of the emitted tiles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..arch import timing
from ..arch.config import PARAM_EXTRA_BITS, ArrayConfig, Dataflow, HardwareConfig
from ..errors import ConfigError
from .gather import Gather
from .plan import MAX_DESC, _bytes, _Caps, _caps, _cdiv

#: Tile-count splits of N tried besides the powers of two (evened widths).
N_SPLITS = range(2, 9)


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


def footprint(arr: ArrayConfig, mt: int, nt: int, k: int) -> tuple[int, int, int]:
    """Bytes of one ``mt x nt`` tile over ``k`` (its K chunk) in the act, weight and output
    memories (word layouts of rtl/README.md 3: act words of ``R`` lanes, weight and output
    words of ``C`` lanes)."""
    r, c = arr.rows, arr.cols
    fn = _cdiv(nt, c)
    weight = fn * k * _bytes(c, arr.weight_bits)
    out = fn * mt * _bytes(c, arr.act_bits)
    act = _cdiv(k, r) * mt * _bytes(r, arr.act_bits)      # both dataflows' layout
    return act, weight, out


def param_words(arr: ArrayConfig, nt: int) -> int:
    """Parameter words (bias/M0/shift of ``C`` columns each) of a tile ``nt`` wide."""
    return _cdiv(nt, arr.cols)


def acc_words(arr: ArrayConfig, mt: int, nt: int, split: bool) -> int:
    """Accumulator words a tile uses: ``F_N * mt`` in a K-split chain, ``mt`` for the K-folds
    of a plain WS tile, none for a plain OS tile (rtl/README.md 3)."""
    if split:
        return _cdiv(nt, arr.cols) * mt
    return mt if arr.dataflow is Dataflow.WEIGHT_STATIONARY else 0


def occupancy(arr: ArrayConfig, mt: int, nt: int, k: int, split: bool) -> int:
    """On-chip bytes a tile holds in all five memories (for the report's buffer peak)."""
    pw = _bytes(arr.cols, arr.acc_bits + PARAM_EXTRA_BITS)
    aw = _bytes(arr.cols, arr.acc_bits)
    return (sum(footprint(arr, mt, nt, k)) + param_words(arr, nt) * pw
            + acc_words(arr, mt, nt, split) * aw)


def max_rows(arr: ArrayConfig, caps: _Caps, m: int, nt: int, k: int, split: bool,
             double: bool) -> int:
    """Largest tile height ``<= m`` whose tile fits ``caps`` (halved but the accumulator when
    ``double``); 0 if none. Closed form: every footprint is linear in ``mt``."""
    r, c = arr.rows, arr.cols
    div = 2 if double else 1
    fn = _cdiv(nt, c)
    if fn * k * _bytes(c, arr.weight_bits) > caps.weight // div or fn > caps.param // div:
        return 0
    lim = caps.act // div // (_cdiv(k, r) * _bytes(r, arr.act_bits))
    lim = min(lim, caps.out // div // (fn * _bytes(c, arr.act_bits)), m, MAX_DESC)
    per_row = acc_words(arr, 1, nt, split)
    if per_row:
        lim = min(lim, caps.acc // per_row)
    return max(lim, 0)


def _other_rows(arr: ArrayConfig, caps: _Caps, m: int, nt: int, split: bool,
                double: bool) -> int:
    """The bound on ``mt`` from everything but the activation memory (independent of ``kc``)."""
    div = 2 if double else 1
    lim = min(m, MAX_DESC, caps.out // div // (_cdiv(nt, arr.cols) * _bytes(arr.cols,
                                                                            arr.act_bits)))
    per_row = acc_words(arr, 1, nt, split)
    return min(lim, caps.acc // per_row) if per_row else lim


def _even_rows(arr: ArrayConfig, m: int, lim: int) -> int:
    """Tile height for at most ``lim`` rows: the ``ceil(m / mt)`` tiles evened out; under OS
    a multiple of ``R`` when ``lim >= R`` (rounded down first, so it still fits)."""
    r = arr.rows
    os_ = arr.dataflow is Dataflow.OUTPUT_STATIONARY
    if os_ and r <= lim < m:
        lim -= lim % r
    tm = _cdiv(m, lim)
    mt = _cdiv(m, tm)
    if os_ and tm > 1 and lim >= r:
        mt = min(_cdiv(mt, r) * r, m)
    return mt


def _sizes(total: int, tile: int) -> list[tuple[int, int]]:
    """``(size, count)`` of the tiles cutting ``total`` into pieces of ``tile`` (last ragged)."""
    return [(s, c) for s, c in ((tile, total // tile), (total % tile, 1)) if s and c]


def k_unit(arr: ArrayConfig, k: int) -> int:
    """Granularity of K chunks: whole K-folds (R) under WS, any size under OS."""
    return min(k, arr.rows) if arr.dataflow is Dataflow.WEIGHT_STATIONARY else 1


def k_chunks(arr: ArrayConfig, k: int) -> list[int]:
    """Candidate K chunks (< k, <= the 16-bit descriptor), largest first: ``k`` cut into
    ``2, 3, ..., 16`` parts, then ever 25 % more parts, each rounded up to the chunk unit and
    evened out (all chunks equal but a shorter last one)."""
    unit = k_unit(arr, k)
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


class _Scorer:
    """Compute cycles, DRAM bytes and the stall-inclusive score of candidate tilings of one
    GEMM; tile cycles are memoized per shape within the search."""

    def __init__(self, arr: ArrayConfig, bw: float, m: int, n: int, k: int,
                 gather: Gather | None = None, pack: int = 1) -> None:
        self.arr, self.bw, self.m, self.n, self.k = arr, bw, m, n, k
        self._cyc: dict[tuple[int, int, int], int] = {}
        self.pb = arr.acc_bits + PARAM_EXTRA_BITS
        self.gather, self.pack = gather, pack

    def gmin(self, rows: int, k: int) -> int:
        """The load unit's floor for a tile loading ``rows`` x ``k`` of A
        (:class:`hwcnn.compiler.gather.Gather`; 0 without one)."""
        g = self.gather
        return 0 if g is None else g.tile_cycles(rows, k, self.pack)

    def cycles(self, rows: int, cols: int, kk: int) -> int:
        key = (rows, cols, kk)
        v = self._cyc.get(key)
        if v is None:
            v = self._cyc[key] = timing.gemm_tile_cycles(rows, cols, kk, self.arr)
        return v

    def _score(self, groups: list[tuple[int, int, int, int, int]], double: bool) -> float:
        bw, total = self.bw, 0.0
        for cnt, comp, load, store, gmin in groups:
            mem = max(load / bw, gmin) + store / bw
            total += cnt * (max(comp, mem) if double else comp + mem)
        return total

    def whole(self, mt: int, nt: int, m_inner: bool, double: bool) -> tuple[int, int, float]:
        """(compute, traffic, score) of a whole-K tiling in the given loop order."""
        arr, m, n, k = self.arr, self.m, self.n, self.k
        ab, wb, ob = arr.act_bits, arr.weight_bits, arr.act_bits
        rows, cols = _sizes(m, mt), _sizes(n, nt)
        tm, tn = _cdiv(m, mt), _cdiv(n, nt)

        def a_sl(r: int) -> int:
            return _bytes(r * k, ab)

        def b_sl(c: int) -> int:
            return _bytes(c * k, wb) + _bytes(c, self.pb)

        # outer = the resident operand's dimension
        outer, inner = (cols, rows) if m_inner else (rows, cols)
        t_inner = tm if m_inner else tn
        groups: list[tuple[int, int, int, int, int]] = []
        compute = 0
        for o, no in outer:
            for j, (i, ni) in enumerate(inner):
                r, c = (i, o) if m_inner else (o, i)
                comp, st = self.cycles(r, c, k), _bytes(r * c, ob)
                o_sl = b_sl(o) if m_inner else a_sl(o)
                i_sl = a_sl(i) if m_inner else b_sl(i)
                # the load unit's floor of the tiles that load an A slice
                g_o, g_i = (0, self.gmin(i, k)) if m_inner else (self.gmin(o, k), 0)
                compute += no * ni * comp
                if t_inner == 1:   # the inner slice is loaded once, with the first tile
                    extra = (b_sl(n) if not m_inner else a_sl(m)) if not groups else 0
                    g1 = max(g_o, self.gmin(m, k) if m_inner and not groups else 0)
                    groups += [(1, comp, o_sl + extra, st, g1),
                               (no * ni - 1, comp, o_sl, st, g_o)]
                elif j == 0:
                    groups += [(no, comp, o_sl + i_sl, st, max(g_o, g_i)),
                               (no * (ni - 1), comp, i_sl, st, g_i)]
                else:
                    groups.append((no * ni, comp, i_sl, st, g_i))
        a_tot, w_tot = _bytes(m * k, ab), _bytes(k * n, wb)
        p_tot, o_tot = _bytes(n, self.pb), _bytes(m * n, ob)
        a_reads = tn if (m_inner and tm > 1) else 1
        b_reads = tm if (not m_inner and tn > 1) else 1
        traffic = a_tot * a_reads + (w_tot + p_tot) * b_reads + o_tot
        return compute, traffic, self._score(groups, double)

    def split(self, mt: int, nt: int, kc: int, double: bool) -> tuple[int, int, float]:
        """(compute, traffic, score) of a K-split tiling: per output tile (n-inner) a chain of
        K chunks; every chunk reads its A and B slices, the first the parameters, the last
        writes the outputs."""
        arr, m, n, k = self.arr, self.m, self.n, self.k
        ab, wb, ob = arr.act_bits, arr.weight_bits, arr.act_bits
        full, rag = k // kc, k % kc
        groups: list[tuple[int, int, int, int, int]] = []
        compute = traffic = 0
        for r, nr in _sizes(m, mt):
            for c, nc in _sizes(n, nt):
                cnt, par, st = nr * nc, _bytes(c, self.pb), _bytes(r * c, ob)
                for kk, nk, last in ((kc, full, not rag), (rag, 1 if rag else 0, True)):
                    if not nk:
                        continue
                    comp = self.cycles(r, c, kk)
                    ld = _bytes(r * kk, ab) + _bytes(kk * c, wb)
                    compute += cnt * nk * comp
                    traffic += cnt * nk * ld
                    first = 1 if kk == kc else 0   # the chain's first chunk is a full one
                    mid = nk - first - (1 if last else 0)
                    g = self.gmin(r, kk)
                    if first and last and nk == 1:
                        groups.append((cnt, comp, ld + par, st, g))
                        continue
                    if first:
                        groups.append((cnt, comp, ld + par, 0, g))
                    if mid > 0:
                        groups.append((cnt * mid, comp, ld, 0, g))
                    if last:
                        groups.append((cnt, comp, ld, st, g))
                traffic += cnt * (par + st)
        return compute, traffic, self._score(groups, double)


def _widths(arr: ArrayConfig, n: int, evened: bool = True) -> list[int]:
    c = arr.cols
    fn_all = _cdiv(n, c)
    out = {min(n, c * (1 << i)) for i in range(fn_all.bit_length() + 1)} | {n}
    if evened:
        out |= {min(n, _cdiv(_cdiv(n, t), c) * c) for t in N_SPLITS if t <= fn_all}
    return sorted(out, reverse=True)


def _candidates(arr: ArrayConfig, caps: _Caps, m: int, n: int, k: int
                ) -> Iterator[tuple[bool, int, int, int]]:
    """``(double, nt, kc, mt)`` of every tiling that fits (``kc = 0``: whole K)."""
    chunks = k_chunks(arr, k)
    pow2 = _widths(arr, n, evened=False)
    for double in (True, False):
        for nt in _widths(arr, n):
            if nt > MAX_DESC:
                continue
            if k <= MAX_DESC:
                lim = max_rows(arr, caps, m, nt, k, False, double)
                if lim:
                    yield double, nt, 0, _even_rows(arr, m, lim)
            if nt not in pow2 and k <= MAX_DESC:
                continue        # K-split chains: whole powers of two of column folds only
            bound = _other_rows(arr, caps, m, nt, True, double)
            prev = 0
            for kc in chunks:
                lim = max_rows(arr, caps, m, nt, kc, True, double)
                if not lim:
                    continue
                mt = _even_rows(arr, m, lim)
                if mt != prev:   # a smaller chunk with the same tile height only adds tiles
                    yield double, nt, kc, mt
                    prev = mt
                if lim >= bound:
                    break       # smaller chunks cannot make the tile taller


def _better(cand: _GemmChoice, best: _GemmChoice | None, m: int, n: int, k: int) -> bool:
    """Lower cost, then less traffic, then fewer tiles."""
    if best is None:
        return True

    def tiles(ch: _GemmChoice) -> int:
        return _cdiv(m, ch.mt) * _cdiv(n, ch.nt) * (_cdiv(k, ch.kc) if ch.kc else 1)

    return (cand.cost, cand.traffic, tiles(cand)) < (best.cost, best.traffic, tiles(best))


def choose_gemm(name: str, arr: ArrayConfig, hw: HardwareConfig, m: int, n: int, k: int,
                groups: int, gather: Gather | None = None, pack: int = 1) -> _GemmChoice:
    """The tiling of ``groups`` GEMMs ``M x N x K`` with the lowest score (module docstring;
    a tile's A load lasts at least ``gather``'s floor, :mod:`hwcnn.compiler.gather`, of
    GEMMs of ``pack`` groups); ConfigError if not even the smallest tile fits the buffers."""
    caps = _caps(hw)
    sc = _Scorer(arr, hw.memory.bytes_per_cycle, m, n, k, gather, pack)
    best: _GemmChoice | None = None
    for double, nt, kc, mt in _candidates(arr, caps, m, n, k):
        if kc:
            compute, traffic, cost = sc.split(mt, nt, kc, double)
            cand = _GemmChoice(mt, nt, False, double, groups * compute, groups * traffic,
                               groups * cost, kc)
            if _better(cand, best, m, n, k):
                best = cand
            continue
        for m_inner in (False, True):
            compute, traffic, cost = sc.whole(mt, nt, m_inner, double)
            cand = _GemmChoice(mt, nt, m_inner, double, groups * compute, groups * traffic,
                               groups * cost)
            if _better(cand, best, m, n, k):
                best = cand
    if best is not None:
        return best
    raise ConfigError(_too_small(name, arr, caps, hw, m, n, k))


def _min_tile(arr: ArrayConfig, m: int, n: int, k: int) -> tuple[int, int, int]:
    """Footprint of the smallest tile the search can pick: one output row, one fold of
    columns, the smallest K chunk (the whole K if it cannot be split)."""
    return footprint(arr, 1, min(n, arr.cols), k_unit(arr, k))


def _too_small(name: str, arr: ArrayConfig, caps: _Caps, hw: HardwareConfig, m: int, n: int,
               k: int) -> str:
    a, w, o = _min_tile(arr, m, n, k)
    other = replace(arr, dataflow=Dataflow.OUTPUT_STATIONARY
                    if arr.dataflow is Dataflow.WEIGHT_STATIONARY else Dataflow.WEIGHT_STATIONARY)
    oa, ow, oo = _min_tile(other, m, n, k)
    hint = (f"; the {other.dataflow.value} dataflow would fit"
            if oa <= caps.act and ow <= caps.weight and oo <= caps.out else "")
    return (f"layer {name!r}: buffers too small for one tile (M={m}, N={n}, K={k}): it needs "
            f"act {a / 1024:.1f} KiB, weight {w / 1024:.1f} KiB, out {o / 1024:.1f} KiB; have "
            f"{hw.memory.act_kib}/{hw.memory.weight_kib}/{hw.memory.out_kib} KiB{hint}")
