"""Evaluate sweep points: one results row (and optionally per-layer rows) per :class:`Point`.

Runs on whichever engine executes the sweep (in process or on Dask workers), so it takes the
models as :class:`ModelSource` values (file text, not paths: remote workers need not share a
file system) and caches per process the work a model needs once: the parsed spec and graph (or
topology), and the estimate of each distinct hardware configuration.

* ``timing: native``: :func:`hwcnn.report.perf.estimate` (the lowering, the RTL's closed-form
  cycles, the DRAM model), the board's multiplier and on-chip RAM use, and the energy estimate
  of :mod:`hwcnn.report.energy`.
* ``timing: machine``: the point's compiled program on the whole machine's cycle model
  (:func:`hwcnn.report.machine.machine_figures` with ``hwcnn report``'s bound: the stepped
  model proven equal to the RTL, or the instruction-level estimate; its label in ``figure``),
  on the board's DRAM and AXI width (without a board: the point's bandwidth, 64 bits); per
  layer the cycles since the previous stored layer's last DRAM write. The network is
  quantized once per model with float32 seeded weights and one calibration input (the
  timing does not depend on the values). No DRAM bytes or energy.
* ``timing: scalesim``: SCALE-Sim's CALC-mode compute cycles of every conv/dense GEMM
  (:mod:`hwcnn.arch.scalesim_timing`; a grouped conv runs as ``groups`` GEMMs, as SCALE-Sim
  runs depthwise layers per channel); no DRAM model (CALC mode never stalls), so DRAM bytes and
  energy are left empty.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import networkx as nx

from ..arch import timing
from ..arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from ..arch.scalesim_timing import conv_gemm_dims, native_difference, scalesim_cycles
from ..boards.profiles import get_board
from ..errors import HwcnnError, SpecError
from ..frontend.scalesim import ScaleSimTopology, parse_topology
from ..frontend.spec import parse_spec
from ..graph.build import build_graph, ordered_nodes
from ..report import perf
from ..report.energy import get_table, layer_energy
from .space import Point

#: The ``figure`` column of the native and SCALE-Sim timings (the machine's: its label).
FIGURE_NATIVE = "native: the RTL's closed forms + memsim"
FIGURE_SCALESIM = "SCALE-Sim CALC mode"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSource:
    """A model as the workers receive it: ``kind`` ``spec`` (YAML) or ``topology`` (SCALE-Sim
    CSV, ``form`` conv/gemm or None to detect)."""

    label: str
    file: str
    kind: str
    text: str
    form: str | None = None
    strict: bool | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_model(path: str, *, form: str | None = None, strict: bool | None = None) -> ModelSource:
    """Read a model file (``.csv``: a SCALE-Sim topology, else a YAML spec) and check it parses."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read model: {exc.strerror}", file=path) from None
    except UnicodeDecodeError:
        raise SpecError("model is not UTF-8 text", file=path) from None
    kind = "topology" if path.lower().endswith(".csv") else "spec"
    src = ModelSource(label=os.path.splitext(os.path.basename(path))[0], file=path, kind=kind,
                      text=text, form=form, strict=strict)
    if kind == "spec":
        graph_of(src)
    else:
        topology_of(src)
    return src


@lru_cache(maxsize=32)
def _graph(file: str, digest: str, text: str, strict: bool | None) -> nx.DiGraph:
    spec = parse_spec(text, file=file)
    try:
        return build_graph(spec, strict=strict)
    except HwcnnError as exc:
        located = getattr(exc, "located", None)
        raise (located(file=file) if located else exc) from None


def graph_of(src: ModelSource) -> nx.DiGraph:
    return _graph(src.file, src.digest, src.text, src.strict)


@lru_cache(maxsize=32)
def _topology(file: str, digest: str, text: str, form: str | None) -> ScaleSimTopology:
    return parse_topology(text, file=file, form=form)


def topology_of(src: ModelSource) -> ScaleSimTopology:
    return _topology(src.file, src.digest, src.text, src.form)


def operand_bits(src: ModelSource) -> tuple[int, int]:
    """(activation, weight) bits of the model (SCALE-Sim topologies: 8, 8)."""
    if src.kind != "spec":
        return 8, 8
    fmt = graph_of(src).graph["spec"].formats
    return fmt.activation_bits, fmt.weight_bits


def _memory(p: Point, arr: ArrayConfig) -> MemoryConfig:
    """The point's buffers; parameter and accumulator words as ``hwcnn report`` sizes them
    (the board's defaults for this array, or the configuration defaults)."""
    bpc = p.bandwidth_gbps * 1000.0 / p.clock_mhz
    base = (get_board(p.board).default_memory(arr, bpc) if p.board
            else MemoryConfig(dram_bytes_per_cycle=bpc))
    return replace(base, act_kib=p.act_kib, weight_kib=p.weight_kib, out_kib=p.out_kib,
                   dram_bytes_per_cycle=bpc)


