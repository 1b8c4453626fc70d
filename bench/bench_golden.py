"""Benchmark: the int8 golden model of a network at scale -- peak memory, and speed against
float32 NumPy GEMMs of the same shapes.

Phase 1 (memory) does what ``hwcnn run MODEL.yaml`` does with no ``--weights``: build the graph,
seeded He-init float64 weights, ``--calib-n`` seeded calibration images, quantize, run the
golden model on one image. It prints the process's peak resident memory (``ru_maxrss``, the
whole interpreter included) and the peak of NumPy/Python allocations (``tracemalloc``), and the
float64 weights alone for scale.

Phase 2 (speed) times, interleaved in the same run, the complete golden forward pass (im2col,
exact chunked GEMMs, bias, requantization, pooling, from the integer image to the integer
logits) and, for every conv and dense layer, ``groups`` float32 ``numpy.matmul`` of exactly its
im2col GEMM shape (``M x K @ K x N`` from :func:`hwcnn.graph.shapes.gemm_dims`) on operands made
beforehand. It prints per layer and in total the golden time, the float32 time and the ratio
(layers without a GEMM -- pooling, adds -- count in the golden total only).

BLAS threads are pinned (``--threads``, default 1: the ratio of two BLAS-bound passes is then
stable on a shared machine) through the environment before NumPy is imported, and checked and
reported with threadpoolctl when it is installed (the ``test`` extra), with the kernel
(OpenBLAS core type) that runs. ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are left as they
are; to benchmark OpenBLAS's own kernel choice, unset both for this command alone:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_golden.py``.

Usage: ``python bench/bench_golden.py [MODEL.yaml] [--repeat N] [--threads T] [--calib-n N]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "vgg16.yaml"))
    ap.add_argument("--repeat", type=int, default=5, help="interleaved timing repeats (medians)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (pinned)")
    ap.add_argument("--calib-n", type=int, default=4,
                    help="calibration images (hwcnn run's default: 4)")
    return ap.parse_args()


ARGS = _args()
for _var in _THREAD_VARS:           # before NumPy loads its BLAS
    os.environ[_var] = str(ARGS.threads)

import resource
import statistics
import time
import tracemalloc

import numpy as np

sys.path.insert(0, str(ROOT))

from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.quantize import (
    QuantPolicy,
    calibration_inputs,
    quantize_network,
)
from hwcnn.numerics.weights import init_weights


def _blas_report(threads: int) -> str:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return f"BLAS threads pinned to {threads} by environment (threadpoolctl not installed)"
    threadpool_limits(threads)
    rows = []
    for p in threadpool_info():
        if p.get("user_api") != "blas":
            continue
        if p.get("num_threads") != threads:
            raise SystemExit(f"bench: {p.get('filepath')} runs {p.get('num_threads')} threads, "
                             f"not the {threads} asked for")
        rows.append(f"{p.get('internal_api')} {p.get('version')}, kernel "
                    f"{p.get('architecture', '?')}, {p.get('num_threads')} thread(s)")
    env = ", ".join(f"{v}={os.environ[v]}" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                    if v in os.environ) or "OPENBLAS_CORETYPE/L2_SIZE unset"
    return "BLAS: " + "; ".join(rows or ["none found"]) + f" ({env})"


def main() -> None:
    print(_blas_report(ARGS.threads))
    # ---- phase 1: peak memory of quantize + golden run, as `hwcnn run` does it
    tracemalloc.start()
    t0 = time.perf_counter()
    g = build_graph(load_spec(ARGS.model))
    params = init_weights(g, seed=0)
    n_params = sum(p.size for p in params.values())
    in_name = next(n for n in g if g.in_degree(n) == 0)
    shape = g.nodes[in_name]["out_shape"]
    calib = calibration_inputs(shape, ARGS.calib_n, seed=0)
    qnet = quantize_network(g, params, calib, QuantPolicy())
    t1 = time.perf_counter()
    x = quantize_input(qnet, calibration_inputs(shape, 1, seed=9)[0])
    run_network(qnet, x)
    t2 = time.perf_counter()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # Linux: KiB
    weights64 = n_params * 8
    print(f"model: {g.graph.get('name')}  parameters: {n_params / 1e6:.1f} M  "
          f"(quantize {t1 - t0:.1f} s with {ARGS.calib_n} calibration images, "
          f"golden run {t2 - t1:.1f} s, traced)")
    print(f"peak memory, quantize + golden run: {rss / 1e9:.2f} GB resident "
          f"({rss / n_params:.1f} bytes/parameter), {traced / 1e9:.2f} GB traced allocations; "
          f"the float64 weights alone are {weights64 / 1e9:.2f} GB")

    # ---- phase 2: speed, golden vs float32 GEMMs of the same shapes
    rng = np.random.default_rng(1)
    gemms = [(name, node["gemm"]) for name, node in g.nodes(data=True)
             if node.get("gemm") is not None]
    ops = {name: (rng.standard_normal((d.m, d.k), dtype=np.float32),
                  rng.standard_normal((d.k, d.n), dtype=np.float32), d.groups)
           for name, d in gemms}
    macs = sum(d.macs for _, d in gemms)

    def float_pass(times: dict[str, float]) -> None:
        for name, (a, b, groups) in ops.items():
            t = time.perf_counter()
            for _ in range(groups):
                np.matmul(a, b)
            times[name] = time.perf_counter() - t

    run_network(qnet, x)          # warm-up (first touch of buffers)
    float_pass({})
    golden_t: list[float] = []
    float_t: list[float] = []
    per_g: dict[str, list[float]] = {q.name: [] for q in qnet.layers}
    per_f: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(ARGS.repeat):  # interleaved so both see the same machine load
        lt: dict[str, float] = {}
        t = time.perf_counter()
        run_network(qnet, x, times=lt)
        golden_t.append(time.perf_counter() - t)
        ft: dict[str, float] = {}
        t = time.perf_counter()
        float_pass(ft)
        float_t.append(time.perf_counter() - t)
        for k, v in lt.items():
            per_g[k].append(v)
        for k, v in ft.items():
            per_f[k].append(v)

    print(f"\n{len(gemms)} GEMMs, {macs / 1e9:.2f} G MACs; medians of {ARGS.repeat} "
          f"interleaved repeats, {ARGS.threads} BLAS thread(s)")
    print(f"{'layer':<16}{'golden ms':>11}{'float32 ms':>12}{'ratio':>8}")
    other = 0.0
    for q in qnet.layers:
        gm = statistics.median(per_g[q.name]) if per_g[q.name] else 0.0
        if q.name in per_f:
            fm = statistics.median(per_f[q.name])
            print(f"{q.name:<16}{gm * 1e3:11.1f}{fm * 1e3:12.1f}{gm / fm:8.2f}")
        else:
            other += gm
    print(f"{'(other layers)':<16}{other * 1e3:11.1f}{'':>12}{'':>8}")
    gm, fm = statistics.median(golden_t), statistics.median(float_t)
    print(f"{'total':<16}{gm * 1e3:11.1f}{fm * 1e3:12.1f}{gm / fm:8.2f}  (target <= 2.5x)")


if __name__ == "__main__":
    main()
