"""K-split GEMM chains on the Amaranth accelerator (``acc_in`` / ``acc_out``, rtl/README.md 4).

A GEMM is cut into 2-3 K-chunks run as consecutive tiles: every tile but the last writes its
int32 sums to the accumulator buffer (``acc_out``), every tile but the first starts from them
(``acc_in``). The last tile's output must equal the golden model of the WHOLE GEMM bit for
bit, the output buffer must be untouched by the ``acc_out`` tiles, and every tile's cycle count
must equal :func:`hwcnn.arch.timing.gemm_tile_cycles` of its own (m, n, k_chunk).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.timing import gemm_tile_cycles
from hwcnn.errors import ConfigError
from hwcnn.hw import layout
from hwcnn.hw.descriptor import GemmDesc, Requant
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.top import Accelerator
from hwcnn.numerics.fixedpoint import Rounding
from tests.test_hw_top import (
    DEPTHS,
    GemmCase,
    Host,
    assert_same,
    config,
    expected_gemm,
    gemm_case,
    with_junk_lanes,
)

#: A word no GEMM output of these tests produces in every lane at once (sentinel).
SENTINEL_LANE = 0x5A


def run_chain(cfg, case: GemmCase, cuts: list[int], seed: int
              ) -> tuple[np.ndarray, list[int], list[int], list[int]]:
    """Run ``case`` as K-chunks ``[cuts[i], cuts[i+1])``; return (result, cycles per tile,
    output words after the acc_out tiles, sentinel words)."""
    dut = Accelerator(cfg, DEPTHS)
    arr = cfg.array
    (m, _k), n = case.a.shape, case.b.shape[1]
    fn = -(-n // arr.cols)
    c_base = 7
    sentinel = layout.pack_word([SENTINEL_LANE] * arr.cols, arr.act_bits)
    cycles: list[int] = []
    before: list[int] = []
    out: dict[str, np.ndarray] = {}
    last = len(cuts) - 2

    async def bench(ctx) -> None:
        host = Host(dut, ctx)
        await host.write(dut.out_wr, c_base, [sentinel] * (fn * m))
        m0 = case.m0 if case.per_channel else 0
        sh = case.shift if case.per_channel else 0
        await host.write(dut.par_wr, 1, layout.param_words(case.bias, m0, sh, cfg))
        for i, (k0, k1) in enumerate(itertools.pairwise(cuts)):
            part = GemmCase(case.name, case.a[:, k0:k1], case.b[k0:k1], case.bias, case.m0,
                            case.shift, lo=case.lo, hi=case.hi, rounding=case.rounding,
                            per_channel=case.per_channel, bias_en=case.bias_en)
            a_junk, b_junk = with_junk_lanes(part, cfg, seed + i)
            # Move the operands from chunk to chunk so the chain does not rely on addresses.
            a_base, b_base = 3 * i, 2 * i + 1
            await host.write(dut.act_wr, a_base, layout.act_words(a_junk, cfg))
            await host.write(dut.wgt_wr, b_base, layout.weight_words(b_junk, cfg))
            rq = Requant(lo=case.lo, hi=case.hi, m0=0 if case.per_channel else case.m0,
                         shift=0 if case.per_channel else case.shift, rounding=case.rounding)
            d = GemmDesc(m=m, n=n, k=k1 - k0, requant=rq, a_base=a_base, b_base=b_base,
                         p_base=1, c_base=c_base, per_channel=case.per_channel,
                         bias_en=case.bias_en, acc_in=i > 0, acc_out=i < last)
            d.check(cfg, DEPTHS)
            t, err = await host.run(d.fields())
            assert err == 0
            cycles.append(t)
            if i == last - 1:
                before.extend(await host.read_out(c_base, fn * m))
        words = await host.read_out(c_base, fn * m)
        out["y"] = layout.gemm_out(words, m, n, cfg)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["y"], cycles, before, [sentinel] * (fn * m)


def naive_gemm(case: GemmCase) -> np.ndarray:
    """Independent reference: Python-int loops, HALF_UP rounding, saturate (per-tensor)."""
    (m, k), n = case.a.shape, case.b.shape[1]
    y = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = int(case.bias[j]) if case.bias_en else 0
            for kk in range(k):
                acc += int(case.a[i, kk]) * int(case.b[kk, j])
            p = acc * int(case.m0)
            s = int(case.shift)
            v = (p + (1 << (s - 1))) >> s if s else p
            y[i, j] = min(max(v, case.lo), case.hi)
    return y


CHAINS = [
    # (rows, cols, m, n, k cuts): ragged m/n/k, 2 and 3 chunks, chunks not multiples of R.
    (2, 3, 5, 7, [0, 3, 8]),
    (3, 2, 4, 5, [0, 1, 5, 11]),
    (4, 4, 6, 9, [0, 7, 13, 14]),
]


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
@pytest.mark.parametrize("rows,cols,m,n,cuts", CHAINS)
def test_ksplit_chain_equals_whole_gemm(df, rows, cols, m, n, cuts) -> None:
    cfg = config(rows, cols, df)
    rng = np.random.default_rng(rows * 100 + m * 10 + n)
    case = gemm_case(rng, f"ksplit-{df}-{rows}x{cols}", m, n, cuts[-1], lo=-100, hi=120)
    y, cycles, before, sentinel = run_chain(cfg, case, cuts, seed=rows)
    assert_same(case.name, naive_gemm(case), y)
    assert_same(case.name, expected_gemm(case, cfg), y)
    assert before == sentinel, "an acc_out tile wrote the output buffer"
    want = [gemm_tile_cycles(m, n, k1 - k0, cfg.array) for k0, k1 in itertools.pairwise(cuts)]
    assert cycles == want


@pytest.mark.parametrize("df", ["os", "ws", "os2"])
def test_ksplit_per_channel_no_bias(df) -> None:
    cfg = config(2, 3, df)
    rng = np.random.default_rng(7)
    case = gemm_case(rng, "ksplit-pc", 3, 4, 9, per_channel=True, lo=0,
                     rounding=Rounding.HALF_EVEN, bias_en=False)
    y, cycles, _, _ = run_chain(cfg, case, [0, 4, 9], seed=5)
    assert_same(case.name, expected_gemm(case, cfg), y)
    assert cycles == [gemm_tile_cycles(3, 4, 4, cfg.array), gemm_tile_cycles(3, 4, 5, cfg.array)]


@pytest.mark.parametrize("df", ["os", "ws"])
def test_accumulator_depth_validated(df) -> None:
    cfg = config(2, 3, df)
    depths = BufferDepths(act=128, weight=64, out=128, param=8, acc=12)
    rq = Requant(lo=-128, hi=127)
    # ceil(7/3) = 3 N-folds x m = 4 -> 12 accumulator words: fits exactly.
    GemmDesc(m=4, n=7, k=3, requant=rq, acc_out=True).check(cfg, depths)
    GemmDesc(m=4, n=7, k=3, requant=rq, acc_in=True).check(cfg, depths)
    for flags in ({"acc_in": True}, {"acc_out": True}, {"acc_in": True, "acc_out": True}):
        with pytest.raises(ConfigError, match="accumulator words"):
            GemmDesc(m=5, n=7, k=3, requant=rq, **flags).check(cfg, depths)
    # Without the flags only WS uses the accumulator (m words per N-fold, reused).
    GemmDesc(m=5, n=7, k=3, requant=rq).check(cfg, depths)