def point_array(p: Point, act_bits: int = 8, weight_bits: int = 8) -> ArrayConfig:
    """The array of point ``p``: ``os2`` is output stationary with two drain rows; ``is``
    (SCALE-Sim only) counts as weight stationary for the resources."""
    df = {"is": Dataflow.WEIGHT_STATIONARY, "os2": Dataflow.OUTPUT_STATIONARY}.get(p.dataflow)
    return ArrayConfig(rows=p.rows, cols=p.cols, dataflow=df or Dataflow.parse(p.dataflow),
                       act_bits=act_bits, weight_bits=weight_bits,
                       drain_rows=2 if p.dataflow == "os2" else 1)


def hardware(src: ModelSource, p: Point) -> HardwareConfig:
    """The :class:`HardwareConfig` of point ``p`` (native dataflows only)."""
    arr = point_array(p, *operand_bits(src))
    return HardwareConfig(array=arr, memory=_memory(p, arr), clock_mhz=p.clock_mhz)


def fit_error(src: ModelSource, p: Point) -> str | None:
    """Why ``p`` does not fit its board (None if it fits or has no board)."""
    if not p.board:
        return None
    arr = point_array(p, *operand_bits(src))
    hw = HardwareConfig(array=arr, memory=_memory(p, arr), clock_mhz=p.clock_mhz)
    try:
        get_board(p.board).check_fit(hw)
    except HwcnnError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=64)
def _estimate(file: str, digest: str, text: str, strict: bool | None,
              hw: HardwareConfig) -> tuple[perf.LayerPerf, ...]:
    return perf.estimate(_graph(file, digest, text, strict), hw)


def _resources(src: ModelSource, p: Point) -> dict[str, Any]:
    a_bits, w_bits = operand_bits(src)
    pes = p.rows * p.cols
    kib = p.act_kib + p.weight_kib + p.out_kib
    if not p.board:
        return {"dsp": pes, "dsp_pct": None, "bram_kib": kib, "bram_pct": None}
    board = get_board(p.board)
    arr = point_array(p, a_bits, w_bits)
    plan = board.dsp_plan(arr)   # PEs, requantizer lanes and the pool address, as check_fit
    return {"dsp": plan.needed, "dsp_pct": round(100 * plan.needed / plan.available, 2),
            "bram_kib": kib, "bram_pct": round(100 * kib * 1024 / board.onchip_bytes, 2)}


def _gemms(src: ModelSource) -> list[tuple[str, int, int, int, int]]:
    """(layer, M, N, K, groups) of every GEMM layer: conv/dense of a spec, rows of a topology."""
    if src.kind == "topology":
        out = []
        for layer in topology_of(src).layers:
            _, _, m, n, k = conv_gemm_dims(layer.ifmap_h, layer.ifmap_w, layer.filter_h,
                                           layer.filter_w, layer.channels, layer.filters,
                                           layer.stride_h, layer.stride_w)
            out.append((layer.name, m, n, k, 1))
        return out
    return [(name, gd.m, gd.n, gd.k, gd.groups) for name, attrs in ordered_nodes(graph_of(src))
            if (gd := attrs.get("gemm")) is not None]


def _why(m: int, n: int, k: int, p: Point, native_cycles: int | None) -> tuple[int | None, str]:
    """(native - SCALE-Sim, explanation) when the native count is one tile of the GEMM."""
    if p.dataflow == "is" or native_cycles is None:
        return None, ""
    arr = ArrayConfig(rows=p.rows, cols=p.cols, dataflow=Dataflow.parse(p.dataflow))
    d = native_difference(m, n, k, arr)
    if native_cycles != d.native:
        return None, ""
    return d.difference, d.explain(arr)


def _rounded(cycles: int, macs: int, p: Point) -> dict[str, Any]:
    latency_us = cycles / p.clock_mhz
    return {"macs": macs, "cycles": cycles,
            "latency_ms": round(latency_us / 1000, 6),
            "fps": round(1e6 / latency_us, 3) if cycles else None,
            "utilization_pct": round(100 * macs / (p.rows * p.cols) / cycles, 3) if cycles
            else None}


