"""The package's layout: a subpackage per concern, imports only downwards, nothing private shared.

What two rooms (subpackages) share is public inside the package; private modules and names
stay in their room.
"""

from __future__ import annotations

import ast

import pytest
from import_graph import PACKAGE_DIR, imports, module_paths

# Subpackage -> the subpackages it may import (besides itself and hi_widgets._version).
# Data flows down: a room never imports one above it.
LAYERS: dict[str, set[str]] = {
    "limits": set(),
    "api": {"limits"},
    "export": {"api", "limits"},
    "bulk": {"api", "limits", "export"},
    "changes": {"api", "limits", "bulk", "export"},
    "images": {"api", "limits"},
    "plots": {"api", "changes", "images"},
    "widgets": {"api", "limits", "bulk", "changes", "export", "images", "plots", "sandbox"},
    "cli": {"api", "limits", "bulk", "changes", "export", "images", "plots", "sandbox"},
    "sandbox": set(),
}
# The sandbox is a separate room: it may use only these shared leaves of the package.
SANDBOX_LEAVES = {
    "hi_widgets.limits.quotas",
    "hi_widgets.limits.bucket",
    "hi_widgets.api.model",
    "hi_widgets.export.atomic",
    "hi_widgets._version",
    "hi_widgets.limits",
    "hi_widgets.api",
    "hi_widgets.export",
}
TOP_LEVEL_MODULES = {"__init__.py", "_version.py"}
MAX_LINES = 500
LONG_DATA_MODULES = {"hi_widgets.export._deid_table"}  # a standard's table, as data


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def _modules():
    return sorted(module_paths().items())


def test_the_package_root_holds_only_subpackages():
    assert {p.name for p in PACKAGE_DIR.glob("*.py")} == TOP_LEVEL_MODULES
    rooms = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists()}
    assert rooms == set(LAYERS)


@pytest.mark.parametrize("folder", sorted(p for p in PACKAGE_DIR.rglob("__init__.py")))
def test_every_subpackage_says_what_it_owns(folder):
    docstring = ast.get_docstring(ast.parse(folder.read_text()))
    assert docstring and len(docstring.split()) >= 8, f"{folder.parent.name} has no docstring"


def test_rooms_import_only_the_rooms_below_them():
    for name, path in _modules():
        room = _room(name)
        if room is None:
            continue
        for target in imports(path):
            other = _room(target) if target.startswith("hi_widgets.") else None
            if other is None or other == room:
                continue
            if room == "sandbox":
                assert target in SANDBOX_LEAVES, f"{name} imports {target}"
            else:
                assert other in LAYERS[room], f"{name} ({room}) imports {target} ({other})"


def _private_parts(dotted: str) -> list[str]:
    return [p for p in dotted.split(".")[1:] if p.startswith("_") and p != "_version"]


def test_no_private_module_or_name_is_imported_across_subpackages():
    for name, path in _modules():
        room = _room(name)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("hi_widgets"):
                continue
            if _room(node.module) == room:
                continue  # private inside its own room
            assert not _private_parts(node.module), f"{name} imports {node.module}"
            for alias in node.names:
                assert not alias.name.startswith("_") or alias.name == "__version__", (
                    f"{name} imports {node.module}.{alias.name}"
                )


def test_modules_are_short_enough_to_read():
    too_long = {
        name: len(path.read_text().splitlines())
        for name, path in _modules()
        if name not in LONG_DATA_MODULES and len(path.read_text().splitlines()) > MAX_LINES
    }
    assert too_long == {}


@pytest.mark.parametrize("page", ["README.md", "docs/layout.md"])
def test_the_readme_and_docs_show_every_room(page):
    text = (PACKAGE_DIR.parent / page).read_text()
    tree = text.split("```text\nhi_widgets/\n", 1)[1].split("```", 1)[0]
    shown = {line.split()[0] for line in tree.splitlines() if line.split()[:1] != [""]}
    rooms = {p.parent.name + "/" for p in PACKAGE_DIR.glob("*/__init__.py")}
    sandbox_rooms = {p.parent.name + "/" for p in PACKAGE_DIR.glob("sandbox/*/__init__.py")}
    assert rooms | sandbox_rooms <= shown, f"{page} lacks {(rooms | sandbox_rooms) - shown}"


def test_the_readme_shows_the_tree_of_the_layout_page():
    def tree(page):
        text = (PACKAGE_DIR.parent / page).read_text()
        return text.split("```text\nhi_widgets/\n", 1)[1].split("```", 1)[0]

    assert tree("README.md") == tree("docs/layout.md")
