"""Input limits of the spec front end, checked before the work (issue 9, item 2).

Each hostile input of the issue is made here, in the test's temporary directory, and must give the
product's clean failure: one ``hwcnn: error:`` line under 300 characters naming the file, exit
status 2, nothing written, within 2 s of CPU time and 500 MB of Python memory (tracemalloc). The
small malformed specs live in ``tests/malformed/`` (see ``test_malformed.py``); this file holds
the ones that are big, made by a program, or need the time and memory measured.
"""

from __future__ import annotations

import os
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hwcnn.errors import SpecError, short_name, shorten
from hwcnn.frontend import yamlload
from hwcnn.frontend.schema import NAME_PATTERN
from hwcnn.frontend.spec import MAX_SPEC_BYTES, parse_spec
from hwcnn.frontend.yamlload import MAX_NODES, load_yaml

from .cli_run import run_cli
from .test_malformed import assert_clean_failure

CPU_LIMIT_S = 2.0
MEMORY_LIMIT = 500 * 2**20
HEAD = "name: t\ninput: [1, 8, 8]\n"


def reject(path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, *, memory: bool = True) -> str:
    """Run ``hwcnn report PATH -o ...`` and check the clean failure; return the error line.

    Run twice: timed (CPU seconds), then under tracemalloc for the peak (tracemalloc slows
    PyYAML several times over, so the two are not measured together).
    """
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    before = sorted(os.listdir(tmp_path))
    args = ["report", str(path), "-f", "json", "-o", str(out_dir / "r.json")]
    cpu = time.process_time()
    run = run_cli(args, capsys)
    cpu = time.process_time() - cpu
    line = assert_clean_failure(run, path)
    assert cpu < CPU_LIMIT_S, f"{cpu:.2f} s of CPU before the error: {line}"
    if memory:
        tracemalloc.start()
        try:
            again = run_cli(args, capsys)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert again == run
        assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MB peak before the error: {line}"
    assert list(out_dir.iterdir()) == [] and sorted(os.listdir(tmp_path)) == before
    return line


