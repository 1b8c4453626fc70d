"""The whole-network harness (``hwcnn.rtlsim``) on Verilator, with a stand-in machine of known
behaviour (``tests/soc_standin.py``: copy the program behind itself through the real DMA,
control registers and DRAM timing shim), and its pure parts (job records, bounds, owner map).

What this proves about the harness: the DRAM image lands at BASE0, the registers are written
as MACHINE.md defines them, the start-to-done cycle count is exact (= the two busy counters,
which count the two transfers back to back), the DRAM comes back byte for byte, random AXI
stalls change the timing but not the bytes, DMA window violations and SLVERR reach STATUS with
their ErrorCode, a machine that does not finish ends in ``timeout`` (never a hang), and the
progress watch sees a layer complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.dma import DramTiming, ErrorCode
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.isa import Opcode, make
from hwcnn.isa.fields import Buffer, MemMode
from hwcnn.isa.target import Target
from hwcnn.rtlsim import bounds
from hwcnn.rtlsim.job import Fault, Job, Outcome

ROOT = Path(__file__).resolve().parent.parent
BASE0 = 0x1000
N_INSNS = 24                      # 768 program bytes
RAM = 0x4000
#: = what `hwcnn verify --engine rtl` uses without a board (latency 16, 16 bytes/cycle), so the
#: CLI test below shares this build
TIMING = DramTiming()


def _params() -> SocParams:
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY))
    return SocParams(config=hw, depths=BufferDepths.for_config(hw))


@pytest.fixture(scope="module")
def built():  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim import harness, session
    from tests.soc_standin import CopyMachine

    text = harness.harness_verilog(_params(), TIMING, soc=lambda p: CopyMachine(p.data_width))
    return session.build_model(text, _root())


def _root() -> Path:
    return Path(os.environ.get("HWCNN_BUILD_DIR", ROOT / "build")).resolve() / "soc"


def _image() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 2048, dtype=np.uint8).tobytes()


def _job(**kw: object) -> tuple[Job, np.ndarray]:
    n = N_INSNS * 32
    owner = np.full(RAM, -1, np.int16)
    owner[BASE0 + n:BASE0 + 2 * n] = 0
    d: dict[str, object] = {
        "ram_bytes": RAM, "base0": BASE0, "prog_base": BASE0, "prog_len": N_INSNS,
        "win_base": BASE0, "win_size": 2048, "timeout_cycles": 50_000, "layers": ("copy",),
        "layer_bytes": (n,), "poll_cycles": 32}
    d.update(kw)
    return Job(**d), owner  # type: ignore[arg-type]


def _run(built, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim import session

    job, owner = _job(**kw)
    seen: list[tuple[int, int, int]] = []
    run = session.run_job(built, job, _image(), owner, run_dir=tmp_path,
                          progress=lambda *a: seen.append(a))
    return run, seen


def _runs(built, tmp_path: Path, *kws: dict[str, object]):  # type: ignore[no-untyped-def]
    """Several jobs in one simulator launch (each from a reset, the DRAM cleared)."""
    from hwcnn.rtlsim import session

    jobs = [(*_job(**kw),) for kw in kws]
    return session.run_jobs(built, [(j, _image(), o) for j, o in jobs], run_dir=tmp_path)


@pytest.mark.rtl
@pytest.mark.slow
def test_copy_machine_bytes_cycles_and_progress(built, tmp_path: Path) -> None:
    run, seen = _run(built, tmp_path)
    o, img, n = run.outcome, _image(), N_INSNS * 32
    assert (o.state, o.code, o.status) == ("done", 0, 0b10)
    assert bytes(run.dram[BASE0 + n:BASE0 + 2 * n]) == img[:n]          # the copy
    assert bytes(run.dram[BASE0:BASE0 + n]) == img[:n]                  # the source, unchanged
    assert bytes(run.dram[BASE0 + 2 * n:BASE0 + 2048]) == img[2 * n:]    # the rest, unchanged
    assert not run.dram[:BASE0].any() and not run.dram[BASE0 + 2048:].any()
    # the fetch and the store transfers run back to back from the start pulse to done
    assert o.cycles > 0 and o.busy[1] == o.busy[2] == 0
    assert o.cycles == o.busy[0] + o.busy[3]
    assert o.cycles == o.pulse_cycles               # CYCLES = the start-to-done pulses, exact
    assert 0 < o.layer_cycles[0] <= o.cycles
    assert seen[-1][1:] == (1, 1)


@pytest.mark.rtl
@pytest.mark.slow
def test_backpressure_same_bytes_more_cycles(built, tmp_path: Path) -> None:
    rough, calm = _runs(built, tmp_path, {"pause": 0.4, "seed": 5}, {})
    assert rough.outcome.state == "done"
    assert np.array_equal(rough.dram, calm.dram)
    assert rough.outcome.cycles > calm.outcome.cycles


@pytest.mark.rtl
@pytest.mark.slow
def test_errors_reach_status_with_their_code(built, tmp_path: Path) -> None:
    n = N_INSNS * 32
    win, rd, wr, ok = _runs(
        built, tmp_path,
        {"win_size": n + 8},      # the store leaves the window
        {"faults": (Fault(lo=BASE0 + 16, hi=BASE0 + 17, write=False),)},     # a program read
        {"faults": (Fault(lo=BASE0 + n + 40, hi=BASE0 + n + 41, read=False),)},  # a write
        {})                       # and after a reset the same machine works again
    o = win.outcome
    assert (o.state, o.code) == ("error", ErrorCode.DMA_WINDOW)
    assert o.cycles == o.pulse_cycles > 0           # CYCLES holds at an error too
    assert o.status == 0b100 | (ErrorCode.DMA_WINDOW << 8)
    assert bytes(win.dram[BASE0 + n:BASE0 + 2 * n]) == _image()[n:2 * n]   # nothing written
    assert (rd.outcome.state, rd.outcome.code) == ("error", ErrorCode.DMA_SLVERR)
    assert (wr.outcome.state, wr.outcome.code) == ("error", ErrorCode.DMA_SLVERR)
    assert (ok.outcome.state, ok.outcome.code) == ("done", 0)
    assert bytes(ok.dram[BASE0 + n:BASE0 + 2 * n]) == _image()[:n]


@pytest.mark.rtl
@pytest.mark.slow
def test_a_machine_that_does_not_finish_times_out(built, tmp_path: Path) -> None:
    run, _ = _run(built, tmp_path, timeout_cycles=40)
    assert run.outcome.state == "timeout" and run.outcome.cycles == -1
    assert run.outcome.pulse_cycles == -1


@pytest.mark.rtl
@pytest.mark.slow
def test_cli_rtl_engine_runs_the_harness(built, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``hwcnn verify --engine rtl`` end to end on the stand-in (which only copies the program,
    so the first computed layer must be reported as a mismatch: exit 1)."""
    import importlib.util
    import re

    from hwcnn.cli.commands import verify_machine
    from hwcnn.rtlsim import harness
    from tests.cli_run import run_cli
    from tests.soc_standin import CopyMachine

    real = importlib.util.find_spec
    monkeypatch.setattr(verify_machine.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "hwcnn.hw.soc.top"
                        else real(name, *a))
    monkeypatch.setattr(harness, "default_soc", lambda p: CopyMachine(p.data_width))
    monkeypatch.setenv("HWCNN_BUILD_DIR", str(_root().parent))
    r = run_cli(["verify", str(ROOT / "models" / "tiny_cnn.yaml"), "--array", "4x4",
                 "--engine", "rtl", "--no-fuse-pool"], capsys)     # conv1 stored, compared
    assert r.code == 1, (r.err, r.crash)
    lines = r.out.splitlines()
    assert lines[0] == "tiny_cnn on 4x4 ws, engine rtl, seed 0"
    assert lines[1] == ("31 instructions on hwcnn_soc (Verilator): 64-bit AXI, DRAM latency 16 "
                        "cycles, 16 bytes/cycle")
    assert lines[2].split() == ["layer", "unit", "tiles", "stored", "at", "match"]
    rows = {ln.split()[0]: ln.split() for ln in lines[3:-1]}
    assert rows["input"][-2:] == ["-", "yes"]
    assert rows["conv1"][3] == "-" and rows["conv1"][4] == "NO"
    assert re.fullmatch(r"measured on the RTL: [\d,]+ cycles from start to done \(CYCLES; busy: fetch "
                        r"[\d,]+, load 0, compute 0, store [\d,]+\); 'stored at' = cycle of a "
                        r"layer's last DRAM write", lines[-1])
    assert re.search(r"^mismatch: layer 'conv1' no tile at ", r.err, re.MULTILINE)


