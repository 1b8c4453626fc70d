"""Stage 5b: a stepped, register-level model of the accelerator (``rtl/README.md``).

The model advances one clock at a time and keeps every state element of the documented
microarchitecture: the buffer read-port output registers, the input skew delay lines, each PE's
forwarding registers (``a`` east; ``b`` south in OS, partial sums south in WS), the OS
accumulators and the WS weight registers, the WS output de-skew lines, the accumulator buffer,
the three-stage post-processing pipeline and the tile sequencer. All PEs of one cycle are
updated together with NumPy (one call of :func:`hwcnn.numerics.fixedpoint.mac` per cycle for the whole
grid), so the arithmetic is the numeric contract, bit for bit.

Cycle counts are not taken from a formula: control tokens travel with the data (a "last"
marker with the final OS operand, a row tag with every WS activation row) and the sequencer ends
a fold only when the last result has left the write stage. ``tests/test_cyclesim.py`` checks
that the counts equal :mod:`hwcnn.arch.timing` (the closed form the RTL is measured against) and
that the outputs equal :func:`hwcnn.numerics.golden_ops.gemm_tile`. The pool unit's stepped model
is :mod:`.poolsim`.

Use it for small tiles and tests; whole networks use the closed form (:func:`fast_gemm_cycles`).
"""

from __future__ import annotations

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig, Dataflow
from ..numerics import fixedpoint as fp
from ..numerics.golden_ops import Requant

#: Latency (cycles) from a value entering the post-processing pipeline to its buffer write.
POST_STAGES = timing.POST_CYCLES


def fast_gemm_cycles(m: int, n: int, k: int, array: ArrayConfig) -> int:
    """The fast per-tile model: the closed form of :mod:`hwcnn.arch.timing` (exact)."""
    return timing.gemm_tile_cycles(m, n, k, array)


class _DelayLines:
    """``lanes`` shift registers; lane ``i`` delays its input by ``delays[i]`` cycles.

    Stored as a ring: column ``head`` takes this cycle's input, so the input of ``d`` cycles
    ago sits ``d`` columns behind it and a lane with delay 0 is a plain wire.
    """

    def __init__(self, delays: np.ndarray, dtype: type = np.int64, fill: int = 0) -> None:
        depth = int(delays.max(initial=0)) + 1
        self.regs: np.ndarray = np.full((len(delays), depth), fill, dtype=dtype)
        self.lanes = np.arange(len(delays))
        self.taps = (np.arange(depth)[:, None] - delays[None, :]) % depth
        self.head = 0
        self.depth = depth

    def output(self, inp: np.ndarray) -> np.ndarray:
        """Combinational output this cycle given this cycle's input."""
        self.regs[:, self.head] = inp
        return self.regs[self.lanes, self.taps[self.head]]

    def clock(self, inp: np.ndarray) -> None:
        self.regs[:, self.head] = inp
        self.head = (self.head + 1) % self.depth


class _Post:
    """Post-processing pipeline: stage 1 adds bias / partial sum, stage 2 multiplies by M0,
    stage 3 rounds, shifts, wraps/clamps and writes. A slot is ``(tag, values)`` or None."""

    def __init__(self) -> None:
        self.stages: list[tuple[int, np.ndarray] | None] = [None] * POST_STAGES

    def clock(self, entering: tuple[int, np.ndarray] | None) -> tuple[int, np.ndarray] | None:
        """Advance one cycle; return the slot written in THIS cycle (the last stage)."""
        leaving = self.stages[-1]
        self.stages = [entering, *self.stages[:-1]]
        return leaving

    @property
    def empty(self) -> bool:
        return all(s is None for s in self.stages)


def _requant(lanes: np.ndarray, rq: Requant, cols: slice) -> np.ndarray:
    """Stages 2 and 3 on the lanes of output columns ``cols``: multiply, round, wrap/clamp."""
    acc = lanes[: cols.stop - cols.start]
    m0 = np.asarray(rq.m0, dtype=np.int64)
    sh = np.asarray(rq.shift, dtype=np.int64)
    m0 = m0[cols] if m0.ndim else m0
    sh = sh[cols] if sh.ndim else sh
    y = fp.round_shift(acc * m0, sh, rq.rounding)
    return fp.overflow(y, rq.lo, rq.hi, rq.mode, rq.bits)


