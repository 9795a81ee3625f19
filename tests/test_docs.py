"""The documentation site: generated from the code, built offline, working in a browser.

The fast tests run the generators in docs/_ext directly. The slow ones need a built site:
``make test`` builds it first (``make docs``) and passes its folder in
``HI_WIDGETS_DOCS_HTML``; without that variable the session builds one itself with the
same command (-W --keep-going -n: a warning fails it), notebooks executed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hi_widgets
from hi_widgets import sandbox
from hi_widgets.cli import demo_app as app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ARTIFACTS = ROOT / "test-artifacts"
BUILD_TIMEOUT = 900  # s: the build runs every notebook
PAGE_TIMEOUT = 30_000  # ms

sys.path.insert(0, str(DOCS / "_ext"))
import api_reference  # noqa: E402
import docstring_check  # noqa: E402
import generated_pages  # noqa: E402


def _every_public_name() -> set[str]:
    names = {f"hi_widgets.{name}" for name in hi_widgets.__all__}
    return names | {f"hi_widgets.sandbox.{name}" for name in sandbox.__all__}


def _listed(rst: str) -> list[str]:
    """The names in the autosummary lists of a generated reference page, fully qualified."""
    names, module, in_list = [], None, False
    for line in rst.splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith(".. autosummary::"):
            in_list = True
        elif in_list and line.startswith("   ") and not line.strip().startswith(":"):
            names.append(f"{module}.{line.strip()}")
        elif in_list and line and not line.startswith(" "):
            in_list = False
    return names


# ------------------------------------------------------------------ generated from code


def test_every_public_name_is_in_the_generated_reference(tmp_path):
    groups = api_reference.generate(tmp_path)
    listed = [name for page in tmp_path.glob("*.rst") for name in _listed(page.read_text())]
    assert set(listed) >= _every_public_name()
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert "other" not in groups, f"names in no group: {groups.get('other')}"
    assert {name for names in groups.values() for name in names} == set(listed)


def test_reference_groups_follow_the_architecture(tmp_path):
    groups = api_reference.generate(tmp_path)
    assert "hi_widgets.fetch_versions" in groups["bulk"]
    assert "hi_widgets.get_image_set" in groups["data-layer"]
    assert "hi_widgets.export_frame" in groups["export"]
    assert "hi_widgets.plot_version_timeline" in groups["plots-and-images"]
    assert "hi_widgets.fetch_changes" in groups["changes"]
    assert "hi_widgets.ImageSetExplorer" in groups["widgets"]
    assert set(groups["sandbox"]) == {f"hi_widgets.sandbox.{n}" for n in sandbox.__all__}
    assert "hi_widgets.cli.main.main" in groups["cli"]


def test_cli_page_has_every_command_and_option():
    from hi_widgets.cli.main import build_parser

    page = generated_pages.cli_fragment()
    for name, _, sub in generated_pages._subcommands(build_parser()):
        assert f"## `hi-widgets {name}`" in page
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:  # removed options that only explain why
                continue
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in page, (name, flag)
    assert page.count("**Exit status:**") == len(generated_pages._subcommands(build_parser()))


def test_quota_table_is_the_published_one():
    from hi_widgets.limits.quotas import PUBLISHED_QUOTAS

    table = generated_pages.quotas_fragment()
    for operation, quota in PUBLISHED_QUOTAS.items():
        assert f"| `{operation}` | {quota.rate:g} | {quota.burst:g} |" in table


def test_errors_page_shows_every_exception_with_its_real_message():
    from hi_widgets.api import errors

    page = generated_pages.errors_fragment()
    classes = generated_pages.error_classes()
    assert errors.ThrottlingError in classes and errors.InvalidIdentifierError in classes
    for cls in classes:
        assert f"`~hi_widgets.{cls.__name__}`" in page
        assert cls.__name__ in hi_widgets.__all__, f"{cls.__name__} is not public"
    throttled = generated_pages._example_error(errors.ThrottlingError)
    assert isinstance(throttled, errors.ThrottlingError)
    assert str(throttled) in page
    assert "(HTTP 429)" in page
    assert ">>>" not in page and "--------" not in page, "docstring sections leaked"


def test_phi_page_lists_every_row_of_the_table_with_what_an_export_does():
    from hi_widgets.export.deid import PROFILE

    table = generated_pages.deid_fragment()
    for row in PROFILE.values():
        assert f"| `{row.tag}` | {row.keyword} | `{row.action}` |" in table, row
    assert "| StudyInstanceUID | `U` | replaced (keyed hash) |" in table
    assert "| StudyDate | `Z` | removed (kept with `keep_dates=True`) |" in table
    assert "| PatientBirthDate | `Z` | removed |" in table
    assert "_generated/phi-table.md" in (DOCS / "phi.md").read_text(encoding="utf-8")


def test_public_api_documents_every_parameter_and_what_it_returns():
    # numpydoc's PR01/PR02/RT01 on hi_widgets.__all__ (what `make lint` runs).
    assert list(docstring_check.public_routines()), "no public routine found"
    assert docstring_check.problems() == []


def test_every_public_function_and_class_has_an_example_that_runs():
    # Examples in docstrings run as doctests (conftest.py); constants have no __doc__ of
    # their own for doctest to find, so only functions and classes are held to this.
    import inspect

    from hi_widgets.cli import main as cli

    public = [(hi_widgets, hi_widgets.__all__), (sandbox, sandbox.__all__)]
    public.append((cli, ["main", "build_parser"]))
    missing = [
        f"{module.__name__}.{name}"
        for module, names in public
        for name in names
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isroutine(obj))
        and "\n    Examples\n    --------\n" not in (obj.__doc__ or "")
    ]
    assert not missing, missing


# -------------------------------------------------------------------------- built site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The built HTML: ``HI_WIDGETS_DOCS_HTML`` (made by ``make docs``), or a fresh build."""
    given = os.environ.get("HI_WIDGETS_DOCS_HTML")
    if given:
        html = Path(given).resolve()
        assert (html / "index.html").is_file(), f"HI_WIDGETS_DOCS_HTML={given} has no index"
        return html
    html = tmp_path_factory.mktemp("docs") / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-q"]
    command += ["-b", "html", str(DOCS), str(html)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout}\n{done.stderr}"
    return html


