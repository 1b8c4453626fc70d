"""Compiler back end: the tiles of a lowered :class:`Program` -> instructions (placed and
checked by :mod:`hwcnn.compiler.backend`).

Each tile becomes LOADs of its operands into one half of each buffer (ping-pong; a tile that
does not fit half a buffer takes the whole buffer), its GEMM or VEC, and STOREs of its
outputs, with the dependency tokens of :mod:`hwcnn.isa.queues` (``rtl/README.md`` 9.3):

* load side (act / weight / param halves): a tile's first load pops ``g2l`` once per half it
  takes (credits the load unit already holds are used first), its last load pushes ``l2g``;
  the GEMM pops ``l2g`` and pushes ``g2l`` per half when done;
* store side (output halves): the GEMM / the pool tile's first instruction pops ``s2g`` per
  half, the tile's last compute instruction pushes ``g2s``; its first STORE pops ``g2s`` and
  its last pushes ``s2g`` per half. Pool inputs are LOADed into the OUTPUT buffer by the
  compute queue (VTA's LOAD ACC), so they follow the output half's tokens;
* a layer that reads a tensor stored since the last barrier starts with a DRAM barrier: the
  compute unit pops every ``s2g`` credit (all stores done) and pushes one extra ``g2l``
  token, the load unit pops every ``g2l`` credit plus that token;
* at the end the compute and load units pop the credits left (every queue ends empty), END.

A pool that is the only reader of a conv/dense layer whose GEMM tiles hold complete pool
windows (whole rows of the map, no window across a tile boundary) runs on the GEMM's output
words in OUT (``fuse_pool``, the default; ``rtl/README.md`` 9.3): each such GEMM tile is
followed by one VEC per channel fold (output word ``nf*m + i`` = pixel ``m0 + i``'s channels
``[nf*C, (nf+1)*C)``, the VEC's input word ``y*w + x``) and one STORE of the pooled rows, in
the same output half; the conv's STORE, the DRAM barrier and the pool's LOAD are not emitted
and the conv gets no DRAM tensor (``on_chip``).

Operands already resident in the buffer region a tile uses (the same weight slice, the same
activation rows) are not loaded again. Weights are packed once per distinct slice in the
tile's buffer layout, with K in (ky, kx, c) order, channels innermost: the LOAD2D gather
reads the channels-last tensors in that order, and B is permuted to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..errors import ConfigError
from ..frontend import layers as L
from ..hw.descriptor import ROUNDING_CODE
from ..hw.layout import act_word_count, pack_bytes, param_words, weight_rows
from ..isa.fields import Buffer, MemMode, Opcode, ProgramError, VecOp
from ..isa.queues import HALVES
from ..isa.target import Target
from ..numerics import fixedpoint as fp
from ..numerics.quantize import QuantizedNetwork
from .memmap import TensorView, owners, tensor_views
from .packing import pack_b
from .plan import GemmTile, LayerPlan, PoolTile, Program, Unit
from .pool import PoolGeom, _band_rows, pool_geoms
from .qparams import gemm_b, gemm_columns, output_clamp, pool_params, tile_qlayer


class _Rel:
    """A DRAM address ``region + rel``, resolved once the regions are placed."""

    __slots__ = ("region", "rel")

    def __init__(self, region: str, rel: int) -> None:
        self.region, self.rel = region, rel


def row_window(geo: dict[str, int], k0: int, k: int, eb: int
               ) -> tuple[dict[str, int], int, int]:
    """The LOAD2D geometry of the K chunk ``[k0, k0 + k)``: a chunk of whole kernel rows
    ``ky0 .. ky0 + k / (kw*cg) - 1`` becomes the whole K of a kernel of those rows alone
    (``k0 = 0``, ``kh`` = its rows), so that the gather takes the walker's whole-kernel path
    (one DMA descriptor per pixel, a row per kernel row, rtl/README.md 10) instead of one
    descriptor per kernel position. Same elements in the same buffer lanes: the input starts
    ``s = max(0, ky0*dh - ph)`` rows lower (``in_h - s`` rows, the returned byte offset) and
    the top padding is ``ph - ky0*dh + s``, so every element's input row ``y`` and its bounds
    check are those of the original chunk (a row above ``s`` is never reached when ``s > 0``).
    Other chunks (and whole K) keep ``geo``; returns (geometry, ``k0``, DRAM byte offset)."""
    row = geo["kw"] * geo["cg"]
    if (k0 == 0 and k == geo["kh"] * row) or k0 % row or k % row:
        return geo, k0, 0
    ky0, dh, ph = k0 // row, geo["dh"], geo["ph"]
    s = max(0, ky0 * dh - ph)
    if s >= geo["in_h"]:
        return geo, k0, 0
    return ({**geo, "kh": k // row, "ph": ph - ky0 * dh + s, "in_h": geo["in_h"] - s}, 0,
            s * geo["in_w"] * geo["pix_stride"] * eb)


def pointwise(geo: dict[str, int]) -> bool:
    """Whether a LOAD2D of ``geo`` is a plain pixel copy: a 1x1 window, stride 1, no padding
    (output pixel ``I`` is input pixel ``I``, its ``K`` the channels ``c``)."""
    return (geo["kh"] == geo["kw"] == geo["sh"] == geo["sw"] == 1
            and geo["ph"] == geo["pw"] == 0 and geo["out_w"] == geo["in_w"])


@dataclass(slots=True)
class _Pending:
    op: Opcode
    f: dict[str, Any]
    origin: str


def _reads_input(p: _Pending) -> bool:
    """Whether a tile's load reads its layer's input (an earlier layer's output: it waits for
    the DRAM barrier): the LOAD2D gather or a LOAD into ACT."""
    return p.op is Opcode.LOAD2D or (p.op is Opcode.LOAD and p.f.get("buffer") == Buffer.ACT)


@dataclass(frozen=True, slots=True, kw_only=True)
class _GemmLayer:
    b: np.ndarray            # (groups, K, N), K in (ky, kx, c) order
    bias: np.ndarray
    m0: np.ndarray
    shift: np.ndarray
    bias_en: bool
    lo: int
    hi: int
    rounding: int
    wrap: int
    geo: dict[str, int]      # LOAD2D geometry fields
    cg: int
    src: TensorView
    dst: TensorView


def _narrowest(values: np.ndarray) -> type:
    """The narrowest signed integer dtype holding every one of ``values``."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    return np.int64


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _two_d(sp: tuple[int, ...], name: str) -> tuple[int, int]:
    if len(sp) > 2:
        raise ConfigError(f"layer {name!r}: {len(sp)}-D tensors are not supported by the "
                          "instruction set (2-D maps only)")
    return (1, sp[0]) if len(sp) == 1 else (sp[0], sp[1]) if sp else (1, 1)


