"""``hwcnn wave``: a VCD waveform of one GEMM tile on the generated top level (Amaranth sim)."""

from __future__ import annotations

import click
import numpy as np

from ...arch.timing import gemm_tile_cycles
from ...errors import ConfigError
from ...fileio import STDOUT, write_text_atomic
from .common import OUTPUT_FILE, OUTPUT_HELP, wrote
from .tile import choose_tile, tile_options


def check_wave_path(output: str) -> None:
    """Only ``.vcd`` (or ``-``): the simulator writes VCD, and FST is refused in one line."""
    low = output.lower()
    if low.endswith(".fst"):
        raise ConfigError(f"{output}: Amaranth's simulator writes VCD only, not FST (write a "
                          f".vcd; GTKWave's vcd2fst converts it)")
    if output != STDOUT and not low.endswith(".vcd"):
        raise ConfigError(f"{output}: the waveform file must end in .vcd")


@click.command()
@tile_options
@click.option("-o", "--output", type=OUTPUT_FILE, required=True, metavar="FILE.vcd",
              help="The VCD file; " + OUTPUT_HELP)
def wave(gemm: str | None, layer: str | None, array: str, dataflow: str, drain_rows: str,
         seed: int, weights: str | None, output: str) -> None:
    """Simulate one GEMM tile on the generated accelerator (hwcnn_top, Amaranth's simulator)
    and write every signal to a VCD: the host writes of the operands, the descriptor, start,
    busy and done, the buffer reads, each PE's registers and the output writes, under the
    RTL's own names (README "Watching the array" lists the ones to look at first).
    bench.tile_cycle counts the tile's cycles: 0 while start is sampled, T when done is high
    (T = hwcnn.arch.timing.gemm_tile_cycles). Arrays up to 16x16. With --drain-rows 2 the
    drain writes a row pair per cycle (engine.out_wr and engine.out_wr2).

    Examples: hwcnn wave --gemm 3x3x3 --array 3x3 --dataflow ws -o tile.vcd;
    hwcnn wave --gemm 8x1x4 --array 4x4 --dataflow os --drain-rows 2 -o tile.vcd
    """
    from ...hw.wave import MAX_WAVE_PE_CYCLES, MAX_WAVE_SIDE, gemm_wave

    check_wave_path(output)
    tile = choose_tile(gemm, layer, array, dataflow, seed, weights=weights,
                       drain_rows=drain_rows, max_pe_cycles=MAX_WAVE_PE_CYCLES, what="a wave")
    arr = tile.hw.array
    if max(arr.rows, arr.cols) > MAX_WAVE_SIDE:
        raise ConfigError(f"--array: wave simulates arrays up to {MAX_WAVE_SIDE}x"
                          f"{MAX_WAVE_SIDE}, not {arr.rows}x{arr.cols}")
    w = gemm_wave(tile.a, tile.b, tile.hw)
    m, k, n = tile.dims
    lo, hi = -(1 << (arr.act_bits - 1)), (1 << (arr.act_bits - 1)) - 1
    if w.cycles != gemm_tile_cycles(m, n, k, arr) or not np.array_equal(
            w.out, np.clip(tile.a @ tile.b, lo, hi)):
        raise RuntimeError("the simulated tile disagrees with the closed form or A @ B")
    write_text_atomic(output, w.vcd)
    wrote(output, f": {tile.label}, done {w.cycles} cycles after start")
