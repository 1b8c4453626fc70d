"""The values :func:`hwcnn.machine.execution.execute` produces: per-layer results and errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from ..compiler.qparams import ExecutionError

__all__ = ["CycleMismatch", "Engine", "Execution", "ExecutionError", "LayerExecution"]


class Engine(enum.Enum):
    """What computes each tile."""

    GOLDEN = "golden"
    CYCLESIM = "cyclesim"


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleMismatch:
    """A tile whose engine cycle count differs from the Program's prediction."""

    layer: str
    tile: int
    predicted: int
    measured: int


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LayerExecution:
    """One layer of the program after execution.

    ``output`` is the tensor the hardware stores for this layer (shape of the layer's output);
    it equals the golden value of ``represents`` (the last layer fused into the same tiles).
    ``writer`` gives, per output element, the index of the tile (of layer ``host``) that wrote
    it (-1: not written by a tile, e.g. the network input).
    """

    name: str
    unit: str
    host: str
    represents: str
    tiles: int
    cycles: int
    predicted_cycles: int
    cycle_mismatch: CycleMismatch | None
    output: np.ndarray
    writer: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Execution:
    """Result of :func:`execute`: every layer in program order."""

    engine: Engine
    layers: tuple[LayerExecution, ...]

    def layer(self, name: str) -> LayerExecution:
        return next(le for le in self.layers if le.name == name)
