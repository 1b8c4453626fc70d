"""``amaranth.lib.data`` layouts of the instruction formats, derived from
:data:`hwcnn.isa.fields.FORMATS` (the RTL's fetch and queues view a 256-bit word through them).

Amaranth is imported only when a layout is asked for, so the pure-Python ISA stays light.
"""

from __future__ import annotations

from typing import Any

from .fields import FORMATS, INSN_BITS


def struct_layout(fmt: str) -> Any:
    """The ``data.StructLayout`` of format ``fmt``, padded to :data:`INSN_BITS` bits (a view
    must match the 256-bit instruction exactly)."""
    from amaranth.hdl import signed, unsigned
    from amaranth.lib import data

    members: dict[str, Any] = {}
    used = 0
    for f in FORMATS[fmt]:
        members[f.name] = signed(f.width) if f.signed else unsigned(f.width)
        used += f.width
    if used < INSN_BITS:
        members["_pad"] = unsigned(INSN_BITS - used)
    return data.StructLayout(members)
