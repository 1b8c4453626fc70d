"""First-order energy ESTIMATE per layer: MACs, on-chip buffer (SRAM) bytes, DRAM bytes.

``energy = MACs * E_mac + sum over buffers (bytes accessed * E_sram(buffer size))
+ DRAM bytes * E_dram``, with the per-operation energies of a published table. It is an
estimate: it ignores clocking, control, the skew registers, leakage and the FPGA fabric (the
table is for an ASIC process), and it counts buffer traffic from the layer's folds, not from
every tile. Use it to compare configurations, not as a power figure.

Only one table is shipped, because only one is sourced here:

* ``45nm``: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  pp. 10-14 (45 nm, 0.9 V): 8-bit integer multiply 0.2 pJ, 32-bit multiply 3.1 pJ; 8-, 16-,
  32-bit integer add 0.03, 0.05, 0.1 pJ; a 64-bit SRAM access 10 pJ (8 KB), 20 pJ (32 KB),
  100 pJ (1 MB); a 64-bit DRAM access 1.3-2.6 nJ (we use the middle, 1.95 nJ = 243.75 pJ/B).

A MAC is one ``act_bits x weight_bits`` multiply plus one ``acc_bits`` add, each at the next
tabulated width at or above the operand width (conservative between table points). The SRAM
energy per byte of a buffer of ``S`` bytes is interpolated linearly in ``log2(S)`` between the
table's sizes and clamped outside them.

Buffer traffic per GEMM (``M x N x K``, ``groups`` times; ``F_M = ceil(M/R)``, ``F_N =
ceil(N/C)``, ``F_K = ceil(K/R)``; shared/HARDWARE.md 1.4), of the GEMMs the array runs: a
grouped conv whose groups the compiler packs ``P`` per GEMM (:mod:`hwcnn.compiler.packing`)
counts ``groups/P`` GEMMs of ``M x PN x PK``, and its MACs are theirs (the array multiplies the
zero blocks too):

* output stationary: activations ``F_N * M * K`` read, weights ``F_M * K * N`` read, outputs
  ``M * N`` written;
* weight stationary: weights ``K * N`` read, activations ``F_N * M * K`` read, partial sums
  ``F_K * M * N`` read and written at ``acc_bits`` (accumulator words in the output memory),
  outputs ``M * N`` written.

DRAM bytes (the estimate's own per-layer traffic) are charged at the DRAM figure only (the
buffer side of a transfer is not added); pooling, residual adds and a batchnorm that runs as its
own depthwise GEMM count MAC and DRAM energy but no buffer traffic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from ..arch.config import Dataflow, HardwareConfig
from ..compiler.gather import gather_of
from ..compiler.packing import packed_dims
from ..errors import ConfigError
from .perf import LayerPerf


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyTable:
    """Energy per operation of one technology node (pJ), with its source."""

    node: str
    source: str
    mult_pj: Mapping[int, float]
    add_pj: Mapping[int, float]
    #: (SRAM size in bytes, pJ per byte accessed), ascending sizes
    sram_pj_per_byte: tuple[tuple[int, float], ...]
    dram_pj_per_byte: float

    def mac_pj(self, act_bits: int, weight_bits: int, acc_bits: int) -> float:
        return _at_or_above(self.mult_pj, max(act_bits, weight_bits), "multiply", self.node) \
            + _at_or_above(self.add_pj, acc_bits, "add", self.node)

    def sram_pj(self, size_bytes: int) -> float:
        """pJ per byte of a ``size_bytes`` SRAM (log-linear between table points, clamped)."""
        pts = self.sram_pj_per_byte
        if size_bytes <= pts[0][0]:
            return pts[0][1]
        for (s0, e0), (s1, e1) in itertools.pairwise(pts):
            if size_bytes <= s1:
                f = (math.log2(size_bytes) - math.log2(s0)) / (math.log2(s1) - math.log2(s0))
                return e0 + f * (e1 - e0)
        return pts[-1][1]


def _at_or_above(table: Mapping[int, float], bits: int, what: str, node: str) -> float:
    widths = sorted(w for w in table if w >= bits)
    if not widths:
        raise ConfigError(f"energy table {node}: no {what} energy for {bits}-bit operands "
                          f"(largest tabulated: {max(table)} bits)")
    return table[widths[0]]


#: Horowitz, ISSCC 2014, 45 nm, 0.9 V (see module docstring).
HOROWITZ_45NM = EnergyTable(
    node="45nm",
    source="M. Horowitz, Computing's energy problem (and what we can do about it), "
           "ISSCC 2014, pp. 10-14; 45 nm, 0.9 V",
    mult_pj={8: 0.2, 32: 3.1},
    add_pj={8: 0.03, 16: 0.05, 32: 0.1},
    sram_pj_per_byte=((8 * 1024, 10 / 8), (32 * 1024, 20 / 8), (1024 * 1024, 100 / 8)),
    dram_pj_per_byte=1950 / 8,
)

#: Technology node -> table (only sourced nodes).
TABLES: dict[str, EnergyTable] = {HOROWITZ_45NM.node: HOROWITZ_45NM}


def get_table(node: str) -> EnergyTable:
    try:
        return TABLES[node]
    except KeyError:
        raise ConfigError(f"no energy table for technology node {node!r}; "
                          f"sourced: {', '.join(TABLES)}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerEnergy:
    """Estimated energy of one layer, pJ, by where it is spent."""

    name: str
    mac_pj: float
    sram_pj: float
    dram_pj: float

    @property
    def total_pj(self) -> float:
        return self.mac_pj + self.sram_pj + self.dram_pj


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def sram_traffic(m: int, n: int, k: int, groups: int, hw: HardwareConfig) -> tuple[int, int, int]:
    """Bytes accessed in the (activation, weight, output) buffers by one conv/dense layer."""
    a = hw.array
    r, c = a.rows, a.cols
    fm, fn, fk = _cdiv(m, r), _cdiv(n, c), _cdiv(k, r)
    act = _bytes(fn * m * k, a.act_bits)
    out = _bytes(m * n, a.act_bits)
    if a.dataflow is Dataflow.OUTPUT_STATIONARY:
        weight = _bytes(fm * k * n, a.weight_bits)
    else:
        weight = _bytes(k * n, a.weight_bits)
        out += 2 * _bytes(fk * m * n, a.acc_bits)
    return groups * act, groups * weight, groups * out


def layer_energy(g: nx.DiGraph, rows: tuple[LayerPerf, ...], hw: HardwareConfig,
                 table: EnergyTable = HOROWITZ_45NM) -> tuple[LayerEnergy, ...]:
    """Energy estimate of every layer row of :func:`hwcnn.report.perf.estimate`."""
    a, mem = hw.array, hw.memory
    mac = table.mac_pj(a.act_bits, a.weight_bits, a.acc_bits)
    e_act, e_w, e_out = (table.sram_pj(kib * 1024)
                         for kib in (mem.act_kib, mem.weight_kib, mem.out_kib))
    out = []
    for row in rows:
        gd = g.nodes[row.name].get("gemm") if row.unit == "array" else None
        sram = 0.0
        macs = row.macs
        if gd is not None:
            # the GEMMs the array runs (groups packed per GEMM: hwcnn.compiler.packing); it
            # multiplies the zero blocks of a packed B too, counted as MACs (no zero gating)
            node = g.nodes[row.name]
            _, gn, gk, gg = packed_dims(row.name, hw, gd.m, gd.n, gd.k, gd.groups,
                                        gather_of(node, hw))
            sa, sw, so = sram_traffic(gd.m, gn, gk, gg, hw)
            sram = sa * e_act + sw * e_w + so * e_out
            macs = gg * gd.m * gn * gk
        out.append(LayerEnergy(name=row.name, mac_pj=macs * mac, sram_pj=sram,
                               dram_pj=row.dram_bytes * table.dram_pj_per_byte))
    return tuple(out)


__all__ = ["HOROWITZ_45NM", "TABLES", "EnergyTable", "LayerEnergy", "get_table",
           "layer_energy", "sram_traffic"]
