"""The API reference, generated from ``hi_widgets.__all__`` and ``hi_widgets.sandbox.__all__``.

At ``config-inited`` (before autosummary looks for its lists) this writes ``docs/api/``: one
page per architectural group, with one autosummary list per module a public name comes
from, so the reference follows the package's layout without anyone editing a list. A name
whose module belongs to no group lands under "Other" with a warning (an error under
``-W``): put the module in :data:`GROUPS`.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

API_DIR = "api"


@dataclass(frozen=True)
class Group:
    """One page of the reference: a layer of the architecture and the modules in it."""

    slug: str
    title: str
    intro: str
    modules: tuple[str, ...]  # first component below hi_widgets (``bulk`` holds bulk._pool)


GROUPS = (
    Group(
        "data-layer",
        "Data layer",
        "Clients, identifiers, errors and the single calls: one image set, its versions, "
        "its metadata, a search; records as typed pandas DataFrames. Everything above is "
        "built on these.",
        ("_version", "api", "limits"),
    ),
    Group(
        "changes",
        "Change log",
        "What each version changed: metadata diffs and the change log across versions.",
        ("changes",),
    ),
    Group(
        "plots-and-images",
        "Plots and images",
        "DataFrames become matplotlib Axes; image frames are fetched, decoded and shown.",
        ("plots", "images"),
    ),
    Group(
        "export",
        "Export and de-identification",
        "DataFrames to files and datasets: atomic writes, de-identified by DICOM PS3.15 "
        "Annex E unless PHI is asked for (see :doc:`/phi`).",
        ("export",),
    ),
    Group(
        "bulk",
        "Bulk",
        "Many image sets at the account's request quotas, with progress, retries, "
        "cancellation and per-item errors (see :doc:`/quotas`).",
        ("bulk",),
    ),
    Group(
        "widgets",
        "Widgets",
        "ipywidgets front ends. Each action is one call into the layers below, so a "
        "notebook can do the same with plain function calls.",
        ("widgets",),
    ),
    Group(
        "sandbox",
        "Sandbox",
        "The local HealthImaging-compatible server (``hi_widgets.sandbox.__all__``); "
        "see :doc:`/sandbox`.",
        ("sandbox",),
    ),
    Group(
        "cli",
        "Command line",
        "The ``hi-widgets`` command's entry points and the demo app; every command and "
        "option is on :doc:`/cli`.",
        ("cli",),
    ),
)
OTHER = Group("other", "Other", "Public names whose module is in no group yet.", ())

# Not in an ``__all__``, but the command line is part of the public surface.
CLI_NAMES = ("hi_widgets.cli.main.main", "hi_widgets.cli.main.build_parser")


@dataclass(frozen=True)
class PublicName:
    """A documented name: where users find it and the module that defines it."""

    fullname: str  # hi_widgets.fetch_versions
    module: str  # the module it is exported from: hi_widgets.bulk

    @property
    def package(self) -> str:
        return self.fullname.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.fullname.rpartition(".")[2]


def _exported(package: str) -> list[PublicName]:
    """The names of ``package.__all__`` with the module each is exported from."""
    module = importlib.import_module(package)
    exports = getattr(module, "_EXPORTS", {})
    names = []
    for name in module.__all__:
        if name == "__version__":
            source = f"{package}._version"
        elif name in exports:
            source = f"{package}.{exports[name]}"
        else:
            source = getattr(getattr(module, name), "__module__", package)
        names.append(PublicName(f"{package}.{name}", source))
    return names


def public_names() -> list[PublicName]:
    """Every documented name: both ``__all__`` lists and the CLI's entry points."""
    names = _exported("hi_widgets") + _exported("hi_widgets.sandbox")
    return names + [PublicName(name, "hi_widgets.cli.main") for name in CLI_NAMES]


def group_of(name: PublicName) -> Group:
    """The group of the module ``name`` comes from (:data:`OTHER` if none claims it)."""
    if name.package == "hi_widgets.sandbox":
        return next(group for group in GROUPS if group.slug == "sandbox")
    top = name.module.removeprefix("hi_widgets.").split(".")[0]
    return next((group for group in GROUPS if top in group.modules), OTHER)


