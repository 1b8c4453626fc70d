"""Memory and work budget of the golden model, the quantizer and tile-by-tile verification.

Before ``hwcnn quantize`` / ``run`` / ``verify`` allocate anything, :func:`estimate` adds up
what they will hold, from the graph's shapes and budgets (``out_shape``, ``gemm``, ``window``
and ``cost`` of every node, :mod:`hwcnn.graph`), and :func:`enforce` refuses a run whose
estimate exceeds the memory limit (``--max-memory``) with one line naming the layer whose
working set dominates and the bytes. The model (8-byte float64/int64 elements throughout,
which is what NumPy computes in):

* **persistent**: the float parameters (8 B per weight/bias/BatchNorm value) plus their
  quantized copies (the int8/16 weights and the GEMM operand, up to 9 B per weight); the
  calibration inputs and every layer output of every calibration run (the quantizer keeps them
  for its statistics: ``calib_n x sum(activations) x 8``); the evaluation / run inputs; one
  float64 reference and one int64 golden pass (``2 x sum(activations) x 8``); for ``run`` the
  outputs kept for every image; for ``verify`` the executor's value and writer tensors
  (``2 x sum(activations) x 8``) and the lowering's per-tile records;
* **objects**: 4 MiB plus 16 KiB per layer of Python records (graph, quantized layers, plans);
* **transient** (the largest layer's, added once): for a conv, the padded input and the
  im2col patch matrix (``groups x M x K``; twice under ``verify``, whose executor gathers an
  int64 copy) plus six int64 temporaries of the output; for a pool, the window values and
  their masks (``3 x C x out x window``); for anything else six temporaries of the output;
  while quantizing a conv/dense, four float64 copies of its weights.

It is an upper estimate: ``tests/test_budget.py`` checks it against the peak that
``tracemalloc`` measures on real runs (never below, at most a few times above).

Work: the float and golden passes together may do at most :data:`MAX_MACS` multiply-accumulates
(the graph's MACs times the passes: calibration inputs + 2 x evaluation inputs);
``verify`` runs every tile in Python; :func:`estimate` counts them (GEMM tiles from the
lowering's own tile choice, :func:`hwcnn.compiler.packing.pack_and_tiling`; pool tiles bounded by
channel folds x output rows) and :func:`enforce` refuses more than :data:`MAX_TILES` (golden
engine, measured 60-90 us per tile) or more than :data:`MAX_STEPPED_CYCLES` stepped cycles
(cyclesim engine, which steps every cycle of every tile: measured 28-40 us per cycle; the
cycles are the lowering's closed forms for GEMMs, ops for the vector unit).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import networkx as nx

from ..arch import timing
from ..arch.config import HardwareConfig
from ..compiler.gather import gather_of
from ..compiler.packing import pack_and_tiling
from ..errors import HwcnnError
from ..frontend import layers as L
from ..graph.build import ordered_nodes

#: Bytes of one element as the golden model and the float reference hold it.
ELEM = 8
#: Interpreter, NumPy, networkx and the imported modules (measured RSS before any work).
BASE_BYTES = 80 << 20
#: Python objects of a run (graph, quantized layers, plans), fixed and per layer.
OBJECT_BYTES = 4 << 20
LAYER_BYTES = 16 << 10
#: Integer temporaries of an element-wise requantize / clamp / add pass, per output element.
TEMPS = 6
#: Tiles ``verify --engine golden`` runs (measured 60-90 us of CPU per tile: 2-3 minutes).
MAX_TILES = 2_000_000
#: Cycles ``verify --engine cyclesim`` steps (measured 28-40 us per cycle: 2-3 minutes).
MAX_STEPPED_CYCLES = 5_000_000
#: Multiply-accumulates of all float and golden passes (~1-3 minutes of BLAS on 2 cores).
MAX_MACS = 2 * 10**12
#: Bytes held per tile: the lowering's per-tile arrays plus one tile record when iterated.
TILE_BYTES = 33 + 400
#: Bytes per tile of a performance estimate (``hwcnn report`` with hardware): the lowering's
#: per-tile arrays, their concatenation and the DRAM timeline (measured: 280 bytes per tile,
#: 600 MB traced for VGG16's 2.16 M tiles on a 1x1 array with 1 KiB buffers).
REPORT_TILE_BYTES = 320
#: Default share of the machine's memory (``--max-memory`` unset).
DEFAULT_FRACTION = 0.5


class BudgetError(HwcnnError):
    """A run would need more memory or work than allowed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """What a command will need: bytes at its peak, the layer dominating, tiles and cycles."""

    bytes: int
    layer: str
    what: str
    tiles: int = 0
    tile_layer: str = ""
    cycles: int = 0
    macs: int = 0


