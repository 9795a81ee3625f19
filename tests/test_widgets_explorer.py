"""ImageSetExplorer driven as a user would (set values, click), against the sandbox over HTTP."""

from __future__ import annotations

import json
import re
from datetime import date

import ipywidgets as w
import pandas as pd
import pytest
from widget_helpers import WAIT, downloaded, downloaded_csv, grid_text, ready

from hi_widgets.export.deid import PHI_COLUMNS
from hi_widgets.widgets import ImageSetExplorer
from hi_widgets.widgets.connection import MODE_SANDBOX

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")


@pytest.fixture
def ids(box):
    ds = box.store.datastore_ids()[0]
    image_sets = box.store.image_set_ids(ds)
    return {"ds": ds, "long": image_sets[1], "short": image_sets[2], "other_ds": ds}


def make(sb, **kwargs):
    return ready(ImageSetExplorer, sb, **kwargs)


def requests_of(sb, operation=None):
    return [r for r in sb.requests if operation is None or r.operation == operation]


# --------------------------------------------------------------------------- happy paths


def test_css_classes_present(sb):
    explorer = make(sb)
    found = set()

    def walk(widget):
        found.update(getattr(widget, "_dom_classes", ()))
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(explorer)
    expected = {
        "hi-explorer",
        "hi-datastore",
        "hi-image-set",
        "hi-version",
        "hi-get",
        "hi-fetch-all",
        "hi-cancel",
        "hi-progress",
        "hi-status",
        "hi-properties",
        "hi-versions-table",
        "hi-version-count",
        "hi-timeline",
        "hi-download",
        "hi-search",
    }
    assert expected <= found
    # With client= the connection panel is not shown.
    assert explorer.connection is None
    assert isinstance(explorer, w.VBox)


def test_idle_progress_is_hidden_and_cancel_neutral(sb):
    explorer = make(sb)  # has listed the datastores: no progress left to show
    runner = explorer.runner
    assert "datastores available" in explorer.status.text
    assert runner.progress.layout.display == "none"
    assert runner.progress_label.layout.display == "none"
    assert runner.progress_label.value == ""
    assert runner.cancel_button.disabled and runner.cancel_button.button_style == ""


def test_datastore_dropdown_filled_from_list_datastores(sb, ids):
    explorer = make(sb)
    field = explorer.form.datastore
    assert field.uses_dropdown
    assert [v for _label, v in field.dropdown.options] == sb.store.datastore_ids()
    assert field.value == ids["ds"]
    assert "demo-radiology" in field.dropdown.options[0][0]
    # Image set still empty: buttons disabled, a "Required" hint next to the field.
    assert explorer.get_button.disabled and explorer.fetch_button.disabled
    assert "Required" in explorer.form.image_set_message.value


def test_get_image_set_shows_every_field(sb, ids):
    explorer = make(sb)
    seen = []
    explorer.on_result(seen.append)
    explorer.form.image_set.value = ids["long"]
    assert not explorer.get_button.disabled
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    record = explorer.record
    assert record["versionId"] == 73
    assert record["imageSetId"] == ids["long"]
    html = explorer.properties.value
    for field in record:
        assert f">{field}<" in html
    assert ids["long"] in html and ">73<" in html
    assert seen == [record]
    assert explorer.status.kind == "info"
    assert "version 73" in explorer.status.text
    assert explorer.tabs.selected_index == 0
    assert not explorer.get_button.disabled


def test_get_a_given_version(sb, ids):
    explorer = make(sb, image_set_id=ids["long"], version_id=5)
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record["versionId"] == 5
    last = requests_of(sb, "GetImageSet")[-1]
    assert str(last.params.get("versionId")) == "5"


