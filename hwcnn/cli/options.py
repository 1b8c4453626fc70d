"""Command-line options for hardware configurations, shared by ``report``, ``plot``, ``compare``.

Option parsing and validation live here once: :func:`hardware_options` adds the click options
to a command, :func:`hardware_from_options` turns their values into a
:class:`~hwcnn.arch.config.HardwareConfig` (plus the :class:`~hwcnn.boards.Board`, if any) and
raises a one-line :class:`~hwcnn.errors.ConfigError` for anything invalid.

Defaults: with ``--board``, the board's typical clock and DRAM bandwidth (the tile search and
memsim capped at its AXI port's, ``axi_bits``), the largest
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

#: Sane ranges of the numeric options. Values outside are typos or nonsense, and extreme ones
#: overflow later arithmetic (``--dram-gbps 1e-300`` gave a traceback); FPGA fabric clocks are
#: tens to hundreds of MHz, off-chip bandwidths 0.01 GB/s (SPI flash) to ~1 TB/s (HBM).
CLOCK_MHZ_RANGE = (1.0, 5000.0)
DRAM_GBPS_RANGE = (0.001, 10_000.0)
#: Largest array side (the same bound as :class:`~hwcnn.arch.config.ArrayConfig`).
MAX_ARRAY_SIDE = 1024
#: Largest on-chip buffer, KiB (1 GiB: far beyond any FPGA's block RAM).
MAX_BUFFER_KIB = 1 << 20
#: Longest option value echoed back in an error message.
_ECHO = 40


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
            click.option(f"--{p}drain-rows", f"{u}drain_rows", metavar="1|2",
                         help=f"Output stationary{what}: result rows the drain reads per cycle "
                              "(2: two shadow registers per PE and 2C requantizers, fold "
                              "period max(R*ceil(k/R), R/2, (C+R/2)/2) instead of "
                              "max(R*ceil(k/R), C), shorter only when C > R*ceil(k/R); costs "
                              "4 DSPs and about 560 LUTs per column and 17 per PE)"
                              + default(" (default 1).")),
            click.option(f"--{p}clock-mhz", f"{u}clock_mhz", metavar="MHZ",
                         help=f"Array clock{what}"
                              + default(" (default: the board's typical clock, or 100).")),
            click.option(f"--{p}dram-gbps", f"{u}dram_gbps", metavar="GB/S",
                         help=f"Off-chip bandwidth{what} in GB/s"
                              + default(" (default: the board's peak, or 1.6 GB/s at 100 MHz); "
                                        "the machine model's DRAM; with --board the tile "
                                        "search and the DRAM timeline take at most the "
                                        "accelerator's AXI port (axi_bits/8 bytes per cycle, "
                                        "port_bytes_per_cycle).")),
            click.option(f"--{p}buffers", f"{u}buffers", metavar="KIB",
                         help=f"On-chip buffers{what} in KiB: one number for all three, or "
                              "ACT,WEIGHT,OUT" + default(" (default: the board's split, or 64).")),
        ]
        for opt in reversed(opts):
            func = opt(func)
        return func

    return deco


def _shown(text: object) -> str:
    """``repr`` of an option value, cut short (a 10,000-character value is not echoed whole)."""
    t = str(text)
    return repr(t if len(t) <= _ECHO else t[:_ECHO] + "...")


def parse_array(text: str, name: str = "--array") -> tuple[int, int]:
    """``"16x16"`` -> ``(16, 16)``; ConfigError (naming option ``name``) otherwise."""
    m = re.fullmatch(r"\s*([0-9]{1,9})\s*[xX*]\s*([0-9]{1,9})\s*", text)
    if not m:
        if re.fullmatch(r"\s*[0-9]+\s*[xX*]\s*[0-9]+\s*", text):
            raise ConfigError(f"{name}: rows and cols must be between 1 and {MAX_ARRAY_SIDE}, "
                              f"not {_shown(text)}")
        raise ConfigError(f"{name} must be ROWSxCOLS (e.g. 16x16), not {_shown(text)}")
    rows, cols = int(m[1]), int(m[2])
    if rows < 1 or cols < 1:
        raise ConfigError(f"{name} needs at least one row and one column, not {_shown(text)}")
    if rows > MAX_ARRAY_SIDE or cols > MAX_ARRAY_SIDE:
        raise ConfigError(f"{name}: rows and cols must be between 1 and {MAX_ARRAY_SIDE}, "
                          f"not {_shown(text)}")
    return rows, cols


#: A plain decimal number (ASCII digits; no ``1_0``, no other scripts' digits) or nan/inf.
_NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|nan|inf|infinity)\s*", re.IGNORECASE)


def _positive(name: str, text: str | float, bounds: tuple[float, float], unit: str) -> float:
    try:
        if isinstance(text, str) and not _NUMBER.fullmatch(text):
            raise ValueError(text)
        v = float(text)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be a number, not {_shown(text)}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a positive number, not {_shown(text)}")
    lo, hi = bounds
    if not lo <= v <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g} {unit}, not {_shown(text)}")
    return v


def parse_buffers(text: str, name: str = "--buffers") -> tuple[int, int, int]:
    """``"64"`` -> (64, 64, 64); ``"32,128,64"`` -> (32, 128, 64) (KiB)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (1, 3) or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        raise ConfigError(f"{name} must be KIB or ACT,WEIGHT,OUT in KiB, not {_shown(text)}")
    if any(len(p.lstrip("0")) > 9 for p in parts):
        raise ConfigError(f"{name} must be at most {MAX_BUFFER_KIB} KiB each, "
                          f"not {_shown(text)}")
    vals = [int(p) for p in parts] * (3 if len(parts) == 1 else 1)
    if min(vals) < 1:
        raise ConfigError(f"{name} must be at least 1 KiB each, not {_shown(text)}")
    if max(vals) > MAX_BUFFER_KIB:
        raise ConfigError(f"{name} must be at most {MAX_BUFFER_KIB} KiB each, "
                          f"not {_shown(text)}")
    return vals[0], vals[1], vals[2]


