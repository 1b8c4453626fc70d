"""Compiling a lowered network: :func:`compile_network` runs the back end
(:mod:`hwcnn.compiler.codegen`), places the DRAM regions (:mod:`hwcnn.compiler.memmap`),
resolves every DMA address, checks the program (:mod:`hwcnn.compiler.progcheck`) and builds
the initial DRAM image; :class:`Compiled` is the result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..hw.params import BufferDepths
from ..isa.fields import INSN_BYTES, Insn, ProgramError, make, to_bytes
from ..isa.target import DEFAULT_DRAM_BYTES, Target
from ..numerics.quantize import QuantizedNetwork
from .codegen import _Gen, _Rel
from .memmap import Region, TensorView, align
from .plan import Program
from .progcheck import check_program


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Compiled:
    """A compiled network: instructions, the initial DRAM image, the memory map."""

    name: str
    target: Target
    insns: tuple[Insn, ...]
    origin: tuple[str, ...]          # per instruction: "layer tile i" / "barrier" / "end"
    image: bytes                      # program, weights, params, input (zeros without one)
    regions: tuple[Region, ...]
    views: Mapping[str, TensorView]  # every layer stored in DRAM -> the tensor holding its value
    shapes: Mapping[str, tuple[int, ...]]
    #: layers whose value never reaches DRAM (a conv pooled in the output buffer, with its
    #: fused BatchNorm / ReLU) -> the pool layer that reads it there; no view, no region
    on_chip: Mapping[str, str] = field(default_factory=dict)

    def region(self, name: str) -> Region:
        return next(r for r in self.regions if r.name == name)

    def address(self, layer: str) -> int:
        v = self.views[layer]
        return self.region(v.region).offset + v.rel



def compile_network(program: Program, qnet: QuantizedNetwork, *,
                    dram_bytes: int = DEFAULT_DRAM_BYTES, x: np.ndarray | None = None,
                    fuse_pool: bool = True) -> Compiled:
    """Compile ``program`` (:func:`hwcnn.compiler.lower` of ``qnet.graph``) for ``qnet``.

    ``fuse_pool``: a max / average / sum / global-average pool that is the only reader of a
    conv or dense layer's output, whose GEMM tiles hold complete pool windows, runs on the
    GEMM's output words in the output buffer (its VECs right after each GEMM): the conv's
    STORE and the pool's LOAD are not emitted and the conv's value never reaches DRAM
    (``Compiled.on_chip``; ``rtl/README.md`` 9.3). False: every layer goes through DRAM.

    ``x`` (one integer input image in the network's input format) is written into the input
    region of the DRAM image; without it the region is zeros. Raises ProgramError /
    ConfigError (one line) when a tile, address or field does not fit the machine.
    """
    hw = program.hw
    d = BufferDepths.for_config(hw)
    target = Target(array=hw.array, act=d.act, weight=d.weight, param=d.param, out=d.out,
                    acc=d.acc, dram_bytes=dram_bytes)
    gen = _Gen(program, qnet, target, fuse_pool=fuse_pool)
    gen.run()
    # place the regions
    sizes = [("program", len(gen.out) * INSN_BYTES), ("weights", gen.size["weights"]),
             ("params", gen.size["params"]), *gen.alloc]
    regions, pos = [], 0
    for name, size in sizes:
        regions.append(Region(name=name, offset=pos, size=size))
        pos = align(pos + size)
    end = regions[-1].offset + regions[-1].size
    if end > dram_bytes:
        raise ProgramError(f"the memory map needs {end} bytes, more than the DRAM window of "
                           f"{dram_bytes} bytes (--dram-bytes)")
    where = {r.name: r.offset for r in regions}
    insns, origin = [], []
    for p in gen.out:
        f = {k: (where[v.region] + v.rel if isinstance(v, _Rel) else int(v))
             for k, v in p.f.items()}
        try:
            insns.append(make(p.op, **f))
        except ProgramError as exc:
            raise ProgramError(f"{p.origin}: {exc}") from None
        origin.append(p.origin)
    check_program(insns, target, origin)
    image = bytearray(where["input"] + regions[[r.name for r in regions].index("input")].size)
    prog = to_bytes(insns)
    image[0:len(prog)] = prog
    for region, table in gen.blobs.items():
        for off, data in table.values():
            image[where[region] + off:where[region] + off + len(data)] = data
    shapes = {n: tuple(gen.g.nodes[n]["out_shape"].as_list()) for n in gen.views}
    comp = Compiled(name=qnet.name, target=target, insns=tuple(insns), origin=tuple(origin),
                    image=bytes(image), regions=tuple(regions), views=gen.stored_views,
                    shapes=shapes, on_chip=gen.on_chip)
    if x is not None:
        comp = replace_input(comp, qnet, x)
    return comp


def tensor_bytes(values: np.ndarray, eb: int) -> bytes:
    """Elements as ``eb``-byte little-endian two's complement."""
    v = np.asarray(values, dtype=np.int64)
    return (v & ((1 << (8 * eb)) - 1)).astype(f"<u{eb}").tobytes()


def replace_input(comp: Compiled, qnet: QuantizedNetwork, x: np.ndarray) -> Compiled:
    """The same compiled program with ``x`` written into the input region of its image."""
    from ..numerics.golden import check_input

    x = check_input(qnet, x)
    v = comp.views[qnet.input_name]
    r = comp.region(v.region)
    hwc = x.reshape(v.channels, -1).T          # (pixels, channels)
    data = tensor_bytes(hwc, comp.target.elem_bytes)
    image = bytearray(comp.image)
    image[r.offset:r.offset + len(data)] = data
    return Compiled(name=comp.name, target=comp.target, insns=comp.insns, origin=comp.origin,
                    image=bytes(image), regions=comp.regions, views=comp.views,
                    shapes=comp.shapes, on_chip=comp.on_chip)


__all__ = ["Compiled", "compile_network", "replace_input", "tensor_bytes"]
