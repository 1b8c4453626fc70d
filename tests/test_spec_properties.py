"""Property tests of the spec -> graph -> report stage on random layer stacks.

Two properties:

1. Robustness: for any stack of layer entries (valid, nonsense values, deleted fields, dangling
   names), ``parse_spec`` + ``build_graph`` + ``budget_report`` (+ JSON rendering and ``explain``)
   either succeed or raise :class:`hwcnn.errors.SpecError` -- never any other exception. Each
   family of damage is its own test so one bug does not hide the others.
2. Exactness: for valid conv/pool chains the output sizes, parameter counts and MACs equal an
   independent formula written here (the lecture's), not the code's own helpers::

       out    = floor((W - d*(F-1) - 1 + 2P) / S) + 1        ('same': ceil(W / S))
       params = K * (F_h*F_w*C/groups + 1)                     (no "+1" without bias)
       MACs   = H_out*W_out*K * F_h*F_w*C/groups
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from hwcnn.errors import SpecError
from hwcnn.frontend.spec import parse_spec
from hwcnn.graph.build import build_graph
from hwcnn.report.explanation import explain
from hwcnn.report.tables import budget_report, render

# Parsing goes through the spec loader's pure-Python YAML (~15 ms per example), so the example
# counts are chosen to keep this whole file under ~20 s on one core. No shrink phase: shrinking a
# failure costs thousands of parses (minutes); the unshrunk stack is a few layers and readable.
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    phases=(Phase.explicit, Phase.reuse, Phase.generate))
FEWER = settings(SETTINGS, max_examples=120)
FEWEST = settings(SETTINGS, max_examples=40)
#: The C dumper when PyYAML has libyaml (only writing the test input; the loader is hwcnn's).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False)

KINDS = ("conv2d", "maxpool", "avgpool", "dense", "relu", "flatten", "batchnorm", "add", "concat")

#: Values that are wrong in most places: wrong types, out of range, wrong lengths, odd floats.
#: Integral floats (3.0) are kept out of here and get their own test (a separate bug class).
JUNK = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([0, -1, -7, 10**9, 2**70, 3.5, 0.5, float("nan"), float("inf"), -float("inf"),
                     "abc", "", "3", "same", "valid", "relu", "$x", True, False, None,
                     [], [2], [2, 2], [2, 2, 2], [2, 2, 2, 2], [0, 1], [-1, 2], [2.5, 2], ["a", "b"],
                     [[1]], {}, {"a": 1}]),
)


# -- generators of plausible layer entries ---------------------------------------------------


def _size(draw: st.DrawFn, lo: int = 1, hi: int = 5) -> int | list[int]:
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)), draw(st.integers(lo, hi))]


@st.composite
def plausible_entry(draw: st.DrawFn, index: int, earlier: list[str]) -> dict[str, Any]:
    """A layer entry with sensible-looking but unchecked values (may still not fit its input)."""
    kind = draw(st.sampled_from(KINDS))
    e: dict[str, Any] = {"name": f"l{index}", "kind": kind}
    if kind == "conv2d":
        e["filters"] = draw(st.integers(1, 8))
        e["kernel"] = _size(draw)
        for key, value in (("stride", _size(draw, 1, 3)), ("dilation", _size(draw, 1, 2)),
                           ("padding", draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])))),
                           ("groups", draw(st.sampled_from([1, 1, 2, 4]))),
                           ("bias", draw(st.booleans())),
                           ("activation", draw(st.sampled_from(["relu", "relu6", "none"])))):
            if draw(st.booleans()):
                e[key] = value
    elif kind in ("maxpool", "avgpool"):
        e["kernel"] = _size(draw, 1, 3)
        if draw(st.booleans()):
            e["stride"] = _size(draw, 1, 3)
        if draw(st.booleans()):
            e["padding"] = draw(st.integers(0, 1))
        if draw(st.booleans()):
            e["ceil_mode"] = draw(st.booleans())
    elif kind == "dense":
        e["units"] = draw(st.integers(1, 16))
        if draw(st.booleans()):
            e["bias"] = draw(st.booleans())
    elif kind == "batchnorm" and draw(st.booleans()):
        e["eps"] = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    elif kind in ("add", "concat"):
        pool = [*earlier, "input"]
        e["inputs"] = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=3))
    return e


@st.composite
def plausible_doc(draw: st.DrawFn) -> dict[str, Any]:
    """A whole spec document whose layers look sensible (shapes unchecked)."""
    c = draw(st.integers(1, 8))
    h = draw(st.integers(1, 16))
    w = draw(st.integers(1, 16))
    layers: list[dict[str, Any]] = []
    names: list[str] = []
    for i in range(draw(st.integers(1, 6))):
        e = draw(plausible_entry(i, names))
        layers.append(e)
        names.append(e["name"])
    doc: dict[str, Any] = {"name": "prop", "input": [c, h, w], "layers": layers}
    if draw(st.booleans()):
        doc["strict"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["formats"] = {"weight_bits": draw(st.integers(2, 16)), "activation_bits": draw(st.integers(2, 16))}
    return doc


# -- the property ----------------------------------------------------------------------------


def _run(doc: Any) -> None:
    """The stage under test; returns normally or raises SpecError (anything else fails the test)."""
    text = _dump(doc)
    try:
        spec = parse_spec(text, file="prop.yaml")
    except SpecError as exc:
        assert str(exc).startswith("prop.yaml"), f"error does not name the file: {exc}"
        assert "\n" not in str(exc), f"error is not one line: {str(exc)!r}"
        return
    try:
        # build_graph errors name layer and line; the CLI adds the file (SpecError.located).
        g = build_graph(spec)
        report = budget_report(g)
        render(report, "json")
        render(report, "csv")
        explain(g)
    except SpecError as exc:
        assert "\n" not in str(exc), f"error is not one line: {str(exc)!r}"
        return
    for row in (*report.rows, *(t for _, t in report.totals)):
        for key, value in row.items():
            if key in ("name", "kind", "inputs"):
                continue
            cells = value if isinstance(value, list) else [value]
            assert all(type(v) is int for v in cells), f"non-integer {key}={value!r} in report of\n{text}"


def _mutate(draw: st.DrawFn, doc: dict[str, Any], value: st.SearchStrategy[Any]) -> dict[str, Any]:
    """Overwrite 1-3 random fields (of layers or of the top level) with ``value`` draws."""
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 5)) == 0:
            key = draw(st.sampled_from(["input", "name", "strict", "formats", "layers"]))
            doc[key] = draw(value)
            continue
        layers = doc.get("layers")
        if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict):
            continue
        entry = draw(st.sampled_from(layers))
        fields = ["filters", "kernel", "stride", "padding", "dilation", "groups", "units", "bias",
                  "activation", "eps", "ceil_mode", "inputs", "name", "kind", *entry]
        entry[draw(st.sampled_from(fields))] = draw(value)
    return doc


@st.composite
def junk_doc(draw: st.DrawFn) -> dict[str, Any]:
    return _mutate(draw, draw(plausible_doc()), JUNK)


@st.composite
def integral_float_doc(draw: st.DrawFn) -> dict[str, Any]:
    """Sizes written as whole floats (``kernel: 3.0``, ``input: [1, 8.0, 8]``)."""
    return _mutate(draw, draw(plausible_doc()), st.sampled_from([1.0, 2.0, 3.0, 4.0, [2.0, 2], [3, 3.0]]))


@st.composite
def deleted_fields_doc(draw: st.DrawFn) -> dict[str, Any]:
    doc = draw(plausible_doc())
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 4)) == 0:
            doc.pop(draw(st.sampled_from(["name", "input", "layers"])), None)
            continue
        layers = doc.get("layers", [])
        if layers:
            entry = draw(st.sampled_from(layers))
            if entry:
                entry.pop(draw(st.sampled_from(sorted(entry))))
    return doc


@st.composite
def dangling_doc(draw: st.DrawFn) -> dict[str, Any]:
    """Inputs naming later layers, unknown layers or the layer itself (cycles, forward refs)."""
    doc = draw(plausible_doc())
    names = [e["name"] for e in doc["layers"]]
    for entry in doc["layers"]:
        if draw(st.integers(0, 2)) == 0:
            entry["inputs"] = draw(st.lists(st.sampled_from([*names, "input", "nope", "$input"]),
                                            min_size=1, max_size=3))
    return doc


@FEWER
@given(plausible_doc())
def test_plausible_stacks_report_or_spec_error(doc: dict[str, Any]) -> None:
    _run(doc)


@SETTINGS
@given(junk_doc())
def test_nonsense_values_report_or_spec_error(doc: dict[str, Any]) -> None:
    _run(doc)


@SETTINGS
@given(integral_float_doc())
def test_whole_float_sizes_report_or_spec_error(doc: dict[str, Any]) -> None:
    _run(doc)


@FEWER
@given(deleted_fields_doc())
def test_deleted_fields_report_or_spec_error(doc: dict[str, Any]) -> None:
    _run(doc)


@FEWER
@given(dangling_doc())
def test_dangling_and_cyclic_inputs_report_or_spec_error(doc: dict[str, Any]) -> None:
    _run(doc)


@SETTINGS
@given(st.one_of(JUNK, st.lists(JUNK, max_size=3), st.dictionaries(st.sampled_from(["name", "input", "layers"]), JUNK)))
def test_arbitrary_documents_report_or_spec_error(doc: Any) -> None:
    _run(doc)


# -- exactness on valid conv/pool chains -----------------------------------------------------


def _pair(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _expected_out(w: int, f: int, s: int, d: int, p: int) -> int | None:
    """Lecture formula; None when the (dilated) window does not fit the padded input."""
    if d * (f - 1) + 1 > w + 2 * p:
        return None
    return (w - d * (f - 1) - 1 + 2 * p) // s + 1


def _pool_out(w: int, f: int, s: int, p: int, ceil_mode: bool) -> int | None:
    if f > w + 2 * p:
        return None
    if not ceil_mode:
        return (w + 2 * p - f) // s + 1
    out = math.ceil((w + 2 * p - f) / s) + 1
    # PyTorch: the last window must start inside the input or the left padding.
    return out - 1 if (out - 1) * s >= w + p else out


@st.composite
def chain_with_input(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
    """A valid-or-misfit chain of conv2d/pool layers, its input and per-layer expectations."""
    c = draw(st.integers(1, 6))
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    doc, expected = draw(_chain_from(c, h, w))
    doc["input"] = [c, h, w]
    return doc, expected, [c, h, w]


@st.composite
def _chain_from(draw: st.DrawFn, c: int, h: int, w: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    layers, expected = [], []
    for i in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 2)):
            k = draw(st.integers(1, 6))
            g = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0 and k % d == 0]))
            fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            same = draw(st.integers(0, 4)) == 0
            p = draw(st.integers(0, 2))
            bias = draw(st.booleans())
            e = {"name": f"c{i}", "kind": "conv2d", "filters": k,
                 "kernel": fh if fh == fw and draw(st.booleans()) else [fh, fw],
                 "stride": [sh, sw], "dilation": [dh, dw], "groups": g, "bias": bias,
                 "padding": "same" if same else p}
            if same:
                oh, ow = -(-h // sh), -(-w // sw)
            else:
                oh, ow = _expected_out(h, fh, sh, dh, p), _expected_out(w, fw, sw, dw, p)
            per_filter = fh * fw * c // g
            fits = oh is not None and ow is not None
            exp = {"fits": fits, "shape": [k, oh, ow], "params": k * (per_filter + (1 if bias else 0)),
                   "macs": oh * ow * k * per_filter if fits else None}
            c = k
        else:
            f = draw(st.integers(1, 4))
            s = draw(st.one_of(st.none(), st.integers(1, 3)))
            p = draw(st.integers(0, f // 2))
            ceil_mode = draw(st.booleans())
            e = {"name": f"p{i}", "kind": draw(st.sampled_from(["maxpool", "avgpool"])), "kernel": f,
                 "padding": p, "ceil_mode": ceil_mode}
            if s is not None:
                e["stride"] = s
            stride = f if s is None else s
            oh, ow = _pool_out(h, f, stride, p, ceil_mode), _pool_out(w, f, stride, p, ceil_mode)
            exp = {"fits": oh is not None and ow is not None, "shape": [c, oh, ow], "params": 0, "macs": 0}
        layers.append(e)
        expected.append(exp)
        if not exp["fits"]:
            break
        h, w = oh, ow
    return {"name": "chain", "layers": layers}, expected


@FEWER
@given(chain_with_input())
def test_conv_pool_chain_matches_lecture_formulas(case: tuple[dict[str, Any], list[dict[str, Any]], list[int]]) -> None:
    doc, expected, _ = case
    text = _dump(doc)
    if not expected[-1]["fits"]:
        with pytest.raises(SpecError, match="larger than the padded input"):
            build_graph(parse_spec(text, file="chain.yaml"))
        return
    g = build_graph(parse_spec(text, file="chain.yaml"))
    for entry, exp in zip(doc["layers"], expected):
        node = g.nodes[entry["name"]]
        assert node["out_shape"].as_list() == exp["shape"], (entry, text)
        assert node["cost"].params == exp["params"], (entry, text)
        assert node["cost"].macs == exp["macs"], (entry, text)
    rows = {r["name"]: r for r in budget_report(g).rows}
    assert rows[doc["layers"][-1]["name"]]["output_shape"] == expected[-1]["shape"]
    assert budget_report(g).totals[0][1]["params"] == sum(e["params"] for e in expected)


def test_formula_helpers_on_lecture_examples() -> None:
    """The test's own oracle, checked on the lecture's worked numbers."""
    assert _expected_out(227, 11, 4, 1, 0) == 55          # AlexNet conv1
    assert _expected_out(32, 5, 1, 1, 2) == 32            # 'same'-size 5x5 with P=2
    assert _expected_out(7, 3, 2, 1, 0) == 3
    assert _expected_out(7, 3, 1, 2, 0) == 3              # dilated extent 5
    assert _expected_out(4, 5, 1, 1, 0) is None
    assert _pool_out(55, 3, 2, 0, False) == 27            # AlexNet pool1
    assert _pool_out(112, 3, 2, 1, False) == 56           # ResNet maxpool
    assert _pool_out(111, 3, 2, 0, True) == 55            # SqueezeNet ceil-mode pool
    assert 96 * (11 * 11 * 3 + 1) == 34_944               # AlexNet conv1 params (K(F*F*C + 1))


@FEWEST
@given(chain_with_input(), st.integers(1, 3))
def test_block_template_equals_flat_chain(case: tuple[dict[str, Any], list[dict[str, Any]], list[int]],
                                          repeat: int) -> None:
    """A chain wrapped in a block (sizes passed as $params, repeated) has the same budgets as the
    chain written out ``repeat`` times (a metamorphic check of block expansion)."""
    doc, expected, _ = case
    assume(expected[-1]["fits"])
    layers = doc["layers"]
    flat_text = _dump({**doc, "layers": [dict(e, name=f"r{r}_{e['name']}") for r in range(repeat)
                                         for e in layers]})
    try:
        flat = build_graph(parse_spec(flat_text, file="flat.yaml"))
    except SpecError:
        assume(False)  # repeating the chain can shrink the map below a kernel; not this property
        return
    params = {f"p_{i}": e.get("filters", e["kernel"]) for i, e in enumerate(layers)}
    body = [dict(e, **({"filters": f"$p_{i}"} if "filters" in e else {"kernel": f"$p_{i}"}))
            for i, e in enumerate(layers)]
    blocked = {**doc, "blocks": {"chain": {"params": sorted(params), "layers": body}},
               "layers": [{"name": "b", "block": "chain", "args": params, "repeat": repeat}]}
    g = build_graph(parse_spec(_dump(blocked), file="block.yaml"))
    a, b = budget_report(flat).totals[0][1], budget_report(g).totals[0][1]
    assert a == b
    assert len(g) == len(flat)