def parse_drain_rows(text: str | int, flow: Dataflow, rows: int, cols: int,
                     prefix: str = "--") -> int:
    """``--drain-rows``: 1, or 2 for an output-stationary array of at least 2 rows."""
    if str(text).strip() not in ("1", "2"):
        raise ConfigError(f"{prefix}drain-rows must be 1 or 2, not {_shown(text)}")
    drain = int(str(text).strip())
    if drain == 2 and (flow is not Dataflow.OUTPUT_STATIONARY or rows < 2):
        raise ConfigError(f"{prefix}drain-rows 2 needs --dataflow os and an array of at least "
                          f"2 rows, not {rows}x{cols} {flow.value}")
    return drain


def hardware_from_options(board: str | None = None, array: str | None = None,
                          dataflow: str | None = None, clock_mhz: str | float | None = None,
                          dram_gbps: str | float | None = None, buffers: str | None = None,
                          drain_rows: str | int | None = None, *,
                          act_bits: int = 8, weight_bits: int = 8, acc_bits: int = 32,
                          option_prefix: str = "", bus_bits: int | None = None
                          ) -> tuple[HardwareConfig, Board | None]:
    """Build (and, with a board, fit-check) a hardware configuration from option values.

    The memory port (``MemoryConfig.port_bytes_per_cycle``, what the tile search and memsim
    plan with when it is below the DRAM's bandwidth) is the complete accelerator's AXI
    master: on a board its ``axi_bits`` or ``bus_bits`` (``--bus-bits``); without a board
    ``bus_bits`` if given, else none (the tile engine fed at the DRAM's bandwidth).

    Errors name the options as ``--{option_prefix}array`` etc. (``vs-`` for configuration B).
    """
    o = f"--{option_prefix}"
    brd = get_board(board) if board is not None else None
    if array is not None:
        rows, cols = parse_array(array, f"{o}array")
    elif brd is not None:
        rows = cols = brd.max_square_array(act_bits, weight_bits, acc_bits)
    else:
        rows, cols = DEFAULT_ARRAY
    flow = Dataflow.parse(dataflow) if dataflow is not None else Dataflow.WEIGHT_STATIONARY
    if clock_mhz is not None:
        clock = _positive(f"{o}clock-mhz", clock_mhz, CLOCK_MHZ_RANGE, "MHz")
    else:
        clock = brd.clock_mhz.value if brd is not None else DEFAULT_CLOCK_MHZ
    if dram_gbps is not None:
        bpc = _positive(f"{o}dram-gbps", dram_gbps, DRAM_GBPS_RANGE, "GB/s") * 1000.0 / clock
    elif brd is not None:
        bpc = brd.dram_bytes_per_cycle(clock)
    else:
        bpc = MemoryConfig().dram_bytes_per_cycle
    arr = ArrayConfig(rows=rows, cols=cols, dataflow=flow, act_bits=act_bits,
                      weight_bits=weight_bits, acc_bits=acc_bits)
    if drain_rows is not None:
        arr = replace(arr, drain_rows=parse_drain_rows(drain_rows, flow, rows, cols, o))
    # A board's defaults fit it by the resource model (parameter/accumulator words included).
    base = (brd.default_memory(arr, bpc, bus_bits) if brd is not None
            else MemoryConfig(dram_bytes_per_cycle=bpc,
                              port_bytes_per_cycle=None if bus_bits is None else bus_bits / 8))
    if buffers is not None:
        act, wgt, out = parse_buffers(buffers, f"{o}buffers")
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


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20,
               "mb": 10**6, "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30,
               "t": 1 << 40, "tb": 10**12, "tib": 1 << 40}


def parse_size(text: str, name: str = "--max-memory") -> int:
    """``"512M"``/``"8GiB"``/``"2e9"`` -> bytes (K/M/G/T are binary, KB/MB/... decimal)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:[eE]\d{1,2})?)\s*([A-Za-z]{0,3})\s*", str(text))
    unit = m[2].lower() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise ConfigError(f"{name} must be a size such as 4GiB, 512M or 2000000000, "
                          f"not {str(text)[:40]!r}")
    value = float(m[1]) * _SIZE_UNITS[unit]
    if not 1 <= value <= 1 << 60:
        raise ConfigError(f"{name} must be between 1 byte and 1 EiB, not {str(text)[:40]!r}")
    return int(value)


def max_memory_option(func: Any) -> Any:
    """``--max-memory SIZE``: the memory budget checked before a command allocates (value in
    bytes as ``max_memory``, the default from :func:`hwcnn.machine.budget.default_max_memory`)."""
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> int:
        from ..machine.budget import default_max_memory

        return default_max_memory() if value is None else parse_size(value)

    return click.option("--max-memory", "max_memory", metavar="SIZE", callback=convert,
                        help="Refuse to start when the estimated peak memory exceeds SIZE "
                             "(e.g. 4GiB, 512M; default: half the machine's RAM).")(func)
