"""The fetch unit of the complete accelerator (``rtl/README.md`` 10.4): program -> three queues.

:class:`Fetch` reads the program (``prog_len`` instructions of 32 bytes from byte address
``prog_base``) through its DMA read client in chunks of at most ``chunk`` instructions into an
instruction buffer (a FIFO of ``buffer`` instructions), and routes the buffered instructions,
one per cycle and strictly in program order, into three instruction FIFOs (``amaranth.lib.fifo``,
``queue_depth`` each) by :func:`hwcnn.isa.queues.queue_of`: LOAD into ACT / WGT / PARAM and
LOAD2D -> ``load``; GEMM, VEC, LOAD into OUT and END -> ``compute``; STORE -> ``store``.

Cycle behaviour (``t`` = a clock cycle; registers change at the end of their cycle):

* ``start`` (cycle 0): ``remaining = prog_len``, ``addr = prog_base``, every FIFO emptied, the
  code cleared, or set to ``PROG_ALIGN`` (6) when ``prog_base`` is not a multiple of 32 (then
  nothing is fetched). Only the low 32 bits of the address exist (the AXI address).
* Issue: in a cycle ``t`` in state IDLE with ``remaining > 0``, code 0, ``stop`` low and room
  for ``n = min(chunk, remaining)`` instructions in the buffer (``buffer - level >= n``), the
  unit enters CMD at ``t+1`` and offers the descriptor ``dram_addr = addr, row_bytes = 32 n``
  (one row, ``buf_addr = 0``) on ``dma.cmd`` until it is taken (never withdrawn). Then XFER: every
  beat is taken in the cycle it is offered (``beats.ready`` is always 1: the buffer already has
  room for the whole chunk, so fetch never holds the shared read engine); ``32/B`` beats make
  one instruction (beat ``j`` = bytes ``[jB, (j+1)B)``, little-endian), written into the
  buffer in the cycle of its last beat. The DMA status is taken in the cycle it is offered
  (``s``): with code 0 the chunk's ``n`` instructions become routable in ``s+1`` and
  ``remaining -= n``, ``addr += 32 n``; a nonzero code (DMA_WINDOW / SLVERR / DECERR) becomes
  the fetch code and nothing of the chunk is routed. IDLE again in ``s+1``, so the next issue
  check is in ``s+1`` and its descriptor is offered from ``s+2``. One transfer at a time.
* Route: in every cycle in which a routable instruction is buffered, the code is 0 and
  ``stop`` is low, the buffer's head goes to its queue if that queue's FIFO is not full
  (``w_rdy``), and stays (stalling fetch) otherwise; it is at that queue's head from the next
  cycle. An opcode 6 or 7 at the head sets code ``ILLEGAL_OPCODE`` (4) instead; nothing after
  it is routed.
* ``busy`` = a transfer is in flight (CMD or XFER), or, while the code is 0 and ``stop`` is
  low, instructions remain to be fetched or routed. After an error (or ``stop``) the unit only
  finishes the transfer in flight (every beat and the status taken) and then drops ``busy``:
  it never hangs. ``empty`` = all three instruction FIFOs are empty.

Why a full queue cannot deadlock a valid program (one :func:`hwcnn.isa.queues.replay`
accepts): suppose fetch is stalled on instruction ``j`` because its queue is full, and let ``i``
be the earliest instruction in program order that has not finished. The full queue holds
unfinished instructions before ``j``, so ``i < j`` has been routed, and since every earlier
instruction of ``i``'s unit ``U`` has finished, ``i`` is the next instruction ``U`` dispatches
(each dispatcher runs one instruction at a time, in order). Its pops: a token queue ``U`` pops
has ``U`` as its only consumer, whose pops so far all belong to instructions before ``i``, while
every push by an instruction before ``i`` has happened; so the counter holds at least what
``replay`` holds when it reaches ``i``, and ``i``'s tokens are there. Its pushes: a token queue
``U`` pushes has ``U`` as its only producer, whose pushes so far all belong to instructions
before ``i``, while every pop by an instruction before ``i`` has happened; so the counter holds
at most what ``replay`` holds before ``i``'s push, and there is room. The executors never wait
on one another, and a fetch transfer never waits on a queue (the buffer has room for it before
it is issued, so fetch never holds the shared read engine), hence ``i`` finishes; by induction
the whole program does.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...arch.dma import ErrorCode
from ...arch.soc import FETCH_BUFFER, FETCH_CHUNK
from ...arch.soc import QUEUE_DEPTH as _QUEUE_DEPTH
from ...isa.fields import INSN_BITS, INSN_BYTES, Buffer, Opcode
from ...isa.layout import struct_layout
from .ports import AXI_ADDR_BITS, STATUS_BITS, DmaReadClientSignature

#: Instructions per DMA transfer, instruction buffer and queue FIFO depths (instructions).
CHUNK, BUFFER, QUEUE_DEPTH = FETCH_CHUNK, FETCH_BUFFER, _QUEUE_DEPTH
#: Queue names in hwcnn.isa.queues.Queue order.
QUEUES = ("load", "compute", "store")


class Fetch(wiring.Component):
    """Members: ``start``, ``prog_base`` (32), ``prog_len`` (32), ``stop`` (in); ``dma``
    (read client); ``load`` / ``compute`` / ``store`` (out: instruction streams, the queue
    heads); ``code`` (8, sticky error), ``busy``, ``empty`` (out)."""

    def __init__(self, data_width: int, *, chunk: int = CHUNK, buffer: int = BUFFER,
                 queue_depth: int = QUEUE_DEPTH) -> None:
        if INSN_BITS % data_width or not 1 <= chunk <= buffer:
            raise ValueError(f"fetch: data width {data_width}, chunk {chunk}, buffer {buffer}")
        self.data_width, self.chunk, self.buffer = data_width, chunk, buffer
        self.queue_depth = queue_depth
        insn = stream.Signature(INSN_BITS)
        super().__init__({
            "start": In(1), "prog_base": In(AXI_ADDR_BITS), "prog_len": In(32), "stop": In(1),
            "dma": Out(DmaReadClientSignature(data_width)),
            **{q: Out(insn) for q in QUEUES},
            "code": Out(STATUS_BITS), "busy": Out(1), "empty": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dw, bpi = self.data_width, INSN_BITS // self.data_width
        buf = fifo.SyncFIFO(width=INSN_BITS, depth=self.buffer)
        m.submodules.buf = ResetInserter(self.start)(buf)
        queues = {q: fifo.SyncFIFO(width=INSN_BITS, depth=self.queue_depth) for q in QUEUES}
        for name, q in queues.items():
            m.submodules[f"{name}_q"] = ResetInserter(self.start)(q)
            out = getattr(self, name)
            m.d.comb += [out.valid.eq(q.r_rdy), out.payload.eq(q.r_data), q.r_en.eq(out.ready)]
        m.d.comb += self.empty.eq(Cat(q.r_rdy for q in queues.values()) == 0)

        code = Signal(STATUS_BITS)
        remaining, addr = Signal(32), Signal(AXI_ADDR_BITS)
        n, n_cur = Signal(range(self.chunk + 1)), Signal(range(self.chunk + 1))
        routable = Signal(range(self.buffer + 1))
        m.d.comb += [n.eq(Mux(remaining < self.chunk, remaining, self.chunk)),
                     self.code.eq(code)]

        # --- DMA: descriptor, beats -> instructions, status ------------------------------------
        cmd, beats, status = self.dma.cmd, self.dma.beats, self.dma.status
        m.d.comb += [cmd.payload.dram_addr.eq(addr), cmd.payload.row_bytes.eq(n_cur * INSN_BYTES),
                     cmd.payload.rows.eq(1), cmd.payload.planes.eq(1), beats.ready.eq(1)]
        part = Signal(range(bpi))
        acc = Signal(INSN_BITS)
        word = Cat(acc[dw:], beats.payload.data) if bpi > 1 else beats.payload.data
        with m.If(beats.valid):
            m.d.sync += [acc.eq(word), part.eq(Mux(part == bpi - 1, 0, part + 1))]
            with m.If(part == bpi - 1):
                m.d.comb += [buf.w_en.eq(1), buf.w_data.eq(word)]
        commit = Signal()
        in_flight = Signal()
        with m.FSM():
            with m.State("IDLE"), m.If(~self.start & (remaining != 0) & (code == 0) & ~self.stop
                                       & (self.buffer - buf.level >= n)):
                m.d.sync += n_cur.eq(n)
                m.next = "CMD"
            with m.State("CMD"):
                m.d.comb += [cmd.valid.eq(1), in_flight.eq(1)]
                with m.If(cmd.ready):
                    m.next = "XFER"
            with m.State("XFER"):
                m.d.comb += [status.ready.eq(1), in_flight.eq(1)]
                with m.If(status.valid):
                    m.next = "IDLE"
                    with m.If(status.payload == 0):
                        m.d.comb += commit.eq(1)
                        m.d.sync += [remaining.eq(remaining - n_cur),
                                     addr.eq(addr + n_cur * INSN_BYTES)]
                    with m.Elif(code == 0):
                        m.d.sync += code.eq(status.payload)

        # --- route the buffer's head to its queue ------------------------------------------------
        head = buf.r_data
        op = data.View(struct_layout("END"), head).opcode
        mem = data.View(struct_layout("MEM"), head)
        to_load = (op == Opcode.LOAD2D) | ((op == Opcode.LOAD) & (mem.buffer != Buffer.OUT))
        to_store = op == Opcode.STORE
        illegal = op > Opcode.LOAD2D
        go = Signal()
        m.d.comb += go.eq((routable != 0) & (code == 0) & ~self.stop)
        pop = Signal()
        for name, q in queues.items():
            m.d.comb += q.w_data.eq(head)
        target = {"load": to_load, "store": to_store, "compute": ~(to_load | to_store)}
        with m.If(go & illegal):
            m.d.sync += code.eq(ErrorCode.ILLEGAL_OPCODE)
        with m.Elif(go):
            for name, q in queues.items():
                with m.If(target[name]):
                    m.d.comb += [q.w_en.eq(1), pop.eq(q.w_rdy)]
        m.d.comb += buf.r_en.eq(pop)
        m.d.sync += routable.eq(routable + Mux(commit, n_cur, 0) - pop)

        m.d.comb += self.busy.eq(in_flight | ((code == 0) & ~self.stop
                                              & ((remaining != 0) | (routable != 0))))
        with m.If(self.start):
            m.d.sync += [remaining.eq(self.prog_len), addr.eq(self.prog_base), routable.eq(0),
                         part.eq(0),
                         code.eq(Mux(self.prog_base[:5] != 0, ErrorCode.PROG_ALIGN, 0))]
        return m
