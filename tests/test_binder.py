"""Binder configuration: repo2docker must build the same environment pyproject describes.

repo2docker reads ``binder/`` and then ignores root configuration files (pyproject.toml
included), so ``binder/requirements.txt`` repeats the runtime dependencies and
``binder/postBuild`` installs the checkout.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _by_name(requirements: list[str]) -> dict[str, Requirement]:
    parsed: dict[str, Requirement] = {}
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name not in parsed, f"{req.name} is listed twice"
        parsed[name] = req
    return parsed


def _binder_requirements() -> dict[str, Requirement]:
    lines = []
    for raw in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"pip options are not expected here: {raw!r}"
        lines.append(line)
    return _by_name(lines)


def _same(a: Requirement, b: Requirement) -> bool:
    return (a.specifier, a.extras, a.marker, a.url) == (b.specifier, b.extras, b.marker, b.url)


def test_binder_uses_requirements_txt_only():
    # environment.yml wins over requirements.txt in repo2docker: having both would
    # silently ignore the file the sync test below checks.
    for shadowing in ("environment.yml", "environment.yaml", "Pipfile", "setup.py"):
        assert not (BINDER / shadowing).exists(), f"binder/{shadowing} would shadow requirements"
    assert (BINDER / "requirements.txt").is_file()


def test_binder_installs_the_runtime_dependencies_of_pyproject():
    project = _pyproject()["project"]
    runtime = _by_name(project["dependencies"])
    binder = _binder_requirements()

    missing = sorted(set(runtime) - set(binder))
    assert not missing, f"binder/requirements.txt lacks runtime dependencies: {missing}"
    differing = {
        name: (str(runtime[name]), str(binder[name]))
        for name in runtime
        if not _same(runtime[name], binder[name])
    }
    assert not differing, f"pyproject vs binder requirement differ: {differing}"


def test_binder_installs_the_app_extra():
    app = _by_name(_pyproject()["project"]["optional-dependencies"]["app"])
    binder = _binder_requirements()
    assert {"voila", "jupyterlab"} <= set(app)
    for name, req in app.items():
        assert name in binder, f"binder/requirements.txt lacks {req} (the 'app' extra)"
        assert _same(req, binder[name]), f"{binder[name]} differs from pyproject's {req}"


def test_binder_requires_nothing_beyond_pyproject():
    project = _pyproject()["project"]
    known = set(_by_name(project["dependencies"])) | set(
        _by_name(project["optional-dependencies"]["app"])
    )
    extra = sorted(set(_binder_requirements()) - known)
    assert not extra, f"binder/requirements.txt has packages pyproject does not declare: {extra}"


def test_post_build_installs_the_checkout_and_stops_on_errors():
    post_build = BINDER / "postBuild"
    text = post_build.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] in ("#!/bin/bash", "#!/usr/bin/env bash"), "postBuild needs a bash shebang"
    assert os.name == "nt" or post_build.stat().st_mode & stat.S_IXUSR, "postBuild not executable"

    commands = [line for line in lines if line and not line.startswith("#")]
    set_lines = [line for line in commands if re.match(r"set\s+-", line)]
    assert any(re.match(r"set\s+-\w*e", line) for line in set_lines), "postBuild lacks set -e"
    # `set -e` must come before the first command that can fail.
    assert commands.index(set_lines[0]) == 0, "set -e must be the first command"

    installs = [line for line in commands if re.search(r"\bpip\s+install\b", line)]
    assert installs, "postBuild does not pip install anything"
    checkout = [line for line in installs if re.search(r"\s\.(\[[\w,]+\])?$", line)]
    assert checkout, f"postBuild must `pip install .` (the checkout), found {installs}"
    assert not any(re.search(r"\bhi[-_]widgets\b", line) for line in installs), (
        "postBuild must not install the published release from PyPI"
    )
