"""Benchmark: array utilization of VGG16 and ResNet-50, per layer, and where the cycles go.

For each network on the board defaults (ultra96-v2 16x16, kv260 32x32) and on 16x16 / 32x32
without a board (the ``MemoryConfig`` defaults), both dataflows, it prints per GEMM layer

* ``util``: ideal MAC cycles (``MACs / (R*C)``) over the layer's cycles with DRAM stalls;
* ``bound``: the mapping bound, the share of PE slots that ragged edges leave usable:
  OS ``M*N / (ceil(M/R)*R * ceil(N/C)*C)``, WS ``K*N / (ceil(K/R)*R * ceil(N/C)*C)``;
* ``of bound``: util / bound (the issue's target: >= 95 % for every VGG16 conv layer);
* the chosen tiling (the lowering's note);

then the totals (conv layers alone and the whole network) and the split of the lost cycles:
mapping of ragged edges (``ideal / bound - ideal``), fill/drain and per-tile overhead (compute
cycles beyond the mapped slots), DRAM stalls, and the pool/vector unit's cycles (pool, add and
stand-alone activation layers, which do no MACs). A second line counts the two units apart:
the GEMM side (ideal MAC cycles over the array layers' cycles with their stalls) and the
vector unit's cycles against its bound ``output elements x taps / C`` (taps = window size, or
the number of add inputs; the issue's target is 1.1x), and what the whole network would reach
if the vector unit ran at that bound (a projection, labelled as such).

Per vector-unit layer (max/avg pool, add, stand-alone ReLU) it prints ``x ideal``: the layer's
compute cycles over ``output elements x taps / C`` (taps = window size, the number of add
inputs, 1 for a ReLU; the issue's target is <= 1.1), and the same with DRAM stalls; the
totals line gives the worst max-pool, add and other (average pool, ReLU) layer.

With ``--machine``, the board configurations also run on the whole machine (the compiled
program on ``hwcnn report``'s machine model: the stepped model proven equal to the RTL, or the
instruction-level estimate, labelled): per layer ``machine %`` = ideal MAC cycles over the
layer's machine cycles (from the previous stored layer's last DRAM write to its own), and the
whole network's. These are the machine's figures, not the tile engine's above: memsim plans
with the AXI port (128 bits on the Zynq UltraScale+ boards) and the load unit's gather floor,
but not with fetch, the DMA set-up per instruction or the per-pixel store rows.

With ``--drain-rows 2``, the output-stationary configurations also run with two drain rows
per cycle (``ArrayConfig.drain_rows``; the board's default memories for that array, not
fit-checked: the line says whether the board holds the design, and if not, why).

Run: ``.venv/bin python bench/bench_utilization.py [--network vgg16] [--quiet] [--machine]
[--drain-rows 2]`` (``--quiet`` prints only the totals).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.arch.config import Dataflow, HardwareConfig
from hwcnn.cli.options import hardware_from_options
from hwcnn.compiler.plan import Unit
from hwcnn.errors import ConfigError
from hwcnn.frontend import layers as L
from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.report import perf

NETWORKS = ("vgg16", "resnet50")
#: (label, board, array): board defaults and the same arrays without a board
CONFIGS = (("ultra96-v2", "ultra96-v2", None), ("kv260", "kv260", None),
           ("16x16", None, "16x16"), ("32x32", None, "32x32"))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def mapping_bound(df: Dataflow, m: int, n: int, k: int, r: int, c: int) -> float:
    """The share of PE slots a GEMM can use at best (ragged edges of the array)."""
    if df is Dataflow.OUTPUT_STATIONARY:
        return m * n / (_cdiv(m, r) * r * _cdiv(n, c) * c)
    return k * n / (_cdiv(k, r) * r * _cdiv(n, c) * c)


def vector_taps(node) -> int:  # type: ignore[no-untyped-def]
    """Taps per output element on the vector unit (window size, add inputs, 1 for a ReLU)."""
    layer = node["layer"]
    match layer:
        case L.Add():
            return len(layer.inputs)
        case L.GlobalAvgPool():
            return math.prod(node["in_shapes"][0].spatial)
        case L.Pool():
            return math.prod(node["window"].kernel)
    return 1


def machine(g, hw: HardwareConfig, board: str):  # type: ignore[no-untyped-def]
    """``hwcnn report``'s machine figures of ``g`` on ``board`` (float32 seeded weights, one
    calibration input: the timing does not depend on the values)."""
    from hwcnn.boards.profiles import get_board
    from hwcnn.compiler.backend import compile_network
    from hwcnn.compiler.lowering import lower
    from hwcnn.report.machine import MAX_ACTIVE, layer_shares, machine_figures, timing_qnet

    q = timing_qnet(g)
    fig = machine_figures(compile_network(lower(g, hw), q), hw, get_board(board),
                          estimate=True, max_cycles=1 << 62, max_active=MAX_ACTIVE)
    return fig, {n: c for n, (c, _) in layer_shares(fig.layer_cycles).items()}


def run(g, hw: HardwareConfig, label: str, name: str, quiet: bool,  # type: ignore[no-untyped-def]
        board: str | None = None) -> None:
    fig, shares = machine(g, hw, board) if board else (None, {})
    rows = perf.estimate(g, hw)
    tot = perf.totals(rows, hw)
    arr = hw.array
    pes = arr.pes
    df = arr.dataflow
    if not quiet:
        print(f"\n== {name} on {label}: {arr.rows}x{arr.cols} {df.value}, buffers "
              f"{hw.memory.act_kib}/{hw.memory.weight_kib}/{hw.memory.out_kib} KiB, "
              f"{hw.memory.acc_words} acc words, {hw.memory.bytes_per_cycle:.1f} B/cycle"
              + (f" (the {8 * int(hw.memory.port_bytes_per_cycle)}-bit AXI port; DRAM "
                 f"{hw.memory.dram_bytes_per_cycle:.1f})"
                 if hw.memory.bytes_per_cycle < hw.memory.dram_bytes_per_cycle else ""))
        print(f"{'layer':22s} {'M':>6s} {'N':>5s} {'K':>6s} {'util %':>7s} {'bound %':>7s} "
              f"{'of bound':>8s}" + (f" {'machine %':>9s}" if fig else "") + "  tiling")
    conv_ideal = conv_total = 0.0
    mapping = filldrain = stall = vector = vector_bound = gemm_total = 0.0
    worst = (2.0, "")
    vec_worst = {"max-pool": (0.0, ""), "add": (0.0, ""), "other": (0.0, "")}
    vec_lines = []
    for r in rows:
        node = g.nodes[r.name]
        gd = node.get("gemm")
        if r.unit == Unit.POOL:
            vector += r.total_cycles
            taps = vector_taps(node)
            ideal_v = node["out_shape"].size * taps / arr.cols
            ratio = r.compute_cycles / ideal_v
            lay = node["layer"]
            kind = "add" if isinstance(lay, L.Add) else (
                "max-pool" if isinstance(lay, L.Pool) and lay.op is L.PoolOp.MAX else "other")
            vec_worst[kind] = max(vec_worst[kind], (ratio, r.name))
            vec_lines.append(f"{r.name[:22]:22s} {L.kind_name(node['layer']):>14s} taps {taps:4d}"
                             f"  ideal {ideal_v:12,.0f}  x ideal {ratio:6.3f}"
                             f"  with stalls {r.total_cycles / ideal_v:6.3f}")
            vector_bound += ideal_v
            continue
        if r.unit != Unit.ARRAY or not r.macs:
            continue
        if gd is None:   # a stand-alone batchnorm as a depthwise GEMM
            m, n, k = r.macs, 1, 1
        else:
            m, n, k = gd.m, gd.n, gd.k
        ideal = r.macs / pes
        bound = mapping_bound(df, m, n, k, arr.rows, arr.cols)
        util = ideal / r.total_cycles
        mapped = ideal / bound
        mapping += mapped - ideal
        filldrain += r.compute_cycles - mapped
        stall += r.stall_cycles
        gemm_total += r.total_cycles
        if isinstance(node["layer"], L.Conv):
            conv_ideal += ideal
            conv_total += r.total_cycles
            worst = min(worst, (util / bound, r.name))
        if not quiet:
            tiling = r.note.split("GEMM ", 1)[-1]
            mach = ""
            if fig:
                share = shares.get(r.name)
                mach = f" {100 * ideal / share:9.1f}" if share else f" {'-':>9s}"
            print(f"{r.name[:22]:22s} {m:6d} {n:5d} {k:6d} {100 * util:7.1f} {100 * bound:7.1f} "
                  f"{100 * util / bound:7.1f}%{mach}  {tiling}")
    if not quiet and vec_lines:
        print("vector unit (compute cycles / (output elements x taps / C)):")
        print("\n".join(vec_lines))
    total = tot.total_cycles
    ideal_all = tot.macs / pes
    lost = total - ideal_all
    print(f"{name:9s} {label:11s} {df.value}: total util {100 * tot.utilization:5.1f} %, conv "
          f"layers {100 * conv_ideal / conv_total:5.1f} %, worst conv of bound "
          f"{100 * worst[0]:5.1f} % ({worst[1]}); {tot.tiles} tiles, {total:,} cycles")
    if lost > 0:
        print(f"{'':9s} lost {lost:,.0f} cycles: mapping {100 * mapping / lost:4.1f} %, "
              f"fill/drain+tile overhead {100 * filldrain / lost:4.1f} %, DRAM stall "
              f"{100 * stall / lost:4.1f} %, pool/vector unit {100 * vector / lost:4.1f} %")
    if vector:
        proj = ideal_all / (total - vector + vector_bound)
        print(f"{'':9s} GEMM side {100 * ideal_all / gemm_total:5.1f} %; vector unit "
              f"{vector:,.0f} cycles = {vector / vector_bound:.1f}x its bound {vector_bound:,.0f}; "
              f"at that bound the network would reach {100 * proj:5.1f} % (projection)")
    worst_v = ", ".join(f"{k} {v[0]:.3f}x ideal ({v[1]})" for k, v in vec_worst.items() if v[1])
    if worst_v:
        print(f"{'':9s} vector unit worst: {worst_v}")
    if fig:
        print(f"{'':9s} machine ({fig.bus_bits}-bit AXI): total util "
              f"{100 * ideal_all / fig.cycles:5.1f} %, {fig.cycles:,} cycles ({fig.label})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", choices=NETWORKS, action="append")
    ap.add_argument("--quiet", action="store_true", help="totals only")
    ap.add_argument("--machine", action="store_true",
                    help="also the whole machine's figures on the board configurations")
    ap.add_argument("--drain-rows", type=int, choices=(1, 2), default=1,
                    help="2: also the output-stationary configurations with two drain rows")
    args = ap.parse_args()
    for name in args.network or NETWORKS:
        g = build_graph(load_spec(ROOT / "models" / f"{name}.yaml"))
        for label, board, array in CONFIGS:
            for df in ("ws", "os"):
                hw, brd = hardware_from_options(board=board, array=array, dataflow=df)
                run(g, hw, label, name, args.quiet, board if args.machine else None)
                if df == "os" and args.drain_rows == 2:
                    two = replace(hw, array=replace(hw.array, drain_rows=2))
                    fit = "no board"
                    if brd is not None:   # the board's memories for this array (banked)
                        two = replace(two, memory=brd.default_memory(
                            two.array, hw.memory.dram_bytes_per_cycle))
                        try:
                            brd.check_fit(two)
                            fit = f"fits {brd.id}"
                        except ConfigError as exc:
                            fit = f"does NOT fit {brd.id}: {exc}"
                    print(f"-- two drain rows ({fit})")
                    run(g, two, label + " d2", name, args.quiet)


if __name__ == "__main__":
    main()
