"""Benchmark: int8 golden forward pass of AlexNet-227 vs float32 NumPy GEMMs of the same shapes.

Both are measured in the same run on the same machine. The reference does, for every conv and
dense layer, ``groups`` float32 matmuls of exactly the layer's im2col GEMM shapes
(``M x K @ K x N`` from :func:`hwcnn.graph.shapes.gemm_dims`) on operands prepared beforehand; the
golden pass does everything (im2col, exact chunked GEMMs, bias, requantization, pooling) from
the integer input image to the integer logits. Prints the ratio golden / float32 (target <= 3).

Usage: ``python bench/bench_golden.py [MODEL.yaml] [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph, ordered_nodes
from hwcnn.numerics.golden import quantize_input, run_network
from hwcnn.numerics.quantize import QuantPolicy, calibration_inputs, quantize_network
from hwcnn.numerics.weights import init_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "alexnet227.yaml"))
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    g = build_graph(load_spec(args.model))
    params = init_weights(g, seed=0)
    in_name = next(n for n in g if g.in_degree(n) == 0)
    calib = calibration_inputs(g.nodes[in_name]["out_shape"], 1, seed=0)
    qnet = quantize_network(g, params, calib, QuantPolicy())
    x = quantize_input(qnet, calib[0])
    setup = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    shapes = [node["gemm"] for _, node in ordered_nodes(g) if node["gemm"] is not None]
    ops = [(rng.standard_normal((d.m, d.k), dtype=np.float32),
            rng.standard_normal((d.k, d.n), dtype=np.float32), d.groups) for d in shapes]
    macs = sum(d.macs for d in shapes)

    def float_pass() -> None:
        for a, b, groups in ops:
            for _ in range(groups):
                np.matmul(a, b)

    run_network(qnet, x)          # warm-up (first touch of buffers)
    float_pass()
    golden_t, float_t = [], []
    for _ in range(args.repeat):  # interleaved so both see the same machine load
        t = time.perf_counter()
        run_network(qnet, x)
        golden_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        float_pass()
        float_t.append(time.perf_counter() - t)
    gm, fm = statistics.median(golden_t), statistics.median(float_t)
    print(f"model: {g.graph.get('name')}  GEMMs: {len(shapes)}  MACs: {macs / 1e6:.0f} M  "
          f"(setup {setup:.1f} s, {args.repeat} repeats, medians)")
    print(f"int8 golden forward pass : {gm * 1e3:8.1f} ms")
    print(f"float32 GEMMs, same shapes: {fm * 1e3:8.1f} ms")
    print(f"ratio golden / float32   : {gm / fm:8.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
