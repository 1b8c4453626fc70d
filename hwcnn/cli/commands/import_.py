"""``hwcnn import``: an ONNX model -> spec YAML (and its weights as ``.npz``)."""

from __future__ import annotations

import click

from ...frontend.onnx_import import SUPPORTED


def _operator_list() -> str:
    width = max(len(k) for k in SUPPORTED)
    return "\n".join(f"  {op.ljust(width)}  {what}" for op, what in SUPPORTED.items())


_HELP = f"""Import MODEL.onnx as a spec: write its YAML (to -o or stdout) and, with
--weights-out, its initializers as the .npz weights that `hwcnn quantize --weights` reads
(keys '<layer>.<param>', BatchNorm statistics kept).

Every other command also takes the .onnx file directly in place of MODEL.yaml. From PyTorch:
`torch.onnx.export(model, torch.randn(1, 3, 224, 224), "model.onnx")`, then
`hwcnn import model.onnx -o model.yaml`.

An operator hwcnn cannot represent is an error naming the node, its op type and its position;
nothing is written.

\b
Supported operators:
{_operator_list()}
"""


@click.command("import", help=_HELP)
@click.argument("model", metavar="MODEL.onnx")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the spec YAML to FILE instead of stdout.")
@click.option("--weights-out", type=click.Path(dir_okay=False),
              help="Write the model's weights to FILE (.npz keyed '<layer>.<param>').")
def import_(model: str, output: str | None, weights_out: str | None) -> None:
    from ...errors import DataError
    from ...frontend.onnx_import import load_onnx
    from ...graph.build import build_graph
    from ...numerics.weights import expected_shapes, optional_shapes
    from .common import emit

    imp = load_onnx(model)
    g = build_graph(imp.spec)  # the imported network must be a valid hwcnn graph
    if weights_out:
        # the keys and shapes hwcnn quantize --weights will demand (without float64 copies)
        want = expected_shapes(g)
        opt = optional_shapes(g)   # given scales (QDQ models) where they fit
        got = {k: tuple(v.shape) for k, v in imp.weights.items() if opt.get(k) != v.shape}
        if got != want:
            bad = sorted(set(got) ^ set(want)) or sorted(k for k in want if got[k] != want[k])
            raise DataError(f"{model}: imported weights do not fit the network ({bad[0]!r})")
        # the weights first: the larger write, the one more likely to fail (disk space)
        imp.write_npz(weights_out)
        click.echo(f"wrote {weights_out}", err=True)
    emit(imp.yaml, output)