@pytest.mark.slow
def test_every_public_name_has_a_page(built_site):
    missing = [
        name
        for name in sorted(_every_public_name())
        if not (built_site / "api" / "generated" / f"{name}.html").is_file()
    ]
    assert not missing, missing


@pytest.mark.slow
def test_every_notebook_is_in_the_gallery_with_outputs(built_site):
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = (built_site / "gallery" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert "cell_output" in page, f"{notebook.name} rendered without outputs"
        assert "Traceback" not in page, f"{notebook.name} shows a traceback"
    plots = (built_site / "gallery" / "02-version-history.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="../_images/', plots)) >= 3


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def site_url(built_site):
    """The built site served by ``python -m http.server`` on a free loopback port."""
    port = app.free_port("127.0.0.1")
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=built_site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert app.wait_until_serving("127.0.0.1", port, process, 30), "http.server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        app.stop_process(process)


@pytest.fixture
def page(browser, site_url):
    """A page that may load only from the local site; anything else is recorded and refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.outside_requests = []

    def only_local(route):
        if route.request.url.startswith(site_url):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    try:
        yield page
    finally:
        context.close()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"docs-{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.slow
def test_index_and_api_page_in_the_browser(page, site_url):
    page.goto(f"{site_url}/index.html", timeout=PAGE_TIMEOUT)
    assert "hi_widgets" in page.title()
    nav = page.locator("nav a").all_inner_texts()
    for title in ("Getting started", "The sandbox", "Errors", "API reference"):
        assert any(title in text for text in nav), (title, nav)
    _screenshot(page, "index")

    page.goto(f"{site_url}/api/generated/hi_widgets.fetch_versions.html", timeout=PAGE_TIMEOUT)
    signature = page.locator("dt.sig[id='hi_widgets.fetch_versions']")
    assert signature.count() == 1
    assert "fetch_versions" in signature.inner_text()
    assert page.locator("dl.field-list").count() >= 1  # the numpydoc Parameters
    _screenshot(page, "api-fetch_versions")
    assert page.outside_requests == [], "the site loads resources from outside"


GALLERY_PAGES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
def test_gallery_pages_embed_no_widget_state(built_site):
    # The state once held bundled JavaScript whose "<!--" hid the whole article.
    for name in GALLERY_PAGES:
        html = (built_site / "gallery" / f"{name}.html").read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget-state+json" not in html, name


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", GALLERY_PAGES)
def test_every_gallery_page_shows_its_article_and_images(page, site_url, name):
    page.goto(f"{site_url}/gallery/{name}.html", timeout=PAGE_TIMEOUT)
    page.wait_for_load_state("load")
    article = page.locator("article.bd-article")
    assert article.is_visible()
    heading = article.locator("h1").first
    assert heading.is_visible() and heading.inner_text().strip(), name
    # Code cells and their outputs are rendered as visible text, not swallowed as script.
    assert article.locator("div.cell").first.is_visible()
    assert len(article.inner_text()) > 500, name
    images = page.evaluate(
        """() => [...document.querySelectorAll("article img")]
                  .map(img => img.complete ? img.naturalWidth : 0)"""
    )
    assert all(width > 0 for width in images), (name, images)
    assert page.outside_requests == [], "the site loads resources from outside"


@pytest.mark.browser
@pytest.mark.slow
def test_gallery_images_load_in_the_browser(page, site_url):
    page.goto(f"{site_url}/gallery/02-version-history.html", timeout=PAGE_TIMEOUT)
    page.wait_for_load_state("load")
    widths = page.evaluate(
        """() => [...document.querySelectorAll("div.cell_output img")]
                  .map(img => img.complete ? img.naturalWidth : 0)"""
    )
    assert len(widths) >= 3, widths  # the timeline, the state counts, the activity plot
    assert all(width > 0 for width in widths), widths
    _screenshot(page, "gallery-version-history")
    assert page.outside_requests == [], "the site loads resources from outside"