# -- pure parts -------------------------------------------------------------------------------

def test_job_and_outcome_round_trip() -> None:
    job, _ = _job(faults=(Fault(lo=1, hi=2, read=False),), pause=0.25)
    assert Job.loads(job.dumps()) == job
    o = Outcome(state="done", code=0, status=2, cycles=5, pulse_cycles=5, busy=(1, 2, 3, 4),
                layer_cycles=(4,), wall_seconds=0.5)
    assert Outcome.loads(o.dumps()) == o


def test_bounds_by_hand() -> None:
    """GEMM 8x4x9 on 4x4 WS = the closed form + 64; a 3-pixel PIXELS STORE of 5 int8 elements
    on a 64-bit bus at 16 B/cycle = 3 runs * (16 + 16) + 3 * (1 + 1) beats * 1 cycle + 64."""
    t = Target(array=ArrayConfig(rows=4, cols=4, dataflow=Dataflow.WEIGHT_STATIONARY),
               act=64, weight=64, param=16, out=64, acc=16)
    from hwcnn.arch.timing import gemm_tile_cycles

    g = make(Opcode.GEMM, m=8, n=4, k=9)
    assert bounds.insn_bound(g, t, 8, DramTiming()) == 64 + gemm_tile_cycles(8, 4, 9, t.array)
    s = make(Opcode.STORE, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=3, elems=5)
    assert bounds.insn_bound(s, t, 8, DramTiming()) == 64 + 3 * 32 + 6
    assert bounds.insn_bound(make(Opcode.END), t, 8, DramTiming()) == 64
    assert bounds.timeout_cycles(1000) == 4 * 1000 + 20_000
    assert bounds.timeout_cycles(1000, 0.5) == 4 * (4 * 1000 + 20_000)
