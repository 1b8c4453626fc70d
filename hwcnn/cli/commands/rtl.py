"""``hwcnn rtl``: write the accelerator's Verilog for one array configuration."""

from __future__ import annotations

import click

from ...arch.config import ArrayConfig, Dataflow, HardwareConfig
from ...errors import ConfigError
from ...fileio import STDOUT, write_files_atomic
from ...hw.params import BufferDepths
from ..options import max_memory_option
from .common import OUTPUT_DIR


@click.command()
@click.option("--rows", type=int, help="Array rows R (default: the board's largest square).")
@click.option("--cols", type=int, help="Array columns C (default: the board's largest square).")
@click.option("--dataflow", default="ws", show_default=True,
              help="ws (weight stationary) or os (output stationary).")
@click.option("--drain-rows", metavar="1|2",
              help="Output stationary: result rows drained per cycle (2: two shadow registers "
                   "per PE, 2C requantizers, banked output/accumulator memories; rtl/README.md "
                   "5) [default: 1].")
@click.option("--act-bits", type=int, default=8, show_default=True)
@click.option("--weight-bits", type=int, default=8, show_default=True)
@click.option("--acc-bits", type=int, default=32, show_default=True)
@click.option("--act-depth", type=int, default=BufferDepths().act, show_default=True,
              help="Activation buffer words (R lanes each).")
@click.option("--weight-depth", type=int, default=BufferDepths().weight, show_default=True,
              help="Weight buffer words (C lanes each); also the largest tile K.")
@click.option("--out-depth", type=int, default=BufferDepths().out, show_default=True,
              help="Output buffer words (C lanes each).")
@click.option("--param-depth", type=int, default=BufferDepths().param, show_default=True,
              help="Parameter (bias/M0/shift) buffer words.")
@click.option("--acc-depth", type=int, default=BufferDepths().acc, show_default=True,
              help="Accumulator buffer words (weight stationary; the largest tile M).")
@click.option("--board", metavar="NAME",
              help="Size everything as `hwcnn report --board` does: the board's default array "
                   "and memories (or --buffers), checked against its resources; the depth "
                   "options are then derived, not given.")
@click.option("--buffers", metavar="KIB",
              help="Act/weight/out memories in KiB (one number or ACT,WEIGHT,OUT), converted "
                   "to word depths as the estimate counts them (parameter and accumulator "
                   "depths: the configuration defaults or the board's).")
@click.option("--top", type=click.Choice(["engine", "soc"]), default="engine", show_default=True,
              help="engine: the tile engine with its debug host port (hwcnn_top.v); soc: the "
                   "complete accelerator with AXI4-Lite registers and an AXI4 master "
                   "(hwcnn_soc.v, rtl/README.md section 10).")
@click.option("--bus-width", type=click.Choice(["64", "128", "256"]),
              help="AXI4 data width of --top soc in bits [default: the board's (boards.yaml "
                   "axi_bits: 128 on Zynq UltraScale+ boards, 64 on Zynq-7000) with --board, "
                   "else 64].")
@click.option("-o", "--out-dir", type=OUTPUT_DIR, required=True,
              help="Directory for hwcnn_top.v (hwcnn_soc.v), or '-' to print it. A new directory (its "
                   "parent must exist) appears only once complete; in an existing one each "
                   "file is replaced atomically.")
@max_memory_option
def rtl(rows: int | None, cols: int | None, dataflow: str, drain_rows: str | None,
        act_bits: int, weight_bits: int,
        acc_bits: int, act_depth: int, weight_depth: int, out_depth: int, param_depth: int,
        acc_depth: int, board: str | None, buffers: str | None, top: str, bus_width: str | None,
        out_dir: str, max_memory: int) -> None:
    """Generate reproducible Verilog (top module hwcnn_top, or hwcnn_soc with --top soc) for
    an R x C systolic array.

    With --board (and/or --buffers) the design is exactly the configuration `hwcnn report`
    estimates: the memories' word depths come from the buffer KiB, parameter and accumulator
    words of that configuration, and the board's resource use is printed on stderr; --top soc
    then takes the board's AXI width unless --bus-width is given.

    Same options -> byte-identical output (no timestamps or paths). The host interface, the
    tile descriptor and the exact cycle counts are documented in rtl/README.md. Arrays of
    more than 1,024 PEs or buffers of more than 4 Mbit are refused (elaboration time and
    memory measured in hwcnn/hw/elaboration.py).
    """
    from ...hw import rtlgen
    from ...hw.elaboration import check_elaboration

    if bus_width is not None and top != "soc":
        raise ConfigError("rtl: --bus-width applies to --top soc only")

    if board or buffers:
        from ..options import hardware_from_options

        if (rows is None) != (cols is None) or (rows is None and not board):
            raise ConfigError("--rows and --cols are required without --board")
        array = f"{rows}x{cols}" if rows is not None else None
        config, brd = hardware_from_options(board=board, array=array, dataflow=dataflow,
                                            buffers=buffers, drain_rows=drain_rows,
                                            act_bits=act_bits,
                                            weight_bits=weight_bits, acc_bits=acc_bits)
        depths = BufferDepths.for_config(config)
        if brd is not None:
            width = brd.axi_width if bus_width is None else int(bus_width)
            if top == "soc" and width != brd.axi_width:
                brd.check_fit(config, data_width=width)   # its FIFOs at the given width
            use = brd.usage(config, top=top, data_width=width)
            click.echo(f"{brd.id}: {use.multipliers} {use.multiplier_type}, {use.blocks:g} "
                       f"{use.block}" + (f" + {use.large_blocks} {use.large}"
                                         if use.large_blocks else "")
                       + f", ~{use.luts} LUTs" + (f", {width}-bit AXI" if top == "soc" else ""),
                       err=True)
            if bus_width is None:
                bus_width = str(brd.axi_width)
    else:
        if rows is None or cols is None:
            raise ConfigError("--rows and --cols are required without --board")
        from ..options import parse_drain_rows

        flow = Dataflow.parse(dataflow)
        config = HardwareConfig(array=ArrayConfig(
            rows=rows, cols=cols, dataflow=flow, act_bits=act_bits,
            weight_bits=weight_bits, acc_bits=acc_bits,
            drain_rows=parse_drain_rows(drain_rows, flow, rows, cols) if drain_rows else 1))
        depths = BufferDepths(act=act_depth, weight=weight_depth, out=out_depth,
                              param=param_depth, acc=acc_depth)
    check_elaboration(config, depths, max_memory)
    if top == "soc":
        from ...hw.soc.ports import SocParams

        params = SocParams(config=config, depths=depths, data_width=int(bus_width or 64))
        files = rtlgen.generate_soc(params)
    else:
        files = rtlgen.generate(config, depths)
    if out_dir == STDOUT:
        for text in files.values():
            click.echo(text, nl=False)
        return
    for p in write_files_atomic(out_dir, files):
        click.echo(str(p))