def machine_memory() -> int:
    """Physical memory in bytes (``os.sysconf``), capped by a cgroup v2 limit if one is set."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            text = fh.read().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total


def default_max_memory() -> int:
    """The default ``--max-memory``: :data:`DEFAULT_FRACTION` of :func:`machine_memory`."""
    return int(machine_memory() * DEFAULT_FRACTION)


def _transient(node: dict, *, verify: bool) -> tuple[int, str]:
    """Largest temporary working set of one layer's kernel (elements), and what it is."""
    layer = node["layer"]
    out = node["cost"].activation_elements
    temps = TEMPS * out
    match layer:
        case L.Conv():
            gd, win = node["gemm"], node["window"]
            x = node["in_shapes"][0]
            padded = x.channels * math.prod(w + lo + hi for w, (lo, hi) in
                                            zip(x.spatial, win.pads))
            patches = gd.groups * gd.m * gd.k
            return padded + patches * (2 if verify else 1) + temps, "im2col buffer"
        case L.Pool() | L.GlobalAvgPool():
            win = node["window"]
            return 3 * out * win.volume + temps, "pooling windows"
    return temps, "output tensor"


def _weights(node: dict) -> int:
    cost = node["cost"]
    extra = 2 * node["out_shape"].channels if isinstance(node["layer"], L.BatchNorm) else 0
    return cost.weights + cost.biases + extra   # BatchNorm: + running mean and variance


def estimate(g: nx.DiGraph, *, calib_n: int, eval_n: int = 0, kept_n: int = 0,
             hw: HardwareConfig | None = None, engine: str = "golden") -> Estimate:
    """Peak memory of quantizing ``g`` and running it (see the module docstring).

    ``calib_n`` calibration inputs, ``eval_n`` evaluation/run inputs, ``kept_n`` images whose
    every layer output is kept (``run``); ``hw`` for ``verify`` (counts tiles and their records).
    """
    acts = weights = max_w = max_out = in_elems = macs = 0
    worst, worst_layer, worst_what = 0, "", ""
    for name, node in ordered_nodes(g):
        out = node["cost"].activation_elements
        acts += out
        macs += node["cost"].macs
        max_out = max(max_out, out)
        w = _weights(node)
        weights += w
        max_w = max(max_w, w)
        if isinstance(node["layer"], L.Input):
            in_elems = out
        t, what = _transient(node, verify=hw is not None)
        if t > worst:
            worst, worst_layer, worst_what = t, name, what
    # quantizing: four float copies of the largest weights, or the |x| of one statistic
    quantizing = max(4 * max_w, 2 * calib_n * max_out)
    elems = (weights + (calib_n + eval_n) * in_elems + calib_n * acts
             + (4 if hw is not None else 2) * acts + kept_n * acts
             + max(worst, quantizing))
    total = (BASE_BYTES + OBJECT_BYTES + LAYER_BYTES * g.number_of_nodes() + elems * ELEM
             + weights * 9)
    tiles, tile_layer, cycles = (0, "", 0) if hw is None else _tiles(g, hw)
    if hw is not None:
        total += tiles * TILE_BYTES
    return Estimate(bytes=total, layer=worst_layer, what=worst_what, tiles=tiles,
                    tile_layer=tile_layer, cycles=cycles if engine == "cyclesim" else 0,
                    macs=macs * (calib_n + 2 * eval_n + (1 if hw is not None else 0)))


