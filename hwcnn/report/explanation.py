"""Worked, lecture-style calculations for every layer (``hwcnn explain``).

The numbers come from the graph (the same :mod:`hwcnn.graph.shapes` / :mod:`hwcnn.graph.costs` values the
report prints); this module only spells out how they arise, e.g. ``(227 - 11 + 2*0)/4 + 1 = 55``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import networkx as nx

from ..frontend import layers as L
from ..graph.build import ordered_nodes
from ..graph.shapes import Window


def _n(v: int) -> str:
    return f"{v:,}"


def _prod(dims: tuple[int, ...] | list[int]) -> str:
    return "*".join(str(d) for d in dims)


def _dims(dims: tuple[int, ...] | list[int]) -> str:
    """One number when every dimension agrees (``4``), else ``2x3``."""
    return str(dims[0]) if len(set(dims)) == 1 else "x".join(str(d) for d in dims)


def _padding(pad: object) -> str:
    """Padding as given: 'same', one number, ``2x3``, or ``(lo, hi)`` pairs when asymmetric."""
    if isinstance(pad, str):
        return pad
    pairs = [(p, p) if isinstance(p, int) else tuple(p) for p in pad]  # type: ignore[attr-defined]
    if all(lo == hi for lo, hi in pairs):
        return _dims([lo for lo, _ in pairs])
    return "x".join(f"({lo}, {hi})" for lo, hi in pairs)


def size_step(w: int, f: int, s: int, d: int, lo: int, hi: int, ceil_mode: bool, out: int) -> str:
    """One output-size calculation, e.g. ``(227 - 11 + 2*0)/4 + 1 = 55``."""
    kern = str(f) if d == 1 else f"({d}*({f}-1) + 1)"
    pad = f"2*{lo}" if lo == hi else f"{lo} + {hi}"
    frac = Fraction(w - (d * (f - 1) + 1) + lo + hi, s)
    expr = f"({w} - {kern} + {pad})/{s} + 1"
    exact = frac + 1
    if exact.denominator == 1:
        return f"{expr} = {out}"
    rule = "ceil" if ceil_mode else "floor"
    note = " (last window would start in the right padding: dropped)" if ceil_mode and out < math.ceil(exact) else ""
    return f"{expr} = {float(exact):.2f} -> {rule} {out}{note}"


def _window_lines(win: Window, in_shape: L.TensorShape) -> Iterator[str]:
    names = ("D", "H", "W")[-len(win.out):] if len(win.out) <= 3 else tuple(f"dim{i}" for i in range(len(win.out)))
    steps = [size_step(w, f, s, d, lo, hi, win.ceil_mode, o)
             for w, f, s, d, (lo, hi), o in zip(in_shape.spatial, win.kernel, win.stride, win.dilation,
                                                 win.pads, win.out)]
    if len(set(steps)) == 1:
        yield f"  output size: {steps[0]}"
    else:
        for name, step in zip(names, steps):
            yield f"  output {name}: {step}"


def explain_layer(name: str, node: dict[str, Any], bits: L.NumberFormats) -> list[str]:
    """Lines explaining one layer's shape, parameters, operations and memory."""
    layer: L.Layer = node["layer"]
    out: L.TensorShape = node["out_shape"]
    ins: tuple[L.TensorShape, ...] = node["in_shapes"]
    cost = node["cost"]
    win: Window | None = node["window"]
    lines = [f"{name} ({L.kind_name(layer)})"]
    match layer:
        case L.Input():
            lines.append(f"  input volume: {out.lecture()}")
        case L.Conv():
            x = ins[0]
            assert win is not None
            kern = "x".join(map(str, layer.kernel))
            extra = "".join([f", dilation {_dims(layer.dilation)}" if set(layer.dilation) != {1} else "",
                             f", groups {layer.groups}" if layer.groups > 1 else ""])
            lines.append(f"  {layer.filters} filters {kern}, stride {_dims(layer.stride)}, "
                         f"padding {_padding(layer.padding)}"
                         f"{extra}, on {x.lecture()}")
            lines.extend(_window_lines(win, x))
            lines.append(f"  output volume: {out.lecture()}")
            cin = x.channels // layer.groups
            per = f"({_prod(layer.kernel)}*{cin})" if layer.groups == 1 else f"({_prod(layer.kernel)}*{x.channels}/{layer.groups})"
            bias = f" + {layer.filters}" if layer.bias else ""
            lines.append(f"  parameters: {per}*{layer.filters}{bias} = {_n(cost.params)}")
            lines.append(f"  MACs = ops: {_prod(out.spatial)}*{out.channels} * {per} = {_n(cost.macs)}")
        case L.Pool() | L.GlobalAvgPool():
            x = ins[0]
            assert win is not None
            what = "global average pool" if isinstance(layer, L.GlobalAvgPool) else f"{layer.op.value} pool"
            extra = "".join([", ceil_mode" if win.ceil_mode else "",
                             f", dilation {_dims(win.dilation)}" if set(win.dilation) != {1} else "",
                             ", count_include_pad" if getattr(layer, "count_include_pad", False) else ""])
            lines.append(f"  {what} {'x'.join(map(str, win.kernel))}, stride {_dims(win.stride)}, "
                         f"padding {_padding(win.pads)}{extra}, on {x.lecture()}")
            lines.extend(_window_lines(win, x))
            lines.append(f"  output volume: {out.lecture()}")
            lines.append("  parameters: 0 (a fixed function of the input)")
            lines.append(f"  ops: {_prod(out.spatial)}*{out.channels} * ({_prod(win.kernel)}) = {_n(cost.ops)}")
        case L.Dense():
            x = ins[0]
            flat = f"{x.lecture()} = {x.size}" if x.rank else str(x.size)
            bias = f" + {layer.units}" if layer.bias else ""
            lines.append(f"  inputs: {flat} features, outputs: {layer.units}")
            lines.append(f"  parameters: ({x.size}*{layer.units}){bias} = {_n(cost.params)}")
            lines.append(f"  MACs = ops: {x.size}*{layer.units} = {_n(cost.macs)}")
        case L.Flatten():
            lines.append(f"  flatten: {_prod(ins[0].spatial + (ins[0].channels,))} = {out.size}")
        case L.BatchNorm():
            lines.append(f"  parameters: gamma and beta per channel: 2*{out.channels} = {_n(cost.params)} "
                         "(running mean/variance are buffers; folded into the previous conv for inference)")
        case L.Add():
            lines.append(f"  adds {len(ins)} tensors of {out.lecture()}: {_n(cost.eltwise_ops)} additions")
        case L.Concat():
            lines.append(f"  channels: {' + '.join(str(s.channels) for s in ins)} = {out.channels} -> {out.lecture()}")
        case L.AdaptiveAvgPool():
            x = ins[0]
            lines.append(f"  adaptive average pool {x.lecture()} -> {out.lecture()}: output i averages "
                         "input floor(i*W/O) .. ceil((i+1)*W/O) - 1 (PyTorch's windows)")
            lines.append("  parameters: 0 (a fixed function of the input)")
            lines.append(f"  ops: {out.channels} channels * (sum of window volumes) = {_n(cost.ops)}")
        case L.LRN(size=size):
            lines.append(f"  lrn across {size} channels on {out.lecture()}: ({size} squares summed "
                         f"+ 3: scale-and-offset, power, divide) = {size + 3} ops per element, "
                         f"{_n(out.size)}*{size + 3} = {_n(cost.eltwise_ops)}")
        case L.Nonlinear() | L.Mul():
            per = cost.eltwise_ops // max(out.size, 1)
            lines.append(f"  element-wise {L.kind_name(layer)} on {out.lecture()}: {per} op(s) per "
                         f"output element = {_n(cost.eltwise_ops)}")
        case L.Pad() | L.Resize() | L.ChannelShuffle():
            lines.append(f"  {L.kind_name(layer)}: {ins[0].lecture()} -> {out.lecture()} "
                         "(data movement, no arithmetic)")
        case _:
            lines.append(f"  shape unchanged: {out.lecture()}")
    if not isinstance(layer, L.Input):
        lines.append(f"  activations: {out.lecture()} = {_n(out.size)} elements = "
                     f"{_n(cost.activation_bytes)} bytes at {bits.activation_bits} bits")
    if cost.params:
        lines.append(f"  weight memory: {_n(cost.weights)}*{bits.weight_bits} bits + {_n(cost.biases)}*"
                     f"{bits.bias_bits} bits = {_n(cost.weight_bytes)} bytes")
    return lines


