"""hwcnn.report.machine: the whole-machine figures of a compiled network on a board. The
expected numbers were measured on the Verilog of hwcnn_soc (Verilator + cocotb, the rtltb
harness, ``hwcnn verify --engine rtl``, with the LOAD2D row merging of the load unit, the
early-exit DMA set-up and chained DMA transfers: tiny_cnn, 4x4 WS, one 64-bit beat per cycle
and latency 16 as Arty A7's DRAM): 3447 cycles start to done, BUSY0..3 = 2489, 2280, 900,
507, and the cycles in which the testbench's RAM wrote each layer's last byte (two cycles after
the W handshake the model reports). With the incremental im2col descriptor walker (4 +
max(kh, kw) cycles per pixel) the model gives 3089 cycles, BUSY0..3 = 2137, 1922, 900, 507
(not yet re-measured with ``hwcnn verify --engine rtl``, the model's done cycle equals the
Verilog's in tests/test_soc_cocotb.py). With the WS element walker writing a run of up to a
word per cycle (hw/soc/im2col.py) and contiguous PIXELS STOREs sent as one DMA byte stream
(hw/soc/store.py) the model gave 2795 cycles; with PIXELS LOADs writing a whole word piece per
cycle (hw/soc/load.py) 2783, and with contiguous PIXELS LOADs sent as one DMA byte stream
2585; with 8 bursts in flight per DMA engine (arch.soc.DMA_OUTSTANDING, 4 before) 2482. With
pool1 computed on conv1's output in the output buffer (the compiler's pool fusion: conv1's
value never reaches DRAM) the Verilog (tests/test_soc_cocotb.py,
build/soc/results-networks-ws.json) takes 2286 cycles, BUSY0..3 = 1457, 1691, 623, 124, and the
RAM writes the stored layers' last bytes in cycles 1431 (pool1), 1845, 2265. With the
weights and parameters of the layer after a DRAM barrier loaded before the barrier's load side
(only the LOAD2D of its input waits for the stores) the Verilog (same test, same file) takes
1984 cycles, BUSY0..3 = 1329, 1659, 623, 124, and the RAM writes the last bytes in cycles 1401,
1685, 1963: the figures below (the model's W handshakes + 2)."""

from __future__ import annotations

import pytest

from hwcnn.arch.config import Dataflow
from hwcnn.boards.profiles import get_board
from hwcnn.machine.socsim import run_program
from hwcnn.report.machine import APPROXIMATE, ESTIMATED, PROVEN, dram_timing, machine_figures
from tests.test_program import _compiled, _graph, setup


def _compiled_as_cli(bus_bits: int, dram_gbps: float | None = None):  # type: ignore[no-untyped-def]
    """tiny_cnn compiled for ``--board arty-a7-100t --array 4x4 --buffers 1 --bus-bits B``:
    the tile search plans with that bus as the memory port (8 B/cycle at 64 bits, below the
    Arty's 13.3 B/cycle of DRAM), so the program is the CLI's."""
    from hwcnn import compiler as LW
    from hwcnn.cli.options import hardware_from_options
    from hwcnn.compiler.backend import compile_network

    hw, _ = hardware_from_options(board="arty-a7-100t", array="4x4", buffers="1",
                                  bus_bits=bus_bits, dram_gbps=dram_gbps)
    g = _graph("tiny_cnn")
    q, x = setup(g)
    prog = LW.lower(g, hw)
    return prog, compile_network(prog, q, x=x)

#: (dataflow, done cycle, per-layer RAM write of the last byte) measured on the Verilog
MEASURED = [(Dataflow.WEIGHT_STATIONARY, 1984, (1401, 1685, 1963))]


@pytest.mark.parametrize("df, cycles, layers", MEASURED)
def test_tiny_cnn_on_arty_equals_the_measured_verilog(df: Dataflow, cycles: int,
                                                      layers: tuple[int, ...]) -> None:
    prog, _, _, comp = _compiled("tiny_cnn", df, 4, 4, 1)
    board = get_board("arty-a7-35t")
    # measured on a 64-bit bus; the board's own width is 128 (its MIG's user interface)
    fig = machine_figures(comp, prog.hw, board, bus_bits=64)
    assert fig is not None and fig.bus_bits == 64
    assert fig.label == PROVEN == "model proven equal to the RTL"
    assert fig.cycles == cycles
    assert "conv1" not in fig.layer_cycles                 # pooled on chip, never stored
    assert tuple(fig.layer_cycles[n] + 2 for n in ("pool1", "conv2", "fc")) == layers
    assert fig.latency_us == pytest.approx(cycles / 100.0)
    assert fig.busy == (1329, 1659, 623, 124)


