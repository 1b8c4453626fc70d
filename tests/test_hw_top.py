"""Accelerator top level in Amaranth's simulator: GEMM and pool tiles, bit-exact outputs and
start->done cycles equal to the closed forms of :mod:`hwcnn.arch.timing`.

References are independent of the RTL: :func:`hwcnn.numerics.golden_ops.gemm_tile` / ``pool_tile``
(NumPy, the numeric contract) fed by window loops written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.timing import REFUSED_TILE_CYCLES, gemm_tile_cycles, pool_tile_cycles
from hwcnn.errors import ConfigError
from hwcnn.frontend.layers import PoolOp
from hwcnn.hw import layout
from hwcnn.hw.descriptor import GemmDesc, PoolDesc, PoolOpCode, Requant
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.top import Accelerator
from hwcnn.numerics import golden_ops
from hwcnn.numerics.fixedpoint import Overflow, Rounding

DEPTHS = BufferDepths(act=128, weight=64, out=128, param=8, acc=32)
FULL = (-128, 127)


@dataclass(frozen=True)
class GemmCase:
    """One GEMM tile with its operands (``bias`` per column, ``m0``/``shift`` scalars or
    per-column arrays when ``per_channel``)."""

    name: str
    a: np.ndarray
    b: np.ndarray
    bias: np.ndarray
    m0: object
    shift: object
    lo: int = -128
    hi: int = 127
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SATURATE
    per_channel: bool = False
    bias_en: bool = True


@dataclass(frozen=True)
class PoolCase:
    name: str
    x: np.ndarray            # (ch, h, w)
    op: PoolOpCode
    win: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]     # top, left (the bottom/right padding follows from out size)
    out: tuple[int, int]
    lo: int = -128
    hi: int = 127
    m0: int = 1
    shift: int = 0
    far: tuple[int, int] | None = None   # count_include_pad: bottom/right padding


def gemm_case(rng, name, m, n, k, *, per_channel=False, a_bits=8, b_bits=8, **kw) -> GemmCase:
    amin, bmin = -(1 << (a_bits - 1)), -(1 << (b_bits - 1))
    a = rng.integers(amin, -amin, (m, k))
    b = rng.integers(bmin, -bmin, (k, n))
    # Corner operands: the extreme product (min * min) must appear in every case.
    a[0, 0], b[0, 0] = amin, bmin
    bias = rng.integers(-5000, 5000, n)
    if per_channel:
        m0 = rng.integers(1 << 29, 1 << 31, n)
        shift = rng.integers(34, 40, n)
    else:
        m0, shift = int(rng.integers(1 << 29, 1 << 31)), 37
    return GemmCase(name, a, b, bias, kw.pop("m0", m0), kw.pop("shift", shift),
                    per_channel=per_channel, **kw)


def expected_gemm(case: GemmCase, cfg: HardwareConfig) -> np.ndarray:
    bias = case.bias if case.bias_en else None
    arr = cfg.array
    return golden_ops.gemm_tile(case.a, case.b, bias, case.m0, case.shift, case.lo, case.hi,
                                case.rounding, acc_bits=arr.acc_bits, mode=case.overflow,
                                bits=arr.act_bits)


def expected_pool(case: PoolCase) -> np.ndarray:
    """Naive window loops collect (values, valid) per output pixel, then the contract op."""
    ch, h, w = case.x.shape
    (wh, ww), (sh, sw), (pt, pl), (oh, ow) = case.win, case.stride, case.pad, case.out
    vals = np.zeros((ch, oh * ow, wh * ww), dtype=np.int64)
    valid = np.zeros((oh * ow, wh * ww), dtype=bool)
    count = np.zeros(oh * ow, dtype=np.int64)      # count_include_pad divisors
    for oy in range(oh):
        for ox in range(ow):
            for fy in range(wh):
                for fx in range(ww):
                    iy, ix = oy * sh - pt + fy, ox * sw - pl + fx
                    if case.far is not None and iy < h + case.far[0] and ix < w + case.far[1]:
                        count[oy * ow + ox] += 1
                    if 0 <= iy < h and 0 <= ix < w:
                        vals[:, oy * ow + ox, fy * ww + fx] = case.x[:, iy, ix]
                        valid[oy * ow + ox, fy * ww + fx] = True
    op = {PoolOpCode.MAX: PoolOp.MAX, PoolOpCode.AVG: PoolOp.AVG, PoolOpCode.SUM: PoolOp.SUM}
    out = [golden_ops.pool_tile(vals[c], valid, op[case.op], lo=case.lo, hi=case.hi,
                                m0=case.m0, shift=case.shift,
                                count=None if case.far is None else count) for c in range(ch)]
    return np.stack(out).reshape(ch, oh, ow)


def assert_same(tile: str, expected: np.ndarray, actual: np.ndarray) -> None:
    """Fail with the tile, the first mismatching output coordinate, expected and actual."""
    assert expected.shape == actual.shape, (tile, expected.shape, actual.shape)
    bad = np.argwhere(expected != actual)
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        pytest.fail(f"tile {tile}: {len(bad)} mismatches; first at output {idx}: expected "
                    f"{int(expected[idx])}, actual {int(actual[idx])}")


class Host:
    """Drives the host interface of :class:`Accelerator` from an async pysim testbench."""

    def __init__(self, dut: Accelerator, ctx) -> None:
        self.dut, self.ctx = dut, ctx

    async def write(self, port, base: int, words: list[int]) -> None:
        ctx = self.ctx
        ctx.set(port.en, 1)
        for i, w in enumerate(words):
            ctx.set(port.addr, base + i)
            ctx.set(port.data, w)
            await ctx.tick()
        ctx.set(port.en, 0)

    async def read_out(self, base: int, count: int) -> list[int]:
        ctx, words = self.ctx, []
        for i in range(count):
            ctx.set(self.dut.out_rd.addr, base + i)
            await ctx.tick()
            words.append(ctx.get(self.dut.out_rd.data))
        return words

    async def run(self, fields: dict[str, int]) -> tuple[int, int]:
        """Start a tile; return (cycles from start to done, error)."""
        ctx, dut = self.ctx, self.dut
        for name in dut.desc.signature.members:
            ctx.set(getattr(dut.desc, name), int(fields.get(name, 0)))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycles = 1
        while not ctx.get(dut.done):
            assert ctx.get(dut.busy), "busy must stay high until done"
            await ctx.tick()
            cycles += 1
            assert cycles < 200_000, "tile never finished"
        return cycles, ctx.get(dut.error)


def gemm_desc(case: GemmCase, cfg: HardwareConfig, bases=(0, 0, 0, 0)) -> GemmDesc:
    m, k = case.a.shape
    n = case.b.shape[1]
    rq = Requant(lo=case.lo, hi=case.hi, m0=0 if case.per_channel else case.m0,
                 shift=0 if case.per_channel else case.shift, rounding=case.rounding,
                 overflow=case.overflow)
    d = GemmDesc(m=m, n=n, k=k, requant=rq, a_base=bases[0], b_base=bases[1],
                 p_base=bases[2], c_base=bases[3], per_channel=case.per_channel,
                 bias_en=case.bias_en)
    d.check(cfg, DEPTHS)
    return d


def pool_desc(case: PoolCase, cfg: HardwareConfig, pin_base: int, c_base: int) -> PoolDesc:
    _, h, w = case.x.shape
    rq = Requant(lo=case.lo, hi=case.hi, m0=case.m0, shift=case.shift)
    d = PoolDesc(op=case.op, in_h=h, in_w=w, out_h=case.out[0], out_w=case.out[1],
                 win_h=case.win[0], win_w=case.win[1], stride_h=case.stride[0],
                 stride_w=case.stride[1], pad_top=case.pad[0], pad_left=case.pad[1],
                 pad_bottom=(case.far or (0, 0))[0], pad_right=(case.far or (0, 0))[1],
                 count_pad=case.far is not None, pin_base=pin_base, c_base=c_base, requant=rq)
    d.check(cfg, DEPTHS)
    return d


def with_junk_lanes(case: GemmCase, cfg: HardwareConfig, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A and B padded to whole folds with random junk: the lanes README section 3 calls
    don't-care (A: columns >= k, both dataflows; B: columns >= n) must not leak into results.
    """
    arr = cfg.array
    rng = np.random.default_rng(1000 + seed)
    (m, k), n = case.a.shape, case.b.shape[1]
    lo_a, lo_b = -(1 << (arr.act_bits - 1)), -(1 << (arr.weight_bits - 1))
    a = rng.integers(lo_a, -lo_a, (m, -(-k // arr.rows) * arr.rows))
    a[:, :k] = case.a
    b = rng.integers(lo_b, -lo_b, (k, -(-n // arr.cols) * arr.cols))
    b[:, :n] = case.b
    return a, b


def simulate(cfg: HardwareConfig, tiles: list) -> list[tuple[str, int, int, np.ndarray]]:
    """Run ``tiles`` back to back on one simulated accelerator.

    Returns ``(name, cycles, error, result)`` per tile.
    """
    dut = Accelerator(cfg, DEPTHS)
    results = []

    async def bench(ctx) -> None:
        host = Host(dut, ctx)
        for i, tile in enumerate(tiles):
            match tile:
                case GemmCase():
                    # Vary the offsets from tile to tile so addressing is exercised.
                    bases = (i % 3, 2 * (i % 2), i % 2, 5 + i % 4)
                    d = gemm_desc(tile, cfg, bases)
                    a_junk, b_junk = with_junk_lanes(tile, cfg, i)
                    await host.write(dut.act_wr, bases[0], layout.act_words(a_junk, cfg))
                    await host.write(dut.wgt_wr, bases[1], layout.weight_words(b_junk, cfg))
                    m0 = tile.m0 if tile.per_channel else 0
                    sh = tile.shift if tile.per_channel else 0
                    await host.write(dut.par_wr, bases[2],
                                     layout.param_words(tile.bias, m0, sh, cfg))
                    cycles, err = await host.run(d.fields())
                    m, n = tile.a.shape[0], tile.b.shape[1]
                    words = await host.read_out(bases[3], -(-n // cfg.array.cols) * m)
                    results.append((tile.name, cycles, err, layout.gemm_out(words, m, n, cfg)))
                case PoolCase():
                    pin, cb = 3, 64
                    d = pool_desc(tile, cfg, pin, cb)
                    await host.write(dut.out_wr, pin, layout.pool_in_words(tile.x, cfg))
                    cycles, err = await host.run(d.fields())
                    oh, ow = tile.out
                    words = await host.read_out(cb, oh * ow)
                    y = layout.pool_out(words, tile.x.shape[0], oh, ow, cfg)
                    results.append((tile.name, cycles, err, y))
                case dict():
                    cycles, err = await host.run(tile)
                    results.append(("raw", cycles, err, None))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


def check(cfg: HardwareConfig, tiles: list) -> None:
    for tile, (name, cycles, err, got) in zip(tiles, simulate(cfg, tiles), strict=True):
        match tile:
            case GemmCase():
                m, k = tile.a.shape
                n = tile.b.shape[1]
                assert err == 0, name
                assert_same(name, expected_gemm(tile, cfg), got)
                assert cycles == gemm_tile_cycles(m, n, k, cfg.array), (name, cycles)
            case PoolCase():
                assert err == 0, name
                assert_same(name, expected_pool(tile), got)
                assert cycles == pool_tile_cycles(*tile.out, *tile.win, cfg.array), (name, cycles)
            case dict():
                assert err == 1 and cycles == REFUSED_TILE_CYCLES, (tile, cycles, err)


def config(rows: int, cols: int, df: str, **widths: int) -> HardwareConfig:
    """``df``: "os", "ws" or "os2" (output stationary draining a row pair per cycle)."""
    drain = 2 if df == "os2" else 1
    return HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                            dataflow=Dataflow.parse(df.rstrip("2")),
                                            drain_rows=drain, **widths))


def gemm_corpus(seed: int, r: int, c: int) -> list[GemmCase]:
    """Ragged sizes around the array: smaller, equal, larger than R x C (and K vs R)."""
    rng = np.random.default_rng(seed)
    return [
        gemm_case(rng, "1x1x1", 1, 1, 1),
        gemm_case(rng, "exact", r, c, r),
        gemm_case(rng, "larger", 2 * r + 1, c + 1, 2 * r + 1),
        gemm_case(rng, "thin", 1, 2 * c + 1, 3),
        gemm_case(rng, "relu-perchannel", r + 1, c + 2, 5, per_channel=True, lo=0),
        gemm_case(rng, "relu6-halfeven", 3, c, r + 2, lo=0, hi=40,
                  rounding=Rounding.HALF_EVEN),
        gemm_case(rng, "ties-halfaway", 2, 2, 2, m0=1, shift=1, rounding=Rounding.HALF_AWAY),
        gemm_case(rng, "truncate-nobias", 2, 3, 4, rounding=Rounding.TRUNCATE, bias_en=False),
        gemm_case(rng, "wrap", 3, 2, 2, m0=1, shift=2, overflow=Overflow.WRAP),
    ]


def pool_corpus(seed: int, ch: int) -> list[PoolCase]:
    rng = np.random.default_rng(seed)

    def x(h, w):
        v = rng.integers(-128, 128, (ch, h, w))
        v[0, 0, 0] = -128
        return v

    return [
        PoolCase("max2x2s2", x(4, 5), PoolOpCode.MAX, (2, 2), (2, 2), (0, 0), (2, 2)),
        PoolCase("avg3x3pad1", x(4, 4), PoolOpCode.AVG, (3, 3), (1, 1), (1, 1), (4, 4)),
        PoolCase("max3x3s2pad1-ignores-lo", x(5, 5), PoolOpCode.MAX, (3, 3), (2, 2), (1, 1), (3, 3),
                 lo=0),
        PoolCase("sum2x3", x(3, 4), PoolOpCode.SUM, (2, 3), (1, 1), (0, 0), (2, 2),
                 m0=3 << 28, shift=30),
        PoolCase("global-avg", x(3, 3), PoolOpCode.AVG, (3, 3), (1, 1), (0, 0), (1, 1)),
        # count_include_pad: 3x3 pad 1 divides by 9 everywhere (the padded input holds every
        # window); a ceil-mode 2x2 stride 2 on 3x3 with no far padding divides by 4, 2, 2, 1.
        PoolCase("avg3x3pad1-include-pad", x(4, 3), PoolOpCode.AVG, (3, 3), (1, 1), (1, 1),
                 (4, 3), far=(1, 1)),
        PoolCase("avg2x2s2-ceil-include-pad", x(3, 3), PoolOpCode.AVG, (2, 2), (2, 2), (0, 0),
                 (2, 2), far=(0, 0)),
        PoolCase("add3", x(4, 3), PoolOpCode.SUM, (1, 3), (1, 1), (0, 0), (4, 1),
                 m0=1 << 30, shift=31),
        PoolCase("relu-1tap", x(5, 1), PoolOpCode.AVG, (1, 1), (1, 1), (0, 0), (5, 1), lo=0),
    ]


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
@pytest.mark.parametrize("rows,cols", [(2, 3), (3, 2)])
def test_gemm_tiles(df: str, rows: int, cols: int) -> None:
    cfg = config(rows, cols, df)
    check(cfg, gemm_corpus(rows * 10 + cols, rows, cols))


@pytest.mark.parametrize("df", ["os", "ws"])
@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 4), (4, 1)])
def test_degenerate_arrays(df: str, rows: int, cols: int) -> None:
    cfg = config(rows, cols, df)
    check(cfg, gemm_corpus(rows + 10 * cols, rows, cols)[:4] + pool_corpus(5, cols)[:2])


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_narrow_widths(df: str) -> None:
    """4-bit activations, 6-bit weights, 20-bit accumulator (wraps and clamps at 4 bits)."""
    cfg = config(2, 3, df, act_bits=4, weight_bits=6, acc_bits=20)
    rng = np.random.default_rng(11)
    kw = {"a_bits": 4, "b_bits": 6, "lo": -8, "hi": 7, "m0": 1 << 30}
    check(cfg, [gemm_case(rng, "narrow", 5, 4, 7, shift=36, **kw),
                gemm_case(rng, "narrow-relu-wrap", 3, 5, 3, shift=33, overflow=Overflow.WRAP,
                          **{**kw, "lo": 0})])


@pytest.mark.slow
@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_8x8_larger_tiles(df: str) -> None:
    cfg = config(8, 8, df)
    rng = np.random.default_rng(88)
    check(cfg, [gemm_case(rng, "8x8-a", 17, 19, 21),
                gemm_case(rng, "8x8-b", 9, 8, 30, per_channel=True, lo=0)])


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_pool_tiles(df: str) -> None:
    cfg = config(2, 3, df)
    check(cfg, pool_corpus(7, 3))


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_zero_size_refused_then_next_tile_runs(df: str) -> None:
    cfg = config(2, 2, df)
    rng = np.random.default_rng(1)
    zero_m = {"kind": 0, "m": 0, "n": 2, "k": 2}
    zero_win = {"kind": 1, "in_h": 2, "in_w": 2, "out_h": 1, "out_w": 1, "win_h": 0,
                "win_w": 2, "stride_h": 1, "stride_w": 1}
    check(cfg, [zero_m, gemm_case(rng, "after-refusal", 3, 3, 3), zero_win,
                PoolCase("after-refusal", rng.integers(-128, 128, (2, 2, 2)), PoolOpCode.MAX,
                         (2, 2), (1, 1), (0, 0), (1, 1))])


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_4x4_corpus(df: str) -> None:
    cfg = config(4, 4, df)
    check(cfg, gemm_corpus(44, 4, 4) + pool_corpus(45, 4))


def test_mismatch_message_names_tile_coordinate_values() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"tile t: 1 mismatches; first at output "
                       r"\(1, 0\): expected 3, actual 4"):
        assert_same("t", np.array([[1], [3]]), np.array([[1], [4]]))


def test_descriptor_validation() -> None:
    cfg = config(2, 2, "ws")
    rq = Requant(lo=-128, hi=127)
    for bad in ({"m": 0}, {"n": -1}, {"k": 1 << 16}):
        with pytest.raises(ConfigError):
            GemmDesc(**{"m": 1, "n": 1, "k": 1, **bad}, requant=rq)
    with pytest.raises(ConfigError, match="exceed the buffer depth"):
        GemmDesc(m=4, n=4, k=40, requant=rq, b_base=0).check(cfg, DEPTHS)
    with pytest.raises(ConfigError, match="accumulator buffer depth"):
        GemmDesc(m=33, n=1, k=1, requant=rq).check(cfg, DEPTHS)
    with pytest.raises(ConfigError, match="outside the 8-bit range"):
        GemmDesc(m=1, n=1, k=1, requant=Requant(lo=-200, hi=0)).check(cfg, DEPTHS)
    with pytest.raises(ConfigError, match="lies in the padding"):
        PoolDesc(op=PoolOpCode.MAX, in_h=4, in_w=4, out_h=2, out_w=2, win_h=2, win_w=2,
                 pad_top=2, requant=rq)
    with pytest.raises(ConfigError, match="overlap"):
        PoolDesc(op=PoolOpCode.MAX, in_h=2, in_w=2, out_h=1, out_w=1, win_h=2, win_w=2,
                 pin_base=0, c_base=3, requant=rq).check(cfg, DEPTHS)
    with pytest.raises(ConfigError, match="k 40000 needs 32 accumulator bits, the array has 20"):
        big = HardwareConfig(array=ArrayConfig(rows=2, cols=2, acc_bits=20))
        GemmDesc(m=1, n=1, k=40000, requant=rq).check(big, BufferDepths(act=1 << 16, weight=1 << 16))


def test_busy_ignores_host_output_writes_and_restarts() -> None:
    """While busy: an out_wr to an unrelated word is dropped, a second start is ignored."""
    cfg = config(2, 2, "os")
    dut = Accelerator(cfg, DEPTHS)
    rng = np.random.default_rng(2)
    case = gemm_case(rng, "busy", 3, 2, 4)
    d = gemm_desc(case, cfg, (0, 0, 0, 0))
    seen = {}

    async def bench(ctx) -> None:
        host = Host(dut, ctx)
        await host.write(dut.act_wr, 0, layout.act_words(case.a, cfg))
        await host.write(dut.wgt_wr, 0, layout.weight_words(case.b, cfg))
        await host.write(dut.par_wr, 0, layout.param_words(case.bias, 0, 0, cfg))
        await host.write(dut.out_wr, 100, [0x1234])
        for name, value in d.fields().items():
            ctx.set(getattr(dut.desc, name), int(value))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.desc.m, 0)          # would be refused if it were accepted
        cycles = 1
        ctx.set(dut.out_wr.en, 1)
        ctx.set(dut.out_wr.addr, 100)
        ctx.set(dut.out_wr.data, 0x5555)
        while not ctx.get(dut.done):
            await ctx.tick()
            cycles += 1
        ctx.set(dut.start, 0)
        ctx.set(dut.out_wr.en, 0)
        seen["cycles"], seen["error"] = cycles, ctx.get(dut.error)
        seen["kept"] = (await host.read_out(100, 1))[0]
        words = await host.read_out(0, 3)
        seen["out"] = layout.gemm_out(words, 3, 2, cfg)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["cycles"] == gemm_tile_cycles(3, 2, 4, cfg.array) and seen["error"] == 0
    assert seen["kept"] == 0x1234
    assert_same("busy", expected_gemm(case, cfg), seen["out"])


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_back_to_back_tiles_start_in_the_done_cycle(df: str) -> None:
    """Three tiles, each started in the previous tile's ``done`` cycle: no cycle between them,
    nothing of one tile's folds in flight leaks into the next (results and counts exact)."""
    cfg = config(2, 3, df)
    dut = Accelerator(cfg, DEPTHS)
    rng = np.random.default_rng(21)
    cases = [gemm_case(rng, "b2b-a", 5, 7, 6), gemm_case(rng, "b2b-b", 1, 4, 9, lo=0),
             gemm_case(rng, "b2b-c", 4, 3, 2, per_channel=True)]
    # Disjoint buffer ranges, all written before the first start.
    bases = [(0, 0, 0, 0), (20, 30, 4, 40), (40, 50, 6, 60)]
    descs = [gemm_desc(c, cfg, b) for c, b in zip(cases, bases, strict=True)]
    seen: dict[str, list] = {"cycles": [], "out": []}

    async def bench(ctx) -> None:
        host = Host(dut, ctx)
        for case, base, i in zip(cases, bases, range(3), strict=True):
            a_junk, b_junk = with_junk_lanes(case, cfg, i)
            await host.write(dut.act_wr, base[0], layout.act_words(a_junk, cfg))
            await host.write(dut.wgt_wr, base[1], layout.weight_words(b_junk, cfg))
            m0 = case.m0 if case.per_channel else 0
            sh = case.shift if case.per_channel else 0
            await host.write(dut.par_wr, base[2], layout.param_words(case.bias, m0, sh, cfg))
        for d in descs:
            for name in dut.desc.signature.members:
                ctx.set(getattr(dut.desc, name), int(d.fields().get(name, 0)))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            seen["cycles"].append(cycles)     # the loop presents the next start in this cycle
        for case, base in zip(cases, bases, strict=True):
            m, n = case.a.shape[0], case.b.shape[1]
            words = await host.read_out(base[3], -(-n // cfg.array.cols) * m)
            seen["out"].append(layout.gemm_out(words, m, n, cfg))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["cycles"] == [gemm_tile_cycles(c.a.shape[0], c.b.shape[1], c.a.shape[1],
                                               cfg.array) for c in cases]
    for case, got in zip(cases, seen["out"], strict=True):
        assert_same(case.name, expected_gemm(case, cfg), got)


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_many_folds(df: str) -> None:
    """16 OS folds / 20 WS folds on 2x3 (ragged in m, n and k), and a dense-like m = 1 tile
    whose WS period is longer than its stream."""
    cfg = config(2, 3, df)
    rng = np.random.default_rng(31)
    check(cfg, [gemm_case(rng, "many", 7, 10, 9), gemm_case(rng, "dense", 1, 7, 11, lo=0)])


def test_two_drain_rows_worked_example() -> None:
    """rtl/README.md 5's worked example, measured: 4x8, m = 8, n = 8, k = 1 is 2 folds with
    P = max(4*ceil(1/4), 2, ceil((8 + 2)/2)) = 5, T = 1 + 5 + (1 + 8 + 2 + 2 + 3) = 22 cycles
    with two drain rows; one drain row per cycle needs P = max(4, 4, 8) = 8, 25 cycles. (On
    a square array the pairs gain nothing: a fold reads R activation words.)"""
    rng = np.random.default_rng(8)
    case = gemm_case(rng, "worked", 8, 8, 1)
    for df, want in (("os2", 22), ("os", 25)):
        cfg = config(4, 8, df)
        ((_, cycles, err, got),) = simulate(cfg, [case])
        assert (cycles, err) == (want, 0), df
        assert_same(df, expected_gemm(case, cfg), got)
