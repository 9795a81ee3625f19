"""The Voila app in a real browser: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches the ``chromium`` found on PATH
(``make browser-deps`` apt-installs it). Without chromium the tests are skipped with the
reason, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from hi_widgets import app

ROOT = Path(__file__).resolve().parents[1]
APP_NOTEBOOK = ROOT / "notebooks" / "explorer-app.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60  # s until voila listens on its port
APP_RENDER_TIMEOUT = 90_000  # ms until the kernel has run the notebook and widgets show
ACTION_TIMEOUT = 60_000  # ms for one fetch to finish and show in the page
APP_SANDBOX_SEED = 0  # the seed notebooks/explorer-app.ipynb starts its sandbox with

pytestmark = pytest.mark.browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Debian chromium, launched by Playwright without any download."""
    executable = _find_chromium()
    if executable is None:
        reason = (
            "chromium is not on PATH; install it with `make browser-deps` "
            "(apt-get install chromium). Playwright never downloads a browser here."
        )
        if _in_ci():
            pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def voila_app(tmp_path) -> Iterator[str]:
    """Serve notebooks/explorer-app.ipynb with the venv's voila on a free local port."""
    voila = Path(sys.executable).parent / "voila"
    if not voila.exists():
        pytest.fail(f"voila is not installed next to {sys.executable}", pytrace=False)
    port = app.free_port("127.0.0.1")
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("AWS_") or name == "HI_WIDGETS_APP_USE_AWS":
            del env[name]
    (tmp_path / "aws-config").write_text("")
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    log_path = tmp_path / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(voila),
                str(APP_NOTEBOOK),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--Voila.port_retries=0",
                "--show_tracebacks=True",
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            if not app.wait_until_serving("127.0.0.1", port, process, SERVER_START_TIMEOUT):
                pytest.fail(f"voila did not serve on port {port}; see {log_path}", pytrace=False)
            yield url
        finally:
            app.stop_process(process)
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log_path, ARTIFACTS / "voila.log")


@pytest.fixture(scope="module")
def demo_truth() -> dict[str, object]:
    """What the app's sandbox holds: the same seed gives the same demo data everywhere."""
    from hi_widgets import sandbox

    assert f"sandbox.start(seed={APP_SANDBOX_SEED})" in APP_NOTEBOOK.read_text(encoding="utf-8")
    sb = sandbox.start(seed=APP_SANDBOX_SEED)
    try:
        datastore_id = sb.store.datastore_ids()[0]
        counts = {
            image_set_id: len(sb.store.versions(datastore_id, image_set_id))
            for image_set_id in sb.store.image_set_ids(datastore_id)
        }
    finally:
        sb.stop()
    image_set_id = max(counts, key=counts.__getitem__)
    assert counts[image_set_id] > 50, counts
    return {
        "datastore_id": datastore_id,
        "image_set_id": image_set_id,
        "versions": counts[image_set_id],
    }


def test_chromium_launches_and_renders(page):
    page.set_content("<main><h1 class='probe'>hi_widgets</h1></main>")
    assert page.inner_text(".probe") == "hi_widgets"


def _table_version_ids(page) -> list[int]:
    """versionId of every row in the versions table, read from the DOM."""
    return page.evaluate(
        """() => {
            const table = document.querySelector(".hi-versions-table table");
            const heads = [...table.querySelectorAll("thead th")].map(th => th.textContent.trim());
            const col = heads.indexOf("versionId");
            if (col < 0) { throw new Error("no versionId column in " + heads.join(",")); }
            return [...table.querySelectorAll("tbody tr")].map(
                tr => parseInt(tr.children[col].textContent.trim(), 10));
        }"""
    )


def _status_text(page) -> str:
    return page.locator(".hi-status").inner_text().strip()