def spec_file(tmp_path: Path, text: str | bytes, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# -- size cap --------------------------------------------------------------------------------


def test_a_10_mb_spec_is_refused_before_parsing(tmp_path, capsys) -> None:
    # issue 9: a 9.8 MB spec (612,500 layers) was parsed twice (110 s, 2.1 GB) before the layer cap
    text = HEAD + "layers:\n" + "  - {kind: relu}\n" * 612_500
    path = spec_file(tmp_path, text)
    size = path.stat().st_size
    assert size > 9_800_000
    line = reject(path, capsys, tmp_path)
    assert line == (f"hwcnn: error: {path}: spec is {size:,} bytes, more than the 524,288 bytes "
                    "hwcnn reads (is this a spec?)")


def test_the_cap_is_exact(tmp_path, capsys) -> None:
    ok = HEAD + "layers:\n  - {name: c1, kind: conv2d, filters: 4, kernel: 3}\n"
    pad = "#" * (MAX_SPEC_BYTES - len(ok) - 1) + "\n"
    at_cap = spec_file(tmp_path, ok + pad, "at_cap.yaml")
    assert at_cap.stat().st_size == MAX_SPEC_BYTES
    assert [layer.name for layer in parse_spec(ok + pad).layers] == ["input", "c1"]
    over = spec_file(tmp_path, ok + "#" + pad, "over.yaml")
    line = reject(over, capsys, tmp_path)
    assert line.endswith(f"{over}: spec is 524,289 bytes, more than the 524,288 bytes hwcnn reads "
                         "(is this a spec?)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_stream_is_read_only_up_to_the_cap(tmp_path, capsys) -> None:
    line = reject(Path("/dev/zero"), capsys, tmp_path)
    assert line == ("hwcnn: error: /dev/zero: spec is more than 524,288 bytes, more than the 524,288 "
                    "bytes hwcnn reads (is this a spec?)")


def test_parse_spec_applies_the_cap_to_text() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec("#" * (MAX_SPEC_BYTES + 1), file="big.yaml")
    assert str(err.value) == ("big.yaml: spec is 524,289 characters, more than the 524,288 bytes "
                              "hwcnn reads (is this a spec?)")


def test_the_text_is_parsed_once(monkeypatch) -> None:
    calls = []
    real = yamlload._Loader.__init__

    def counting(self, stream):  # type: ignore[no-untyped-def]
        calls.append(len(stream))
        real(self, stream)

    monkeypatch.setattr(yamlload._Loader, "__init__", counting)
    parse_spec(HEAD + "layers:\n  - {kind: relu}\n")
    assert len(calls) == 1


def test_a_list_longer_than_the_layer_cap_is_refused_while_parsing(tmp_path, capsys) -> None:
    path = spec_file(tmp_path, HEAD + "layers: [" + "x," * 20_001 + "]\n")
    assert path.stat().st_size < MAX_SPEC_BYTES
    line = reject(path, capsys, tmp_path, memory=False)  # 40 KB of text; tracemalloc would take 8 s
    assert line == f"hwcnn: error: {path}:3: a YAML list has more than 20,000 items"


# -- aliases ---------------------------------------------------------------------------------


def _bomb(levels: int, where: str) -> str:
    """Nested nine-fold aliases: level k expands to 9**k nodes."""
    names = "abcdefghijklmnop"
    values = ["&a [" + ",".join("x" * 9) + "]"]
    values += [f"&{names[k]} [" + ",".join([f"*{names[k - 1]}"] * 9) + "]" for k in range(1, levels)]
    if where == "description":  # the message used to echo the whole expansion
        return HEAD + "layers: [{kind: relu}]\ndescription: {" + \
            ", ".join(f"{names[k]}: {v}" for k, v in enumerate(values)) + "}\n"
    # block substitution used to copy it for every use
    body = "".join(f"  - {{name: u{k}, block: b, args: {{c: {v}}}}}\n" for k, v in enumerate(values))
    return HEAD + "blocks: {b: {params: [c], layers: [{kind: dropout, rate: $c}]}}\nlayers:\n" + body


@pytest.mark.parametrize("where", ["description", "block_args"])
@pytest.mark.parametrize("levels", [7, 8, 12])
def test_alias_bombs_fail_fast(where, levels, tmp_path, capsys) -> None:
    text = _bomb(levels, where)
    path = spec_file(tmp_path, text)
    line = reject(path, capsys, tmp_path)
    assert re.fullmatch(rf"hwcnn: error: {re.escape(str(path))}:\d+: the YAML document expands to "
                        r"more than 250,000 nodes \(check its aliases\)", line), line


def test_the_issue_bomb_is_310_bytes() -> None:
    text = _bomb(7, "description")
    assert len(text.encode()) <= 310  # the size of the issue's bomb (9**7 = 4.8 million nodes)
    with pytest.raises(SpecError, match="expands to more than 250,000 nodes"):
        parse_spec(text)


def test_moderate_aliases_are_fine() -> None:
    """Aliases are counted, not refused: reusing one argument mapping is ordinary YAML."""
    text = (HEAD + "blocks: {b: {params: [c, k], layers: [{kind: conv2d, filters: $c, kernel: $k}]}}\n"
            "layers:\n  - {name: u1, block: b, args: &args {c: 4, k: 3}}\n"
            "  - {name: u2, block: b, args: *args}\n")
    spec = parse_spec(text)
    assert [layer.name for layer in spec.layers] == ["input", "u1/conv2d1", "u2/conv2d1"]
    # the budget counts expanded nodes: just under it passes, the same plus one level does not
    assert load_yaml("a: &a [" + ",".join("x" * 499) + "]\nb: [" + ",".join(["*a"] * 490) + "]\n")
    with pytest.raises(SpecError, match=f"more than {MAX_NODES:,} nodes"):
        load_yaml("a: &a [" + ",".join("x" * 499) + "]\nb: [" + ",".join(["*a"] * 510) + "]\n")


def test_recursive_alias(tmp_path, capsys) -> None:
    path = spec_file(tmp_path, HEAD + "layers: &l [{kind: relu, inputs: *l}]\n")
    line = reject(path, capsys, tmp_path)
    assert line == (f"hwcnn: error: {path}:3: YAML alias *l is used inside its own anchor "
                    "(a recursive structure)")


# -- numbers -------------------------------------------------------------------------------

HUGE = "9" * 400

#: (layer or top-level line with HUGE in a numeric field)
NUMERIC_FIELDS = [
    "layers: [{kind: conv2d, filters: HUGE, kernel: 3}]",
    "layers: [{kind: conv2d, filters: 4, kernel: HUGE}]",
    "layers: [{kind: conv2d, filters: 4, kernel: [3, HUGE]}]",
    "layers: [{kind: conv2d, filters: 4, kernel: 3, stride: HUGE}]",
    "layers: [{kind: conv2d, filters: 4, kernel: 3, padding: -HUGE}]",
    "layers: [{kind: conv2d, filters: 4, kernel: 3, dilation: HUGE}]",
    "layers: [{kind: conv2d, filters: 4, kernel: 3, groups: HUGE}]",
    "layers: [{kind: maxpool, kernel: 2, stride: HUGE}]",
    "layers: [{kind: dense, units: HUGE}]",
    "layers: [{kind: batchnorm, eps: HUGE}]",
    "layers: [{kind: dropout, rate: HUGE}]",
    "layers: [{kind: relu}]\nformats: {weight_bits: HUGE}",
    "layers: [{kind: relu}]\nstrict: HUGE",
    "blocks: {b: {layers: [{kind: relu}]}}\nlayers: [{kind: relu}, {name: u, block: b, repeat: HUGE}]",
    "blocks: {b: {params: [c], layers: [{kind: dense, units: $c}]}}\nlayers: [{name: u, block: b, args: {c: HUGE}}]",
]


@pytest.mark.parametrize("body", NUMERIC_FIELDS, ids=range(len(NUMERIC_FIELDS)))
def test_huge_integers_in_any_numeric_field(body, tmp_path, capsys) -> None:
    # issue 9: 309+ digits gave an OverflowError traceback (the digit guard stopped only 4,300+)
    path = spec_file(tmp_path, HEAD + body.replace("HUGE", HUGE) + "\n")
    line = reject(path, capsys, tmp_path)
    assert re.fullmatch(rf"hwcnn: error: {re.escape(str(path))}:\d: integer -?9{{39,40}}\.\.\. has 400 digits, "
                        r"more than the 18 hwcnn accepts", line), line


@pytest.mark.parametrize("body, message", [
    ("input: [1, 999999999999999999, 8]", "field 'input.1': 999999999999999999 is too large (maximum 1,048,576)"),
    ("layers: [{name: bn, kind: batchnorm, eps: 100000000000000000}]",
     "layer 'bn': field 'eps': 100000000000000000 is too large (maximum 1)"),
    ("layers: [{name: d, kind: dropout, rate: 1e308}]", "layer 'd': field 'rate': 1e+308 is too large (maximum 1)"),
    ("layers: [{name: d, kind: dropout, rate: -.inf}]", "layer 'd': field 'rate': invalid value -inf (a number)"),
])
def test_large_numbers_within_the_digit_limit_meet_the_schema_bounds(body, message, tmp_path, capsys) -> None:
    text = "name: t\n" + (body + "\nlayers: [{kind: relu}]\n" if body.startswith("input")
                        else "input: [1, 8, 8]\n" + body + "\n")
    path = spec_file(tmp_path, text)
    line = reject(path, capsys, tmp_path)
    assert re.fullmatch(rf"hwcnn: error: {re.escape(str(path))}:\d: {re.escape(message)}", line), line


def test_yaml_12_numbers() -> None:
    """YAML 1.2 core schema: what PyYAML's YAML 1.1 resolver gets wrong is read as YAML 1.2."""
    doc = load_yaml("a: 1e-5\nb: 0x10\nc: 0o10\nd: yes\ne: off\nf: 2024-01-01\ng: .5\nh: -0\ni: True\n")
    assert doc == {"a": 1e-5, "b": 16, "c": 8, "d": "yes", "e": "off", "f": "2024-01-01",
                   "g": 0.5, "h": 0, "i": True}
    spec = parse_spec(HEAD + "layers: [{name: bn, kind: batchnorm, eps: 1e-3}]\n")
    assert spec.layers[1].eps == 1e-3  # PyYAML would have read the string '1e-3'


@pytest.mark.parametrize("value, message", [
    ("010", ("'010' has a leading zero (octal in YAML 1.1, decimal in YAML 1.2); write it without the "
            "leading zero, or quote it for a string")),
    ("-07", ("'-07' has a leading zero (octal in YAML 1.1, decimal in YAML 1.2); write it without the "
            "leading zero, or quote it for a string")),
    ("1:30", ("'1:30' is a base-60 number in YAML 1.1 (90) and a string in YAML 1.2; write 90, or quote "
             "it for a string")),
    ("2:00:00", ("'2:00:00' is a base-60 number in YAML 1.1 (7200) and a string in YAML 1.2; write 7200, "
                "or quote it for a string")),
    ("0b11", ("'0b11' is a binary number in YAML 1.1 (3) and a string in YAML 1.2; write 3, or quote it "
             "for a string")),
    ("1_024", ("'1_024' is a number with digit separators in YAML 1.1 (1024) and a string in YAML 1.2; "
              "write 1024, or quote it for a string")),
    ("1" + "_0" * 30, ("'1_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_'... is spelled as a YAML 1.1 number (a "
                      "string in YAML 1.2); write a plain decimal number, or quote it for a string")),
])
def test_yaml_11_number_spellings_are_refused_with_field_and_line(value, message, tmp_path, capsys) -> None:
    path = spec_file(tmp_path, HEAD + f"layers:\n  - kind: dense\n    units: {value}\n")
    assert reject(path, capsys, tmp_path) == f"hwcnn: error: {path}:5: field 'units': {message}"
    # quoted, it is a string: the schema's ordinary message
    path = spec_file(tmp_path, HEAD + f"layers:\n  - kind: dense\n    units: '{value}'\n", "quoted.yaml")
    assert f"field 'units': invalid value '{value[:40]}'" in reject(path, capsys, tmp_path)


# -- names -----------------------------------------------------------------------------------

BAD_NAMES = ["c1\n", "c1\r", "../x", "a/../../etc/passwd", "/abs", "a//b", "a/", "a/./b", "a b", "a|b",
             'a"b', "a`b", "a*b", "a<b>", "a\\b", "1abc", "", "ü", "a;b", "a[0]", "a\tb"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n) for n in BAD_NAMES])
