"""``hwcnn verify --engine program|rtl``: the compiled instruction stream, run from DRAM.

``program``: the functional interpreter (:func:`hwcnn.machine.program_exec.check_compiled`;
no cycles). ``rtl``: the Verilog of the complete accelerator under Verilator and cocotb
(:func:`hwcnn.rtlsim.check.check_rtl`); per layer the cycle (counted from the start pulse) in
which the testbench saw its last output byte written to DRAM, and the start-to-done total the
machine's CYCLES register reads after done. Both read every layer stored to DRAM back and
compare it with the golden network; a conv pooled in the output buffer (``Compiled.on_chip``)
is listed as not in DRAM (``--no-fuse-pool`` stores and compares it).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import click

from ...errors import ConfigError


def dram_timing(hw: Any, board: Any) -> Any:
    """The DRAM model of the run (:func:`hwcnn.boards.profiles.dram_timing_of`)."""
    from ...boards.profiles import dram_timing_of

    return dram_timing_of(hw, board)


def _compile(b: Any, hw: Any, x: Any, fuse_pool: bool = True) -> tuple[Any, Any]:
    from ...compiler.backend import compile_network
    from ...compiler.lowering import lower

    prog = lower(b.graph, hw)
    return prog, compile_network(prog, b.qnet, x=x, fuse_pool=fuse_pool)


def _rows(prog: Any, comp: Any, ver: Any) -> list[tuple[str, str, int, Any]]:
    """Per program layer (name, unit, tiles, its check or the pool that keeps it on chip)."""
    checks = {c.name: c for c in ver.layers}
    return [(p.name, p.unit, p.tiles, checks.get(p.name, comp.on_chip.get(p.name)))
            for p in prog.layers]


def _on_chip(pool: str) -> str:
    return f"not in DRAM (pooled by {pool} in the output buffer; not compared)"


def _all_match(comp: Any) -> None:
    """The closing line of a run whose compared layers all match: it says how many layers
    were pooled on chip and so not compared."""
    n = len(comp.on_chip)
    click.echo("all layers match" if not n else
               f"all stored layers match ({n} pooled on chip, not compared)")


def run_program(header: str, b: Any, hw: Any, x: Any, fuse_pool: bool = True) -> Any:
    from ...machine.program_exec import check_compiled

    prog, comp = _compile(b, hw, x, fuse_pool)
    res = check_compiled(comp, prog, b.qnet, x)
    click.echo(header)
    click.echo(f"{len(comp.insns)} instructions, {len(comp.image)} bytes of DRAM image "
               "(functional interpreter: no cycles)")
    width = max(len(p.name) for p in prog.layers)
    click.echo(f"{'layer':<{width}}  {'unit':<5}  {'tiles':>6}  match")
    for name, unit, tiles, c in _rows(prog, comp, res):
        if isinstance(c, str):
            click.echo(f"{name:<{width}}  {unit:<5}  {tiles:>6}  {_on_chip(c)}")
            continue
        mark = "yes" if c.match else f"NO ({c.mismatches} elements)"
        note = f"  ({c.unit} into {c.host})" if c.host != c.name else ""
        click.echo(f"{c.name:<{width}}  {c.unit:<5}  {c.tiles:>6}  {mark}{note}")
    if res.first_mismatch is None:
        _all_match(comp)
    return res.first_mismatch


def run_rtl(model: str, header: str, b: Any, hw: Any, board: Any, x: Any, *, bus_bits: int,
            max_cycles: int, pause: float, seed: int, fuse_pool: bool = True) -> Any:
    from ...arch.dma import ErrorCode
    from ...hw.params import BufferDepths
    from ...hw.soc.ports import SocParams
    from ...rtlsim.bounds import work_bound
    from ..options import progress_bar

    prog, comp = _compile(b, hw, x, fuse_pool)
    timing = dram_timing(hw, board)
    params = SocParams(config=hw, depths=BufferDepths.for_config(hw), data_width=bus_bits)
    bound = work_bound(comp.insns, comp.target, params.bus_bytes, timing)
    if bound > max_cycles:
        raise ConfigError(f"{model}: the RTL simulation may take up to {bound:,} cycles "
                          f"(rtlsim work bound of {len(comp.insns):,} instructions), more than "
                          f"--max-cycles {max_cycles:,}; use --engine program, or a smaller "
                          "model or larger array")
    if importlib.util.find_spec("cocotbext.axi") is None:
        raise ConfigError("--engine rtl needs cocotbext-axi (pip install cocotbext-axi)")
    if importlib.util.find_spec("hwcnn.hw.soc.top") is None:
        raise ConfigError("--engine rtl needs the complete accelerator (hwcnn.hw.soc.top), "
                          "which this installation does not have")
    from ...rtlsim.check import check_rtl
    from ...rtlsim.runner import SimulatorError

    bw = timing.bytes_per_cycle
    click.echo(header)
    click.echo(f"{len(comp.insns)} instructions on hwcnn_soc (Verilator): {bus_bits}-bit AXI, "
               f"DRAM latency {timing.latency} cycles, {float(bw):.4g} bytes/cycle"
               + (f", random AXI stalls p={pause}" if pause else ""))
    with progress_bar("layers stored (RTL, watched on the DRAM)") as bar:
        try:
            chk = check_rtl(comp, prog, b.qnet, x, params=params, dram_timing=timing,
                            pause=pause, seed=seed,
                            progress=lambda cyc, done, total: bar(done, total))
        except SimulatorError as exc:
            raise ConfigError(f"{model}: the RTL simulation failed: "
                              f"{str(exc).splitlines()[0]}") from None
    o = chk.run.outcome
    if o.state != "done":
        what = (f"stopped with error {o.code} ({ErrorCode(o.code).name}: "
                f"{ErrorCode(o.code).meaning})"
                if o.state == "error" and o.code in ErrorCode._value2member_map_
                else f"stopped with error code {o.code}" if o.state == "error"
                else f"did not finish within {chk.run.job.timeout_cycles:,} cycles")
        click.echo(f"the machine {what}", err=True)
        return "error"
    ver = chk.verification
    assert ver is not None
    stored = dict(zip(chk.run.job.layers, o.layer_cycles, strict=True))
    width = max(len(p.name) for p in prog.layers)
    click.echo(f"{'layer':<{width}}  {'unit':<5}  {'tiles':>6}  {'stored at':>10}  match")
    for name, unit, tiles, c in _rows(prog, comp, ver):
        if isinstance(c, str):
            click.echo(f"{name:<{width}}  {unit:<5}  {tiles:>6}  {'-':>10}  {_on_chip(c)}")
            continue
        mark = "yes" if c.match else f"NO ({c.mismatches} elements)"
        note = f"  ({c.unit} into {c.host})" if c.host != c.name else ""
        at = stored.get(c.host, -1)
        click.echo(f"{c.name:<{width}}  {c.unit:<5}  {c.tiles:>6}  "
                   f"{at if at >= 0 else '-':>10}  {mark}{note}")
    busy = ", ".join(f"{u} {n:,}" for u, n in zip(("fetch", "load", "compute", "store"), o.busy,
                                                 strict=True))
    click.echo(f"measured on the RTL: {o.cycles:,} cycles from start to done (CYCLES; busy: "
               f"{busy}); "
               "'stored at' = cycle of a layer's last DRAM write")
    click.echo(f"simulated {o.cycles / max(o.wall_seconds, 1e-9):,.0f} cycles/s "
               f"(build {chk.run.build_seconds:.0f} s, run {chk.run.run_seconds:.1f} s)",
               err=True)
    if ver.first_mismatch is None:
        _all_match(comp)
    return ver.first_mismatch
