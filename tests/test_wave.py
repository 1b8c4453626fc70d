"""``hwcnn wave``: the VCD of one tile on the generated top level, read back with a small
VCD reader written here (stdlib only), against cycle tables worked by hand.

Hand tables (the same as tests/test_trace.py; cycle 0 = the cycle start is sampled in):
* OS, s x s x s on s x s: PE(i, j) multiplies A[i, kk] * B[kk, j] in cycle 2 + i + j + kk;
  output row i is written in cycle 1 + k + C + i + 3; done in T = 1 + (k + R + C + 3).
* WS: PE(i, j) holds B[i, j] (one fold) and multiplies A[ii, i] in cycle R + 2 + i + j + ii;
  row ii is written in cycle 1 + R + ii + R + C + 3; done in T = 1 + (m + 2R + C + 3).
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.arch.timing import gemm_tile_cycles
from hwcnn.cli.main import cli
from hwcnn.hw.wave import CLOCK_PERIOD_S, gemm_wave, signal_table

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY
PERIOD = round(CLOCK_PERIOD_S * 1e15)  # fs


class Vcd:
    """Scopes, variables and value changes of a VCD file (wires only, no aliases needed)."""

    def __init__(self, text: str) -> None:
        self.width: dict[str, int] = {}
        self.changes: dict[str, list[tuple[int, int]]] = {}
        ids: dict[str, list[str]] = {}
        scope: list[str] = []
        tokens = iter(text.split())
        now = 0
        for tok in tokens:
            if tok == "$scope":
                next(tokens)
                scope.append(next(tokens))
                assert next(tokens) == "$end"
            elif tok == "$upscope":
                scope.pop()
                assert next(tokens) == "$end"
            elif tok == "$var":
                _kind, width, ident, name = (next(tokens) for _ in range(4))
                while next(tokens) != "$end":
                    pass
                path = ".".join([*scope, name])
                ids.setdefault(ident, []).append(path)
                self.width[path] = int(width)
                self.changes[path] = []
            elif tok in ("$comment", "$date", "$timescale", "$version"):
                while next(tokens) != "$end":
                    pass
            elif tok in ("$enddefinitions", "$dumpvars", "$end"):
                continue
            elif tok.startswith("#"):
                now = int(tok[1:])
            elif tok[0] in "bB":
                ident = next(tokens)
                for p in ids[ident]:
                    self.changes[p].append((now, int(tok[1:].replace("x", "0"), 2)))
            elif tok[0] in "sr":  # string (the FSM state) or real: not needed here
                next(tokens)
            elif tok[0] in "01xz":
                for p in ids[tok[1:]]:
                    self.changes[p].append((now, 1 if tok[0] == "1" else 0))

    def at(self, path: str, time: int, signed: bool = False) -> int:
        """Value of ``path`` at ``time`` (the last change at or before it)."""
        v = 0
        for t, x in self.changes[path]:
            if t > time:
                break
            v = x
        w = self.width[path]
        return v - (1 << w) if signed and v >> (w - 1) else v

    def rises(self, path: str) -> list[int]:
        ch = self.changes[path]
        return [t for (t, v), (_, p) in zip(ch[1:], ch, strict=False) if v and not p]


def cycle_time(vcd: Vcd, start_edge: int, cycle: int) -> int:
    """A time in the middle of tile cycle ``cycle`` (cycle 0 ends at ``start_edge``)."""
    return start_edge + (cycle - 1) * PERIOD + PERIOD // 2


def start_edge(vcd: Vcd) -> int:
    """The rising clock edge that samples start = 1."""
    edges = [t for t in vcd.rises("bench.top.clk") if vcd.at("bench.top.start", t - 1)]
    assert len(edges) == 1
    return edges[0]


def seeded(s: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)  # the CLI's documented seeding: A then B, in -4..4
    return rng.integers(-4, 5, (s, s)), rng.integers(-4, 5, (s, s))


# (size s of the s x s x s GEMM on an s x s array, dataflow, write cycle of row i, T)
CASES = [(2, OS, [8, 9], 10), (3, OS, [10, 11, 12], 13), (2, WS, [10, 11], 12),
         (3, WS, [13, 14, 15], 16)]


@pytest.mark.parametrize(("s", "flow", "writes", "total"), CASES)
def test_wave_matches_the_hand_table(s: int, flow: Dataflow, writes: list[int],
                                     total: int) -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=s, cols=s, dataflow=flow))
    a, b = seeded(s)
    w = gemm_wave(a, b, cfg)
    assert w.cycles == total == gemm_tile_cycles(s, s, s, cfg.array)
    vcd = Vcd(w.vcd)
    missing = [p for p, _ in signal_table(cfg) if p not in vcd.width]
    assert missing == []
    e0 = start_edge(vcd)
    # done: one pulse, high exactly in cycle T; the testbench counter agrees.
    assert vcd.rises("bench.top.done") == [e0 + (total - 1) * PERIOD]
    assert vcd.at("bench.top.done", cycle_time(vcd, e0, total + 1)) == 0
    assert vcd.at("bench.tile_cycle", cycle_time(vcd, e0, total)) == total
    assert vcd.at("bench.top.desc__m", e0 - 1) == s
    for c in range(1, total + 1):
        assert vcd.at("bench.top.busy", cycle_time(vcd, e0, c)) == (c < total), c
    pe = "bench.top.engine.array.pe_{}_{}.{}"
    for i in range(s):
        for j in range(s):
            if flow is OS:
                for kk in range(s):
                    t = cycle_time(vcd, e0, 2 + i + j + kk)
                    assert vcd.at(pe.format(i, j, "a_in"), t, signed=True) == a[i, kk]
                    assert vcd.at(pe.format(i, j, "b_in"), t, signed=True) == b[kk, j]
                end = cycle_time(vcd, e0, total)
                assert vcd.at(pe.format(i, j, "res"), end, signed=True) == (a @ b)[i, j]
            else:
                t = cycle_time(vcd, e0, total)
                assert vcd.at(pe.format(i, j, "w0"), t, signed=True) == b[i, j]
                for ii in range(s):
                    t = cycle_time(vcd, e0, s + 2 + i + j + ii)
                    assert vcd.at(pe.format(i, j, "a_in"), t, signed=True) == a[ii, i]
    # Output writes: row i in its hand-table cycle, at word i, with the lanes of clip(A @ B).
    out = np.clip(a @ b, -128, 127)
    seen = []
    for c in range(1, total + 1):
        t = cycle_time(vcd, e0, c)
        if vcd.at("bench.top.engine.out_wr__en", t):
            word = vcd.at("bench.top.engine.out_wr__data", t)
            lanes = [((word >> (8 * q)) & 255) - (256 if (word >> (8 * q + 7)) & 1 else 0)
                     for q in range(s)]
            seen.append((c, vcd.at("bench.top.engine.out_wr__addr", t), lanes))
    assert seen == [(writes[i], i, out[i].tolist()) for i in range(s)]
    assert np.array_equal(w.out, out)


def test_the_reader_sees_a_wrong_operand() -> None:
    """Negative control: the same checks fail on another seed's matrices."""
    cfg = HardwareConfig(array=ArrayConfig(rows=2, cols=2, dataflow=WS))
    a, b = seeded(2)
    vcd = Vcd(gemm_wave(a, b, cfg).vcd)
    e0 = start_edge(vcd)
    other = seeded(2, seed=5)[1]
    pe = "bench.top.engine.array.pe_{}_{}.w0"
    got = [vcd.at(pe.format(i, j), cycle_time(vcd, e0, 12), signed=True)
           for i in range(2) for j in range(2)]
    assert got == b.ravel().tolist() != other.ravel().tolist()
    assert "bench.top.engine.array.pe_0_0.res" not in vcd.width  # an OS register in a WS array


