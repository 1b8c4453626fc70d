"""Stage 7: per-layer tables (budgets, and performance when a hardware config is given).

A report is a :class:`Report`: fixed columns, one row per layer in topological order, and totals
(all layers, then the lecture's conv+pool vs dense subtotals and an ``other`` subtotal for every
remaining layer, so the three subtotals add up to the total in every column). It renders as a terminal table,
CSV, JSON or Markdown; every renderer reads the same rows, so the formats never disagree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..frontend import layers as L
from ..graph.build import ordered_nodes
from ..graph.costs import Group, LayerCost, group_of

FORMATS = ("table", "csv", "json", "markdown")


@dataclass(frozen=True, slots=True)
class Column:
    """One report column: ``key`` in JSON/CSV, ``header`` in tables, ``text`` formats a value."""

    key: str
    header: str
    text: Callable[[Any], str] = lambda v: f"{v:,}" if isinstance(v, int) else str(v)
    in_table: bool = True


def _shape_text(v: list[int]) -> str:
    # Tables use the lecture's HxWxC spelling; JSON/CSV keep channels-first lists.
    return "x".join(str(d) for d in (*v[1:], v[0]))


BUDGET_COLUMNS: tuple[Column, ...] = (
    Column("name", "layer"),
    Column("kind", "kind"),
    Column("inputs", "inputs", lambda v: ",".join(v), in_table=False),
    Column("output_shape", "output (HxWxC)", _shape_text),
    Column("weights", "weights", in_table=False),
    Column("biases", "biases", in_table=False),
    Column("params", "params"),
    Column("macs", "MACs"),
    Column("ops", "ops"),
    Column("eltwise_ops", "eltwise ops", in_table=False),
    Column("activation_elements", "activations"),
    Column("activation_bytes", "act bytes", in_table=False),
    Column("weight_bytes", "weight bytes"),
)

_COST_KEYS = ("weights", "biases", "params", "macs", "ops", "eltwise_ops", "activation_elements",
              "activation_bytes", "weight_bytes")


def cost_dict(cost: LayerCost) -> dict[str, int]:
    return {k: getattr(cost, k) for k in _COST_KEYS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Rows (dicts keyed by column key) + named totals rows + header facts."""

    model: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    totals: tuple[tuple[str, Mapping[str, Any]], ...]
    facts: Mapping[str, Any] = field(default_factory=dict)


def budget_report(g: nx.DiGraph) -> Report:
    """The per-layer budget report of a layer graph (no hardware needed)."""
    spec: L.NetworkSpec = g.graph["spec"]
    rows = []
    sums = {grp: LayerCost() for grp in Group}
    for name, node in ordered_nodes(g):
        layer = node["layer"]
        cost: LayerCost = node["cost"]
        sums[group_of(layer)] += cost
        rows.append({"name": name, "kind": L.kind_name(layer), "inputs": list(layer.inputs),
                     "output_shape": node["out_shape"].as_list(), **cost_dict(cost)})
    total = LayerCost()
    for grp in Group:
        total += sums[grp]
    totals = (("total", cost_dict(total)), *((grp.value, cost_dict(sums[grp])) for grp in Group))
    facts = {"shape_order": "CHW" if all(len(r["output_shape"]) <= 3 for r in rows) else "CDHW",
             "formats": {"weight_bits": spec.formats.weight_bits,
                         "activation_bits": spec.formats.activation_bits,
                         "bias_bits": spec.formats.bias_bits}}
    return Report(model=spec.name, columns=BUDGET_COLUMNS, rows=tuple(rows), totals=totals, facts=facts)


def extend(report: Report, columns: Sequence[Column], rows: Mapping[str, Mapping[str, Any]],
           totals: Mapping[str, Mapping[str, Any]], facts: Mapping[str, Any]) -> Report:
    """Add columns (e.g. performance) to a report; ``rows`` maps layer name -> values."""
    empty = {c.key: None for c in columns}
    new_rows = tuple({**r, **empty, **rows.get(r["name"], {})} for r in report.rows)
    new_totals = tuple((label, {**t, **totals.get(label, {})}) for label, t in report.totals)
    return Report(model=report.model, columns=report.columns + tuple(columns), rows=new_rows,
                  totals=new_totals, facts={**report.facts, **facts})