def test_fetch_all_versions_table_timeline_export(sb, ids, tmp_path):
    explorer = make(sb)
    seen = []
    explorer.on_result(seen.append)
    explorer.form.image_set.value = ids["long"]
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    frame = explorer.versions
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["versionId"]) == list(range(1, 74))
    assert explorer.versions_complete
    assert seen and seen[-1] is frame
    truth = sb.store.versions(ids["ds"], ids["long"])
    assert [int(v["versionId"]) for v in truth] == list(range(1, 74))
    # Progress: all versions counted.
    assert explorer.runner.progress.value == explorer.runner.progress.max == 73
    assert explorer.runner.progress_label.value == "Done: 73 / 73 versions"
    assert explorer.runner.progress.bar_style == "success"
    # Versions tab: a grid with every row, key columns first, readable cells.
    table = explorer.table
    assert table.count.value == "73 versions"
    shown = table.shown
    assert len(shown) == 73 and list(shown["versionId"]) == list(range(1, 74))
    assert list(shown.columns[:4]) == [
        "versionId",
        "imageSetState",
        "imageSetWorkflowStatus",
        "updatedAt",
    ]
    assert not {"datastoreId", "imageSetId", "imageSetArn"} & set(shown.columns)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", t) for t in shown["updatedAt"])
    assert all(
        re.fullmatch(r"(\d+(\.\d)? s|\d+ min \d+ s|\d+ h \d+ min|\d+ d \d+ h)?", t)
        for t in shown["sincePrevious"].dropna()
    )
    assert shown["sincePrevious"].isna().tolist() == [True] + [False] * 72  # v1: no previous
    assert "duration" not in shown.columns  # AWS gives no operation duration
    options = table.grid._dt_args
    assert options["scrollX"] and options["scrollY"] and options["fixedColumns"] == {"left": 1}
    assert len(json.loads(options["data_json"])) == 73  # every row: no down-sampling
    assert explorer.tabs.selected_index == 1
    # Timeline: a PNG in an Image widget.
    assert list(explorer.timeline.rows["versionId"]) == list(range(1, 74))
    # The version field became a dropdown of the known versions.
    version = explorer.form.version
    assert version.uses_dropdown
    assert [v for _l, v in version.dropdown.options][:3] == ["", "73", "72"]
    # Export: a download built on request, PHI off by default; no file in widget state.
    export = explorer.export
    assert export.download_button.filename == f"versions-{ids['long']}.csv"
    assert "73 rows" in export.download.value
    exported = downloaded_csv(export)
    assert len(exported) == 73
    assert not set(PHI_COLUMNS) & set(exported.columns)
    assert not export.include_phi.value
    export.format.value = "json"
    assert export.download_button.filename.endswith(".json")
    assert downloaded(export).startswith(b"[")
    state = export.download_button.get_state()
    state.pop("_esm")  # the button's own JavaScript
    assert len(json.dumps(state, default=str)) < 1000  # no file in widget state
    target = tmp_path / "history.parquet"
    explorer.export.format.value = "parquet"
    explorer.export.path.value = str(target)
    explorer.export.save_button.click()
    assert target.exists()
    assert len(pd.read_parquet(target)) == 73
    assert "Saved 73 rows" in explorer.status.text


def test_enter_in_image_set_field_runs_get(sb, ids):
    explorer = make(sb)
    explorer.form.image_set.value = ids["short"]
    # What the front end sends when Enter is pressed in a Text.
    explorer.form.image_set._handle_custom_msg({"event": "submit"}, None)
    assert explorer.wait(WAIT)
    assert explorer.record is not None and explorer.record["imageSetId"] == ids["short"]


def test_buttons_disabled_while_running(sb, ids, hold_request):
    explorer = make(sb, image_set_id=ids["short"])
    gate = hold_request(explorer.client, "GetImageSet")
    explorer.get_button.click()
    gate.wait_reached()  # the job is certainly running until the gate opens
    assert explorer.busy
    assert explorer.get_button.disabled and explorer.fetch_button.disabled
    assert not explorer.runner.cancel_button.disabled
    assert explorer.runner.cancel_button.button_style == "warning"  # only while usable
    # A second click while busy starts nothing.
    assert not explorer.get()
    gate.release()
    assert explorer.wait(WAIT)
    assert not explorer.get_button.disabled and not explorer.fetch_button.disabled
    assert explorer.runner.cancel_button.disabled
    assert explorer.runner.cancel_button.button_style == ""
    assert len(requests_of(sb, "GetImageSet")) == 1


