"""The Voila app in a real browser: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches the ``chromium`` found on PATH
(``make browser-deps`` apt-installs it). Without chromium the tests are skipped with the
reason, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from widget_helpers import timeline_bar_on_page

from hi_widgets.api.queries import fetch_history

ROOT = Path(__file__).resolve().parents[1]
APP_NOTEBOOK = ROOT / "notebooks" / "explorer-app.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
APP_RENDER_TIMEOUT = 90_000  # ms until the kernel has run the notebook and widgets show
ACTION_TIMEOUT = 60_000  # ms for one fetch to finish and show in the page
APP_SANDBOX_SEED = 0  # the seed notebooks/explorer-app.ipynb starts its sandbox with

pytestmark = pytest.mark.browser


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


@pytest.fixture(scope="module")
def demo_truth() -> dict[str, object]:
    """What the app's sandbox holds: the same seed gives the same demo data everywhere."""
    from hi_widgets import sandbox

    assert f"sandbox.start(seed={APP_SANDBOX_SEED}," in APP_NOTEBOOK.read_text(encoding="utf-8")
    sb = sandbox.start(seed=APP_SANDBOX_SEED)
    try:
        datastore_id = sb.store.datastore_ids()[0]
        counts = {
            image_set_id: len(sb.store.versions(datastore_id, image_set_id))
            for image_set_id in sb.store.image_set_ids(datastore_id)
        }
        image_set_id = max(counts, key=counts.__getitem__)
        frame = fetch_history(sb.client(), datastore_id, image_set_id)
    finally:
        sb.stop()
    assert counts[image_set_id] > 50, counts
    return {
        "datastore_id": datastore_id,
        "image_set_id": image_set_id,
        "versions": counts[image_set_id],
        "frame": frame,
    }


def test_chromium_launches_and_renders(page):
    page.set_content("<main><h1 class='probe'>hi_widgets</h1></main>")
    assert page.inner_text(".probe") == "hi_widgets"


VIEWPORT = {"width": 1280, "height": 900}
KEY_COLUMNS = ("versionId", "imageSetState", "imageSetWorkflowStatus", "updatedAt")
GRID_ROWS = ".hi-explorer .hi-versions-table .dt-scroll-body tbody tr"


def _table_version_ids(page) -> list[int]:
    """versionId of every row in the explorer's versions grid, read from the DOM."""
    return page.evaluate(
        """() => {
            const grid = document.querySelector(".hi-explorer .hi-versions-table");
            const heads = [...grid.querySelectorAll(".dt-scroll-head thead th")].map(
                th => (th.querySelector(".dt-column-title") || th).textContent.trim());
            const col = heads.indexOf("versionId");
            if (col < 0) { throw new Error("no versionId column in " + heads.join(",")); }
            return [...grid.querySelectorAll(".dt-scroll-body tbody tr")].map(
                tr => parseInt(tr.children[col].textContent.trim(), 10));
        }"""
    )


def _column_texts(page, name: str) -> list[str]:
    """The cells of one column of the explorer's versions grid, in the order shown."""
    return page.evaluate(
        """(name) => {
            const grid = document.querySelector(".hi-explorer .hi-versions-table");
            const heads = [...grid.querySelectorAll(".dt-scroll-head thead th")].map(
                th => (th.querySelector(".dt-column-title") || th).textContent.trim());
            const col = heads.indexOf(name);
            return [...grid.querySelectorAll(".dt-scroll-body tbody tr")].map(
                tr => tr.children[col].textContent.trim());
        }""",
        name,
    )


def _seconds(text: str) -> float:
    """Read back a time difference as the grid writes it (``2 h 5 min``, ``4.2 s``)."""
    units = {"d": 86_400, "h": 3_600, "min": 60, "s": 1}
    parts = text.split()
    return sum(float(n) * units[unit] for n, unit in zip(parts[::2], parts[1::2], strict=True))


def _key_column_boxes(page) -> dict[str, dict]:
    """Bounding boxes of the key columns' header cells in the explorer's grid."""
    return page.evaluate(
        """(keys) => {
            const grid = document.querySelector(".hi-explorer .hi-versions-table");
            const out = {};
            for (const th of grid.querySelectorAll(".dt-scroll-head thead th")) {
                const name = (th.querySelector(".dt-column-title") || th).textContent.trim();
                if (keys.includes(name)) {
                    const r = th.getBoundingClientRect();
                    out[name] = {left: r.left, right: r.right, width: r.width};
                }
            }
            return out;
        }""",
        list(KEY_COLUMNS),
    )


