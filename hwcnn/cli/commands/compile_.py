"""``hwcnn compile``: a network -> program.bin, dram.bin and memory_map.json."""

from __future__ import annotations

import click

from ..options import hardware_options, max_memory_option
from .common import OUTPUT_DIR, model_argument, wrote
from .quantize import quant_options

_HW_KEYS = ("board", "array", "dataflow", "drain_rows", "clock_mhz", "dram_gbps", "buffers")


@click.command(name="compile")
@model_argument
@hardware_options()
@quant_options
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help=".npy image (C, H, W) written into the input region of dram.bin: integer "
                   "dtype = already in the input format, float = quantized here (default: the "
                   "region is zeros).")
@click.option("--dram-bytes", metavar="SIZE", default="4GiB", show_default=True,
              help="The DRAM window the program may address (e.g. 512M, 1GiB); every DMA "
                   "must stay inside it.")
@click.option("-o", "--out-dir", type=OUTPUT_DIR, required=True,
              help="Directory for program.bin, dram.bin and memory_map.json (created when "
                   "complete; its parent must exist).")
@click.option("--no-fuse-pool", "no_fuse_pool", is_flag=True,
              help="Store every conv's output to DRAM and LOAD it back for its pool (by "
                   "default a pool that is the only reader of a conv whose GEMM tiles hold "
                   "complete pool windows runs on the conv's output in the output buffer, "
                   "and the conv's value is not stored).")
@max_memory_option
def compile_(model: str, input_path: str | None, dram_bytes: str, out_dir: str,
             no_fuse_pool: bool, **opts: object) -> None:
    """Compile MODEL into the accelerator's instruction stream and DRAM image.

    program.bin holds 32-byte instructions (rtl/README.md section 9); dram.bin the initial
    DRAM image from offset 0 (program, packed weights and parameters, input); memory_map.json
    the regions, every layer's tensor (offset, shape, HWC layout, format; a conv pooled in
    the output buffer has none, see --no-fuse-pool) and the register values. Same inputs -> byte-identical files. Anything that does not fit the machine (a
    buffer range, the DRAM window, a field) is refused with one line.
    """
    from ...compiler.backend import compile_network
    from ...compiler.lowering import lower
    from ...compiler.mapjson import dumps, memory_map
    from ...fileio import STDOUT, write_files_atomic
    from ...isa.fields import to_bytes
    from ..options import hardware_for_spec, parse_size
    from .common import load_graph
    from .quantize import build
    from .verify import _one_input

    if out_dir == STDOUT:
        from ...errors import ConfigError

        raise ConfigError("-o: compile writes three files, give a directory")
    window = parse_size(dram_bytes, "--dram-bytes")
    hw_opts = {k: opts.pop(k) for k in _HW_KEYS}
    strict = opts["strict"]
    g = load_graph(model, strict if isinstance(strict, bool) else None)
    hw, _ = hardware_for_spec(g, **hw_opts)
    b = build(model, **opts, eval_n=0, hw=hw, graph=g)  # type: ignore[arg-type]
    x = None
    if input_path is not None:
        from ...numerics.weights import input_header
        from .quantize import _input_name

        input_header(input_path, g.nodes[_input_name(g)]["out_shape"])
        x = _one_input(input_path, b.qnet, g.nodes[_input_name(g)]["out_shape"])
    prog = lower(b.graph, hw)
    comp = compile_network(prog, b.qnet, dram_bytes=window, x=x, fuse_pool=not no_fuse_pool)
    files: dict[str, bytes | str] = {
        "program.bin": to_bytes(list(comp.insns)), "dram.bin": comp.image,
        "memory_map.json": dumps(memory_map(comp, prog, b.qnet))}
    for p in write_files_atomic(out_dir, files):
        wrote(str(p))
    a = hw.array
    click.echo(f"{comp.name} on {a.rows}x{a.cols} {a.dataflow.value}: {len(comp.insns)} "
               f"instructions, {len(comp.image)} bytes of DRAM image, "
               f"{comp.regions[-1].offset + comp.regions[-1].size} bytes mapped", err=True)