def test_unsafe_layer_names_are_refused(name, tmp_path, capsys) -> None:
    quoted = '"' + name.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    path = spec_file(tmp_path, HEAD + f"layers:\n  - {{name: {quoted}, kind: relu}}\n")
    line = reject(path, capsys, tmp_path)
    assert f"field 'name': {shorten(name)} is not a valid name (letters, digits, _ . - and /, " \
           "starting with a letter or _, no empty, . or .. part)" in line, line


@pytest.mark.parametrize("where", ["model", "block use", "block template", "block param"])
def test_every_kind_of_name_is_checked(where, tmp_path, capsys) -> None:
    bad = "../x"
    texts = {
        "model": f"name: '{bad}'\ninput: [1, 8, 8]\nlayers: [{{kind: relu}}]\n",
        "block use": HEAD + f"blocks: {{b: {{layers: [{{kind: relu}}]}}}}\nlayers: [{{name: '{bad}', block: b}}]\n",
        "block template": HEAD + f"blocks: {{'{bad}': {{layers: [{{kind: relu}}]}}}}\nlayers: [{{kind: relu}}]\n",
        "block param": HEAD + f"blocks: {{b: {{params: ['{bad}'], layers: [{{kind: relu}}]}}}}\nlayers: [{{kind: relu}}]\n",
    }
    line = reject(spec_file(tmp_path, texts[where]), capsys, tmp_path)
    assert "'../x' is not a valid name" in line, line


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab_.-/\n \\|:\"'`*0"), max_size=12))
def test_accepted_names_are_safe_path_and_markup_parts(name: str) -> None:
    """Whatever the pattern accepts cannot climb out of a directory or break a table or DOT label."""
    ok = jsonschema.Draft202012Validator({"type": "string", "pattern": NAME_PATTERN}).is_valid(name) \
        and re.fullmatch(NAME_PATTERN, name) is not None
    if ok:
        parts = name.split("/")
        assert all(p and p not in (".", "..") and p[0] not in ".-" for p in parts), name
        assert not set(name) & set("\n \\|:\"'`*"), name


