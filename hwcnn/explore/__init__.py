"""Stage 8, design-space exploration: sweeps over models, boards, arrays, dataflows, buffers and
bandwidths, run in process or on Dask, with Pareto fronts and charts.

:mod:`.space` expands the axes into :class:`Point` records, :mod:`.evaluate` computes one
results row per point (native estimate or SCALE-Sim timing, resources, energy), :mod:`.engine`
runs batches in process or on a Dask cluster, :mod:`.results` reads and writes CSV/Parquet
results (resume), :mod:`.pareto` finds fronts, :mod:`.plot` draws them, and :mod:`.sweep`
ties the steps together.
"""

from .engine import ENGINES, run
from .evaluate import ModelSource, evaluate_batch, load_model
from .pareto import OBJECTIVES, front, parse_objectives
from .results import COLUMNS, LAYER_COLUMNS
from .space import Axes, Point, expand, parse_arrays, parse_buffers, parse_dataflows
from .sweep import SweepOutcome, read_sweep_file, run_sweep

__all__ = [
    "COLUMNS", "ENGINES", "LAYER_COLUMNS", "OBJECTIVES", "Axes", "ModelSource", "Point",
    "SweepOutcome", "evaluate_batch", "expand", "front", "load_model",
    "parse_arrays", "parse_buffers", "parse_dataflows", "parse_objectives", "read_sweep_file",
    "run", "run_sweep",
]
