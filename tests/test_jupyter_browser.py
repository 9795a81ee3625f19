"""The widgets in JupyterLab 4 and Notebook 7 in a real browser (Debian's chromium, Playwright).

A notebook is opened in `jupyter lab` or `jupyter notebook` (free loopback port, token) and
run as a user would (Shift+Enter on each cell); the tests read what is on screen at 1280 px.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from axe_helpers import assert_accessible
from server_helpers import serving
from widget_helpers import timeline_bar_on_page

from hi_widgets.cli import demo_app as app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "hi-widgets-lab-test"
START_TIMEOUT = 120  # s until jupyter lab serves
RUN_TIMEOUT = 120_000  # ms for the kernel to start and the widgets to show
ACTION_TIMEOUT = 60_000
KEY_COLUMNS = ("versionId", "imageSetState", "imageSetWorkflowStatus", "updatedAt")
VERSIONS = 73  # the explorer's image set: the demo's long history
WIDGETS = [".hi-explorer", ".hi-version-browser"]  # what axe checks: ours, not Jupyter's UI
EXPLORER_TABS = ("Properties", "Versions", "Timeline", "Export", "Images")

pytestmark = pytest.mark.browser

NOTEBOOK_CELLS = [
    """\
import hi_widgets
from hi_widgets import sandbox

sb = sandbox.start(seed=0)
client = sb.client()
ds = sb.store.datastore_ids()[0]
image_set = sb.store.image_set_ids(ds)[1]
hi_widgets.ImageSetExplorer(client, datastore_id=ds, image_set_id=image_set)""",
    "hi_widgets.VersionBrowser(client, ds, image_set)",
]


@contextlib.contextmanager
def _jupyter(command: str, folder: Path, url_path: str) -> Iterator[str]:
    """Serve ``folder`` with ``jupyter-<command>`` (free loopback port, token); yield the URL."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, folder / "widgets.ipynb")
    port = app.free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        JUPYTER_CONFIG_DIR=str(folder / "config"),  # no user settings, no news pop-up
        AWS_EC2_METADATA_DISABLED="true",
    )
    log_path = folder / f"{command}.log"
    argv = [
        str(Path(sys.executable).parent / f"jupyter-{command}"),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={folder}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    try:
        with serving(argv, port, cwd=folder, env=env, log_path=log_path, timeout=START_TIMEOUT):
            yield f"http://127.0.0.1:{port}/{url_path}/widgets.ipynb?token={TOKEN}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / log_path.name)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """`jupyter lab` serving the test notebook; yields the notebook's URL."""
    with _jupyter("lab", tmp_path_factory.mktemp("lab"), "lab/tree") as url:
        yield url


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory) -> Iterator[str]:
    """Jupyter Notebook 7 (`jupyter notebook`) serving the test notebook; yields its URL."""
    with _jupyter("notebook", tmp_path_factory.mktemp("notebook7"), "notebooks") as url:
        yield url


