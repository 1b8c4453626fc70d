"""``hwcnn report``: per-layer budget table of a network, plus performance on a hardware config."""

from __future__ import annotations

import click

from ...errors import ConfigError, HwcnnError
from ...report.tables import FORMATS, budget_report, extend, render
from ..options import hardware_options, max_memory_option
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, model_argument, strict_option, wrote


@click.command()
@model_argument
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format. JSON: {model, shape_order, formats, [hardware facts], layers, totals}.")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@hardware_options()
@click.option("--plot", "plot_file", type=OUTPUT_FILE, metavar="FILE",
              help="Also draw latency bars and a roofline chart (.png or .svg); implies a hardware estimate.")
@click.option("--machine/--no-machine", default=None,
              help="Compile the network and run it on the stepped model of the whole "
                   "accelerator (hwcnn_soc, proven equal to the RTL): start-to-done cycles, "
                   "latency and fps, and per layer its cycles (from the previous stored "
                   "layer's last DRAM write to its own) and the cycle of its last DRAM write. "
                   "A network beyond the stepping bound (--machine-max-cycles) gets the "
                   "instruction-level estimate instead (the machine's queues and tokens, every LOAD/STORE a timer of its "
                   "duration on an idle machine, the DRAM shared by a ledger: within 3% of the "
                   "stepped model on the tested networks), labelled as such. The machine's AXI "
                   "bus is the board's width (boards.yaml axi_bits: 128 bits on Zynq "
                   "UltraScale+ boards, 64 on Zynq-7000), 64 bits without --board, or "
                   "--bus-bits; the report gives it as machine_bus_bits. [default: on with "
                   "--board; a network the machine cannot run (a layer on the host CPU, a "
                   "budget) then gets the reason as 'machine: not run: ...' and memsim's "
                   "figures; with --machine it is an error]")
@click.option("--bus-bits", type=click.Choice(["64", "128", "256"]), default=None,
              help="--machine: the accelerator's AXI data width [default: the board's "
                   "(boards.yaml axi_bits) with --board, else 64]; with --board, or when "
                   "given, also the memory port the tile search and memsim plan with "
                   "(port_bytes_per_cycle = bits/8).")
@click.option("--machine-max-cycles", "max_cycles", type=click.IntRange(min=0), default=None,
              metavar="N",
              help="The machine model: step it up to N cycles, beyond that the estimate; 0: "
                   "always step, however long (about 250,000-450,000 simulated cycles a second while "
                   "the load or store unit is busy, millions while only the array computes) "
                   "[default: step when the estimate counts at most 6,000,000 cycles with the "
                   "load or store unit busy, about 20 s].")
@strict_option
@max_memory_option
def report(model: str, fmt: str, output: str | None, strict: bool | None, plot_file: str | None,
           max_memory: int, machine: bool, bus_bits: str | None, max_cycles: int | None,
           **hw_opts: str | None) -> None:
    """Per-layer shapes, parameters, MACs, operations and memory of MODEL.yaml.

    With any hardware option (--board, --array, --dataflow, --clock-mhz, --dram-gbps,
    --buffers) or --plot, also lowers the network to tiles for a systolic array and adds per
    layer: tiles, compute/stall/total cycles, latency, utilization, DRAM bytes, buffer peak and
    whether the layer is compute- or memory-bound; totals give frames per second. With
    --board (or --machine) also the compiled network on the whole machine's cycle model: its
    cycles per layer and in total, latency and fps, labelled (see --machine).

    Shapes are channels-first (C, H, W) in JSON/CSV and HxWxC (the lecture's spelling) in
    tables. Totals include the lecture's conv+pool vs dense subtotals and an 'other' subtotal
    (batchnorm, activations, ...), which add up to the total.

    Example: hwcnn report models/alexnet227.yaml --board pynq-z2 --array 8x8 --dataflow ws
    """
    explicit = bool(machine)
    machine = explicit or (machine is None and hw_opts.get("board") is not None)
    if bus_bits is not None and not machine:
        raise ConfigError("--bus-bits needs the machine model (--machine, the default with "
                          "--board)")
    if max_cycles is not None and not machine:
        raise ConfigError("--machine-max-cycles needs the machine model (--machine, the "
                          "default with --board)")
    if plot_file:
        from ...report.plot import check_path

        check_path(plot_file)  # fail before the estimate, not after
    g = load_graph(model, strict)
    rep = budget_report(g)
    if plot_file or machine or any(v is not None for v in hw_opts.values()):
        from ...machine.budget import enforce_report, report_estimate
        from ...report import perf
        from ..options import hardware_for_spec, progress_bar

        hw, board = hardware_for_spec(g, **hw_opts,
                                      bus_bits=None if bus_bits is None else int(bus_bits))
        # the tile records grow with the tile count (a tiny array): refused before lowering
        enforce_report(report_estimate(g, hw), max_memory, model)
        with progress_bar("estimating") as progress:
            rows = perf.estimate(g, hw, board, progress)
        tot = perf.totals(rows, hw)
        from ...report.machine import APPROXIMATE

        rep = extend(rep, perf.report_columns(), perf.report_rows(rows), {"total": tot.values()},
                     {**perf.facts(hw, board), "fps": round(tot.fps, 2),
                      "latency_ms": round(tot.latency_us / 1000, 3), "memsim_cycles": APPROXIMATE})
        if machine:
            try:
                rep = _machine(rep, model, g, hw, board, strict, max_memory,
                               None if bus_bits is None else int(bus_bits), max_cycles,
                               tot.macs)
            except HwcnnError as exc:
                if explicit:
                    raise
                rep = extend(rep, (), {}, {}, {"machine": f"not run: {exc}"})
        if plot_file:
            from ...report.plot import write_plot

            a = hw.array
            where = f" on {board.id}" if board else ""
            write_plot(plot_file, rows, tot,
                       title=f"{g.graph['spec'].name}{where}, {a.rows}x{a.cols} {a.dataflow.value.upper()}",
                       peak_ops_per_cycle=2.0 * a.pes, bytes_per_cycle=hw.memory.bytes_per_cycle)
            wrote(plot_file)
    emit(render(rep, fmt), output)