def _status_text(page) -> str:
    return page.locator(".hi-explorer .hi-status").inner_text().strip()


def test_explorer_browser_and_batch_in_the_voila_app(voila_app, browser, demo_truth):
    from playwright.sync_api import expect

    image_set_id = demo_truth["image_set_id"]
    n_versions = demo_truth["versions"]
    errors: list[str] = []
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # DataTables reports bad cell data in an alert(); Playwright would dismiss it silently.
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))

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
        for title in ("Explorer", "Version browser", "Batch fetch"):
            expect(page.locator(".hi-app .lm-TabBar-tab", has_text=title)).to_have_count(1)
        image_set = page.locator(".hi-explorer .hi-image-set input")
        expect(image_set).to_have_value(image_set_id, timeout=ACTION_TIMEOUT)
        fetch_all = page.locator(".hi-explorer button.hi-fetch-all")
        expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
        label = fetch_all.evaluate("b => [b.scrollWidth, b.clientWidth]")
        assert label[0] <= label[1], f"the button's label is cut off: {label}"
        _screenshot(page, "01-app-rendered")
        fetch_all.click()

        count = page.locator(".hi-explorer .hi-version-count")
        expect(count).to_have_text(f"{n_versions} versions", timeout=ACTION_TIMEOUT)
        expect(page.locator(".hi-explorer .hi-status")).to_contain_text(
            f"{n_versions} versions", timeout=ACTION_TIMEOUT
        )
        rows = page.locator(GRID_ROWS)
        expect(rows).to_have_count(n_versions, timeout=ACTION_TIMEOUT)
        assert sorted(_table_version_ids(page)) == list(range(1, n_versions + 1))
        # Every key column is on screen at 1280 px without scrolling sideways.
        boxes = _key_column_boxes(page)
        assert set(boxes) == set(KEY_COLUMNS), boxes
        for name, box in boxes.items():
            assert box["width"] > 20 and box["left"] >= 0 and box["right"] <= 1280, (name, box)
        # The rows scroll inside the grid: the page stays put and the header stays in view.
        body = page.locator(".hi-explorer .hi-versions-table .dt-scroll-body")
        sizes = body.evaluate("b => [b.scrollHeight, b.clientHeight]")
        assert sizes[0] > sizes[1], sizes
        page_y = page.evaluate("() => window.scrollY")
        inside = body.evaluate(
            """b => {
                const head = b.parentElement.querySelector(".dt-scroll-head");
                const headBefore = head.getBoundingClientRect().top;
                b.scrollTop = b.scrollHeight;
                const last = b.querySelector("tbody tr:last-child").getBoundingClientRect();
                const box = b.getBoundingClientRect();
                return {
                    scrolled: b.scrollTop > 0,
                    lastShown: last.bottom <= box.bottom + 1 && last.top >= box.top - 1,
                    headStill: Math.abs(head.getBoundingClientRect().top - headBefore) < 1,
                };
            }"""
        )
        assert inside == {"scrolled": True, "lastShown": True, "headStill": True}, inside
        assert page.evaluate("() => window.scrollY") == page_y
        _screenshot(page, "02-all-versions-grid")
        # Sorting by the time since the previous version orders by length ("4.2 s" before
        # "1 min 46 s"), not as text. (No "duration" column: AWS does not give one.)
        since_head = page.locator(
            ".hi-explorer .hi-versions-table .dt-scroll-head th", has_text="sincePrevious"
        )
        since_head.locator("button.dtcc-button_order").click()
        expect(since_head).to_have_class(re.compile(r"dt-ordering-asc"), timeout=ACTION_TIMEOUT)
        gaps = [_seconds(text) for text in _column_texts(page, "sincePrevious") if text]
        assert len(gaps) > 10 and gaps == sorted(gaps), gaps

        # The timeline: a hover names a version, a click picks it for the form.
        page.locator(".hi-explorer .lm-TabBar-tab", has_text="Timeline").click()
        canvas = page.locator(".hi-explorer .hi-timeline-canvas canvas").last
        expect(canvas).to_be_visible(timeout=ACTION_TIMEOUT)
        hover = page.locator(".hi-explorer .hi-timeline-hover")
        page.mouse.move(*timeline_bar_on_page(canvas, demo_truth["frame"], 12))
        expect(hover).to_contain_text("v12 · ACTIVE", timeout=ACTION_TIMEOUT)
        expect(hover).to_contain_text("created 20")
        _screenshot(page, "03-timeline-hover")
        page.mouse.move(*timeline_bar_on_page(canvas, demo_truth["frame"], 20))
        expect(hover).to_contain_text("v20 ·", timeout=ACTION_TIMEOUT)
        page.mouse.down()
        page.mouse.up()
        expect(page.locator(".hi-explorer .hi-version select")).to_have_value(
            "20", timeout=ACTION_TIMEOUT
        )
        _screenshot(page, "04-timeline-click")

        # A well-formed id that does not exist: the error is shown, the fetched history
        # stays (marked as earlier), and the Export tab offers no stale download.
        image_set.fill("0" * 32)
        expect(fetch_all).to_be_enabled(timeout=ACTION_TIMEOUT)
        fetch_all.click()
        expect(page.locator(".hi-explorer .hi-status")).to_contain_text(
            "not found", ignore_case=True, timeout=ACTION_TIMEOUT
        )
        page.locator(".hi-explorer .lm-TabBar-tab", has_text="Versions").click()
        expect(count).to_have_text(f"{n_versions} versions")
        expect(page.locator(".hi-explorer .hi-versions-table .hi-grid-note")).to_contain_text(
            "failed"
        )
        page.locator(".hi-explorer .lm-TabBar-tab", has_text="Export").click()
        export = page.locator(".hi-explorer .hi-versions-export")
        expect(export.locator(".hi-download")).to_contain_text("failed")
        expect(export.locator("button.hi-download-button")).to_be_disabled()
        _screenshot(page, "05-not-found-no-stale-download")

        # Search by creation date; picking a row of the results grid fills the form.
        page.locator(".hi-explorer button.hi-search-toggle").click()
        page.locator(".hi-explorer .hi-search-from input").fill("2000-01-01")
        page.locator(".hi-explorer button.hi-search-button").click()
        results = page.locator(".hi-explorer .hi-search-results .dt-scroll-body tbody tr")
        expect(results.nth(1)).to_be_visible(timeout=ACTION_TIMEOUT)
        picked = results.nth(1).locator("td").first.inner_text().strip()
        results.nth(1).locator("td").first.click()
        expect(image_set).to_have_value(picked, timeout=ACTION_TIMEOUT)
        _screenshot(page, "06-search-picked")

        # The version browser with its diff, on its own tab.
        page.locator(".hi-app .lm-TabBar-tab", has_text="Version browser").click()
        browser_widget = page.locator(".hi-version-browser")
        expect(browser_widget).to_be_visible(timeout=ACTION_TIMEOUT)
        expect(browser_widget.locator(".hi-browser-properties")).to_contain_text(
            "arn:aws:medical-imaging", timeout=ACTION_TIMEOUT
        )
        _screenshot(page, "07-version-browser")
        browser_widget.locator(".lm-TabBar-tab", has_text="Metadata diff").click()
        summary = browser_widget.locator(".hi-diff-summary")
        expect(summary).to_contain_text("→", timeout=ACTION_TIMEOUT)
        expect(
            browser_widget.locator(".hi-diff-table .dt-scroll-body tbody tr").first
        ).to_be_visible()
        _screenshot(page, "08-metadata-diff")

        # The change log, and a look at the images (real HTJ2K frames, decoded).
        browser_widget.locator(".lm-TabBar-tab", has_text="Changes").click()
        expect(browser_widget.locator(".hi-changes-summary")).to_contain_text(
            f"{n_versions} versions", timeout=ACTION_TIMEOUT
        )
        expect(
            browser_widget.locator(".hi-changes-table .dt-scroll-body tbody tr").first
        ).to_be_visible()
        expect(browser_widget.locator("img.hi-changes-plot")).to_be_visible()
        _screenshot(page, "08b-changes")
        browser_widget.locator(".lm-TabBar-tab", has_text="Images").click()
        browser_widget.locator("button.hi-preview-show").click()
        picture = browser_widget.locator("img.hi-preview-image")
        expect(picture).to_be_visible(timeout=ACTION_TIMEOUT)
        expect(browser_widget.locator(".hi-preview-message")).to_contain_text("Images of")
        # decode() settles once the image is decoded (or rejects if it cannot be).
        size = picture.evaluate(
            "img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])"
        )
        assert size[0] > 100 and size[1] > 100, size
        _screenshot(page, "08c-preview")

        page.locator(".hi-app .lm-TabBar-tab", has_text="Batch fetch").click()
        expect(page.locator(".hi-batch .hi-batch-ids textarea")).to_be_visible()
        _screenshot(page, "09-batch-fetch")
    except Exception:
        _screenshot(page, "failure")
        raise
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