def test_published_schema_pattern_is_anchored_for_ecma_and_python() -> None:
    # jsonschema's "pattern" uses re.search (Python's $ accepts a trailing newline); hwcnn's
    # validator matches in full, and the published pattern keeps ^...$ for ECMA-262 editors.
    assert NAME_PATTERN.startswith("^") and NAME_PATTERN.endswith("$")
    assert re.search(NAME_PATTERN, "c1\n") is not None     # why fullmatch is needed
    assert re.fullmatch(NAME_PATTERN, "c1\n") is None


# -- what messages echo ----------------------------------------------------------------------


def test_shorten_bounds_the_echo_and_the_work() -> None:
    assert shorten("abc") == "'abc'"
    assert shorten("x" * 1_000_000) == "'" + "x" * 40 + "'..."
    assert shorten("x" * 50, quote=False) == "x" * 40 + "..."
    nested: list[object] = ["x"]
    for _ in range(30):
        nested = [nested] * 9  # 9**30 leaves if rendered in full
    t = time.process_time()
    text = shorten(nested)
    assert time.process_time() - t < 0.1 and len(text) == 43 and text.endswith("...")
    assert short_name("s" * 100) == "s" * 28 + "..." + "s" * 29
    assert short_name("stage/conv") == "stage/conv"


