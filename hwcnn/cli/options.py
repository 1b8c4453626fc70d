"""Command-line options for hardware configurations, shared by ``report``, ``plot``, ``compare``.

Option parsing and validation live here once: :func:`hardware_options` adds the click options
to a command, :func:`hardware_from_options` turns their values into a
:class:`~hwcnn.arch.config.HardwareConfig` (plus the :class:`~hwcnn.boards.Board`, if any) and
raises a one-line :class:`~hwcnn.errors.ConfigError` for anything invalid.

Defaults: with ``--board``, the board's typical clock and DRAM bandwidth, the largest
power-of-two square array its multipliers allow and the board's default buffer split; without
one, a 16x16 array, 100 MHz, the :class:`~hwcnn.arch.config.MemoryConfig` defaults.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import click

from ..arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from ..boards.profiles import Board, get_board
from ..errors import ConfigError

DEFAULT_ARRAY = (16, 16)
DEFAULT_CLOCK_MHZ = 100.0


def hardware_options(prefix: str = "", label: str = "") -> Callable[[Any], Any]:
    """Decorator adding ``--{prefix}board/array/dataflow/clock-mhz/dram-gbps/buffers``.

    Parameter names are ``{prefix}board`` etc. with dashes as underscores (``vs_board``).
    """
    p = f"{prefix}-" if prefix else ""
    u = f"{prefix}_" if prefix else ""
    what = f" of {label}" if label else ""

    def deco(func: Any) -> Any:
        def default(text: str) -> str:
            return " (default: configuration A's value)" if prefix else text

        opts = [
            click.option(f"--{p}board", f"{u}board", metavar="NAME",
                         help=f"FPGA board{what} (e.g. pynq-z2, zcu104): sets clock, bandwidth, "
                              "default array and buffers, and checks fit."),
            click.option(f"--{p}array", f"{u}array", metavar="RxC",
                         help=f"Systolic array{what}, rows x cols"
                              + default(" (default: the board's largest square, or 16x16).")),
            click.option(f"--{p}dataflow", f"{u}dataflow", metavar="ws|os",
                         help=f"Dataflow{what}: weight or output stationary"
                              + default(" (default ws).")),
            click.option(f"--{p}clock-mhz", f"{u}clock_mhz", metavar="MHZ",
                         help=f"Array clock{what}"
                              + default(" (default: the board's typical clock, or 100).")),
            click.option(f"--{p}dram-gbps", f"{u}dram_gbps", metavar="GB/S",
                         help=f"Off-chip bandwidth{what} in GB/s"
                              + default(" (default: the board's peak, or 1.6 GB/s at 100 MHz).")),
            click.option(f"--{p}buffers", f"{u}buffers", metavar="KIB",
                         help=f"On-chip buffers{what} in KiB: one number for all three, or "
                              "ACT,WEIGHT,OUT" + default(" (default: the board's split, or 64).")),
        ]
        for opt in reversed(opts):
            func = opt(func)
        return func

    return deco


def parse_array(text: str) -> tuple[int, int]:
    """``"16x16"`` -> ``(16, 16)``; ConfigError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text)
    if not m:
        raise ConfigError(f"--array must be ROWSxCOLS (e.g. 16x16), not {text!r}")
    rows, cols = int(m[1]), int(m[2])
    if rows < 1 or cols < 1:
        raise ConfigError(f"--array needs at least one row and one column, not {text!r}")
    return rows, cols


def _positive(name: str, text: str | float) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a positive number, not {text!r}")
    return v


def parse_buffers(text: str) -> tuple[int, int, int]:
    """``"64"`` -> (64, 64, 64); ``"32,128,64"`` -> (32, 128, 64) (KiB)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (1, 3) or not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ConfigError(f"--buffers must be KIB or ACT,WEIGHT,OUT in KiB, not {text!r}")
    vals = [int(p) for p in parts] * (3 if len(parts) == 1 else 1)
    if min(vals) < 1:
        raise ConfigError(f"--buffers must be at least 1 KiB each, not {text!r}")
    return vals[0], vals[1], vals[2]


def hardware_from_options(board: str | None = None, array: str | None = None,
                          dataflow: str | None = None, clock_mhz: str | float | None = None,
                          dram_gbps: str | float | None = None, buffers: str | None = None, *,
                          act_bits: int = 8, weight_bits: int = 8, acc_bits: int = 32
                          ) -> tuple[HardwareConfig, Board | None]:
    """Build (and, with a board, fit-check) a hardware configuration from option values."""
    brd = get_board(board) if board else None
    if array:
        rows, cols = parse_array(array)
    elif brd is not None:
        rows = cols = brd.max_square_array(act_bits, weight_bits, acc_bits)
    else:
        rows, cols = DEFAULT_ARRAY
    flow = Dataflow.parse(dataflow) if dataflow else Dataflow.WEIGHT_STATIONARY
    if clock_mhz is not None:
        clock = _positive("--clock-mhz", clock_mhz)
    else:
        clock = brd.clock_mhz.value if brd is not None else DEFAULT_CLOCK_MHZ
    if dram_gbps is not None:
        bpc = _positive("--dram-gbps", dram_gbps) * 1000.0 / clock
    elif brd is not None:
        bpc = brd.dram_bytes_per_cycle(clock)
    else:
        bpc = MemoryConfig().dram_bytes_per_cycle
    arr = ArrayConfig(rows=rows, cols=cols, dataflow=flow, act_bits=act_bits,
                      weight_bits=weight_bits, acc_bits=acc_bits)
    # A board's defaults fit it by the resource model (parameter/accumulator words included).
    base = (brd.default_memory(arr, bpc) if brd is not None
            else MemoryConfig(dram_bytes_per_cycle=bpc))
    if buffers:
        act, wgt, out = parse_buffers(buffers)
        base = replace(base, act_kib=act, weight_kib=wgt, out_kib=out)
    hw = HardwareConfig(array=arr, memory=base, clock_mhz=clock)
    if brd is not None:
        brd.check_fit(hw)
    return hw, brd


def hardware_for_spec(g: Any, **options: Any) -> tuple[HardwareConfig, Board | None]:
    """:func:`hardware_from_options` with operand widths taken from the network's formats."""
    fmt = g.graph["spec"].formats
    return hardware_from_options(**options, act_bits=fmt.activation_bits,
                                 weight_bits=fmt.weight_bits)


@contextmanager
def progress_bar(label: str, enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a transient rich bar on a terminal.

    Pure functions take the callback; only commands create the bar. It is drawn on stderr and
    only when stderr is a terminal (never in pipes, files or tests).
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update
