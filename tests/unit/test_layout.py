"""The layout of server/ stays as docs/layout.md describes it: modules use only each other's
public names, and their imports (including those inside functions) form no cycle.
import-linter (pyproject.toml, run by scripts/test.sh) checks the layers; this test checks
what it cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVER.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(SERVER.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        out[_module_name(path)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return out


def _absolute(name: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, tuple[Path, ast.Module]]) -> dict[str, dict[str, set[str]]]:
    """module -> {imported server module -> names taken from it} (all imports, any depth)."""
    graph: dict[str, dict[str, set[str]]] = {}
    for name, (path, tree) in modules.items():
        edges: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        edges.setdefault(alias.name, set())
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(name, path, node)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # `from package import module`
                        edges.setdefault(sub, set())
                    elif target in modules:
                        edges.setdefault(target, set()).add(alias.name)
        edges.pop(name, None)
        graph[name] = edges
    return graph


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names() -> None:
    modules = _modules()
    graph = _imports(modules)
    found = []
    for name, edges in graph.items():
        found += [f"{name}: from {t} import {n}" for t, ns in edges.items() for n in ns
                  if _private(n)]
        path, tree = modules[name]
        aliases: dict[str, str] = {}  # local name -> server module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(name, path, node)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != name
                and _private(node.attr)
            ):
                found.append(f"{name}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(sorted(found))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _drop_package_parents(name: str, edges: dict[str, set[str]]) -> set[str]:
    """Importing ``a.b.c`` runs ``a/b/__init__`` first; that is not a dependency of ours
    unless we take a name from the package itself."""
    return {e for e, names in edges.items() if names or not name.startswith(e + ".")}


def test_server_imports_form_no_cycle() -> None:
    graph = {n: _drop_package_parents(n, e) for n, e in _imports(_modules()).items()}
    cycles = _cycles(graph)
    described = [
        " <-> ".join(c) + "\n    " + "\n    ".join(
            f"{a} imports {b}" for a in c for b in sorted(graph[a]) if b in c
        )
        for c in cycles
    ]
    assert not cycles, "import cycles in server/:\n" + "\n".join(described)


def test_the_checker_sees_a_cycle_and_a_private_name() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _private("_x") and not _private("__all__") and not _private("x")


# Imports inside functions hide dependencies (and cycles) from a reader and from import-linter.
# These are the only ones allowed, each for a reason that a top-level import cannot serve.
ALLOWED_LOCAL_IMPORTS = {
    # The app factory wires every blueprint and the entry points that sit above the app.
    ("server.app", "create_app"): None,
    # Answers an incomplete installation with one line instead of a traceback.
    ("server.__main__", "main"): {"server.cli"},
    # gunicorn's settings are read in the master, which must load nothing of the app before the
    # worker's gevent patch; the drain hook is imported in the worker.
    ("server.node.gunicorn_settings", "post_worker_init"): {"server.node.shutdown"},
    # gevent is asked only when a signal arrives, in gevent mode.
    ("server.node.shutdown", "_in_background"): {"gevent", "gevent.monkey"},
    # The eSpeak NG wheel exists on x86_64 only (pyproject.toml's marker).
    ("server.web.espeak_loader", "synthesise"): {"espeakng_loader"},
}


def test_imports_inside_functions_are_only_the_allowed_ones() -> None:
    found = []
    for name, (path, tree) in _modules().items():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    targets = {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    targets = {_absolute(name, path, node)}
                else:
                    continue
                allowed = ALLOWED_LOCAL_IMPORTS.get((name, func.name), set())
                if allowed is not None and not targets <= allowed:
                    found.append(f"{name}.{func.name}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "imports inside functions:\n" + "\n".join(sorted(found))
