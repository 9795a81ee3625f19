"""WCAG 2.2 AA in a real browser: axe-core after every action, and keyboard-only use.

The Voila app (notebooks/explorer-app.ipynb) is driven in Debian's chromium with
Playwright. axe-core comes from npm (``make axe``) and is injected with
``page.add_script_tag``; a critical or serious violation of a WCAG 2.0/2.1/2.2 A or AA
rule fails the test. JupyterLab and Notebook 7 are checked in tests/test_jupyter_browser.py
with the same helper. Every wait is on a DOM state or event, never on time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_helpers import assert_accessible

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
APP_RENDER_TIMEOUT = 90_000  # ms until the kernel has run the notebook and widgets show
ACTION_TIMEOUT = 60_000  # ms for one action to finish and show in the page
VERSIONS = 73  # the app opens on the demo's longest history
EXPLORER_TABS = ("Properties", "Versions", "Timeline", "Export", "Images")
APP_TABS = ("Explorer", "Version browser", "Batch fetch")
CURRENT = re.compile(r"\blm-mod-current\b")  # the selected tab
MAX_TAB_PRESSES = 60  # a bound for walking to a control with Tab (the page has fewer stops)
PAGE_RULES = ("region",)  # axe best practice: all content in landmarks (Voila's main one)
TEST_TIMEOUT = 900  # s: a bound only; some 25 axe runs on a loaded two-core machine

# What has the keyboard focus, as a test can compare it.
FOCUSED = """() => {
    const e = document.activeElement;
    const r = e.getBoundingClientRect();
    return {
        tag: e.tagName,
        classes: [...e.classList],
        id: e.id,
        text: (e.getAttribute("aria-label") || e.textContent || "").trim().slice(0, 60),
        visible: r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden",
        grid: Boolean(e.closest(".hi-grid")),
        tabbar: Boolean(e.closest(".lm-TabBar")),
    };
}"""

# The versions grid's focused cell (KeyTable): its row's versionId, and where the row is
# against the grid's scrolling box (its client area: above the horizontal scrollbar) and
# the browser's window. The row is shown when it lies inside both.
FOCUSED_ROW = """() => {
    const grid = document.querySelector(".hi-explorer .hi-versions-table");
    const cell = grid.querySelector(".dt-scroll-body td.focus");
    if (!cell) { return null; }
    const heads = [...grid.querySelectorAll(".dt-scroll-head thead th")].map(
        (th) => (th.querySelector(".dt-column-title") || th).textContent.trim());
    const row = cell.parentElement;
    const body = cell.closest(".dt-scroll-body");
    const box = body.getBoundingClientRect();
    const top = box.top + body.clientTop;
    const r = row.getBoundingClientRect();
    const inside = (a, b) => a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
    return {
        version: parseInt(row.children[heads.indexOf("versionId")].textContent, 10),
        row: [r.top, r.bottom],
        box: [top, top + body.clientHeight],
        window: window.innerHeight,
        shown: inside(r, {top: top, bottom: top + body.clientHeight})
            && inside(r, {top: 0, bottom: window.innerHeight}),
    };
}"""

# The versionId of every row of the versions grid, in the grid's order.
GRID_VERSIONS = """() => {
    const grid = document.querySelector(".hi-explorer .hi-versions-table");
    const heads = [...grid.querySelectorAll(".dt-scroll-head thead th")].map(
        (th) => (th.querySelector(".dt-column-title") || th).textContent.trim());
    const col = heads.indexOf("versionId");
    return [...grid.querySelectorAll(".dt-scroll-body tbody tr")].map(
        (tr) => parseInt(tr.children[col].textContent, 10));
}"""

# How far the versions grid's header cells are from the first row's cells (x, in px),
# and how far the header has been scrolled sideways.
HEADER_OFFSET = """() => {
    const grid = document.querySelector(".hi-explorer .hi-versions-table");
    const heads = [...grid.querySelectorAll(".dt-scroll-head thead th")];
    const cells = [...grid.querySelectorAll(".dt-scroll-body tbody tr:first-child td")];
    const x = (e) => e.getBoundingClientRect().left;
    const offsets = heads.map((th, i) => Math.abs(x(th) - x(cells[i])));
    return {
        columns: heads.length,
        cells: cells.length,
        offset: Math.max(...offsets),
        scrolled: grid.querySelector(".dt-scroll-head").scrollLeft,
    };
}"""
ALIGN_TOLERANCE = 1  # px between a header cell's x and its column's cells'
HEADER_ALIGNED = f"() => ({HEADER_OFFSET})().offset <= {ALIGN_TOLERANCE}"


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _open_app(browser, url: str):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []  # JavaScript errors: a fix that throws is no fix
    page.on("pageerror", lambda exc: page.errors.append(f"{exc}\n{exc.stack}"))
    page.goto(url, timeout=APP_RENDER_TIMEOUT)
    explorer = page.locator(".hi-explorer")
    error_output = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    explorer.or_(error_output).first.wait_for(timeout=APP_RENDER_TIMEOUT)
    if error_output.count():
        pytest.fail(f"the app notebook failed:\n{error_output.first.inner_text()}")
    expect(explorer.locator("button.hi-fetch-all")).to_be_enabled(timeout=ACTION_TIMEOUT)
    return context, page


def _focused(page) -> dict:
    return page.evaluate(FOCUSED)


def _tab_to(page, css_class: str, seen: list[dict] | None = None) -> dict:
    """Press Tab until the focused element has ``css_class``; every stop must be visible."""
    for _ in range(MAX_TAB_PRESSES):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if seen is not None:
            seen.append(focused)
        assert focused["visible"], f"Tab stopped on an invisible element: {focused}"
        if css_class in focused["classes"] or focused["id"].startswith(css_class):
            return focused
    pytest.fail(f"{css_class} was not reached with {MAX_TAB_PRESSES} Tab presses")


def _assert_page_accessible(page, axe_js, after: str) -> None:
    """No critical or serious WCAG violation, and all content in landmarks (``region``)."""
    assert_accessible(page, axe_js, after, required=PAGE_RULES)


def _wait_header_aligned(page, focused: dict) -> None:
    """Wait until the grid's header cells are over their columns again (a scroll event)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(HEADER_ALIGNED, timeout=ACTION_TIMEOUT)
    except PlaywrightTimeout:
        state = page.evaluate(HEADER_OFFSET)
        pytest.fail(f"header off its columns by over {ALIGN_TOLERANCE} px at {focused}: {state}")


