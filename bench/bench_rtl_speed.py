"""Benchmark: whole-network simulation speed of the Verilog (Verilator + cocotb) against the
estimator and the functional interpreter on the same network, measured in the same run.

For each network (default tiny_cnn and LeNet-5, 4x4 array, both dataflows, 1 KiB buffers, the
Arty A7 DRAM model), it compiles the network and times, interleaved over ``--repeat`` rounds:

- ``rtl``: the compiled program on ``hwcnn_soc`` (``hwcnn.rtlsim``; the Verilator build is
  cached and its time reported separately). The testbench measures the machine's start-to-done
  cycles and its own wall time from reset to the end (``Outcome.wall_seconds``: simulation
  only), so ``cycles/s`` is Verilator + cocotb speed on this design; the whole launch
  (simulator start, DRAM image in and out) is reported as well;
- ``estimate``: :func:`hwcnn.report.perf.estimate` (lowering, closed-form tile cycles, DRAM
  model) of the same network on the same configuration;
- ``program``: the functional interpreter (:func:`hwcnn.machine.program_exec.run_program`).

It prints medians and the ratios rtl / estimate and rtl / program (the reference is measured
in the same run, so the ratios hold on a loaded machine). ``--engine program`` leaves the RTL
out (for machines without the accelerator's RTL).

Run: ``.venv/bin/python bench/bench_rtl_speed.py [--models tiny_cnn,lenet5] [--repeat N]
[--engine rtl|program]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.arch.dma import DramTiming
from hwcnn.compiler.backend import compile_network
from hwcnn.compiler.lowering import lower
from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.machine.program_exec import run_program
from hwcnn.numerics.golden import quantize_input
from hwcnn.numerics.quantize import calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights
from hwcnn.report import perf

TIMING = DramTiming.from_board(1.33, 100, latency=16)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--models", default="tiny_cnn,lenet5")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", choices=("rtl", "program"), default="rtl")
    return ap.parse_args()


def _timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    args = _args()
    rows = []
    for name in args.models.split(","):
        g = build_graph(load_spec(str(ROOT / "models" / f"{name}.yaml")))
        shape = g.nodes["input"]["out_shape"]
        q = quantize_network(g, init_weights(g, 0), calibration_inputs(shape, 2, 0))
        x = quantize_input(q, calibration_inputs(shape, 1, 1)[0])
        for df in (Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY):
            hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=df),
                                memory=MemoryConfig(act_kib=1, weight_kib=1, out_kib=1))
            prog = lower(g, hw)
            comp = compile_network(prog, q, x=x)
            size = comp.regions[-1].offset + comp.regions[-1].size
            est_s, _ = _timed(partial(perf.estimate, g, hw), args.repeat)
            prog_s, _ = _timed(partial(run_program, comp.insns, comp.target, comp.image, size),
                               args.repeat)
            rtl = _rtl(comp, prog, hw, args.repeat) if args.engine == "rtl" else None
            rows.append((name, df.value, len(comp.insns), est_s, prog_s, rtl))
    print(f"\n{'network':<10}{'df':<4}{'insns':>6}{'RTL cycles':>12}{'RTL cyc/s':>11}"
          f"{'launch s':>10}{'estimate ms':>13}{'program ms':>12}{'rtl/est':>9}{'rtl/prog':>10}")
    for name, df, n, est_s, prog_s, rtl in rows:
        if rtl is None:
            mid = f"{'-':>12}{'-':>11}{'-':>10}"
            tail = f"{'-':>9}{'-':>10}"
        else:
            cycles, sim, launch = rtl
            mid = f"{cycles:>12,}{cycles / sim:>11,.0f}{launch:>10.2f}"
            tail = f"{sim / est_s:>9.1f}{sim / prog_s:>10.1f}"
        print(f"{name:<10}{df:<4}{n:>6}{mid}{est_s * 1e3:13.1f}{prog_s * 1e3:12.1f}{tail}")
    print(f"medians of {args.repeat}; RTL cyc/s = start-to-done cycles / simulation seconds "
          "(reset to end, in the simulator); launch = the whole run_job (simulator start, DRAM "
          "in/out); ratios = RTL simulation seconds / the reference's seconds")


def _rtl(comp, prog, hw, repeat: int) -> tuple[int, float, float]:  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.harness import harness_verilog
    from hwcnn.rtlsim.session import build_model, make_job, run_job

    params = SocParams(config=hw, depths=BufferDepths.for_config(hw))
    t = time.perf_counter()
    built = build_model(harness_verilog(params, TIMING))
    gen_build = time.perf_counter() - t
    print(f"{comp.name} {hw.array.dataflow.value}: generate + build {gen_build:.1f} s"
          + (" (cached)" if built.seconds == 0 else f" (Verilator {built.seconds:.1f} s)"))
    job, owner = make_job(comp, prog, bus_bytes=params.bus_bytes, dram_timing=TIMING)
    sims, launches, cycles = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            run = run_job(built, job, comp.image, owner, run_dir=Path(tmp) / str(i))
            if run.outcome.state != "done":
                raise SystemExit(f"bench: the machine stopped: {run.outcome}")
            cycles = run.outcome.cycles
            sims.append(run.outcome.wall_seconds)
            launches.append(run.run_seconds)
    return cycles, statistics.median(sims), statistics.median(launches)


if __name__ == "__main__":
    main()
