"""``hwcnn rtl``: write the accelerator's Verilog for one array configuration."""

from __future__ import annotations

import click

from ...arch.config import ArrayConfig, Dataflow, HardwareConfig
from ...fileio import STDOUT
from ...hw.params import BufferDepths
from ..options import max_memory_option
from .common import OUTPUT_DIR


@click.command()
@click.option("--rows", type=int, required=True, help="Array rows R.")
@click.option("--cols", type=int, required=True, help="Array columns C.")
@click.option("--dataflow", default="ws", show_default=True,
              help="ws (weight stationary) or os (output stationary).")
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
@click.option("-o", "--out-dir", type=OUTPUT_DIR, required=True,
              help="Directory for hwcnn_top.v, or '-' to print it. A new directory (its "
                   "parent must exist) appears only once complete; in an existing one each "
                   "file is replaced atomically.")
@max_memory_option
def rtl(rows: int, cols: int, dataflow: str, act_bits: int, weight_bits: int, acc_bits: int,
        act_depth: int, weight_depth: int, out_depth: int, param_depth: int, acc_depth: int,
        out_dir: str, max_memory: int) -> None:
    """Generate reproducible Verilog (top module hwcnn_top) for an R x C systolic array.

    Same options -> byte-identical output (no timestamps or paths). The host interface, the
    tile descriptor and the exact cycle counts are documented in rtl/README.md. Arrays of
    more than 1,024 PEs or buffers of more than 4 Mbit are refused (elaboration time and
    memory measured in hwcnn/hw/elaboration.py).
    """
    from ...hw import rtlgen
    from ...hw.elaboration import check_elaboration

    config = HardwareConfig(array=ArrayConfig(
        rows=rows, cols=cols, dataflow=Dataflow.parse(dataflow), act_bits=act_bits,
        weight_bits=weight_bits, acc_bits=acc_bits))
    depths = BufferDepths(act=act_depth, weight=weight_depth, out=out_depth,
                          param=param_depth, acc=acc_depth)
    check_elaboration(config, depths, max_memory)
    if out_dir == STDOUT:
        for text in rtlgen.generate(config, depths).values():
            click.echo(text, nl=False)
        return
    for p in rtlgen.write(config, depths, out_dir):
        click.echo(str(p))