def test_search_fills_the_image_set_field(sb, ids):
    explorer = make(sb)
    document = sb.store.metadata_document(ids["ds"], ids["long"])
    patient_id = document["Patient"]["DICOM"]["PatientID"]
    explorer.search.patient_id.value = patient_id
    explorer.search.button.click()
    assert explorer.wait(WAIT), explorer.status.text
    assert explorer.status.kind == "info", explorer.status.text
    values = list(explorer.search.results.frame["imageSetId"])
    assert ids["long"] in values
    assert all(patient_id == p for p in explorer.search.frame["DICOMPatientId"])
    explorer.search.results.grid.selected_rows = [values.index(ids["long"])]  # a click
    assert explorer.form.image_set.value == ids["long"]
    assert not explorer.get_button.disabled


# --------------------------------------------------------------------------- invalid input

BAD_IDS = {
    "empty": "",
    "too short": "abc123",
    "too long": "a" * 33,
    "upper case": "A" * 32,
    "bad characters": "abcdefghijklmnopqrstuvwxyz01234-",
    "spaces inside": "abcdefghijklmnop qrstuvwxyz01234",
}
BAD_VERSIONS = {"zero": "0", "negative": "-1", "decimal": "1.5", "letters": "v2", "space": "1 2"}


@pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_invalid_image_set_id_blocks_and_sends_nothing(sb, ids, value):
    explorer = make(sb)
    explorer.form.image_set.value = ids["long"]
    explorer.form.image_set.value = value
    before = len(sb.requests)
    message = explorer.form.image_set_message.value
    assert "imageSetId" in message
    assert explorer.get_button.disabled and explorer.fetch_button.disabled
    explorer.get_button.click()
    explorer.fetch_button.click()
    explorer.form.image_set._handle_custom_msg({"event": "submit"}, None)
    assert not explorer.get() and not explorer.fetch_all()
    assert explorer.wait(WAIT)
    assert len(sb.requests) == before
    assert explorer.record is None


@pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_invalid_datastore_id_blocks_and_sends_nothing(sb, ids, value):
    explorer = make(sb, image_set_id=ids["long"])
    explorer.form.datastore.use_text()
    explorer.form.datastore.text.value = value
    before = len(sb.requests)
    assert "datastoreId" in explorer.form.datastore.message.value
    assert explorer.get_button.disabled and explorer.fetch_button.disabled
    assert explorer.search.button.disabled
    explorer.get_button.click()
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    assert len(sb.requests) == before


@pytest.mark.parametrize("value", BAD_VERSIONS.values(), ids=BAD_VERSIONS.keys())
def test_invalid_version_blocks_and_sends_nothing(sb, ids, value):
    explorer = make(sb, image_set_id=ids["long"])
    explorer.form.version.text.value = value
    before = len(sb.requests)
    message = explorer.form.version.message.value
    assert "versionId" in message and "digits only" in message
    assert explorer.get_button.disabled and explorer.fetch_button.disabled
    explorer.get_button.click()
    explorer.form.version.text._handle_custom_msg({"event": "submit"}, None)
    assert explorer.wait(WAIT)
    assert len(sb.requests) == before
    # Fixing it clears the message and enables the buttons.
    explorer.form.version.text.value = " 3 "
    assert explorer.form.version.message.value == ""
    assert not explorer.get_button.disabled


# --------------------------------------------------------------------------- service errors


