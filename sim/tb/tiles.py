"""Tile test-case records shared by the host (``sim/cases.py``) and the testbenches.

Pure NumPy (no cocotb), so the host can build and validate cases and the simulator side can read
them back from JSON. Each record validates itself: a case that could not be a legal tile never
reaches the simulator (zero sizes are only legal in :class:`RefusedCase`, whose whole point is
that the hardware must refuse them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from hwcnn.numerics.fixedpoint import Overflow, Rounding

#: Format tag of the case files (bump when the JSON layout changes).
SCHEMA = "hwcnn-tile-cases/1"
#: Operand and output range of the int8 tiles these testbenches generate.
INT8 = (-128, 127)
POOL_OPS = ("max", "avg", "sum")


def _ints(name: str, value: Any, ndim: int, lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.int64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {arr.shape}")
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise ValueError(f"{name} values must lie in [{lo}, {hi}], got {arr.min()}..{arr.max()}")
    return arr


def _clamp_ok(lo: int, hi: int) -> None:
    if not INT8[0] <= lo <= hi <= INT8[1]:
        raise ValueError(f"output clamp [{lo}, {hi}] is not inside int8")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class GemmCase:
    """``Out[m x n] = requant(bias + A[m x k] @ B[k x n])``, int8 operands, int8 outputs.

    ``m0``/``shift`` have one entry (per tensor, ``per_channel=False``) or ``n`` entries.
    ``bias`` None means the descriptor's ``bias_en = 0``. ``k_split`` (chunk sizes summing to
    ``k``, at least 2) runs the GEMM as a K-split chain of tiles (rtl/README.md 4: ``acc_out``
    on all but the last, ``acc_in`` on all but the first); empty = one whole-K tile.
    """

    name: str
    origin: str
    a: np.ndarray
    b: np.ndarray
    bias: np.ndarray | None
    m0: np.ndarray
    shift: np.ndarray
    lo: int
    hi: int
    per_channel: bool
    rounding: Rounding = Rounding.HALF_UP
    mode: Overflow = Overflow.SATURATE
    k_split: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        a = _ints(f"{self.name}: A", self.a, 2, *INT8)
        b = _ints(f"{self.name}: B", self.b, 2, *INT8)
        if 0 in a.shape or 0 in b.shape:
            raise ValueError(f"{self.name}: zero-size tile A{a.shape} B{b.shape} is refused")
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"{self.name}: A{a.shape} and B{b.shape} disagree on k")
        n = b.shape[1]
        bias = None if self.bias is None else _ints(f"{self.name}: bias", self.bias, 1,
                                                    -(1 << 31), (1 << 31) - 1)
        if bias is not None and bias.shape != (n,):
            raise ValueError(f"{self.name}: bias has {bias.shape[0]} entries, n = {n}")
        m0 = _ints(f"{self.name}: m0", self.m0, 1, 0, (1 << 31) - 1)
        shift = _ints(f"{self.name}: shift", self.shift, 1, 0, 62)
        want = n if self.per_channel else 1
        if m0.shape != (want,) or shift.shape != (want,):
            raise ValueError(f"{self.name}: m0/shift need {want} entries, got "
                             f"{m0.shape[0]}/{shift.shape[0]}")
        _clamp_ok(self.lo, self.hi)
        split = tuple(int(v) for v in self.k_split)
        if split and (len(split) < 2 or min(split) < 1 or sum(split) != a.shape[1]):
            raise ValueError(f"{self.name}: k_split {split} must be >= 2 positive chunks "
                             f"summing to k = {a.shape[1]}")
        object.__setattr__(self, "k_split", split)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "m0", m0)
        object.__setattr__(self, "shift", shift)

    @property
    def m(self) -> int:
        return int(self.a.shape[0])

    @property
    def k(self) -> int:
        return int(self.a.shape[1])

    @property
    def n(self) -> int:
        return int(self.b.shape[1])

    def summary(self) -> str:
        req = "per-channel" if self.per_channel else "per-tensor"
        return (f"gemm m={self.m} n={self.n} k={self.k} {req} {self.rounding.value} "
                f"{self.mode.value} clamp[{self.lo},{self.hi}] bias={'off' if self.bias is None else 'on'}"
                + (f" k-split {'+'.join(map(str, self.k_split))}" if self.k_split else "")
                + f" -- {self.origin}")

    def chunks(self) -> list[GemmCase]:
        """The tiles of a K-split chain (``[self]`` without ``k_split``)."""
        if not self.k_split:
            return [self]
        out, k0 = [], 0
        for i, kk in enumerate(self.k_split):
            out.append(replace(self, name=f"{self.name}[k{i}]", a=self.a[:, k0:k0 + kk],
                               b=self.b[k0:k0 + kk], k_split=()))
            k0 += kk
        return out

    def to_json(self) -> dict[str, Any]:
        return {"kind": "gemm", "name": self.name, "origin": self.origin,
                "a": self.a.tolist(), "b": self.b.tolist(),
                "bias": None if self.bias is None else self.bias.tolist(),
                "m0": self.m0.tolist(), "shift": self.shift.tolist(), "lo": self.lo,
                "hi": self.hi, "per_channel": self.per_channel,
                "rounding": self.rounding.value, "mode": self.mode.value,
                "k_split": list(self.k_split)}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PoolCase:
    """Pool ``x`` (channels, in_h, in_w) to (channels, out_h, out_w), window ``win`` (h, w).

    Window ``(oy, ox)`` covers rows ``oy*stride_h - pad_top + [0, win_h)`` and the same for
    columns; out-of-bounds positions are skipped. SUM requantizes with ``m0``/``shift``
    (HALF_UP, SATURATE). Every result is clamped to ``[lo, hi]``.
    """

    name: str
    origin: str
    op: str
    x: np.ndarray
    out_h: int
    out_w: int
    win: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    m0: int = 1
    shift: int = 0
    lo: int = INT8[0]
    hi: int = INT8[1]
    count_pad: bool = False
    pad_far: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.op not in POOL_OPS:
            raise ValueError(f"{self.name}: pool op {self.op!r} not in {POOL_OPS}")
        x = _ints(f"{self.name}: x", self.x, 3, *INT8)
        if 0 in x.shape or self.out_h < 1 or self.out_w < 1:
            raise ValueError(f"{self.name}: zero-size pool tile x{x.shape} -> "
                             f"{self.out_h}x{self.out_w} is refused")
        if min(*self.win, *self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"{self.name}: window {self.win} stride {self.stride} pad {self.pad}")
        if not 0 <= self.m0 < 1 << 31 or not 0 <= self.shift <= 62:
            raise ValueError(f"{self.name}: m0 {self.m0} / shift {self.shift} out of range")
        _clamp_ok(self.lo, self.hi)
        object.__setattr__(self, "x", x)
        if not self.window_coords()[2].any(axis=1).all():
            raise ValueError(f"{self.name}: a window lies entirely in the padding")

    @property
    def channels(self) -> int:
        return int(self.x.shape[0])

    @property
    def in_h(self) -> int:
        return int(self.x.shape[1])

    @property
    def in_w(self) -> int:
        return int(self.x.shape[2])

    def window_coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ys, xs, valid)``, each (out_h*out_w, win_h*win_w): input coordinates per element."""
        oy, ox = np.divmod(np.arange(self.out_h * self.out_w), self.out_w)
        ty, tx = np.divmod(np.arange(self.win[0] * self.win[1]), self.win[1])
        ys = oy[:, None] * self.stride[0] - self.pad[0] + ty[None, :]
        xs = ox[:, None] * self.stride[1] - self.pad[1] + tx[None, :]
        valid = (ys >= 0) & (ys < self.in_h) & (xs >= 0) & (xs < self.in_w)
        return ys, xs, valid

    def divisors(self) -> np.ndarray | None:
        """AVG with ``count_pad``: per output the taps inside the padded input (``pad`` above /
        left, ``pad_far`` below / right); None: the valid taps."""
        if not self.count_pad:
            return None
        ys, xs, _ = self.window_coords()
        return ((ys < self.in_h + self.pad_far[0]) & (xs < self.in_w + self.pad_far[1])).sum(axis=1)

    def window_values(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` of one channel in :func:`hwcnn.numerics.golden_ops.pool_tile` layout."""
        ys, xs, valid = self.window_coords()
        vals = self.x[channel][np.clip(ys, 0, self.in_h - 1), np.clip(xs, 0, self.in_w - 1)]
        return np.where(valid, vals, 0), valid

    def summary(self) -> str:
        return (f"pool {self.op} {self.channels}ch {self.in_h}x{self.in_w}->{self.out_h}x{self.out_w}"
                f" win {self.win} stride {self.stride} pad {self.pad}"
                f"{f' count_pad far {self.pad_far}' if self.count_pad else ''} -- {self.origin}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "pool", "name": self.name, "origin": self.origin, "op": self.op,
                "x": self.x.tolist(), "out_h": self.out_h, "out_w": self.out_w,
                "win": list(self.win), "stride": list(self.stride), "pad": list(self.pad),
                "m0": self.m0, "shift": self.shift, "lo": self.lo, "hi": self.hi,
                "count_pad": self.count_pad, "pad_far": list(self.pad_far)}


#: Descriptor size fields per tile kind; a zero in any of them must be refused (README 4-5).
REFUSED_SIZE_FIELDS = {"gemm": ("m", "n", "k"),
                       "pool": ("in_h", "in_w", "out_h", "out_w", "win_h", "win_w")}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RefusedCase:
    """A descriptor with a zero size: the sequencer must answer ``done`` + ``error`` at T = 1.

    ``tile`` is ``"gemm"`` or ``"pool"``; ``sizes`` gives every size field of that kind
    (:data:`REFUSED_SIZE_FIELDS`), at least one of them 0.
    """

    name: str
    tile: str
    sizes: dict[str, int]
    origin: str = "zero-size descriptor"

    def __post_init__(self) -> None:
        fields = REFUSED_SIZE_FIELDS.get(self.tile)
        if fields is None or set(self.sizes) != set(fields):
            raise ValueError(f"{self.name}: a refused {self.tile!r} case needs sizes {fields}")
        if min(self.sizes.values()) < 0 or 0 not in self.sizes.values():
            raise ValueError(f"{self.name}: a refused case needs a zero size and no negative one,"
                             f" got {self.sizes}")

    def desc(self) -> dict[str, int]:
        """The descriptor fields to drive (``kind`` + the sizes)."""
        return {"kind": 0 if self.tile == "gemm" else 1, **self.sizes}

    def summary(self) -> str:
        return f"refused {self.tile} " + " ".join(f"{k}={v}" for k, v in self.sizes.items())

    def to_json(self) -> dict[str, Any]:
        return {"kind": "refused", "name": self.name, "tile": self.tile, "sizes": self.sizes}


TileCase: TypeAlias = GemmCase | PoolCase | RefusedCase


def case_from_json(d: dict[str, Any]) -> TileCase:
    """Inverse of the ``to_json`` methods."""
    match d.get("kind"):
        case "gemm":
            return GemmCase(name=d["name"], origin=d["origin"], a=d["a"], b=d["b"],
                            bias=d["bias"], m0=d["m0"], shift=d["shift"], lo=d["lo"], hi=d["hi"],
                            per_channel=d["per_channel"], rounding=Rounding(d["rounding"]),
                            mode=Overflow(d["mode"]), k_split=tuple(d.get("k_split", ())))
        case "pool":
            return PoolCase(name=d["name"], origin=d["origin"], op=d["op"], x=d["x"],
                            out_h=d["out_h"], out_w=d["out_w"], win=tuple(d["win"]),
                            stride=tuple(d["stride"]), pad=tuple(d["pad"]), m0=d["m0"],
                            shift=d["shift"], lo=d["lo"], hi=d["hi"],
                            count_pad=bool(d.get("count_pad", False)),
                            pad_far=tuple(d.get("pad_far", (0, 0))))
        case "refused":
            return RefusedCase(name=d["name"], tile=d["tile"], sizes=dict(d["sizes"]))
    raise ValueError(f"unknown case kind {d.get('kind')!r}")


def write_case_file(path: str | Path, cases: list[TileCase] | tuple[TileCase, ...]) -> None:
    """Write a case file (JSON, deterministic: the same cases give the same bytes)."""
    doc = {"schema": SCHEMA, "cases": [c.to_json() for c in cases]}
    Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def read_case_file(path: str | Path) -> tuple[TileCase, ...]:
    """Read a case file written by :func:`write_case_file`."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} file (schema {doc.get('schema')!r})")
    return tuple(case_from_json(d) for d in doc["cases"])
