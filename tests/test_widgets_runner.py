"""The background runner (the widgets' only threading code) and the result traitlets.

Every wait is on an Event or a thread join with a bound; nothing sleeps.
"""

from __future__ import annotations

import threading

import pytest
from widget_helpers import WAIT, ready

from hi_widgets.api.errors import ResourceNotFoundError
from hi_widgets.api.progress import Progress
from hi_widgets.widgets import BatchFetcher, ImageSetExplorer, VersionBrowser
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._status import StatusArea

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")


@pytest.fixture(scope="module")
def ids(box):
    ds = box.store.datastore_ids()[0]
    image_sets = box.store.image_set_ids(ds)
    return {"ds": ds, "long": image_sets[1], "short": image_sets[2], "image_sets": image_sets}


def make_runner():
    busy: list[bool] = []
    runner = BackgroundRunner(StatusArea(), busy.append, unit="versions")
    return runner, busy


def test_runs_one_job_reports_progress_and_resets_busy():
    runner, busy = make_runner()
    started, release = threading.Event(), threading.Event()
    results = []

    def job(cancel):
        runner.report(Progress(3, 7, "versions"))
        started.set()
        assert release.wait(WAIT)
        return "answer"

    assert runner.start(job, on_success=results.append, label="Fetching versions…")
    assert started.wait(WAIT)
    assert runner.busy and busy == [True]
    assert runner.progress_label.value == "3 / 7 versions"
    assert not runner.cancel_button.disabled
    assert not runner.start(lambda _c: None)  # one job at a time
    release.set()
    assert runner.wait(WAIT)
    assert results == ["answer"] and busy == [True, False] and not runner.busy
    assert runner.progress_label.value == "Done: 3 / 7 versions"
    assert runner.progress.bar_style == "success" and runner.cancel_button.disabled


def test_cancel_sets_the_jobs_event_and_the_outcome_says_cancelled():
    runner, _busy = make_runner()
    started = threading.Event()
    seen = []

    def job(cancel):
        runner.report(Progress(1, 4, "versions"))
        started.set()
        seen.append(cancel.wait(WAIT))  # returns as soon as Cancel is pressed
        return None

    runner.start(job)
    assert started.wait(WAIT)
    runner.cancel_button.click()
    assert runner.status.text == "Cancelling…"
    assert runner.wait(WAIT)
    assert seen == [True] and runner.cancel_event.is_set()
    assert runner.progress_label.value == "Cancelled at 1 / 4 versions"
    assert runner.progress.bar_style == "warning"


def test_an_error_is_shown_kept_and_the_runner_is_usable_again():
    runner, busy = make_runner()

    def job(_cancel):
        raise ResourceNotFoundError("no such image set")

    assert runner.start(job, label="Getting latest version…")
    assert runner.wait(WAIT)
    assert isinstance(runner.last_error, ResourceNotFoundError)
    assert runner.status.kind == "error" and "no such image set" in runner.status.text
    assert runner.progress_label.value == "Getting latest version failed"
    assert busy == [True, False]
    done = threading.Event()
    assert runner.start(lambda _c: done.set())
    assert runner.wait(WAIT) and done.is_set() and runner.last_error is None


def test_an_exception_in_on_success_goes_to_on_error():
    runner, _busy = make_runner()
    errors = []

    def broken(_result):
        raise RuntimeError("display failed")

    runner.start(lambda _c: 1, on_success=broken, on_error=errors.append)
    assert runner.wait(WAIT)
    assert [str(e) for e in errors] == ["display failed"]


def test_progress_without_a_total_counts_up():
    runner, _busy = make_runner()
    runner.report(Progress(5, None, "versions"))
    assert runner.progress_label.value == "5 versions" and runner.progress.value == 5


# --- results as traitlets -----------------------------------------------------------


def test_explorer_results_are_observable_traitlets(sb, ids):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["long"])
    changes = []
    explorer.observe(lambda change: changes.append(change["name"]), names=["result", "record"])
    explorer.observe(lambda change: changes.append(change["name"]), names="versions")
    explorer.get()
    assert explorer.wait(WAIT)
    assert changes == ["record", "result"] and explorer.result is explorer.record
    explorer.fetch_all()
    assert explorer.wait(WAIT)
    assert changes[2:] == ["versions", "result"] and explorer.result is explorer.versions
    assert "result" not in explorer.keys  # never synced to the front end (may hold PHI)


def test_version_browser_result_is_the_history_then_the_diff(sb, ids):
    seen = []
    browser = VersionBrowser(sb.client(max_attempts=1), ids["ds"], ids["long"], load=False)
    browser.observe(lambda change: seen.append(change["new"]), names="result")
    browser.load()
    assert browser.wait(WAIT)
    assert seen and seen[-1] is browser.versions
    browser.compare()
    assert browser.wait(WAIT)
    assert seen[-1] is browser.diff


