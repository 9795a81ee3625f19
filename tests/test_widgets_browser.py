"""VersionBrowser driven as a user would, against the sandbox over HTTP."""

from __future__ import annotations

import html
import re

import ipywidgets as w
import pandas as pd
import pytest
from widget_helpers import (
    WAIT,
    downloaded,
    downloaded_csv,
    grid_text,
    ready,
    update_metadata,
)

from hi_widgets.api.errors import InvalidIdentifierError
from hi_widgets.changes.log import fetch_changes
from hi_widgets.widgets import VersionBrowser

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")
SANDBOX_OPTIONS = {"seed": 0, "quotas": False, "update_delay": 0.0}


@pytest.fixture
def ids(box):
    ds = box.store.datastore_ids()[0]
    image_sets = box.store.image_set_ids(ds)
    return {"ds": ds, "long": image_sets[1], "short": image_sets[2], "edit": image_sets[5]}


def browse(sb, ds, image_set):
    return ready(VersionBrowser, sb, ds, image_set)


def test_loads_versions_in_the_background(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    assert isinstance(browser, w.VBox)
    assert "hi-version-browser" in browser._dom_classes
    assert browser.status.kind == "info", browser.status.text
    assert list(browser.versions["versionId"]) == list(range(1, 74))
    assert browser.selected_version == 73
    assert not browser.slider.disabled
    assert [v for _l, v in browser.slider.options] == list(range(1, 74))
    assert ">73<" in browser.properties.value
    assert browser.timeline.selected_version == 73 and len(browser.timeline.rows) == 73
    assert (browser.from_version_id.value, browser.to_version_id.value) == (72, 73)
    assert not browser.compare_button.disabled


def test_moving_the_slider_shows_that_version_highlighted(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    browser.slider.value = 10
    assert browser.selected_version == 10
    assert ">10<" in browser.properties.value
    assert browser.timeline.selected_version == 10
    (outline,) = [
        c for c in browser.timeline.figure.axes[0].collections if c.get_gid() == "highlight"
    ]
    assert len(outline.get_paths()) == 1
    browser.selected_version = "11"
    assert ">11<" in browser.properties.value
    with pytest.raises(InvalidIdentifierError):
        browser.selected_version = "0"
    assert browser.status.kind != "error"


def test_compare_two_versions_that_differ(sb, ids):
    ds, image_set = ids["ds"], ids["edit"]
    updates = {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "BROWSER EDIT"}}}
    new = update_metadata(sb.client(max_attempts=1), sb, ds, image_set, updates)
    latest = new - 1
    browser = browse(sb, ds, image_set)
    assert browser.selected_version == new
    assert (browser.from_version_id.value, browser.to_version_id.value) == (latest, new)
    sb.clear_requests()
    browser.compare_button.click()
    assert browser.wait(WAIT)
    assert browser.status.kind == "info", browser.status.text
    diff = browser.diff
    assert browser.diff_versions == (latest, new)
    row = diff[diff["path"] == "Study.DICOM.StudyDescription"]
    assert list(row["change"]) == ["changed"] and list(row["new"]) == ["BROWSER EDIT"]
    assert [r.operation for r in sb.requests] == ["GetImageSetMetadata"] * 2
    assert "Study.DICOM.StudyDescription" in grid_text(browser.diff_table)
    assert "BROWSER EDIT" in grid_text(browser.diff_table)
    assert len(browser.diff_table.shown) == len(diff)
    n = len(diff)
    assert browser.diff_table.count.value == f"{n} change" + ("" if n == 1 else "s")
    assert f"Version {latest} → {new}" in browser.diff_summary.value
    assert "1 changed" in browser.diff_summary.value
    assert browser.tabs.selected_index == 2


