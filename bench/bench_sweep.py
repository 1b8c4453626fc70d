"""Benchmark: configurations per second of ``hwcnn sweep`` on ResNet-50.

1,000 configurations (arrays 4..128, both dataflows, buffers 32..1024 KiB, 14 bandwidths; no
board, so every point is evaluated) run in process and on a local Dask cluster of 2 worker
processes; it prints the rate of each, with and without the cluster's start-up, checks that both
engines give identical rows, and compares with the issue's target (>= 50 configurations/s on
2 cores).

Run: ``.venv/bin/python bench/bench_sweep.py [--points N] [--workers W]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.explore import engine
from hwcnn.explore.evaluate import load_model
from hwcnn.explore.space import Axes, expand, parse_arrays, parse_buffers

TARGET = 50.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    src = load_model(str(ROOT / "models" / "resnet50.yaml"))
    models = {src.label: src}
    axes = Axes(models=(src.label,), arrays=tuple(parse_arrays(["4..128"])),
                dataflows=("ws", "os"), buffers=tuple(parse_buffers(["32..1024"])),
                bandwidths=tuple(0.8 * i for i in range(1, 15)))
    points = expand(axes)[:args.points]
    print(f"ResNet-50, {len(points)} configurations (model loaded in "
          f"{time.perf_counter() - t0:.2f} s)")

    t0, c0 = time.perf_counter(), time.process_time()
    local = engine.run(models, points, engine="inprocess")
    t_local, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"in process:          {len(points) / t_local:7.1f} configurations/s "
          f"({1000 * t_local / len(points):.1f} ms each, {1000 * cpu / len(points):.1f} ms of CPU "
          f"each: {args.workers} free cores would give {args.workers * len(points) / cpu:.0f}/s)")
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    t_start = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        dask = engine.run(models, points, engine="dask", scheduler=cluster.scheduler_address)
        t_dask = time.perf_counter() - t1
    finally:
        client.close()
        cluster.close()
    assert dask == local, "the Dask rows differ from the in-process rows"
    rate = len(points) / t_dask
    print(f"Dask, {args.workers} workers:     {rate:7.1f} configurations/s "
          f"(cluster start-up {t_start:.1f} s not included; "
          f"{len(points) / (t_dask + t_start):.1f}/s with it); rows identical")
    print(f"target >= {TARGET:g}/s on 2 cores: {'met' if rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
