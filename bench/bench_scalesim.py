"""Benchmark (optional): hwcnn's SCALE-Sim timing next to SCALE-Sim itself, on the same inputs.

Writes SCALE-Sim's AlexNet topology (the five conv rows of its ``topologies/conv_nets/
alexnet.csv``) and one CALC-mode configuration per dataflow, runs SCALE-Sim 3.0 on them
(``python -m scalesim.scale``, timed), reads its COMPUTE_REPORT.csv and checks that every
layer's "Total Cycles" equals ``hwcnn sweep --timing scalesim``; then times hwcnn on the same
topology, and the native estimate of ``models/alexnet227.yaml`` for scale.

SCALE-Sim is not a dependency: give the Python that has it (``--scalesim-python``, e.g. a
separate venv with ``pip install scalesim==3.0.0 'numpy<2'``); without it the bench says so and
exits 0.

Run: ``.venv/bin/python bench/bench_scalesim.py --scalesim-python /path/to/venv/bin/python``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.explore import engine
from hwcnn.explore.evaluate import evaluate, load_model
from hwcnn.explore.space import Axes, expand

TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1,224,224,11,11,3,96,4,
Conv2,27,27,5,5,96,256,1,
Conv3,13,13,3,3,256,384,1,
Conv4,13,13,3,3,384,384,1,
Conv5,13,13,3,3,384,256,1,
"""
CONFIG = """[general]
run_name = hwcnn_bench_{df}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 256
FilterSramSzkB: 256
OfmapSramSzkB: 128
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
#: SCALE-Sim's CLI insists on a layout file even when custom layouts are off.
LAYOUT = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, Filter Height "
          "Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, Num Filter "
          "Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, Channel "
          "Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, Channel "
          "Interline Order, Num Filter Intraline Order, Channel Intraline Order, Filter Height "
          "Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, Channel "
          "Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n"
          "Conv1, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3,\n")


def has_scalesim(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import scalesim.scale"], check=False,
                           capture_output=True)
    return probe.returncode == 0


def scalesim_cycles(python: str, work: Path, df: str, rows: int, cols: int
                    ) -> tuple[list[int], float]:
    cfg = work / f"{df}.cfg"
    cfg.write_text(CONFIG.format(df=df, rows=rows, cols=cols), encoding="utf-8")
    out = work / f"out_{df}"
    t0 = time.perf_counter()
    subprocess.run([python, "-m", "scalesim.scale", "-c", str(cfg), "-t",
                    str(work / "alexnet.csv"), "-l", str(work / "layout.csv"), "-p", str(out)],
                   check=True, capture_output=True, cwd=work)
    seconds = time.perf_counter() - t0
    (report,) = out.rglob("COMPUTE_REPORT.csv")
    with open(report, encoding="utf-8") as fh:
        rows_ = [[c.strip() for c in r] for r in csv.reader(fh)][1:]
    return [int(r[2]) for r in rows_ if r and r[0]], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalesim-python", default=sys.executable)
    ap.add_argument("--array", type=int, default=32)
    ap.add_argument("--dataflows", default="os,ws,is")
    args = ap.parse_args()
    if not has_scalesim(args.scalesim_python):
        print(f"SCALE-Sim is not importable by {args.scalesim_python}; skipped "
              "(see the module docstring)")
        return
    work = Path(tempfile.mkdtemp(prefix="hwcnn-scalesim-"))
    try:
        (work / "alexnet.csv").write_text(TOPOLOGY, encoding="utf-8")
        (work / "layout.csv").write_text(LAYOUT, encoding="utf-8")
        src = load_model(str(work / "alexnet.csv"))
        for df in args.dataflows.split(","):
            theirs, t_theirs = scalesim_cycles(args.scalesim_python, work, df, args.array,
                                               args.array)
            axes = Axes(models=(src.label,), arrays=((args.array, args.array),),
                        dataflows=(df,), timing="scalesim")
            (point,) = expand(axes)
            t0 = time.perf_counter()
            _, layers = evaluate(src, point, layers=True)
            t_ours = time.perf_counter() - t0
            ours = [r["scalesim_cycles"] for r in layers]
            verdict = "identical" if ours == theirs else f"DIFFER: hwcnn {ours}"
            print(f"AlexNet conv {args.array}x{args.array} {df.upper()}: SCALE-Sim {t_theirs:6.1f} s,"
                  f" hwcnn --timing scalesim {1e3 * t_ours:.2f} ms; per-layer cycles {theirs}: "
                  f"{verdict}")
        yaml_src = load_model(str(ROOT / "models" / "alexnet227.yaml"))
        pts = expand(Axes(models=(yaml_src.label,), arrays=((args.array, args.array),),
                          dataflows=("ws", "os")))
        t0 = time.perf_counter()
        engine.run({yaml_src.label: yaml_src}, pts, engine="inprocess")
        print(f"hwcnn native estimate of models/alexnet227.yaml (whole network, DRAM model), "
              f"2 dataflows: {(time.perf_counter() - t0) / len(pts) * 1e3:.1f} ms each")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
