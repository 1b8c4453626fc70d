"""The Python API: the pipeline's entry points for notebooks and scripts (``import hwcnn``).

Each function is one stage, taking the previous stage's value; together they are what the
command line does::

    import hwcnn

    g = hwcnn.build_graph("models/alexnet227.yaml")        # stage 1+2: spec -> shapes, budgets
    print(hwcnn.render_report(hwcnn.budget_report(g)))     # per-layer table
    hw = hwcnn.hardware(board="pynq-z2")                   # board defaults, fit-checked
    rows = hwcnn.estimate(g, hw, board="pynq-z2")          # per-layer cycles, latency
    qnet = hwcnn.quantize(g)                               # stage 3: fixed point
    out = hwcnn.run_golden(qnet, image)                    # stage 5a: bit-exact integers
    hwcnn.generate_rtl(hw, "build/rtl")                    # stage 5c: Verilog
    comp = hwcnn.compile_network(qnet, hw, image)          # stage 6: program + DRAM image
    fig = hwcnn.machine_figures(comp, hw, board="pynq-z2")  # whole-machine cycles

Every user error raises a :class:`hwcnn.errors.HwcnnError` with a one-line message (the same
text the command line prints). The stage packages (``hwcnn.graph``, ``hwcnn.numerics``, ...)
hold the full interfaces; ``docs/api.md`` lists these entry points with examples.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from .arch.config import Dataflow, HardwareConfig
from .boards import Board, get_board
from .compiler import Program
from .compiler import lower as _lower
from .frontend import NetworkSpec, load_spec
from .graph import build_graph as _build_graph
from .machine import Verification
from .machine import verify as _verify
from .numerics import (
    GoldenResult,
    QuantizedNetwork,
    QuantPolicy,
    calibration_inputs,
    init_weights,
    load_weights,
    quantize_input,
    quantize_network,
    run_network,
)
from .report import LayerPerf, Report, budget_report, render
from .report import estimate as _estimate
from .report import explain as _explain
from .report.trace import Trace

if TYPE_CHECKING:
    from .compiler.backend import Compiled
    from .hw.wave import Wave
    from .report.machine import MachineFigures

__all__ = [
    "Dataflow", "HardwareConfig", "NetworkSpec", "QuantPolicy", "budget_report", "build_graph",
    "compile_network", "estimate", "explain", "generate_rtl", "hardware", "load_model", "lower",
    "machine_figures", "quantize", "render_report", "run_golden", "trace_tile", "verify",
    "wave_tile",
]

PathLike = str | os.PathLike[str]


def load_model(path: PathLike) -> NetworkSpec:
    """Read and validate a network spec file (YAML) into a frozen :class:`NetworkSpec`."""
    return load_spec(path)


def build_graph(model: PathLike | NetworkSpec, *, strict: bool | None = None) -> nx.DiGraph:
    """The layer graph of ``model`` (a spec file path or a :class:`NetworkSpec`).

    Every node carries ``layer`` (the frozen record), ``out_shape`` (channels first),
    ``cost`` (parameters, MACs, operations, memory) and, for conv/dense, ``gemm`` (the im2col
    dimensions). ``strict`` rejects windows that do not tile their input exactly.
    """
    spec = model if isinstance(model, NetworkSpec) else load_spec(model)
    return _build_graph(spec, strict=strict)


def render_report(report: Report, fmt: str = "table") -> str:
    """Render a :func:`budget_report` (optionally extended with performance columns) as
    ``table``, ``csv``, ``json`` or ``markdown`` text."""
    return render(report, fmt)


def _check_bus_bits(bus_bits: int | None) -> None:
    """ConfigError unless ``bus_bits`` is None or one of the AXI widths of ``hwcnn_soc``."""
    from .boards.profiles import AXI_WIDTHS
    from .errors import ConfigError

    if bus_bits is not None and bus_bits not in AXI_WIDTHS:
        widths = ", ".join(map(str, AXI_WIDTHS[:-1]))
        raise ConfigError(f"bus_bits must be {widths} or {AXI_WIDTHS[-1]}, not {bus_bits!r}")


def hardware(board: str | Board | None = None, *, array: tuple[int, int] | str | None = None,
             dataflow: Dataflow | str | None = None, clock_mhz: float | None = None,
             dram_gbps: float | None = None,
             buffers_kib: int | tuple[int, int, int] | None = None,
             act_bits: int = 8, weight_bits: int = 8, acc_bits: int = 32,
             drain_rows: int | None = None, bus_bits: int | None = None) -> HardwareConfig:
    """A hardware configuration, as ``--board/--array/--dataflow/...`` build it on the CLI.

    With a ``board``, unset values take the board's defaults (typical clock, peak DRAM
    bandwidth, the largest square array its multipliers allow, its buffer split) and the
    result is checked to fit the board. ``array`` is ``(rows, cols)`` or ``"RxC"``;
    ``buffers_kib`` one size for all three buffers or ``(act, weight, out)``; ``drain_rows``
    2: output stationary with two drain rows per cycle (``--drain-rows 2``; default 1).
    The memory port the tile search and memsim plan with is the complete accelerator's AXI
    master: the board's ``axi_bits`` or ``bus_bits`` (64, 128 or 256, ``--bus-bits``; without
    a board none unless given): ``hw.memory.bytes_per_cycle`` is the smaller of the DRAM's
    bandwidth and that port's bytes per beat.
    """
    _check_bus_bits(bus_bits)
    from .cli.options import hardware_from_options

    name = board.id if isinstance(board, Board) else board
    arr = f"{array[0]}x{array[1]}" if isinstance(array, tuple) else array
    flow = dataflow.name.lower() if isinstance(dataflow, Dataflow) else dataflow
    if flow in ("weight_stationary", "output_stationary"):
        flow = "ws" if flow.startswith("weight") else "os"
    bufs = (",".join(str(b) for b in buffers_kib) if isinstance(buffers_kib, tuple)
            else None if buffers_kib is None else str(buffers_kib))
    hw, _ = hardware_from_options(board=name, array=arr, dataflow=flow, clock_mhz=clock_mhz,
                                  dram_gbps=dram_gbps, buffers=bufs, drain_rows=drain_rows,
                                  act_bits=act_bits, weight_bits=weight_bits,
                                  acc_bits=acc_bits, bus_bits=bus_bits)
    return hw


def estimate(g: nx.DiGraph, hw: HardwareConfig, board: str | Board | None = None
             ) -> tuple[LayerPerf, ...]:
    """Per-layer tiles, cycles, latency, utilization and DRAM traffic of ``g`` on ``hw``
    (checked to fit ``board`` when given). Cycles come from the closed forms of
    :mod:`hwcnn.arch.timing`, proven equal to the stepped model and the RTL."""
    brd = get_board(board) if isinstance(board, str) else board
    return _estimate(g, hw, brd)


def lower(g: nx.DiGraph, hw: HardwareConfig) -> Program:
    """The tile program of ``g`` on ``hw``: per layer its GEMM / pool tiles and their cycles."""
    return _lower(g, hw)


def quantize(g: nx.DiGraph, *, weights: PathLike | None = None,
             calib: Sequence[np.ndarray] | None = None, seed: int = 0,
             policy: QuantPolicy | None = None) -> QuantizedNetwork:
    """Quantize ``g`` to fixed point (``hwcnn quantize``).

    ``weights``: an ``.npz`` keyed ``<layer>.<param>``; without it, seeded He initialization
    (``seed``). ``calib``: float input images for the scales; without them, 4 seeded random
    images. ``policy``: widths, rounding, calibration statistic (default: the spec's
    widths with :class:`QuantPolicy`'s other defaults).
    """
    params = load_weights(weights, g) if weights is not None else init_weights(g, seed)
    shape = g.nodes[_input_name(g)]["out_shape"]
    inputs = list(calib) if calib is not None else calibration_inputs(shape, 4, seed)
    if policy is None:
        formats = g.graph["spec"].formats
        policy = QuantPolicy(act_bits=formats.activation_bits, weight_bits=formats.weight_bits)
    return quantize_network(g, params, inputs, policy)


def _input_name(g: nx.DiGraph) -> str:
    return next(n for n in g if g.in_degree(n) == 0)


def run_golden(qnet: QuantizedNetwork, image: np.ndarray, *, is_integer: bool = False
               ) -> GoldenResult:
    """Run the bit-exact integer golden model on one image.

    ``image`` is a float array of the network's input shape (quantized to the input format
    first) or, with ``is_integer=True``, integers already in that format. The result holds
    every layer's integer output tensor (``.tensors[name]``).
    """
    x = np.asarray(image) if is_integer else quantize_input(qnet, np.asarray(image))
    return run_network(qnet, x)


def verify(qnet: QuantizedNetwork, hw: HardwareConfig, image: np.ndarray, *,
           engine: str = "golden") -> Verification:
    """Lower ``qnet``'s network onto ``hw``, execute it tile by tile on ``engine``
    (``golden`` kernels or the stepped ``cyclesim`` model) and compare every layer with the
    golden model bit for bit and every tile's cycles with the prediction."""
    program = _lower(qnet.graph, hw)
    return _verify(program, qnet, quantize_input(qnet, np.asarray(image)), engine)