@pytest.fixture
def page(browser):
    """A 1280 px page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


# The notebook's execution indicator reads "idle" once before the kernel is even known
# (a cell run then is dropped); the kernel is ready at the first "idle" after a starting
# state. A MutationObserver sees every status the page shows, however briefly.
WATCH_KERNEL_STATUS = """
window.__hiKernelStarted = false;
new MutationObserver((records) => {
    for (const r of records) {
        // oldValue: the status each change replaced, even when changes came in a burst
        const seen = [r.oldValue, r.target.dataset.status];
        if (r.target.classList.contains("jp-Notebook-ExecutionIndicator")
                && seen.some((status) => status && status !== "idle")) {
            window.__hiKernelStarted = true;
        }
    }
}).observe(document, {
    attributes: true, attributeFilter: ["data-status"], attributeOldValue: true, subtree: true,
});
"""
KERNEL_READY = """() => {
    const indicator = document.querySelector(".jp-Notebook-ExecutionIndicator");
    return window.__hiKernelStarted && indicator && indicator.dataset.status === "idle";
}"""


def _run_the_notebook(page, url: str):
    """Open the notebook once its kernel is idle, run both cells; return the explorer."""
    from playwright.sync_api import expect

    page.add_init_script(WATCH_KERNEL_STATUS)
    page.goto(url, timeout=RUN_TIMEOUT)
    page.wait_for_function(KERNEL_READY, timeout=RUN_TIMEOUT)
    # Run each cell as a user does: select it, Shift+Enter.
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    explorer = page.locator(".hi-explorer")
    expect(explorer).to_be_visible(timeout=RUN_TIMEOUT)
    return explorer


def _fetch_all_versions(explorer) -> None:
    """Press Fetch all versions; wait for the grid to draw every row."""
    from playwright.sync_api import expect

    fetch_all = explorer.locator("button.hi-fetch-all")
    expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
    _not_cut_off(fetch_all)
    fetch_all.click()
    expect(explorer.locator(".hi-version-count")).to_have_text(
        f"{VERSIONS} versions", timeout=ACTION_TIMEOUT
    )
    # The count is set from Python; the grid draws itself after, in the browser.
    grid = explorer.locator(".hi-grid.hi-versions-table")  # the DataTables widget, not its box
    expect(grid.locator(".dt-scroll-body tbody tr")).to_have_count(
        VERSIONS, timeout=ACTION_TIMEOUT
    )
    for name in KEY_COLUMNS:
        expect(
            grid.locator(".dt-scroll-head thead th .dt-column-title").get_by_text(name, exact=True)
        ).to_be_visible(timeout=ACTION_TIMEOUT)
    boxes = grid.evaluate(
        """(grid, keys) => {
            const out = {};
            for (const th of grid.querySelectorAll(".dt-scroll-head thead th")) {
                const t = (th.querySelector(".dt-column-title") || th).textContent.trim();
                if (keys.includes(t)) {
                    const r = th.getBoundingClientRect();
                    out[t] = [r.left, r.right];
                }
            }
            return out;
        }""",
        list(KEY_COLUMNS),
    )
    assert set(boxes) == set(KEY_COLUMNS), boxes
    assert all(left >= 0 and right <= 1280 for left, right in boxes.values()), boxes


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _not_cut_off(locator) -> None:
    sizes = locator.evaluate("e => [e.scrollWidth, e.clientWidth, e.textContent.trim()]")
    assert sizes[0] <= sizes[1], f"cut off: {sizes}"


def _timeline_fits(explorer) -> None:
    """The timeline's canvas ends inside the output area (no cut-off right side, legend)."""
    from playwright.sync_api import expect

    canvas = explorer.locator(".hi-timeline-canvas canvas").last
    expect(canvas).to_be_visible(timeout=ACTION_TIMEOUT)
    # The kernel redraws the figure at the width the output area reported: wait for it.
    explorer.page.wait_for_function(
        """(explorer) => {
            const canvas = [...explorer.querySelectorAll(".hi-timeline-canvas canvas")].pop();
            const area = explorer.getBoundingClientRect();
            const box = canvas.getBoundingClientRect();
            return box.width > 300 && box.right <= area.right + 1;
        }""",
        arg=explorer.element_handle(),
        timeout=ACTION_TIMEOUT,
    )