def explain(g: nx.DiGraph, layer: str | None = None) -> str:
    """The worked calculation of every layer (or only ``layer``)."""
    spec: L.NetworkSpec = g.graph["spec"]
    blocks = [explain_layer(name, node, spec.formats) for name, node in ordered_nodes(g)
              if layer is None or name == layer]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"


def _terms(terms: tuple[tuple[str, int], ...], op: str) -> tuple[str, str]:
    """``("k + C + R + 3", "36 + 4 + 4 + 3")`` style name and number rows of a formula."""
    return op.join(t for t, _ in terms), op.join(str(v) for _, v in terms)


def explain_cycles(g: nx.DiGraph, layer: str, hw: Any, board: Any = None) -> list[str]:
    """Lines working out the cycle count of one conv/dense layer's tiles on ``hw``.

    Every number comes from :mod:`hwcnn.arch.timing` (the closed form the RTL is measured
    against), the tiles from :func:`hwcnn.compiler.lower`, the stalls from
    :func:`hwcnn.report.perf.estimate`; this function only formats them.
    """
    from ..arch import timing
    from ..compiler.gather import gather_of
    from . import perf

    node = g.nodes[layer]
    gd = node["gemm"]
    arr = hw.array
    rows, program, _ = perf.estimate_program(g, hw, board)
    plan = next(p for p in program.layers if p.name == layer)
    row = next(r for r in rows if r.name == layer)
    flow = arr.dataflow.value.upper()
    lines = [(f"  cycles on a {arr.rows}x{arr.cols} {flow} array (R = {arr.rows}, C = {arr.cols}), "
             f"{hw.clock_mhz:g} MHz:")]
    grp = f", {gd.groups} groups" if gd.groups > 1 else ""
    lines.append(f"    GEMM (im2col): M = {gd.m} output positions, K = {gd.k} (one filter's "
                 f"weights), N = {gd.n} (outputs){grp}")
    if plan.pack > 1:
        p = plan.pack
        lines.append(f"    packed {p} groups per GEMM (block-diagonal weights, zeros off the "
                     f"diagonal): {gd.groups // p} GEMM{'s' if gd.groups > p else ''} of "
                     f"M = {gd.m}, K = {p}*{gd.k} = {p * gd.k}, N = {p}*{gd.n} = {p * gd.n}")
    shapes: dict[tuple[int, int, int], int] = {}
    for tile in plan.make_tiles():
        key = (tile.m, tile.n, tile.k)  # type: ignore[union-attr]
        shapes[key] = shapes.get(key, 0) + 1
    lines.append(f"    tiles: {plan.tiles} ("
                 + ", ".join(f"{c} of m={m} n={n} k={k}" for (m, n, k), c in shapes.items()) + ")")
    for (m, n, k), count in shapes.items():
        t = timing.gemm_tile_timing(m, n, k, arr)
        grid = timing.gemm_fold_grid(m, n, k, arr)
        period = timing.gemm_period_terms(m, k, arr)
        last = timing.gemm_last_fold_terms(m, k, arr)
        lp = sum(v for _, v in last)
        gn, gv = _terms(grid, " * ")
        pn, pv = _terms(period, ", ")
        ln, lv = _terms(last, " + ")
        lines += [
            f"    tile m={m} n={n} k={k} ({count} tile{'s' if count > 1 else ''}):",
            f"      folds G = {gn} = {gv} = {t.folds}",
            f"      fold period P = max({pn}) = max({pv}) = {t.fold_cycles}",
            f"      one fold, first read to done: {ln} = {lv} = {lp}",
            f"      start: {timing.START_CYCLES} (descriptor latched)",
            f"      steady state: G*P = {t.folds}*{t.fold_cycles} = {_n(t.folds * t.fold_cycles)}",
            f"      fill + drain, paid once: {lp} - P = {lp} - {t.fold_cycles} = {t.fill_cycles}",
            (f"      T = {timing.START_CYCLES} + {_n(t.folds * t.fold_cycles)} + {t.fill_cycles} "
            f"= {_n(t.total)} cycles per tile"),
        ]
    per = " + ".join(f"{c}*{_n(timing.gemm_tile_cycles(m, n, k, arr))}"
                     for (m, n, k), c in shapes.items())
    gather = gather_of(node, hw)
    stall = "double-buffered transfer model"
    if gather is not None:
        # planned for the complete accelerator: a tile's load lasts at least its A gather
        stall += ", loads at least the A gather"
        for m, k in sorted({(m, k) for (m, _, k) in shapes}):
            lines.append(f"    A gather of a tile of m={m} k={k} on the load unit (LOAD2D): "
                         + gather.explain(m, k, plan.pack))
    lines += [
        f"    compute: {per} = {_n(row.compute_cycles)} cycles",
        f"    DRAM stalls ({stall}): {_n(row.stall_cycles)} cycles",
        (f"    total: {_n(row.compute_cycles)} + {_n(row.stall_cycles)} = "
        f"{_n(row.total_cycles)} cycles = {row.latency_us:.3f} us at {hw.clock_mhz:g} MHz"),
    ]
    return lines