def _wait_row_shown(page, version: int) -> None:
    """Wait until the grid's focused row is ``version`` and is shown whole."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"(v) => {{ const r = ({FOCUSED_ROW})(); return r && r.version === v && r.shown; }}",
            arg=version,
            timeout=ACTION_TIMEOUT,
        )
    except PlaywrightTimeout:
        state = page.evaluate(FOCUSED_ROW)
        pytest.fail(f"version {version}'s row is not focused and shown: {state}")


def _wait_focus(page, css_class: str) -> None:
    page.wait_for_function(
        "(c) => document.activeElement.classList.contains(c)",
        arg=css_class,
        timeout=ACTION_TIMEOUT,
    )


@pytest.mark.timeout(TEST_TIMEOUT)
def test_no_serious_axe_violation_after_any_action_in_the_voila_app(voila_app, browser, axe_js):
    from playwright.sync_api import expect

    context, page = _open_app(browser, voila_app)
    try:
        _assert_page_accessible(page, axe_js, "the app opened")
        explorer = page.locator(".hi-explorer")
        explorer.locator("button.hi-search-toggle").click()
        expect(explorer.locator(".hi-search")).to_be_visible()
        _assert_page_accessible(page, axe_js, "opening the search")
        explorer.locator("button.hi-search-toggle").click()
        expect(explorer.locator(".hi-search")).to_be_hidden()

        explorer.locator("button.hi-fetch-all").click()
        rows = explorer.locator(".hi-versions-table .dt-scroll-body tbody tr")
        expect(rows).to_have_count(VERSIONS, timeout=ACTION_TIMEOUT)
        _assert_page_accessible(page, axe_js, "Fetch all versions")
        for title in EXPLORER_TABS:
            tab = explorer.locator(".hi-tabs > .lm-TabBar .lm-TabBar-tab", has_text=title)
            tab.click()
            expect(tab).to_have_class(CURRENT)
            if title == "Timeline":
                expect(explorer.locator(".hi-timeline-canvas canvas").last).to_be_visible()
            _assert_page_accessible(page, axe_js, f"opening the explorer's {title} tab")
        explorer.locator("button.hi-preview-show").click()
        expect(explorer.locator("img.hi-preview-image")).to_be_visible(timeout=ACTION_TIMEOUT)
        _assert_page_accessible(page, axe_js, "the explorer's preview")

        page.locator(".hi-app > .lm-TabBar .lm-TabBar-tab", has_text="Version browser").click()
        versions = page.locator(".hi-version-browser")
        version_cell = versions.locator(".hi-browser-properties tr", has_text="versionId")
        expect(version_cell).to_contain_text(str(VERSIONS), timeout=ACTION_TIMEOUT)
        _assert_page_accessible(page, axe_js, "opening the version browser")
        # Select a version with the slider's keyboard (a native range input).
        versions.locator(".hi-browser-version input[type=range]").press("ArrowLeft")
        expect(version_cell).to_contain_text(str(VERSIONS - 1), timeout=ACTION_TIMEOUT)
        expect(versions.locator(".hi-browser-version output")).to_have_text(str(VERSIONS - 1))
        _assert_page_accessible(page, axe_js, "selecting a version")
        for title, ready in (
            ("Timeline", ".hi-browser-timeline canvas"),
            ("Metadata diff", ".hi-diff-table .dt-scroll-body tbody tr"),
            ("Changes", ".hi-changes-plot"),
        ):
            versions.locator(".lm-TabBar-tab", has_text=title).click()
            expect(versions.locator(ready).first).to_be_visible(timeout=ACTION_TIMEOUT)
            _assert_page_accessible(page, axe_js, f"opening the browser's {title} tab")
        versions.locator(".lm-TabBar-tab", has_text="Images").click()
        versions.locator("button.hi-preview-show").click()
        expect(versions.locator("img.hi-preview-image")).to_be_visible(timeout=ACTION_TIMEOUT)
        _assert_page_accessible(page, axe_js, "the version browser's preview")
        _screenshot(page, "a11y-version-browser")

        # Batch fetch (default datastore): the explorer's image set and an unknown one.
        image_set = explorer.locator(".hi-image-set input").input_value()
        page.locator(".hi-app > .lm-TabBar .lm-TabBar-tab", has_text="Batch fetch").click()
        batch = page.locator(".hi-batch")
        expect(batch.locator(".hi-batch-ids textarea")).to_be_visible()
        _assert_page_accessible(page, axe_js, "opening the batch tab")
        batch.locator(".hi-batch-ids textarea").fill(f"{image_set}\n{'0' * 32}")
        batch.locator("button.hi-batch-fetch").click()
        expect(batch.locator(".hi-batch-error-count")).to_have_text(
            "1 error", timeout=ACTION_TIMEOUT
        )
        for title in ("Versions", "Errors", "Timeline", "Status counts", "Export"):
            batch.locator(".lm-TabBar-tab", has_text=title).click()
            _assert_page_accessible(page, axe_js, f"opening the batch's {title} tab")
        _screenshot(page, "a11y-batch")
        assert not page.errors, f"JavaScript errors in the page: {page.errors}"
    except Exception:
        _screenshot(page, "a11y-failure")
        print("JavaScript errors:", page.errors)
        raise
    finally:
        context.close()


@pytest.mark.timeout(TEST_TIMEOUT)
def test_the_voila_app_works_with_the_keyboard_alone(voila_app, browser):
    """Tab and arrow keys reach the app's tabs, Search, Fetch, each tab and every row."""
    from playwright.sync_api import expect

    context, page = _open_app(browser, voila_app)
    explorer = page.locator(".hi-explorer")
    try:
        # The app's tabs: Tab reaches the current one, the arrow keys the others, Enter
        # opens one.
        focused = _tab_to(page, "lm-TabBar-tab")
        assert focused["text"] == "Explorer", focused
        for title in APP_TABS[1:]:
            page.keyboard.press("ArrowRight")
            assert _focused(page)["text"] == title
            page.keyboard.press("Enter")
            expect(
                page.locator(".hi-app > .lm-TabBar .lm-TabBar-tab", has_text=title)
            ).to_have_class(CURRENT)
        page.keyboard.press("Home")
        page.keyboard.press("Enter")
        expect(explorer).to_be_visible()

        # Search image sets: a button that opens and closes the criteria.
        seen: list[dict] = []
        _tab_to(page, "hi-search-toggle", seen)
        page.keyboard.press("Enter")
        expect(explorer.locator(".hi-search")).to_be_visible()
        page.keyboard.press("Enter")
        expect(explorer.locator(".hi-search")).to_be_hidden()

        # Fetch: while it runs the focus is on Cancel, then back on Fetch (not the body).
        _tab_to(page, "hi-fetch-all", seen)
        assert any("hi-get" in f["classes"] for f in seen), seen
        page.keyboard.press("Enter")
        rows = explorer.locator(".hi-versions-table .dt-scroll-body tbody tr")
        expect(rows).to_have_count(VERSIONS, timeout=ACTION_TIMEOUT)
        _wait_focus(page, "hi-fetch-all")

        # The explorer's tabs, one after the other.
        focused = _tab_to(page, "lm-TabBar-tab")
        assert focused["text"] in EXPLORER_TABS, focused
        page.keyboard.press("Home")
        for title in EXPLORER_TABS:
            assert _focused(page)["text"] == title
            page.keyboard.press("Enter")
            expect(
                explorer.locator(".hi-tabs > .lm-TabBar .lm-TabBar-tab", has_text=title)
            ).to_have_class(CURRENT)
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Home")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")  # back to Versions
        expect(rows.first).to_be_visible()

        # Into the grid: each column's sort and filter buttons once (no hidden copies).
        # Tab scrolls the header's box sideways to show a button; the rows follow, so
        # every header cell stays over its column.
        seen = []
        scrolled = 0.0
        for _ in range(MAX_TAB_PRESSES):
            page.keyboard.press("Tab")
            focused = _focused(page)
            seen.append(focused)
            assert focused["visible"], f"Tab stopped on an invisible element: {focused}"
            if focused["id"].startswith("keytable-focus-capture"):
                break
            if focused["grid"]:
                _wait_header_aligned(page, focused)
                scrolled = max(scrolled, page.evaluate(HEADER_OFFSET)["scrolled"])
        else:
            pytest.fail(f"the grid's rows were not reached with {MAX_TAB_PRESSES} Tab presses")
        columns = explorer.locator(".hi-versions-table .dt-scroll-head thead th").count()
        header_stops = [f for f in seen if f["grid"]]
        assert len(header_stops) <= 2 * columns + 3, (columns, header_stops)
        assert scrolled > 0, "the header's buttons were all in view: nothing was checked"

        # Every row, with the arrow keys (KeyTable): each focused row is scrolled into
        # the grid's box and the window, and is the next version in the grid's order.
        order = page.evaluate(GRID_VERSIONS)
        assert sorted(order) == list(range(1, VERSIONS + 1)), order
        page.keyboard.press("Home")  # the first row's first cell
        for index, version in enumerate(order):
            if index:
                page.keyboard.press("ArrowDown")
            _wait_row_shown(page, version)
        page.keyboard.press("Home")  # back to the top, then to the last row's last cell
        _wait_row_shown(page, order[0])
        page.keyboard.press("End")
        _wait_row_shown(page, order[-1])
        _screenshot(page, "a11y-keyboard-grid")
        assert not page.errors, f"JavaScript errors in the page: {page.errors}"
    except Exception:
        _screenshot(page, "a11y-keyboard-failure")
        raise
    finally:
        context.close()