def compile_network(qnet: QuantizedNetwork, hw: HardwareConfig, image: np.ndarray | None = None,
                    *, is_integer: bool = False, fuse_pool: bool = True,
                    dram_bytes: int | None = None) -> Compiled:
    """Compile ``qnet``'s network for the complete accelerator on ``hw`` (``hwcnn compile``):
    the instruction stream (``.insns``; :func:`hwcnn.isa.disasm.disassemble` prints it), the
    initial DRAM image (``.image``: program, packed weights and parameters, input) and the
    memory map (``.regions``, ``.views``: every stored layer's tensor).

    ``image`` (float, quantized here; or integers in the input format with
    ``is_integer=True``) is written into the input region; without it the region is zeros.
    ``fuse_pool=False`` stores every conv's output to DRAM (by default a pool that is a
    conv's only reader runs on the conv's output in the output buffer, ``.on_chip``).
    ``dram_bytes``: the DRAM window every DMA must stay in (default 4 GiB). A program that
    does not fit the machine raises a one-line error. Same inputs -> the same bytes.
    """
    from .compiler.backend import compile_network as _compile
    from .isa.target import DEFAULT_DRAM_BYTES

    x = None
    if image is not None:
        x = np.asarray(image) if is_integer else quantize_input(qnet, np.asarray(image))
    window = DEFAULT_DRAM_BYTES if dram_bytes is None else dram_bytes
    return _compile(_lower(qnet.graph, hw), qnet, dram_bytes=window, x=x, fuse_pool=fuse_pool)


