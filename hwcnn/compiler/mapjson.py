"""``memory_map.json``: the DRAM layout, tensor formats and register values of a compiled
program, as plain JSON (offsets relative to the DRAM base register; no paths, no timestamps)."""

from __future__ import annotations

import json
from typing import Any

from ..arch.config import ArrayConfig, Dataflow
from ..isa.fields import INSN_BYTES, Buffer
from ..isa.queues import HALVES, TOKEN_DEPTH
from ..isa.target import Target
from ..numerics.quantize import QuantizedNetwork
from .backend import Compiled
from .memmap import ALIGN
from .plan import Program

#: Version tag of the file format.
FORMAT = "hwcnn-program/1"


def memory_map(comp: Compiled, program: Program, qnet: QuantizedNetwork) -> dict[str, Any]:
    t = comp.target
    a = t.array
    end = comp.regions[-1].offset + comp.regions[-1].size
    bufs: dict[str, Any] = {
        b.name.lower(): {"depth": t.depth(b), "lanes": t.lanes(b), "lane_bits": t.lane_bits(b),
                         "word_bytes": t.word_bytes(b)} for b in Buffer}
    bufs["acc"] = {"depth": t.acc, "lanes": a.cols, "lane_bits": a.acc_bits}
    tensors = {}
    for p in program.layers:
        ql = qnet.by_name[qnet.alias[p.name]]
        if p.name in comp.on_chip:
            tensors[p.name] = {"tensor": None, "on_chip": comp.on_chip[p.name],
                               "shape": list(comp.shapes[p.name]), "bits": ql.out.bits,
                               "scale": ql.out.scale}
            continue
        v = comp.views[p.name]
        tensors[p.name] = {
            "tensor": v.owner, "offset": comp.address(p.name), "shape": list(comp.shapes[p.name]),
            "layout": "HWC", "channels": v.channels, "pixels": v.pixels,
            "pixel_stride": v.pix_stride, "element_bytes": t.elem_bytes, "bits": ql.out.bits,
            "scale": ql.out.scale}
    return {
        "format": FORMAT,
        "model": comp.name,
        "array": {"rows": a.rows, "cols": a.cols, "dataflow": a.dataflow.value,
                  "act_bits": a.act_bits, "weight_bits": a.weight_bits, "acc_bits": a.acc_bits,
                  **({"drain_rows": a.drain_rows} if a.drain_rows != 1 else {})},
        "buffers": bufs,
        "instruction_bytes": INSN_BYTES,
        "instructions": len(comp.insns),
        "token_queues": {"depth": TOKEN_DEPTH, "precharge": {"g2l": HALVES, "s2g": HALVES}},
        "dram": {"window_bytes": t.dram_bytes, "align": ALIGN, "image_bytes": len(comp.image),
                 "total_bytes": end},
        "registers": {"insn_base": comp.region("program").offset,
                      "insn_count": len(comp.insns)},
        "regions": [{"name": r.name, "offset": r.offset, "size": r.size} for r in comp.regions],
        "input": qnet.input_name,
        "outputs": list(qnet.outputs),
        "tensors": tensors,
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def load_target(doc: dict[str, Any]) -> Target:
    """The :class:`~hwcnn.isa.target.Target` a ``memory_map.json`` was compiled for."""
    a, b = doc["array"], doc["buffers"]
    arr = ArrayConfig(rows=a["rows"], cols=a["cols"], dataflow=Dataflow.parse(a["dataflow"]),
                      act_bits=a["act_bits"], weight_bits=a["weight_bits"],
                      acc_bits=a["acc_bits"], drain_rows=a.get("drain_rows", 1))
    return Target(array=arr, act=b["act"]["depth"], weight=b["wgt"]["depth"],
                  param=b["param"]["depth"], out=b["out"]["depth"], acc=b["acc"]["depth"],
                  dram_bytes=doc["dram"]["window_bytes"])
