"""Whole-machine latency of a compiled network: the stepped cycle model of ``hwcnn_soc``
(:mod:`hwcnn.machine.socsim`, proven equal to the RTL in tests/test_socsim.py and
tests/test_soc_cocotb.py) in place of memsim's approximation, when it runs in
reasonable time.

:func:`machine_figures` runs a :class:`~hwcnn.compiler.backend.Compiled` program on the board's
DRAM model (:meth:`hwcnn.boards.profiles.Board.dram_timing`; without a board the configured
bandwidth and the planning latency) and AXI width (boards.yaml ``axi_bits``; without a board
64 bits) and returns the start-to-done cycles and, per layer, the
cycle of its last DRAM write, labelled :data:`PROVEN`. A program the model would need more
than ``max_cycles`` for gets, with ``estimate=True``, the instruction-level model's figures
(:mod:`hwcnn.machine.insnsim`: the machine's fetch, queues and tokens with every LOAD / STORE
timed as if alone), labelled :data:`ESTIMATED`; otherwise ``None``, and the caller keeps
memsim's figures, labelled :data:`APPROXIMATE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arch.dma import DramTiming
from ..boards.profiles import Board, axi_width_of, dram_timing_of
from ..machine.insnsim import run_program_fast
from ..machine.socsim import CycleLimit, run_program

#: The label of a figure from the stepped machine model.
PROVEN = "model proven equal to the RTL"
#: The label of a figure from the instruction-level model (tests/test_insnsim.py: within 3 %
#: of the stepped model on the shipped small networks, on a DRAM that keeps up with the bus
#: and on one that does not).
ESTIMATED = "instruction-level estimate (within 3 % of the RTL model on the tested networks)"
#: The label of memsim's figures (no RTL implements its double-buffered DRAM model; it assumes
#: loads at the DRAM's bandwidth, which the load unit's im2col gather (up to a word per cycle,
#: one descriptor per output pixel) and the per-pixel DMA rows do not reach:
#: bench/bench_machine.py).
APPROXIMATE = ("memsim approximation: the tile engine fed at the memory port's bandwidth, "
               "not the RTL machine (machine_cycles)")
#: Default bound of a stepped run (about 25-45 s of Python at 250k-500k cycles/s,
#: bench/bench_stepped.py and bench_socsim.py; 5 M when it ran at 120k-160k cycles/s).
MAX_CYCLES = 12_000_000
#: Default bound of a stepped run of ``hwcnn report``, in cycles in which the load or the store
#: unit is busy by the estimate (BUSY1 + BUSY3; the stepped model skips the cycles in which only
#: the compute executor runs, so its time follows these: about 2-4 us each in Python, measured
#: on the shipped networks at their board defaults, e.g. ResNet-50 on the Ultra96-V2 19.1 M
#: cycles, 5.8 M of them active, in 24 s).
MAX_ACTIVE = 6_000_000
#: Where the image sits in DRAM (BASE0); the cycle count does not depend on it as long as it
#: is a multiple of 4 KiB (the DMA's bursts are cut at 4 KiB pages).
BASE0 = 0x1000


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineFigures:
    """Start-to-done cycles of the whole machine and every layer's last DRAM write."""

    label: str
    cycles: int
    layer_cycles: dict[str, int]
    busy: tuple[int, int, int, int]
    clock_mhz: float
    #: the AXI data width the machine was modelled with
    bus_bits: int

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def fps(self) -> float:
        return 1e6 / self.latency_us

    def utilization(self, macs: int, pes: int) -> float:
        """``macs`` (the array layers' MACs) over the PE slots of the run's cycles."""
        return macs / pes / self.cycles


def layer_shares(layer_cycles: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Per stored layer ``(cycles, done)``: ``done`` its last DRAM write, ``cycles`` the cycles
    from the previous stored layer's last write (from the start pulse for the first) to it.
    The store queue runs in program order, so the shares add up to the last layer's write; a
    layer computed in the output buffer and never stored (a fused pool's input) has no share,
    its cycles count in the layer that stores its result."""
    out: dict[str, tuple[int, int]] = {}
    prev = 0
    for name, done in sorted(layer_cycles.items(), key=lambda kv: kv[1]):
        out[name] = (done - prev, done)
        prev = done
    return out


def timing_qnet(g: Any) -> Any:
    """``g`` quantized for its machine timing only: float32 seeded weights and one calibration
    input (a program's timing does not depend on the values, tests/test_report_machine.py)."""
    from ..frontend import layers as L
    from ..numerics.quantize import calibration_inputs, quantize_network
    from ..numerics.weights import init_weights

    shape = next(d["out_shape"] for _, d in g.nodes(data=True) if isinstance(d["layer"], L.Input))
    return quantize_network(g, init_weights(g, 0, dtype="float32"),
                            calibration_inputs(shape, 1, 0))


def dram_timing(hw: Any, board: Board | None) -> DramTiming:
    """The DRAM model of the run (:func:`hwcnn.boards.profiles.dram_timing_of`)."""
    return dram_timing_of(hw, board)


def machine_figures(comp: Any, hw: Any, board: Board | None = None, *,
                    bus_bits: int | None = None, max_cycles: int = MAX_CYCLES,
                    estimate: bool = False, max_active: int | None = None,
                    dram: DramTiming | None = None) -> MachineFigures | None:
    """The stepped model's figures of ``comp`` on ``hw`` with a ``bus_bits`` AXI bus
    (default: the board's, :func:`hwcnn.boards.profiles.axi_width_of`); beyond
    ``max_cycles`` the instruction-level estimate with ``estimate``, else ``None``. With
    ``estimate`` and ``max_active``, also the estimate when it counts more than ``max_active``
    cycles with the load or the store unit busy (:data:`MAX_ACTIVE`). ``dram``: another DRAM
    model than the board's (:func:`dram_timing`)."""
    bus_bits = axi_width_of(board, bus_bits)
    dram = dram or dram_timing(hw, board)
    fast = None
    if estimate:
        # the estimate first (seconds, never above the machine): a program it already puts
        # beyond the bound is not stepped up to the bound in vain
        fast = run_program_fast(comp, array=hw.array, bus_bytes=bus_bits // 8, dram=dram,
                                base=BASE0)
    run, label = fast, ESTIMATED
    step = fast is None or (fast.cycles <= max_cycles and (
        max_active is None or fast.busy[1] + fast.busy[3] <= max_active))
    if step:
        try:
            run = run_program(comp, array=hw.array, bus_bytes=bus_bits // 8, dram=dram,
                              base=BASE0, limit=max_cycles)
            label = PROVEN
        except CycleLimit:
            if fast is None:
                return None
    assert run is not None
    return MachineFigures(label=label, cycles=run.cycles, layer_cycles=run.layer_writes,
                          busy=run.busy, clock_mhz=hw.clock_mhz, bus_bits=bus_bits)


__all__ = ["APPROXIMATE", "ESTIMATED", "MAX_ACTIVE", "MAX_CYCLES", "PROVEN", "MachineFigures", "dram_timing",
           "layer_shares", "machine_figures", "timing_qnet"]
