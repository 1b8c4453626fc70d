"""hwcnn.machine.insnsim: the instruction-level estimate against the stepped whole-machine
model (hwcnn.machine.socsim, proven equal to the Verilog in tests/test_soc_cocotb.py), and its
isolated durations against the machine's own loop."""

from __future__ import annotations

import pytest

from hwcnn.arch.config import Dataflow
from hwcnn.boards.profiles import get_board
from hwcnn.isa.fields import TOKEN_FIELDS, Opcode, make
from hwcnn.machine.insnsim import (
    Durations,
    isolated_cycles,
    load2d_bound,
    run_program_fast,
    transfer_approx,
)
from hwcnn.machine.socsim import run_insns, run_program
from hwcnn.report.machine import ESTIMATED, machine_figures
from tests.test_program import _compiled

WS, OS = Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY
DRAM = get_board("arty-a7-35t").dram_timing(100.0)
NETS = ("tiny_cnn", "lenet5", "resblock", "mbv2_block", "fire")


@pytest.mark.slow
@pytest.mark.parametrize("kib", [1, 64])
@pytest.mark.parametrize("df", [WS, OS])
def test_estimate_is_at_most_5_percent_below_the_stepped_model(df: Dataflow, kib: int) -> None:
    """What the report's label ESTIMATED claims: the estimate never exceeds the stepped model
    (transfers timed alone only lose the DMA's sharing) and is at most 5 % below it, on every
    shipped small network with small (1 KiB: many tiles, K-split chains) and large buffers."""
    for name in NETS:
        prog, _, _, comp = _compiled(name, df, 4, 4, kib)
        exact = run_program(comp, array=prog.hw.array, bus_bytes=8, dram=DRAM, base=0x1000)
        fast = run_program_fast(comp, array=prog.hw.array, bus_bytes=8, dram=DRAM, base=0x1000)
        assert 0.95 * exact.cycles <= fast.cycles <= exact.cycles, (name, exact.cycles,
                                                                    fast.cycles)
        # per layer: every layer's last write within 5 % of the whole run (the first layers
        # lose most: the fetch unit's first program reads share the DMA with their loads)
        assert fast.layer_writes.keys() == exact.layer_writes.keys()
        for layer, cyc in exact.layer_writes.items():
            assert abs(fast.layer_writes[layer] - cyc) <= 0.05 * exact.cycles, (name, layer)


def _alone(insn):  # type: ignore[no-untyped-def]
    """``insn`` without its token bits (a program of it and END needs no other queue)."""
    f = {k: v for k, v in insn.get().items() if k != "opcode" and k not in TOKEN_FIELDS}
    return make(insn.op, **f)


def test_isolated_duration_equals_the_machine_running_the_instruction_alone() -> None:
    """Each kind of LOAD / STORE of tiny_cnn and LeNet-5 (WORDS into ACT / WGT / PARAM,
    PIXELS into OUT, LOAD2D whole-position and K-split, STORE PIXELS), run by socsim's loop as
    the only instruction before END (fetch has finished its one chunk before the executor
    starts): dispatch to status equals :func:`isolated_cycles`."""
    kinds: dict[tuple[int, ...], object] = {}
    for name, kib in (("tiny_cnn", 64), ("lenet5", 1)):
        prog, _, _, comp = _compiled(name, WS, 4, 4, kib)
        for insn in comp.insns:
            f = insn.get()
            if insn.op in (Opcode.LOAD, Opcode.STORE) and f["rows"]:
                key = (int(insn.op), f["buffer"], f["mode"])
            elif insn.op is Opcode.LOAD2D:
                key = (int(insn.op), int(f["k0"] != 0 or f["k"] != f["kh"] * f["kw"] * f["cg"]))
            else:
                continue
            kinds.setdefault(key, (insn, comp.target, prog.hw.array))
    assert len(kinds) >= 6
    for insn, target, array in kinds.values():
        one = _alone(insn)
        run = run_insns([one, make(Opcode.END)], target=target, array=array, bus_bytes=8,
                        dram=DRAM, base=0x1000, prog_base=0)
        start, finish = run.insns[0]
        assert finish - start == isolated_cycles(one, target=target, bus_bytes=8, dram=DRAM,
                                                 base=0x1000), one.op.name


def test_closed_forms_of_large_transfers() -> None:
    """:func:`transfer_approx` within 3 % of the isolated duration for every transfer of more
    than 300 cycles of the shipped small networks; :func:`load2d_bound` never above it."""
    checked = 0
    for name in NETS:
        for kib in (1, 64):
            _, _, _, comp = _compiled(name, WS, 4, 4, kib)
            for insn in comp.insns:
                f = insn.get()
                if insn.op is Opcode.LOAD2D and f["m"] and f["k"]:
                    d = isolated_cycles(insn, target=comp.target, bus_bytes=8, dram=DRAM)
                    assert load2d_bound(f, 4, 8, 1) <= d
                if insn.op not in (Opcode.LOAD, Opcode.STORE) or not f["rows"] or (
                        f["mode"] == 1 and not f["elems"]):
                    continue
                d = isolated_cycles(insn, target=comp.target, bus_bytes=8, dram=DRAM,
                                    base=0x1000)
                if d > 300:
                    a = transfer_approx(insn, target=comp.target, bus_bytes=8, dram=DRAM,
                                        base=0x1000)
                    assert abs(a - d) <= 0.03 * d, (name, insn.op.name, f, d, a)
                    checked += 1
    assert checked >= 15


def test_durations_memo_and_step_limit() -> None:
    """Repeated instructions are stepped once; above the step limit nothing is stepped and
    the closed forms are used (a LOAD2D: exactly :func:`load2d_bound`)."""
    _, _, _, comp = _compiled("lenet5", WS, 4, 4, 1)
    dur = Durations(target=comp.target, bus_bytes=8, dram=DRAM, base=0x1000)
    first = [dur(i) for i in comp.insns if i.op in (Opcode.LOAD, Opcode.STORE, Opcode.LOAD2D)]
    cost = dur.stepped
    again = [dur(i) for i in comp.insns if i.op in (Opcode.LOAD, Opcode.STORE, Opcode.LOAD2D)]
    assert again == first and dur.stepped == cost > 0
    cheap = Durations(target=comp.target, bus_bytes=8, dram=DRAM, base=0x1000, step_limit=0)
    l2 = next(i for i in comp.insns if i.op is Opcode.LOAD2D and i["m"])
    assert cheap(l2) == load2d_bound(l2.get(), 4, 8, 1) and cheap.stepped == 0
    assert cheap.approximated == 1


def test_report_figures_beyond_the_stepped_bound_are_the_labelled_estimate() -> None:
    prog, _, _, comp = _compiled("tiny_cnn", WS, 4, 4, 1)
    board = get_board("arty-a7-35t")
    assert machine_figures(comp, prog.hw, board, max_cycles=2900) is None
    fig = machine_figures(comp, prog.hw, board, max_cycles=2900, estimate=True)
    assert fig is not None and fig.label == ESTIMATED
    exact = machine_figures(comp, prog.hw, board)
    assert exact is not None and 0.95 * exact.cycles <= fig.cycles <= exact.cycles
    assert ESTIMATED == ("instruction-level estimate, transfers timed alone "
                         "(0-5 % below the RTL model)")