@dataclass(frozen=True, slots=True)
class _PoolFusion:
    """A pool computed on its conv's output words in OUT: per conv tile index (the tiles that
    write outputs) the pool output rows ``(oy0, rows)`` it owns."""

    pool: str
    geom: PoolGeom
    bands: dict[int, tuple[int, int]]


class _Gen:
    def __init__(self, program: Program, qnet: QuantizedNetwork, target: Target, *,
                 fuse_pool: bool = True) -> None:
        self.p, self.q, self.t = program, qnet, target
        self.g: nx.DiGraph = qnet.graph
        self.eb = target.elem_bytes
        self.own = owners(program)
        self.views, alloc = tensor_views(program, self.g, self.own, self.eb)
        self.out: list[_Pending] = []
        self.blobs: dict[str, dict[tuple[Any, ...], tuple[int, bytes]]] = {"weights": {},
                                                                            "params": {}}
        self.size = {"weights": 0, "params": 0}
        self.held = {"l": 0, "s": 0}          # credits the load / compute unit holds
        self.half = {"in": 0, "out": 0}
        self.resident: dict[tuple[Buffer, str], tuple[Any, ...]] = {}
        self.dirty = False
        self.l_barrier = False                # a barrier's load side is pending
        self.layers: dict[str, Any] = {}
        self.fused: dict[str, list[str]] = {}
        for pl in program.layers:
            if pl.unit == Unit.FUSED:
                self.fused.setdefault(pl.host, []).append(pl.name)
        self.pooled: dict[str, _PoolFusion] = self.fusions() if fuse_pool else {}
        self.skip = {f.pool for f in self.pooled.values()}
        self.pool_tiles: dict[str, int] = {}
        #: layers whose value never reaches DRAM -> the pool that reads it in the output buffer
        self.on_chip = {n: self.pooled[o].pool for n, o in self.own.items() if o in self.pooled}
        gone = {self.views[c].region for c in self.pooled}
        self.alloc = [(r, n) for r, n in alloc if r not in gone]
        self.stored_views = {n: v for n, v in self.views.items() if n not in self.on_chip}

    # -- conv + pool in the output buffer -----------------------------------------------------
    def fusions(self) -> dict[str, _PoolFusion]:
        """conv/dense layer -> the pool run on its output words in OUT (``rtl/README.md`` 9.3).

        A pool qualifies when its input is the value of a conv/dense layer (through a fused
        BatchNorm / ReLU) read by nothing else and not a network output, it is one 2-D pass,
        and every conv tile that writes outputs starts on a channel-fold boundary, covers whole
        rows of the map and holds every input row of the pool rows it owns (each pool output
        row owned by exactly one tile per channel slice, each tile owning at least one), with
        the conv output and the pool output together fitting the output buffer."""
        g, cols = self.g, self.t.array.cols
        plans: dict[str, LayerPlan] = {p.name: p for p in self.p.layers}
        outputs = set(self.q.outputs)
        res: dict[str, _PoolFusion] = {}
        for pl in self.p.layers:
            if pl.unit != Unit.POOL or not isinstance(pl.layer, (L.Pool, L.GlobalAvgPool)):
                continue
            conv = self.own[pl.layer.inputs[0]]
            cp = plans[conv]
            if cp.unit != Unit.ARRAY or not isinstance(cp.layer, (L.Conv, L.Dense)):
                continue
            members = {n for n, o in self.own.items() if o == conv}
            readers = {s for n in members for s in g.successors(n)} - members
            if readers != {pl.name} or members & outputs:
                continue
            attrs = g.nodes[pl.name]
            try:
                geoms = pool_geoms(pl.name, pl.layer, attrs["in_shapes"][0], attrs.get("window"))
            except ConfigError:
                continue
            if len(geoms) != 1 or len(attrs["in_shapes"][0].spatial) > 2:
                continue
            bands = self._bands(cp, geoms[0], cols)
            if bands is not None:
                res[conv] = _PoolFusion(pool=pl.name, geom=geoms[0], bands=bands)
        return res

    def _bands(self, cp: LayerPlan, geom: PoolGeom, cols: int
               ) -> dict[int, tuple[int, int]] | None:
        iw, words = geom.in_w, self.t.out
        n_total = self.gemm_layer(cp.name).b.shape[2]
        owned: dict[tuple[int, int], list[int]] = {}
        bands: dict[int, tuple[int, int]] = {}
        for t in cp.make_tiles():
            assert isinstance(t, GemmTile)
            if t.acc_out:
                continue
            ch0 = t.group * n_total + t.n0
            if ch0 % cols or t.m0 % iw or (t.m0 + t.m) % iw:
                return None
            r0, r1 = t.m0 // iw, (t.m0 + t.m) // iw
            rows = [oy for oy in range(geom.out_h)
                    if (b := _band_rows(geom, oy, 1))[1] and r0 <= b[0] and sum(b) <= r1]
            if not rows or rows != list(range(rows[0], rows[-1] + 1)):
                return None
            fn = _cdiv(t.n, cols)
            if fn * (t.m + len(rows) * geom.out_w) > words:
                return None
            owned.setdefault((ch0, t.n), []).extend(rows)
            bands[t.index] = (rows[0], len(rows))
        if not bands or any(sorted(v) != list(range(geom.out_h)) for v in owned.values()):
            return None
        return bands

    # -- emission helpers ---------------------------------------------------------------------
    def emit(self, op: Opcode, origin: str, **f: Any) -> _Pending:
        pend = _Pending(op, f, origin)
        self.out.append(pend)
        return pend

    def nop(self, queue: str, origin: str, **bits: int) -> _Pending:
        if queue == "l":
            return self.emit(Opcode.LOAD, origin, buffer=Buffer.ACT, **bits)
        if queue == "g":
            return self.emit(Opcode.LOAD, origin, buffer=Buffer.OUT, **bits)
        return self.emit(Opcode.STORE, origin, buffer=Buffer.OUT, **bits)

    def blob(self, region: str, key: tuple[Any, ...], make_bytes: Any) -> _Rel:
        table = self.blobs[region]
        if key not in table:
            data = make_bytes()
            table[key] = (self.size[region], data)
            self.size[region] += len(data)
        return _Rel(region, table[key][0])

    def dram(self, v: TensorView, pixel: int, channel: int) -> _Rel:
        return _Rel(v.region, v.rel + (pixel * v.pix_stride + channel) * self.eb)

    def slot(self, side: str, k: int, buf: Buffer) -> tuple[int, str]:
        """(word base, region name) of the half (or whole) buffer the current tile uses."""
        if k == HALVES:
            return 0, "W"
        h = self.half[side]
        return h * (self.t.depth(buf) // 2), str(h)

    def take(self, side: str, k: int) -> None:
        self.half[side] = 0 if k == HALVES else 1 - self.half[side]

    def pops(self, unit: str, k: int) -> int:
        use = min(self.held[unit], k)
        self.held[unit] -= use
        return k - use

    def fits(self, words: dict[Buffer, int]) -> int:
        """1 if every buffer's words fit half of it, 2 if they fit the whole, else 0."""
        if all(w <= self.t.depth(b) // 2 for b, w in words.items()):
            return 1
        return HALVES if all(w <= self.t.depth(b) for b, w in words.items()) else 0

    # -- barrier and end ----------------------------------------------------------------------
    def barrier(self) -> None:
        """The compute side now; the load side is deferred to the next tile (:meth:`wire`),
        which loads its weights and parameters before it, or emitted by :meth:`flush`."""
        self.flush()
        sp = HALVES - self.held["s"]
        if sp == 0:
            self.nop("g", "barrier", push_prev=1)
        for i in range(sp):
            self.nop("g", "barrier", pop_next=1, push_prev=int(i == sp - 1))
        self.held["s"] = HALVES
        self.l_barrier = True
        self.dirty = False

    def flush(self) -> None:
        """The load side of a pending barrier: pop every ``g2l`` credit plus the token."""
        if self.l_barrier:
            for _ in range(HALVES - self.held["l"] + 1):
                self.nop("l", "barrier", pop_next=1)
            self.held["l"] = HALVES
            self.l_barrier = False

    def end(self) -> None:
        self.flush()
        for _ in range(HALVES - self.held["s"]):
            self.nop("g", "end", pop_next=1)
        for _ in range(HALVES - self.held["l"]):
            self.nop("l", "end", pop_next=1)
        self.emit(Opcode.END, "end")

    # -- token wiring of one tile -------------------------------------------------------------
    def wire(self, origin: str, loads: list[_Pending], k_in: int, compute: list[_Pending],
             k_out: int, stores: list[_Pending], release: _Pending | None = None) -> None:
        """Append one tile's instructions with its tokens (loads/compute/stores built but not
        yet appended); ``release`` (default the last compute instruction) frees the input
        halves."""
        ind = [p for p in loads if not _reads_input(p)]
        if k_in and self.l_barrier and ind:
            # after a barrier: the weights and parameters (never written by a layer) first,
            # into the tile's halves, then the barrier's pops, then the input (LOAD2D, or the
            # PIXELS load of a pointwise layer)
            n = self.pops("l", k_in)
            for _ in range(max(0, n - 1)):
                self.nop("l", origin, pop_next=1)
            if n:
                ind[0].f["pop_next"] = 1
            self.out.extend(ind)
            last = None
            for _ in range(HALVES - k_in - self.held["l"] + 1):
                last = self.nop("l", "barrier", pop_next=1)
            self.held["l"] = HALVES - k_in
            self.l_barrier = False
            dep = [p for p in loads if _reads_input(p)]
            assert last is not None
            (dep[-1] if dep else last).f["push_next"] = 1
            self.out.extend(dep)
        elif k_in:
            self.flush()
            n = self.pops("l", k_in)
            seq = loads or [_Pending(Opcode.LOAD, {"buffer": Buffer.ACT}, origin)]
            for _ in range(max(0, n - 1)):
                self.nop("l", origin, pop_next=1)
            if n:
                seq[0].f["pop_next"] = 1
            seq[-1].f["push_next"] = 1
            self.out.extend(seq)
        first, last = compute[0], compute[-1]
        if k_out:
            n = self.pops("s", k_out)
            for _ in range(max(0, n - 1)):
                self.nop("g", origin, pop_next=1)
            if n:
                first.f["pop_next"] = 1
            last.f["push_next"] = 1
        if k_in:
            first.f["pop_prev"] = 1
            (release or last).f["push_prev"] = 1
        self.out.extend(compute)
        if k_in == HALVES:
            self.nop("g", origin, push_prev=1)
        if k_out:
            stores[0].f["pop_prev"] = 1
            stores[-1].f["push_prev"] = 1
            self.out.extend(stores)
            if k_out == HALVES:
                self.nop("s", origin, push_prev=1)
            self.dirty = True

    # -- GEMM tiles ---------------------------------------------------------------------------
    def gemm_layer(self, name: str) -> _GemmLayer:
        if name in self.layers:
            return self.layers[name]
        q, g = self.q, self.g
        layer = g.nodes[name]["layer"]
        ql = tile_qlayer(q, name)
        lo, hi = output_clamp(q, ql, self.fused.get(name, ()))
        assert ql.weight is not None and ql.requant is not None
        pack = next(p.pack for p in self.p.layers if p.name == name)
        b = pack_b(gemm_b(layer, ql.weight, _narrowest(ql.weight)), pack)
        groups, k_total, n_total = b.shape
        src = self.views[layer.inputs[0]]
        match layer:
            case L.Conv():
                assert ql.window is not None
                w = ql.window
                if len(w.kernel) > 2:
                    raise ConfigError(f"layer {name!r}: 3-D convolution is not supported by "
                                      "the instruction set")
                pad = (1, 1) if len(w.kernel) == 1 else None
                kh, kw = (1, w.kernel[0]) if pad else w.kernel
                sh, sw = (1, w.stride[0]) if pad else w.stride
                dh, dw = (1, w.dilation[0]) if pad else w.dilation
                ph, pw = (0, w.pads[0][0]) if pad else (w.pads[0][0], w.pads[1][0])
                out_w = w.out[-1]
                cg = src.channels // groups
            case L.Dense():
                kh, kw = _two_d(src.spatial, name)
                sh = sw = dh = dw = 1
                ph = pw = 0
                out_w, cg = 1, src.channels
            case _:  # stand-alone BatchNorm: a depthwise 1x1 GEMM
                kh = kw = sh = sw = dh = dw = 1
                ph = pw = 0
                out_w, cg = _two_d(src.spatial, name)[1], src.channels // groups
        in_h, in_w = _two_d(src.spatial, name)
        # K in (ky, kx, c) order: my index kk = (ky*kw + kx)*cg + c <- golden c*kh*kw + ky*kw + kx
        kk = np.arange(k_total)
        c, pos = kk % cg, kk // cg
        perm = c * (kh * kw) + pos
        bias, m0, shift = gemm_columns(ql, groups * n_total)
        rq = ql.requant
        gl = _GemmLayer(b=b[:, perm, :], bias=bias, m0=m0, shift=shift,
                        bias_en=ql.bias is not None, lo=lo, hi=hi,
                        rounding=ROUNDING_CODE[rq.rounding],
                        wrap=int(rq.mode is fp.Overflow.WRAP),
                        geo={"in_h": in_h, "in_w": in_w, "pix_stride": src.pix_stride,
                             "out_w": out_w, "cg": cg, "kh": kh, "kw": kw, "sh": sh, "sw": sw,
                             "ph": ph, "pw": pw, "dh": dh, "dw": dw},
                        cg=cg, src=src, dst=self.views[name])
        self.layers[name] = gl
        return gl

    def gemm_tile(self, t: GemmTile) -> None:
        gl, arr, tg = self.gemm_layer(t.layer), self.t.array, self.t
        origin = f"layer {t.layer!r} tile {t.index}"
        r, c = arr.rows, arr.cols
        fn = _cdiv(t.n, c)
        a_words = act_word_count(t.m, t.k, r)
        k_in = self.fits({Buffer.ACT: a_words, Buffer.WGT: fn * t.k, Buffer.PARAM: fn})
        fuse = None if t.acc_out else self.pooled.get(t.layer)
        band = fuse.bands[t.index] if fuse else (0, 0)
        nout = band[1] * fuse.geom.out_w if fuse else 0
        k_out = 0 if t.acc_out else self.fits({Buffer.OUT: fn * (t.m + nout)})
        if not k_in or (not t.acc_out and not k_out):
            need = f"{a_words} activation, {fn * t.k} weight, {fn} parameter, {fn * t.m} output"
            raise ProgramError(f"{origin}: needs {need} words, more than the buffers hold "
                               f"({tg.act}, {tg.weight}, {tg.param}, {tg.out})")
        a_base, a_reg = self.slot("in", k_in, Buffer.ACT)
        b_base, _ = self.slot("in", k_in, Buffer.WGT)
        p_base, _ = self.slot("in", k_in, Buffer.PARAM)
        self.take("in", k_in)
        c_base = 0
        if k_out:
            c_base, _ = self.slot("out", k_out, Buffer.OUT)
            self.take("out", k_out)
        ch0 = t.group * gl.b.shape[2] + t.n0
        loads: list[_Pending] = []

        def load(buf: Buffer, key: tuple[Any, ...], pend: _Pending) -> None:
            regs = ("0", "1", "W") if a_reg == "W" else (a_reg, "W")
            if self.resident.get((buf, a_reg)) == key:
                return
            for rg in regs:
                self.resident.pop((buf, rg), None)
            self.resident[(buf, a_reg)] = key
            loads.append(pend)

        akey = ("a", t.layer, t.group, t.m0, t.m, t.k0, t.k)
        g0 = gl.src.rel + t.group * gl.cg * self.eb
        if pointwise(gl.geo):
            # a 1x1 / stride 1 / unpadded window: A's row i is input pixel m0 + i's channels
            # k0 .. k0+k, so a strided PIXELS load fills the same words as the gather (word
            # kf*m + i holds lanes kf*R ..: fold_stride = m, sram_stride = 1) without the
            # im2col walker's per-pixel descriptors (one byte stream when the channels are
            # the whole pixel)
            ps = gl.geo["pix_stride"] * self.eb
            load(Buffer.ACT, akey, _Pending(Opcode.LOAD, {
                "buffer": Buffer.ACT, "mode": MemMode.PIXELS, "sram_base": a_base,
                "dram_base": _Rel(gl.src.region, g0 + t.m0 * ps + t.k0 * self.eb),
                "rows": t.m, "elems": t.k, "dram_stride": ps, "sram_stride": 1,
                "fold_stride": t.m}, origin))
        else:
            geo, k0, a_rel = row_window(gl.geo, t.k0, t.k, self.eb)
            load(Buffer.ACT, akey,
                 _Pending(Opcode.LOAD2D, dict(sram_base=a_base, dram_base=_Rel(
                     gl.src.region, g0 + a_rel), m0=t.m0, m=t.m, k0=k0, k=t.k, **geo),
                     origin))
        bsl = gl.b[t.group, t.k0:t.k0 + t.k, t.n0:t.n0 + t.n]
        wb = tg.word_bytes(Buffer.WGT)
        wkey = ("w", t.layer, t.group, t.n0, t.n, t.k0, t.k)
        wrel = self.blob("weights", wkey, lambda: pack_bytes(
            weight_rows(bsl, self.p.hw), self.p.hw.array.weight_bits, wb))
        load(Buffer.WGT, wkey, _Pending(Opcode.LOAD, {
            "buffer": Buffer.WGT, "mode": MemMode.WORDS, "sram_base": b_base, "dram_base": wrel,
            "rows": fn * t.k}, origin))
        ch = slice(ch0, ch0 + t.n)
        pb = tg.word_bytes(Buffer.PARAM)
        pkey = ("p", t.layer, t.group, t.n0, t.n)
        prel = self.blob("params", pkey, lambda: b"".join(
            w.to_bytes(pb, "little")
            for w in param_words(gl.bias[ch], gl.m0[ch], gl.shift[ch], self.p.hw)))
        load(Buffer.PARAM, pkey, _Pending(Opcode.LOAD, {
            "buffer": Buffer.PARAM, "mode": MemMode.WORDS, "sram_base": p_base, "dram_base": prel,
            "rows": fn}, origin))
        gemm = _Pending(Opcode.GEMM, {
            "m": t.m, "n": t.n, "k": t.k, "a_base": a_base, "b_base": b_base, "p_base": p_base,
            "c_base": c_base,
            "per_channel": 1, "bias_en": int(gl.bias_en), "acc_in": int(t.acc_in),
            "acc_out": int(t.acc_out),
            "rounding": gl.rounding, "wrap": gl.wrap, "lo": gl.lo, "hi": gl.hi}, origin)
        if fuse:
            self.pooled_tile(fuse, t, ch0, c_base, band, gemm, loads, k_in, k_out)
            return
        stores = []
        if k_out:
            stores.append(_Pending(Opcode.STORE, {
                "buffer": Buffer.OUT, "mode": MemMode.PIXELS, "sram_base": c_base,
                "dram_base": self.dram(gl.dst, t.m0, ch0), "rows": t.m, "elems": t.n,
                "dram_stride": gl.dst.pix_stride * self.eb, "sram_stride": 1, "fold_stride": t.m},
                origin))
        self.wire(origin, loads, k_in, [gemm], k_out, stores)

    def pooled_tile(self, fuse: _PoolFusion, t: GemmTile, ch0: int, c_base: int,
                    band: tuple[int, int], gemm: _Pending, loads: list[_Pending], k_in: int,
                    k_out: int) -> None:
        """The pool rows ``band`` of channels ``ch0 .. ch0+t.n`` computed on the GEMM's output
        words (word ``nf*m + i``: pixel ``m0 + i``'s channel fold ``nf``): one VEC per channel
        fold right after the GEMM, the pooled words after the conv's, one STORE of them."""
        c, gm = self.t.array.cols, fuse.geom
        name = fuse.pool
        index = self.pool_tiles.get(name, 0)
        self.pool_tiles[name] = index + 1
        origin = f"layer {name!r} tile {index}"
        oy0, rows = band
        iy0, ih = _band_rows(gm, oy0, rows)
        fn, nout = _cdiv(t.n, c), rows * gm.out_w
        out0 = c_base + fn * t.m
        pin0 = c_base + (iy0 - t.m0 // gm.in_w) * gm.in_w
        pp = self.pool_layer(name)
        vecs = []
        for nf in range(fn):
            pt = PoolTile(layer=name, index=index, c0=ch0 + nf * c,
                          channels=min(c, t.n - nf * c), oy0=oy0, out_h=rows, out_w=gm.out_w,
                          iy0=iy0, in_h=ih, in_w=gm.in_w, win=gm.win, stride=gm.stride,
                          pad=(max(0, gm.pad[0] - oy0 * gm.stride[0]), gm.pad[1]), out_bytes=0,
                          dram_read=0, dram_write=0, double_buffered=k_out == 1,
                          count_pad=gm.count_pad, pad_far=gm.pad_far)
            vecs.append(self.vec(pt, pp, pin0 + nf * t.m, out0 + nf * nout, origin))
        dst = self.views[name]
        store = _Pending(Opcode.STORE, {
            "buffer": Buffer.OUT, "mode": MemMode.PIXELS, "sram_base": out0,
            "dram_base": self.dram(dst, oy0 * gm.out_w, ch0), "rows": nout, "elems": t.n,
            "dram_stride": dst.pix_stride * self.eb, "sram_stride": 1, "fold_stride": nout},
            origin)
        self.wire(origin, loads, k_in, [gemm, *vecs], k_out, [store], release=gemm)

    # -- pool tiles ---------------------------------------------------------------------------
    def pool_layer(self, name: str) -> Any:
        layer = self.g.nodes[name]["layer"]
        ql = tile_qlayer(self.q, name)
        lo, hi = output_clamp(self.q, ql, self.fused.get(name, ()))
        return pool_params(name, layer, ql, lo, hi)

    def vec(self, t: PoolTile, pp: Any, pin: int, c_base: int, origin: str) -> _Pending:
        return _Pending(Opcode.VEC, {
            "pool_op": VecOp[pp.op.name], "in_h": t.in_h, "in_w": t.in_w, "out_h": t.out_h,
            "out_w": t.out_w,
            "win_h": t.win[0], "win_w": t.win[1], "stride_h": t.stride[0], "stride_w": t.stride[1],
            "pad_top": t.pad[0], "pad_left": t.pad[1], "pad_bottom": t.pad_far[0],
            "pad_right": t.pad_far[1], "count_pad": int(t.count_pad), "pin_base": pin,
            "c_base": c_base,
            "m0": pp.m0,
            "shift": pp.shift, "rounding": ROUNDING_CODE[pp.rounding],
            "wrap": int(pp.mode is fp.Overflow.WRAP), "lo": pp.lo, "hi": pp.hi}, origin)

    def pool_tile(self, t: PoolTile) -> None:
        name = t.layer
        origin = f"layer {name!r} tile {t.index}"
        layer = self.g.nodes[name]["layer"]
        pp = self.pool_layer(name)
        if isinstance(layer, L.Pool) and len(self.g.nodes[name]["in_shapes"][0].spatial) > 2:
            raise ConfigError(f"layer {name!r}: 3-D pooling is not supported by the "
                              "instruction set")
        nin, nout = t.in_h * t.in_w, t.out_h * t.out_w
        k_out = self.fits({Buffer.OUT: nin + nout})
        if not k_out:
            raise ProgramError(f"{origin}: needs {nin + nout} output-buffer words, the buffer "
                               f"holds {self.t.out}")
        pin, _ = self.slot("out", k_out, Buffer.OUT)
        self.take("out", k_out)
        c_base = pin + nin
        compute = []
        srcs = ([self.views[u] for u in layer.inputs] if isinstance(layer, L.Add)
                else [self.views[layer.inputs[0]]])
        step = len(srcs)
        rows = t.in_h if isinstance(layer, L.Add) else nin
        first = t.iy0 if isinstance(layer, L.Add) else t.iy0 * t.in_w
        for j, v in enumerate(srcs):
            compute.append(_Pending(Opcode.LOAD, {
                "buffer": Buffer.OUT, "mode": MemMode.PIXELS, "sram_base": pin + j,
                "dram_base": self.dram(v, first, t.c0), "rows": rows, "elems": t.channels,
                "dram_stride": v.pix_stride * self.eb, "sram_stride": step,
                "fold_stride": 0}, origin))
        compute.append(self.vec(t, pp, pin, c_base, origin))
        dst = self.views[name]
        store = _Pending(Opcode.STORE, {
            "buffer": Buffer.OUT, "mode": MemMode.PIXELS, "sram_base": c_base,
            "dram_base": self.dram(dst, t.oy0 * t.out_w, t.c0), "rows": nout, "elems": t.channels,
            "dram_stride": dst.pix_stride * self.eb, "sram_stride": 1, "fold_stride": nout}, origin)
        self.wire(origin, [], 0, compute, k_out, [store])

    # -- the walk -----------------------------------------------------------------------------
    def run(self) -> None:
        for pl in self.p.layers:
            if pl.unit not in (Unit.ARRAY, Unit.POOL) or pl.name in self.skip:
                continue
            reads = [self.own[u] for u in pl.layer.inputs]
            if self.dirty and any(not isinstance(self.g.nodes[o]["layer"], L.Input)
                                  for o in reads):
                self.barrier()
            for t in pl.make_tiles():
                if isinstance(t, GemmTile):
                    self.gemm_tile(t)
                else:
                    self.pool_tile(t)
        self.end()
