"""torchvision architectures written as ``torch.onnx.export`` (eval mode, opset 17) writes
them, with onnx.helper, from the architecture definitions (torch is not a test dependency).

Used by the torchvision-equivalence tests, and to make the shipped MobileNetV3-Small and
EfficientNet-B0 specs: ``python -m tests.torchvision_onnx`` imports both graphs with
``hwcnn import`` and writes ``models/mobilenet_v3_small.yaml`` and
``models/efficientnet_b0.yaml``. Weights are ``ConstantOfShape`` nodes (as in the onnx
package's model-zoo graphs): only shapes matter here, and a 138M-parameter VGG costs no memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Net:
    """A tiny torch-like builder: each method appends the nodes the exporter emits."""

    def __init__(self, shape: tuple[int, ...], name: str = "torch_jit") -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape = shape
        self.name = name
        self.n = 0

    def _w(self, name: str, shape: tuple[int, ...]) -> str:
        self.inits.append(numpy_helper.from_array(np.array(shape, np.int64), f"{name}.shape"))
        self.nodes.append(helper.make_node(
            "ConstantOfShape", [f"{name}.shape"], [name],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.01])))
        return name

    def op(self, op: str, ins: list[str], scope: str = "", **attrs: object) -> str:
        self.n += 1
        out = f"{scope}/{op}_{self.n}" if scope else f"/{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, s: int = 1, p: int | None = None,
             g: int = 1, bias: bool = True, scope: str = "") -> str:
        p = (k - 1) // 2 if p is None else p
        name = f"{scope or 'conv'}{self.n + 1}"
        ins = [x, self._w(f"{name}.weight", (cout, cin // g, k, k))]
        if bias:
            ins.append(self._w(f"{name}.bias", (cout,)))
        return self.op("Conv", ins, scope, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                       group=g, dilations=[1, 1])

    def bn(self, x: str, c: int, scope: str = "") -> str:
        base = f"{scope or 'bn'}{self.n + 1}"
        ins = [x] + [self._w(f"{base}.{p}", (c,)) for p in ("weight", "bias", "mean", "var")]
        return self.op("BatchNormalization", ins, scope, epsilon=1e-5)

    def act(self, x: str, kind: str, scope: str = "") -> str:
        match kind:
            case "relu":
                return self.op("Relu", [x], scope)
            case "relu6":
                if "six" not in {i.name for i in self.inits}:
                    self.inits += [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
                                   numpy_helper.from_array(np.array(6.0, np.float32), "six")]
                return self.op("Clip", [x, "zero", "six"], scope)
            case "hardswish":
                return self.op("HardSwish", [x], scope)
            case "hardsigmoid":
                return self.op("HardSigmoid", [x], scope, alpha=1 / 6, beta=0.5)
            case "silu":  # the exporter writes SiLU as x * Sigmoid(x)
                return self.op("Mul", [x, self.op("Sigmoid", [x], scope)], scope)
            case "sigmoid":
                return self.op("Sigmoid", [x], scope)
        raise ValueError(kind)

    def maxpool(self, x: str, k: int, s: int, p: int = 0, ceil: bool = False) -> str:
        return self.op("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                       ceil_mode=int(ceil))

    def gap(self, x: str, scope: str = "") -> str:
        return self.op("GlobalAveragePool", [x], scope)

    def flatten(self, x: str) -> str:
        return self.op("Flatten", [x], axis=1)

    def linear(self, x: str, fin: int, fout: int, scope: str = "") -> str:
        name = f"{scope or 'fc'}{self.n + 1}"
        return self.op("Gemm", [x, self._w(f"{name}.weight", (fout, fin)),
                                self._w(f"{name}.bias", (fout,))], scope, alpha=1.0, beta=1.0,
                       transB=1)

    def se(self, x: str, c: int, squeeze: int, inner: str, gate: str, scope: str) -> str:
        """Squeeze-excitation: pool, 1x1 conv, act, 1x1 conv, gate, scale (torchvision's)."""
        s = self.gap(x, f"{scope}/avgpool")
        s = self.act(self.conv(s, c, squeeze, 1, scope=f"{scope}/fc1"), inner, f"{scope}/act1")
        s = self.act(self.conv(s, squeeze, c, 1, scope=f"{scope}/fc2"), gate, f"{scope}/gate")
        return self.op("Mul", [x, s], scope)

    def model(self, out: str) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, self.name,
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, list(self.shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v3_small() -> onnx.ModelProto:
    """torchvision ``mobilenet_v3_small`` (width 1.0, 224x224): 2,542,856 parameters."""
    net = Net((1, 3, 224, 224), "mobilenet_v3_small")

    def cba(x: str, cin: int, cout: int, k: int, s: int, g: int, act: str | None, scope: str) -> str:
        y = net.bn(net.conv(x, cin, cout, k, s, g=g, bias=False, scope=scope), cout, scope)
        return net.act(y, act, scope) if act else y

    x = cba("input.1", 3, 16, 3, 2, 1, "hardswish", "/features.0")
    # input, kernel, expanded, out, SE, activation, stride (torchvision's bneck_conf table)
    conf = [(16, 3, 16, 16, True, "relu", 2), (16, 3, 72, 24, False, "relu", 2),
            (24, 3, 88, 24, False, "relu", 1), (24, 5, 96, 40, True, "hardswish", 2),
            (40, 5, 240, 40, True, "hardswish", 1), (40, 5, 240, 40, True, "hardswish", 1),
            (40, 5, 120, 48, True, "hardswish", 1), (48, 5, 144, 48, True, "hardswish", 1),
            (48, 5, 288, 96, True, "hardswish", 2), (96, 5, 576, 96, True, "hardswish", 1),
            (96, 5, 576, 96, True, "hardswish", 1)]
    for i, (cin, k, exp, cout, use_se, act, s) in enumerate(conf, start=1):
        sc = f"/features.{i}"
        y = x if exp == cin else cba(x, cin, exp, 1, 1, 1, act, f"{sc}/expand")
        y = cba(y, exp, exp, k, s, exp, act, f"{sc}/dw")
        if use_se:
            y = net.se(y, exp, make_divisible(exp // 4), "relu", "hardsigmoid", f"{sc}/se")
        y = cba(y, exp, cout, 1, 1, 1, None, f"{sc}/project")
        x = net.op("Add", [y, x], sc) if s == 1 and cin == cout else y
    x = cba(x, 96, 576, 1, 1, 1, "hardswish", "/features.12")
    x = net.flatten(net.gap(x, "/avgpool"))
    x = net.act(net.linear(x, 576, 1024, "/classifier.0"), "hardswish", "/classifier.1")
    return net.model(net.linear(x, 1024, 1000, "/classifier.3"))


def efficientnet_b0() -> onnx.ModelProto:
    """torchvision ``efficientnet_b0`` (224x224): 5,288,548 parameters."""
    net = Net((1, 3, 224, 224), "efficientnet_b0")

    def cba(x: str, cin: int, cout: int, k: int, s: int, g: int, act: bool, scope: str) -> str:
        y = net.bn(net.conv(x, cin, cout, k, s, g=g, bias=False, scope=scope), cout, scope)
        return net.act(y, "silu", scope) if act else y

    x = cba("input.1", 3, 32, 3, 2, 1, True, "/features.0")
    # expand ratio, kernel, stride, input, output, layers (torchvision's MBConvConfig table)
    conf = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
            (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
    for stage, (t, k, s, cin0, cout, n) in enumerate(conf, start=1):
        for j in range(n):
            cin, stride = (cin0, s) if j == 0 else (cout, 1)
            sc = f"/features.{stage}.{j}"
            exp = cin * t
            y = x if t == 1 else cba(x, cin, exp, 1, 1, 1, True, f"{sc}/expand")
            y = cba(y, exp, exp, k, stride, exp, True, f"{sc}/dw")
            y = net.se(y, exp, max(1, cin // 4), "silu", "sigmoid", f"{sc}/se")
            y = cba(y, exp, cout, 1, 1, 1, False, f"{sc}/project")
            x = net.op("Add", [y, x], sc) if stride == 1 and cin == cout else y
    x = cba(x, 320, 1280, 1, 1, 1, True, "/features.8")
    x = net.flatten(net.gap(x, "/avgpool"))
    return net.model(net.linear(x, 1280, 1000, "/classifier.1"))


SHIPPED = {"mobilenet_v3_small": mobilenet_v3_small, "efficientnet_b0": efficientnet_b0}


def main(out_dir: str = "models") -> None:
    """Write the shipped specs by importing the graphs (``hwcnn import``)."""
    from hwcnn.frontend.onnx_import import import_model

    for name, build in SHIPPED.items():
        imp = import_model(build(), file=f"{name}.onnx")
        text = imp.yaml.replace(f"# imported from {name}.onnx by hwcnn import\n",
                                f"# {name} as torchvision builds it, imported by hwcnn import from the\n"
                                "# ONNX graph of tests/torchvision_onnx.py (python -m tests.torchvision_onnx)\n")
        Path(out_dir, f"{name}.yaml").write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