def evaluate(src: ModelSource, p: Point, *, layers: bool = False,
             energy_node: str = "45nm") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The results row of ``p`` and, with ``layers``, one row per layer."""
    key = {name: getattr(p, name) for name in Point.__slots__}
    per_layer: list[dict[str, Any]] = []
    if p.timing == "scalesim":
        total = macs = 0
        for name, m, n, k, groups in _gemms(src):
            cyc = groups * scalesim_cycles(m, n, k, p.rows, p.cols, p.dataflow)
            total += cyc
            macs += groups * m * n * k
            if layers:
                native = None
                if p.dataflow != "is" and groups == 1:
                    native = timing.gemm_tile_cycles(
                        m, n, k, ArrayConfig(rows=p.rows, cols=p.cols,
                                             dataflow=Dataflow.parse(p.dataflow)))
                diff, why = _why(m, n, k, p, native)
                per_layer.append({**key, "layer": name, "macs": groups * m * n * k,
                                  "cycles": cyc, "scalesim_cycles": cyc,
                                  "native_one_tile_cycles": native,
                                  "native_minus_scalesim": diff, "why": why,
                                  "dram_bytes": None, "energy_uj": None})
        row = {**key, **_rounded(total, macs, p), "compute_cycles": total, "stall_cycles": 0,
               "dram_bytes": None, **_resources(src, p), "energy_uj": None,
               "figure": FIGURE_SCALESIM, "note": ""}
        return row, per_layer
    if src.kind != "spec":
        raise SpecError("a SCALE-Sim topology has no layer graph for the native estimate; "
                        "use --timing scalesim", file=src.file)
    hw = hardware(src, p)
    if p.timing == "machine":
        return _machine_row(src, p, hw, key, layers)
    g = graph_of(src)
    try:
        rows = _estimate(src.file, src.digest, src.text, src.strict, hw)
    except HwcnnError as exc:  # e.g. buffers too small for a layer: a point, not a crash
        return {**key, **_resources(src, p), "note": str(exc)}, []
    tot = perf.totals(rows, hw)
    energies = layer_energy(g, rows, hw, get_table(energy_node))
    row = {**key, **_rounded(tot.total_cycles, tot.macs, p),
           "compute_cycles": tot.compute_cycles, "stall_cycles": tot.stall_cycles,
           "dram_bytes": tot.dram_bytes, **_resources(src, p),
           "energy_uj": round(sum(e.total_pj for e in energies) / 1e6, 3),
           "figure": FIGURE_NATIVE, "note": ""}
    if layers:
        for r, e in zip(rows, energies):
            if not r.tiles:
                continue
            gd = g.nodes[r.name].get("gemm") if r.unit == "array" else None
            ss = diff = None
            why = ""
            if gd is not None:
                ss = gd.groups * scalesim_cycles(gd.m, gd.n, gd.k, p.rows, p.cols, p.dataflow)
                if r.tiles == 1:
                    diff, why = _why(gd.m, gd.n, gd.k, p, r.compute_cycles)
            per_layer.append({**key, "layer": r.name, "macs": r.macs, "cycles": r.total_cycles,
                              "scalesim_cycles": ss, "native_one_tile_cycles":
                              r.compute_cycles if why else None,
                              "native_minus_scalesim": diff, "why": why,
                              "dram_bytes": r.dram_bytes,
                              "energy_uj": round(e.total_pj / 1e6, 6)})
    return row, per_layer


@lru_cache(maxsize=8)
def _qnet(file: str, digest: str, text: str, strict: bool | None) -> Any:
    """The model quantized for its machine timing (:func:`hwcnn.report.machine.timing_qnet`),
    once per model and process."""
    from ..report.machine import timing_qnet

    return timing_qnet(_graph(file, digest, text, strict))


def _machine_row(src: ModelSource, p: Point, hw: HardwareConfig, key: dict[str, Any],
                 layers: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from ..compiler.backend import compile_network
    from ..compiler.lowering import lower
    from ..report.machine import MAX_ACTIVE, layer_shares, machine_figures

    g = graph_of(src)
    try:
        comp = compile_network(lower(g, hw), _qnet(src.file, src.digest, src.text, src.strict))
        fig = machine_figures(comp, hw, get_board(p.board) if p.board else None, estimate=True,
                              max_cycles=1 << 62, max_active=MAX_ACTIVE)
    except HwcnnError as exc:   # a host layer, buffers too small: a point, not a crash
        return {**key, **_resources(src, p), "note": str(exc)}, []
    assert fig is not None
    # the array layers' MACs, as memsim's utilization and the report's machine_util_pct
    macs = perf.totals(_estimate(src.file, src.digest, src.text, src.strict, hw), hw).macs
    row = {**key, **_rounded(fig.cycles, macs, p), "compute_cycles": None,
           "stall_cycles": None, "dram_bytes": None, **_resources(src, p), "energy_uj": None,
           "figure": fig.label, "note": ""}
    per_layer = [{**key, "layer": name, "macs": None, "cycles": cyc, "scalesim_cycles": None,
                  "native_one_tile_cycles": None, "native_minus_scalesim": None, "why": "",
                  "dram_bytes": None, "energy_uj": None}
                 for name, (cyc, _) in layer_shares(fig.layer_cycles).items()] if layers else []
    return row, per_layer


def evaluate_batch(models: Mapping[str, ModelSource], points: Sequence[Point], layers: bool,
                   energy_node: str = "45nm"
                   ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """:func:`evaluate` every point of a batch (one Dask task)."""
    return [evaluate(models[p.model], p, layers=layers, energy_node=energy_node)
            for p in points]
