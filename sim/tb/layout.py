"""Buffer words of the accelerator's host interface, written from rtl/README.md sections 2-3.

Pure Python/NumPy, deliberately independent of ``hwcnn.hw.buffers`` (the RTL engineer's packing
helpers), so the testbench checks the documented layout rather than re-using the design's own
reading of it. Lanes are little-endian: lane ``i`` of a ``w``-bit-lane word is bits
``[i*w, (i+1)*w)``, two's complement.

Don't-care lanes (beyond ``k`` for OS activations, beyond ``n`` for weights and parameters) are
filled with random junk so the test proves the hardware ignores them; WS activation lanes beyond
``k`` are 0 as the README requires. Both dataflows share the activation layout: word
``kf*m + i`` holds ``A[i, kf*R .. kf*R + R-1]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwcnn.arch.config import ArrayConfig, Dataflow
from sim.tb.tiles import GemmCase, PoolCase

#: Parameter word lane: bias (acc bits), M0 (31 bits), shift (6 bits).
M0_BITS = 31
SHIFT_BITS = 6
ROUNDING_CODES = ("truncate", "half_up", "half_away", "half_even")
POOL_CODES = {"max": 0, "avg": 1, "sum": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class TbConfig:
    """The generated accelerator's parameters, as the testbench needs them."""

    rows: int
    cols: int
    dataflow: str
    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    act_depth: int = 256
    weight_depth: int = 256
    out_depth: int = 256
    param_depth: int = 16
    acc_depth: int = 256

    def __post_init__(self) -> None:
        if self.dataflow not in ("os", "ws"):
            raise ValueError(f"dataflow must be 'os' or 'ws', not {self.dataflow!r}")

    @property
    def array(self) -> ArrayConfig:
        return ArrayConfig(rows=self.rows, cols=self.cols, dataflow=Dataflow.parse(self.dataflow),
                           act_bits=self.act_bits, weight_bits=self.weight_bits,
                           acc_bits=self.acc_bits)

    @property
    def param_lane_bits(self) -> int:
        return self.acc_bits + M0_BITS + SHIFT_BITS

    def to_env(self) -> str:
        return json.dumps({f: getattr(self, f) for f in self.__slots__})  # type: ignore[attr-defined]

    @classmethod
    def from_env(cls, var: str = "HWCNN_TB_CONFIG") -> TbConfig:
        text = os.environ.get(var)
        if not text:
            raise RuntimeError(f"{var} is not set: the host test passes the design's config")
        return cls(**json.loads(text))


def pack(values: Any, width: int) -> int:
    """Lanes (lane 0 first) -> one word."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack(word: int, lanes: int, width: int) -> list[int]:
    """One word -> signed lane values (lane 0 first)."""
    mask, half = (1 << width) - 1, 1 << (width - 1)
    out = []
    for i in range(lanes):
        v = (word >> (i * width)) & mask
        out.append(v - (1 << width) if v & half else v)
    return out


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmWords:
    """Buffer contents of one GEMM tile, relative to base 0: ``{offset: word}`` per buffer."""

    act: dict[int, int]
    weight: dict[int, int]
    param: dict[int, int]
    out_words: int

    def fits(self, cfg: TbConfig) -> str | None:
        """None if the tile fits the buffers, else why not."""
        for what, words, depth in (("activation", len(self.act), cfg.act_depth),
                                   ("weight", len(self.weight), cfg.weight_depth),
                                   ("parameter", len(self.param), cfg.param_depth),
                                   ("output", self.out_words, cfg.out_depth)):
            if words > depth:
                return f"{what} words {words} > depth {depth}"
        return None


def gemm_words(case: GemmCase, cfg: TbConfig, rng: np.random.Generator) -> GemmWords:
    """The act/weight/param words of ``case`` on ``cfg`` (README section 3), junk in don't-cares."""
    r, c, m, n, k = cfg.rows, cfg.cols, case.m, case.n, case.k
    a_bits, w_bits = cfg.act_bits, cfg.weight_bits

    def junk(count: int, bits: int) -> np.ndarray:
        return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=count)

    act: dict[int, int] = {}
    for kf in range(ceil_div(k, r)):
        for i in range(m):
            lanes = junk(r, a_bits) if cfg.dataflow == "os" else np.zeros(r, dtype=np.int64)
            cols = range(kf * r, min(k, kf * r + r))
            lanes[: len(cols)] = case.a[i, list(cols)]
            act[kf * m + i] = pack(lanes, a_bits)
    weight: dict[int, int] = {}
    param: dict[int, int] = {}
    pbits = cfg.param_lane_bits
    for nf in range(ceil_div(n, c)):
        cols = list(range(nf * c, min(n, nf * c + c)))
        for kk in range(k):
            lanes = junk(c, w_bits)
            lanes[: len(cols)] = case.b[kk, cols]
            weight[nf * k + kk] = pack(lanes, w_bits)
        plane = []
        for lane in range(c):
            bias = int(rng.integers(-(1 << 20), 1 << 20))
            m0, sh = int(rng.integers(0, 1 << M0_BITS)), int(rng.integers(0, 63))
            if lane < len(cols):
                j = cols[lane]
                if case.bias is not None:
                    bias = int(case.bias[j])
                if case.per_channel:
                    m0, sh = int(case.m0[j]), int(case.shift[j])
            bias &= (1 << cfg.acc_bits) - 1
            plane.append(bias | (m0 << cfg.acc_bits) | (sh << (cfg.acc_bits + M0_BITS)))
        param[nf] = pack(plane, pbits)
    return GemmWords(act=act, weight=weight, param=param, out_words=ceil_div(n, c) * m)


