"""One whole-network run of the Verilog, as data: what the host hands the testbench and what
the testbench hands back (pure Python; both sides import it, so it must not import cocotb).

The host (:mod:`hwcnn.rtlsim.session`) writes a :class:`Job` as JSON next to the DRAM image
(``dram.bin``, loaded at byte ``base`` of the simulated DRAM) and the byte-owner map
(``owner.npy``: per DRAM byte the index of the layer whose output it holds, -1 for none); the
testbench (:mod:`hwcnn.rtlsim.tb_soc`) writes the DRAM back (``dram_out.bin``, the whole
simulated DRAM), a :class:`Outcome` (``outcome.json``) and, while it runs, ``progress.json``
(rewritten atomically every ``poll_cycles`` cycles: cycles since start and the layers whose
every output byte has been written).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: Files of a run directory.
JOB_FILE, DRAM_IN, OWNER_FILE = "job.json", "dram.bin", "owner.npy"
DRAM_OUT, OUTCOME_FILE, PROGRESS_FILE = "dram_out.bin", "outcome.json", "progress.json"
#: Environment variable naming the job file for the testbench.
JOB_ENV = "HWCNN_SOC_JOB"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """DRAM bytes ``[lo, hi)`` that the AxiRam answers with SLVERR (``read`` / ``write``)."""

    lo: int
    hi: int
    read: bool = True
    write: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """Register values, DRAM size, limits and stimulus options of one run.

    ``prog_base``/``win_base``/``base0`` are absolute DRAM byte addresses; ``timeout_cycles``
    bounds the run from the start pulse (:func:`hwcnn.rtlsim.session.timeout_cycles`);
    ``pause`` is the probability that each AxiRam channel stalls in a cycle (0 = never),
    drawn from ``seed``.
    """

    ram_bytes: int
    base0: int
    prog_base: int
    prog_len: int
    win_base: int
    win_size: int
    timeout_cycles: int
    layers: tuple[str, ...]
    layer_bytes: tuple[int, ...]
    poll_cycles: int = 256
    pause: float = 0.0
    seed: int = 1
    faults: tuple[Fault, ...] = field(default=())

    def dumps(self) -> str:
        d = asdict(self)
        return json.dumps(d, indent=1, sort_keys=True) + "\n"

    @classmethod
    def loads(cls, text: str) -> Job:
        d: dict[str, Any] = json.loads(text)
        d["layers"] = tuple(d["layers"])
        d["layer_bytes"] = tuple(d["layer_bytes"])
        d["faults"] = tuple(Fault(**f) for f in d["faults"])
        return cls(**d)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What the machine did: ``state`` is ``"done"``, ``"error"`` or ``"timeout"``; ``code``
    the ErrorCode from STATUS[15:8]; ``cycles`` the CYCLES register read after the machine
    stopped: the clock cycles from the start pulse to the done/error pulse, exact (-1 after a
    timeout); ``pulse_cycles`` the same interval as the testbench saw it on the control
    block's own ``start`` and ``done``/``error`` signals (a check of the register; -1 when the
    testbench found no such block or saw no end); ``busy`` the BUSY0..3 counters (fetch, load,
    compute, store);
    ``layer_cycles`` per layer of the job the cycle (from start) in which its last output byte
    was written, -1 if never."""

    state: str
    code: int
    status: int
    cycles: int
    pulse_cycles: int
    busy: tuple[int, ...]
    layer_cycles: tuple[int, ...]
    wall_seconds: float

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def loads(cls, text: str) -> Outcome:
        d = json.loads(text)
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["busy"] = tuple(d["busy"])
        d["layer_cycles"] = tuple(d["layer_cycles"])
        return cls(**d)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a reader never sees a partial file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["DRAM_IN", "DRAM_OUT", "JOB_ENV", "JOB_FILE", "OUTCOME_FILE", "OWNER_FILE",
           "PROGRESS_FILE", "Fault", "Job", "Outcome", "write_atomic"]