def test_the_widgets_read_whole_in_jupyterlab(lab, page, axe_js):
    from playwright.sync_api import expect

    try:
        explorer = _run_the_notebook(page, lab)
        assert_accessible(page, axe_js, "running the notebook in JupyterLab", include=WIDGETS)
        _fetch_all_versions(explorer)
        _screenshot(page, "lab-01-explorer-grid")
        assert_accessible(page, axe_js, "Fetch all versions in JupyterLab", include=WIDGETS)
        for title in EXPLORER_TABS:
            explorer.locator(".hi-tabs > .lm-TabBar .lm-TabBar-tab", has_text=title).click()
            if title == "Timeline":
                # The file browser is open beside the notebook: the figure fits what is left.
                expect(page.locator("#filebrowser")).to_be_visible()
                _timeline_fits(explorer)
                _screenshot(page, "lab-01b-timeline-fits")
            assert_accessible(page, axe_js, f"the {title} tab in JupyterLab", include=WIDGETS)

        explorer.locator(".lm-TabBar-tab", has_text="Export").click()
        for selector in (".hi-include-phi label, .hi-include-phi", ".hi-export-path label"):
            expect(explorer.locator(selector).first).to_be_visible(timeout=ACTION_TIMEOUT)
            _not_cut_off(explorer.locator(selector).first)
        _screenshot(page, "lab-02-explorer-export")

        browser_widget = page.locator(".hi-version-browser")
        browser_widget.scroll_into_view_if_needed()
        properties = browser_widget.locator(".hi-browser-properties")
        expect(properties).to_contain_text("arn:aws:medical-imaging", timeout=ACTION_TIMEOUT)
        _not_cut_off(properties)  # the imageSetArn wraps inside the box
        _screenshot(page, "lab-03-version-browser")
        browser_widget.locator(".lm-TabBar-tab", has_text="Metadata diff").click()
        expect(browser_widget.locator(".hi-diff-summary")).to_contain_text(
            "→", timeout=ACTION_TIMEOUT
        )
        phi_box = browser_widget.locator(".hi-include-phi").first
        expect(phi_box).to_be_visible(timeout=ACTION_TIMEOUT)
        _not_cut_off(phi_box)
        _screenshot(page, "lab-04-diff")
        assert_accessible(page, axe_js, "opening the diff in JupyterLab", include=WIDGETS)
    except Exception:
        _screenshot(page, "lab-failure")
        raise


def test_the_grid_and_the_interactive_timeline_work_in_notebook_7(notebook7, page, axe_js):
    from playwright.sync_api import expect

    from hi_widgets import sandbox
    from hi_widgets.api.queries import fetch_history

    with sandbox.start(seed=0) as same:  # the notebook's sandbox: the same seed, same data
        ds = same.store.datastore_ids()[0]
        frame = fetch_history(same.client(), ds, same.store.image_set_ids(ds)[1])
    try:
        explorer = _run_the_notebook(page, notebook7)
        assert_accessible(page, axe_js, "running the notebook in Notebook 7", include=WIDGETS)
        _fetch_all_versions(explorer)
        _screenshot(page, "notebook7-01-grid")
        assert_accessible(page, axe_js, "Fetch all versions in Notebook 7", include=WIDGETS)
        # ipympl's canvas: a hover names the version, a click picks it for the form.
        explorer.locator(".lm-TabBar-tab", has_text="Timeline").click()
        canvas = explorer.locator(".hi-timeline-canvas canvas").last
        expect(canvas).to_be_visible(timeout=ACTION_TIMEOUT)
        hover = explorer.locator(".hi-timeline-hover")
        page.mouse.move(*timeline_bar_on_page(canvas, frame, 9))
        expect(hover).to_contain_text("v9 · ACTIVE", timeout=ACTION_TIMEOUT)
        page.mouse.down()
        page.mouse.up()
        expect(explorer.locator(".hi-version select")).to_have_value("9", timeout=ACTION_TIMEOUT)
        _screenshot(page, "notebook7-02-timeline-click")
        assert_accessible(page, axe_js, "the timeline in Notebook 7", include=WIDGETS)
        browser_widget = page.locator(".hi-version-browser")
        browser_widget.scroll_into_view_if_needed()
        browser_widget.locator(".lm-TabBar-tab", has_text="Metadata diff").click()
        expect(browser_widget.locator(".hi-diff-summary")).to_contain_text(
            "→", timeout=ACTION_TIMEOUT
        )
        assert_accessible(page, axe_js, "opening the diff in Notebook 7", include=WIDGETS)
    except Exception:
        _screenshot(page, "notebook7-failure")
        raise
