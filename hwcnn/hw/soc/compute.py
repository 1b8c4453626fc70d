"""Compute core of the complete accelerator: the buffers, the tile engine and the executor of
GEMM and VEC instructions (rtl/README.md 10.1).

:class:`ComputeCore` holds the activation, weight, parameter, output and accumulator memories
(:class:`hwcnn.hw.buffers.Buffers` with lane-granular write ports for the loaders and a second
output-buffer read port for the store unit), the :class:`~hwcnn.hw.soc.engine.TileEngine` and
an :class:`Executor` that takes GEMM / VEC instructions from the compute queue's dispatcher
(``gemm``, :class:`~hwcnn.hw.soc.ports.UnitSignature`), maps their fields onto the engine's
tile descriptor (rtl/README.md 4 and 9.1), runs the tile and offers exactly one status.

Cycle behaviour of one instruction (cycle 0 = the cycle ``insn.valid & insn.ready``; the
executor takes an instruction only when idle, ``insn.ready = 1`` exactly then):

* a NOP (a zero in one of :data:`hwcnn.isa.fields.SIZE_FIELDS`: GEMM ``m``, ``n`` or ``k``;
  VEC ``in_h``, ``in_w``, ``out_h``, ``out_w``, ``win_h``, ``win_w``, ``stride_h`` or
  ``stride_w``, decided on the handshake's payload) offers status 0 from cycle 1
  (:data:`hwcnn.arch.timing.COMPUTE_NOP_CYCLES`): no range check, nothing started or written,
  as a LOAD with ``rows = 0``. These are exactly the sizes the engine refuses, so the engine
  never sees a zero size;
* cycles 1 .. 17 (:data:`hwcnn.arch.timing.COMPUTE_EXTENT_CYCLES`): the buffer extents are
  computed bit-serially (no multiplier): three restoring divide-and-multiply units produce
  ``ceil(u / D) * v`` one quotient bit per cycle, MSB first, the product accumulating as
  ``acc = 2*acc + (bit ? v : 0)``. GEMM: ``A`` = ``ceil(k/R) * m`` (both dataflows),
  ``B = ceil(n/C) * k`` (its quotient ``ceil(n/C)`` = the parameter words), ``O = ceil(n/C) *
  m``; VEC: ``in_h * in_w`` and ``out_h * out_w`` (``D = 1``).
* cycle 18 (:data:`~hwcnn.arch.timing.COMPUTE_ISSUE_CYCLES`): the range check. In range: the
  engine samples ``start`` with the descriptor in this cycle (its cycle 0), and the
  instruction ends when the engine's ``done`` rises in cycle ``18 + T`` (``T`` of
  rtl/README.md 5: ``gemm_tile_cycles`` / ``pool_tile_cycles``). Out of range: nothing is
  started, nothing is written.
* the status is offered from the next cycle, ``18 + T + 1`` (in range) or 19 (out of range)
  (:func:`hwcnn.arch.timing.compute_insn_cycles`), and held until ``status.ready``; the next
  instruction can be taken from the cycle after the status handshake.

Status: 0; :attr:`ErrorCode.BUF_RANGE` (5) if a word range exceeds its buffer (GEMM:
``a_base + A > act depth``, ``b_base + B > weight depth``, ``p_base + ceil(n/C) > param
depth``, without ``acc_out`` ``c_base + O > out depth``, with ``acc_in`` or ``acc_out`` ``O >
acc depth``, WS ``m > acc depth`` (the K-fold partial sums); VEC: ``pin_base + in_h*in_w`` or
``c_base + out_h*out_w > out depth``); a NOP's status is 0. Fields the compiler refuses but the executor does not check (a ``lo``/``hi``
outside the activation range is truncated to ``act_bits``; VEC ``pool_op = 3``; overlapping
VEC ranges; ``k`` too large for the accumulator) give unspecified values, never a hang.

The output memory's write port is the engine's from the instruction handshake to the status
handshake (``busy``), otherwise the OUT loader's (``out_wr``, ignored while ``busy``): both
are compute-queue work and never overlap. The
store unit's ``out_rd`` is a read port of its own (latency 1), usable at any time.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...arch.config import Dataflow
from ...arch.dma import ErrorCode
from ...arch.timing import COMPUTE_EXTENT_CYCLES
from ...isa.fields import INSN_BITS, SIZE_FIELDS, Opcode
from ...isa.layout import struct_layout
from ..buffers import Buffers
from ..descriptor import TileKind
from ..params import DIM_BITS, BufferDepths, addr_bits, param_lane_bits
from ..signatures import DescriptorSignature, ReadSignature
from .engine import TileEngine, connect_buffers
from .ports import STATUS_BITS, LaneWriteSignature, SocParams, UnitSignature

#: Bits of ``ceil(u / D) * v`` (two 16-bit sizes).
EXTENT_BITS = 2 * DIM_BITS + 1


class _Extent:
    """One bit-serial ``ceil(u / D) * v`` (``q = ceil(u / D)`` kept too): ``load`` sets the
    operands, each ``step`` produces one quotient bit of ``u + D - 1`` (MSB first)."""

    def __init__(self, m: Module, name: str) -> None:
        self.m = m
        nb = COMPUTE_EXTENT_CYCLES
        self.num = Signal(nb, name=f"{name}_num")        # u + D - 1, shifted left
        self.div = Signal(nb, name=f"{name}_div")
        self.rem = Signal(nb + 1, name=f"{name}_rem")
        self.v = Signal(DIM_BITS, name=f"{name}_v")
        self.q = Signal(nb, name=f"{name}_q")
        self.prod = Signal(EXTENT_BITS + 1, name=f"{name}_prod")

    def load(self, u: Value, d: Value | int, v: Value) -> list:
        return [self.num.eq(u + d - 1), self.div.eq(d), self.v.eq(v), self.rem.eq(0),
                self.q.eq(0), self.prod.eq(0)]

    def step(self) -> list:
        nb = COMPUTE_EXTENT_CYCLES
        r2 = Signal(nb + 2, name=f"{self.num.name}_r2")
        self.m.d.comb += r2.eq((self.rem << 1) | self.num[nb - 1])
        bit = r2 >= self.div
        return [self.num.eq(self.num << 1), self.rem.eq(Mux(bit, r2 - self.div, r2)),
                self.q.eq((self.q << 1) | bit),
                self.prod.eq((self.prod << 1) + Mux(bit, self.v, 0))]


class Executor(wiring.Component):
    """GEMM / VEC instruction -> tile descriptor, range check, engine start, one status.

    Members
    -------
    unit : In(UnitSignature)        instructions from the dispatcher, statuses back
    desc : Out(DescriptorSignature), start : Out(1)   to the engine
    done : In(1)                    from the engine (its ``error`` cannot rise: no zero sizes)
    busy : Out(1)                   an instruction has been taken and its status not yet
    """

    def __init__(self, params: SocParams) -> None:
        self._params = params
        super().__init__({
            "unit": In(UnitSignature()),
            "desc": Out(DescriptorSignature(params.config, params.depths)),
            "start": Out(1), "done": In(1), "busy": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, d = self._params.config, self._params.depths
        R, C = cfg.array.rows, cfg.array.cols
        assert max(R, C) <= 1 << DIM_BITS, "ceil(u/D) needs u + D - 1 < 2**17"
        is_os = cfg.array.dataflow is Dataflow.OUTPUT_STATIONARY
        insn = self.unit.insn
        status = self.unit.status

        word = Signal(INSN_BITS)
        g = data.View(struct_layout("GEMM"), word)
        v = data.View(struct_layout("VEC"), word)
        is_vec = Signal()
        m.d.comb += is_vec.eq(g.opcode == Opcode.VEC)
        # The fields of the instruction being taken (cycle 0), for the extent units.
        g_in = data.View(struct_layout("GEMM"), insn.payload)
        v_in = data.View(struct_layout("VEC"), insn.payload)
        vec_in = g_in.opcode == Opcode.VEC
        nop = Signal()
        m.d.comb += nop.eq(Mux(vec_in,
                               Cat(getattr(v_in, f) == 0 for f in SIZE_FIELDS[Opcode.VEC]).any(),
                               Cat(getattr(g_in, f) == 0
                                   for f in SIZE_FIELDS[Opcode.GEMM]).any()))

        ext_a, ext_b, ext_o = (_Extent(m, n) for n in ("ext_a", "ext_b", "ext_o"))
        # activation words ceil(k/R) * m (both dataflows, rtl/README.md 3)
        loads = (ext_a.load(Mux(vec_in, v_in.in_h, g_in.k), Mux(vec_in, 1, R),
                            Mux(vec_in, v_in.in_w, g_in.m))
                 + ext_b.load(Mux(vec_in, v_in.out_h, g_in.n), Mux(vec_in, 1, C),
                              Mux(vec_in, v_in.out_w, g_in.k))
                 + ext_o.load(g_in.n, C, g_in.m))
        steps = ext_a.step() + ext_b.step() + ext_o.step()

        # ---- range check (combinational on the finished extents) -----------------------------
        def fits(base: Value | int, words: Value, depth: int) -> Value:
            return (base + words) <= depth

        gemm_ok = (fits(g.a_base, ext_a.prod, d.act) & fits(g.b_base, ext_b.prod, d.weight)
                   & fits(g.p_base, ext_b.q, d.param)
                   & (g.acc_out | fits(g.c_base, ext_o.prod, d.out))
                   & ~((g.acc_in | g.acc_out) & ~fits(0, ext_o.prod, d.acc)))
        if not is_os:
            gemm_ok = gemm_ok & (g.m <= d.acc)
        vec_ok = fits(v.pin_base, ext_a.prod, d.out) & fits(v.c_base, ext_b.prod, d.out)
        in_range = Signal()
        m.d.comb += in_range.eq(Mux(is_vec, vec_ok, gemm_ok))

        # ---- descriptor: the instruction's fields (rtl/README.md 4 / 9.1) ----------------------
        desc = self.desc
        m.d.comb += desc.kind.eq(Mux(is_vec, TileKind.POOL, TileKind.GEMM))
        for f in ("m", "n", "k", "a_base", "b_base", "p_base", "per_channel", "bias_en",
                  "acc_in", "acc_out"):
            m.d.comb += getattr(desc, f).eq(getattr(g, f))
        for f in ("pool_op", "in_h", "in_w", "out_h", "out_w", "win_h", "win_w", "stride_h",
                  "stride_w", "pad_top", "pad_left", "pad_bottom", "pad_right", "count_pad",
                  "pin_base"):
            m.d.comb += getattr(desc, f).eq(getattr(v, f))
        for f in ("c_base", "m0", "shift", "rounding", "wrap", "lo", "hi"):
            m.d.comb += getattr(desc, f).eq(Mux(is_vec, getattr(v, f), getattr(g, f)))

        # ---- control ------------------------------------------------------------------------
        step = Signal(range(COMPUTE_EXTENT_CYCLES + 1))
        code = Signal(STATUS_BITS)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += insn.ready.eq(1)
                with m.If(insn.valid & nop):
                    m.d.sync += code.eq(ErrorCode.NONE)
                    m.next = "STATUS"
                with m.Elif(insn.valid):
                    m.d.sync += [word.eq(insn.payload), step.eq(0), *loads]
                    m.next = "EXTENT"
            with m.State("EXTENT"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [step.eq(step + 1), *steps]
                with m.If(step == COMPUTE_EXTENT_CYCLES - 1):
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += [self.busy.eq(1), self.start.eq(in_range)]
                with m.If(in_range):
                    m.next = "RUN"
                with m.Else():
                    m.d.sync += code.eq(ErrorCode.BUF_RANGE)
                    m.next = "STATUS"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.done):
                    m.d.sync += code.eq(ErrorCode.NONE)
                    m.next = "STATUS"
            with m.State("STATUS"):
                m.d.comb += [self.busy.eq(1), status.valid.eq(1), status.payload.eq(code)]
                with m.If(status.ready):
                    m.next = "IDLE"
        return m


class ComputeCore(wiring.Component):
    """Buffers + :class:`~hwcnn.hw.soc.engine.TileEngine` + :class:`Executor`.

    Parameters
    ----------
    params : SocParams

    Members
    -------
    gemm : In(UnitSignature)         GEMM and VEC instructions
    act_wr, wgt_wr, par_wr, out_wr : In(LaneWriteSignature)   the loaders' buffer writes
        (ACT: R lanes of act_bits; WGT: C of weight_bits; PARAM: C of ``param_lane_bits``;
        OUT: C of act_bits; ``out_wr`` is ignored while ``busy``)
    out_rd : In(ReadSignature)       the store unit's output-buffer reads (latency 1)
    busy : Out(1)                    the executor holds an instruction
    """

    def __init__(self, params: SocParams) -> None:
        cfg, d = params.config, params.depths
        arr = cfg.array
        self._params = params
        super().__init__({
            "gemm": In(UnitSignature()),
            "act_wr": In(LaneWriteSignature(addr_bits(d.act), arr.rows, arr.act_bits)),
            "wgt_wr": In(LaneWriteSignature(addr_bits(d.weight), arr.cols, arr.weight_bits)),
            "par_wr": In(LaneWriteSignature(addr_bits(d.param), arr.cols,
                                            param_lane_bits(cfg))),
            "out_wr": In(LaneWriteSignature(addr_bits(d.out), arr.cols, arr.act_bits)),
            "out_rd": In(ReadSignature(addr_bits(d.out), arr.cols * arr.act_bits)),
            "busy": Out(1),
        })

    @property
    def depths(self) -> BufferDepths:
        return self._params.depths

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._params
        m.submodules.buffers = buf = Buffers(p.config, p.depths, lane_writes=True,
                                             store_port=True)
        m.submodules.engine = eng = TileEngine(p.config, p.depths)
        m.submodules.executor = ex = Executor(p)

        for name in ("act_wr", "wgt_wr", "par_wr", "out_wr", "out_rd"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(buf, name))
        wiring.connect(m, wiring.flipped(self.gemm), ex.unit)
        wiring.connect(m, ex.desc, eng.desc)
        m.d.comb += [eng.start.eq(ex.start), ex.done.eq(eng.done), self.busy.eq(ex.busy)]
        connect_buffers(m, eng, buf, ex.busy)
        return m