def test_compare_demo_versions_and_identical(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    assert browser.compare(1, 73)
    assert browser.wait(WAIT)
    assert not browser.diff.empty
    assert (browser.from_version_id.value, browser.to_version_id.value) == (1, 73)
    assert browser.compare(5, 5)
    assert browser.wait(WAIT)
    assert browser.diff.empty
    assert "identical" in browser.diff_summary.value
    assert browser.diff_table.count.value == "0 changes"


def test_compare_error_keeps_the_earlier_diff(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    assert browser.compare(1, 2)
    assert browser.wait(WAIT)
    earlier, table = browser.diff, grid_text(browser.diff_table)
    sb.deny("GetImageSetMetadata")
    browser.compare_button.click()
    assert browser.wait(WAIT)
    assert browser.status.kind == "error"
    assert "medical-imaging:GetImageSetMetadata" in browser.status.text
    assert browser.diff is earlier
    assert grid_text(browser.diff_table) == table
    assert "failed" in browser.diff_table.note.value  # marked as the earlier diff
    assert browser.diff_export.download_button.disabled  # and no stale download
    assert not browser.compare_button.disabled
    # A bad version number is refused before any request.
    sb.clear_requests()
    assert not browser.compare(0, 3)
    assert "versionId" in browser.status.text
    assert sb.requests == []


def test_listing_denied_falls_back_to_get(sb, ids):
    sb.deny("ListImageSetVersions")
    browser = browse(sb, ids["ds"], ids["short"])
    assert browser.status.kind == "info", browser.status.text
    truth = sb.store.versions(ids["ds"], ids["short"])
    assert list(browser.versions["versionId"]) == [int(v["versionId"]) for v in truth]


def test_load_error_is_shown(sb, ids):
    sb.set_faults(error_rate=1.0)
    browser = browse(sb, ids["ds"], ids["short"])
    assert browser.status.kind == "error"
    assert "internal error" in browser.status.text
    assert browser.versions is None
    assert browser.compare_button.disabled
    assert not browser.reload_button.disabled
    sb.set_faults()
    browser.reload_button.click()
    assert browser.wait(WAIT)
    assert browser.versions is not None and browser.status.kind == "info"


def test_cancel_while_loading(sb, ids, hold_request):
    sb.deny("ListImageSetVersions")  # walk with GetImageSet: one request a version
    client = sb.client(max_attempts=1)
    gate = hold_request(client, "GetImageSet", nth=2)
    browser = VersionBrowser(client, ids["ds"], ids["long"])
    gate.wait_reached()
    assert browser.busy
    browser.runner.cancel_button.click()
    gate.release()
    assert browser.wait(WAIT)
    assert browser.status.kind == "warning"
    assert "Cancel" in browser.status.text
    gets = [r for r in sb.requests if r.operation == "GetImageSet"]
    assert len(gets) == 2


def test_bad_identifiers_raise_before_any_request(sb, ids):
    sb.clear_requests()
    with pytest.raises(InvalidIdentifierError, match="imageSetId"):
        VersionBrowser(sb.client(), ids["ds"], "NOT-AN-ID")
    with pytest.raises(InvalidIdentifierError, match="datastoreId"):
        VersionBrowser(sb.client(), "", ids["long"])
    assert sb.requests == []


def test_diff_export_leaves_out_patient_attributes_unless_asked(sb, ids, tmp_path):
    # Patient-level elements are updatable only on non-primary image sets (AWS's rule).
    ds, client = ids["ds"], sb.client(max_attempts=1)
    image_set = next(
        i
        for i in sb.store.image_set_ids(ds)
        if client.get_image_set(datastoreId=ds, imageSetId=i)["isPrimary"] is False
    )
    updates = {
        "SchemaVersion": 1.1,
        "Patient": {"DICOM": {"PatientName": "DEMO^RENAMED"}},
        "Study": {"DICOM": {"StudyDescription": "PHI TEST"}},
    }
    update_metadata(client, sb, ds, image_set, updates)
    browser = browse(sb, ds, image_set)
    browser.compare_button.click()
    assert browser.wait(WAIT)
    paths = set(browser.diff["path"])
    assert {"Patient.DICOM.PatientName", "Study.DICOM.StudyDescription"} <= paths
    assert "DEMO^RENAMED" in grid_text(browser.diff_table)  # shown in the widget

    def exported():
        return downloaded_csv(browser.diff_export)

    export = browser.diff_export
    assert not export.include_phi.value
    assert export.filename.startswith("metadata-diff-")
    shared = exported()
    # PS3.15 basic profile: StudyDescription (X) goes as well as the patient module.
    assert "Study.DICOM.StudyDescription" not in set(shared["path"])
    assert not shared["path"].str.startswith("Patient.").any()
    assert b"DEMO^" not in downloaded(export)  # old or new name
    assert b"PHI TEST" not in downloaded(export)
    target = tmp_path / "diff.csv"
    export.path.value = str(target)
    export.save_button.click()
    assert not pd.read_csv(target)["path"].str.startswith("Patient.").any()
    export.include_phi.value = True
    assert {"Patient.DICOM.PatientName", "Study.DICOM.StudyDescription"} <= set(exported()["path"])
    assert b"DEMO^RENAMED" in downloaded(export)


def test_diff_shows_the_attribute_first_and_a_short_series_label(sb, ids):
    # The first version whose change is inside a series (found from the change log).
    log = fetch_changes(sb.client(max_attempts=1), ids["ds"], ids["long"])
    inside = log[log["level"].isin(["Series", "Instance"])]
    version = int(inside["versionId"].iloc[0])
    browser = browse(sb, ids["ds"], ids["long"])
    assert browser.compare(version - 1, version)
    assert browser.wait(WAIT)
    shown = browser.diff_table.shown
    assert list(shown.columns[:3]) == ["attribute", "where", "change"]
    series = shown[shown["path"].str.contains(".Series.", regex=False)]
    assert len(series), browser.diff["path"].tolist()
    row = series.iloc[0]
    uid = re.search(r"\.Series\.(.+?)\.(?:DICOM|Instances)\.", row["path"]).group(1)
    assert row["attribute"] == row["path"].rsplit(".", 1)[1]
    assert f"title='{uid}'" in row["where"]  # the full UID on hover
    label = re.search(r">([^<]*)</span>", row["where"]).group(1)
    assert label == "Series …" + uid.replace(".", "")[-6:]


def test_the_diff_opens_on_the_newest_pair_that_differs(sb, ids):
    ds, image_set = ids["ds"], ids["edit"]
    client = sb.client(max_attempts=1)
    changed = update_metadata(
        client, sb, ds, image_set, {"Study": {"DICOM": {"StudyDescription": "NEWEST CHANGE"}}}
    )
    # An update that changes nothing: the newest pair is identical.
    latest = update_metadata(
        client, sb, ds, image_set, {"Study": {"DICOM": {"StudyDescription": "NEWEST CHANGE"}}}
    )
    browser = browse(sb, ds, image_set)
    browser.tabs.selected_index = 2  # opening the diff looks for the newest change
    assert browser.wait(WAIT)
    assert browser.diff_versions == (changed - 1, changed), browser.diff_summary.value
    assert (browser.from_version_id.value, browser.to_version_id.value) == (changed - 1, changed)
    assert "NEWEST CHANGE" in grid_text(browser.diff_table)
    assert "the newest change" in browser.diff_summary.value
    # Found at the second pair: the bar is full and says so, not "2 / 10" at 20 %.
    assert browser.runner.progress_label.value == "Done: 2 / 2 pairs compared"
    assert browser.runner.progress.value == browser.runner.progress.max == 2
    assert browser.compare(latest - 1, latest)
    assert browser.wait(WAIT)
    assert browser.diff.empty and "identical" in browser.diff_summary.value


def test_properties_of_the_selected_version_come_from_one_cached_get(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    arn = sb.client().get_image_set(datastoreId=ids["ds"], imageSetId=ids["long"])["imageSetArn"]
    assert html.escape(arn) in browser.properties.value  # ListImageSetVersions has no arn
    sb.clear_requests()
    browser.slider.value = 10
    assert browser.wait(WAIT)
    gets = [r for r in sb.requests if r.operation == "GetImageSet"]
    assert len(gets) == 1 and ">10<" in browser.properties.value
    browser.slider.value = 73
    browser.slider.value = 10
    assert browser.wait(WAIT)
    assert len([r for r in sb.requests if r.operation == "GetImageSet"]) == 1  # cached


def test_the_version_slider_is_a_labelled_list_of_the_versions(sb, ids):
    import traitlets

    from hi_widgets.widgets._frontend import VersionSlider

    browser = browse(sb, ids["ds"], ids["long"])
    slider = browser.slider
    assert isinstance(slider, VersionSlider) and slider.description == "Version"
    # What the front end sends when the handle moved (arrow key or release).
    slider.set_state({"value": 5})
    assert browser.selected_version == 5 and ">5<" in browser.properties.value
    with pytest.raises(traitlets.TraitError, match="one of the options"):
        slider.value = 74
    assert browser.selected_version == 5


def test_the_diff_counts_a_reverted_instance_as_the_change_log_does(sb, ids):
    browser = browse(sb, ids["ds"], ids["long"])
    log = fetch_changes(sb.client(max_attempts=1), ids["ds"], ids["long"])
    removed = log[(log["change"] == "removed") & (log["level"] == "Instance")]
    version = int(removed["versionId"].iloc[0])
    logged = log[(log["versionId"] == version) & log["change"].notna()]
    assert browser.compare(version - 1, version) and browser.wait(WAIT)
    diff = browser.diff
    assert (diff["change"] == "removed").sum() > 100  # every attribute of the instance
    # The summary counts as the change log does: one removed instance, its size aside.
    counts = logged["change"].value_counts()
    for kind in ("added", "removed", "changed"):
        assert f"{int(counts.get(kind, 0))} {kind}" in browser.diff_summary.value
    assert f"instance ({(diff['change'] == 'removed').sum()} attributes)" in (
        browser.diff_summary.value
    )
