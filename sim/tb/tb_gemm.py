"""GEMM (conv / dense) tiles on ``hwcnn_top`` (runs inside the simulator).

Environment (set by ``tests/test_rtl_cocotb.py``): ``HWCNN_TB_CONFIG`` (the design's
:class:`~sim.tb.layout.TbConfig` as JSON), ``HWCNN_CASES`` (a case file from ``sim/cases.py``),
``HWCNN_RESULTS_DIR`` (where ``tb_gemm.json`` goes: one record per tile with the measured
cycles). Every tile is loaded at random buffer offsets with junk in the don't-care lanes and in
the output range, run, read back and compared with :func:`hwcnn.golden_ops.gemm_tile`; the
cycles from ``start`` to ``done`` must equal :func:`hwcnn.timing.gemm_tile_cycles`.
"""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np

from hwcnn import golden_ops, timing
from sim.tb.common import HostDriver, Scoreboard, TileMonitor, TileRecord
from sim.tb.layout import TbConfig, gemm_desc, gemm_unpack, gemm_words, guard_addrs, junk_words
from sim.tb.tiles import GemmCase, RefusedCase, read_case_file


def expected_gemm(case: GemmCase, cfg: TbConfig) -> np.ndarray:
    """The model: the golden GEMM tile (per-tensor parameters passed as scalars)."""
    m0 = case.m0 if case.per_channel else int(case.m0[0])
    shift = case.shift if case.per_channel else int(case.shift[0])
    return golden_ops.gemm_tile(case.a, case.b, case.bias, m0, shift, case.lo, case.hi,
                                case.rounding, acc_bits=cfg.acc_bits, mode=case.mode,
                                bits=cfg.act_bits)


def _base(rng: np.random.Generator, words: int, depth: int) -> int:
    return int(rng.integers(0, depth - words + 1))


class GemmTestbench:
    """Driver + monitor + model + scoreboard for GEMM and refused tiles."""

    def __init__(self, dut, cfg: TbConfig, seed: int = 0) -> None:  # type: ignore[no-untyped-def]
        self.cfg = cfg
        self.driver = HostDriver(dut)
        self.monitor = TileMonitor(dut)
        self.board = Scoreboard()
        self.rng = np.random.default_rng(seed)

    async def run_gemm(self, case: GemmCase) -> TileRecord:
        cfg, rng = self.cfg, self.rng
        words = gemm_words(case, cfg, rng)
        expected_cycles = timing.gemm_tile_cycles(case.m, case.n, case.k, cfg.array)
        record = TileRecord(name=case.name, kind="gemm", summary=case.summary(), cycles=-1,
                            expected_cycles=expected_cycles, error=False, expected_error=False)
        why = words.fits(cfg)
        if why:
            record.violations.append(f"tile does not fit the buffers: {why}")
            return self.board.add(record)
        a0 = _base(rng, len(words.act), cfg.act_depth)
        b0 = _base(rng, len(words.weight), cfg.weight_depth)
        p0 = _base(rng, len(words.param), cfg.param_depth)
        c0 = _base(rng, words.out_words, cfg.out_depth)
        guards = guard_addrs(c0, words.out_words, cfg.out_depth)
        fill = junk_words(words.out_words + len(guards), cfg, rng)
        out_addrs = [c0 + i for i in range(words.out_words)] + guards
        await self.driver.write({
            "act_wr": [(a0 + off, w) for off, w in sorted(words.act.items())],
            "wgt_wr": [(b0 + off, w) for off, w in sorted(words.weight.items())],
            "par_wr": [(p0 + off, w) for off, w in sorted(words.param.items())],
            "out_wr": list(zip(out_addrs, fill, strict=True)),
        })
        run = await self.monitor.run(self.driver, gemm_desc(case, a0, b0, p0, c0))
        record.cycles, record.error = run.cycles, run.error
        record.violations.extend(run.violations)
        raw = await self.driver.read_out(out_addrs)
        actual, pads = gemm_unpack(raw[: words.out_words], case, cfg)
        n = words.out_words
        self.board.compare(record, "output-buffer word next to the tile's range (must not change)",
                           fill[n:], raw[n:], [(i,) for i in range(len(guards))])
        expected = expected_gemm(case, cfg)
        self.board.compare(record, "Out[i, j]", expected, actual, np.ndindex(case.m, case.n))
        self.board.compare(record, "unused output lane (must be 0)", np.zeros_like(pads), pads,
                           np.ndindex(*pads.shape))
        return self.board.add(record)

    async def run_refused(self, case: RefusedCase) -> TileRecord:
        record = TileRecord(name=case.name, kind="refused", summary=case.summary(), cycles=-1,
                            expected_cycles=timing.REFUSED_TILE_CYCLES, error=False,
                            expected_error=True)
        run = await self.monitor.run(self.driver, case.desc())
        record.cycles, record.error = run.cycles, run.error
        record.violations.extend(run.violations)
        return self.board.add(record)


async def run_corpus(dut, kinds: tuple[type, ...], result_name: str) -> None:  # type: ignore[no-untyped-def]
    """Shared body of the corpus tests: run every case of ``kinds``, write results, assert."""
    from sim.tb.tb_pool import PoolTestbench  # local: tb_pool imports this module

    cfg = TbConfig.from_env()
    cases = [c for c in read_case_file(os.environ["HWCNN_CASES"]) if isinstance(c, kinds)]
    gemm = GemmTestbench(dut, cfg, seed=int(os.environ.get("HWCNN_TB_SEED", "0")))
    pool = PoolTestbench(dut, cfg, gemm.board, gemm.rng)
    await gemm.driver.init()
    for case in cases:
        match case:
            case GemmCase():
                await gemm.run_gemm(case)
            case RefusedCase():
                await gemm.run_refused(case)
            case _:
                await pool.run_pool(case)
    out_dir = Path(os.environ.get("HWCNN_RESULTS_DIR", "."))
    gemm.board.write(out_dir / f"{result_name}.json",
                     {"rows": cfg.rows, "cols": cfg.cols, "dataflow": cfg.dataflow})
    dut._log.info("tiles on %dx%d %s:\n%s", cfg.rows, cfg.cols, cfg.dataflow.upper(),
                  gemm.board.table())
    problems = gemm.board.problems()
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


@cocotb.test()
async def gemm_tiles(dut) -> None:  # type: ignore[no-untyped-def]
    """Every GEMM and refused tile of the case file, bit-exact and cycle-exact."""
    await run_corpus(dut, (GemmCase, RefusedCase), "tb_gemm")