def test_the_machine_runs_on_the_board_s_axi_width() -> None:
    # KV260's S_AXI_HP ports are 128 bits: the figure is the stepped model's on 16-byte beats
    # (called here directly), and an explicit width still wins.
    prog, _, _, comp = _compiled("tiny_cnn", Dataflow.WEIGHT_STATIONARY, 4, 4, 1)
    board = get_board("kv260")
    dram = board.dram_timing(prog.hw.clock_mhz)
    fig = machine_figures(comp, prog.hw, board)
    assert fig is not None and fig.bus_bits == 128 and fig.label == PROVEN
    wide = run_program(comp, array=prog.hw.array, bus_bytes=16, dram=dram, base=0x1000)
    assert (fig.cycles, fig.layer_cycles, fig.busy) == (wide.cycles, wide.layer_writes,
                                                        wide.busy)
    narrow = machine_figures(comp, prog.hw, board, bus_bits=64)
    assert narrow is not None and narrow.bus_bits == 64
    assert narrow.cycles == run_program(comp, array=prog.hw.array, bus_bytes=8, dram=dram,
                                        base=0x1000).cycles
    assert narrow.cycles > fig.cycles       # half the bytes per beat: slower
    # without a board: the RTL's default, 64 bits
    alone = machine_figures(comp, prog.hw)
    assert alone is not None and alone.bus_bits == 64
    assert alone.cycles == run_program(comp, array=prog.hw.array, bus_bytes=8,
                                       dram=dram_timing(prog.hw, None), base=0x1000).cycles


def test_beyond_the_cycle_bound_there_is_no_figure() -> None:
    prog, _, _, comp = _compiled("tiny_cnn", Dataflow.WEIGHT_STATIONARY, 4, 4, 1)
    assert machine_figures(comp, prog.hw, None, max_cycles=1900) is None
    assert APPROXIMATE.startswith("memsim")


def test_dram_timing_without_a_board_is_the_configured_bandwidth() -> None:
    prog, _, _, _ = _compiled("tiny_cnn", Dataflow.WEIGHT_STATIONARY, 4, 4, 1)
    t = dram_timing(prog.hw, None)
    assert (t.latency, t.bytes_per_cycle) == (16, 16)
    # a slower DRAM (negative control): more cycles than the board's figure above
    _, _, _, comp = _compiled("tiny_cnn", Dataflow.WEIGHT_STATIONARY, 4, 4, 1)
    slow = machine_figures(comp, prog.hw, get_board("ulx3s-85f"))
    assert slow is not None and slow.cycles > MEASURED[0][1]


def test_dram_gbps_over_a_board_is_the_machine_s_dram(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """``--board B --dram-gbps X``: memsim plans with X and the machine runs on that DRAM
    (with the planning latency), not on the board's: tiny_cnn on the Arty A7-100T (13.3
    B/cycle) at 0.4 GB/s (4 B/cycle at 100 MHz) takes the stepped model's cycles on that
    DRAM, more than on the board's."""
    import json
    from fractions import Fraction

    from hwcnn.arch.dma import DramTiming
    from tests.cli_run import run_cli

    args = ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t", "--array", "4x4",
            "--buffers", "1", "-f", "json", "--machine", "--bus-bits", "64"]
    slow = json.loads(run_cli([*args, "--dram-gbps", "0.4"], capsys).out)
    fast = json.loads(run_cli(args, capsys).out)
    prog, comp = _compiled_as_cli(64, dram_gbps=0.4)
    direct = run_program(comp, array=prog.hw.array, bus_bytes=8,
                         dram=DramTiming(latency=16, bytes_per_cycle=Fraction(4)), base=0x1000)
    assert slow["dram_bytes_per_cycle"] == 4.0 and slow["machine_cycles"] == direct.cycles
    assert slow["machine_cycles"] > fast["machine_cycles"]


