"""Stage 5b: a stepped, register-level model of the accelerator (``rtl/README.md``).

The model advances one clock at a time through a whole tile and keeps every state element of
the documented fold-pipelined microarchitecture: the buffer read-port output registers, the
input skew delay lines (operands and their control tokens), each PE's forwarding registers
(``a`` east; ``b`` south in OS, partial sums south in WS), the OS accumulators and shadow
(drain) registers (two banks, even and odd folds, with ``drain_rows = 2``, whose drain
reads a row pair per slot into a second back end), the WS three weight banks and the skewed weight-load lines, the WS output
de-skew lines, the token delay line to the post-processing, the accumulator memory with its
synchronous read port, the three-stage post-processing pipeline and the tile sequencer. All PEs
of one cycle are updated together with NumPy (one call of
:func:`hwcnn.numerics.fixedpoint.mac` per cycle for the whole grid), so the arithmetic is the
numeric contract, bit for bit.

Only the fold period ``P`` (the sequencer's descriptor-derived issue interval,
:func:`hwcnn.arch.timing.gemm_fold_cycles`) is taken from :mod:`hwcnn.arch.timing`; the cycle
count is measured: control tokens travel with the data (the OS ``last`` marker, the WS bank
select, a fold/row tag on every operand and partial sum) and ``done`` follows the tile's final
row out of the write stage. Every register value also carries the fold it belongs to, and the
model raises :class:`PipelineHazard` when a PE multiplies with another fold's (or row's)
weight, the drain reads a shadow register of the wrong fold, or a K-fold reads a partial sum its predecessor has
not written yet, so ``fold_period=P - 1`` demonstrates that each term of ``P`` is needed.
``tests/test_cyclesim.py`` checks that the counts equal :mod:`hwcnn.arch.timing` (the closed
form the RTL is measured against) and that the outputs equal
:func:`hwcnn.numerics.golden_ops.gemm_tile`. The vector unit's stepped model is :mod:`.poolsim`.

Use it for small tiles and tests; whole networks use the closed form (:func:`fast_gemm_cycles`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..arch import timing
from ..arch.config import ArrayConfig, Dataflow
from ..numerics import fixedpoint as fp
from ..numerics.golden_ops import Requant
from .postproc import BEFORE, AccMemory, BackEnd, DelayLines, PipelineHazard, RowToken

__all__ = ["Observer", "PipelineHazard", "Snapshot", "fast_gemm_cycles", "run_gemm_tile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The array in one cycle: per PE (``R x C``) whether it does a MAC (``active``), its
    operands ``a`` (activation) and ``b`` (OS: the B operand, WS: the weight it uses), the
    sum it produces (``acc``: OS accumulator + a*b, WS: partial sum passed south), the fold and
    the A row (WS) the operation belongs to (-1: idle), and the output row segment written to
    the output buffer in this cycle (``write = (row, col0, col1)`` or None; ``write2``: the
    one the second back end writes in the same cycle, OS ``drain_rows = 2`` only)."""

    cycle: int
    active: np.ndarray
    a: np.ndarray
    b: np.ndarray
    acc: np.ndarray
    fold: np.ndarray
    write: tuple[int, int, int] | None
    write2: tuple[int, int, int] | None = None

    @property
    def writes(self) -> tuple[tuple[int, int, int], ...]:
        """The row segments written in this cycle (``write``, then ``write2``)."""
        return tuple(w for w in (self.write, self.write2) if w is not None)


Observer = Callable[[Snapshot], None]


def _idle(cycle: int, shape: tuple[int, int], write: tuple[int, int, int] | None,
          write2: tuple[int, int, int] | None = None) -> Snapshot:
    z = np.zeros(shape, np.int64)
    return Snapshot(cycle=cycle, active=np.zeros(shape, bool), a=z, b=z, acc=z,
                    fold=np.full(shape, -1), write=write, write2=write2)


def fast_gemm_cycles(m: int, n: int, k: int, array: ArrayConfig) -> int:
    """The fast per-tile model: the closed form of :mod:`hwcnn.arch.timing` (exact)."""
    return timing.gemm_tile_cycles(m, n, k, array)