def _tiles(g: nx.DiGraph, hw: HardwareConfig) -> tuple[int, str, int]:
    """Tiles of the lowered network (and the layer with most), and its stepped cycles bound."""
    arr = hw.array
    total, most, most_layer, cycles = 0, 0, "", 0
    for name, node in ordered_nodes(g):
        layer, n = node["layer"], 0
        match layer:
            case L.Conv() | L.Dense():
                gd = node["gemm"]
                p, ch = pack_and_tiling(name, hw, gd.m, gd.n, gd.k, gd.groups,
                                        gather_of(node, hw))
                gn, gk, gg = p * gd.n, p * gd.k, gd.groups // p
                n = (gg * -(-gd.m // ch.mt) * -(-gn // ch.nt)
                     * (-(-gk // ch.kc) if ch.kc else 1))
                cycles += ch.compute
            case L.Pool() | L.GlobalAvgPool() | L.Add() | L.Activation() | L.BatchNorm():
                x = node["out_shape"]
                rows = x.spatial[0] if len(x.spatial) >= 2 else 1
                groups = -(-x.channels // arr.cols)
                n = groups * max(rows, 1)
                win = node.get("window")
                if isinstance(layer, L.Pool) and win is not None and len(win.out) == 2:
                    # the vector unit's closed form, one channel group at a time
                    cycles += groups * timing.pool_tile_cycles(
                        win.out[0], win.out[1], win.kernel[0], win.kernel[1], arr)
                else:
                    cycles += node["cost"].ops + node["cost"].eltwise_ops
        total += n
        if n > most:
            most, most_layer = n, name
        if total > MAX_TILES:   # refused anyway: the rest need not be planned
            break
    return total, most_layer, cycles


def report_estimate(g: nx.DiGraph, hw: HardwareConfig) -> Estimate:
    """What a performance estimate (``hwcnn report`` on hardware) holds: its tile records,
    linear in the number of tiles (which a tiny array or buffer makes large, without bound)."""
    tiles, layer, _ = _tiles(g, hw)
    return Estimate(bytes=BASE_BYTES + OBJECT_BYTES + tiles * REPORT_TILE_BYTES, layer=layer,
                    what="tile records", tiles=tiles, tile_layer=layer)


def enforce_report(est: Estimate, max_bytes: int, where: str) -> None:
    """Raise :class:`BudgetError` (one line) when a performance estimate exceeds ``max_bytes``."""
    if est.bytes > max_bytes:
        raise BudgetError(f"{where}: layer {est.layer!r}: the performance estimate of "
                          f"{est.tiles:,} tiles needs about {_size(est.bytes)}, more than "
                          f"--max-memory {_size(max_bytes)}; use a larger --array or --buffers")


def enforce(est: Estimate, max_bytes: int, where: str) -> None:
    """Raise :class:`BudgetError` (one line) when ``est`` exceeds the memory or work limits."""
    if est.tiles > MAX_TILES:
        raise BudgetError(f"{where}: layer {est.tile_layer!r}: the lowered network has "
                          f"{est.tiles:,} tiles, more than the {MAX_TILES:,} verify runs; use a "
                          "larger --array or --buffers")
    if est.cycles > MAX_STEPPED_CYCLES:
        raise BudgetError(f"{where}: the stepped model would step about {est.cycles:,} "
                          f"cycles, more than {MAX_STEPPED_CYCLES:,}; use --engine golden")
    if est.bytes > max_bytes:
        raise BudgetError(f"{where}: layer {est.layer!r}: needs about {_size(est.bytes)} "
                          f"({est.bytes:,} bytes; its {est.what} is the largest), more than "
                          f"--max-memory {_size(max_bytes)}")
    if est.macs > MAX_MACS:
        raise BudgetError(f"{where}: the float and golden passes need {est.macs:,} "
                          f"multiply-accumulates, more than the {MAX_MACS:,} hwcnn runs; use "
                          "fewer inputs (-n, --calib-n) or a smaller network")


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


__all__ = ["BudgetError", "Estimate", "default_max_memory", "enforce", "estimate",
           "machine_memory"]
