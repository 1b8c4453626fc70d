"""Waveforms of one GEMM tile on the generated top level (``hwcnn wave``).

:func:`gemm_wave` builds :class:`~hwcnn.hw.top.Accelerator` for a configuration with buffers
just deep enough for the tile, drives it like a host would (rtl/README.md section 2: write the
activation, weight and parameter words through the host ports, set the descriptor, pulse
``start``, wait for ``done``, read the output words back) in Amaranth's simulator and records
every signal of the design with ``Simulator.write_vcd``. The VCD therefore holds the whole
hierarchy under the RTL's own names (``bench.top.engine.array.pe_0_1.psum_out`` is the register
``psum_out`` of PE(0, 1) in the Verilog ``hwcnn rtl`` writes), plus one testbench signal,
``bench.tile_cycle``: the cycle number of the tile (0 while ``start`` is sampled, ``T`` in the
cycle ``done`` is high, ``T = hwcnn.arch.timing.gemm_tile_cycles``). :func:`signal_table`
lists the signals worth looking at first, with their meaning; the tests check that each is in
the file. The requantization is the identity clamped to the activation range and there is no
bias, so the written outputs are ``clip(A @ B)``, as in ``hwcnn trace``.

Amaranth's simulator writes VCD only (no FST); the clock period is 10 ns (timescale 1 fs).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from ..arch.config import Dataflow, HardwareConfig
from . import layout
from .descriptor import GemmDesc, Requant
from .params import BufferDepths

#: Clock period of the simulation, seconds (the VCD's timescale is 1 fs).
CLOCK_PERIOD_S = 1e-8
#: Largest array side ``hwcnn wave`` simulates (the VCD holds every PE's registers).
MAX_WAVE_SIDE = 16
#: Largest tile ``hwcnn wave`` simulates: start -> done cycles x PEs (about 25 s of simulation).
MAX_WAVE_PE_CYCLES = 300_000
#: Cycles after ``start`` at which a tile that never raises ``done`` is abandoned.
MAX_TILE_CYCLES = MAX_WAVE_PE_CYCLES + 1000


class WaveError(RuntimeError):
    """The simulated tile misbehaved (no ``done``, ``error`` raised): a bug, not user input."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Wave:
    """A simulated tile: the VCD text, ``start`` -> ``done`` cycles and the outputs read back."""

    vcd: str
    cycles: int
    out: np.ndarray
    depths: BufferDepths


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def tile_depths(m: int, k: int, n: int, config: HardwareConfig) -> BufferDepths:
    """Buffer word depths that hold exactly one ``m x k x n`` tile (at least 2 words each)."""
    arr = config.array
    fn = _ceil(n, arr.cols)
    act = layout.act_word_count(m, k, arr.rows)
    return BufferDepths(act=max(2, act), weight=max(2, fn * k), out=max(2, fn * m),
                        param=max(2, fn), acc=max(2, fn * m))


