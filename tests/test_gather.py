"""The load unit's floor in planning (hwcnn.compiler.gather): hand-worked paces, which layers
get one, memsim's use of it, and memsim against the stepped machine with it."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from hwcnn.arch.soc import IM2COL_PHASES
from hwcnn.cli.main import cli
from hwcnn.cli.options import hardware_from_options
from hwcnn.compiler.gather import IM2COL_SETUP, Gather, gather_of
from hwcnn.machine import memsim
from tests.conftest import graph_of


def test_setup_is_the_walkers_first_cycle() -> None:
    # three bit-serial phases of 25, 21 and 14 cycles; the walkers load their first pixel in
    # cycle 60 and write the first element in 62 (rtl/README.md 10.2, hw/soc/im2col.py)
    assert IM2COL_PHASES == (25, 21, 14) and IM2COL_SETUP == 62


def test_tile_paces_by_hand() -> None:
    # (both dataflows: one activation layout, one gather)
    ws = Gather(kh=3, kw=3, cg=32, bus_bytes=16, elem_bytes=1)
    # whole K (3 kernel rows of 96 bytes): 4 + 3 + 3 * (95/16 + 1) = 27.8125 per pixel
    assert ws.tile_cycles(196, 288) == 62 + math.ceil(196 * 27.8125)
    # one kernel row of the three (a row chunk): 4 + 3 + 6.9375 = 13.9375, or the latency
    # bound (16 + 6.9375 + 3) / 2 = 12.97: 13.9375
    assert ws.tile_cycles(10, 96) == 62 + math.ceil(10 * 13.9375)
    # 48 elements: one and a half kernel positions of 32 channels, a descriptor each (2 of 32
    # bytes): beats 2 * (31/16 + 1) = 5.875; max(4 + 2 + 5.875, (16 + 5.875 + 3) / 2)
    assert ws.tile_cycles(10, 48) == 62 + math.ceil(10 * 12.4375)
    # a pack of 2 groups doubles the channels of a kernel position
    assert ws.tile_cycles(196, 576, pack=2) == 62 + math.ceil(196 * (7 + 3 * (191 / 16 + 1)))
    assert ws.tile_cycles(0, 288) == ws.tile_cycles(5, 0) == 0


def test_which_layers_gather() -> None:
    g = graph_of("name: t\ninput: [16, 7, 7]\nlayers:\n"
                 "  - {name: c3, kind: conv2d, filters: 8, kernel: 3, padding: 1}\n"
                 "  - {name: c1, kind: conv2d, filters: 8, kernel: 1}\n"
                 "  - {name: d, kind: dense, units: 10}\n")
    ws, _ = hardware_from_options(board="kv260")
    osw, _ = hardware_from_options(board="kv260", dataflow="os")
    free, _ = hardware_from_options(array="32x32")                 # no port: the tile engine
    c3, c1, d = (g.nodes[n] for n in ("c3", "c1", "d"))
    assert gather_of(c3, ws) == gather_of(c3, osw) == Gather(kh=3, kw=3, cg=16, bus_bytes=16,
                                                             elem_bytes=1)
    assert gather_of(c1, ws) is gather_of(c1, osw) is None       # a PIXELS load
    # a dense layer's kernel is its whole 7x7x8 input map
    assert gather_of(d, ws) == Gather(kh=7, kw=7, cg=8, bus_bytes=16, elem_bytes=1)
    assert gather_of(c3, free) is None


def test_memsim_load_floor_by_hand() -> None:
    # two tiles of 10 cycles, 32 B in and 16 B out at 16 B/cycle, loads of at least 5 and 12
    # cycles: load0 [0,5), compute0 [5,15) while load1 [5,17), compute1 [17,27), store0
    # [17,18), store1 [27,28)
    t = memsim.simulate([10, 10], [32, 32], [16, 16], 16.0, load_min=[5, 12])
    assert (t.start.tolist(), t.stall.tolist(), t.total) == ([5, 17], [5, 3], 28)
    # tile 1 reads tile 0's output: store0 [15,16), then its 12-cycle gather [16,28)
    t = memsim.simulate([10, 10], [32, 32], [16, 16], 16.0, barrier=[False, True],
                        load_min=[5, 12])
    assert (t.start.tolist(), t.drain.tolist(), t.total) == ([5, 28], [1, 0], 39)
    with pytest.raises(ValueError, match="load_min needs one entry per tile"):
        memsim.simulate([10], [32], [16], 16.0, load_min=[1, 2])


@pytest.mark.parametrize("df", ["ws", "os"])
def test_memsim_is_near_the_machine_with_the_floor(df: str) -> None:
    # tiny_cnn on the Arty A7-100T (4x4, 1 KiB buffers, 128-bit port): the stepped machine,
    # proven equal to the RTL, against memsim with the load unit's floors: memsim below (it
    # ignores fetch, the DMA set-up and the per-pixel store rows), within 1.6x (without the
    # floors the machine took 3.2x memsim's cycles in WS)
    res = CliRunner().invoke(cli, ["report", "models/tiny_cnn.yaml", "--board", "arty-a7-100t",
                                   "--array", "4x4", "--buffers", "1", "--dataflow", df,
                                   "--machine", "--machine-max-cycles", "0", "-f", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    memsim_total = out["totals"]["total"]["total_cycles"]
    assert out["machine"] == "model proven equal to the RTL"
    assert memsim_total < out["machine_cycles"] < 1.6 * memsim_total
