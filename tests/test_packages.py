"""The package layout: every public name imports, and the stage packages depend on each other only
in pipeline order (no cycles, no private names across packages).

Imports are read from the source with :mod:`ast` (module level and inside functions, where the
CLI imports lazily), so a forbidden dependency fails here even if no test happens to execute it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent / "hwcnn"

#: the stage packages in pipeline order
PACKAGES = ("arch", "frontend", "graph", "numerics", "isa", "compiler", "machine", "hw",
            "rtlsim", "boards", "report", "explore", "cli")
#: cross-cutting modules every package may use
CORE = {"errors", "fileio", ""}
#: top-level modules that are not stages: the Python API (a front door, like cli)
FRONT_DOORS = {"api", "__main__"}

#: package -> the packages it may import (besides itself and CORE)
ALLOWED: dict[str, set[str]] = {
    "arch": set(),
    "frontend": set(),
    "graph": {"frontend"},
    "numerics": {"frontend", "graph"},
    "isa": {"arch"},
    "compiler": {"arch", "frontend", "graph", "numerics", "isa", "hw.descriptor", "hw.layout",
                 "hw.params"},
    "machine": {"arch", "frontend", "graph", "numerics", "compiler", "isa", "hw.layout",
                "hw.params"},
    "hw": {"arch", "isa", "numerics.fixedpoint"},
    "rtlsim": {"arch", "frontend", "graph", "numerics", "isa", "compiler", "machine", "hw",
               "boards"},
    "boards": {"arch"},
    "report": {"arch", "frontend", "graph", "numerics", "isa", "compiler", "machine", "boards"},
    "explore": {"arch", "frontend", "graph", "numerics", "isa", "compiler", "machine", "boards",
                "report"},
    "cli": set(PACKAGES) - {"cli"},
    "api": set(PACKAGES),
}


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> list[tuple[str, list[str], int]]:
    """(target module under hwcnn, imported names, line) of every hwcnn import in ``path``."""
    mod = _module_name(path, root)
    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and (node.module == "hwcnn" or node.module.startswith("hwcnn.")):
                target = node.module.removeprefix("hwcnn").lstrip(".")
            else:
                continue
            names = [a.name for a in node.names]
            # "from hwcnn.x import y" where y is a submodule
            for n in names:
                sub = f"{target}.{n}".strip(".")
                if (root / (sub.replace(".", "/") + ".py")).exists() or (root / sub).is_dir():
                    out.append((sub, [], node.lineno))
            out.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("hwcnn."):
                    out.append((a.name.removeprefix("hwcnn."), [], node.lineno))
    return out


def _package(module: str) -> str:
    return module.split(".")[0] if module else ""


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("package", (*PACKAGES, "api"))
def test_every_public_name_imports(package: str) -> None:
    mod = importlib.import_module(f"hwcnn.{package}")
    names = getattr(mod, "__all__", None)
    assert names, f"hwcnn.{package} lists no public names in __all__"
    assert len(set(names)) == len(names)
    for name in names:
        assert not name.startswith("_")
        assert getattr(mod, name) is not None, f"hwcnn.{package}.{name}"


def test_every_module_belongs_to_a_stage_package_or_the_core() -> None:
    stray = [p.relative_to(ROOT).as_posix() for p in ROOT.glob("*.py")
             if p.stem not in CORE | FRONT_DOORS | {"__init__"}]
    assert stray == []
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").exists(), package


def forbidden_imports(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        src_pkg = _package(_module_name(path, root))
        if src_pkg not in ALLOWED:
            continue
        for target, _, line in _imports(path, root):
            tgt_pkg = _package(target)
            if tgt_pkg == src_pkg or target in CORE or tgt_pkg in CORE:
                continue
            allowed = ALLOWED[src_pkg]
            if tgt_pkg in allowed or target in allowed:
                continue
            bad.append(f"{path.relative_to(root)}:{line}: {src_pkg} imports hwcnn.{target}")
    return bad


def test_packages_import_only_earlier_stages() -> None:
    assert forbidden_imports() == []


def test_no_import_cycle_between_packages() -> None:
    g = nx.DiGraph()
    for path in _sources():
        src_pkg = _package(_module_name(path))
        for target, _, _ in _imports(path):
            tgt_pkg = _package(target)
            if src_pkg and tgt_pkg and tgt_pkg != src_pkg and tgt_pkg not in CORE:
                g.add_edge(src_pkg, tgt_pkg)
    assert nx.is_directed_acyclic_graph(g), list(nx.simple_cycles(g))


def test_no_private_name_crosses_a_package() -> None:
    bad = []
    for path in _sources():
        src_pkg = _package(_module_name(path))
        for target, names, line in _imports(path):
            if _package(target) == src_pkg:
                continue
            bad += [f"{path.relative_to(ROOT)}:{line}: {n} from hwcnn.{target}"
                    for n in names if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """Negative control: a graph-stage module importing the compiler is reported."""
    (tmp_path / "graph").mkdir()
    (tmp_path / "compiler").mkdir()
    (tmp_path / "compiler" / "lowering.py").write_text("", encoding="utf-8")
    (tmp_path / "graph" / "probe.py").write_text(
        "def f():\n    from ..compiler.lowering import lower\n", encoding="utf-8")
    assert forbidden_imports(tmp_path) == ["graph/probe.py:2: graph imports hwcnn.compiler.lowering"]
