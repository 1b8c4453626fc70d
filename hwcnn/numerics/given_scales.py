"""Scales given by the model instead of calibration (QDQ ONNX models, ``docs/numerics.md``).

The weights may carry ``<layer>.act_scale`` (the scale of a layer's output tensor) and
``<layer>.weight_scale`` (one weight scale per output channel), written by ``hwcnn import`` from
QuantizeLinear/DequantizeLinear pairs. :mod:`hwcnn.numerics.quantize` uses them where present:
these helpers read and check them and turn the dequantized weights back into the model's own
integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import ConfigError
from . import fixedpoint as fp


def check_symmetric(params: Mapping[str, np.ndarray]) -> None:
    """Refuse (one line) a given nonzero zero point: the contract is symmetric."""
    for key in sorted(params):
        for what in ("act", "weight"):
            if key.endswith(f".{what}_zero_point") and float(params[key]) != 0:
                layer = key[:-len(f".{what}_zero_point")]
                tensor = "its output has" if what == "act" else "its weights have"
                raise ConfigError(f"layer {layer!r}: {tensor} the asymmetric zero point "
                                  f"{int(float(params[key])):+d} (in int8 codes); hwcnn's "
                                  "fixed-point contract is symmetric (int8 with zero point 0, "
                                  "or uint8 with zero point 128)")


def act_scales(params: Mapping[str, np.ndarray], act_bits: int) -> dict[str, float]:
    """Layer -> the given scale of its output (``<layer>.act_scale``); 8-bit tensors only."""
    check_symmetric(params)
    given = {k[:-len(".act_scale")]: float(v) for k, v in params.items() if k.endswith(".act_scale")}
    if given and act_bits != 8:
        raise ConfigError(f"given activation scales are for 8-bit tensors; the activations "
                          f"are {act_bits}-bit (--act-bits)")
    return given


def check_pow2(layer: str, scales: Iterable[float], pow2: bool, what: str) -> None:
    """With ``--scales pow2`` every given scale must be a power of two (one-line refusal)."""
    if not pow2:
        return
    for s in scales:
        if math.frexp(float(s))[0] != 0.5:
            raise ConfigError(f"layer {layer!r}: {what} {float(s)!r} is not a power of two "
                              "(--scales pow2 requantizes by shifts only)")


def weights(name: str, w: np.ndarray, scale: np.ndarray, weight_bits: int, pow2: bool,
            block: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(wq, s_w, max |wq|)`` with the given per-channel weight scales: ``wq =
    round_half_away(w / s_w)``, saturated to the full 8-bit range ``-128..127`` (a QDQ model's
    own integers: ``w`` is their dequantized value, so the division gives them back exactly).
    Works on blocks of about ``block`` elements (rows), as the calibrated quantization does."""
    if weight_bits != 8:
        raise ConfigError(f"layer {name!r}: given weight scales are for 8-bit weights; the "
                          f"weights are {weight_bits}-bit (--weight-bits)")
    s_w = np.asarray(scale, dtype=np.float64)
    check_pow2(name, s_w.reshape(-1), pow2, "given weight scale")
    bshape = (-1,) + (1,) * (w.ndim - 1)
    wq = np.empty(w.shape, dtype=np.int8)
    step = max(1, block // max(1, w.size // max(w.shape[0], 1)))
    wmax_q = 0
    for r0 in range(0, w.shape[0], step):
        qb = fp.quantize_scaled(w[r0:r0 + step], s_w[r0:r0 + step].reshape(bshape), -128, 127)
        wmax_q = max(wmax_q, int(np.abs(qb).max(initial=0)))
        wq[r0:r0 + step] = qb
    return wq, s_w, wmax_q
