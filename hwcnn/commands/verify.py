"""``hwcnn verify``: run the lowered network tile by tile and compare with the golden model."""

from __future__ import annotations

import click

from ..perf_cli import hardware_options
from .common import model_argument, strict_option


@click.command()
@model_argument
@hardware_options()
@click.option("--engine", type=click.Choice(["golden", "cyclesim"]), default="golden",
              show_default=True,
              help="golden: golden-model kernels per tile (fast); cyclesim: the stepped "
                   "register-level model per tile (slow, small networks).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random weights, calibration inputs and the test input.")
@strict_option
def verify(model: str, engine: str, seed: int, strict: bool | None, **hw_opts: object) -> None:
    """Lower MODEL.yaml onto the array, execute every tile (operands gathered as the tile
    describes, K-split chains, pool bands) and compare every layer bit for bit with the golden
    network, and every tile's cycles with the lowering's prediction.

    Exit status 0 when everything matches, 1 on the first mismatch (one line naming layer,
    tile, coordinate and values), 2 on bad input.
    """
    from ..golden import quantize_input
    from ..lower import lower
    from ..perf_cli import hardware_for_spec
    from ..quantize import calibration_inputs
    from ..verify import verify as run_verify
    from .quantize import _input_name, build

    b = build(model, weights=None, calib=None, calib_n=4, seed=seed, act_bits=None,
              weight_bits=None, per_tensor=False, calibration="maxabs", percentile=99.99,
              scales="real", rounding="half_up", strict=strict)
    hw, _ = hardware_for_spec(b.graph, **hw_opts)
    shape = b.graph.nodes[_input_name(b.graph)]["out_shape"]
    x = quantize_input(b.qnet, calibration_inputs(shape, 1, seed + 1)[0])
    res = run_verify(lower(b.graph, hw), b.qnet, x, engine)
    a = hw.array
    click.echo(f"{b.qnet.name} on {a.rows}x{a.cols} {a.dataflow.value}, engine {engine}, "
               f"seed {seed}")
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
