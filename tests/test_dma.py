"""The DMA's pure parts: burst splitting, the closed form (hand-worked cycles), the stepped model
against the closed form, the DRAM timing parameters (no simulator; the RTL is compared with both
in ``tests/test_dma_cocotb.py``)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwcnn.arch.dma import DmaDesc, DramTiming, burst_beats, bursts, in_window
from hwcnn.arch.dma_timing import (
    SETUP_CYCLES_MAX,
    chain_timing,
    setup_cycles,
    transfer_cycles,
    transfer_timing,
)
from hwcnn.errors import ConfigError
from hwcnn.machine.dmasim import DmaModel, Request

FULL = DramTiming(latency=12, bytes_per_cycle=Fraction(64))


def test_bursts_hand_examples() -> None:
    # 12 bytes from 0xFFC on a 64-bit bus: beats 0xFF8 (lanes 4-7) and 0x1000 (lanes 0-7):
    # the 4 KiB boundary splits them into two one-beat bursts.
    b = bursts(DmaDesc(dram_addr=0xFFC, row_bytes=12, buf_addr=5), 8)
    assert [(x.addr, x.beats, x.buf_addr, x.first_strb, x.last_strb) for x in b] == [
        (0xFF8, 1, 5, 0xF0, 0xFF), (0x1000, 1, 6, 0xFF, 0xFF)]
    # 2,056 bytes from 0 on a 64-bit bus: 257 beats -> 256 + 1 (the 256-beat limit)
    b = bursts(DmaDesc(dram_addr=0, row_bytes=2056), 8)
    assert [(x.addr, x.beats) for x in b] == [(0, 256), (2048, 1)]
    # 128-bit bus, 4 KiB from 0x800: 256 beats but the boundary at 0x1000 cuts at 128
    b = bursts(DmaDesc(dram_addr=0x800, row_bytes=4096), 16)
    assert [(x.addr, x.beats) for x in b] == [(0x800, 128), (0x1000, 128)]
    # two rows, 3 bytes each at offset 6 of a 64-bit beat: row 1 starts 13 bytes later
    b = bursts(DmaDesc(dram_addr=6, row_bytes=3, rows=2, row_stride=13, buf_addr=0,
                       buf_stride=4), 8)
    assert [(x.addr, x.beats, x.buf_addr, x.first_strb, x.last_strb) for x in b] == [
        (0, 2, 0, 0xC0, 0x01), (16, 1, 4, 0xF8, 0x3F)]   # row 1: bytes 19-21 = lanes 3-5
    assert bursts(DmaDesc(dram_addr=0, row_bytes=0, rows=3), 8) == []


@settings(max_examples=300, deadline=None)
@given(addr=st.integers(0, 1 << 20), row_bytes=st.integers(1, 9000), rows=st.integers(1, 3),
       stride=st.integers(0, 5000), nb=st.sampled_from([8, 16, 32]))
def test_bursts_obey_axi_and_cover_every_byte(addr: int, row_bytes: int, rows: int,
                                              stride: int, nb: int) -> None:
    desc = DmaDesc(dram_addr=addr, row_bytes=row_bytes, rows=rows, row_stride=stride)
    covered: list[int] = []
    for b in bursts(desc, nb):
        assert 1 <= b.beats <= 256 and b.addr % nb == 0
        assert b.addr // 4096 == (b.addr + b.beats * nb - 1) // 4096      # no 4 KiB crossing
        for j in range(b.beats):
            strb = (b.first_strb if j == 0 else (1 << nb) - 1) & \
                   (b.last_strb if j == b.beats - 1 else (1 << nb) - 1)
            covered += [b.addr + j * nb + lane for lane in range(nb) if strb >> lane & 1]
    want = [x0 + i for x0 in desc.row_starts() for i in range(row_bytes)]
    assert covered == want


def test_burst_beats_hand_examples() -> None:
    # the cases of test_bursts_hand_examples, beats only; plus two planes of two rows each
    assert burst_beats(DmaDesc(dram_addr=0xFFC, row_bytes=12), 8) == [1, 1]
    assert burst_beats(DmaDesc(dram_addr=0, row_bytes=2056), 8) == [256, 1]
    assert burst_beats(DmaDesc(dram_addr=0x800, row_bytes=4096), 16) == [128, 128]
    assert burst_beats(DmaDesc(dram_addr=6, row_bytes=3, rows=2, row_stride=13), 8) == [2, 1]
    assert burst_beats(DmaDesc(dram_addr=0, row_bytes=0, rows=3), 8) == []
    # rows at 0, 10 (plane 0) and 4090, 4100 (plane 1), 9 bytes each on a 64-bit bus:
    # bytes 0-8 (2 beats), 10-18 (2: beats 8, 16), 4090-4098 (beat 4088 | page | 4096),
    # 4100-4108 (beats 4096, 4104)
    d = DmaDesc(dram_addr=0, row_bytes=9, rows=2, row_stride=10, planes=2, plane_stride=4090)
    assert burst_beats(d, 8) == [2, 2, 1, 1, 2]


@settings(max_examples=200, deadline=None)
@given(addr=st.integers(0, 1 << 20), row_bytes=st.integers(0, 9000), rows=st.integers(0, 3),
       stride=st.integers(0, 5000), planes=st.integers(0, 3), pstride=st.integers(0, 20000),
       nb=st.sampled_from([8, 16, 32]))
def test_burst_beats_are_the_bursts(addr: int, row_bytes: int, rows: int, stride: int,
                                    planes: int, pstride: int, nb: int) -> None:
    desc = DmaDesc(dram_addr=addr, row_bytes=row_bytes, rows=rows, row_stride=stride,
                   planes=planes, plane_stride=pstride)
    assert burst_beats(desc, nb) == [b.beats for b in bursts(desc, nb)]


def test_setup_cycles_hand_count() -> None:
    # S = 2 + max(bitlen(rows-1), bitlen(planes-1)) (handshake, shift-add steps, CHECK); rows-1
    # and planes-1 are 16-bit (rows = 0 wraps to 0xFFFF: 16 steps)
    hand = {(1, 1): 2, (2, 1): 3, (3, 1): 4, (4, 1): 4, (5, 1): 5, (1, 2): 3, (1, 9): 6,
            (3, 5): 5, (8, 8): 5, (9, 2): 6, (0, 1): 18, (1, 0): 18, (65535, 1): 18,
            (32768, 2): 17, (32769, 1): 18}
    for (rows, planes), want in hand.items():
        assert setup_cycles(rows, planes) == want, (rows, planes)
    assert SETUP_CYCLES_MAX == 18


def test_closed_form_hand_examples() -> None:
    # 64-bit bus, one beat per cycle, latency 12: the two bursts of 0xFFC+12 bytes issue at
    # 2 and 3 (handshake 0, CHECK 1: rows = planes = 1 need no shift-add step); their beats
    # move at 2+12 = 14 and 15; status 16 (the cycle after the last RLAST).
    t = transfer_timing(DmaDesc(dram_addr=0xFFC, row_bytes=12), write=False, bus_bytes=8,
                        dram=FULL, outstanding=4)
    assert (t.issue, t.last_beat, t.status) == ((2, 3), (14, 15), 16)
    # three rows: rows-1 = 2 = 0b10 needs 2 shift-add steps, so the first AR is at 4; beats
    # 16, 17, 18; status 19
    t = transfer_timing(DmaDesc(dram_addr=0, row_bytes=8, rows=3, row_stride=64), write=False,
                        bus_bytes=8, dram=FULL, outstanding=4)
    assert (t.issue, t.last_beat, t.status) == ((4, 5, 6), (16, 17, 18), 19)
    # one outstanding burst: burst 1 waits for RLAST of burst 0 (14 + 255 = 269) -> AR at 270,
    # its beat at 270 + 12 = 282, status 283
    t = transfer_timing(DmaDesc(dram_addr=0, row_bytes=2056), write=False, bus_bytes=8,
                        dram=FULL, outstanding=1)
    assert (t.issue, t.last_beat, t.status) == ((2, 270), (269, 282), 283)
    # 256-bit beats at 13.3 bytes/cycle: tau = 32/13.3 = 320/133 cycles. Beat 0 may start at
    # (14 - 1)*133 + 1 = 1730/133 (moves in cycle 14), beat 1 at (1730 + 320)/133 = 15.4
    # (cycle 16); status 17.
    arty = DramTiming.from_board(1.33, 100, latency=12)
    assert arty.slot(32) == (320, 133) and arty.slot(8) == (1, 1)
    t = transfer_timing(DmaDesc(dram_addr=0, row_bytes=64), write=False, bus_bytes=32,
                        dram=arty, outstanding=4)
    assert (t.last_beat, t.status) == ((16,), 17)
    # a one-beat write: AW at 2, its word at 2 + 3 = 5, B at 5 + 12 = 17, status 18
    t = transfer_timing(DmaDesc(dram_addr=64, row_bytes=1), write=True, bus_bytes=8,
                        dram=FULL, outstanding=4)
    assert (t.issue, t.last_beat, t.done, t.status) == ((2,), (5,), (17,), 18)
    # empty and refused transfers end after the set-up
    assert transfer_cycles(DmaDesc(dram_addr=0, row_bytes=0), write=False, bus_bytes=8,
                           dram=FULL) == 2
    assert transfer_cycles(DmaDesc(dram_addr=0, row_bytes=0, rows=0), write=False, bus_bytes=8,
                           dram=FULL) == SETUP_CYCLES_MAX == 18
    assert transfer_cycles(DmaDesc(dram_addr=0, row_bytes=9), write=True, bus_bytes=8,
                           dram=FULL, window=(1, 100)) == 2
    assert transfer_cycles(DmaDesc(dram_addr=0, row_bytes=9, rows=5, planes=2), write=True,
                           bus_bytes=8, dram=FULL, window=(1, 100)) == 5


def test_window_check() -> None:
    d = DmaDesc(dram_addr=100, row_bytes=10, rows=3, row_stride=20)   # bytes 100 .. 149
    assert d.end() == 150
    assert in_window(d, (100, 50)) and not in_window(d, (100, 49)) and not in_window(d, (101, 60))
    assert not in_window(DmaDesc(dram_addr=(1 << 32) - 4, row_bytes=5), (0, 1 << 40))


@pytest.mark.parametrize("nb", [8, 16, 32])
@pytest.mark.parametrize("write", [False, True])
def test_stepped_model_equals_closed_form(nb: int, write: bool) -> None:
    rng = random.Random(nb * 2 + write)
    for _ in range(40):
        dram = DramTiming(latency=rng.randint(4, 40),
                          bytes_per_cycle=Fraction(rng.randint(1, 80), rng.randint(1, 7)))
        n = rng.randint(1, 5)
        desc = DmaDesc(dram_addr=rng.randrange(0, 1 << 16), row_bytes=rng.randint(0, 3000),
                       rows=rng.randint(1, 4), row_stride=rng.randint(0, 5000),
                       planes=rng.randint(1, 2), plane_stride=rng.randint(0, 20000))
        client = "store" if write else "load"
        model = DmaModel(bus_bytes=nb, dram=dram, outstanding=n)
        (out,) = model.run([Request(client=client, desc=desc)])
        want = transfer_cycles(desc, write=write, bus_bytes=nb, dram=dram, outstanding=n)
        assert out.cycles == want, (desc, dram, n)
        assert out.code == 0


def test_stepped_model_arbitration_round_robin() -> None:
    """fetch and load both pending: fetch first, then load, alternating; a load that arrives
    later waits for the transfer in progress."""
    d = DmaDesc(dram_addr=0, row_bytes=64)
    model = DmaModel(bus_bytes=8, dram=FULL)
    out = model.run([Request(client="fetch", desc=d), Request(client="fetch", desc=d),
                     Request(client="load", desc=d), Request(client="load", desc=d)])
    order = sorted(out, key=lambda o: o.cmd_cycle)
    assert [o.client for o in order] == ["fetch", "load", "fetch", "load"]
    one = transfer_cycles(d, write=False, bus_bytes=8, dram=FULL)
    # each transfer alone takes `one` cycles; the next is taken the cycle after a status
    assert [o.cmd_cycle for o in order] == [0, one + 1, 2 * one + 2, 3 * one + 3]
    assert all(o.cycles == one for o in out)


def test_negative_control_other_latency_differs() -> None:
    d = DmaDesc(dram_addr=8, row_bytes=500, rows=2, row_stride=600)
    slow = DramTiming(latency=13, bytes_per_cycle=Fraction(64))
    (out,) = DmaModel(bus_bytes=8, dram=FULL).run([Request(client="load", desc=d)])
    assert out.cycles != transfer_cycles(d, write=False, bus_bytes=8, dram=slow)


def test_dram_timing_validation() -> None:
    with pytest.raises(ConfigError, match=r"^DRAM latency must be an integer of at least 4 "
                                          r"cycles, not 3$"):
        DramTiming(latency=3)
    with pytest.raises(ConfigError, match=r"^DRAM bandwidth must be a positive integer or "
                                          r"Fraction of bytes per cycle, not 0$"):
        DramTiming(bytes_per_cycle=0)
    with pytest.raises(ConfigError, match=r"^DMA descriptor: rows 65536 needs more than 16 bits$"):
        DmaDesc(dram_addr=0, row_bytes=1, rows=1 << 16)
    assert DramTiming.from_board(2.1, 100).bytes_per_cycle == 21


def test_board_dram_timing() -> None:
    from hwcnn.boards.profiles import get_board

    # PYNQ-Z2: 2.1 GB/s at its 100 MHz planning clock = 21 bytes per cycle; 64-bit beats move
    # every cycle, 256-bit beats every 32/21 cycles
    t = get_board("pynq-z2").dram_timing()
    assert t.bytes_per_cycle == 21 and t.latency == 16
    assert t.slot(8) == (1, 1) and t.slot(32) == (32, 21)
    assert get_board("pynq-z2").dram_timing(150).bytes_per_cycle == 14


def test_chained_transfers_hand_worked() -> None:
    """Three 16-byte reads (one 2-beat burst each) of one client, all offered at once, 64-bit
    bus, latency 12, a beat per cycle. T0: taken 0, CHECK 1, AR 2 (its walk ends: D), beats
    14-15, status 16. T1: taken 3 (the walker is free the cycle after T0 became D), AR 5 ->
    HOLD (D still holds T0) until T0's status in 16, when T1 becomes D; beats 17-18 (the slot
    server is busy until 16), status 19. T2: taken 17, AR 19 (T1's status that cycle: T2
    becomes D at once), beats 31-32, status 33."""
    descs = [DmaDesc(dram_addr=0x100 * i, row_bytes=16) for i in range(3)]
    ch = chain_timing(descs, write=False, bus_bytes=8, dram=FULL, outstanding=4)
    assert (ch.cmd, ch.issue, ch.status) == ((0, 3, 17), (2, 5, 19), (16, 19, 33))
    out = DmaModel(bus_bytes=8, dram=FULL).run([Request(client="load", desc=d) for d in descs])
    assert [(o.cmd_cycle, o.status_cycle) for o in out] == [(0, 16), (3, 19), (17, 33)]
    # one write of two rows chained after an empty transfer: the empty one ends in its CHECK
    # (cycle 1), becomes D at once, status 2; the write is taken in 2, rows-1 = 1 (one step):
    # AW at 2 + 3 = 5 and 6, W beats 8 and 9, B at 20 and 21, status 22
    descs = [DmaDesc(dram_addr=0, row_bytes=0),
             DmaDesc(dram_addr=64, row_bytes=8, rows=2, row_stride=64)]
    ch = chain_timing(descs, write=True, bus_bytes=8, dram=FULL, outstanding=4)
    assert (ch.cmd, ch.issue, ch.status) == ((0, 2), (5, 6), (2, 22))
    out = DmaModel(bus_bytes=8, dram=FULL).run([Request(client="store", desc=d) for d in descs])
    assert [(o.cmd_cycle, o.status_cycle) for o in out] == [(0, 2), (2, 22)]


def test_chained_transfers_with_offer_gaps() -> None:
    """``gaps``: the same three reads as above, the client offering each descriptor at the
    earliest ``gaps[k]`` cycles after the previous handshake. T0 offered and taken in 5: AR 7,
    beats 19-20, status 21. T1: the walker is free in 8, the client offers it only in
    5 + 30 = 35: AR 37, beats 49-50, status 51. T2: 35 + 1 = 36 < move + 1 = 38: taken 38
    (T1 is D from its AR in 37), AR 40 -> HOLD until T1's status in 51, beats 52-53, status 54.
    The stepped DMA model, offered each descriptor in the cycle the closed form says it is
    taken, agrees."""
    descs = [DmaDesc(dram_addr=0x100 * i, row_bytes=16) for i in range(3)]
    ch = chain_timing(descs, write=False, bus_bytes=8, dram=FULL, outstanding=4,
                      gaps=[5, 30, 1])
    assert (ch.cmd, ch.issue, ch.status) == ((5, 35, 38), (7, 37, 40), (21, 51, 54))
    out = DmaModel(bus_bytes=8, dram=FULL).run(
        [Request(client="load", desc=d, at=c) for d, c in zip(descs, ch.cmd, strict=True)])
    assert [(o.cmd_cycle, o.status_cycle) for o in out] == [(5, 21), (35, 51), (38, 54)]
    # zero gaps: the back-to-back chain
    assert chain_timing(descs, write=False, bus_bytes=8, dram=FULL, gaps=[0, 0, 0]) == \
        chain_timing(descs, write=False, bus_bytes=8, dram=FULL)


@pytest.mark.parametrize("nb", [8, 16, 32])
@pytest.mark.parametrize("write", [False, True])
def test_stepped_model_equals_chain_closed_form(nb: int, write: bool) -> None:
    rng = random.Random(100 + nb * 2 + write)
    window = (0x40, 1 << 17)
    for _ in range(30):
        dram = DramTiming(latency=rng.randint(4, 30),
                          bytes_per_cycle=Fraction(rng.randint(1, 80), rng.randint(1, 7)))
        n = rng.randint(1, 5)
        descs = [DmaDesc(dram_addr=rng.randrange(0, 1 << 16),
                         row_bytes=rng.choice([0, rng.randint(1, 40), rng.randint(1, 2000)]),
                         rows=rng.randint(1, 4), row_stride=rng.randint(0, 3000),
                         planes=rng.randint(1, 2), plane_stride=rng.randint(0, 9000))
                 for _ in range(rng.randint(1, 5))]
        client = "store" if write else "load"
        model = DmaModel(bus_bytes=nb, dram=dram, outstanding=n, window=window)
        out = model.run([Request(client=client, desc=d) for d in descs])
        ch = chain_timing(descs, write=write, bus_bytes=nb, dram=dram, outstanding=n,
                          window=window)
        assert [(o.cmd_cycle, o.status_cycle) for o in out] == list(
            zip(ch.cmd, ch.status, strict=True)), (descs, dram, n)
        assert [o.code for o in out] == [0 if in_window(d, window) else 1 for d in descs]
        if len(descs) == 1:
            assert ch.status[0] == transfer_cycles(descs[0], write=write, bus_bytes=nb,
                                                   dram=dram, outstanding=n, window=window)


def test_stepped_model_chaining_yields_to_another_client() -> None:
    """load chains its transfers while nobody else offers; a fetch descriptor arriving while
    load's first transfer drains stops the chain: the engine drains, fetch is granted the
    cycle after load's status (round robin), then load again."""
    d = DmaDesc(dram_addr=0, row_bytes=64)
    one = transfer_cycles(d, write=False, bus_bytes=8, dram=FULL)
    out = DmaModel(bus_bytes=8, dram=FULL).run(
        [Request(client="load", desc=d), Request(client="load", desc=d),
         Request(client="fetch", desc=d, at=2), Request(client="load", desc=d)])
    # load 0: taken 0, its walk ends at its AR (2), the walker is free from 3; fetch offers
    # from 2, so load 1 is not chained: load 0 drains (status `one`), the idle engine goes to
    # fetch in one+1 (round robin after load), then to load 1 when fetch is done; load 3 is
    # chained onto load 1 (nobody else offers): taken the cycle after load 1's AR
    # (its 8 beats queue behind load 1's: the chain's closed form gives both)
    a = one + 1 + one + 1
    ch = chain_timing([d, d], write=False, bus_bytes=8, dram=FULL)
    assert ch.cmd == (0, 3) and ch.status[0] == one
    assert [(o.client, o.cmd_cycle, o.status_cycle) for o in out] == [
        ("load", 0, one), ("load", a, a + one), ("fetch", one + 1, 2 * one + 1),
        ("load", a + 3, a + ch.status[1])]