def run_gemm_tile(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, requant: Requant,
                  array: ArrayConfig, *, acc_in: np.ndarray | None = None,
                  acc_out: bool = False) -> tuple[np.ndarray, int]:
    """Run ``Out[m x n] = requant(bias + A[m x k] @ B[k x n])`` through the stepped model.

    K-split tiles (``rtl/README.md`` 4): ``acc_in`` gives the ``(m, n)`` int32 partial sums the
    accumulator buffer holds (they replace the bias), ``acc_out`` returns the wrapped
    ``acc_bits`` sums ``[acc_in or bias] + A @ B`` instead of requantized outputs. The cycle
    count does not depend on either.

    Parameters
    ----------
    a : (m, k) int array
        Activations (im2col rows), within ``array.act_bits``.
    b : (k, n) int array
        Weights, within ``array.weight_bits``.
    bias : (n,) int array or None
        Accumulator-scale bias.
    requant : hwcnn.numerics.golden_ops.Requant
        M0/shift (per tensor or per column), clamp, rounding and overflow mode.
    array : ArrayConfig
        Rows, columns, dataflow and accumulator width.

    Returns
    -------
    (outputs, cycles)
        ``(m, n)`` int64 outputs (``acc_out``: partial sums) and the cycle count from
        ``start`` to ``done``.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or 0 in a.shape or 0 in b.shape:
        raise ValueError(f"need A (m, k) and B (k, n) with sizes >= 1, got {a.shape} and {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    bias_v = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    r, c = array.rows, array.cols
    fn = -(-n // c)
    # The accumulator buffer of a K-split tile: word nf*m + i, C lanes (rtl/README.md 3).
    chain = None
    if acc_in is not None or acc_out:
        chain = np.zeros((fn * m, c), dtype=np.int64)
        if acc_in is not None:
            part = np.asarray(acc_in, dtype=np.int64)
            if part.shape != (m, n):
                raise ValueError(f"acc_in must be ({m}, {n}), got {part.shape}")
            padded = np.zeros((m, fn * c), dtype=np.int64)
            padded[:, :n] = part
            chain[:] = padded.reshape(m, fn, c).transpose(1, 0, 2).reshape(fn * m, c)
    out = np.zeros((m, n), dtype=np.int64)
    sink = _Sink(out, chain, acc_in is not None, acc_out, m)
    cycles = timing.START_CYCLES  # cycle 0: ``start`` sampled, descriptor latched
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        for mf in range(-(-m // r)):
            for nf in range(fn):
                cycles += _os_fold(a, b, bias_v, requant, array, mf, nf, sink)
    else:
        accbuf = np.zeros((m, c), dtype=np.int64)
        for nf in range(fn):
            kfs = -(-k // r)
            for kf in range(kfs):
                cycles += _ws_fold(a, b, bias_v, requant, array, kf, nf, kfs, accbuf, sink)
    if acc_out:
        assert chain is not None
        out = chain.reshape(fn, m, c).transpose(1, 0, 2).reshape(m, fn * c)[:, :n].copy()
    return out, cycles


class _Sink:
    """Where the post-processing of a GEMM tile reads its addend and writes its results: the
    output buffer and, for K-split tiles, the accumulator buffer (``chain``, word nf*m + i)."""

    def __init__(self, out: np.ndarray, chain: np.ndarray | None, acc_in: bool, acc_out: bool,
                 m: int) -> None:
        self.out, self.chain, self.acc_in, self.acc_out, self.m = out, chain, acc_in, acc_out, m

    def partial(self, nf: int, row: int, bias_l: np.ndarray) -> np.ndarray:
        """Stage-1 addend of tile row ``row`` (first K-fold): the bias or the stored sum."""
        if not self.acc_in:
            return bias_l
        assert self.chain is not None
        if row >= self.m:  # OS rows past the tile edge: whatever the word holds, not written
            return np.zeros_like(bias_l)
        return self.chain[nf * self.m + row]

    def write(self, nf: int, row: int, s: np.ndarray, rq: Requant, cols: slice) -> None:
        """Stage-3 write of tile row ``row``: partial sums (acc_out) or requantized outputs."""
        if self.acc_out:
            assert self.chain is not None
            self.chain[nf * self.m + row] = s
        else:
            self.out[row, cols] = _requant(s, rq, cols)


def _os_fold(a: np.ndarray, b: np.ndarray, bias: np.ndarray, rq: Requant, array: ArrayConfig,
             mf: int, nf: int, sink: _Sink) -> int:
    """One output-stationary fold; returns its cycle count."""
    r, c = array.rows, array.cols
    m, k = a.shape
    n = b.shape[1]
    rows = slice(mf * r, min(mf * r + r, m))
    cols = slice(nf * c, min(nf * c + c, n))
    # Buffer words: OS activation word kk = column kk of the R-row slice; weight word kk = row kk.
    a_words = np.zeros((k, r), dtype=np.int64)
    a_words[:, : rows.stop - rows.start] = a[rows, :].T
    b_words = np.zeros((k, c), dtype=np.int64)
    b_words[:, : cols.stop - cols.start] = b[:, cols]
    bias_l = np.zeros(c, dtype=np.int64)
    bias_l[: cols.stop - cols.start] = bias[cols]
    skew_a = _DelayLines(np.arange(r))
    skew_b = _DelayLines(np.arange(c))
    last_skew = _DelayLines(np.arange(r), dtype=bool)
    mem_a = np.zeros(r, dtype=np.int64)   # read-port output registers (1-cycle latency)
    mem_b = np.zeros(c, dtype=np.int64)
    mem_last = False
    lane_true, lane_false = np.ones(r, dtype=bool), np.zeros(r, dtype=bool)
    a_reg = np.zeros((r, c), dtype=np.int64)
    b_reg = np.zeros((r, c), dtype=np.int64)
    last_reg = np.zeros((r, c), dtype=bool)
    acc = np.zeros((r, c), dtype=np.int64)
    post = _Post()
    drain_row: int | None = None  # row the drain multiplexer selects, None = not draining
    t = 0
    while True:
        # -- combinational values of cycle t ----------------------------------------------
        a_w = skew_a.output(mem_a)
        b_n = skew_b.output(mem_b)
        last_v = lane_true if mem_last else lane_false
        l_w = last_skew.output(last_v)
        a_in = np.concatenate((a_w[:, None], a_reg[:, :-1]), axis=1)
        b_in = np.concatenate((b_n[None, :], b_reg[:-1, :]), axis=0)
        l_in = np.concatenate((l_w[:, None], last_reg[:, :-1]), axis=1)
        if t == 0:
            acc[:] = 0  # cleared in fold cycle 0
        # The drain multiplexer reads one accumulator row per cycle into the pipeline.
        entering = None
        if drain_row is not None:
            addend = sink.partial(nf, mf * r + drain_row, bias_l)
            entering = (drain_row, fp.wrap(acc[drain_row] + addend, array.acc_bits))
        written = post.clock(None if entering is None else entering)
        if written is not None:
            row, s = written
            if mf * r + row < m:  # rows past the tile edge are not written
                sink.write(nf, mf * r + row, s, rq, cols)
        # -- end of cycle t: registers take their next values -----------------------------
        acc = fp.mac(acc, a_in, b_in, array.acc_bits)
        a_reg, b_reg, last_reg = a_in, b_in, l_in
        skew_a.clock(mem_a)
        skew_b.clock(mem_b)
        last_skew.clock(last_v)
        if t < k:  # the sequencer issues read kk = t; zeros outside the stream
            mem_a, mem_b, mem_last = a_words[t], b_words[t], t == k - 1
        else:
            mem_a, mem_b, mem_last = np.zeros(r, np.int64), np.zeros(c, np.int64), False
        if drain_row is not None:
            drain_row = drain_row + 1 if drain_row + 1 < r else None
        elif bool(l_in[r - 1, c - 1]):
            drain_row = 0  # the final product reached the last PE: drain from next cycle
        t += 1
        if written is not None and written[0] == r - 1:
            return t


def _ws_fold(a: np.ndarray, b: np.ndarray, bias: np.ndarray, rq: Requant, array: ArrayConfig,
             kf: int, nf: int, kfs: int, accbuf: np.ndarray, sink: _Sink) -> int:
    """One weight-stationary fold; returns its cycle count."""
    r, c = array.rows, array.cols
    m, k = a.shape
    n = b.shape[1]
    cols = slice(nf * c, min(nf * c + c, n))
    width = cols.stop - cols.start
    ks = slice(kf * r, min(kf * r + r, k))
    # Weight words for rows kf*R + R-1 ... kf*R (rows >= k are loaded as 0).
    w_words = np.zeros((r, c), dtype=np.int64)
    w_words[: ks.stop - ks.start, :width] = b[ks, cols]
    # Activation word i = row i of A restricted to this K slice (lanes >= k are 0).
    a_words = np.zeros((m, r), dtype=np.int64)
    a_words[:, : ks.stop - ks.start] = a[:, ks]
    bias_l = np.zeros(c, dtype=np.int64)
    bias_l[:width] = bias[cols]
    weights = np.zeros((r, c), dtype=np.int64)
    mem_w: np.ndarray | None = None
    mem_a = np.zeros(r, dtype=np.int64)
    mem_tag = -1  # row tag travelling with the activation word (-1 = bubble)
    skew_a = _DelayLines(np.arange(r))
    skew_tag = _DelayLines(np.arange(r), fill=-1)
    deskew = _DelayLines(c - 1 - np.arange(c))
    deskew_tag = _DelayLines(c - 1 - np.arange(c), fill=-1)
    a_reg = np.zeros((r, c), dtype=np.int64)
    tag_a = np.full((r, c), -1)          # tag of the activation each PE forwards east
    psum = np.zeros((r, c), dtype=np.int64)
    tag_p = np.full((r, c), -1)          # tag of the partial sum each PE passes south
    post = _Post()
    t = 0
    while True:
        a_w = skew_a.output(mem_a)
        tag_v = np.full(r, mem_tag)
        g_w = skew_tag.output(tag_v)
        a_in = np.concatenate((a_w[:, None], a_reg[:, :-1]), axis=1)
        g_in = np.concatenate((g_w[:, None], tag_a[:, :-1]), axis=1)
        p_in = np.concatenate((np.zeros((1, c), np.int64), psum[:-1, :]), axis=0)
        # Row 0 starts a partial sum with the tag of the activation it multiplies.
        pt_in = np.concatenate((g_in[:1, :], tag_p[:-1, :]), axis=0)
        bottom = deskew.output(psum[r - 1])
        bottom_tag = deskew_tag.output(tag_p[r - 1])
        entering = None
        if bottom_tag[0] >= 0:  # after de-skew every lane of the row carries the same tag
            i = int(bottom_tag[0])
            base = sink.partial(nf, i, bias_l) if kf == 0 else accbuf[i]
            entering = (i, fp.wrap(bottom + base, array.acc_bits))
        written = post.clock(entering)
        if written is not None:
            i, s = written
            if kf < kfs - 1:
                accbuf[i] = s
            else:
                sink.write(nf, i, s, rq, cols)
        # -- end of cycle t ----------------------------------------------------------------
        if np.any((g_in >= 0) & (pt_in >= 0) & (g_in != pt_in)):
            raise AssertionError("WS skew broken: a partial sum met the wrong activation row")
        deskew.clock(psum[r - 1])
        deskew_tag.clock(tag_p[r - 1])
        psum, tag_p = fp.mac(p_in, a_in, weights, array.acc_bits), pt_in
        if mem_w is not None:  # weight words shift in from the top row
            weights = np.concatenate((mem_w[None, :], weights[:-1, :]), axis=0)
        a_reg, tag_a = a_in, g_in
        skew_a.clock(mem_a)
        skew_tag.clock(tag_v)
        # Sequencer: R weight reads (bottom row first), then one activation row per cycle.
        mem_w = w_words[r - 1 - t] if t < r else None
        if r <= t < r + m:
            mem_a, mem_tag = a_words[t - r], t - r
        else:
            mem_a, mem_tag = np.zeros(r, np.int64), -1
        t += 1
        if written is not None and written[0] == m - 1:
            return t