def explorer_with_results(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record is not None and explorer.versions is not None
    return explorer


def assert_kept(explorer, record, versions, properties, table, timeline, image_set):
    assert explorer.record is record
    assert explorer.versions is versions
    assert explorer.properties.value == properties
    assert grid_text(explorer.table) == table
    assert explorer.timeline.figure is timeline
    assert explorer.form.image_set.value == image_set
    assert not explorer.get_button.disabled


@pytest.mark.parametrize(
    ("setup", "action", "expected"),
    [
        (lambda sb: sb.deny("GetImageSet"), "get", "medical-imaging:GetImageSet"),
        (lambda sb: sb.deny("ListImageSetVersions"), "fetch_deny_both", "medical-imaging:"),
        (lambda sb: sb.set_faults(throttle_rate=1.0), "get", "Throttled"),
        (lambda sb: sb.set_faults(throttle_rate=1.0), "fetch", "Throttled"),
        (lambda sb: sb.set_faults(error_rate=1.0), "get", "internal error"),
        (lambda sb: sb.set_faults(error_rate=1.0), "fetch", "internal error"),
    ],
    ids=[
        "denied-get",
        "denied-list-and-get",
        "throttled-get",
        "throttled-fetch",
        "internal-get",
        "internal-fetch",
    ],
)
def test_service_error_shown_and_results_kept(sb, ids, setup, action, expected):
    explorer = explorer_with_results(sb, ids)
    kept = (
        explorer.record,
        explorer.versions,
        explorer.properties.value,
        grid_text(explorer.table),
        explorer.timeline.figure,
        explorer.form.image_set.value,
    )
    setup(sb)
    if action == "fetch_deny_both":
        sb.deny("GetImageSet")
        action = "fetch"
    (explorer.get_button if action == "get" else explorer.fetch_button).click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error"
    assert expected in explorer.status.text
    assert "Traceback" not in explorer.status.message.value
    # Details on demand.
    assert explorer.status.toggle.layout.display != "none"
    assert explorer.status.details.layout.display == "none"
    explorer.status.toggle.value = True
    assert explorer.status.details.layout.display == "block"
    assert "operation:" in explorer.status.details.value
    assert_kept(explorer, *kept)


def test_plot_failure_leaves_every_tab_as_it_was(sb, ids, monkeypatch):
    from hi_widgets.widgets import _timeline

    explorer = explorer_with_results(sb, ids)
    versions, table = explorer.versions, grid_text(explorer.table)

    def broken(_frame, **_kwargs):
        raise RuntimeError("plot broke")

    monkeypatch.setattr(_timeline, "plot_version_timeline", broken)
    explorer.form.image_set.value = ids["long"]
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error" and "plot broke" in explorer.status.text
    # No mix of the new history in some tabs and the old one in others, and no download
    # that no longer matches the inputs.
    assert explorer.versions is versions
    assert grid_text(explorer.table) == table
    assert "failed" in explorer.table.note.value
    assert explorer.export.frame is None and explorer.export.download_button.disabled
    assert not explorer.fetch_button.disabled


def test_access_denied_names_the_iam_action(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    sb.deny("GetImageSet")
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert "Access denied" in explorer.status.text
    assert "medical-imaging:GetImageSet" in explorer.status.text
    assert "error: AccessDeniedError" in explorer.status.details.value


def test_unknown_image_set_is_not_found(sb, ids):
    explorer = explorer_with_results(sb, ids)
    record, properties = explorer.record, explorer.properties.value
    explorer.form.image_set.value = "0" * 32
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error"
    assert explorer.status.text.startswith("Not found")
    assert "0" * 32 in explorer.status.text
    assert explorer.record is record and explorer.properties.value == properties
    # The progress line says the action failed; no empty bar is left behind.
    assert explorer.runner.progress_label.value == "Getting latest version failed"
    assert explorer.runner.progress_label.layout.display != "none"
    assert explorer.runner.progress.layout.display == "none"
    assert explorer.form.image_set.value == "0" * 32


def test_unknown_version_is_not_found(sb, ids):
    explorer = make(sb, image_set_id=ids["short"], version_id=999)
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.text.startswith("Not found: version 999")


def test_unexpected_exception_is_shown_and_logged(caplog):
    class Broken:
        def get_image_set(self, **_kwargs):
            raise RuntimeError("socket on fire")

        def get_paginator(self, _name):
            raise RuntimeError("no paginators here")

    explorer = ImageSetExplorer(Broken())
    assert explorer.wait(WAIT)
    # Listing datastores failed unexpectedly: shown, and the field fell back to text.
    assert "no paginators here" in explorer.status.text
    caplog.clear()
    explorer.form.datastore.text.value = "a" * 32
    explorer.form.image_set.value = "b" * 32
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error"
    assert explorer.status.text == "RuntimeError: socket on fire"
    assert "Traceback" in explorer.status.details.value
    assert any("socket on fire" in str(r.exc_info) for r in caplog.records if r.exc_info)
    assert not explorer.get_button.disabled


def test_thread_that_cannot_start_leaves_the_widget_usable(sb, ids, monkeypatch):
    from hi_widgets.widgets import _runner

    explorer = make(sb, image_set_id=ids["short"])

    class NoThreads(_runner.threading.Thread):
        def start(self):
            raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_runner.threading, "Thread", NoThreads)
    assert not explorer.get()
    assert not explorer.busy
    assert not explorer.get_button.disabled and not explorer.fetch_button.disabled
    assert explorer.runner.cancel_button.disabled
    assert explorer.status.kind == "error"
    assert "can't start new thread" in explorer.status.text
    monkeypatch.undo()
    assert explorer.get()
    assert explorer.wait(WAIT)
    assert explorer.record is not None


def test_on_result_callback_error_is_shown_not_swallowed(sb, ids, caplog):
    explorer = make(sb, image_set_id=ids["short"])

    def broken(_result):
        raise ValueError("notebook callback bug")

    explorer.on_result(broken)
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record is not None  # the result itself is kept
    assert explorer.status.kind == "error"
    assert "on_result callback failed" in explorer.status.text
    assert "notebook callback bug" in explorer.status.text
    assert any(r.exc_info for r in caplog.records)
    explorer.on_result(broken, remove=True)
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "info"


def test_a_failing_callback_does_not_starve_the_next_one(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    seen = []

    def broken(_result):
        raise ValueError("first callback bug")

    explorer.on_result(broken)
    explorer.on_result(seen.append)
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert seen == [explorer.record]
    assert "first callback bug" in explorer.status.text


def test_include_phi_is_unticked_for_each_new_frame(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    explorer.export.include_phi.value = True
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    assert not explorer.export.include_phi.value
    assert not explorer.export.download_button.disabled


def test_swallowed_callback_exceptions_would_be_caught(caplog):
    """The autouse guard works: ipywidgets logs a swallowed exception this way."""
    button = w.Button()

    def bad(_b):
        raise RuntimeError("swallowed")

    button.on_click(bad)
    button.click()
    assert any("Exception in callback" in r.getMessage() for r in caplog.records)
    caplog.clear()


# --------------------------------------------------------------------------- fallbacks


def test_datastore_falls_back_to_text_when_listing_denied(sb, ids):
    sb.deny("ListDatastores")
    explorer = make(sb)
    field = explorer.form.datastore
    assert not field.uses_dropdown
    assert "not allowed" in field.note.value
    assert explorer.status.kind != "error"
    assert "datastoreId" in field.message.value or "Required" in field.message.value
    field.text.value = ids["ds"]
    explorer.form.image_set.value = ids["short"]
    assert not explorer.get_button.disabled
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record["imageSetId"] == ids["short"]


def test_fetch_falls_back_to_get_when_listing_versions_denied(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    listed = explorer.versions
    sb.deny("ListImageSetVersions")
    sb.clear_requests()
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "info", explorer.status.text
    walked = explorer.versions
    assert list(walked["versionId"]) == list(listed["versionId"])
    assert list(walked["imageSetWorkflowStatus"]) == list(listed["imageSetWorkflowStatus"])
    operations = [(r.operation, r.error) for r in sb.requests]
    assert operations[0] == ("ListImageSetVersions", "AccessDeniedException")
    assert {op for op, _e in operations[1:]} == {"GetImageSet"}


# --------------------------------------------------------------------------- cancel


def test_cancel_mid_fetch_stops_within_one_request(sb, ids, hold_request):
    explorer = make(sb, image_set_id=ids["long"])
    explorer.fetch_button.click()  # fast: establishes the earlier, complete results
    assert explorer.wait(WAIT)
    sb.deny("ListImageSetVersions")  # walk with GetImageSet: one request a version
    sb.clear_requests()
    gate = hold_request(explorer.client, "GetImageSet", nth=3)
    explorer.fetch_button.click()
    gate.wait_reached()  # the third GetImageSet is about to go out
    explorer.runner.cancel_button.click()
    gate.release()
    assert explorer.wait(WAIT)
    # The request in flight when Cancel was pressed completes; no further one is sent.
    assert len(requests_of(sb, "GetImageSet")) == 3
    assert explorer.status.kind == "warning"
    assert "Cancelled" in explorer.status.text and "partial" in explorer.status.text
    assert not explorer.versions_complete
    assert 0 < len(explorer.versions) < 73
    assert explorer.table.count.value == f"{len(explorer.versions)} versions"
    assert not explorer.fetch_button.disabled and explorer.runner.cancel_button.disabled
    assert explorer.runner.progress_label.value.startswith("Cancelled at ")
    assert explorer.runner.progress.bar_style == "warning"


# --------------------------------------------------------------------------- connection


def test_connection_panel_starts_and_stops_a_sandbox(ids):
    explorer = ImageSetExplorer(
        sandbox_options={"seed": 0, "quotas": False}, client_options={"max_attempts": 1}
    )
    panel = explorer.connection
    assert panel is not None and panel in explorer.children
    assert "hi-connection" in panel._dom_classes
    assert explorer.client is None
    assert explorer.get_button.disabled
    panel.mode.value = MODE_SANDBOX
    assert panel._aws_box.layout.display == "none"
    panel.connect_button.click()
    assert explorer.wait(WAIT), explorer.status.text
    assert explorer.client is not None, explorer.status.text
    started = panel.sandbox
    assert started is not None and started.running
    assert "local sandbox" in explorer.status.text
    assert explorer.form.datastore.uses_dropdown
    explorer.form.image_set.value = started.store.image_set_ids(explorer.form.datastore.value)[2]
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record is not None
    # The connected client's secret key is in no widget's synced state and no repr.
    secret = started.credentials()["aws_secret_access_key"]
    states = []

    def walk(widget):
        states.append(str(widget.get_state()))
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(explorer)
    assert len(states) > 20
    assert not [state for state in states if secret in state]
    assert secret not in repr(explorer) and secret not in repr(explorer.client)
    explorer.close()
    assert not started.running
    assert panel.sandbox is None


def test_connection_panel_bad_profile_shows_credentials_error():
    explorer = ImageSetExplorer()
    panel = explorer.connection
    panel.profile.options = [*panel.profile.options, "no-such-profile"]
    panel.profile.value = "no-such-profile"
    panel.region.value = "us-east-1"
    panel.connect_button.click()
    assert explorer.wait(WAIT)
    assert explorer.client is None
    assert explorer.status.kind == "error"
    assert "no-such-profile" in explorer.status.text
    # No secret in any widget trait.
    for widget in (panel.profile, panel.region, panel.endpoint, panel.info):
        assert "SECRET" not in str(widget.get_state()).upper()


def test_known_versions_are_forgotten_when_the_image_set_changes(sb, ids):
    explorer = make(sb, image_set_id=ids["short"])
    explorer.fetch_button.click()
    assert explorer.wait(WAIT)
    version = explorer.form.version
    assert version.uses_dropdown
    version.dropdown.value = "1"
    explorer.get_button.click()
    assert explorer.wait(WAIT)
    assert explorer.record["versionId"] == 1
    explorer.form.image_set.value = ids["long"]
    assert not version.uses_dropdown
    assert version.text.value == "1"  # the input is kept, as text


def test_search_by_creation_date_range(sb, ids):
    explorer = make(sb)
    explorer.search.date_from.value = date(2000, 1, 1)
    explorer.search.date_to.value = date.today()
    explorer.search.button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "info", explorer.status.text
    found = list(explorer.search.results.frame["imageSetId"])
    assert ids["long"] in found and ids["short"] in found
    search = requests_of(sb, "SearchImageSets")[-1]
    (criterion,) = search.params["searchCriteria"]["filters"]
    assert criterion["operator"] == "BETWEEN"
    # An empty range finds nothing (and says so).
    explorer.search.date_from.value = date(2001, 1, 1)
    explorer.search.date_to.value = date(2001, 1, 2)
    explorer.search.button.click()
    assert explorer.wait(WAIT)
    assert len(explorer.search.results.frame) == 0
    assert explorer.search.count.value == "0 image sets"


def test_search_with_too_many_criteria_is_refused_before_any_request(sb, ids):
    explorer = make(sb)
    explorer.search.patient_id.value = "DEMO-0001"
    explorer.search.accession_number.value = "A1"
    explorer.search.date_from.value = date(2000, 1, 1)
    before = len(sb.requests)
    explorer.search.button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "error"
    assert "at most 2 criteria" in explorer.status.text
    assert len(sb.requests) == before


def test_search_says_matching_is_exact_and_keeps_patient_data_out_of_widget_state(sb, ids):
    explorer = make(sb)
    search = explorer.search
    help_text = search.children[0].value
    assert "exactly" in help_text and "EQUAL" in help_text and "BETWEEN" in help_text
    document = sb.store.metadata_document(ids["ds"], ids["long"])
    patient_id = document["Patient"]["DICOM"]["PatientID"]
    search.patient_id.value = patient_id[:-1]  # a prefix finds nothing: exact match
    search.button.click()
    assert explorer.wait(WAIT)
    assert len(search.results.frame) == 0 and search.count.value == "0 image sets"
    search.patient_id.value = patient_id
    search.button.click()
    assert explorer.wait(WAIT)
    assert len(search.results.frame)
    assert not any(c.startswith("DICOM") for c in search.results.shown.columns)
    state = json.dumps(search.results.grid.get_state(), default=str)
    for column in ("DICOMAccessionNumber", "DICOMStudyDate", "DICOMPatientName"):
        for value in search.frame[column].dropna().astype(str):
            assert value not in state, column


def test_search_by_update_date_range(sb, ids):
    explorer = make(sb)
    search = explorer.search
    search.date_field.value = "updated"
    search.date_from.value = date(2000, 1, 1)
    search.date_to.value = date.today()
    assert search.criteria()["updated_between"] == (date(2000, 1, 1), date.today())
    sb.clear_requests()
    search.button.click()
    assert explorer.wait(WAIT), explorer.status.text
    assert explorer.status.kind == "info", explorer.status.text
    assert len(search.results.frame) > 0
    search.date_to.value = date(2000, 1, 2)
    search.button.click()
    assert explorer.wait(WAIT)
    assert len(search.results.frame) == 0


def test_the_connection_panels_sandbox_shows_the_demo_jobs_files_with_no_s3_client_given():
    # No AWS_ENDPOINT_URL_S3 and no s3_client: the panel's own sandbox serves the demo S3.
    explorer = ImageSetExplorer(
        sandbox_options={"seed": 0, "quotas": False}, client_options={"max_attempts": 1}
    )
    panel = explorer.connection
    assert panel is not None and panel.sandbox_options["demo_s3"] is True
    panel.mode.value = MODE_SANDBOX
    panel.connect_button.click()
    assert explorer.wait(WAIT), explorer.status.text
    view = explorer.imports
    assert view.s3_client is None
    view.status_filter.value = "COMPLETED"
    assert view.list_jobs() and explorer.wait(WAIT), explorer.status.text
    assert view.open_job(view.jobs["jobId"].iloc[0]) and explorer.wait(WAIT), explorer.status.text
    assert view.outcomes is not None and len(view.files_grid.frame) > 0
    explorer.close()
    assert panel.sandbox is None
