"""Host side of a whole-network run on the Verilog: the job, the cached build, the run.

:func:`make_job` turns a :class:`~hwcnn.compiler.backend.Compiled` program into a
:class:`~hwcnn.rtlsim.job.Job` (register values, DRAM size, timeout, the byte-owner map of
the progress watch); :func:`build_model` generates ``hwcnn_soc_tb`` and compiles it with
Verilator once per distinct Verilog text (cache: ``$HWCNN_BUILD_DIR/soc`` or
``~/.cache/hwcnn/rtl``, keyed by the digest of the Verilog, the cocotb and Verilator versions
and the C++ optimisation, under a file lock so concurrent runs
never compile into the same directory); :func:`run_job` runs the testbench
(:mod:`hwcnn.rtlsim.tb_soc`) through the one cocotb wrapper (:mod:`hwcnn.rtlsim.runner`) while
reporting its ``progress.json`` to a callback, and returns the :class:`RtlRun`.

DRAM placement: the image sits at ``base0`` (default :data:`DEFAULT_BASE0`, so that a unit
which forgot to add BASE0 reads the wrong bytes); PROG_BASE = ``base0`` + the program region's
offset, WIN_BASE = ``base0``, WIN_SIZE = the mapped size (the end of the last region), the
simulated DRAM ``base0`` + that size rounded up to 4 KiB.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler.backend import Compiled
from ..compiler.plan import Program, Unit
from . import runner
from .bounds import timeout_cycles, work_bound
from .job import (
    DRAM_IN,
    DRAM_OUT,
    JOB_ENV,
    JOB_FILE,
    OUTCOME_FILE,
    OWNER_FILE,
    PROGRESS_FILE,
    Fault,
    Job,
    Outcome,
)

DEFAULT_BASE0 = 0x1000
TB_MODULE = "hwcnn.rtlsim.tb_soc"
#: Progress callback: (cycles since start, layers done, storing layers).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RtlRun:
    """One finished run: the testbench's outcome, the whole simulated DRAM afterwards, the job,
    and the build and run wall-clock seconds (a launch of several jobs: its share)."""

    outcome: Outcome
    dram: np.ndarray
    job: Job
    build_seconds: float
    run_seconds: float

    def image(self, size: int) -> np.ndarray:
        """``size`` bytes of DRAM from BASE0 (the compiled image's offset 0)."""
        return self.dram[self.job.base0:self.job.base0 + size]


def mapped_bytes(comp: Compiled) -> int:
    return comp.regions[-1].offset + comp.regions[-1].size


def storing_layers(program: Program) -> list[str]:
    """Layers whose tiles store their own tensor (the progress watch's layers, less those a
    compiled program keeps on chip, ``Compiled.on_chip``)."""
    return [p.name for p in program.layers if p.unit in (Unit.ARRAY, Unit.POOL)]


def owner_map(comp: Compiled, layers: list[str], ram_bytes: int, base0: int
              ) -> tuple[np.ndarray, tuple[int, ...]]:
    """Per DRAM byte the index in ``layers`` of the layer whose output it holds (-1: none), and
    each layer's output byte count."""
    owner = np.full(ram_bytes, -1, dtype=np.int16 if len(layers) < 32_000 else np.int32)
    eb = comp.target.elem_bytes
    sizes = []
    for i, name in enumerate(layers):
        v = comp.views[name]
        base = base0 + comp.region(v.region).offset + v.rel
        p, c, b = np.meshgrid(np.arange(v.pixels), np.arange(v.channels), np.arange(eb),
                              indexing="ij")
        addr = np.unique(base + (p * v.pix_stride + c) * eb + b)
        owner[addr] = i
        sizes.append(int(addr.size))
    return owner, tuple(sizes)


def make_job(comp: Compiled, program: Program, *, bus_bytes: int, dram_timing,  # type: ignore[no-untyped-def]
             base0: int = DEFAULT_BASE0, pause: float = 0.0, seed: int = 1,
             win_size: int | None = None, prog_base: int | None = None,
             prog_len: int | None = None, faults: tuple[Fault, ...] = (),
             timeout: int | None = None, poll_cycles: int = 256) -> tuple[Job, np.ndarray]:
    """The job of running ``comp`` (the overrides build the error cases) and its owner map."""
    size = mapped_bytes(comp)
    ram = -(-(base0 + size) // 4096) * 4096
    layers = [n for n in storing_layers(program) if n not in comp.on_chip]
    owner, sizes = owner_map(comp, layers, ram, base0)
    bound = work_bound(comp.insns, comp.target, bus_bytes, dram_timing)
    job = Job(ram_bytes=ram, base0=base0,
              prog_base=base0 + comp.region("program").offset if prog_base is None else prog_base,
              prog_len=len(comp.insns) if prog_len is None else prog_len,
              win_base=base0, win_size=size if win_size is None else win_size,
              timeout_cycles=timeout_cycles(bound, pause) if timeout is None else timeout,
              layers=tuple(layers), layer_bytes=sizes, poll_cycles=poll_cycles, pause=pause,
              seed=seed, faults=faults)
    return job, owner


def cache_root() -> Path:
    env = os.environ.get("HWCNN_BUILD_DIR")
    if env:
        return Path(env).resolve() / "soc"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "hwcnn" / "rtl"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _toolchain() -> str:
    """What else a built model depends on: the cocotb and Verilator versions and the C++
    optimisation (a model built by another release is rebuilt, not reused)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("cocotb", "verilator"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} -")
    parts.append(os.environ.get("HWCNN_VERILATOR_OPT", runner.DEFAULT_CXX_OPT))
    return "\n// " + ", ".join(parts)


def build_model(verilog_text: str, root: Path | None = None) -> runner.Build:
    """The Verilator model of ``verilog_text`` (``hwcnn_soc_tb``), built at most once."""
    from .harness import TOP, build_key, write_harness

    sim = runner.simulator_name()
    waves = runner.waves_requested()
    key = f"{sim}-{build_key(verilog_text + _toolchain())}" + ("-waves" if waves else "")
    where = (root or cache_root()) / key
    stamp = where / "built.ok"
    with _locked(where.parent / f"{key}.lock"):
        src = write_harness(where / "rtl", verilog_text)
        if stamp.is_file():
            return runner.Build(simulator=sim, toplevel=TOP, build_dir=where / "sim_build",
                                sources=(src,), waves=waves, seconds=0.0)
        built = runner.build([src], TOP, where / "sim_build", waves=waves)
        stamp.write_text(f"{built.seconds:.1f}\n")
        return built


def run_job(built: runner.Build, job: Job, image: bytes, owner: np.ndarray, *,
            progress: Progress | None = None, run_dir: Path | None = None) -> RtlRun:
    """Run ``job`` on ``built``; ``run_dir`` keeps the files (default: a temporary directory,
    removed afterwards). Raises runner.SimulatorError when the testbench did not finish."""
    return run_jobs(built, [(job, image, owner)], progress=progress, run_dir=run_dir,
                    flat=True)[0]


def run_jobs(built: runner.Build, jobs: Sequence[tuple[Job, bytes, np.ndarray]], *,
             progress: Progress | None = None, run_dir: Path | None = None,
             flat: bool = False) -> list[RtlRun]:
    """Run several jobs in ONE simulator launch (each from a reset, in order; job ``i`` in
    ``run_dir/i``, or in ``run_dir`` itself for a single ``flat`` job). ``progress`` follows
    the job that is running."""
    with contextlib.ExitStack() as stack:
        if run_dir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hwcnn-rtl-")))
        dirs = [run_dir if flat else run_dir / str(i) for i in range(len(jobs))]
        for where, (job, image, owner) in zip(dirs, jobs, strict=True):
            where.mkdir(parents=True, exist_ok=True)
            for name in (OUTCOME_FILE, PROGRESS_FILE, DRAM_OUT):
                (where / name).unlink(missing_ok=True)
            (where / DRAM_IN).write_bytes(image)
            np.save(where / OWNER_FILE, owner)
            (where / JOB_FILE).write_text(job.dumps(), encoding="utf-8")
        env = {JOB_ENV: "\n".join(str(d / JOB_FILE) for d in dirs)}
        start = time.perf_counter()
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(runner.run, built, TB_MODULE, run_dir, extra_env=env,
                              waves_on_failure=False)
            while not fut.done():
                time.sleep(0.2)
                if progress is not None:
                    _report(dirs, progress)
            res = fut.result()
        if progress is not None:
            _report(dirs, progress)
        seconds = time.perf_counter() - start
        missing = [d for d in dirs if not (d / OUTCOME_FILE).is_file()]
        if not res.passed or missing:
            raise runner.SimulatorError(f"the testbench did not finish (log {res.log}):\n"
                                        f"{res.failures()}")
        out = []
        for where, (job, _, _) in zip(dirs, jobs, strict=True):
            outcome = Outcome.loads((where / OUTCOME_FILE).read_text(encoding="utf-8"))
            dram = np.frombuffer((where / DRAM_OUT).read_bytes(), dtype=np.uint8).copy()
            out.append(RtlRun(outcome=outcome, dram=dram, job=job,
                              build_seconds=built.seconds, run_seconds=seconds / len(jobs)))
    return out


def _report(dirs: list[Path], progress: Progress) -> None:
    import json

    for d in reversed(dirs):          # the job running now: the last one with a progress file
        try:
            rec = json.loads((d / PROGRESS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        progress(int(rec["cycles"]), int(rec["layers_done"]), int(rec["layers"]))
        return


__all__ = ["DEFAULT_BASE0", "TB_MODULE", "RtlRun", "build_model", "cache_root", "make_job",
           "mapped_bytes", "owner_map", "run_job", "run_jobs", "storing_layers"]
