"""The layout holds: no import cycle in either package, the layers of ``dfa`` import only
downwards, ``photonics`` never imports ``dfa`` (nor torch at module level), and no two modules
share a name.

Every ``import`` statement counts, also those inside functions (a lazy import is still a
dependency). The graph is read from the source with :mod:`ast`, independently of the import
system.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("photonics", "dfa")

#: layers of dfa, bottom to top: a module may import its own layer and the layers below
DFA_LAYERS = (
    ("foundation", ("dfa.errors", "dfa.version")),
    ("mechanism", ("dfa.mechanism",)),
    ("zoo", ("dfa.zoo",)),
    ("trainer", ("dfa.trainer",)),
    ("studies", ("dfa.studies",)),
    ("commands", ("dfa.commands", "dfa.cli", "dfa")),
)


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            mods[".".join(parts)] = (path, is_pkg)
    return mods


def _known(name: str, mods) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _edges(mods) -> dict[str, set[str]]:
    """module -> the modules of our packages it imports (module level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for mod, (path, is_pkg) in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (k := _known(alias.name, mods)) is not None:
                        deps.add(k)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    k = full if full in mods else _known(target, mods)
                    if k is not None:
                        deps.add(k)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


MODS = _modules()
GRAPH = _edges(MODS)


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def _layer(mod: str) -> int:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(DFA_LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    assert best is not None, f"{mod} belongs to no layer of dfa; add it to DFA_LAYERS"
    return best


def test_dfa_layers_import_only_downwards():
    bad = []
    for mod, deps in GRAPH.items():
        if not mod.startswith("dfa"):
            continue
        for d in deps:
            if d.startswith("dfa") and _layer(d) > _layer(mod):
                bad.append(f"{mod} ({DFA_LAYERS[_layer(mod)][0]}) imports {d} ({DFA_LAYERS[_layer(d)][0]})")
    assert not bad, "\n".join(sorted(bad))


def test_photonics_never_imports_dfa():
    bad = sorted(f"{m} -> {d}" for m, deps in GRAPH.items() if m.startswith("photonics") for d in deps if d.startswith("dfa"))
    assert not bad


@pytest.mark.parametrize("heavy", ["torch", "dask", "distributed", "sklearn"])
def test_photonics_imports_heavy_packages_only_inside_functions(heavy):
    """The physics toolkit installs without torch, Dask and scikit-learn: no module-level import of them."""
    bad = []
    for mod, (path, _) in MODS.items():
        if not mod.startswith("photonics") or mod in ADAPTERS:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == heavy or n.startswith(heavy + ".") for n in names):
                bad.append(mod)
    assert not bad, f"module-level import of {heavy} in {bad}"


#: names that mean the same role in each package or subpackage (its CLI, config, errors, version,
#: base class, report or result type)
ROLE_NAMES = {"cli", "config", "errors", "version", "base", "report", "result"}
#: modules that adapt an optional library and are named after it (installed with an extra)
ADAPTERS = {"photonics.compat.lightonml.projections.torch", "photonics.compat.lightonml.projections.sklearn"}


def test_module_names_are_unique():
    """One name per concept: no two modules share a last name part, except role names and the
    command modules (each named after its sub-command)."""
    names = Counter(m.rpartition(".")[2] for m, (_, is_pkg) in MODS.items() if not is_pkg and ".commands." not in m)
    dup = sorted(n for n, c in names.items() if c > 1 and n not in ROLE_NAMES)
    assert not dup, {n: sorted(m for m in MODS if m.rpartition(".")[2] == n) for n in dup}
