"""Speed and reference results of the stepped whole-machine model (hwcnn.machine.socsim).

``python bench/bench_stepped.py`` prints simulated cycles per second (CPU time, the best of
three runs) of ``run_program`` on compiled networks with board defaults (tiny_cnn and LeNet-5
on the Arty A7, LeNet-5 on the PYNQ-Z2, ResNet-18 on the KV260 up to a cycle limit).

``python bench/bench_stepped.py --record FILE`` pickles every result (``MachineRun``, or the
exception's type, message and cycle) of a set of runs: the small test networks of
tests/test_program.py (both dataflows, 1 KiB and 64 KiB buffers, 64- and 128-bit bus, a DRAM
faster than the bus (Arty A7) and one slower (ULX3S)), the instruction-level estimate
(insnsim, which reuses ``run_insns`` with timed executors) on the same programs, random
programs of tests/test_socsim.py on several DRAM timings and bus widths, LeNet-5 on its
boards, a program without END (MachineStop), a DMA window refusal and a cycle limit.
``--check FILE`` runs the same set and compares every field with the recorded one (an
optimization of the model must leave them all identical).
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from hwcnn import api
from hwcnn.arch.config import Dataflow
from hwcnn.arch.dma import DramTiming
from hwcnn.boards.profiles import dram_timing_of, get_board
from hwcnn.compiler.backend import compile_network
from hwcnn.machine.insnsim import run_program_fast
from hwcnn.machine.socsim import CycleLimit, MachineStop, SocModelError, run_insns, run_program

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY
SPEED = (("tiny_cnn", "arty-a7-35t", None), ("lenet5", "arty-a7-35t", None),
         ("lenet5", "pynq-z2", None), ("resnet18", "kv260", 1_000_000))
#: Runs per network of the speed table (its CPU seconds: the best).
REPEATS = 3
NETS = ("tiny_cnn", "lenet5", "resblock", "mbv2_block", "fire")


def _board_comp(name: str, board_id: str) -> tuple[Any, Any, DramTiming]:
    board = get_board(board_id)
    g = api.build_graph(ROOT / "models" / f"{name}.yaml")
    hw = api.hardware(board_id)
    comp = compile_network(api.lower(g, hw), api.quantize(g))
    return comp, hw, dram_timing_of(hw, board)


def speed() -> None:
    print(f"{'model':<10} {'board':<12} {'insns':>6} {'cycles':>10} {'seconds':>8} "
          f"{'cycles/s':>10}")
    for name, board_id, limit in SPEED:
        comp, hw, dram = _board_comp(name, board_id)
        dt = float("inf")
        for _ in range(REPEATS):               # the best of REPEATS (CPU time)
            t0 = time.process_time()
            try:
                cycles = run_program(comp, array=hw.array, bus_bytes=8, dram=dram,
                                     base=0x1000, limit=limit or 50_000_000).cycles
            except CycleLimit:
                cycles = limit
            dt = min(dt, time.process_time() - t0)
        print(f"{name:<10} {board_id:<12} {len(comp.insns):>6} {cycles:>10,} {dt:>8.2f} "
              f"{cycles / dt:>10,.0f}")


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except MachineStop as e:
        return ("MachineStop", int(e.code), e.cycle, str(e))
    except SocModelError as e:
        return (type(e).__name__, str(e))


def cases() -> list[tuple[str, Callable[[], Any]]]:
    from tests.socsim_rtl import timing
    from tests.test_program import _compiled
    from tests.test_socsim import _params, _rand_program

    out: list[tuple[str, Callable[[], Any]]] = []
    drams = {"arty": get_board("arty-a7-35t").dram_timing(100.0),
             "ulx3s": get_board("ulx3s-85f").dram_timing(100.0)}
    for name in NETS:
        for df in (WS, OS):
            for kib in (1, 64):
                prog, _, _, comp = _compiled(name, df, 4, 4, kib)
                arr = prog.hw.array
                for bus in (8, 16):
                    for dn, dram in drams.items():
                        key = f"{name}/{df.value}/{kib}KiB/bus{bus}/{dn}"
                        out.append((key, lambda c=comp, a=arr, b=bus, d=dram: run_program(
                            c, array=a, bus_bytes=b, dram=d, base=0x1000)))
                        if kib == 1 and bus == 8:
                            out.append(("insnsim/" + key, lambda c=comp, a=arr, b=bus, d=dram:
                                        run_program_fast(c, array=a, bus_bytes=b, dram=d,
                                                         base=0x1000)))
    for name, r, c in (("tiny_cnn", 3, 2), ("fire", 3, 2), ("resblock", 2, 3)):
        for df in (WS, OS):
            prog, _, _, comp = _compiled(name, df, r, c, 1)
            out.append((f"{name}/{df.value}/{r}x{c}/arty", lambda c=comp, a=prog.hw.array:
                        run_program(c, array=a, bus_bytes=8, dram=drams["arty"], base=0x1000)))
    for df, dw, lat, bpc, seed in ((WS, 64, 8, 8, 1), (WS, 64, 6, 8, 2), (OS, 64, 10, 3, 3),
                                   (WS, 128, 16, 16, 4), (OS, 128, 5, 7, 5),
                                   (WS, 64, 30, 2, 6), (OS, 128, 12, 32, 7),
                                   (WS, 256, 10, 24, 8), (OS, 64, 4, 1, 9),
                                   (WS, 128, 4, 100, 10)):
        p = _params(df, dw)
        prog = _rand_program(p, np.random.default_rng(seed), 12)
        out.append((f"random/{df.value}/{dw}/{lat}/{bpc}/{seed}",
                    lambda p=p, prog=prog, lat=lat, bpc=bpc: run_insns(
                        prog, target=p.target, array=p.config.array, bus_bytes=p.bus_bytes,
                        dram=timing(lat, bpc), base=0x1000, prog_base=0,
                        window=(0, 0x2000))))
    p = _params(WS)
    prog = _rand_program(p, np.random.default_rng(1), 3)
    out.append(("no-end", lambda: run_insns(prog[:-1], target=p.target, array=p.config.array,
                                            bus_bytes=8, dram=timing(8, 8), base=0x1000)))
    out.append(("window", lambda: run_insns(prog, target=p.target, array=p.config.array,
                                            bus_bytes=8, dram=timing(8, 8), base=0x1000,
                                            window=(0, 0x1100))))
    out.append(("limit", lambda: run_insns(prog, target=p.target, array=p.config.array,
                                           bus_bytes=8, dram=timing(8, 8), base=0x1000,
                                           limit=500)))
    for name, board_id in (("lenet5", "arty-a7-35t"), ("lenet5", "pynq-z2"),
                           ("tiny_cnn", "ulx3s-85f")):
        comp, hw, dram = _board_comp(name, board_id)
        out.append((f"{name}/{board_id}", lambda c=comp, hw=hw, d=dram: run_program(
            c, array=hw.array, bus_bytes=8, dram=d, base=0x1000)))
    return out


def record(path: str, check: bool) -> None:
    ref = pickle.loads(Path(path).read_bytes()) if check else {}
    got: dict[str, Any] = {}
    bad = 0
    t0 = time.perf_counter()
    for key, fn in cases():
        got[key] = res = _outcome(fn)
        if check and ref.get(key) != res:
            bad += 1
            print("DIFFERS:", key, file=sys.stderr)
    dt = time.perf_counter() - t0
    if check:
        missing = set(ref) - set(got)
        print(f"{len(got)} runs compared in {dt:.1f} s: {bad} differ, {len(missing)} missing")
        if bad or missing:
            sys.exit(1)
    else:
        Path(path).write_bytes(pickle.dumps(got))
        print(f"{len(got)} runs recorded to {path} in {dt:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--record", "--check"):
        record(sys.argv[2], sys.argv[1] == "--check")
    else:
        speed()