def gemm_desc(case: GemmCase, a_base: int, b_base: int, p_base: int, c_base: int) -> dict[str, int]:
    """Descriptor fields (``desc__<name>``) of a GEMM tile."""
    return {
        "kind": 0, "m": case.m, "n": case.n, "k": case.k, "a_base": a_base, "b_base": b_base,
        "p_base": p_base, "c_base": c_base,
        "m0": 0 if case.per_channel else int(case.m0[0]),
        "shift": 0 if case.per_channel else int(case.shift[0]),
        "rounding": ROUNDING_CODES.index(case.rounding.value),
        "wrap": int(case.mode.value == "wrap"), "per_channel": int(case.per_channel),
        "bias_en": int(case.bias is not None), "lo": case.lo, "hi": case.hi,
        # A plain tile: no K-split chaining (the driver keeps unlisted fields at their value).
        "acc_in": 0, "acc_out": 0,
    }


def gemm_unpack(words: list[int], case: GemmCase, cfg: TbConfig) -> tuple[np.ndarray, np.ndarray]:
    """Output words (from ``c_base`` on) -> ``(out[m, n], pad_lanes)``; pad lanes must be 0."""
    c, m, n = cfg.cols, case.m, case.n
    out = np.zeros((m, n), dtype=np.int64)
    pads = []
    for nf in range(ceil_div(n, c)):
        for i in range(m):
            lanes = unpack(words[nf * m + i], c, cfg.act_bits)
            for lane, v in enumerate(lanes):
                j = nf * c + lane
                if j < n:
                    out[i, j] = v
                else:
                    pads.append(v)
    return out, np.array(pads, dtype=np.int64)


def junk_words(count: int, cfg: TbConfig, rng: np.random.Generator) -> list[int]:
    """Random output-buffer words (C lanes of act_bits)."""
    return [pack(rng.integers(-(1 << (cfg.act_bits - 1)), 1 << (cfg.act_bits - 1), size=cfg.cols),
                 cfg.act_bits) for _ in range(count)]


def guard_addrs(base: int, words: int, depth: int, avoid: range = range(0)) -> list[int]:
    """The words just below and above ``[base, base + words)`` inside the buffer, not in ``avoid``.

    The testbench fills them with junk before a tile and checks they are unchanged after it, so
    a tile writing one word too many (or too early) is caught.
    """
    return [a for a in (base - 1, base + words) if 0 <= a < depth and a not in avoid]


def pool_groups(case: PoolCase, cfg: TbConfig) -> list[range]:
    """Channel groups of ``cfg.cols`` channels: one pool tile each."""
    return [range(g, min(case.channels, g + cfg.cols)) for g in range(0, case.channels, cfg.cols)]


def pool_input_words(case: PoolCase, channels: range, cfg: TbConfig,
                     rng: np.random.Generator) -> list[int]:
    """Input words ``y*in_w + x`` (C lanes = the group's channels, junk in unused lanes)."""
    words = []
    for y in range(case.in_h):
        for x in range(case.in_w):
            lanes = rng.integers(-128, 128, size=cfg.cols)
            lanes[: len(channels)] = case.x[list(channels), y, x]
            words.append(pack(lanes, cfg.act_bits))
    return words


def pool_desc(case: PoolCase, pin_base: int, c_base: int) -> dict[str, int]:
    """Descriptor fields of a pool tile (SUM uses HALF_UP and SATURATE, as the contract)."""
    return {
        "kind": 1, "pin_base": pin_base, "c_base": c_base, "pool_op": POOL_CODES[case.op],
        "m0": case.m0, "shift": case.shift, "rounding": ROUNDING_CODES.index("half_up"),
        "wrap": 0, "lo": case.lo, "hi": case.hi, "in_h": case.in_h, "in_w": case.in_w,
        "out_h": case.out_h, "out_w": case.out_w, "win_h": case.win[0], "win_w": case.win[1],
        "stride_h": case.stride[0], "stride_w": case.stride[1], "pad_top": case.pad[0],
        "pad_left": case.pad[1], "pad_bottom": case.pad_far[0], "pad_right": case.pad_far[1],
        "count_pad": int(case.count_pad),
    }


def pool_fits(case: PoolCase, cfg: TbConfig) -> str | None:
    """None if input + output words of one group fit the output buffer, else why not."""
    need = case.in_h * case.in_w + case.out_h * case.out_w
    return None if need <= cfg.out_depth else f"pool needs {need} output-buffer words > {cfg.out_depth}"


__all__ = ["GemmWords", "TbConfig", "ceil_div", "gemm_desc", "gemm_unpack", "gemm_words", "guard_addrs",
           "junk_words", "pack",
           "pool_desc", "pool_fits", "pool_groups", "pool_input_words", "unpack"]
