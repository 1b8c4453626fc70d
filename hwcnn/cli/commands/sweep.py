"""``hwcnn sweep``: design-space sweeps over models, boards, arrays, dataflows, buffers and
bandwidths, in process or on Dask, resumable, with Pareto fronts and charts.

Examples::

    hwcnn sweep models/resnet50.yaml --array 8..64 --dataflow ws,os --buffers 64,128 \\
        --boards zcu104,kv260 -o results.csv --pareto latency,dsp --plot front.png
    hwcnn sweep alexnet.csv --scalesim-config scale.cfg --timing scalesim --per-layer layers.csv
    hwcnn sweep --sweep-file sweep.yaml --scheduler tcp://10.0.0.5:8786 -o results.parquet
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import click

from ...errors import ConfigError
from ..options import progress_bar
from .common import emit

TABLE = ("model", "board", "rows", "cols", "dataflow", "act_kib", "weight_kib", "out_kib",
         "bandwidth_gbps", "latency_ms", "utilization_pct", "dram_bytes", "dsp", "bram_kib",
         "energy_uj")


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:,.3f}".rstrip("0").rstrip(".") if v != int(v) or v < 1e6 else f"{v:,.0f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    cells = [[cell(r.get(c)) for c in TABLE] for r in rows]
    widths = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(TABLE)]
    line = ["  ".join(c.ljust(w) for c, w in zip(TABLE, widths)).rstrip(),
            "  ".join("-" * w for w in widths)]
    text = {"model", "board", "dataflow"}
    line += ["  ".join(c.ljust(w) if name in text else c.rjust(w)
                       for c, w, name in zip(x, widths, TABLE)).rstrip() for x in cells]
    return "\n".join(line) + "\n"


def _axes(models: tuple[str, ...], opts: Mapping[str, Any]) -> tuple[list[str], Any]:
    from ...explore import space
    from ...explore.sweep import read_sweep_file
    from ...frontend.scalesim import read_config

    f = read_sweep_file(opts["sweep_file"]) if opts["sweep_file"] else {}

    def axis(name: str, key: str) -> list[str]:
        cli = list(opts[name])
        return cli if cli else list(f.get(key, []))

    paths = list(models) or list(f.get("models", []))
    configs = []
    for path in opts["scalesim_config"]:
        cfg = read_config(path)
        configs.append(((cfg.rows, cfg.cols), cfg.dataflow,
                        (cfg.ifmap_kib, cfg.filter_kib, cfg.ofmap_kib),
                        None if cfg.bandwidth is None else float(cfg.bandwidth)))
    for name, key in (("array", "array"), ("dataflow", "dataflow"), ("buffers", "buffers"),
                      ("bandwidth", "bandwidth"), ("boards", "boards")):
        given = opts[name] or ([f[key]] if key in f else [])
        if given and not space.split_items(axis(name, key)):
            raise ConfigError(f"--{name}: the sweep axis has no values")
    timing = opts["timing"] or str(f.get("timing", "native"))
    clock = opts["clock_mhz"] if opts["clock_mhz"] is not None else f.get("clock_mhz")
    if clock is not None:
        clock = space.parse_floats([clock], "--clock-mhz")[0]
    axes = space.Axes(
        models=(), boards=tuple(space.split_items(axis("boards", "boards"))),
        arrays=tuple(space.parse_arrays(axis("array", "array"))),
        dataflows=tuple(space.parse_dataflows(axis("dataflow", "dataflow"))),
        buffers=tuple(space.parse_buffers(axis("buffers", "buffers"))),
        bandwidths=tuple(space.parse_floats(axis("bandwidth", "bandwidth"), "--bandwidth")),
        configs=tuple(configs), clock_mhz=clock, timing=timing)
    return paths, axes


@click.command()
@click.argument("models", nargs=-1, metavar="MODEL...")
@click.option("--sweep-file", type=click.Path(dir_okay=False), metavar="FILE.yaml",
              help="Axes from a YAML file (models, boards, array, dataflow, buffers, bandwidth, "
                   "timing, clock_mhz); command-line axes override it.")
@click.option("--array", multiple=True, metavar="LIST",
              help="Arrays: N (NxN), RxC, or A..B (every doubling), comma-separated "
                   "(default: each board's largest square, or 16x16).")
@click.option("--dataflow", multiple=True, metavar="LIST",
              help="Dataflows ws, os, os2 (output stationary with two drain rows, "
                   "--drain-rows 2) and is (with --timing scalesim), comma-separated "
                   "(default ws).")
@click.option("--buffers", multiple=True, metavar="LIST",
              help="Buffers in KiB: N (all three), ACT:WEIGHT:OUT, or A..B, comma-separated "
                   "(default: each board's split, or 64).")
@click.option("--bandwidth", multiple=True, metavar="LIST",
              help="Off-chip bandwidths in GB/s, comma-separated (default: the board's peak, "
                   "or 1.6).")
@click.option("--boards", multiple=True, metavar="LIST",
              help="Board ids, comma-separated (default: no board, 100 MHz).")
@click.option("--clock-mhz", metavar="MHZ", help="Clock for every point (default: the board's).")
@click.option("--timing", type=click.Choice(["native", "scalesim", "machine"]), default=None,
              help="native: hwcnn's estimate of its RTL (default); scalesim: SCALE-Sim 3.0's "
                   "CALC-mode compute cycles; machine: every point's compiled program on the "
                   "whole accelerator's cycle model, as hwcnn report --board gives it (the model "
                   "proven equal to the RTL, or the instruction-level estimate: the 'figure' "
                   "column; seconds per point; no DRAM bytes or energy).")
@click.option("--scalesim-config", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.cfg", help="Take array, dataflow, buffers (and a USER bandwidth) "
                                       "from SCALE-Sim configuration files.")
@click.option("--topology-form", type=click.Choice(["conv", "gemm"]), default=None,
              help="Form of SCALE-Sim topology CSVs (SCALE-Sim's -i; default: from the header).")
@click.option("--engine", type=click.Choice(["auto", "inprocess", "dask"]), default="auto",
              show_default=True,
              help="auto: a local Dask cluster when distributed is installed and there are "
                   "several cores, else in process.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster (e.g. tcp://10.0.0.5:8786).")
@click.option("--workers", type=int, help="Local cluster workers (default: all cores).")
@click.option("--batch-size", type=int, help="Points per task (default: ~4 tasks per worker).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Results .csv or .parquet; points already in it are not recomputed.")
@click.option("--per-layer", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write one row per layer and point (cycles, SCALE-Sim cycles and why "
                   "they differ, energy) as .csv or .parquet.")
@click.option("--pareto", metavar="OBJ,OBJ", help="Print the Pareto front over these objectives "
              "(latency, cycles, dsp, bram, energy, dram, utilization, fps).")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.png|svg",
              help="Scatter of the first two Pareto objectives (default latency,dsp) with the "
                   "front labelled, and a utilization heat map.")
@click.option("--energy-node", default="45nm", show_default=True,
              help="Technology node of the energy table (an estimate).")
@click.option("--strict/--no-strict", default=None,
              help="Reject windows that do not fit their input exactly.")
def sweep(models: tuple[str, ...], **opts: Any) -> None:
    """Sweep the cross product of the given axes and write one results row per point."""
    from ...explore import engine as eng
    from ...explore.evaluate import load_model
    from ...explore.pareto import parse_objectives
    from ...explore.sweep import run_sweep
    from ...report.energy import get_table
    from ...report.plot import check_path

    paths, axes = _axes(models, opts)
    objectives = parse_objectives(opts["pareto"]) if opts["pareto"] else None
    if opts["plot"]:
        check_path(opts["plot"])
    get_table(opts["energy_node"])
    if opts["engine"] not in eng.ENGINES:  # pragma: no cover - click checks the choice
        raise ConfigError(f"--engine {opts['engine']!r}")
    sources = {}
    for path in paths:
        src = load_model(path, form=opts["topology_form"], strict=opts["strict"])
        if src.label in sources:
            raise ConfigError(f"{path}: two models are called {src.label!r} (file stems must "
                              "differ)")
        sources[src.label] = src
    axes = replace(axes, models=tuple(sources))
    with progress_bar("sweeping") as progress:
        out = run_sweep(sources, axes, output=opts["output"], layers_output=opts["per_layer"],
                        engine=opts["engine"], scheduler=opts["scheduler"],
                        workers=opts["workers"], batch_size=opts["batch_size"],
                        energy_node=opts["energy_node"], progress=progress)
    where = f"wrote {opts['output']}: " if opts["output"] else ""
    note = f", {len(out.skipped)} skipped (do not fit their board)" if out.skipped else ""
    failed = sum(1 for r in out.rows if r.get("note"))
    note += f", {failed} cannot run the model (see the note column)" if failed else ""
    click.echo(f"{where}{len(out.rows)} points ({out.computed} computed, {out.reused} reused"
               f"{note})", err=True)
    if opts["per_layer"]:
        click.echo(f"wrote {opts['per_layer']}", err=True)
    rows = list(out.rows)
    if objectives:
        from ...explore.pareto import fronts_by_model

        emit(_table([rows[i] for i in fronts_by_model(rows, objectives)]), None)
    elif not opts["output"]:
        emit(_table(rows), None)
    if opts["plot"]:
        from ...explore.plot import write_plot

        write_plot(opts["plot"], rows, objectives or ("latency", "dsp"))
        click.echo(f"wrote {opts['plot']}", err=True)


__all__ = ["sweep"]