def test_report_machine_option() -> None:
    """``hwcnn report --board B`` runs the machine model by default (``--machine`` says so
    explicitly): the stepped model's total and per-layer figures with their label, memsim's
    columns labelled as the approximation; ``--no-machine`` gives memsim's alone."""
    import json

    from click.testing import CliRunner

    from hwcnn.cli.main import cli

    args = ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t", "--array", "4x4",
            "-f", "json"]
    res = CliRunner().invoke(cli, [*args, "--machine"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    facts = out
    assert facts["machine"] == "model proven equal to the RTL"
    assert facts["machine_bus_bits"] == 128           # Arty A7-100T's (boards.yaml axi_bits)
    assert facts["memsim_cycles"] == ("memsim approximation: the tile engine fed at the "
                                   "memory port's bandwidth, not the RTL machine "
                                   "(machine_cycles)")
    layers = {r["name"]: r for r in out["layers"]}
    done = [layers[n]["machine_done_cycle"] for n in ("pool1", "conv2", "fc")]
    assert done == sorted(done) and done[-1] < facts["machine_cycles"]
    assert layers["conv1"]["machine_done_cycle"] is None   # pooled in the output buffer
    assert layers["input"]["machine_done_cycle"] is None
    # per layer: the cycles since the previous stored layer's last write (pool1 carries
    # conv1's, computed in the output buffer); the total row: start to done
    shares = [layers[n]["machine_layer_cycles"] for n in ("pool1", "conv2", "fc")]
    assert shares == [done[0], done[1] - done[0], done[2] - done[1]]
    assert layers["conv1"]["machine_layer_cycles"] is None
    assert out["totals"]["total"]["machine_layer_cycles"] == facts["machine_cycles"]
    # memsim ignores fetch, the DMA set-up and the per-pixel store rows: below the RTL; its
    # loads last at least the load unit's im2col pace (hwcnn.compiler.gather), so not far
    # (without that floor the machine took 3.2x memsim's cycles here)
    memsim_total = out["totals"]["total"]["total_cycles"]
    assert memsim_total < facts["machine_cycles"] < 1.5 * memsim_total
    assert facts["machine_latency_ms"] == round(facts["machine_cycles"] / 100 / 1000, 3)
    assert facts["machine_fps"] == round(100e6 / facts["machine_cycles"], 2)
    # the array's utilization on the machine: the GEMM layers' MACs (conv1 8x8x4 outputs x 9
    # taps, conv2 2x2x8 x 36, fc 10 x 32: 2,304 + 1,152 + 320) over 16 PEs x the done cycle
    assert facts["machine_util_pct"] == round(100 * 3776 / 16 / facts["machine_cycles"], 2)
    memsim = out["totals"]["total"]
    assert memsim["utilization"] == round(100 * 3776 / 16 / memsim["total_cycles"], 2)
    default = json.loads(CliRunner().invoke(cli, args).stdout)
    assert default == out                             # on with --board
    plain = json.loads(CliRunner().invoke(cli, [*args, "--no-machine"]).stdout)
    assert plain["memsim_cycles"] == ("memsim approximation: the tile engine fed at the "
                                   "memory port's bandwidth, not the RTL machine "
                                   "(machine_cycles)")
    assert not [k for k in plain if k.startswith("machine")]
    assert "machine_done_cycle" not in json.dumps(plain)
    # hardware options without a board: memsim alone unless --machine
    bare = json.loads(CliRunner().invoke(cli, args[:2] + args[4:]).stdout)
    assert "machine" not in bare and "latency_ms" in bare


def test_report_on_a_board_without_a_machine_program(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """A network with a layer on the host CPU has no program: on a board the report keeps
    memsim's figures and says why the machine did not run; ``--machine`` makes it an error
    (one line, exit 2)."""
    import json

    from tests.cli_run import run_cli

    spec = "models/mobilenet_v3_small.yaml"
    why = ("layer 'features.0/HardSwish_3': hardswish runs on the host CPU; a compiled program "
           "cannot contain it")
    r = run_cli(["report", spec, "--board", "kv260", "-f", "json"], capsys)
    assert r.code == 0, (r.err, r.crash)
    facts = json.loads(r.out)
    assert facts["machine"] == f"not run: {why}"
    assert "machine_cycles" not in facts and facts["latency_ms"] > 0
    r = run_cli(["report", spec, "--board", "kv260", "--machine"], capsys)
    assert r.code == 2 and r.out == "" and r.crash is None
    assert r.err == f"hwcnn: error: {spec}: {why}\n"


def test_report_machine_bus_bits(capsys: pytest.CaptureFixture[str]) -> None:
    """``--bus-bits`` sets the machine's AXI width (over the board's 128 on the Arty): the
    figure is the stepped model's on 8-byte beats, run here directly; with ``--no-machine``
    the option is refused in one line."""
    import json

    from tests.cli_run import run_cli

    args = ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t", "--array", "4x4",
            "--buffers", "1", "-f", "json", "--machine"]
    r = run_cli([*args, "--bus-bits", "64"], capsys)
    assert r.code == 0, (r.err, r.crash)
    facts = json.loads(r.out)
    prog, comp = _compiled_as_cli(64)
    board = get_board("arty-a7-100t")
    direct = run_program(comp, array=prog.hw.array, bus_bytes=8,
                         dram=dram_timing(prog.hw, board), base=0x1000)
    assert facts["machine_bus_bits"] == 64 and facts["machine_cycles"] == direct.cycles
    wide = json.loads(run_cli(args, capsys).out)
    assert wide["machine_bus_bits"] == 128 and wide["machine_cycles"] != direct.cycles
    r = run_cli(["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t", "--bus-bits",
                 "128", "--no-machine"], capsys)
    assert r.code == 2 and r.out == "" and r.crash is None
    assert r.err == ("hwcnn: error: --bus-bits needs the machine model (--machine, the default "
                     "with --board)\n")


def test_report_machine_max_cycles(capsys: pytest.CaptureFixture[str]) -> None:
    """``--machine-max-cycles N``: a network whose estimate exceeds N gets the instruction-level
    estimate (its own figure, labelled so); 0 steps however long (the stepped model's figure,
    the same as a direct run); without the machine model refused in one line."""
    import json

    from hwcnn.machine.insnsim import run_program_fast
    from tests.cli_run import run_cli

    args = ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t", "--array", "4x4",
            "--buffers", "1", "-f", "json", "--machine", "--bus-bits", "64"]
    prog, comp = _compiled_as_cli(64)
    dram = dram_timing(prog.hw, get_board("arty-a7-100t"))
    exact = run_program(comp, array=prog.hw.array, bus_bytes=8, dram=dram, base=0x1000).cycles
    fast = run_program_fast(comp, array=prog.hw.array, bus_bytes=8, dram=dram,
                            base=0x1000).cycles
    assert fast != exact
    low = json.loads(run_cli([*args, "--machine-max-cycles", "1000"], capsys).out)
    assert low["machine"] == ESTIMATED and low["machine_cycles"] == fast
    always = json.loads(run_cli([*args, "--machine-max-cycles", "0"], capsys).out)
    assert always["machine"] == "model proven equal to the RTL"
    assert always["machine_cycles"] == exact
    r = run_cli(["report", "models/tiny_cnn.yaml", "--array", "4x4",
                 "--machine-max-cycles", "5"], capsys)
    assert r.code == 2 and r.out == "" and r.crash is None
    assert r.err == ("hwcnn: error: --machine-max-cycles needs the machine model (--machine, "
                     "the default with --board)\n")


@pytest.mark.parametrize("name, df", [("lenet5", Dataflow.WEIGHT_STATIONARY),
                                      ("resblock", Dataflow.OUTPUT_STATIONARY),
                                      ("mbv2_block", Dataflow.WEIGHT_STATIONARY)])
def test_the_machine_s_timing_does_not_depend_on_the_values(name: str, df: Dataflow) -> None:
    """What the report's machine figures rely on when they quantize seeded float32 weights
    with one calibration input (``hwcnn report --board``): two quantizations of the same
    network with other weights (float64 and float32 streams, other seeds) and other
    calibration images give programs whose every instruction dispatches and finishes in the
    same cycles, while the weights in their DRAM images differ."""
    from hwcnn.compiler.backend import compile_network
    from hwcnn.compiler.lowering import lower
    from hwcnn.numerics.quantize import calibration_inputs, quantize_network
    from hwcnn.numerics.weights import init_weights
    from tests.test_program import _graph, hw

    g = _graph(name)
    shape = g.nodes[next(iter(g.nodes))]["out_shape"]
    h = hw(df, 4, 4, 1)
    runs, images = [], []
    for seed, dtype, n in ((0, "float64", 4), (7, "float32", 1)):
        q = quantize_network(g, init_weights(g, seed, dtype=dtype),
                             calibration_inputs(shape, n, seed + 1))
        comp = compile_network(lower(g, h), q)
        images.append(comp.image)
        runs.append(run_program(comp, array=h.array, bus_bytes=8,
                                dram=dram_timing(h, get_board("arty-a7-100t")), base=0x1000))
    assert images[0] != images[1]
    assert runs[0] == runs[1] and runs[0].cycles > 1000


def test_the_help_states_the_default_stepping_bound() -> None:
    """``hwcnn report --help`` gives the default bound that the report uses
    (:data:`hwcnn.report.machine.MAX_ACTIVE`), so the two cannot drift apart."""
    from click.testing import CliRunner

    from hwcnn.cli.main import cli
    from hwcnn.report.machine import MAX_ACTIVE

    res = CliRunner().invoke(cli, ["report", "--help"], terminal_width=1000)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert f"at most {MAX_ACTIVE:,} cycles with the load or store unit busy" in text