def test_cli_wave_is_reproducible_and_refuses_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.vcd"
    args = ["wave", "--gemm", "3x3x3", "--array", "3x3", "--dataflow", "os", "-o", str(out)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert r.stderr == f"wrote {out}: 3x3x3 GEMM, done 13 cycles after start\n"
    first = out.read_bytes()
    assert b"$date" not in first and b"$enddefinitions" in first
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert out.read_bytes() == first
    fst = tmp_path / "t.fst"
    for extra, msg in (
            (["--gemm", "3x3x3", "-o", str(fst)],
             (f"{fst}: Amaranth's simulator writes VCD only, not FST (write a .vcd; GTKWave's "
             f"vcd2fst converts it)")),
            (["--gemm", "3x3x3", "-o", str(tmp_path / "t.txt")],
             f"{tmp_path / 't.txt'}: the waveform file must end in .vcd"),
            (["--gemm", "2x2x2", "--array", "17x2", "-o", str(out)],
             "--array: wave simulates arrays up to 16x16, not 17x2"),
            # 12x12 WS: 2,344 cycles (hwcnn.arch.timing) x 144 PEs = 337,536
            (["--gemm", "64x64x64", "--array", "12x12", "-o", str(out)],
             ("the 64x64x64 tile takes 2344 cycles on 12x12 PEs; a wave is limited to 300000 "
             "cycles x PEs (use a smaller --gemm or --array)"))):
        r = CliRunner().invoke(cli, ["wave", *extra])
        assert r.exit_code == 2 and r.stderr == f"hwcnn: error: {msg}\n", r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.vcd"]  # nothing half-written


def test_cli_wave_of_a_layer_tile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # tiny_cnn conv2: 8 filters 3x3 on the 4x4x4 pooled map, no padding -> 2x2 outputs:
    # M = 4 pixels, K = 4 * 9 = 36, N = 8; it fits one tile.
    out = tmp_path / "l.vcd"
    r = CliRunner().invoke(cli, ["wave", "--layer", "models/tiny_cnn.yaml:conv2", "--array",
                                 "4x4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    hw = HardwareConfig(array=ArrayConfig(rows=4, cols=4, dataflow=WS))
    total = gemm_tile_cycles(4, 8, 36, hw.array)
    assert r.stderr == (f"wrote {out}: 4x36x8 tile, the first of 1 of conv2 "
                        f"(models/tiny_cnn.yaml: GEMM 4x36x8), done {total} cycles after start\n")
    vcd = Vcd(out.read_text())
    assert vcd.at("bench.top.desc__k", start_edge(vcd) - 1) == 36


def test_two_drain_rows_wave_is_the_hand_table() -> None:
    """OS 8x1x8 on 4x8 with two drain rows (the worked example of rtl/README.md 5; the same
    hand table as tests/test_trace.py): P = max(4, ceil(4/2), ceil((8 + 2)/2)) = 5, rows
    4g + 2q and 4g + 2q + 1 written together in cycle 15 + 5g + q, the even row through
    out_wr (word 4g + 2q), the odd one through the second back end's out_wr2 (the next word);
    done in T = 1 + 5 + (1 + 8 + 4 + 3) = 22 (one drain row: P = 8, 25)."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(-4, 5, (8, 1)), rng.integers(-4, 5, (1, 8))
    cfg = HardwareConfig(array=ArrayConfig(rows=4, cols=8, dataflow=OS, drain_rows=2))
    w = gemm_wave(a, b, cfg)
    assert w.cycles == 22 == gemm_tile_cycles(8, 8, 1, cfg.array)
    vcd = Vcd(w.vcd)
    assert [p for p, _ in signal_table(cfg) if p not in vcd.width] == []
    e0 = start_edge(vcd)
    assert vcd.rises("bench.top.done") == [e0 + (22 - 1) * PERIOD]
    out = np.clip(a @ b, -128, 127)
    eng = "bench.top.engine."
    seen = []
    for c in range(1, 23):
        t = cycle_time(vcd, e0, c)
        for port in ("out_wr", "out_wr2"):
            if vcd.at(f"{eng}{port}__en", t):
                word = vcd.at(f"{eng}{port}__data", t)
                lanes = [((word >> (8 * q)) & 255) - (256 if (word >> (8 * q + 7)) & 1 else 0)
                         for q in range(8)]
                seen.append((c, port, vcd.at(f"{eng}{port}__addr", t), lanes))
    assert seen == [(15 + 5 * g + q, port, 4 * g + 2 * q + h, out[4 * g + 2 * q + h].tolist())
                    for g in range(2) for q in range(2)
                    for h, port in enumerate(("out_wr", "out_wr2"))]
    assert np.array_equal(w.out, out)
    # fold 1 (odd) finished into the second shadow bank: PE(i, j) holds A[4 + i] . B[:, j]
    end = cycle_time(vcd, e0, 22)
    pe = "bench.top.engine.array.pe_{}_{}.res1"
    assert [[vcd.at(pe.format(i, j), end, signed=True) for j in range(8)] for i in range(4)] \
        == (a @ b)[4:].tolist()


def test_cli_wave_with_two_drain_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "d.vcd"
    base = ["wave", "--gemm", "8x1x8", "--array", "4x8", "--dataflow", "os", "-o", str(out)]
    # 22 and 25 cycles: the worked example of rtl/README.md 5 (two / one drain rows)
    for extra, total in ((["--drain-rows", "2"], 22), ([], 25), (["--drain-rows", "1"], 25)):
        r = CliRunner().invoke(cli, [*base, *extra])
        assert r.exit_code == 0, r.output
        assert r.stderr == f"wrote {out}: 8x1x8 GEMM, done {total} cycles after start\n"
        assert ("bench.top.engine.out_wr2__en" in Vcd(out.read_text()).width) == (total == 22)
    out.unlink()
    for args, msg in (
            (["--gemm", "2x2x2", "--dataflow", "os", "--drain-rows", "3"],
             "--drain-rows must be 1 or 2, not '3'"),
            (["--gemm", "2x2x2", "--array", "4x4", "--drain-rows", "2"],
             "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 4x4 ws"),
            (["--layer", "models/tiny_cnn.yaml:conv2", "--array", "1x4", "--dataflow", "os",
              "--drain-rows", "2"],
             "--drain-rows 2 needs --dataflow os and an array of at least 2 rows, not 1x4 os")):
        r = CliRunner().invoke(cli, ["wave", *args, "-o", str(out)])
        assert r.exit_code == 2 and r.stderr == f"hwcnn: error: {msg}\n", r.output
    assert list(tmp_path.iterdir()) == []


def test_os_reads_one_row_word_per_cycle_by_hand() -> None:
    """rtl/README.md 5's OS read order, measured on the RTL: 2x2, m = 4, n = 2, k = 3 is 2
    folds of P = max(2*ceil(3/2), 2) = 4. In fold cycle b*2 + r the sequencer reads array row
    r's word of block b, word b*m + mf*2 + r of the shared layout: fold 0 (rows 0, 1 = pixels
    0, 1) words 0, 1, 4, 5 in cycles 1-4, fold 1 (pixels 2, 3) words 2, 3, 6, 7 in cycles 5-8;
    the row's shift register loads it the next cycle. T = 1 + 4 + (3 + 2 + 2 + 3) = 15."""
    rng = np.random.default_rng(3)
    a, b = rng.integers(-4, 5, (4, 3)), rng.integers(-4, 5, (3, 2))
    cfg = HardwareConfig(array=ArrayConfig(rows=2, cols=2, dataflow=OS))
    w = gemm_wave(a, b, cfg)
    assert w.cycles == 15 == gemm_tile_cycles(4, 2, 3, cfg.array)
    vcd = Vcd(w.vcd)
    e0 = start_edge(vcd)
    eng = "bench.top.engine.seq."
    reads = [(c, vcd.at("bench.top.buffers.act_rd__addr", cycle_time(vcd, e0, c)),
              vcd.at(f"{eng}a_row", cycle_time(vcd, e0, c + 1)))
             for c in range(15) if vcd.at(f"{eng}a_load", cycle_time(vcd, e0, c + 1))]
    assert reads == [(1, 0, 0), (2, 1, 1), (3, 4, 0), (4, 5, 1),
                     (5, 2, 0), (6, 3, 1), (7, 6, 0), (8, 7, 1)]
    assert np.array_equal(w.out, np.clip(a @ b, -128, 127))
