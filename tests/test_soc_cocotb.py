"""RTL tier: whole compiled networks on the Verilog of the complete accelerator (``hwcnn_soc``
behind the DRAM timing shim, cocotbext-axi AxiRam + AxiLiteMaster; ``hwcnn.rtlsim``).

Each network is compiled for the 4x4 array with 1 KiB buffers (K-split chains, pool bands and
ping-pong halves all occur) and run from its DRAM image; every layer read back from DRAM must
equal the golden network bit for bit, and the whole-machine cycle model (hwcnn.machine.socsim)
must give the same done cycle, BUSY counters and layer completion cycles. One Verilator build per dataflow (cached by the Verilog
digest under ``build/soc``) and one simulator launch per test (its jobs run one after another,
each from a reset with a cleared DRAM), so there is one test per dataflow, naming every failing
network in its message (OS also with ``drain_rows = 2``). Also: random AXI stalls on every DRAM channel leave the DRAM byte for
byte the same; a corrupted weight is caught (the comparison can fail); and bad programs and bad
memory stop the machine with the documented ErrorCode in STATUS, never a hang: an illegal
opcode patched into program.bin, a hand-built LOAD beyond the weight buffer's depth (bypassing
the compiler's check), a DMA window too small for the input, an AxiRam that answers reads of
the weights with SLVERR, a misaligned PROG_BASE, a program without its END and PROG_LEN = 0
(both NO_END). Every case's outcome and measured cycles go to
``build/soc/results-<test>.json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from hwcnn.arch.config import Dataflow
from hwcnn.arch.dma import DramTiming, ErrorCode
from hwcnn.hw.axi.regmap import STATUS_CODE_SHIFT, STATUS_ERROR
from hwcnn.hw.params import BufferDepths
from hwcnn.hw.soc.ports import SocParams
from hwcnn.isa import Buffer, Opcode, make
from hwcnn.isa.fields import INSN_BYTES, MemMode, to_bytes
from hwcnn.machine.socsim import run_program
from hwcnn.rtlsim.job import Fault
from tests.test_program import _compiled

ROOT = Path(__file__).resolve().parent.parent
OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
KIB = 1
#: The DRAM of the tests: Arty A7's 1.33 GB/s at 100 MHz (13.3 bytes/cycle), latency 16.
TIMING = DramTiming.from_board(1.33, 100, latency=16)
MODELS = ("tiny_cnn", "lenet5", "resblock", "mbv2_block", "fire", "rowchunks")
#: Cycles from a W handshake at the Soc's AXI port to the AxiRam's write of its bytes (the
#: shim's W queue and the RAM's input register, the same for every layer of every run).
RAM_WRITE_DELAY = 2

pytestmark = [
    pytest.mark.rtl, pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("hwcnn.hw.soc.top") is None,
                       reason="the complete accelerator (hwcnn.hw.soc.top) is not merged yet"),
]


def _root() -> Path:
    return Path(os.environ.get("HWCNN_BUILD_DIR", ROOT / "build")).resolve() / "soc"


def _params(prog) -> SocParams:  # type: ignore[no-untyped-def]
    return SocParams(config=prog.hw, depths=BufferDepths.for_config(prog.hw))


def _case(name: str, df: Dataflow, drain: int = 1):  # type: ignore[no-untyped-def]
    return _compiled(name, df, 4, 4, KIB, drain=drain)


def _built(prog):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.harness import harness_verilog
    from hwcnn.rtlsim.session import build_model

    return build_model(harness_verilog(_params(prog), TIMING), _root())


def _job(comp, prog, image: bytes | None = None, **kw):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.session import make_job

    job, owner = make_job(comp, prog, bus_bytes=8, dram_timing=TIMING, **kw)
    return job, comp.image if image is None else image, owner


def _launch(prog, jobs, tmp: Path):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.session import run_jobs

    return run_jobs(_built(prog), jobs, run_dir=tmp)


def _record(test: str, cases: dict[str, object]) -> None:
    _root().mkdir(parents=True, exist_ok=True)
    (_root() / f"results-{test}.json").write_text(json.dumps(cases, indent=1) + "\n")


def _summary(run, problem: str | None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    o = run.outcome
    return {"ok": problem is None, "problem": problem, "state": o.state, "code": o.code,
            "cycles": o.cycles, "pulse_cycles": o.pulse_cycles, "busy": list(o.busy), "layer_cycles": list(o.layer_cycles),
            "sim_seconds": round(o.wall_seconds, 2)}


def _network_problem(name, prog, q, x, comp, run) -> str | None:  # type: ignore[no-untyped-def]
    from hwcnn.machine.program_exec import compare_dram
    from hwcnn.rtlsim.session import mapped_bytes

    o = run.outcome
    if (o.state, o.code) != ("done", 0):
        return f"{name}: the machine ended {o.state} with code {o.code} after {o.cycles} cycles"
    if o.cycles != o.pulse_cycles:
        return (f"{name}: CYCLES reads {o.cycles}, the start and done pulses are "
                f"{o.pulse_cycles} cycles apart")
    ver = compare_dram(comp, prog, q, x, run.image(mapped_bytes(comp)))
    if ver.first_mismatch is not None:
        bad = [c.name for c in ver.layers if not c.match]
        return f"{name}: layers {bad} differ, first {ver.first_mismatch}"
    stored = [p.name for p in prog.layers if p.name not in comp.on_chip]
    if [c.name for c in ver.layers] != stored:
        return f"{name}: layers {[c.name for c in ver.layers]} compared, stored {stored}"
    if not all(0 < c <= o.cycles for c in o.layer_cycles):
        return f"{name}: layer completion cycles {o.layer_cycles} outside (0, {o.cycles}]"
    if max(o.busy) > o.cycles:
        return f"{name}: a busy counter {o.busy} above the run's {o.cycles} cycles"
    end = run.job.base0 + mapped_bytes(comp)
    if run.dram[:run.job.base0].any() or run.dram[end:].any():
        return f"{name}: bytes written outside the mapped regions"
    return None


def _model_problem(name, prog, comp, run) -> str | None:  # type: ignore[no-untyped-def]
    """The whole-machine cycle model (hwcnn.machine.socsim) against the run: the done cycle
    (CYCLES), the four BUSY counters, and every layer's completion, which the harness sees
    when the AxiRam writes the layer's last byte: the model's W handshake at the Soc's AXI
    port plus RAM_WRITE_DELAY."""
    o = run.outcome
    model = run_program(comp, array=prog.hw.array, bus_bytes=8, dram=TIMING,
                        base=run.job.base0)
    if model.cycles != o.cycles:
        return f"{name}: CYCLES reads {o.cycles}, the cycle model {model.cycles}"
    if model.busy != tuple(o.busy):
        return f"{name}: BUSY0..3 read {tuple(o.busy)}, the cycle model {model.busy}"
    want = tuple(model.layer_writes[ly] + RAM_WRITE_DELAY for ly in run.job.layers)
    if want != tuple(o.layer_cycles):
        return f"{name}: layers complete in cycles {tuple(o.layer_cycles)}, the model {want}"
    return None


@pytest.mark.parametrize("df, drain", [(WS, 1), (OS, 1), (OS, 2)], ids=["ws", "os", "os2"])
def test_networks_bit_exact_at_every_layer(df: Dataflow, drain: int, tmp_path: Path) -> None:
    """The six networks (CYCLES read after done = the start and done pulses' distance = the
    cycle model's done cycle; the BUSY counters and every layer's completion = the model's),
    then tiny_cnn under random stalls (p = 0.6 on all five AxiRam
    channels, so that the DRAM shim's queues run dry and the stalls reach the DMA: bit-exact,
    the same DRAM bytes as the calm run, more cycles), then tiny_cnn with one weight byte
    flipped (the comparison must fail at pool1: conv1 is pooled in the output buffer)."""
    from hwcnn.machine.program_exec import compare_dram
    from hwcnn.rtlsim.session import mapped_bytes

    cases = {name: _case(name, df, drain) for name in MODELS}
    tiny = cases["tiny_cnn"]
    bad_img = bytearray(tiny[3].image)
    bad_img[tiny[3].region("weights").offset + 2] ^= 0x40
    jobs = [_job(c[3], c[0]) for c in cases.values()]
    jobs += [_job(tiny[3], tiny[0], pause=0.6, seed=11), _job(tiny[3], tiny[0], bytes(bad_img))]
    runs = _launch(tiny[0], jobs, tmp_path)
    problems, summary = [], {}
    for (name, (prog, q, x, comp)), run in zip(cases.items(), runs, strict=False):
        problem = _network_problem(name, prog, q, x, comp, run)
        if problem is None:
            problem = _model_problem(name, prog, comp, run)
        summary[name] = _summary(run, problem)
        problems += [problem] if problem else []
    calm, rough, broken = runs[0], runs[len(MODELS)], runs[len(MODELS) + 1]
    problem = _network_problem("tiny_cnn (stalls)", *tiny, rough)
    if problem is None and not np.array_equal(rough.dram, calm.dram):
        problem = "tiny_cnn (stalls): the DRAM differs from the calm run"
    if problem is None and rough.outcome.cycles <= calm.outcome.cycles:
        problem = (f"tiny_cnn (stalls): {rough.outcome.cycles} cycles, not more than the calm "
                   f"run's {calm.outcome.cycles}")
    summary["tiny_cnn-backpressure"] = _summary(rough, problem)
    problems += [problem] if problem else []
    ver = (compare_dram(tiny[3], tiny[0], tiny[1], tiny[2], broken.image(mapped_bytes(tiny[3])))
           if broken.outcome.state == "done" else None)
    # conv1 is pooled in the output buffer (never in DRAM): the flip shows in pool1
    assert dict(tiny[3].on_chip) == {"conv1": "pool1"}
    problem = (None if ver is not None and ver.first_mismatch is not None
               and ver.first_mismatch.layer == "pool1"
               else f"corrupted weight: not caught at pool1 ({broken.outcome.state}, "
                    f"{None if ver is None else ver.first_mismatch})")
    summary["tiny_cnn-corrupted-weight"] = _summary(broken, problem)
    problems += [problem] if problem else []
    _record(f"networks-{df.value}{'' if drain == 1 else drain}", summary)
    assert not problems, "\n".join(problems)


def _model_stop(comp, prog, job) -> int:  # type: ignore[no-untyped-def]
    """The cycle of the NO_END error pulse by the cycle model (``job.prog_len`` instructions)."""
    from hwcnn.machine.socsim import MachineStop, run_insns

    try:
        run_insns(comp.insns[:job.prog_len], target=comp.target, array=prog.hw.array,
                  bus_bytes=8, dram=TIMING, base=job.base0, prog_base=job.prog_base,
                  window=(job.win_base, job.win_size))
    except MachineStop as exc:
        assert exc.code == ErrorCode.NO_END
        return exc.cycle
    raise AssertionError("the model ran a program without END to done")


def test_bad_programs_and_bad_memory_stop_with_their_code(tmp_path: Path) -> None:
    """Each error case runs to STATUS.error with its ErrorCode (never a timeout); after them
    the same machine, reset, runs tiny_cnn correctly."""
    from hwcnn.rtlsim.session import DEFAULT_BASE0

    prog, q, x, comp = _case("tiny_cnn", WS)
    # an illegal opcode (7) patched into the first GEMM of program.bin
    i = next(j for j, ins in enumerate(comp.insns) if ins.op is Opcode.GEMM)
    illegal = bytearray(comp.image)
    illegal[comp.region("program").offset + i * INSN_BYTES] |= 0b111
    # a hand-built program (never through the compiler's check): two weight words from the
    # last word of the buffer on; the compute unit waits for its token, then END
    depth = comp.target.weight
    insns = [make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=depth - 1,
                  rows=2, dram_base=comp.region("weights").offset, push_next=1),
             make(Opcode.LOAD, buffer=Buffer.OUT, pop_prev=1),
             make(Opcode.END)]
    ranged = bytearray(comp.image)
    ranged[:len(insns) * INSN_BYTES] = to_bytes(insns)
    program, w = comp.region("program"), comp.region("weights")
    cases = {
        "illegal opcode": (ErrorCode.ILLEGAL_OPCODE, _job(comp, prog, bytes(illegal))),
        "buffer range": (ErrorCode.BUF_RANGE, _job(comp, prog, bytes(ranged),
                                                   prog_len=len(insns))),
        "DMA window": (ErrorCode.DMA_WINDOW,
                       _job(comp, prog, win_size=program.offset + program.size)),
        "AXI SLVERR": (ErrorCode.DMA_SLVERR, _job(comp, prog, faults=(Fault(
            lo=DEFAULT_BASE0 + w.offset, hi=DEFAULT_BASE0 + w.offset + w.size, write=False),))),
        "PROG_BASE alignment": (ErrorCode.PROG_ALIGN,
                                _job(comp, prog, prog_base=DEFAULT_BASE0 + 8)),
        # the whole program but its END (every instruction runs), and no program at all
        "no END": (ErrorCode.NO_END, _job(comp, prog, prog_len=len(comp.insns) - 1)),
        "PROG_LEN 0": (ErrorCode.NO_END, _job(comp, prog, prog_len=0)),
    }
    no_end = {"no END": _model_stop(comp, prog, cases["no END"][1][0]), "PROG_LEN 0": 1}
    runs = _launch(prog, [job for _, job in cases.values()] + [_job(comp, prog)], tmp_path)
    problems, summary = [], {}
    for (name, (code, _)), run in zip(cases.items(), runs, strict=False):
        o = run.outcome
        problem = None
        if (o.state, o.code) != ("error", code) or not o.status & STATUS_ERROR \
                or (o.status >> STATUS_CODE_SHIFT) & 0xFF != code:
            problem = (f"{name}: expected error {int(code)} ({code.name}), the machine ended "
                       f"{o.state} with STATUS {o.status:#x}")
        if problem is None and code is ErrorCode.NO_END and o.cycles != no_end[name]:
            problem = f"{name}: NO_END in cycle {o.cycles}, the cycle model says {no_end[name]}"
        summary[name] = _summary(run, problem)
        problems += [problem] if problem else []
    problem = _network_problem("tiny_cnn after the errors", prog, q, x, comp, runs[-1])
    summary["tiny_cnn after the errors"] = _summary(runs[-1], problem)
    problems += [problem] if problem else []
    _record("errors", summary)
    assert not problems, "\n".join(problems)
