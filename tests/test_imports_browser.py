"""The Imports tab in the Voila app, in Debian's chromium: keyboard alone, axe after each step.

From the Imports tab a keyboard user lists the demo datastore's import jobs, opens one,
and goes from its files to an image set's version history; axe-core finds no serious
WCAG 2.x A/AA violation after any of these steps. Every wait is on a DOM state.
"""

from __future__ import annotations

import pytest
from axe_helpers import assert_accessible
from test_accessibility import (
    ACTION_TIMEOUT,
    CURRENT,
    TEST_TIMEOUT,
    _open_app,
    _screenshot,
    _tab_to,
    _wait_focus,
)

pytestmark = pytest.mark.browser

DEMO_JOBS = 5  # the first demo datastore: four COMPLETED jobs and one FAILED


@pytest.mark.timeout(TEST_TIMEOUT)
def test_the_imports_tab_by_keyboard_from_a_job_to_an_image_sets_history(
    voila_app, browser, axe_js
):
    from playwright.sync_api import expect

    context, page = _open_app(browser, voila_app)
    explorer = page.locator(".hi-explorer")
    try:
        tab = explorer.locator(".hi-tabs > .lm-TabBar .lm-TabBar-tab", has_text="Imports")
        tab.click()
        expect(tab).to_have_class(CURRENT)
        imports = explorer.locator(".hi-imports")
        expect(imports.locator("button.hi-imports-list")).to_be_enabled()
        assert_accessible(page, axe_js, "opening the Imports tab")

        # List the jobs: Tab to the button, Enter; the focus comes back to it.
        _tab_to(page, "hi-imports-list")
        page.keyboard.press("Enter")
        expect(imports.locator(".hi-imports-job-count")).to_have_text(
            f"{DEMO_JOBS} import jobs", timeout=ACTION_TIMEOUT
        )
        plot = imports.locator("img.hi-imports-plot")
        expect(plot).to_be_visible()
        assert (plot.get_attribute("alt") or "").startswith("Import jobs on a time axis")
        _wait_focus(page, "hi-imports-list")
        assert_accessible(page, axe_js, "listing the import jobs")
        _screenshot(page, "imports-jobs")

        # The oldest job (last in the list) imported the demo's long history with six
        # failed files: pick it with the arrow keys, open it with the button.
        picker = imports.locator(".hi-imports-job select")
        picker.focus()
        page.keyboard.press("End")
        options = picker.locator("option")
        expect(picker).to_have_value(options.last.get_attribute("value"))
        _tab_to(page, "hi-imports-open")
        page.keyboard.press("Enter")
        expect(imports.locator(".hi-imports-file-count")).to_have_text(
            "8 files", timeout=ACTION_TIMEOUT
        )
        summary = imports.locator(".hi-imports-job-summary")
        expect(summary).to_contain_text("6 failed (4 reasons)")
        expect(imports.locator("img.hi-imports-reasons-plot")).to_be_visible()
        # Failures first: the grid's first rows are the failed files.
        first_rows = imports.locator(".hi-imports-files .dt-scroll-body tbody tr")
        expect(first_rows.first).to_contain_text("FAILURE")
        _wait_focus(page, "hi-imports-open")
        assert_accessible(page, axe_js, "opening a job's files")
        _screenshot(page, "imports-files")

        # From the files to the image set they went to: its version history.
        # The picked image set, by the label ipywidgets gives its <option>: "<id> · 2 file(s)".
        picked = imports.locator(".hi-imports-image-set select").input_value()
        image_set = picked.split(" · ")[0]
        assert len(image_set) == 32 and picked.endswith("2 file(s)"), picked
        _tab_to(page, "hi-imports-history")
        page.keyboard.press("Enter")
        versions_tab = explorer.locator(
            ".hi-tabs > .lm-TabBar .lm-TabBar-tab", has_text="Versions"
        )
        expect(versions_tab).to_have_class(CURRENT, timeout=ACTION_TIMEOUT)
        expect(explorer.locator(".hi-image-set input")).to_have_value(image_set)
        rows = explorer.locator(".hi-versions-table .dt-scroll-body tbody tr")
        expect(rows).to_have_count(73, timeout=ACTION_TIMEOUT)
        expect(explorer.locator(".hi-status")).to_contain_text(
            f"versions of image set {image_set}"
        )
        # The Imports tab (and its button) is hidden now: the focus is on Fetch all versions.
        _wait_focus(page, "hi-fetch-all")
        assert_accessible(page, axe_js, "opening a file's image set history")

        # Its change log: the app's version browser follows the explorer's history.
        page.locator(".hi-app > .lm-TabBar .lm-TabBar-tab", has_text="Version browser").click()
        browser_tab = page.locator(".hi-version-browser")
        expect(browser_tab).to_contain_text(image_set, timeout=ACTION_TIMEOUT)
        browser_tab.locator(".lm-TabBar-tab", has_text="Changes").click()
        expect(browser_tab.locator(".hi-changes-plot").first).to_be_visible(timeout=ACTION_TIMEOUT)
        assert_accessible(page, axe_js, "the change log of the file's image set")
        _screenshot(page, "imports-change-log")
        assert not page.errors, f"JavaScript errors in the page: {page.errors}"
    except Exception:
        _screenshot(page, "imports-failure")
        print("JavaScript errors:", page.errors)
        raise
    finally:
        context.close()