def run_gemm_tile(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, requant: Requant,
                  array: ArrayConfig, *, acc_in: np.ndarray | None = None,
                  acc_out: bool = False,
                  fold_period: int | None = None,
                  observe: Observer | None = None) -> tuple[np.ndarray, int]:
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
    fold_period : int, optional
        Override the sequencer's fold period (hazard experiments; default: the hardware's
        :func:`hwcnn.arch.timing.gemm_fold_cycles`). Too short raises :class:`PipelineHazard`.
    observe : callable, optional
        Called once per cycle (1 .. T-1, then T with no PE activity) with a :class:`Snapshot`
        of the model's own registers (``hwcnn trace``); off by default.

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
    c = array.cols
    fn = -(-n // c)
    chained = acc_in is not None or acc_out
    # The accumulator memory: K-split word nf*m + i (rtl/README.md 3), plain WS words 0..m-1.
    mem = AccMemory(fn * m if chained else m, c)
    if acc_in is not None:
        part = np.asarray(acc_in, dtype=np.int64)
        if part.shape != (m, n):
            raise ValueError(f"acc_in must be ({m}, {n}), got {part.shape}")
        padded = np.zeros((m, fn * c), dtype=np.int64)
        padded[:, :n] = part
        mem.words[:] = padded.reshape(m, fn, c).transpose(1, 0, 2).reshape(fn * m, c)
    period = timing.gemm_fold_cycles(m, k, array) if fold_period is None else fold_period
    stream = timing.os_act_reads(k, array) if array.dataflow is Dataflow.OUTPUT_STATIONARY else m
    if period < stream:
        raise ValueError(f"fold period {period} is shorter than the fold's stream of {stream}")
    out = np.zeros((m, n), dtype=np.int64)
    back = BackEnd(array, mem, out, bias_v, requant, n, chained=chained,
                    acc_in=acc_in is not None, acc_out=acc_out)
    if array.dataflow is Dataflow.OUTPUT_STATIONARY:
        back2 = None
        if array.drain_rows == 2:
            # the pair's second row: its own post-processing lanes and accumulator read port
            # on the same words (the odd bank, rtl/README.md 6)
            mem2 = AccMemory(1, c)
            mem2.words, mem2.tags = mem.words, mem.tags
            back2 = BackEnd(array, mem2, out, bias_v, requant, n, chained=chained,
                            acc_in=acc_in is not None, acc_out=acc_out)
        cycles = _run_os(a, b, array, period, back, observe, back2)
    else:
        cycles = _run_ws(a, b, array, period, back, observe)
    if acc_out:
        out = mem.words.reshape(fn, m, c).transpose(1, 0, 2).reshape(m, fn * c)[:, :n].copy()
    return out, cycles


def _fold_order(outer: int, inner: int) -> list[tuple[int, int]]:
    """Folds in issue order: (outer, inner) with the inner index fastest."""
    return [(o, i) for o in range(outer) for i in range(inner)]


def _run_ws(a: np.ndarray, b: np.ndarray, array: ArrayConfig, period: int,
            back: BackEnd, observe: Observer | None = None) -> int:
    """Weight stationary, folds (kf inside nf), streams ``period`` apart; returns T."""
    r, c = array.rows, array.cols
    m, k = a.shape
    n = b.shape[1]
    fk, fn = -(-k // r), -(-n // c)
    folds = _fold_order(fn, fk)
    for g, (nf, kf) in enumerate(folds):
        for i in range(m):
            back.add(fold=g, nf=nf, row=i, arow=0, first=kf == 0,
                     prev=(BEFORE if kf == 0 else g - 1),
                     acc_word=(nf * m if back.chained else 0) + i,
                     wacc=kf < fk - 1 or back.acc_out, wout=kf == fk - 1 and not back.acc_out,
                     final=g == len(folds) - 1 and i == m - 1)

    def words(g: int) -> tuple[np.ndarray, np.ndarray]:
        """Fold g's weight rows (rows >= k loaded as 0) and activation words (lanes >= k: 0)."""
        nf, kf = folds[g]
        ks = slice(kf * r, min(kf * r + r, k))
        cols = slice(nf * c, min(nf * c + c, n))
        w = np.zeros((r, c), dtype=np.int64)
        w[: ks.stop - ks.start, : cols.stop - cols.start] = b[ks, cols]
        x = np.zeros((m, r), dtype=np.int64)
        x[:, : ks.stop - ks.start] = a[:, ks]
        return w, x

    fold_words = [words(g) for g in range(len(folds))]
    # Read-port output registers: activation word + (bank, fold, row) token; weight word +
    # (load, bank, fold) token.
    mem_a, mem_at = np.zeros(r, np.int64), (0, -1, -1)
    mem_w, mem_wt = np.zeros(c, np.int64), (0, 0, -1)
    skew_a, skew_as = DelayLines(np.arange(r)), DelayLines(np.arange(r))
    skew_af, skew_ar = DelayLines(np.arange(r), fill=-1), DelayLines(np.arange(r), fill=-1)
    skew_w, skew_wl = DelayLines(np.arange(c)), DelayLines(np.arange(c))
    skew_wb, skew_wf = DelayLines(np.arange(c)), DelayLines(np.arange(c), fill=-1)
    deskew = DelayLines(c - 1 - np.arange(c))
    deskew_f = DelayLines(c - 1 - np.arange(c), fill=-1)
    deskew_r = DelayLines(c - 1 - np.arange(c), fill=-1)
    a_reg, sel_reg = np.zeros((r, c), np.int64), np.zeros((r, c), np.int64)
    fold_reg, row_reg = np.full((r, c), -1), np.full((r, c), -1)
    psum, psum_f, psum_r = np.zeros((r, c), np.int64), np.full((r, c), -1), np.full((r, c), -1)
    nb = timing.WS_WEIGHT_BANKS
    banks = np.zeros((nb, r, c), np.int64)
    # The weight each bank register holds, tagged ``fold * R + row of B in the fold`` (-1: none):
    # PE(i, j) must use the weight of its activation's fold and of its own row i.
    bank_fold = np.full((nb, r, c), -1)
    own_row = np.arange(r)[:, None]
    tokens = collections.deque([False] * (r + c - 1))
    zr, zc = np.zeros(r, np.int64), np.zeros(c, np.int64)
    # Front end: LOAD0 (fold 0's weights) then one window of ``period`` cycles per fold.
    phase, t, g = "load0", 0, 0
    cycle = timing.START_CYCLES          # cycle 0: ``start`` sampled, descriptor latched
    bottom_now: dict[str, np.ndarray] = {}

    def row_data(rec: RowToken) -> tuple[np.ndarray, tuple[int, int]]:
        tags = {(int(f), int(q)) for f, q in zip(bottom_now["f"], bottom_now["r"], strict=True)}
        if len(tags) != 1:
            raise PipelineHazard(f"de-skewed row mixes folds/rows {sorted(tags)}")
        return bottom_now["v"], tags.pop()

    while True:
        # -- combinational values of this cycle -------------------------------------------
        a_w = skew_a.output(mem_a)
        s_w = skew_as.output(np.full(r, mem_at[0]))
        f_w = skew_af.output(np.full(r, mem_at[1]))
        q_w = skew_ar.output(np.full(r, mem_at[2]))
        a_in = np.concatenate((a_w[:, None], a_reg[:, :-1]), axis=1)
        sel_in = np.concatenate((s_w[:, None], sel_reg[:, :-1]), axis=1)
        f_in = np.concatenate((f_w[:, None], fold_reg[:, :-1]), axis=1)
        q_in = np.concatenate((q_w[:, None], row_reg[:, :-1]), axis=1)
        p_in = np.concatenate((np.zeros((1, c), np.int64), psum[:-1, :]), axis=0)
        pf_in = np.concatenate((f_in[:1, :], psum_f[:-1, :]), axis=0)
        pq_in = np.concatenate((q_in[:1, :], psum_r[:-1, :]), axis=0)
        w_top = skew_w.output(mem_w)
        ld = skew_wl.output(np.full(c, mem_wt[0])).astype(bool)
        lb = skew_wb.output(np.full(c, mem_wt[1]))
        lf = skew_wf.output(np.full(c, mem_wt[2]))
        live = f_in >= 0
        w_used = np.choose(sel_in, banks)
        wf_used = np.choose(sel_in, bank_fold)
        if np.any(live & (wf_used != f_in * r + own_row)):
            raise PipelineHazard("a PE multiplied an activation with another fold's (or "
                                 "another row's) weight")
        if np.any(live & (pf_in >= 0) & ((pf_in != f_in) | (pq_in != q_in))):
            raise PipelineHazard("a partial sum met an activation of another fold or row")
        bottom_now = {"v": deskew.output(psum[r - 1]), "f": deskew_f.output(psum_f[r - 1]),
                      "r": deskew_r.output(psum_r[r - 1])}
        tok = tokens.popleft()
        back.clock(tok, row_data)
        if back.finished:
            if observe is not None:
                observe(_idle(cycle, (r, c), back.last_write))
                observe(_idle(cycle + 1, (r, c), None))
            return cycle + 1             # ``done`` the cycle after the final write
        # Front end reads of this cycle (data in the read-port registers at the end).
        a_read = w_read = None
        token = False
        if phase == "load0":
            w_read = (0, r - 1 - t)
            t += 1
            if t == r:
                phase, t = "stream", 0
        elif phase == "stream":
            last = g == len(folds) - 1
            if t < m:
                a_read, token = (g, t), True
            if not last and t >= period - r:
                w_read = (g + 1, period - 1 - t)
            if last and t == m - 1:
                phase = "tail"
            elif t == period - 1:
                g, t = g + 1, 0
            else:
                t += 1
        tokens.append(token)
        # -- end of cycle: registers take their next values -------------------------------
        deskew.clock(psum[r - 1])
        deskew_f.clock(psum_f[r - 1])
        deskew_r.clock(psum_r[r - 1])
        psum = fp.mac(p_in, a_in, w_used, array.acc_bits)
        psum_f, psum_r = np.where(live, f_in, -1), np.where(live, q_in, -1)
        if observe is not None:
            observe(Snapshot(cycle=cycle, active=live.copy(), a=np.where(live, a_in, 0),
                             b=np.where(live, w_used, 0), acc=np.where(live, psum, 0),
                             fold=psum_f.copy(), write=back.last_write))
        # Bank ``lb`` of a column shifts down while its (skewed) load strobe is high.
        for bank in range(nb):
            cols_ld = ld & (lb == bank)
            if cols_ld.any():
                shifted = np.concatenate((w_top[None, :], banks[bank][:-1, :]), axis=0)
                fshift = np.concatenate((lf[None, :], bank_fold[bank][:-1, :]), axis=0)
                banks[bank][:, cols_ld] = shifted[:, cols_ld]
                bank_fold[bank][:, cols_ld] = fshift[:, cols_ld]
        a_reg, sel_reg, fold_reg, row_reg = a_in, sel_in, f_in, q_in
        for line, v in ((skew_a, mem_a), (skew_as, np.full(r, mem_at[0])),
                        (skew_af, np.full(r, mem_at[1])), (skew_ar, np.full(r, mem_at[2]))):
            line.clock(v)
        for line, v in ((skew_w, mem_w), (skew_wl, np.full(c, mem_wt[0])),
                        (skew_wb, np.full(c, mem_wt[1])), (skew_wf, np.full(c, mem_wt[2]))):
            line.clock(v)
        if a_read is not None:
            fa, i = a_read
            mem_a, mem_at = fold_words[fa][1][i], (fa % nb, fa, i)
        else:
            mem_a, mem_at = zr, (0, -1, -1)
        if w_read is not None:
            fw, row = w_read
            mem_w, mem_wt = fold_words[fw][0][row], (1, fw % nb, fw * r + row)
        else:
            mem_w, mem_wt = zc, (0, 0, -1)
        cycle += 1


def _run_os(a: np.ndarray, b: np.ndarray, array: ArrayConfig, period: int,
            back: BackEnd, observe: Observer | None = None, back2: BackEnd | None = None) -> int:
    """Output stationary, folds (mf inside nf), streams ``period`` apart; returns T.

    ``back2`` (``drain_rows = 2``): the back end of every pair's second row; the drain then
    reads row pair ``(2q, 2q + 1)`` per slot from the fold's shadow bank (fold parity)."""
    r, c = array.rows, array.cols
    m, k = a.shape
    n = b.shape[1]
    fm, fn = -(-m // r), -(-n // c)
    folds = _fold_order(fn, fm)
    slots = timing.drain_slots(array)
    step = 2 if back2 is not None else 1
    for g, (nf, mf) in enumerate(folds):
        for q in range(slots):
            for be, i in ((back, step * q), (back2, step * q + 1)):
                if be is None:
                    continue
                ok = i < r and mf * r + i < m    # odd R: the last pair has one row
                be.add(fold=g, nf=nf, row=mf * r + i, arow=i, first=True,
                       prev=BEFORE, acc_word=nf * m + mf * r + i if be.chained else 0,
                       wacc=ok and be.acc_out, wout=ok and not be.acc_out,
                       final=be is back and g == len(folds) - 1 and q == slots - 1)
    # Activation words (both dataflows' layout): word (b, i) holds A[i, b*R .. b*R + R-1],
    # lanes past k 0 (tag -1). OS row r's word of block b is read in cycle b*R + r of its
    # fold and shifts out one element per cycle through the row's register.
    kpad = timing.os_act_reads(k, array)
    a_pad = np.zeros((fm * r, kpad), dtype=np.int64)
    a_pad[:m, :k] = a
    a_tag = np.where(np.arange(kpad) < k, 0, -1)
    b_words = []
    for nf, mf in folds:
        cols = slice(nf * c, min(nf * c + c, n))
        bw = np.zeros((k, c), dtype=np.int64)
        bw[:, : cols.stop - cols.start] = b[:, cols]
        b_words.append(bw)
    mem_b, mem_last, mem_f = np.zeros(c, np.int64), False, -1
    mem_a: tuple[int, np.ndarray, np.ndarray] | None = None    # (row, word, lane tags)
    held, held_f = np.zeros((r, r), np.int64), np.full((r, r), -1)
    skew_l = DelayLines(np.arange(r), dtype=bool)
    skew_b, skew_bf = DelayLines(np.arange(c)), DelayLines(np.arange(c), fill=-1)
    a_reg, b_reg = np.zeros((r, c), np.int64), np.zeros((r, c), np.int64)
    l_reg = np.zeros((r, c), dtype=bool)
    af_reg, bf_reg = np.full((r, c), -1), np.full((r, c), -1)
    acc = np.zeros((r, c), np.int64)
    banks = 2 if back2 is not None else 1     # shadow registers per PE (fold g: bank g % 2)
    res, res_f = np.zeros((banks, r, c), np.int64), np.full((banks, r, c), -1)
    # the token reaches the back end C cycles after the fold's last read (row 0 complete),
    # with a row pair per slot floor(R/2) cycles later (rows complete one per cycle)
    tokens = collections.deque([False] * (c + (r // 2 if back2 is not None else 0)))
    draining: int | None = None           # back end: next drain slot, None = idle
    t, g, phase = 0, 0, "stream"
    cycle = timing.START_CYCLES

    def row_data(rec: RowToken) -> tuple[np.ndarray, tuple[int, int]]:
        if rec.arow >= r:                 # odd R: the missing second row of the last pair
            return np.zeros(c, np.int64), (rec.fold, rec.row)
        bank = rec.fold % banks
        tags = set(res_f[bank, rec.arow].tolist())
        if tags != {rec.fold}:
            raise PipelineHazard(f"drain row {rec.arow} of fold {rec.fold} reads folds "
                                 f"{sorted(tags)}")
        return res[bank, rec.arow].copy(), (rec.fold, rec.row)

    while True:
        now, now_f = held.copy(), held_f.copy()
        if mem_a is not None:
            now[mem_a[0]], now_f[mem_a[0]] = mem_a[1], mem_a[2]
        a_w, af_w = now[:, 0], now_f[:, 0]
        l_w = skew_l.output(np.full(r, mem_last))
        b_n = skew_b.output(mem_b)
        bf_n = skew_bf.output(np.full(c, mem_f))
        a_in = np.concatenate((a_w[:, None], a_reg[:, :-1]), axis=1)
        l_in = np.concatenate((l_w[:, None], l_reg[:, :-1]), axis=1)
        af_in = np.concatenate((af_w[:, None], af_reg[:, :-1]), axis=1)
        b_in = np.concatenate((b_n[None, :], b_reg[:-1, :]), axis=0)
        bf_in = np.concatenate((bf_n[None, :], bf_reg[:-1, :]), axis=0)
        if np.any((af_in >= 0) & (af_in != bf_in)):
            raise PipelineHazard("OS skew broken: operands of different folds met")
        tok = tokens.popleft()
        issue = tok or draining is not None
        back.clock(issue, row_data)
        if back2 is not None:
            back2.clock(issue, row_data)
        write2 = back2.last_write if back2 is not None else None
        if back.finished:
            if observe is not None:
                observe(_idle(cycle, (r, c), back.last_write, write2))
                observe(_idle(cycle + 1, (r, c), None))
            return cycle + 1
        if tok and draining is not None:
            raise PipelineHazard("a fold's drain started before the previous drain finished")
        if issue:
            row = 0 if draining is None else draining
            draining = row + 1 if row + 1 < slots else None
        token = False
        rd_a = None
        if phase == "stream":
            last = g == len(folds) - 1
            if t < k:
                kk = t
                rd = (b_words[g][kk], kk == k - 1, g)
                token = kk == k - 1
            else:
                rd = None
            if t < kpad:
                row, blk = t % r, t // r
                i = folds[g][1] * r + row
                lanes = slice(blk * r, blk * r + r)
                rd_a = (row, a_pad[i, lanes], np.where(a_tag[lanes] < 0, -1, g))
            if last and t == kpad - 1:
                phase = "tail"
            elif t == period - 1:
                g, t = g + 1, 0
            else:
                t += 1
        else:
            rd = None
        tokens.append(token)
        # -- end of cycle ----------------------------------------------------------------
        total = fp.mac(acc, a_in, b_in, array.acc_bits)
        if observe is not None:
            on = af_in >= 0
            observe(Snapshot(cycle=cycle, active=on, a=np.where(on, a_in, 0),
                             b=np.where(on, b_in, 0), acc=np.where(on, total, 0),
                             fold=np.where(on, af_in, -1), write=back.last_write,
                             write2=write2))
        for bank in range(banks):
            hit = l_in & (af_in % banks == bank)
            res[bank] = np.where(hit, total, res[bank])
            res_f[bank] = np.where(hit, af_in, res_f[bank])
        acc = np.where(l_in, 0, total)
        if cycle == timing.START_CYCLES:
            acc[:] = 0                    # ``clr`` in the first cycle of the tile
        a_reg, b_reg, l_reg, af_reg, bf_reg = a_in, b_in, l_in, af_in, bf_in
        held = np.concatenate((now[:, 1:], np.zeros((r, 1), np.int64)), axis=1)
        held_f = np.concatenate((now_f[:, 1:], np.full((r, 1), -1)), axis=1)
        skew_l.clock(np.full(r, mem_last))
        skew_b.clock(mem_b)
        skew_bf.clock(np.full(c, mem_f))
        mem_a = rd_a
        if rd is not None:
            mem_b, mem_last, mem_f = rd
        else:
            mem_b, mem_last, mem_f = np.zeros(c, np.int64), False, -1
        cycle += 1
