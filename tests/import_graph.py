"""The import graph of the hi_widgets package, read from its source with ast."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import hi_widgets

PACKAGE_DIR = Path(hi_widgets.__file__).parent


@cache
def module_paths() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, *, type_checking: bool = True) -> set[str]:
    """Absolute names of the modules ``path`` imports, at any depth (relative resolved).

    ``from package import name`` counts as ``package.name`` when that is a module of
    hi_widgets, else as ``package``. With ``type_checking=False``, imports under
    ``if TYPE_CHECKING:`` (which never run) are left out.
    """
    modules = module_paths()
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    package = ".".join(parts[:-1])  # a module's package, or an __init__'s own package
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not type_checking and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0]
                    base = f"{base}.{child.module}" if child.module else base
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    found.add(submodule if submodule in modules else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


@cache
def package_graph() -> dict[str, frozenset[str]]:
    """Module -> the hi_widgets modules it imports when it runs (not for type checking)."""
    modules = module_paths()
    return {
        name: frozenset(
            m for m in imports(path, type_checking=False) if m in modules and m != name
        )
        for name, path in modules.items()
    }


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one import cycle (first module repeated at the end), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done:
            return None
        visiting.append(name)
        for target in sorted(graph[name]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name)
        if cycle:
            return cycle
    return None
