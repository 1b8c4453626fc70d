"""GEMM (conv / dense) tiles on ``hwcnn_top`` (runs inside the simulator).

Environment (set by ``tests/test_rtl_cocotb.py``): ``HWCNN_TB_CONFIG`` (the design's
:class:`~sim.tb.layout.TbConfig` as JSON), ``HWCNN_CASES`` (a case file from ``sim/cases.py``),
``HWCNN_RESULTS_DIR`` (where ``tb_gemm.json`` goes: one record per tile with the measured
cycles). Every tile is loaded at random buffer offsets with junk in the don't-care lanes and in
the output range, run, read back and compared with :func:`hwcnn.numerics.golden_ops.gemm_tile`; the
cycles from ``start`` to ``done`` must equal :func:`hwcnn.arch.timing.gemm_tile_cycles`. A K-split
case runs as a chain of ``acc_out`` / ``acc_in`` tiles whose last output must equal the golden
model of the whole GEMM (cycles: the sum over the chain).
"""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np

from hwcnn.arch import timing
from hwcnn.numerics import golden_ops
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
        """One GEMM tile, or a K-split chain of tiles (``case.k_split``) recorded as one: its
        cycles are the sum over the chain, the output is the last tile's."""
        cfg, rng = self.cfg, self.rng
        parts = case.chunks()
        words = [gemm_words(p, cfg, rng) for p in parts]
        expected_cycles = sum(timing.gemm_tile_cycles(p.m, p.n, p.k, cfg.array) for p in parts)
        record = TileRecord(name=case.name, kind="gemm", summary=case.summary(), cycles=-1,
                            expected_cycles=expected_cycles, error=False, expected_error=False)
        why = next((w for w in (ws.fits(cfg) for ws in words) if w), None)
        acc_words = -(-case.n // cfg.cols) * case.m
        if len(parts) > 1 and acc_words > cfg.acc_depth:
            why = f"accumulator words {acc_words} > depth {cfg.acc_depth}"
        if why:
            record.violations.append(f"tile does not fit the buffers: {why}")
            return self.board.add(record)
        n = words[0].out_words
        c0 = _base(rng, n, cfg.out_depth)
        guards = guard_addrs(c0, n, cfg.out_depth)
        fill = junk_words(n + len(guards), cfg, rng)
        out_addrs = [c0 + i for i in range(n)] + guards
        record.cycles = 0
        for i, (part, w) in enumerate(zip(parts, words, strict=True)):
            # Every chunk at fresh random offsets: the chain must not depend on addresses.
            a0 = _base(rng, len(w.act), cfg.act_depth)
            b0 = _base(rng, len(w.weight), cfg.weight_depth)
            p0 = _base(rng, len(w.param), cfg.param_depth)
            streams = {
                "act_wr": [(a0 + off, v) for off, v in sorted(w.act.items())],
                "wgt_wr": [(b0 + off, v) for off, v in sorted(w.weight.items())],
                "par_wr": [(p0 + off, v) for off, v in sorted(w.param.items())],
            }
            if i == 0:
                streams["out_wr"] = list(zip(out_addrs, fill, strict=True))
            await self.driver.write(streams)
            desc = gemm_desc(part, a0, b0, p0, c0)
            desc |= {"acc_in": int(i > 0), "acc_out": int(i < len(parts) - 1)}
            run = await self.monitor.run(self.driver, desc)
            record.cycles += run.cycles
            record.error = record.error or bool(run.error)
            record.violations.extend(run.violations)
            if i == len(parts) - 2:
                kept = await self.driver.read_out(out_addrs)
                self.board.compare(record, "output word during a K-split chain (acc_out tiles "
                                   "must not write it)", fill, kept,
                                   [(j,) for j in range(len(fill))])
        raw = await self.driver.read_out(out_addrs)
        actual, pads = gemm_unpack(raw[:n], case, cfg)
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
