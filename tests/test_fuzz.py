"""Fuzz tier (issue 9 item 6): mutated specs, side inputs and options, run in-process.

Three families, each a deterministic stream of cases (case ``i`` of family ``f`` is drawn from
``random.Random(f"{f}:{i}")``, so any case re-runs alone: ``pytest tests/test_fuzz.py -k
"spec and 17"`` or :func:`replay`):

* ``spec``: a shipped model's YAML with one to three mutations (a number replaced by 0, -1, a
  huge, fractional, octal-looking or sexagesimal value; a name replaced by a hostile string; a
  line deleted, duplicated or swapped), run through report / explain / graph / quantize / verify;
* ``side``: weight, calibration and input files of the tiny network with mutated headers
  (shape, dtype, version, truncation, trailing bytes, flipped header bytes), values (NaN, inf,
  1e300, subnormals) and archives (renamed, missing, extra, duplicated members);
* ``option``: one command with one to three options set to hostile values.

Every case must: not raise (no traceback), exit 0, 1 (verify mismatch) or 2, and on exit 2 print
exactly one line of at most 300 characters starting ``hwcnn: error:``; leave no output file (nor
temp file) behind after an error; stay within :data:`TIME_CAP` seconds and :data:`MEMORY_CAP`
bytes (tracemalloc peak; per process, so safe under pytest-xdist) -- every command gets
``--max-memory 256M`` so the budget is in force.

``make test`` runs ``HWCNN_FUZZ_CASES`` (default 300) cases split over batches;
``HWCNN_FUZZ_CASES=5000`` runs thousands.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import Run, run_cli
from tests.conftest import MODELS

CASES = int(os.environ.get("HWCNN_FUZZ_CASES", "300"))
BATCHES = 12
TIME_CAP = 10.0
MEMORY_CAP = 300 << 20
MAX_LINE = 300
BUDGET = ["--max-memory", "256M"]
FAMILIES = ("spec", "side", "option")
SPEC_MODELS = ("tiny_cnn", "lenet5", "alexnet227", "resnet18", "squeezenet1_1", "mobilenet_v2")
TINY = MODELS / "tiny_cnn.yaml"
TINY_SHAPES = {"conv1.weight": (4, 1, 3, 3), "conv1.bias": (4,), "conv2.weight": (8, 4, 3, 3),
               "conv2.bias": (8,), "fc.weight": (10, 32), "fc.bias": (10,)}

HOSTILE_NUMBERS = ["0", "-1", "1.5", "010", "1:30", "0x10", "1e3", "99999999", "4096",
                   "1" + "0" * 30, "1" * 400, ".inf", ".nan", "true", "null", "[]", "{}", "'7'"]
HOSTILE_NAMES = ["../x", "a/../../b", "x\n", "", "input", "conv1", "a" * 300, "é", "a b",
                 "'quoted'", "*alias", "&anchor", "$input", "a:b", "-"]


# -- the harness ----------------------------------------------------------------------------------

class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):  # type: ignore[no-untyped-def]
    raise CaseTimeout(f"case took more than {TIME_CAP} s")


def check_case(args: list[str], tmp: Path, capsys, outputs: tuple[Path, ...] = ()) -> Run:
    """Run one case under the caps and assert the issue 9 rules (see the module docstring)."""
    before = {p.name for p in tmp.iterdir()}
    use_alarm = hasattr(signal, "setitimer") and signal.getsignal(signal.SIGALRM) in (
        signal.SIG_DFL, None)
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, TIME_CAP * 3)   # tracemalloc slows a run ~3x
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = run_cli(args, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
    took = time.perf_counter() - t0
    shown = " ".join(repr(a) if (" " in a or not a) else a for a in args)[:400]
    assert r.crash is None, f"hwcnn {shown}\n{r.crash}"
    assert "Traceback" not in r.err, f"hwcnn {shown}\n{r.err}"
    assert r.code in (0, 1, 2), f"hwcnn {shown}: exit {r.code!r}\n{r.err}"
    # a warning is printed on the user's terminal: an extra stderr line
    assert not caught, f"hwcnn {shown}: warned {caught[0].category.__name__}: {caught[0].message}"
    if r.code == 2:
        lines = r.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("hwcnn: error: "), f"hwcnn {shown}\n{r.err}"
        assert len(lines[0]) <= MAX_LINE, f"hwcnn {shown}: {len(lines[0])} chars: {lines[0][:400]}"
        left = {p.name for p in tmp.iterdir()} - before
        assert not left, f"hwcnn {shown}: left {sorted(left)} after an error"
        for out in outputs:
            assert not out.exists() or out.name in before, f"hwcnn {shown}: wrote {out}"
    assert took <= TIME_CAP * 3 and peak <= MEMORY_CAP, f"hwcnn {shown}: {took:.1f} s, {peak:,} B"
    return r


# -- spec mutations -------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.$])\d+(?![\w.])")
_NAME = re.compile(r"(name: )([A-Za-z0-9_/]+)")


def mutate_spec(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(("number", "number", "name", "delete", "duplicate", "swap"))
        body = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
        if not body:
            break
        i = rng.choice(body)
        if op == "number" and _NUMBER.search(lines[i]):
            hits = list(_NUMBER.finditer(lines[i]))
            m = rng.choice(hits)
            lines[i] = lines[i][:m.start()] + rng.choice(HOSTILE_NUMBERS) + lines[i][m.end():]
        elif op == "name" and _NAME.search(lines[i]):
            lines[i] = _NAME.sub(lambda m: m[1] + repr(rng.choice(HOSTILE_NAMES)), lines[i],
                                 count=1)
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap" and len(body) > 1:
            j = rng.choice(body)
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


def spec_case(i: int, tmp: Path, capsys) -> None:
    rng = random.Random(f"spec:{i}")
    model = rng.choice(SPEC_MODELS)
    spec = tmp / "m.yaml"
    spec.write_text(mutate_spec((MODELS / f"{model}.yaml").read_text(), rng))
    out = tmp / "out.txt"
    small = model in ("tiny_cnn", "lenet5")
    commands = [["report", str(spec), "-o", str(out)], ["explain", str(spec)],
                ["graph", str(spec), "-o", str(out)],
                ["report", str(spec), "--board", "pynq-z2", "--no-machine", "-f", "json",
                 "-o", str(out)]]
    if small:
        # the machine model (the default with --board) builds the network's weights: the
        # small models only, within the caps
        commands += [["report", str(spec), "--board", "pynq-z2", "-f", "json", "-o", str(out),
                      *BUDGET],
                     ["quantize", str(spec), "-n", "1", "--calib-n", "1", *BUDGET],
                     ["verify", str(spec), "--array", "4x4", "--calib-n", "1", *BUDGET]]
    check_case(rng.choice(commands), tmp, capsys, (out,))


# -- side-input mutations -------------------------------------------------------------------------

def _header(shape: tuple[int, ...], descr: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    import io
    buf = io.BytesIO()
    writer = (np.lib.format.write_array_header_1_0 if version == (1, 0)
              else np.lib.format.write_array_header_2_0)
    writer(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _npy_bytes(arr: np.ndarray, rng: random.Random) -> bytes:
    """An .npy of ``arr`` with one header or value mutation."""
    arr = np.array(arr)
    op = rng.choice(("values", "values", "dtype", "shape", "truncate", "trail", "flip", "tib",
                     "version", "object", "none"))
    if op == "values" and arr.size:
        bad = rng.choice([np.nan, np.inf, -np.inf, 1e300, 5e-324, 1e-40, 1e30, 1e31, 0.0])
        flat = arr.astype(np.float64).reshape(-1)
        flat[rng.randrange(flat.size)] = bad
        arr = flat.reshape(arr.shape)
    elif op == "dtype":
        arr = arr.astype(rng.choice(["<f2", "<f4", "<i1", "<u2", "?", "<c8", "<U3", "<M8[s]"]))
    elif op == "shape":
        shape = list(arr.shape) or [1]
        shape[rng.randrange(len(shape))] += rng.choice([-1, 1, 7])
        arr = np.resize(arr, [max(s, 0) for s in shape])
    elif op == "object":
        import io
        buf = io.BytesIO()
        np.save(buf, np.array([None, 1], dtype=object), allow_pickle=True)
        return buf.getvalue()
    data = _header(arr.shape, arr.dtype.str) + arr.tobytes()
    if op == "truncate":
        data = data[:rng.randrange(len(data))]
    elif op == "trail":
        data += b"\0" * rng.randint(1, 100)
    elif op == "flip":
        pos = rng.randrange(min(len(data), 128))
        data = data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1:]
    elif op == "tib":
        data = _header((1 << 37, *arr.shape[1:]), arr.dtype.str) + arr.tobytes()[:64]
    elif op == "version":
        data = _header(arr.shape, arr.dtype.str, (2, 0)) + arr.tobytes()
        if rng.random() < 0.5:
            data = data[:6] + bytes([rng.choice([0, 3, 9]), 0]) + data[8:]
    return data


def side_case(i: int, tmp: Path, capsys) -> None:
    rng = random.Random(f"side:{i}")
    vals = np.random.default_rng(i)
    kind = rng.choice(("weights", "weights", "calib", "input", "inputs", "verify"))
    out = tmp / "out.npz"
    path = tmp / ("w.npz" if kind == "weights" else "x.npy")
    if kind == "weights":
        members = {k: vals.normal(0, 0.3, s) for k, s in TINY_SHAPES.items()}
        op = rng.choice(("member", "member", "rename", "drop", "extra", "dup", "npy", "junk",
                         "deflate"))
        comp = zipfile.ZIP_DEFLATED if op == "deflate" or rng.random() < 0.5 else zipfile.ZIP_STORED
        victim = rng.choice(list(members))
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression=comp) as zf:
            warnings.simplefilter("ignore")   # the duplicate members are the point
            for k, v in members.items():
                name, data = f"{k}.npy", _header(v.shape) + v.tobytes()
                if k == victim:
                    if op in ("member", "deflate"):
                        data = _npy_bytes(v, rng)
                    elif op == "rename":
                        name = rng.choice(["x.npy", "../w.npy", k, f"{k}.npz", "", "a" * 300])
                    elif op == "drop":
                        continue
                    elif op == "extra":
                        zf.writestr("extra.weight.npy", data)
                    elif op == "dup":
                        zf.writestr(name, data)
                zf.writestr(name or "noname", data)
        if op == "npy":
            path.write_bytes(_header((3,)) + np.zeros(3).tobytes())
        elif op == "junk":
            path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
        args = ["quantize", str(TINY), "--weights", str(path), "-n", "1", "--calib-n", "1"]
    else:
        batch = rng.choice([None, 1, 2, 0])
        shape = (1, 8, 8) if batch is None else (batch, 1, 8, 8)
        x = vals.uniform(-1, 1, shape)
        if kind in ("input", "verify") and rng.random() < 0.5:
            x = np.round(x * 100).astype(np.int8)
        path.write_bytes(_npy_bytes(x, rng))
        args = {"calib": ["quantize", str(TINY), "--calib", str(path), "-n", "1"],
                "inputs": ["quantize", str(TINY), "--inputs", str(path), "--calib-n", "1"],
                "input": ["run", str(TINY), "--input", str(path), "-o", str(out), "--calib-n", "1"],
                "verify": ["verify", str(TINY), "--array", "4x4", "--input", str(path),
                           "--calib-n", "1"]}[kind]
    check_case([*args, *BUDGET], tmp, capsys, (out,))


# -- option mutations -----------------------------------------------------------------------------

OPTION_VALUES: dict[str, list[str]] = {
    "--array": ["0x4", "4x", "1x1", "99999x1", "2x2", "-1x4", "4*4", "1e3x2", "x"],
    "--buffers": ["0", "1", "1,2", "1,2,3", "99999999", "-4", "64,64,64,64", "a"],
    "--dataflow": ["ws", "os", "xx", ""],
    "--clock-mhz": ["0", "-1", "1e-300", "1e300", "nan", "inf", "100"],
    "--dram-gbps": ["1e-300", "0", "nan", "1e300", "-2", "12.8"],
    "--board": ["pynq-z2", "nope", "", "../boards"],
    "--seed": ["-1", "0", "18446744073709551616", "1.5", "x"],
    "--calib-n": ["0", "-3", "1", "100000"],
    "-n": ["0", "1", "20000"],
    "--act-bits": ["1", "2", "16", "17", "64", "-8"],
    "--weight-bits": ["1", "4", "33"],
    "--percentile": ["0", "49.9", "100", "1e9", "nan"],
    "--calibration": ["maxabs", "percentile", "bogus"],
    "--rounding": ["half_even", "up"],
    "--scales": ["pow2", "real", "log"],
    "--max-memory": ["0", "1", "1K", "10M", "1e99", "lots", "-1G", "256M"],
    "--layers": ["", "nope", "conv1", "conv1,,fc"],
    "--engine": ["golden", "cyclesim", "program", "rtl", "verilog"],
    "-f": ["table", "json", "csv", "yaml"],
}
RTL_VALUES: dict[str, list[str]] = {
    "--rows": ["0", "-1", "1", "1025", "99999", "x"],
    "--cols": ["0", "1", "2048"],
    "--act-bits": ["1", "2", "64"],
    "--acc-bits": ["8", "15", "99"],
    "--act-depth": ["0", "1", "1048576", "1048577"],
    "--acc-depth": ["0", "1048576", "-5"],
    "--weight-depth": ["1", "70000"],
    "--dataflow": ["ws", "xx"],
    "--max-memory": ["1", "10M", "x"],
}
COMMAND_OPTIONS = {
    "report": ["--array", "--buffers", "--dataflow", "--clock-mhz", "--dram-gbps", "--board", "-f"],
    "quantize": ["--seed", "--calib-n", "-n", "--act-bits", "--weight-bits", "--percentile",
                 "--calibration", "--rounding", "--scales", "--max-memory", "-f"],
    "run": ["--seed", "--calib-n", "--act-bits", "--max-memory", "--layers", "--scales"],
    "verify": ["--array", "--buffers", "--dataflow", "--engine", "--seed", "--calib-n",
               "--max-memory", "--act-bits", "--dram-gbps"],
}


def option_case(i: int, tmp: Path, capsys) -> None:
    rng = random.Random(f"option:{i}")
    out = tmp / "out.bin"
    command = rng.choice([*COMMAND_OPTIONS, "rtl"])
    if command == "rtl":
        opts = {"--rows": "2", "--cols": "2"}
        for name in rng.sample(list(RTL_VALUES), rng.randint(1, 3)):
            opts[name] = rng.choice(RTL_VALUES[name])
        if opts.get("--rows") not in ("1", "2") or opts.get("--cols") not in ("1", "2"):
            opts.setdefault("--max-memory", "1")   # never elaborate a big array in the fuzzer
        if "--max-memory" not in opts:
            opts["--max-memory"] = "1"             # elaboration is the RTL tier's job
        args = ["rtl", *[t for kv in opts.items() for t in kv], "-o", str(tmp / "rtl")]
        check_case(args, tmp, capsys, (tmp / "rtl",))
        return
    opts = {}
    for name in rng.sample(COMMAND_OPTIONS[command], rng.randint(1, min(3, len(COMMAND_OPTIONS[command])))):
        opts[name] = rng.choice(OPTION_VALUES[name])
    if command != "report":
        opts.setdefault("--calib-n", "1")
        opts.setdefault("--max-memory", "256M")
        if command == "quantize":
            opts.setdefault("-n", "1")
    extra: list[str] = []
    if command == "run":
        np.save(tmp / "x.npy", np.zeros((1, 8, 8)))
        extra = ["--input", str(tmp / "x.npy"), "-o", str(out)]
    elif command == "report":
        extra = ["-o", str(out)]
    if command in ("verify",) and opts.get("--engine") == "cyclesim":
        opts["--array"] = "4x4"
    if command in ("verify",) and opts.get("--engine") == "rtl":
        opts["--max-cycles"] = "1"     # the refusal; running the Verilog is the RTL tier's job
    args = [command, str(TINY), *[t for kv in opts.items() for t in kv], *extra]
    check_case(args, tmp, capsys, (out,))


RUNNERS: dict[str, Callable[[int, Path, object], None]] = {
    "spec": spec_case, "side": side_case, "option": option_case}


def replay(family: str, i: int, tmp: Path, capsys) -> None:
    """Re-run case ``i`` of ``family`` (what a failure message names)."""
    RUNNERS[family](i, tmp, capsys)


def _batches() -> list[tuple[str, int]]:
    per = max(1, CASES // len(FAMILIES))
    return [(f, b) for f in FAMILIES for b in range(min(BATCHES, per))]


@pytest.mark.parametrize("family, batch", _batches())
def test_fuzz(family: str, batch: int, tmp_path: Path, capsys) -> None:
    per = max(1, CASES // len(FAMILIES))
    nb = min(BATCHES, per)
    failures = []
    for i in range(batch, per, nb):
        case_dir = tmp_path / f"{family}{i}"
        case_dir.mkdir()
        try:
            RUNNERS[family](i, case_dir, capsys)
        except AssertionError as exc:
            failures.append(f"{family} case {i}: {str(exc)[:1500]}")
    assert not failures, f"{len(failures)} failing cases:\n" + "\n\n".join(failures)


@pytest.mark.parametrize("fake, leave", [
    (Run(2, "", "hwcnn: error: a\nmore\n", None), False),                 # two lines
    (Run(2, "", "hwcnn: error: " + "x" * 300 + "\n", None), False),       # over 300 characters
    (Run("raised", "", "", "Traceback ...\nValueError: boom"), False),    # a traceback
    (Run(3, "", "", None), False),                                        # odd exit status
    (Run(2, "", "hwcnn: error: bad\n", None), True),                      # a file left behind
])
def test_harness_catches_each_violation(fake, leave, tmp_path, capsys, monkeypatch) -> None:
    """Negative controls: each rule of :func:`check_case` fails when broken."""
    def fake_run(args, capsys_):  # type: ignore[no-untyped-def]
        if leave:
            (tmp_path / ".out.tmp").write_bytes(b"partial")
        return fake

    monkeypatch.setattr(f"{__name__}.run_cli", fake_run)
    with pytest.raises(AssertionError):
        check_case(["report", "x.yaml"], tmp_path, capsys)


def test_cases_are_deterministic(tmp_path) -> None:
    a = mutate_spec(TINY.read_text(), random.Random("spec:7"))
    b = mutate_spec(TINY.read_text(), random.Random("spec:7"))
    assert a == b
    texts = {mutate_spec(TINY.read_text(), random.Random(f"spec:{i}")) for i in range(20)}
    assert len(texts) > 10