def signal_table(config: HardwareConfig) -> list[tuple[str, str]]:
    """The documented signals of a wave (full VCD paths) and what each one is."""
    arr = config.array
    r, c = arr.rows, arr.cols
    os_ = arr.dataflow is Dataflow.OUTPUT_STATIONARY
    rows: list[tuple[str, str]] = [
        ("bench.top.clk", "clock, 10 ns period; registers change at its rising edge"),
        ("bench.tile_cycle", ("testbench counter: 0 in the cycle start is sampled, T in the "
                             "cycle done is high")),
        ("bench.top.start", "host: start pulse (one cycle)"),
        ("bench.top.busy", "the tile is running"),
        ("bench.top.done", "one-cycle pulse: the tile's last output row is written"),
        ("bench.top.error", "the descriptor was refused (stays 0 here)"),
    ]
    rows += [(f"bench.top.desc__{f}", f"descriptor field {f} (rtl/README.md section 4)")
             for f in ("m", "n", "k", "a_base", "b_base", "p_base", "c_base", "bias_en",
                       "m0", "shift", "lo", "hi")]
    for port, what in (("act_wr", "activation"), ("wgt_wr", "weight"), ("par_wr", "parameter")):
        rows += [(f"bench.top.{port}__{s}", f"host write of the {what} buffer: {s}")
                 for s in ("en", "addr", "data")]
    eng = "bench.top.engine"
    rows += [
        (f"{eng}.seq.fsm_state", "sequencer state, as text: IDLE, RUN, DONE"),
        (f"{eng}.seq.t", "sequencer: cycle within the current fold window"),
        (f"{eng}.seq.feed", "the operand words read last cycle enter the skew this cycle"),
        ("bench.top.buffers.act_rd__addr", "activation buffer read address (operand read)"),
        ("bench.top.buffers.act_rd__data",
         ("activation word read: elements kf*R .. kf*R + R-1 of one im2col row (OS: the row's "
          "next block, loaded into that array row's shift register; WS: lane r = array row r)")),
        ("bench.top.buffers.wgt_rd__addr", "weight buffer read address (operand read)"),
        ("bench.top.buffers.wgt_rd__data", "weight word read (lane c = array column c)"),
    ]
    rows += [(f"{eng}.array.a_in__{i}", f"activation entering array row {i} (skewed by {i})")
             for i in range(r)]
    if os_:
        rows += [(f"{eng}.a_row{i}",
                  f"array row {i}'s activation word, shifted out one element per cycle")
                 for i in range(r)]
        rows += [(f"{eng}.seq.a_load", "OS: the word read last cycle loads a row's register"),
                 (f"{eng}.seq.a_row", "OS: ... the array row it is for")]
        rows += [(f"{eng}.array.b_in__{j}", f"B operand entering array column {j} (skewed by {j})")
                 for j in range(c)]
    else:
        rows += [(f"{eng}.array.w_in__{j}", f"weight shifted into column {j} while load__{j}")
                 for j in range(c)]
        rows += [(f"{eng}.array.psum_out__{j}", f"partial sum leaving column {j} (to the de-skew)")
                 for j in range(c)]
    for i in range(r):
        for j in range(c):
            pe = f"{eng}.array.pe_{i}_{j}"
            rows.append((f"{pe}.a_in", f"PE({i},{j}): activation from the west"))
            if os_:
                rows += [(f"{pe}.b_in", f"PE({i},{j}): B operand from the north"),
                         (f"{pe}.acc", f"PE({i},{j}): running sum of its output element"),
                         (f"{pe}.res", f"PE({i},{j}): finished sum, read by the drain")]
                if arr.drain_rows == 2:
                    rows.append((f"{pe}.res1",
                                 f"PE({i},{j}): finished sum of an odd fold (second bank)"))
            else:
                rows += [(f"{pe}.w0", f"PE({i},{j}): weight bank 0 (even folds)"),
                         (f"{pe}.w1", f"PE({i},{j}): weight bank 1 (odd folds)"),
                         (f"{pe}.psum_out", f"PE({i},{j}): partial sum passed south")]
    rows += [
        (f"{eng}.out_wr__en", "output write: a result row is written"),
        (f"{eng}.out_wr__addr", "output write: word address (c_base + nf*m + i)"),
        (f"{eng}.out_wr__data", "output write: the row's C int8 lanes"),
    ]
    if os_ and arr.drain_rows == 2:
        rows += [
            (f"{eng}.out_wr2__en", "second back end: the pair's odd row is written"),
            (f"{eng}.out_wr2__addr", "second back end: its word (out_wr__addr + 1)"),
            (f"{eng}.out_wr2__data", "second back end: the odd row's C int8 lanes"),
        ]
    return rows