# -- renderers -------------------------------------------------------------------------------


def _cell(col: Column, value: Any) -> str:
    return "" if value is None else col.text(value)


def _total_cells(report: Report, cols: Sequence[Column], label: str, values: Mapping[str, Any]) -> list[str]:
    cells = []
    for col in cols:
        if col.key == "name":
            cells.append(label)
        elif col.key in values and col.key != "kind":
            cells.append(_cell(col, values[col.key]))
        else:
            cells.append("")
    return cells


def render(report: Report, fmt: str, *, width: int | None = None) -> str:
    """Render ``report`` as ``table``, ``csv``, ``json`` or ``markdown`` text."""
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "table":
        return render_table(report, width=width)
    raise ValueError(f"unknown format {fmt!r}")


def render_json(report: Report) -> str:
    doc = {"model": report.model, **report.facts, "layers": list(report.rows),
           "totals": {label: dict(t) for label, t in report.totals}}
    return json.dumps(doc, indent=2) + "\n"


def render_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in report.columns])
    for r in report.rows:
        w.writerow([_csv_value(r.get(c.key)) for c in report.columns])
    for label, t in report.totals:
        w.writerow([label if c.key == "name" else _csv_value(t.get(c.key)) if c.key != "kind" else ""
                    for c in report.columns])
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, list):
        return "x".join(str(x) for x in v) if all(isinstance(x, int) for x in v) else ";".join(map(str, v))
    return v


def render_markdown(report: Report) -> str:
    cols = [c for c in report.columns if c.in_table]
    lines = [f"### {report.model}", "", "| " + " | ".join(c.header for c in cols) + " |",
             "|" + "|".join("---" if c.key in ("name", "kind") else "---:" for c in cols) + "|"]
    for r in report.rows:
        lines.append("| " + " | ".join(_cell(c, r.get(c.key)) for c in cols) + " |")
    for label, t in report.totals:
        lines.append("| " + " | ".join(f"**{x}**" if x else "" for x in _total_cells(report, cols, label, t)) + " |")
    return "\n".join(lines) + "\n"


def render_table(report: Report, *, width: int | None = None) -> str:
    """Terminal tables: the budget columns, then (if present) the other columns in a second table."""
    from rich.console import Console

    budget_keys = {c.key for c in BUDGET_COLUMNS}
    name_col = next(c for c in report.columns if c.key == "name")
    budget = [c for c in report.columns if c.in_table and c.key in budget_keys]
    extra = [c for c in report.columns if c.in_table and c.key not in budget_keys]
    buf = io.StringIO()
    # Natural width: never truncate numbers (the caller's terminal wraps long lines if it must).
    console = Console(file=buf, width=width or 1000, color_system=None, force_terminal=False,
                      highlight=False)
    console.print(_rich_table(report, budget, f"{report.model}: per-layer budget"))
    if extra:
        console.print(_rich_table(report, [name_col, *extra], f"{report.model}: performance"))
    for key, value in report.facts.items():
        if key != "shape_order" and not isinstance(value, (dict, list)):
            console.print(f"{key}: {value}")
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def _rich_table(report: Report, cols: Sequence[Column], title: str):  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for c in cols:
        table.add_column(c.header, justify="left" if c.key in ("name", "kind", "unit", "bound") else "right",
                         no_wrap=True)
    for r in report.rows:
        table.add_row(*(_cell(c, r.get(c.key)) for c in cols))
    for i, (label, t) in enumerate(report.totals):
        cells = _total_cells(report, cols, label, t)
        if i and not any(cells[1:]):
            continue  # a subtotal with nothing in these columns
        table.add_row(*cells, style="bold" if i == 0 else None)
    return table
