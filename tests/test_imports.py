"""Start-up: the sandbox and the CLI's argument parsing load no heavy library; no import cycles."""

from __future__ import annotations

import subprocess
import sys

import pytest
from import_graph import find_cycle, package_graph

import hi_widgets

HEAVY = ("pandas", "matplotlib", "ipywidgets", "pyarrow")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "code",
    [
        "import hi_widgets",
        "import hi_widgets.sandbox",
        "from hi_widgets.cli.main import build_parser; build_parser().parse_args(['sandbox'])",
    ],
)
def test_light_entry_points_do_not_import_heavy_libraries(code):
    assert _loaded_after(code) == set()


def test_every_public_name_resolves_and_all_lists_exactly_the_exports():
    assert set(hi_widgets.__all__) == {*hi_widgets._EXPORTS, "__version__"}
    for name in hi_widgets.__all__:
        assert getattr(hi_widgets, name) is not None
    assert set(hi_widgets.__all__) <= set(dir(hi_widgets))


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        hi_widgets.no_such_name  # noqa: B018


def test_no_import_cycles_between_modules_of_the_package():
    # Function-level imports count too: a deferred import that reaches back up a layer
    # is still a cycle in the design (data flows down), only hidden until it runs.
    assert find_cycle(package_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_resolves_relative_and_from_package_imports():
    graph = package_graph()
    assert "hi_widgets.cli.versions" in graph["hi_widgets.cli.main"]
    assert "hi_widgets.sandbox.command" in graph["hi_widgets.cli.main"]
    assert {"hi_widgets.limits.quotas", "hi_widgets.api.model"} <= {
        m
        for name, targets in graph.items()
        if name.startswith("hi_widgets.sandbox")
        for m in targets
    }