def machine_of(model, g, hw, board, strict, max_memory, bus_bits, max_cycles, built=None):  # type: ignore[no-untyped-def]
    """The compiled network's whole-machine figures (:func:`hwcnn.report.machine.machine_figures`)
    as ``hwcnn report`` takes them: the stepped model while the estimate's active cycles
    promise seconds (``MAX_ACTIVE``), else the labelled estimate; ``max_cycles`` N: step up
    to N cycles, 0 always. Shared with ``hwcnn compare --boards --machine``, which passes a
    ``built`` dict so that a model is quantized once for all its boards (the quantized
    network does not depend on the hardware)."""
    import math

    from ...boards.profiles import dram_timing_of
    from ...compiler.backend import compile_network
    from ...compiler.lowering import lower
    from ...report.machine import MAX_ACTIVE, machine_figures
    from .quantize import build, quant_defaults

    # the program's timing does not depend on the weights' or the calibration's values
    # (tests/test_report_machine.py): float32 random weights, one calibration input
    opts = {**quant_defaults(), "strict": strict, "max_memory": max_memory, "calib_n": 1}
    b = None if built is None else built.get(model)
    if b is None:
        b = build(model, **opts, hw=hw, graph=g, weight_dtype="float32")  # type: ignore[arg-type]
        if built is not None:
            built[model] = b
    bound = max_cycles or 1 << 62
    # --dram-gbps over a board: the machine runs on the DRAM memsim planned with
    dram = (dram_timing_of(hw, None) if board is not None and not math.isclose(
        board.dram_bytes_per_cycle(hw.clock_mhz), hw.memory.dram_bytes_per_cycle) else None)
    fig = machine_figures(compile_network(lower(b.graph, hw), b.qnet), hw, board,
                          bus_bits=bus_bits, estimate=max_cycles != 0, max_cycles=bound,
                          max_active=MAX_ACTIVE if max_cycles is None else None, dram=dram)
    assert fig is not None             # the estimate, or a run without a cycle bound
    return fig


def _machine(rep, model, g, hw, board, strict, max_memory, bus_bits, max_cycles, macs):  # type: ignore[no-untyped-def]
    """The whole-machine figures (hwcnn.report.machine) as a column and facts; memsim's
    cycle columns are labelled as the approximation they are. ``macs``: the array layers'
    MACs (memsim's utilization counts the same)."""
    from ...report.machine import layer_shares
    from ...report.tables import Column

    fig = machine_of(model, g, hw, board, strict, max_memory, bus_bits, max_cycles)
    facts: dict[str, object] = {}
    fmt = lambda v: "" if v is None else f"{v:,}"
    cols = (Column("machine_layer_cycles", "machine cyc", fmt),
            Column("machine_done_cycle", "machine done cyc", fmt))
    rows = {n: {"machine_layer_cycles": c, "machine_done_cycle": d}
            for n, (c, d) in layer_shares(fig.layer_cycles).items()}
    return extend(rep, cols, rows, {"total": {"machine_layer_cycles": fig.cycles}},
                  {**facts, "machine": fig.label,
                                          "machine_bus_bits": fig.bus_bits,
                                          "machine_cycles": fig.cycles,
                                          "machine_latency_ms": round(fig.latency_us / 1000, 3),
                                          "machine_fps": round(fig.fps, 2),
                                          "machine_util_pct": round(
                                              100 * fig.utilization(macs, hw.array.pes), 2)})