def _canonical(text: str) -> str:
    """The VCD with a fixed order: the simulator emits the changes of one time step in an
    order that varies from run to run (set iteration), so each step keeps the last change per
    variable, sorted; pyvcd's wall-clock ``$date`` header is dropped."""
    text = re.sub(r"\A(\$comment[^\n]*\n)\$date[^\n]*\n", r"\1", text)
    head, sep, body = text.partition("$enddefinitions $end\n")
    out: list[str] = []
    step: dict[str, str] = {}

    def flush() -> None:
        out.extend(sorted(step.values()))
        step.clear()

    for line in body.splitlines():
        if line.startswith(("#", "$")):
            flush()
            out.append(line)
        elif line:
            ident = line.split(" ", 1)[1] if line[0] in "bBrRs" else line[1:]
            step[ident] = line
    flush()
    return head + sep + "\n".join(out) + "\n"


class _KeepOpen(io.StringIO):
    """The VCD sink: Amaranth closes file objects it did not open only sometimes; keep it."""

    def close(self) -> None:  # the text is read after the simulation
        pass


def gemm_wave(a: np.ndarray, b: np.ndarray, config: HardwareConfig) -> Wave:
    """Simulate ``clip(A @ B)`` on the top level and return its waveform.

    ``a`` (m x k) must fit ``act_bits`` and ``b`` (k x n) ``weight_bits``; the array of
    ``config`` may have at most :data:`MAX_WAVE_SIDE` rows and columns.
    """
    from amaranth.hdl import Signal
    from amaranth.sim import Simulator

    from .top import Accelerator

    arr = config.array
    if max(arr.rows, arr.cols) > MAX_WAVE_SIDE:
        raise ValueError(f"wave arrays are at most {MAX_WAVE_SIDE}x{MAX_WAVE_SIDE}")
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    (m, k), n = a.shape, b.shape[1]
    depths = tile_depths(m, k, n, config)
    lo, hi = -(1 << (arr.act_bits - 1)), (1 << (arr.act_bits - 1)) - 1
    desc = GemmDesc(m=m, n=n, k=k, requant=Requant(lo=lo, hi=hi, m0=1 << 30, shift=30),
                    bias_en=False)
    desc.check(config, depths)
    dut = Accelerator(config, depths)
    tile_cycle = Signal(range(MAX_TILE_CYCLES + 2), name="tile_cycle")
    fn = _ceil(n, arr.cols)
    got: dict[str, object] = {}

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        async def write(port, words: list[int]) -> None:  # type: ignore[no-untyped-def]
            ctx.set(port.en, 1)
            for i, w in enumerate(words):
                ctx.set(port.addr, i)
                ctx.set(port.data, w)
                await ctx.tick()
            ctx.set(port.en, 0)

        await write(dut.act_wr, layout.act_words(a, config))
        await write(dut.wgt_wr, layout.weight_words(b, config))
        await write(dut.par_wr, layout.param_words(np.zeros(n, np.int64), 0, 0, config))
        for name, value in desc.fields().items():
            ctx.set(getattr(dut.desc, name), int(value))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycles = 1
        ctx.set(tile_cycle, cycles)
        while not ctx.get(dut.done):
            await ctx.tick()
            cycles += 1
            ctx.set(tile_cycle, cycles)
            if cycles > MAX_TILE_CYCLES:
                raise WaveError("the tile never raised done")
        if ctx.get(dut.error):
            raise WaveError("the accelerator refused the descriptor")
        got["cycles"] = cycles
        words = []
        for i in range(fn * m):
            ctx.set(dut.out_rd.addr, i)
            await ctx.tick()
            words.append(ctx.get(dut.out_rd.data))
        got["out"] = layout.gemm_out(words, m, n, config)

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD_S)
    sim.add_testbench(bench)
    sink = _KeepOpen()
    with sim.write_vcd(sink, traces=[tile_cycle]):
        sim.run()
    return Wave(vcd=_canonical(sink.getvalue()), cycles=int(got["cycles"]),  # type: ignore[call-overload]
                out=np.asarray(got["out"]), depths=depths)