def _display_module(module: str) -> str:
    """``hi_widgets.bulk._fetch`` -> ``hi_widgets.bulk``: the module a user would import."""
    parts = module.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    return ".".join(parts)


def _summary(module: str) -> str:
    doc = inspect.getdoc(importlib.import_module(module)) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def render_group(group: Group, names: list[PublicName]) -> str:
    """The reST source of one group's page."""
    out = [
        ".. This file is generated by docs/_ext/api_reference.py; do not edit.\n",
        _heading(group.title, "="),
        group.intro + "\n",
    ]
    by_module: dict[str, list[PublicName]] = {}
    for name in names:
        by_module.setdefault(_display_module(name.module), []).append(name)
    for module, members in by_module.items():
        # ``hi_widgets._version`` is the package's own attribute, not a module to import.
        shown = "hi_widgets" if module == "hi_widgets._version" else module
        out.append(_heading(f"``{shown}``", "-"))
        if shown != "hi_widgets":
            out.append(f".. py:module:: {shown}\n")
            summary = _summary(module)
            if summary:
                out.append(summary + "\n")
        out.append(f".. currentmodule:: {members[0].package}\n")
        out.append(".. autosummary::\n   :toctree: generated\n   :nosignatures:\n")
        out.extend(f"   {member.name}" for member in members)
        out.append("")
    return "\n".join(out) + "\n"


def render_index(groups: list[Group]) -> str:
    """The reST source of the reference's index page."""
    lines = [
        ".. This file is generated by docs/_ext/api_reference.py; do not edit.\n",
        _heading("API reference", "="),
        "Every public name of ``hi_widgets`` (``hi_widgets.__all__``) and of the sandbox "
        "(``hi_widgets.sandbox.__all__``), grouped by layer, from the bottom up. Import "
        "them from the package (``import hi_widgets as hw; hw.fetch_versions``); the module "
        "beside each list is where the name is defined.\n",
        "The examples run as doctests against a local sandbox (``make test``). Each "
        "assumes ``import hi_widgets as hw``, ``sb = sandbox.start(seed=0)`` (``from hi_widgets "
        "import sandbox``), "
        "``client = sb.client()``, ``datastore_id`` the first demo datastore and "
        "``image_set_id`` its image set with 73 versions (see ``conftest.py``).\n",
        ".. toctree::\n   :maxdepth: 2\n",
    ]
    lines.extend(f"   {group.slug}" for group in groups)
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (Sphinx then sees no change)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(outdir: Path) -> dict[str, list[str]]:
    """Write the reference's pages into ``outdir``; return group slug -> full names."""
    outdir.mkdir(parents=True, exist_ok=True)
    grouped: dict[Group, list[PublicName]] = {}
    for name in public_names():
        group = group_of(name)
        if group is OTHER:
            logger.warning(
                "API reference: %s comes from %s, which no group in "
                "docs/_ext/api_reference.py:GROUPS claims",
                name.fullname,
                name.module,
            )
        grouped.setdefault(group, []).append(name)
    groups = [group for group in (*GROUPS, OTHER) if group in grouped]
    # Pages autosummary wrote for names that are gone (a rename) would fail the build.
    current = {f"{name.fullname}.rst" for names in grouped.values() for name in names}
    for stale in (outdir / "generated").glob("*.rst"):
        if stale.name not in current:
            stale.unlink()
    stale_groups = {p.name for p in outdir.glob("*.rst")} - {f"{g.slug}.rst" for g in groups}
    for name in stale_groups - {"index.rst"}:
        (outdir / name).unlink()
    for group in groups:
        write_if_changed(outdir / f"{group.slug}.rst", render_group(group, grouped[group]))
    write_if_changed(outdir / "index.rst", render_index(groups))
    return {group.slug: [name.fullname for name in grouped[group]] for group in groups}


def _on_config_inited(app: Sphinx, config) -> None:
    generate(Path(app.srcdir) / API_DIR)


def setup(app: Sphinx) -> dict:
    """Register the generator."""
    app.connect("config-inited", _on_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
