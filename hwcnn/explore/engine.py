"""Execute a sweep: in process, or on Dask (a local cluster, or an existing scheduler).

Points are cut into batches (one task each, so the scheduler's per-task overhead of about a
millisecond is paid per batch, not per point), the models are sent to every worker once
(``scatter(broadcast=True)``), and results come back in any order but are returned in point
order, so the outcome does not depend on the engine: :func:`hwcnn.explore.evaluate.evaluate`
is deterministic and every engine calls it on the same values.

``on_batch(results)`` is called as batches complete (for checkpoints and the progress bar).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from .evaluate import ModelSource, evaluate_batch
from .space import Point

Result = tuple[dict[str, Any], list[dict[str, Any]]]
ENGINES = ("auto", "inprocess", "dask")
#: seconds to wait for an existing scheduler before giving up
CONNECT_TIMEOUT_S = 3.0


def cores() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def batches(points: Sequence[Point], workers: int, batch_size: int | None) -> list[list[Point]]:
    """Consecutive batches: ``batch_size`` points, or about 4 batches per worker (at most 64
    points each) so that slow batches even out."""
    if batch_size is None:
        batch_size = max(1, min(64, math.ceil(len(points) / (4 * max(workers, 1)))))
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {batch_size}")
    return [list(points[i:i + batch_size]) for i in range(0, len(points), batch_size)]


def dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def run(models: Mapping[str, ModelSource], points: Sequence[Point], *, engine: str = "auto",
        scheduler: str | None = None, workers: int | None = None, processes: bool = True,
        batch_size: int | None = None, layers: bool = False, energy_node: str = "45nm",
        on_batch: Callable[[list[tuple[Point, Result]]], None] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S) -> list[Result]:
    """Evaluate ``points``; returns one result per point, in point order."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be auto, inprocess or dask, not {engine!r}")
    if scheduler and engine == "inprocess":
        raise ConfigError("--scheduler needs the dask engine, not --engine inprocess")
    if engine == "auto":
        engine = "dask" if scheduler or (dask_available() and cores() > 1) else "inprocess"
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    if engine == "inprocess":
        out: list[Result] = []
        for batch in batches(points, 1, batch_size):
            res = evaluate_batch(models, batch, layers, energy_node)
            out += res
            if on_batch is not None:
                on_batch(list(zip(batch, res)))
        return out
    return _run_dask(models, points, scheduler=scheduler, workers=workers or cores(),
                     processes=processes, batch_size=batch_size, layers=layers,
                     energy_node=energy_node, on_batch=on_batch, connect_timeout=connect_timeout)


def _connect(scheduler: str | None, workers: int, processes: bool,
             connect_timeout: float) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("the dask engine needs the 'distributed' package: pip install "
                          "'dask[distributed]' (or use --engine inprocess)") from None
    for name in ("distributed", "distributed.scheduler", "distributed.worker",
                 "distributed.nanny", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if scheduler:
        try:
            return Client(scheduler, timeout=connect_timeout, set_as_default=False), None
        except (OSError, TimeoutError, ValueError):
            raise ConfigError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                              f"{connect_timeout:g} s") from None
    # loopback only: a local cluster is not reachable from the network (in-thread workers
    # talk over Dask's in-process transport)
    where = {"host": "127.0.0.1"} if processes else {}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                           dashboard_address=None, silence_logs=logging.CRITICAL, **where)
    return Client(cluster, set_as_default=False), cluster


def _run_dask(models: Mapping[str, ModelSource], points: Sequence[Point], *,
              scheduler: str | None, workers: int, processes: bool, batch_size: int | None,
              layers: bool, energy_node: str,
              on_batch: Callable[[list[tuple[Point, Result]]], None] | None,
              connect_timeout: float) -> list[Result]:
    client, cluster = _connect(scheduler, workers, processes, connect_timeout)
    try:
        from distributed import as_completed

        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        chunks = batches(points, n_workers, batch_size)
        shared = client.scatter(dict(models), broadcast=True)
        futures = {client.submit(evaluate_batch, shared, chunk, layers, energy_node,
                                 pure=False): i for i, chunk in enumerate(chunks)}
        done: dict[int, list[Result]] = {}
        for fut, res in as_completed(futures, loop=client.loop, with_results=True):
            i = futures[fut]
            done[i] = res
            if on_batch is not None:
                on_batch(list(zip(chunks[i], res)))
        return [r for i in range(len(chunks)) for r in done[i]]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
