"""Buffer word layouts (rtl/README.md section 3) and descriptor encodings, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.hw import layout
from hwcnn.hw.descriptor import GemmDesc, PoolDesc, PoolOpCode, Requant
from hwcnn.hw.params import BufferDepths
from hwcnn.numerics.fixedpoint import Overflow, Rounding

OS = HardwareConfig(array=ArrayConfig(rows=2, cols=3, dataflow=Dataflow.OUTPUT_STATIONARY))
WS = HardwareConfig(array=ArrayConfig(rows=2, cols=3, dataflow=Dataflow.WEIGHT_STATIONARY))
A = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])          # m = 3, k = 3


def w8(*lanes: int) -> int:
    """Pack by hand: lane i at bits [8i, 8i+8), two's complement."""
    return sum((v & 0xFF) << (8 * i) for i, v in enumerate(lanes))


def test_pack_roundtrip_and_range() -> None:
    assert layout.pack_word([1, -1, 0, -128], 8) == 0x8000FF01
    assert layout.unpack_word(0x8000FF01, 4, 8) == [1, -1, 0, -128]
    with pytest.raises(ValueError, match="does not fit 8 signed bits"):
        layout.pack_word([128], 8)


def test_pack_bytes_by_hand() -> None:
    # 8-bit lanes: the two's complement bytes in lane order; a word wider than its lanes is
    # padded with zero bytes
    assert layout.pack_bytes(np.array([[1, -1, 0, -128]]), 8, 4) == bytes([1, 0xFF, 0, 0x80])
    assert layout.pack_bytes(np.array([[1, -1, 3]]), 8, 4) == bytes([1, 0xFF, 3, 0])
    # 4-bit lanes 1, -1, 2, 7: nibbles 0x1, 0xF, 0x2, 0x7 -> bytes 0xF1, 0x72
    assert layout.pack_bytes(np.array([[1, -1, 2, 7]]), 4, 2) == bytes([0xF1, 0x72])
    # 6-bit lanes -32, 31: 0b100000 | 0b011111 << 6 = 0x7E0 -> e0 07
    assert layout.pack_bytes(np.array([[-32, 31]]), 6, 2) == bytes([0xE0, 0x07])
    with pytest.raises(ValueError, match="lane value -9 does not fit 4 signed bits"):
        layout.pack_bytes(np.array([[1, -9]]), 4, 1)
    with pytest.raises(ValueError, match="3 lanes of 8 bits do not fit a 2-byte word"):
        layout.pack_bytes(np.array([[1, 2, 3]]), 8, 2)


@pytest.mark.parametrize("bits,lanes", [(8, 4), (8, 3), (4, 5), (6, 7), (16, 3), (3, 11)])
def test_pack_bytes_is_pack_word(bits: int, lanes: int) -> None:
    rng = np.random.default_rng(bits * 100 + lanes)
    v = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(9, lanes))
    wb = -(-lanes * bits // 8) + (lanes % 2)
    assert layout.pack_bytes(v, bits, wb) == b"".join(
        layout.pack_word(row, bits).to_bytes(wb, "little") for row in v)


def test_weight_rows_are_weight_words() -> None:
    b = np.arange(-10, 11).reshape(3, 7)               # k = 3, n = 7 -> 3 column folds
    rows = layout.weight_rows(b, OS)
    assert rows.shape == (9, 3)
    assert [layout.pack_word(r, 8) for r in rows] == layout.weight_words(b, OS)


def test_os_activation_words_are_those_of_ws() -> None:
    # one layout for both dataflows: word kf*m + i, lane r = A[i, kf*R + r] (an OS array row
    # takes a word and shifts its lanes out); k lanes beyond k are 0.
    assert layout.act_words(A, OS) == layout.act_words(A, WS) == [
        w8(1, 2), w8(4, 5), w8(7, 8), w8(3, 0), w8(6, 0), w8(9, 0)]


def test_ws_activation_words_are_row_slices() -> None:
    # word kf*m + i, lane r = A[i, kf*R + r]; k lanes beyond k are 0.
    assert layout.act_words(A, WS) == [w8(1, 2), w8(4, 5), w8(7, 8),
                                       w8(3, 0), w8(6, 0), w8(9, 0)]


def test_weight_words_and_output_unpack() -> None:
    b = np.arange(-4, 4).reshape(2, 4)                     # k = 2, n = 4 > C = 3
    assert layout.weight_words(b, OS) == [w8(-4, -3, -2), w8(0, 1, 2), w8(-1, 0, 0),
                                          w8(3, 0, 0)]
    words = [w8(1, 2, 3), w8(4, 5, 6), w8(7, 99, 99), w8(8, 99, 99)]   # m = 2, n = 4
    assert layout.gemm_out(words, 2, 4, OS).tolist() == [[1, 2, 3, 7], [4, 5, 6, 8]]


def test_param_word_fields() -> None:
    words = layout.param_words(np.array([-1, 5]), np.array([7, 1 << 30]), 33, OS)
    lane = 32 + 31 + 6
    w = words[0]
    lane0, lane1 = w & ((1 << lane) - 1), (w >> lane) & ((1 << lane) - 1)
    assert lane0 == 0xFFFFFFFF | (7 << 32) | (33 << 63)
    assert lane1 == 5 | ((1 << 30) << 32) | (33 << 63)
    assert w >> (2 * lane) == 0                            # absent column 2 is 0


def test_pool_words() -> None:
    x = np.arange(2 * 2 * 3).reshape(2, 2, 3)              # 2 channels, 2 x 3 map
    words = layout.pool_in_words(x, OS)
    assert words[4] == w8(x[0, 1, 1], x[1, 1, 1], 0)       # word y*w + x
    assert layout.pool_out(words, 2, 2, 3, OS).tolist() == x.tolist()


def test_descriptor_fields_are_ports() -> None:
    """Every encoded field names a ``desc`` member (the cocotb bench drives them by name)."""
    from hwcnn.hw.signatures import descriptor_members

    members = set(descriptor_members(OS, BufferDepths()))
    rq = Requant(lo=0, hi=6, m0=3, shift=4, rounding=Rounding.HALF_EVEN,
                 overflow=Overflow.WRAP)
    g = GemmDesc(m=2, n=3, k=4, requant=rq, per_channel=True).fields()
    p = PoolDesc(op=PoolOpCode.AVG, in_h=3, in_w=3, out_h=1, out_w=1, win_h=3, win_w=3,
                 requant=rq).fields()
    assert set(g) <= members and set(p) <= members
    assert (g["kind"], g["rounding"], g["wrap"], g["per_channel"]) == (0, 3, 1, 1)
    assert (p["kind"], p["pool_op"], p["lo"], p["hi"]) == (1, 1, 0, 6)
