"""Pool tiles on ``hwcnn_top`` (runs inside the simulator).

Same environment as :mod:`sim.tb.tb_gemm` (results go to ``tb_pool.json``). A pool case with
more channels than the array has columns becomes one tile per group of ``cols`` channels. The
input map is written into the output buffer (where pool tiles read it), the output range is
pre-filled with junk, and the result is compared with :func:`hwcnn.numerics.golden_ops.pool_tile`
clamped to ``[lo, hi]`` (the RTL clamps every op; the clamp is a no-op for the contract's
full-range MAX/AVG). Cycles must equal :func:`hwcnn.arch.timing.pool_tile_cycles`.
"""

from __future__ import annotations

import cocotb
import numpy as np

from hwcnn.arch import timing
from hwcnn.frontend.layers import PoolOp
from hwcnn.numerics import golden_ops
from sim.tb.common import HostDriver, Scoreboard, TileMonitor, TileRecord
from sim.tb.layout import (
    TbConfig,
    guard_addrs,
    junk_words,
    pool_desc,
    pool_fits,
    pool_groups,
    pool_input_words,
    unpack,
)
from sim.tb.tiles import PoolCase

_OPS = {"max": PoolOp.MAX, "avg": PoolOp.AVG, "sum": PoolOp.SUM}


def expected_pool(case: PoolCase, channel: int) -> np.ndarray:
    """The model: golden vector unit on one channel, (out_h * out_w,) values, then the clamp."""
    values, valid = case.window_values(channel)
    y = golden_ops.pool_tile(values, valid, _OPS[case.op], lo=case.lo, hi=case.hi,
                             m0=case.m0, shift=case.shift, count=case.divisors())
    return np.clip(y, case.lo, case.hi)


class PoolTestbench:
    """Driver + monitor + model + scoreboard for pool tiles (shares the GEMM bench's driver)."""

    def __init__(self, dut, cfg: TbConfig, board: Scoreboard,  # type: ignore[no-untyped-def]
                 rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.driver = HostDriver(dut)
        self.monitor = TileMonitor(dut)
        self.board = board
        self.rng = rng

    async def run_pool(self, case: PoolCase) -> list[TileRecord]:
        cfg, rng = self.cfg, self.rng
        expected_cycles = timing.pool_tile_cycles(case.out_h, case.out_w, *case.win, cfg.array)
        records = []
        for group in pool_groups(case, cfg):
            name = f"{case.name}[ch{group.start}-{group.stop - 1}]"
            record = TileRecord(name=name, kind="pool", summary=case.summary(), cycles=-1,
                                expected_cycles=expected_cycles, error=False,
                                expected_error=False)
            records.append(self.board.add(record))
            why = pool_fits(case, cfg)
            if why:
                record.violations.append(f"tile does not fit the buffers: {why}")
                continue
            n_in, n_out = case.in_h * case.in_w, case.out_h * case.out_w
            slack = cfg.out_depth - n_in - n_out
            first = int(rng.integers(0, slack + 1))
            gap = int(rng.integers(0, slack - first + 1))
            if rng.random() < 0.5:
                pin, c0 = first, first + n_in + gap
            else:
                c0, pin = first, first + n_out + gap
            inputs = pool_input_words(case, group, cfg, rng)
            in_range = range(pin, pin + n_in)
            guards = guard_addrs(c0, n_out, cfg.out_depth, avoid=in_range)
            fill = junk_words(n_out + len(guards), cfg, rng)
            out_addrs = [c0 + i for i in range(n_out)] + guards
            await self.driver.write({"out_wr": list(zip(in_range, inputs, strict=True))
                                     + list(zip(out_addrs, fill, strict=True))})
            run = await self.monitor.run(self.driver, pool_desc(case, pin, c0))
            record.cycles, record.error = run.cycles, run.error
            record.violations.extend(run.violations)
            raw = await self.driver.read_out(out_addrs + list(in_range))
            kept, want = raw[n_out:], fill[n_out:] + inputs
            self.board.compare(record, "output-buffer word outside the pool output (must not "
                               "change)", want, kept, [(i,) for i in range(len(want))])
            raw = raw[:n_out]
            actual = np.array([unpack(w, cfg.cols, cfg.act_bits) for w in raw], dtype=np.int64)
            for lane, ch in enumerate(group):
                exp = expected_pool(case, ch).reshape(case.out_h, case.out_w)
                got = actual[:, lane].reshape(case.out_h, case.out_w)
                self.board.compare(record, f"channel {ch} out[oy, ox]", exp, got,
                                   np.ndindex(case.out_h, case.out_w))
        return records


@cocotb.test()
async def pool_tiles(dut) -> None:  # type: ignore[no-untyped-def]
    """Every pool tile of the case file, bit-exact and cycle-exact."""
    from sim.tb.tb_gemm import run_corpus

    await run_corpus(dut, (PoolCase,), "tb_pool")
