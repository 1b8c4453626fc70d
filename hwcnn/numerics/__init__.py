"""Stages 3 and 5a, numerics: the fixed-point contract, the quantizer and the golden model.

:mod:`.fixedpoint` is the numeric contract (the only place rounding and overflow are defined;
the cycle model and the RTL follow it bit for bit). :mod:`.quantize` turns a graph and float
weights (:mod:`.weights`) into a :class:`QuantizedNetwork`; :mod:`.golden` runs it bit-exactly
with the integer kernels of :mod:`.golden_ops` (whose GEMMs are the exact, blocked BLAS GEMMs of
:mod:`.exactgemm`); :mod:`.floatref` is the float64 reference used for calibration and error
statistics.
"""

from .fixedpoint import Overflow, QFormat, Rounding, requantize
from .floatref import run_float
from .golden import Evaluation, GoldenResult, evaluate, quantize_input, run_network
from .golden_ops import Requant
from .quantize import (
    Calibration,
    QLayer,
    QuantizedNetwork,
    QuantPolicy,
    ScaleMode,
    calibration_inputs,
    quantize_network,
)
from .weights import Params, init_weights, load_input, load_weights

__all__ = [
    "Calibration", "Evaluation", "GoldenResult", "Overflow", "Params", "QFormat", "QLayer",
    "QuantPolicy", "QuantizedNetwork", "Requant", "Rounding", "ScaleMode", "calibration_inputs",
    "evaluate", "init_weights", "load_input", "load_weights", "quantize_input",
    "quantize_network", "requantize", "run_float", "run_network",
]
