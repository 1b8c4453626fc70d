"""RTL tier: whole compiled networks on the Verilog of the complete accelerator (``hwcnn_soc``
behind the DRAM timing shim, cocotbext-axi AxiRam + AxiLiteMaster; ``hwcnn.rtlsim``).

Each network is compiled for the 4x4 array with 1 KiB buffers (K-split chains, pool bands and
ping-pong halves all occur) and run from its DRAM image; every layer read back from DRAM must
equal the golden network bit for bit. One Verilator build per dataflow (cached by the Verilog
digest under ``build/soc``, shared by the tests of that dataflow). Also: random AXI stalls on
every DRAM channel leave the DRAM byte for byte the same; a corrupted weight is caught (the
comparison can fail); and bad programs and bad memory stop the machine with the documented
ErrorCode in STATUS, never a hang: an illegal opcode patched into program.bin, a hand-built
LOAD beyond the weight buffer's depth (bypassing the compiler's check), a DMA window too small
for the input, an AxiRam that answers reads of the weights with SLVERR, a misaligned
PROG_BASE. Measured cycles go to ``build/soc/results-<case>.json``.
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
from hwcnn.rtlsim.job import Fault
from tests.test_program import _compiled

ROOT = Path(__file__).resolve().parent.parent
OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
KIB = 1
#: The DRAM of the tests: Arty A7's 1.33 GB/s at 100 MHz (13.3 bytes/cycle), latency 16.
TIMING = DramTiming.from_board(1.33, 100, latency=16)
MODELS = ("tiny_cnn", "lenet5", "resblock", "mbv2_block", "fire")

pytestmark = [
    pytest.mark.rtl, pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("hwcnn.hw.soc.top") is None,
                       reason="the complete accelerator (hwcnn.hw.soc.top) is not merged yet"),
]


def _root() -> Path:
    return Path(os.environ.get("HWCNN_BUILD_DIR", ROOT / "build")).resolve() / "soc"


def _params(prog) -> SocParams:  # type: ignore[no-untyped-def]
    return SocParams(config=prog.hw, depths=BufferDepths.for_config(prog.hw))


def _case(name: str, df: Dataflow):  # type: ignore[no-untyped-def]
    return _compiled(name, df, 4, 4, KIB)


def _built(prog):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.harness import harness_verilog
    from hwcnn.rtlsim.session import build_model

    return build_model(harness_verilog(_params(prog), TIMING), _root())


def _run(comp, prog, tmp: Path, image: bytes | None = None, **kw):  # type: ignore[no-untyped-def]
    from hwcnn.rtlsim.session import make_job, run_job

    job, owner = make_job(comp, prog, bus_bytes=8, dram_timing=TIMING, **kw)
    return run_job(_built(prog), job, comp.image if image is None else image, owner,
                   run_dir=tmp)


def _record(case: str, run) -> None:  # type: ignore[no-untyped-def]
    o = run.outcome
    _root().mkdir(parents=True, exist_ok=True)
    (_root() / f"results-{case}.json").write_text(json.dumps({
        "case": case, "state": o.state, "code": o.code, "cycles": o.cycles,
        "busy": list(o.busy), "layer_cycles": list(o.layer_cycles),
        "wall_seconds": o.wall_seconds}, indent=1) + "\n")


@pytest.mark.parametrize("df", [WS, OS], ids=["ws", "os"])
@pytest.mark.parametrize("name", MODELS)
def test_network_bit_exact_at_every_layer(name: str, df: Dataflow, tmp_path: Path) -> None:
    from hwcnn.rtlsim.check import compare_dram
    from hwcnn.rtlsim.session import mapped_bytes

    prog, q, x, comp = _case(name, df)
    run = _run(comp, prog, tmp_path)
    _record(f"{name}-{df.value}", run)
    o = run.outcome
    assert (o.state, o.code) == ("done", 0), o
    ver = compare_dram(comp, prog, q, x, run.image(mapped_bytes(comp)))
    assert ver.first_mismatch is None, str(ver.first_mismatch)
    assert len(ver.layers) == len(prog.layers) and all(c.match for c in ver.layers)
    # every storing layer was seen complete, in a cycle inside the run
    assert all(0 < c <= o.cycles for c in o.layer_cycles), o.layer_cycles
    assert o.cycles > 0 and max(o.busy) <= o.cycles
    # nothing written outside the mapped regions
    dram = run.dram
    assert not dram[:run.job.base0].any()
    assert not dram[run.job.base0 + mapped_bytes(comp):].any()


def test_backpressure_leaves_the_dram_bit_exact(tmp_path: Path) -> None:
    from hwcnn.rtlsim.check import compare_dram
    from hwcnn.rtlsim.session import mapped_bytes

    prog, q, x, comp = _case("tiny_cnn", WS)
    calm = _run(comp, prog, tmp_path / "calm")
    rough = _run(comp, prog, tmp_path / "rough", pause=0.3, seed=11)
    _record("tiny_cnn-ws-backpressure", rough)
    assert (rough.outcome.state, rough.outcome.code) == ("done", 0)
    ver = compare_dram(comp, prog, q, x, rough.image(mapped_bytes(comp)))
    assert ver.first_mismatch is None, str(ver.first_mismatch)
    assert np.array_equal(rough.dram, calm.dram)
    assert rough.outcome.cycles > calm.outcome.cycles


def test_corrupted_weight_is_caught_on_the_rtl(tmp_path: Path) -> None:
    from hwcnn.rtlsim.check import compare_dram
    from hwcnn.rtlsim.session import mapped_bytes

    prog, q, x, comp = _case("tiny_cnn", OS)
    img = bytearray(comp.image)
    img[comp.region("weights").offset + 2] ^= 0x40
    run = _run(comp, prog, tmp_path, image=bytes(img))
    assert run.outcome.state == "done"
    ver = compare_dram(comp, prog, q, x, run.image(mapped_bytes(comp)))
    assert ver.first_mismatch is not None and ver.first_mismatch.layer == "conv1"


def _expect(run, code: ErrorCode) -> None:  # type: ignore[no-untyped-def]
    o = run.outcome
    assert (o.state, o.code) == ("error", code), o
    assert o.status & STATUS_ERROR and (o.status >> STATUS_CODE_SHIFT) & 0xFF == code, o.status


def test_illegal_opcode_in_program_bin(tmp_path: Path) -> None:
    prog, _q, _x, comp = _case("tiny_cnn", WS)
    img = bytearray(comp.image)
    i = next(j for j, ins in enumerate(comp.insns) if ins.op is Opcode.GEMM)
    img[comp.region("program").offset + i * INSN_BYTES] |= 0b111   # opcode 7
    _expect(_run(comp, prog, tmp_path, image=bytes(img)), ErrorCode.ILLEGAL_OPCODE)


def test_buffer_address_out_of_range(tmp_path: Path) -> None:
    """A hand-built program (never through the compiler's check): two weight words from the
    last word of the buffer on; the compute unit waits for its token, then END."""
    prog, _q, _x, comp = _case("tiny_cnn", WS)
    depth = comp.target.weight
    insns = [make(Opcode.LOAD, buffer=Buffer.WGT, mode=MemMode.WORDS, sram_base=depth - 1,
                  rows=2, dram_base=comp.region("weights").offset, push_next=1),
             make(Opcode.LOAD, buffer=Buffer.OUT, pop_prev=1),
             make(Opcode.END)]
    img = bytearray(comp.image)
    img[:len(insns) * INSN_BYTES] = to_bytes(insns)
    run = _run(comp, prog, tmp_path, image=bytes(img), prog_len=len(insns))
    _expect(run, ErrorCode.BUF_RANGE)


def test_dma_window_violation(tmp_path: Path) -> None:
    prog, _q, _x, comp = _case("tiny_cnn", WS)
    program = comp.region("program")
    run = _run(comp, prog, tmp_path, win_size=program.offset + program.size)
    _expect(run, ErrorCode.DMA_WINDOW)


def test_axi_error_response(tmp_path: Path) -> None:
    from hwcnn.rtlsim.session import DEFAULT_BASE0

    prog, _q, _x, comp = _case("tiny_cnn", WS)
    w = comp.region("weights")
    run = _run(comp, prog, tmp_path, faults=(Fault(lo=DEFAULT_BASE0 + w.offset,
                                                    hi=DEFAULT_BASE0 + w.offset + w.size,
                                                    write=False),))
    _expect(run, ErrorCode.DMA_SLVERR)


def test_misaligned_program_base(tmp_path: Path) -> None:
    from hwcnn.rtlsim.session import DEFAULT_BASE0

    prog, _q, _x, comp = _case("tiny_cnn", WS)
    run = _run(comp, prog, tmp_path, prog_base=DEFAULT_BASE0 + 8)
    _expect(run, ErrorCode.PROG_ALIGN)
