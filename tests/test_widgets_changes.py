"""The version browser's Changes tab, driven as a user would against the sandbox over HTTP."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from widget_helpers import WAIT, downloaded, grid_text, ready, update_metadata

from hi_widgets.changes.log import fetch_changes
from hi_widgets.export.files import export_frame
from hi_widgets.widgets import VersionBrowser
from hi_widgets.widgets._changes_view import MAX_WORKERS
from hi_widgets.widgets.version_browser import TAB_CHANGES, TAB_DIFF

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")
SANDBOX_OPTIONS = {"seed": 0, "quotas": False, "update_delay": 0.0}


@pytest.fixture
def ids(box):
    ds = box.store.datastore_ids()[0]
    return {"ds": ds, "long": box.store.image_set_ids(ds)[1]}


def open_changes(sb, ds, image_set):
    """A browser with its versions loaded, then the Changes tab opened (which loads)."""
    browser = ready(VersionBrowser, sb, ds, image_set)
    sb.clear_requests()
    browser.tabs.selected_index = TAB_CHANGES
    assert browser.wait(WAIT)
    return browser


def sent(sb, operation):
    return [r for r in sb.requests if r.operation == operation]


def test_the_changes_tab_shows_the_whole_log_and_its_plot(sb, ids):
    browser = open_changes(sb, ids["ds"], ids["long"])
    view = browser.changes_view
    assert browser.status.kind == "info", browser.status.text
    expected = fetch_changes(sb.client(max_attempts=1), ids["ds"], ids["long"])
    pd.testing.assert_frame_equal(view.changes, expected)
    assert view.complete and view.changes["versionId"].nunique() == 73
    assert len(sent(sb, "GetImageSetMetadata")) == 2 * 73  # the widget's and ours
    assert view.grid.count.value == f"{len(expected)} changes"
    assert len(view.grid.shown) == len(expected)  # complete on screen
    assert list(view.grid.shown.columns[:2]) == ["versionId", "kind"]
    assert "73 versions" in view.summary.value
    assert bytes(view.plot.value[:4]) == b"\x89PNG" and view.plot.layout.display == ""
    assert browser.result is view.changes  # published
    assert browser.runner.progress_label.value == "Done: 73 / 73 versions"
    # Reopening the tab does not fetch again.
    sb.clear_requests()
    browser.tabs.selected_index = 0
    browser.tabs.selected_index = TAB_CHANGES
    assert browser.wait(WAIT)
    assert sent(sb, "GetImageSetMetadata") == []


def test_a_row_selection_opens_that_pairs_diff(sb, ids):
    browser = open_changes(sb, ids["ds"], ids["long"])
    view = browser.changes_view
    log = view.changes
    position = int(log.index[(log["kind"] == "modified") & (log["level"] == "Study")][3])
    row = log.iloc[position]
    sb.clear_requests()
    view.grid.grid.selected_rows = [position]  # what a click in the grid sets
    assert browser.wait(WAIT)
    pair = (int(row["previousVersionId"]), int(row["versionId"]))
    assert browser.diff_versions == pair, browser.status.text
    assert browser.tabs.selected_index == TAB_DIFF
    assert (browser.from_version_id.value, browser.to_version_id.value) == pair
    assert row["path"] in set(browser.diff["path"])
    assert row["new"] in grid_text(browser.diff_table)
    versions = [r.params.get("versionId") for r in sent(sb, "GetImageSetMetadata")]
    assert sorted(versions) == sorted(str(v) for v in pair)
    # The first version has nothing before it: said so, nothing sent.
    sb.clear_requests()
    first = int(log.index[log["kind"] == "initial"][0])
    view.grid.grid.selected_rows = [first]
    assert browser.status.kind == "warning" and "first" in browser.status.text
    assert sb.requests == [] and browser.diff_versions == pair


def test_cancel_stops_sending(sb, ids, hold_request):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    gate = hold_request(browser.client, "GetImageSetMetadata", nth=2, and_later=True)
    sb.clear_requests()
    browser.tabs.selected_index = TAB_CHANGES
    gate.wait_reached()
    assert browser.busy and browser.changes_view.load_button.disabled
    browser.runner.cancel_button.click()
    gate.release()
    assert browser.wait(WAIT)
    view = browser.changes_view
    assert browser.status.kind == "warning" and "Cancelled" in browser.status.text
    # Only requests already on their way went out: one passed, at most one per worker held.
    count = len(sent(sb, "GetImageSetMetadata"))
    assert 1 <= count <= 1 + MAX_WORKERS < 73
    # The versions listed before Cancel are in the log; those not fetched say so.
    kinds = view.changes.drop_duplicates("versionId")["kind"]
    fetched = int((kinds != "cancelled").sum())
    assert 1 <= fetched <= count
    assert not view.complete and "Cancelled" in view.grid.note.value
    label = f"Cancelled at {fetched} / {len(kinds)} versions"
    assert browser.runner.progress_label.value == label
    assert browser.result is browser.versions  # a partial log is not published
    assert not view.load_button.disabled


def test_a_failed_reload_keeps_the_earlier_log_marked(sb, ids):
    browser = open_changes(sb, ids["ds"], ids["long"])
    view = browser.changes_view
    earlier, shown = view.changes, grid_text(view.grid)
    sb.deny("GetImageSetMetadata")
    view.load_button.click()
    assert browser.wait(WAIT)
    assert browser.status.kind == "error"
    assert "GetImageSetMetadata" in browser.status.text
    assert view.changes is earlier and grid_text(view.grid) == shown
    assert "failed" in view.grid.note.value
    assert view.export.download_button.disabled  # no stale download
    sb.allow("GetImageSetMetadata")
    view.load_button.click()
    assert browser.wait(WAIT)
    assert browser.status.kind == "info" and view.grid.note.value == ""


def test_a_reload_with_new_versions_marks_the_log_out_of_date(sb, ids):
    ds = ids["ds"]
    image_set = sb.store.image_set_ids(ds)[3]  # its own image set: others count versions
    browser = open_changes(sb, ds, image_set)
    view = browser.changes_view
    before = view.changes["versionId"].nunique()
    browser.reload_button.click()  # nothing new: the log is still current
    assert browser.wait(WAIT)
    assert not view.outdated and view.complete and view.grid.note.value == ""
    updates = {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "NEWER"}}}
    newest = update_metadata(sb.client(max_attempts=1), sb, ds, image_set, updates)
    browser.reload_button.click()
    assert browser.wait(WAIT)
    assert view.outdated and not view.complete
    assert f"this change log covers {before}" in view.grid.note.value
    assert "Out of date" in view.export.download.value  # still offered, as what it is
    # Opening the tab again loads the log anew: the new version and its change show.
    browser.tabs.selected_index = 0
    browser.tabs.selected_index = TAB_CHANGES
    assert browser.wait(WAIT)
    assert not view.outdated and view.complete and view.grid.note.value == ""
    assert view.changes["versionId"].max() == newest and "NEWER" in grid_text(view.grid)


def _non_primary(sb, ds):
    client = sb.client(max_attempts=1)
    return next(
        i
        for i in sb.store.image_set_ids(ds)
        if client.get_image_set(datastoreId=ds, imageSetId=i)["isPrimary"] is False
    )


def test_the_export_leaves_phi_out_unless_asked(sb, ids, tmp_path):
    # Patient-level elements are updatable only on non-primary image sets (AWS's rule).
    ds = ids["ds"]
    image_set = _non_primary(sb, ds)
    updates = {
        "SchemaVersion": 1.1,
        "Patient": {"DICOM": {"PatientName": "CHANGES^RENAMED"}},
        "Study": {"DICOM": {"StudyDescription": "CHANGES PHI TEST"}},
    }
    update_metadata(sb.client(max_attempts=1), sb, ds, image_set, updates)
    browser = open_changes(sb, ds, image_set)
    view, export = browser.changes_view, browser.changes_view.export
    assert "CHANGES^RENAMED" in grid_text(view.grid)  # complete on screen
    assert not export.include_phi.value
    data = downloaded(export)
    assert b"CHANGES^" not in data and b"CHANGES PHI TEST" not in data
    shared = pd.read_csv(io.BytesIO(data))
    assert not [p for p in shared["path"].dropna() if str(p).startswith("Patient.")]
    # Every version is still listed, with its time and status.
    assert set(shared["versionId"]) == set(view.changes["versionId"])
    target = tmp_path / "changes.parquet"
    export.format.value = "parquet"
    export.path.value = str(target)
    export.save_button.click()
    saved = pd.read_parquet(target)
    assert not [p for p in saved["path"].dropna() if str(p).startswith("Patient.")]
    assert saved["versionId"].nunique() == view.changes["versionId"].nunique()
    export.format.value = "csv"
    export.include_phi.value = True
    kept = downloaded(export)
    assert b"CHANGES^RENAMED" in kept and b"CHANGES PHI TEST" in kept


def test_the_export_replaces_uids_of_whole_series_and_instances(sb, ids, tmp_path):
    browser = open_changes(sb, ids["ds"], ids["long"])
    log = browser.changes_view.changes
    uids = set(log["seriesInstanceUID"].dropna())
    whole = log[log["attribute"].isin(["SeriesInstanceUID", "SOPInstanceUID"])]
    uids |= set(whole["old"].dropna()) | set(whole["new"].dropna())
    assert uids  # the demo history adds and removes an instance
    data = downloaded(browser.changes_view.export)
    assert not [uid for uid in uids if uid.encode() in data]
    shared = pd.read_csv(io.BytesIO(data))
    assert shared["versionId"].nunique() == 73
    shared_whole = shared[shared["attribute"] == "SOPInstanceUID"]
    assert len(shared_whole) == len(whole[whole["attribute"] == "SOPInstanceUID"])
    # A replaced UID stays consistent: the value is the UID at the end of its path.
    for path, old, new in shared_whole[["path", "old", "new"]].itertuples(index=False):
        value = old if isinstance(old, str) else new
        assert path.endswith(f".Instances.{value}")
    assert not shared["series"].dropna().str.contains("|".join(u[-6:] for u in uids)).any()
    # The same rule for a notebook user's export_frame.
    written = export_frame(log, tmp_path / "log.csv")
    assert not [uid for uid in uids if uid.encode() in written.read_bytes()]