def machine_figures(comp: Compiled, hw: HardwareConfig, board: str | Board | None = None, *,
                    bus_bits: int | None = None) -> MachineFigures:
    """Run a :func:`compile_network` program on the whole accelerator's cycle model
    (``hwcnn report --machine``): ``.cycles`` start to done, ``.layer_cycles`` per stored
    layer the cycle of its last DRAM write, ``.busy`` the fetch / load / compute / store
    busy counters, ``.latency_us``. The DRAM is the board's (latency, bandwidth at
    ``hw``'s clock; without a board, or when ``hw`` sets another bandwidth, ``hw``'s), the AXI bus the board's width
    (boards.yaml ``axi_bits``, 64 bits without a board) or ``bus_bits``. ``.label`` says
    which model: the stepped model proven equal to the RTL while the instruction-level
    estimate counts at most :data:`hwcnn.report.machine.MAX_ACTIVE` cycles with the load or
    the store unit busy (``hwcnn report``'s default), beyond it that estimate."""
    from .report.machine import MAX_ACTIVE
    from .report.machine import machine_figures as _figures

    _check_bus_bits(bus_bits)
    brd = get_board(board) if isinstance(board, str) else board
    fig = _figures(comp, hw, brd, bus_bits=bus_bits, estimate=True, max_cycles=1 << 62,
                   max_active=MAX_ACTIVE)
    assert fig is not None                 # with estimate=True there is always a figure
    return fig


def explain(g: nx.DiGraph, layer: str | None = None) -> str:
    """The worked, lecture-style calculation of every layer's shape, parameters, operations
    and memory (or of one ``layer``)."""
    return _explain(g, layer)


def generate_rtl(hw: HardwareConfig, out_dir: PathLike, depths: object | None = None
                 ) -> list[Path]:
    """Write the accelerator's reproducible Verilog for ``hw`` into ``out_dir``
    (``hwcnn rtl``); ``depths`` is a :class:`hwcnn.hw.BufferDepths` (default depths if None).
    Missing parent directories are created (the CLI refuses them; a script asks explicitly).
    Returns the written paths."""
    from .hw import rtlgen
    from .hw.params import BufferDepths

    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    d = depths if isinstance(depths, BufferDepths) else BufferDepths()
    return rtlgen.write(hw, d, out_dir)


def trace_tile(a: np.ndarray, b: np.ndarray, hw: HardwareConfig) -> Trace:
    """Run ``clip(A @ B)`` (``a`` m x k activations, ``b`` k x n weights) through the stepped
    register-level model and keep one snapshot per cycle (``hwcnn trace``): ``.frames[i]`` has
    per PE ``active``, ``a``, ``b``, ``acc``, ``fold`` and the output row ``write`` (with
    ``hw.array.drain_rows == 2`` also ``write2``, the second back end's); ``.cycles`` is
    ``hwcnn.arch.timing.gemm_tile_cycles``. Render it with :func:`hwcnn.report.trace.text` /
    ``html_page`` or :mod:`hwcnn.report.trace_anim`."""
    from .report.trace import record

    return record(a, b, hw.array)


def wave_tile(a: np.ndarray, b: np.ndarray, hw: HardwareConfig, path: PathLike | None = None
              ) -> Wave:
    """Simulate ``clip(A @ B)`` on the generated top level in Amaranth's simulator
    (``hwcnn wave``) and return a :class:`hwcnn.hw.wave.Wave`: ``.vcd`` (the text),
    ``.cycles`` (start -> done) and ``.out`` (read back); with ``path``, also write the VCD
    there (atomically; missing parent directories are created). Arrays up to 16x16."""
    from .fileio import write_text_atomic
    from .hw.wave import gemm_wave

    w = gemm_wave(a, b, hw)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, w.vcd)
    return w
