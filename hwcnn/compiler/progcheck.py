"""Refusals before a program is written: every buffer range, DRAM range and descriptor rule.

GEMM and VEC instructions of nonzero size (a zero size is a NOP,
:data:`hwcnn.isa.fields.SIZE_FIELDS`) are checked by the tile descriptors' own rules
(:class:`hwcnn.hw.descriptor.GemmDesc` / :class:`~hwcnn.hw.descriptor.PoolDesc`: buffer ranges,
accumulator width, window geometry); LOAD / STORE / LOAD2D by the ranges of words and bytes
they touch (``rtl/README.md`` 9.2); the tokens by :func:`hwcnn.isa.queues.replay`. Errors are
one line naming the tile and the instruction.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..arch.config import HardwareConfig
from ..errors import ConfigError
from ..hw.descriptor import GemmDesc, PoolDesc, PoolOpCode, Requant
from ..hw.layout import act_word_count
from ..hw.params import BufferDepths
from ..isa.disasm import is_nop
from ..isa.fields import Buffer, Insn, MemMode, Opcode, ProgramError
from ..isa.queues import replay
from ..isa.target import Target
from ..numerics.fixedpoint import Overflow, Rounding

_ROUNDING = list(Rounding)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _words(what: str, base: int, words: int, depth: int) -> None:
    if base + words > depth:
        raise ProgramError(f"{what} words [{base}, {base + words}) exceed the buffer depth "
                           f"{depth}")


def _dram(end: int, window: int) -> None:
    if end > window:
        raise ProgramError(f"DMA ends at byte {end}, outside the DRAM window of {window} bytes")


def _distinct_words(rows: int, sram_stride: int, folds: int, fold_stride: int) -> None:
    """A PIXELS LOAD writes whole words (uncovered lanes 0), so no two (pixel, fold) pairs may
    share a word: the load unit writes them in turn and the later pair's zero lanes would
    overwrite the earlier pair's elements. Accepted: the folds lie apart (``fold_stride >=
    rows * sram_stride``) or the pixels do (``sram_stride >= folds * fold_stride``), each with
    a nonzero stride where it has more than one step."""
    steps = (rows == 1 or sram_stride > 0) and (folds == 1 or fold_stride > 0)
    apart = (rows == 1 or folds == 1 or fold_stride >= rows * sram_stride
             or sram_stride >= folds * fold_stride)
    if not (steps and apart):
        raise ProgramError(f"PIXELS load: pixels {rows} x folds {folds} with sram_stride "
                           f"{sram_stride} and fold_stride {fold_stride} write some buffer "
                           f"word twice")


def _requant(f: dict[str, int]) -> Requant:
    if f["rounding"] >= len(_ROUNDING):
        raise ProgramError(f"rounding code {f['rounding']} is not defined")
    return Requant(lo=f["lo"], hi=f["hi"], m0=f["m0"], shift=f["shift"],
                   rounding=_ROUNDING[f["rounding"]],
                   overflow=Overflow.WRAP if f["wrap"] else Overflow.SATURATE)


def check_insn(insn: Insn, t: Target) -> None:
    """ProgramError unless ``insn`` stays inside the buffers and the DRAM window."""
    f = insn.get()
    cfg = HardwareConfig(array=t.array)
    depths = BufferDepths(act=t.act, weight=t.weight, out=t.out, param=t.param, acc=t.acc)
    try:
        match insn.op:
            case Opcode.LOAD | Opcode.STORE:
                if f["rows"] == 0:
                    return
                buf = Buffer(f["buffer"])
                if insn.op is Opcode.STORE and buf is not Buffer.OUT:
                    raise ProgramError(f"STORE reads the {buf.name} buffer (only OUT is stored)")
                what = buf.name.lower()
                if f["mode"] == MemMode.WORDS:
                    _words(what, f["sram_base"], f["rows"], t.depth(buf))
                    _dram(f["dram_base"] + f["rows"] * t.word_bytes(buf), t.dram_bytes)
                    return
                if f["elems"] == 0:
                    raise ProgramError("a PIXELS transfer of 0 elements per pixel")
                folds = _cdiv(f["elems"], t.lanes(buf))
                if insn.op is Opcode.LOAD:
                    _distinct_words(f["rows"], f["sram_stride"], folds, f["fold_stride"])
                last = (f["sram_base"] + (folds - 1) * f["fold_stride"]
                        + (f["rows"] - 1) * f["sram_stride"])
                _words(what, last, 1, t.depth(buf))
                _dram(f["dram_base"] + (f["rows"] - 1) * f["dram_stride"]
                      + f["elems"] * t.elem_bytes, t.dram_bytes)
            case Opcode.LOAD2D:
                if f["m"] == 0:
                    return
                for name in ("in_h", "in_w", "out_w", "cg", "kh", "kw", "sh", "sw", "dh", "dw",
                             "k", "pix_stride"):
                    if f[name] == 0:
                        raise ProgramError(f"LOAD2D field {name} is 0")
                words = act_word_count(f["m"], f["k"], t.array.rows)
                _words("act", f["sram_base"], words, t.act)
                last = ((f["in_h"] - 1) * f["in_w"] + f["in_w"] - 1) * f["pix_stride"] + f["cg"]
                _dram(f["dram_base"] + last * t.elem_bytes, t.dram_bytes)
            case Opcode.GEMM | Opcode.VEC if is_nop(insn):
                return                  # a zero size: a NOP on the compute core (10.1)
            case Opcode.GEMM:
                GemmDesc(m=f["m"], n=f["n"], k=f["k"], requant=_requant(f), a_base=f["a_base"],
                         b_base=f["b_base"], p_base=f["p_base"], c_base=f["c_base"],
                         per_channel=bool(f["per_channel"]), bias_en=bool(f["bias_en"]),
                         acc_in=bool(f["acc_in"]), acc_out=bool(f["acc_out"])
                         ).check(cfg, depths)
            case Opcode.VEC:
                if f["pool_op"] > PoolOpCode.SUM:
                    raise ProgramError(f"pool_op {f['pool_op']} is not defined")
                if f["reserved"]:
                    raise ProgramError("reserved bits are set")
                PoolDesc(op=PoolOpCode(f["pool_op"]), in_h=f["in_h"], in_w=f["in_w"],
                         out_h=f["out_h"], out_w=f["out_w"], win_h=f["win_h"],
                         win_w=f["win_w"], requant=_requant(f), stride_h=f["stride_h"],
                         stride_w=f["stride_w"], pad_top=f["pad_top"],
                         pad_left=f["pad_left"], pad_bottom=f["pad_bottom"],
                         pad_right=f["pad_right"], count_pad=bool(f["count_pad"]),
                         pin_base=f["pin_base"], c_base=f["c_base"]
                         ).check(cfg, depths)
    except ConfigError as exc:
        raise ProgramError(str(exc)) from None


def check_program(insns: Sequence[Insn], target: Target,
                  origin: Sequence[str] | None = None) -> dict[str, int]:
    """Check every instruction and replay the tokens; return the token peaks.

    ProgramError ``<origin>: instruction I (OP): <problem>`` on the first problem.
    """
    for i, insn in enumerate(insns):
        try:
            check_insn(insn, target)
        except ProgramError as exc:
            where = f"{origin[i]}: " if origin else ""
            raise ProgramError(f"{where}instruction {i} ({insn.op.name}): {exc}") from None
    return replay(list(insns))
