"""The widgets in JupyterLab 4 in a real browser (Debian's chromium driven by Playwright).

A notebook is opened in `jupyter lab` (free loopback port, token) and run as a user
would (Run > Run All Cells); the tests read what is on screen at 1280 px.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from hi_widgets import app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "hi-widgets-lab-test"
START_TIMEOUT = 120  # s until jupyter lab serves
RUN_TIMEOUT = 120_000  # ms for the kernel to start and the widgets to show
ACTION_TIMEOUT = 60_000
KEY_COLUMNS = ("versionId", "imageSetState", "imageSetWorkflowStatus", "updatedAt")

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """`jupyter lab` serving a folder with the test notebook; yields the notebook's URL."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (make browser-deps)")
    folder = tmp_path_factory.mktemp("lab")
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
    jupyter_lab = Path(sys.executable).parent / "jupyter-lab"
    log_path = folder / "lab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(jupyter_lab),
                "--no-browser",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={folder}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if not app.wait_until_serving("127.0.0.1", port, process, START_TIMEOUT):
                pytest.fail(f"jupyter lab did not serve on port {port}; see {log_path}")
            yield f"http://127.0.0.1:{port}/lab/tree/widgets.ipynb?token={TOKEN}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log_path, ARTIFACTS / "lab.log")


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _not_cut_off(locator) -> None:
    sizes = locator.evaluate("e => [e.scrollWidth, e.clientWidth, e.textContent.trim()]")
    assert sizes[0] <= sizes[1], f"cut off: {sizes}"


def test_the_widgets_read_whole_in_jupyterlab(lab):
    from playwright.sync_api import expect

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(lab, timeout=RUN_TIMEOUT)
            page.locator(".jp-Notebook").wait_for(timeout=RUN_TIMEOUT)
            expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(
                timeout=RUN_TIMEOUT
            )
            # Run each cell as a user does: select it, Shift+Enter.
            page.locator(".jp-Cell .jp-InputPrompt").first.click()
            page.keyboard.press("Shift+Enter")
            page.keyboard.press("Shift+Enter")

            explorer = page.locator(".hi-explorer")
            expect(explorer).to_be_visible(timeout=RUN_TIMEOUT)
            fetch_all = explorer.locator("button.hi-fetch-all")
            expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
            _not_cut_off(fetch_all)
            fetch_all.click()
            expect(explorer.locator(".hi-version-count")).to_have_text(
                "73 versions", timeout=ACTION_TIMEOUT
            )
            # The count is set from Python; the grid draws itself after, in the browser.
            grid = explorer.locator(".hi-versions-table")
            expect(grid.locator(".dt-scroll-body tbody tr")).to_have_count(
                73, timeout=ACTION_TIMEOUT
            )
            for name in KEY_COLUMNS:
                expect(
                    grid.locator(".dt-scroll-head thead th .dt-column-title").get_by_text(
                        name, exact=True
                    )
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
            _screenshot(page, "lab-01-explorer-grid")

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
        except Exception:
            _screenshot(page, "lab-failure")
            raise
        finally:
            browser.close()
