"""``hwcnn verify``: run the lowered network (tile by tile, or compiled into one instruction
stream on the interpreter or the Verilog) and compare with the golden model."""

from __future__ import annotations

import click

from ..options import hardware_options, max_memory_option
from .common import model_argument
from .quantize import quant_options

_HW_KEYS = ("board", "array", "dataflow", "drain_rows", "clock_mhz", "dram_gbps", "buffers")


@click.command()
@model_argument
@hardware_options()
@quant_options
@click.option("--engine", type=click.Choice(["golden", "cyclesim", "program", "rtl"]),
              default="golden", show_default=True,
              help="golden: golden-model kernels per tile (fast); cyclesim: the stepped "
                   "register-level model per tile (slow, small networks); program: the compiled "
                   "instruction stream on the functional interpreter, from DRAM (fast); rtl: "
                   "the same program on the Verilog of the complete accelerator (Verilator, "
                   "built once and cached; small networks).")
@click.option("--bus-bits", type=click.Choice(["64", "128", "256"]), default=None,
              help="--engine rtl: AXI data width of the accelerator [default: the board's "
                   "(boards.yaml axi_bits) with --board, else 64].")
@click.option("--max-cycles", type=click.IntRange(min=1), default=None, metavar="N",
              help="--engine rtl: refuse a program whose work bound (hwcnn.rtlsim.bounds) "
                   "exceeds N cycles [default: 5,000,000].")
@click.option("--backpressure", type=click.FloatRange(0, 0.9), default=0.0, show_default=True,
              metavar="P", help="--engine rtl: random stalls on every DRAM AXI channel with "
                                "probability P per cycle (outputs must not change).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help=".npy image (C, H, W) to run: integer dtype = already in the input format, "
                   "float = quantized here (default: a seeded random image).")
@click.option("--no-fuse-pool", "no_fuse_pool", is_flag=True,
              help="--engine program|rtl: compile without running a pool on its conv's output "
                   "in the output buffer, so that every layer is stored to DRAM and compared "
                   "(by default such a conv's value never reaches DRAM and only its pool's "
                   "output is compared).")
@max_memory_option
def verify(model: str, engine: str, input_path: str | None, bus_bits: str | None,
           max_cycles: int | None, backpressure: float, no_fuse_pool: bool,
           **opts: object) -> None:
    """Lower MODEL.yaml onto the array, execute every tile (operands gathered as the tile
    describes, K-split chains, pool bands) and compare every layer bit for bit with the golden
    network, and every tile's cycles with the lowering's prediction.

    With --engine program or rtl, MODEL is compiled (as `hwcnn compile` does) and the program
    runs from its DRAM image; every layer stored to DRAM is read back and compared (a conv
    whose pool runs on its output in the output buffer is not stored: its pool's output is
    compared, --no-fuse-pool stores and compares it). rtl prints,
    per layer, the cycle of its last DRAM write and the start-to-done cycles measured on the
    RTL; a program over --max-cycles is refused (exit 2), as is a missing cocotbext-axi.

    Exit status 0 when everything matches, 1 on the first mismatch (one line naming layer,
    tile, coordinate and values) or when the machine reports an error, 2 on bad input.
    """
    from ...compiler.lowering import lower
    from ...machine.verification import verify as run_verify
    from ...numerics.golden import quantize_input
    from ...numerics.quantize import calibration_inputs
    from ...numerics.weights import input_header
    from ..options import hardware_for_spec
    from .common import load_graph
    from .quantize import _input_name, build

    hw_opts = {k: opts.pop(k) for k in _HW_KEYS}
    seed = opts["seed"]
    assert isinstance(seed, int)
    strict = opts["strict"]
    g = load_graph(model, strict if isinstance(strict, bool) else None)
    hw, board = hardware_for_spec(g, **hw_opts)
    shape = g.nodes[_input_name(g)]["out_shape"]
    if input_path is not None:
        input_header(input_path, shape)   # checked before the budget and any loading
    tiled = engine in ("golden", "cyclesim")
    b = build(model, **opts, eval_n=1, hw=hw, engine=engine if tiled else "golden",  # type: ignore[arg-type]
              graph=g)
    if input_path is None:
        x = quantize_input(b.qnet, calibration_inputs(shape, 1, seed + 1)[0])
    else:
        x = _one_input(input_path, b.qnet, shape)
    a = hw.array
    header = f"{b.qnet.name} on {a.rows}x{a.cols} {a.dataflow.value}, engine {engine}, seed {seed}"
    if not tiled:
        from ...boards.profiles import axi_width_of
        from ...rtlsim.bounds import MAX_RTL_CYCLES
        from .verify_machine import run_program, run_rtl

        fuse = not no_fuse_pool
        bad = (run_program(header, b, hw, x, fuse_pool=fuse) if engine == "program" else
               run_rtl(model, header, b, hw, board, x,
                       bus_bits=axi_width_of(board, None if bus_bits is None else int(bus_bits)),
                       max_cycles=MAX_RTL_CYCLES if max_cycles is None else max_cycles,
                       pause=backpressure, seed=seed, fuse_pool=fuse))
        if bad == "error":
            raise SystemExit(1)
        if bad is not None:
            click.echo(f"mismatch: {bad}", err=True)
            raise SystemExit(1)
        return
    click.echo(header)
    res = run_verify(lower(b.graph, hw), b.qnet, x, engine)
    width = max(len(c.name) for c in res.layers)
    click.echo(f"{'layer':<{width}}  {'unit':<5}  {'tiles':>6}  {'cycles':>10}  "
               f"{'predicted':>10}  match")
    for c in res.layers:
        mark = ("yes" if c.match else f"NO ({c.mismatches} elements)")
        if c.cycle_mismatch is not None:
            mark += ", cycles differ"
        note = f"  ({c.unit} into {c.host})" if c.host != c.name else ""
        click.echo(f"{c.name:<{width}}  {c.unit:<5}  {c.tiles:>6}  {c.cycles:>10}  "
                   f"{c.predicted_cycles:>10}  {mark}{note}")
    click.echo(f"total cycles {res.cycles} (predicted {res.predicted_cycles})")
    mis, cmis = res.first_mismatch, res.first_cycle_mismatch
    if mis is not None:
        click.echo(f"mismatch: {mis}", err=True)
    elif cmis is not None:
        click.echo(f"cycle mismatch: layer {cmis.layer!r} tile {cmis.tile}: predicted "
                   f"{cmis.predicted}, measured {cmis.measured}", err=True)
    if not res.ok:
        raise SystemExit(1)
    click.echo("all layers match")


def _one_input(path: str, qnet, shape):  # type: ignore[no-untyped-def]
    """One image from ``path`` in the network's input format (integer .npy kept as is)."""
    from ...errors import DataError
    from ...numerics.golden import quantize_input
    from ...numerics.weights import input_header, load_input

    integer = input_header(path, shape).dtype.kind in "iu"
    f = qnet.input_format
    batch = load_input(path, shape, integer=integer, lo=f.lo, hi=f.hi)
    if len(batch) != 1:
        raise DataError(f"{path}: verify runs one image, got a batch of {len(batch)}")
    return batch[0] if integer else quantize_input(qnet, batch[0])