def _huge() -> Iterator[tuple[str, str]]:
    big = "n" * 10_000
    yield "name", HEAD + f"layers:\n  - {{name: {big}, kind: relu}}\n"
    yield "kind", HEAD + f"layers:\n  - {{name: c, kind: {big}}}\n"
    yield "field", HEAD + f"layers:\n  - {{name: c, kind: relu, {big}: 1}}\n"
    yield "value", HEAD + f"layers:\n  - {{name: c, kind: conv2d, filters: {big}, kernel: 3}}\n"
    yield "input", HEAD + f"layers:\n  - {{name: c, kind: relu, inputs: [{big}]}}\n"
    yield "block", HEAD + f"layers:\n  - {{kind: relu}}\n  - {{name: u, block: {big}}}\n"
    yield "description", "name: t\ninput: [1, 8, 8]\nlayers: [{kind: relu}]\ndescription: [" + \
        ",".join(["x"] * 5_000) + "]\n"
    yield "top key", HEAD + f"layers: [{{kind: relu}}]\n{big}: 1\n"
    yield "yaml", HEAD + f"layers: [{{kind: relu}}]\n{big}\n"


@pytest.mark.parametrize("case", [c for c, _ in _huge()])
def test_huge_values_and_names_are_echoed_short(case, tmp_path, capsys) -> None:
    text = dict(_huge())[case]
    line = reject(spec_file(tmp_path, text), capsys, tmp_path)
    assert "n" * 41 not in line and "x', 'x', 'x', 'x', 'x'" not in line, line


