"""``hwcnn run``: execute the golden integer model and save layer outputs to .npz."""

from __future__ import annotations

import io
import zipfile

import click
import numpy as np

from ...errors import ConfigError
from ...fileio import write_bytes_atomic
from ..options import max_memory_option
from .common import OUTPUT_FILE, OUTPUT_HELP, load_graph, model_argument, wrote
from .quantize import _input_name, build, quant_options


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A .npz (readable by ``numpy.load``) with fixed timestamps, so output is reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


@click.command()
@model_argument
@quant_options
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help=".npy input: one image (C, H, W) or a batch (N, C, H, W). Integer dtype = "
                   "already quantized to the input format; float dtype = quantized here.")
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help=".npz to write: one int array per layer, keyed by layer name; " + OUTPUT_HELP)
@click.option("--layers", help="Comma-separated layer names to save (default: every layer).")
@max_memory_option
def run(model: str, input_path: str, output: str, layers: str | None, **opts: object) -> None:
    """Run MODEL.yaml in the bit-exact golden model on --input and write integer outputs.

    Layers folded or fused into another (BatchNorm, ReLU after a conv, dropout, softmax) hold
    the output of the layer they were fused into. With a batch input each array gets a leading
    N axis. The network is quantized with the same options as ``hwcnn quantize``.
    """
    from ...numerics.golden import quantize_input, run_network
    from ...numerics.weights import batch_size, input_header, load_input

    g = load_graph(model, opts["strict"])  # type: ignore[arg-type]
    in_shape = g.nodes[_input_name(g)]["out_shape"]
    head = input_header(input_path, in_shape)
    n = batch_size(head, in_shape)
    b = build(model, **opts, eval_n=n, kept_n=n, graph=g)  # type: ignore[arg-type]
    qnet = b.qnet
    names = [n.strip() for n in layers.split(",")] if layers else list(qnet.alias)
    unknown = [n for n in names if n not in qnet.alias]
    if unknown or not names:
        raise ConfigError(f"--layers: {unknown[0]!r} is not a layer of {model}" if unknown
                          else "--layers: no layer named")
    f = qnet.input_format
    integer = head.dtype.kind in "iu"
    batch = load_input(input_path, in_shape, integer=integer, lo=f.lo, hi=f.hi)
    single = head.shape == tuple(in_shape.as_list())
    results = []
    for x in batch:
        xi = x if integer else quantize_input(qnet, x)
        res = run_network(qnet, xi)
        results.append({n: res.tensor(qnet, n) for n in names})
    arrays = {n: (results[0][n] if single else np.stack([r[n] for r in results]))
              .astype(np.int32 if qnet.policy.act_bits > 16 else np.int16
                      if qnet.policy.act_bits > 8 else np.int8) for n in names}
    write_bytes_atomic(output, npz_bytes(arrays))
    wrote(output, f" ({len(arrays)} layers, {len(batch)} input"
                  f"{'s' if len(batch) != 1 else ''})")

