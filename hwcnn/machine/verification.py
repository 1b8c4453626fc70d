"""Stage 6: a whole lowered network, executed tile by tile, against the golden model.

:func:`verify` runs the :class:`~hwcnn.compiler.Program` on an engine (:mod:`hwcnn.machine.execution`) and
compares every layer's stored output, bit for bit, with :func:`hwcnn.numerics.golden.run_network` on the
same :class:`~hwcnn.numerics.quantize.QuantizedNetwork` and input; it also checks that every tile took
exactly the cycles the Program predicted. A mismatch is reported with its place: layer, the
tile that wrote the element, the coordinate, expected and actual values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compiler.plan import Program
from ..numerics.golden import run_network
from ..numerics.quantize import QuantizedNetwork
from .execution import CycleMismatch, Engine, Execution, execute


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    """The first differing element of one layer.

    ``tile`` is the index (within layer ``tile_layer``, whose tiles compute ``layer``'s value)
    of the tile that wrote the element, None if no tile wrote it (the network input).
    """

    layer: str
    tile_layer: str
    tile: int | None
    coordinate: tuple[int, ...]
    expected: int
    actual: int

    def __str__(self) -> str:
        where = ("no tile" if self.tile is None else
                 f"tile {self.tile}" + (f" of {self.tile_layer!r}"
                                        if self.tile_layer != self.layer else ""))
        return (f"layer {self.layer!r} {where} at {list(self.coordinate)}: expected "
                f"{self.expected}, got {self.actual}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCheck:
    """One layer: tiles and cycles (measured and predicted) and the comparison with golden."""

    name: str
    unit: str
    host: str
    represents: str
    tiles: int
    cycles: int
    predicted_cycles: int
    match: bool
    mismatches: int
    first: Mismatch | None
    cycle_mismatch: CycleMismatch | None

    def __post_init__(self) -> None:
        if self.match != (self.first is None) or self.match != (self.mismatches == 0):
            raise ValueError(f"layer {self.name!r}: inconsistent match record")


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """Result of :func:`verify`: per-layer records in program order."""

    engine: Engine
    layers: tuple[LayerCheck, ...]

    @property
    def first_mismatch(self) -> Mismatch | None:
        return next((c.first for c in self.layers if c.first is not None), None)

    @property
    def first_cycle_mismatch(self) -> CycleMismatch | None:
        return next((c.cycle_mismatch for c in self.layers if c.cycle_mismatch is not None),
                    None)

    @property
    def ok(self) -> bool:
        """Every layer bit-exact and every tile on its predicted cycle count."""
        return self.first_mismatch is None and self.first_cycle_mismatch is None

    @property
    def cycles(self) -> int:
        return sum(c.cycles for c in self.layers)

    @property
    def predicted_cycles(self) -> int:
        return sum(c.predicted_cycles for c in self.layers)


def compare(execution: Execution, qnet: QuantizedNetwork, x: np.ndarray) -> Verification:
    """Compare an :class:`~hwcnn.machine.execution.Execution` with the golden network on ``x``."""
    gold = run_network(qnet, x)
    checks = []
    for le in execution.layers:
        exp = np.asarray(gold.tensor(qnet, le.represents)).reshape(-1)
        act = le.output.reshape(-1)
        if exp.size != act.size:
            raise ValueError(f"layer {le.name!r}: {act.size} elements, golden "
                             f"{le.represents!r} has {exp.size}")
        bad = np.flatnonzero(exp != act)
        first = None
        if bad.size:
            i = int(bad[0])
            tile = int(le.writer.reshape(-1)[i])
            coord = tuple(int(v) for v in np.unravel_index(i, le.output.shape))
            first = Mismatch(layer=le.name, tile_layer=le.host, tile=None if tile < 0 else tile,
                             coordinate=coord, expected=int(exp[i]), actual=int(act[i]))
        checks.append(LayerCheck(name=le.name, unit=le.unit, host=le.host,
                                 represents=le.represents, tiles=le.tiles, cycles=le.cycles,
                                 predicted_cycles=le.predicted_cycles, match=first is None,
                                 mismatches=int(bad.size), first=first,
                                 cycle_mismatch=le.cycle_mismatch))
    return Verification(engine=execution.engine, layers=tuple(checks))


def verify(program: Program, qnet: QuantizedNetwork, x: np.ndarray,
           engine: Engine | str = Engine.GOLDEN) -> Verification:
    """Execute ``program`` tile by tile on ``engine`` and compare with the golden model.

    Parameters
    ----------
    program : Program
        :func:`hwcnn.compiler.lower` of ``qnet.graph``.
    qnet : QuantizedNetwork
    x : int array
        One input image in the network's input format.
    engine : "golden" or "cyclesim"
    """
    return compare(execute(program, qnet, x, engine), qnet, x)


__all__ = ["LayerCheck", "Mismatch", "Verification", "compare", "verify"]