def test_long_nested_layer_names_keep_head_and_tail(tmp_path, capsys) -> None:
    seg = "s" * 30
    text = (HEAD + "blocks:\n  inner: {layers: [{name: bad, kind: conv2d, filters: 4, kernel: 99}]}\n"
            f"  outer: {{layers: [{{name: {seg}, block: inner}}]}}\n"
            f"layers:\n  - {{kind: relu}}\n  - {{name: {seg}, block: outer}}\n")
    line = reject(spec_file(tmp_path, text), capsys, tmp_path)
    full = f"{seg}/{seg}/bad"
    assert f"layer {short_name(full)!r}: kernel 99 is larger than the padded input 8" in line, line
    assert short_name(full).endswith("s/bad")


def test_long_cycles_and_many_branch_shapes_are_echoed_short(tmp_path, capsys) -> None:
    n = 60
    cycle = "".join(f"  - {{name: layer_number_{i}, kind: relu, inputs: [layer_number_{(i + 1) % n}]}}\n"
                    for i in range(n))
    line = reject(spec_file(tmp_path, HEAD + "layers:\n" + cycle, "cycle.yaml"), capsys, tmp_path)
    assert re.fullmatch(r".*: layers form a cycle: layer_number_\d+ -> layer_number_\d+ -> .{60,}\.\.\.", line), line
    branches = "".join(f"  - {{name: b{i}, kind: conv2d, filters: 1, kernel: {1 + i % 2}, inputs: [input]}}\n"
                       for i in range(64))
    text = HEAD + "layers:\n" + branches + "  - {name: cat, kind: concat, inputs: [" + \
        ", ".join(f"b{i}" for i in range(64)) + "]}\n"
    line = reject(spec_file(tmp_path, text, "cat.yaml"), capsys, tmp_path)
    assert re.fullmatch(r".*layer 'cat': concat inputs differ in spatial size: \[1, 8, 8\], \[1, 7, 7\], .*\.\.\.",
                        line), line


def test_run_writes_member_names_that_stay_inside_the_archive(tmp_path, capsys) -> None:
    """``hwcnn run`` names .npz members after layers: a name with '..' never gets that far."""
    import zipfile

    import numpy as np

    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 8, 8), dtype=np.int8))
    bad = spec_file(tmp_path, HEAD + "layers:\n  - {name: a/../../../tmp/evil, kind: relu}\n", "bad.yaml")
    out = tmp_path / "out.npz"
    run = run_cli(["run", str(bad), "--input", str(x), "-o", str(out)], capsys)
    line = assert_clean_failure(run, bad)
    assert "'a/../../../tmp/evil' is not a valid name" in line and not out.exists()
    # the nested names blocks make are fine as members: no part is '..' or empty
    good = spec_file(tmp_path, HEAD + "blocks: {b: {layers: [{name: c, kind: conv2d, filters: 2, kernel: 3}]}}\n"
                     "layers:\n  - {name: s, block: b}\n", "good.yaml")
    run = run_cli(["run", str(good), "--input", str(x), "-o", str(out)], capsys)
    assert run.code in (0, None), run
    members = zipfile.ZipFile(out).namelist()
    assert "s/c.npy" in members, members
    assert all(".." not in m.split("/") and not m.startswith("/") for m in members), members


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("019+-_:.bxe"), min_size=1, max_size=30))
@example("+_")
@example("0b_")
@example("+_.")
def test_any_number_like_scalar_loads_or_is_one_clean_error(value: str) -> None:
    """The YAML 1.1 number refusals never crash, whatever the spelling (found: '+_', '0b_')."""
    try:
        doc = load_yaml(f"a: {value}\n")
    except SpecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200, str(exc)
        return
    assert isinstance(doc, dict) and set(doc) == {"a"}