def test_batch_result_trait_and_on_result_get_the_same_fetch_result(sb, ids):
    fetcher = ready(BatchFetcher, sb)
    traits, callbacks = [], []
    fetcher.observe(lambda change: traits.append(change["new"]), names="result")
    fetcher.on_result(callbacks.append)
    fetcher.ids.value = ids["image_sets"][0]
    assert fetcher.fetch()
    assert fetcher.wait(WAIT)
    assert traits == callbacks == [fetcher.result] and fetcher.last_result is fetcher.result


def test_an_observer_that_raises_is_shown_and_callbacks_still_run(sb, ids):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["short"])
    called = []

    def broken(_change):
        raise ValueError("observer broke")

    explorer.observe(broken, names="result")
    explorer.on_result(called.append)
    explorer.get()
    assert explorer.wait(WAIT)
    assert called == [explorer.record]
    assert explorer.status.kind == "error" and "observer broke" in explorer.status.text


def test_cancel_after_the_job_fetched_everything_leaves_one_outcome():
    runner, _busy = make_runner()
    messages = []

    def job(cancel):
        runner.report(Progress(73, 73, "versions"))
        runner.cancel()  # Cancel pressed as the last page came in
        return "all 73"

    def done(result):
        messages.append("cancelled" if runner.cancelled else result)
        runner.cancel_button.click()  # a click that reaches the kernel after the end
        runner.status.show(f"{result} versions", "info")

    runner.start(job, on_success=done)
    assert runner.wait(WAIT)
    assert messages == ["all 73"] and not runner.cancelled
    assert runner.status.text == "all 73 versions" and runner.status.kind == "info"
    assert runner.progress_label.value == "Done: 73 / 73 versions"


def test_explorer_cancel_as_a_fast_fetch_finishes_shows_one_outcome(sb, ids):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["long"])
    # The result callback runs when the fetch is complete: the latest moment a user's
    # Cancel can arrive while the action is still running.
    explorer.on_result(lambda _frame: explorer.runner.cancel_button.click())
    explorer.fetch_all()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "info" and explorer.status.text.startswith("73 versions")
    assert explorer.runner.progress_label.value == "Done: 73 / 73 versions"
    assert explorer.versions_complete


def test_failed_fetch_marks_the_results_and_withdraws_the_download(sb, ids):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["long"])
    explorer.fetch_all()
    assert explorer.wait(WAIT)
    assert not explorer.export.download_button.disabled and explorer.table.note.value == ""
    explorer.form.image_set.value = "0" * 32
    assert "not the one in the form" in explorer.table.note.value
    explorer.fetch_all()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error" and "not found" in explorer.status.text.lower()
    assert len(explorer.versions) == 73  # nothing fetched is lost
    assert "failed" in explorer.table.note.value and ids["long"] in explorer.table.note.value
    assert explorer.export.download_button.disabled and explorer.export.frame is None
    assert "failed" in explorer.export.download.value


def test_switching_datastore_clears_the_image_set_and_search_results(sb, ids, box):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["long"])
    explorer.run_search()
    assert explorer.wait(WAIT)
    assert len(explorer.search.results.frame)
    other = box.store.datastore_ids()[1]
    explorer.form.datastore.value = other
    assert explorer.form.image_set.value == ""
    assert explorer.search.results.frame is None and explorer.search.frame is None
    assert explorer.search.results.shown is None


def test_a_clicked_job_keeps_the_keyboard_focus_on_cancel_then_on_its_button():
    import ipywidgets as w

    runner, _busy = make_runner()
    button = w.Button(description="Fetch")
    focused: list[str] = []
    # DOMWidget.focus() sends {"do": "focus"} to the front end: record who got it.
    button.focus = lambda: focused.append("button")
    runner.cancel_button.focus = lambda: focused.append("cancel")
    started, release = threading.Event(), threading.Event()

    def job(_cancel):
        started.set()
        assert release.wait(WAIT)

    def action():
        # The owner disables its button while busy (focus would drop to the page body).
        runner.start(job)
        button.disabled = True

    runner.on_click(button, action)
    button.click()
    assert started.wait(WAIT)
    assert focused == ["cancel"]  # Cancel is the one enabled control of the running job
    button.disabled = False
    release.set()
    assert runner.wait(WAIT)
    assert focused == ["cancel", "button"]


def test_a_job_not_started_by_a_click_leaves_the_focus_alone():
    runner, _busy = make_runner()
    focused: list[str] = []
    runner.cancel_button.focus = lambda: focused.append("cancel")
    assert runner.start(lambda _cancel: None)
    assert runner.wait(WAIT)
    assert focused == []
