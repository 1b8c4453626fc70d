"""``hwcnn compare``: two hardware configurations side by side, or models across boards.

* ``hwcnn compare MODEL.yaml --array 16x16 --dataflow ws --vs-array 32x32 --vs-dataflow os``:
  per-layer cycles, utilization and bound of configuration A next to B (every ``--vs-*``
  option defaults to the A value).
* ``hwcnn compare MODEL.yaml [MODEL2.yaml ...] --boards pynq-z2,ultra96-v2,kv260``: one row per
  model and board (board defaults unless ``--array``/``--dataflow``/... are given): latency,
  frames per second, utilization, DRAM bytes (memsim's figures), and with ``--machine`` the
  compiled network's latency, FPS and utilization on the whole machine's cycle model, as
  ``hwcnn report --board`` gives them, and which model the figure is from. This is the README's
  board table.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import click

from ...errors import ConfigError
from ...report import perf
from ..options import hardware_for_spec, hardware_options, max_memory_option, progress_bar
from .common import OUTPUT_FILE, OUTPUT_HELP, emit, load_graph, strict_option

FORMATS = ("table", "markdown", "csv")


def _render(headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(headers)
        w.writerows(rows)
        return buf.getvalue()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    numeric = [all(_is_num(r[i]) for r in rows if r[i]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return ("| " + " | ".join(parts) + " |") if fmt == "markdown" else "  ".join(parts).rstrip()

    out = [line(headers)]
    if fmt == "markdown":
        out.append("|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                                  for w, num in zip(widths, numeric)) + "|")
    else:
        out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in rows)
    return "\n".join(out) + "\n"


def _is_num(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return False


def _label(hw, board) -> str:  # type: ignore[no-untyped-def]
    a = hw.array
    return f"{a.rows}x{a.cols} {a.dataflow.value}" + (f" {board.id}" if board else "")


def _util(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}"


@click.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL.yaml...")
@hardware_options()
@hardware_options("vs", "configuration B")
@click.option("--boards", metavar="A,B,...",
              help="Summary mode: one row per model and board (comma-separated board ids).")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True)
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to FILE instead of stdout; " + OUTPUT_HELP)
@click.option("--machine", is_flag=True,
              help="--boards: also compile every network and run it on the whole machine's "
                   "cycle model, as hwcnn report --board does (the model proven equal to the "
                   "RTL while the run takes seconds, else the instruction-level estimate): "
                   "columns 'machine ms', 'machine FPS', 'machine util %' and 'machine figure' "
                   "('RTL model' or 'estimate'; 'not run' with the reason for a network the "
                   "machine cannot run).")
@strict_option
@max_memory_option
def compare(models: tuple[str, ...], boards: str | None, fmt: str, output: str | None,
            machine: bool, strict: bool | None, max_memory: int, **opts: str | None) -> None:
    """Compare dataflows / array sizes per layer, or models across boards (--boards)."""
    a_opts = {k: v for k, v in opts.items() if not k.startswith("vs_")}
    b_opts = {k[3:]: v for k, v in opts.items() if k.startswith("vs_")}
    if boards:
        if any(b_opts.values()) or a_opts["board"]:
            raise ConfigError("--boards cannot be combined with --board or --vs-* options")
        emit(_summary(models, [b.strip() for b in boards.split(",") if b.strip()], a_opts, fmt,
                      strict, max_memory if machine else None), output)
        return
    if machine:
        raise ConfigError("--machine applies to --boards summaries (hwcnn report --machine "
                          "gives one configuration's figures per layer)")
    if len(models) != 1:
        raise ConfigError("per-layer comparison takes one MODEL.yaml (use --boards for several)")
    if not any(b_opts.values()):
        raise ConfigError("give configuration B with --vs-array/--vs-dataflow/--vs-board/...")
    merged = {k: (b_opts[k] if b_opts[k] is not None else a_opts[k]) for k in a_opts}
    if b_opts["board"] and not b_opts["array"]:
        merged["array"] = None  # a different board brings its own default array
    emit(_side_by_side(models[0], a_opts, merged, fmt, strict), output)


def _side_by_side(model: str, a_opts: dict, b_opts: dict, fmt: str,  # type: ignore[type-arg]
                  strict: bool | None) -> str:
    g = load_graph(model, strict)
    hw_a, brd_a = hardware_for_spec(g, **a_opts)
    hw_b, brd_b = hardware_for_spec(g, **b_opts, option_prefix="vs-")
    with progress_bar("estimating") as progress:
        ra = perf.estimate(g, hw_a, brd_a, progress)
        rb = perf.estimate(g, hw_b, brd_b, progress)
    la, lb = _label(hw_a, brd_a), _label(hw_b, brd_b)
    headers = ["layer", "unit", "A cycles", "B cycles", "B/A", "A us", "B us", "A util %",
               "B util %", "A bound", "B bound"]
    rows = []
    for x, y in zip(ra, rb):
        if not (x.tiles or y.tiles):
            continue
        ratio = f"{y.total_cycles / x.total_cycles:.2f}x" if x.total_cycles else ""
        rows.append([x.name, x.unit, f"{x.total_cycles:,}", f"{y.total_cycles:,}", ratio,
                     f"{x.latency_us:,.1f}", f"{y.latency_us:,.1f}", _util(x.utilization),
                     _util(y.utilization), x.bound, y.bound])
    ta, tb = perf.totals(ra, hw_a), perf.totals(rb, hw_b)
    rows.append(["total", "", f"{ta.total_cycles:,}", f"{tb.total_cycles:,}",
                 f"{tb.total_cycles / ta.total_cycles:.2f}x" if ta.total_cycles else "",
                 f"{ta.latency_us:,.1f}", f"{tb.latency_us:,.1f}", _util(ta.utilization),
                 _util(tb.utilization), "", ""])
    head = (f"A = {la} @ {hw_a.clock_mhz:g} MHz ({ta.fps:.2f} FPS); "
            f"B = {lb} @ {hw_b.clock_mhz:g} MHz ({tb.fps:.2f} FPS)\n")
    if fmt == "csv":
        return _render(headers, rows, fmt)
    return head + ("\n" if fmt == "markdown" else "") + _render(headers, rows, fmt)


def _summary(models: Sequence[str], board_ids: Sequence[str], opts: dict,  # type: ignore[type-arg]
             fmt: str, strict: bool | None, machine_memory: int | None = None) -> str:
    """One row per model and board; with ``machine_memory`` (the memory budget) also the
    whole machine's figures (:func:`hwcnn.cli.commands.report.machine_of`)."""
    if not board_ids:
        raise ConfigError("--boards needs at least one board id")
    headers = ["model", "board", "array", "dataflow", "clock MHz", "buffers KiB", "latency ms",
               "FPS", "util %", "stall %", "DRAM MB"]
    if machine_memory is not None:
        headers += ["machine ms", "machine FPS", "machine util %", "machine figure"]
    rows = []
    built: dict[str, object] = {}       # one quantized network per model, for every board
    with progress_bar("estimating") as progress:
        for model in models:
            g = load_graph(model, strict)
            for bid in board_ids:
                hw, board = hardware_for_spec(g, **{**opts, "board": bid})
                rs = perf.estimate(g, hw, board, progress)
                t = perf.totals(rs, hw)
                m = hw.memory
                row = [os.path.splitext(os.path.basename(model))[0], board.id if board else "",
                       f"{hw.array.rows}x{hw.array.cols}", hw.array.dataflow.value,
                       f"{hw.clock_mhz:g}", f"{m.act_kib}/{m.weight_kib}/{m.out_kib}",
                       f"{t.latency_us / 1000:,.2f}", f"{t.fps:,.2f}",
                       f"{100 * t.utilization:.1f}",
                       f"{100 * t.stall_cycles / t.total_cycles:.1f}" if t.total_cycles else "",
                       f"{t.dram_bytes / 1e6:,.2f}"]
                if machine_memory is not None:
                    row += _machine_cells(model, g, hw, board, strict, machine_memory, t.macs,
                                          built)
                rows.append(row)
    return _render(headers, rows, fmt)


def _machine_cells(model: str, g, hw, board, strict: bool | None,  # type: ignore[no-untyped-def]
                   max_memory: int, macs: int, built: dict | None = None) -> list[str]:
    """``machine ms``, ``machine FPS``, ``machine util %`` and ``machine figure`` of a row."""
    from ...errors import HwcnnError
    from ...report.machine import PROVEN
    from .report import machine_of

    try:
        fig = machine_of(model, g, hw, board, strict, max_memory, None, None, built)
    except HwcnnError as exc:
        return ["", "", "", f"not run: {exc}"]
    return [f"{fig.latency_us / 1000:,.2f}", f"{fig.fps:,.2f}",
            f"{100 * fig.utilization(macs, hw.array.pes):.1f}",
            "RTL model" if fig.label == PROVEN else "estimate"]
