"""hwcnn: from a CNN layer description to a verified FPGA systolic accelerator.

The Python API (documented in ``docs/api.md``; the functions live in :mod:`hwcnn.api`)::

    import hwcnn
    g = hwcnn.build_graph("models/alexnet227.yaml")
    print(hwcnn.render_report(hwcnn.budget_report(g)))

``load_model``, ``build_graph``, ``budget_report``, ``render_report``, ``explain``,
``hardware``, ``estimate``, ``lower``, ``quantize``, ``run_golden``, ``verify`` and
``generate_rtl`` are the pipeline's entry points; the stage packages (``hwcnn.frontend``,
``hwcnn.graph``, ``hwcnn.numerics``, ``hwcnn.compiler``, ``hwcnn.machine``, ``hwcnn.hw``,
``hwcnn.report``, ``hwcnn.boards``) hold the full interfaces. The names are imported on first
use, so ``import hwcnn`` (and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Dataflow",
    "HardwareConfig",
    "NetworkSpec",
    "QuantPolicy",
    "__version__",
    "budget_report",
    "build_graph",
    "compile_network",
    "estimate",
    "explain",
    "generate_rtl",
    "hardware",
    "load_model",
    "lower",
    "machine_figures",
    "quantize",
    "render_report",
    "run_golden",
    "trace_tile",
    "verify",
    "wave_tile",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("hwcnn.api"), name)
    raise AttributeError(f"module 'hwcnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