def test_explorer_fetches_every_version_and_keeps_results_on_error(voila_app, page, demo_truth):
    from playwright.sync_api import expect

    datastore_id = demo_truth["datastore_id"]
    image_set_id = demo_truth["image_set_id"]
    n_versions = demo_truth["versions"]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    try:
        page.goto(voila_app, timeout=APP_RENDER_TIMEOUT)
        # Voila renders cell outputs as the kernel runs them: stop at the first of the
        # explorer or an error output instead of waiting out the timeout on a traceback.
        explorer = page.locator(".hi-explorer")
        error_output = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
        explorer.or_(error_output).first.wait_for(timeout=APP_RENDER_TIMEOUT)
        if error_output.count():
            pytest.fail(f"the app notebook failed:\n{error_output.first.inner_text()}")
        expect(explorer).to_be_visible()

        # The kernel lists the sandbox's datastores into the dropdown in the background.
        datastore = page.locator(".hi-explorer .hi-datastore select")
        option = datastore.locator("option", has_text=datastore_id)
        expect(option).to_have_count(1, timeout=ACTION_TIMEOUT)
        datastore.select_option(label=option.inner_text())
        _screenshot(page, "01-app-rendered")

        page.locator(".hi-explorer .hi-image-set input").fill(image_set_id)
        fetch_all = page.locator(".hi-explorer button.hi-fetch-all")
        expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
        fetch_all.click()

        count = page.locator(".hi-explorer .hi-version-count")
        expect(count).to_have_text(f"{n_versions} versions", timeout=ACTION_TIMEOUT)
        expect(page.locator(".hi-status")).to_contain_text(
            f"{n_versions} versions", timeout=ACTION_TIMEOUT
        )
        # The table is paged: show every row, then check each version is there once.
        page.locator(".hi-explorer .hi-page-size select").select_option(label="All")
        rows = page.locator(".hi-explorer .hi-versions-table tbody tr")
        expect(rows).to_have_count(n_versions, timeout=ACTION_TIMEOUT)
        assert sorted(_table_version_ids(page)) == list(range(1, n_versions + 1))
        _screenshot(page, "02-all-versions")

        page.locator(".hi-explorer .lm-TabBar-tab", has_text="Timeline").click()
        timeline = page.locator(".hi-explorer img.hi-timeline")
        expect(timeline).to_be_visible(timeout=ACTION_TIMEOUT)
        page.wait_for_function(
            """() => {
                const img = document.querySelector(".hi-explorer img.hi-timeline");
                return img && img.getAttribute("src") && img.complete && img.naturalWidth > 0;
            }""",
            timeout=ACTION_TIMEOUT,
        )
        size = timeline.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size[0] > 200 and size[1] > 100, size
        _screenshot(page, "03-timeline")

        # A malformed id: the form says why next to the field, nothing is sent, and the
        # fetched history stays on screen.
        page.locator(".hi-explorer .hi-image-set input").fill("not-an-image-set-id")
        message = page.locator(".hi-explorer .hi-image-set-message")
        expect(message).to_contain_text("imageSetId", timeout=ACTION_TIMEOUT)
        expect(fetch_all).to_be_disabled(timeout=ACTION_TIMEOUT)
        expect(count).to_have_text(f"{n_versions} versions")
        _screenshot(page, "04-invalid-id")

        # A well-formed id that does not exist: the service error is shown in the status
        # area, and the previous results are still all there.
        page.locator(".hi-explorer .hi-image-set input").fill("0" * 32)
        expect(message).to_have_text("", timeout=ACTION_TIMEOUT)
        expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
        fetch_all.click()
        expect(page.locator(".hi-status")).to_contain_text(
            "not found", ignore_case=True, timeout=ACTION_TIMEOUT
        )
        page.locator(".hi-explorer .lm-TabBar-tab", has_text="Versions").click()
        expect(count).to_have_text(f"{n_versions} versions")
        expect(rows).to_have_count(n_versions)
        assert sorted(_table_version_ids(page)) == list(range(1, n_versions + 1))
        _screenshot(page, "05-not-found-keeps-results")
    except Exception:
        _screenshot(page, "failure")
        raise
    assert not errors, f"JavaScript errors in the page: {errors}"
