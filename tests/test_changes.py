"""The change log: comparison on hand-made documents, fetch_changes on the sandbox, the plot."""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timezone
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from hi_widgets import sandbox
from hi_widgets.api.errors import AccessDeniedError, InvalidIdentifierError, ResourceNotFoundError
from hi_widgets.api.model import workflow_statuses
from hi_widgets.changes.diff import diff_versions
from hi_widgets.changes.log import (
    CHANGES_COLUMNS,
    LEVELS,
    VERSION_KINDS,
    changes_from_documents,
    empty_changes_frame,
    fetch_changes,
)
from hi_widgets.widgets._changes_view import CHANGES_KEY_COLUMNS
from hi_widgets.widgets._grid import display_frame

SERIES = "1.2.840.113619.2.55.3.1"
SERIES_2 = "1.2.840.113619.2.55.3.2"
INSTANCE = "1.2.840.113619.2.55.3.1.7"
INSTANCE_2 = "1.2.840.113619.2.55.3.1.8"


def instance(number: int) -> dict:
    return {
        "DICOM": {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "InstanceNumber": number},
        "ImageFrames": [{"ID": f"frame-{number}", "FrameSizeInBytes": 1024}],
    }


BASE: dict[str, Any] = {
    "SchemaVersion": "1.1",
    "Patient": {"DICOM": {"PatientName": "DEMO^PATIENT^001", "PatientID": "DEMO-0001"}},
    "Study": {
        "DICOM": {"StudyDescription": "CT HEAD", "StudyDate": "20240108"},
        "Series": {
            SERIES: {
                "DICOM": {"Modality": "CT", "SeriesNumber": 1},
                "Instances": {INSTANCE: instance(1), INSTANCE_2: instance(2)},
            }
        },
    },
}


def edited(**changes):
    doc = copy.deepcopy(BASE)
    for key, value in changes.items():
        doc["Study"]["DICOM"][key] = value
    return doc


def record(status: str, message: str | None = None, day: int = 1) -> dict:
    return {
        "imageSetWorkflowStatus": status,
        "message": message,
        "updatedAt": datetime(2024, 1, day, tzinfo=timezone.utc),
    }


def attribute_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["attribute"].notna()]


# ------------------------------------------------------------------- the comparison


def test_changed_attribute():
    frame = changes_from_documents({1: BASE, 2: edited(StudyDescription="CT HEAD REV")})
    assert list(frame["kind"]) == ["initial", "modified"]
    row = frame.iloc[1]
    assert (row.versionId, row.previousVersionId, row.level, row.attribute) == (
        2,
        1,
        "Study",
        "StudyDescription",
    )
    assert (row.path, row.change, row.old, row.new) == (
        "Study.DICOM.StudyDescription",
        "changed",
        "CT HEAD",
        "CT HEAD REV",
    )
    assert pd.isna(row.series) and pd.isna(row.revertedTo)


def test_added_series_is_one_row_with_a_stable_label():
    new = copy.deepcopy(BASE)
    new["Study"]["Series"][SERIES_2] = {
        "DICOM": {"Modality": "CT", "SeriesNumber": 2},
        "Instances": {"9.9.9": instance(1)},
    }
    frame = attribute_rows(changes_from_documents({1: BASE, 2: new, 3: BASE}))
    added, removed = frame.iloc[0], frame.iloc[1]
    assert (added.level, added.attribute, added.change) == ("Series", "SeriesInstanceUID", "added")
    assert (added.new, added.seriesInstanceUID) == (SERIES_2, SERIES_2)
    assert added.path == f"Study.Series.{SERIES_2}"
    assert added.series == f"S2 (…{SERIES_2[-6:]})"
    # Version 3 removes it again, under the same label; it also restores version 1.
    assert (removed.change, removed.old, removed.series) == ("removed", SERIES_2, added.series)
    assert (removed.kind, removed.revertedTo) == ("revert", 1)
    assert len(frame) == 2  # no row per attribute inside the series


def test_removed_instance_and_changed_series_and_frame_attributes():
    new = copy.deepcopy(BASE)
    series = new["Study"]["Series"][SERIES]
    del series["Instances"][INSTANCE_2]
    series["DICOM"]["Modality"] = "MR"
    series["Instances"][INSTANCE]["ImageFrames"][0]["FrameSizeInBytes"] = 2048
    rows = attribute_rows(changes_from_documents({1: BASE, 2: new}))
    assert list(zip(rows["level"], rows["attribute"], rows["change"], strict=True)) == [
        ("Series", "Modality", "changed"),
        ("Instance", "ImageFrames", "changed"),
        ("Instance", "SOPInstanceUID", "removed"),
    ]
    assert rows.iloc[2]["old"] == INSTANCE_2
    assert rows.iloc[1]["path"] == (
        f"Study.Series.{SERIES}.Instances.{INSTANCE}.ImageFrames[0].FrameSizeInBytes"
    )
    assert set(rows["series"]) == {f"S1 (…{SERIES[-6:]})"}
    assert set(rows["seriesInstanceUID"]) == {SERIES}


def test_failed_update_shows_as_failed_not_as_silence():
    message = "Update failed: StudyDate is not a DICOM DA value"
    frame = changes_from_documents(
        {1: BASE, 2: BASE, 3: edited(StudyDate="20240109")},
        {1: record("IMPORTED"), 2: record("UPDATE_FAILED", message, 2), 3: record("UPDATED")},
    )
    assert list(frame["kind"]) == ["initial", "failed", "modified"]
    failed = frame.iloc[1]
    assert (failed.workflowStatus, failed.message) == ("UPDATE_FAILED", message)
    assert pd.isna(failed.attribute) and pd.isna(failed.change)
    assert failed.updatedAt == pd.Timestamp("2024-01-02", tz="UTC")
    # A copy that changed nothing is "unchanged", not failed.
    same = changes_from_documents({1: BASE, 2: BASE}, {2: record("COPIED")})
    assert list(same["kind"]) == ["initial", "unchanged"]


def test_revert_names_the_version_it_restores():
    a, b, c = BASE, edited(StudyDescription="B"), edited(StudyDescription="C")
    frame = changes_from_documents({1: a, 2: b, 3: c, 4: b, 5: a})
    assert list(frame["kind"]) == ["initial", "modified", "modified", "revert", "revert"]
    assert list(frame["revertedTo"].astype("object").fillna(0)) == [0, 0, 0, 2, 1]
    assert list(frame["new"].iloc[1:]) == ["B", "C", "B", "CT HEAD"]


def test_errors_and_cancelled_versions_keep_their_place():
    frame = changes_from_documents(
        {1: BASE, 2: RuntimeError("boom"), 3: edited(StudyDescription="X"), 4: None},
        {5: record("UPDATED")},
    )
    assert list(frame["kind"]) == ["initial", "error", "modified", "cancelled", "cancelled"]
    assert frame.iloc[1]["message"] == "RuntimeError: boom"
    assert list(frame["previousVersionId"].astype("object").fillna(0)) == [0, 1, 1, 3, 3]


def test_empty_frame_has_the_full_schema_and_unknown_statuses_are_kept():
    empty = empty_changes_frame()
    assert tuple(empty.columns) == CHANGES_COLUMNS and empty.empty
    assert str(empty["updatedAt"].dtype) == "datetime64[us, UTC]"
    assert str(empty["versionId"].dtype) == "Int64"
    assert list(empty["kind"].cat.categories) == list(VERSION_KINDS)
    assert list(empty["level"].cat.categories) == list(LEVELS)
    assert list(empty["workflowStatus"].cat.categories) == list(workflow_statuses())
    frame = changes_from_documents({1: BASE}, {1: record("SOMETHING_NEW")})
    assert frame.iloc[0]["workflowStatus"] == "SOMETHING_NEW"
    categories = list(frame["workflowStatus"].cat.categories)
    assert categories == [*workflow_statuses(), "SOMETHING_NEW"]


def test_missing_values_print_one_way_in_the_frame_and_blank_in_the_grid():
    # Version 2 adds StudyID (no old value), version 3 fails (no level, change, values);
    # issue 22 saw the frame print some missing cells NaN (categories), others <NA>.
    frame = changes_from_documents(
        {1: BASE, 2: edited(StudyID="S-2"), 3: edited(StudyID="S-2")},
        {
            1: record("CREATED", day=1),
            2: record("UPDATED", day=2),
            3: record("UPDATE_FAILED", "StudyDate is not updatable", day=3),
        },
    )
    added = frame[frame["attribute"] == "StudyID"].iloc[0]
    assert added["change"] == "added" and pd.isna(added["old"]), added
    missing = int(frame.isna().to_numpy().sum())
    assert missing > 0 and frame["level"].isna().any() and frame["change"].isna().any()
    for text in (frame.to_string(), frame.to_html(), frame._repr_html_()):
        assert "NaN" not in text and "nan" not in text.lower().replace("<na>", "")
    assert frame.to_html().count("<td>&lt;NA&gt;</td>") == missing
    shown = display_frame(frame, key_columns=CHANGES_KEY_COLUMNS)
    blank = shown[list(frame.columns)].astype(str).eq("")
    assert (blank.to_numpy() == frame.isna().to_numpy()).all()


# ----------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def box():
    with sandbox.start(seed=0, quotas=False) as sb:
        yield sb


@pytest.fixture
def sb(box):
    box.set_faults()
    box.clear_requests()
    yield box
    box.set_faults()
    box.allow("GetImageSetMetadata")
    box.allow("ListImageSetVersions")


@pytest.fixture
def long_history(box):
    ds = box.store.datastore_ids()[0]
    return ds, box.store.image_set_ids(ds)[1]


@pytest.fixture
def client(box):
    client = box.client(max_attempts=1)
    yield client
    client.close()


def metadata_requests(sb) -> list:
    return [entry for entry in sb.requests if entry.operation == "GetImageSetMetadata"]


def test_the_73_version_history(sb, client, long_history):
    calls = []
    frame = fetch_changes(
        client, *long_history, progress=lambda p: calls.append((p.done, p.total))
    )
    assert calls[-1] == (73, 73) and [done for done, _ in calls] == list(range(1, 74))
    assert tuple(frame.columns) == CHANGES_COLUMNS
    assert sorted(set(frame["versionId"])) == list(range(1, 74))
    assert frame["versionId"].is_monotonic_increasing
    assert len(metadata_requests(sb)) == 73
    store_versions = {int(v["versionId"]): v for v in sb.store.versions(*long_history)}
    first_rows = frame.drop_duplicates("versionId").set_index("versionId")
    for version_id, version in store_versions.items():
        assert first_rows.loc[version_id, "workflowStatus"] == version["imageSetWorkflowStatus"]
    # The demo's failed update (version 5) changed nothing, and says so.
    assert first_rows.loc[5, "kind"] == "failed"
    assert first_rows.loc[5, "message"].startswith("Update failed")
    # Each modified version's rows are exactly diff_versions' diff of the pair.
    for version_id in (2, 4):
        rows = frame[frame["versionId"] == version_id]
        pair = diff_versions(client, *long_history, version_id - 1, version_id)
        if rows["attribute"].iloc[0] == "SeriesInstanceUID":
            assert pair["path"].str.startswith(rows["path"].iloc[0] + ".").all()
        else:
            assert list(rows["path"]) == list(pair["path"])
            assert list(rows["new"]) == list(pair["new"])


def test_versions_compares_the_selection_in_order(box, sb, long_history):
    retrying = box.client()  # botocore retries on: fetch_changes uses a one-attempt twin
    frame = fetch_changes(retrying, *long_history, version_ids=[np.int64(73), "1"])
    retrying.close()
    assert list(frame.drop_duplicates("versionId")["versionId"]) == [1, 73]
    assert set(frame.loc[frame["versionId"] == 73, "previousVersionId"]) == {1}
    assert len(metadata_requests(sb)) == 2


def test_bad_versions_are_refused_before_any_request(sb, client, long_history):
    with pytest.raises(InvalidIdentifierError) as caught:
        fetch_changes(client, *long_history, version_ids=[1, "v2"])
    assert caught.value.field == "version_ids[1]"
    with pytest.raises(TypeError, match="version_ids"):
        fetch_changes(client, *long_history, version_ids=7)
    with pytest.raises(InvalidIdentifierError):
        fetch_changes(client, "not-a-datastore", long_history[1])
    assert sb.requests == []
    assert fetch_changes(client, *long_history, version_ids=[]).empty
    with pytest.raises(ResourceNotFoundError, match=r"version\(s\) 999 .*versions 1 to 73"):
        fetch_changes(client, *long_history, version_ids=[1, 999])


def test_service_errors_become_hi_widgets_exceptions(sb, client, long_history):
    sb.deny("ListImageSetVersions")
    with pytest.raises(AccessDeniedError):
        fetch_changes(client, *long_history)
    sb.allow("ListImageSetVersions")
    sb.deny("GetImageSetMetadata")
    with pytest.raises(AccessDeniedError):
        fetch_changes(client, *long_history, version_ids=[1, 2])


def test_throttling_and_server_errors_are_retried(sb, client, long_history):
    clean = fetch_changes(client, *long_history, version_ids=range(1, 21))
    sb.set_faults(throttle_rate=0.2, error_rate=0.1, seed=3, operations=["GetImageSetMetadata"])
    sb.clear_requests()
    again = fetch_changes(
        client,
        *long_history,
        version_ids=range(1, 21),
        quota_rates={"GetImageSetMetadata": (1000, 1000)},
    )
    statuses = {entry.status for entry in metadata_requests(sb)}
    assert {429, 500} <= statuses  # faults happened, and were retried away
    pd.testing.assert_frame_equal(again, clean)


def test_cancel_stops_sending(sb, client, long_history, hold_request):
    gate = hold_request(client, "GetImageSetMetadata", nth=1)
    cancel = threading.Event()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            frame=fetch_changes(client, *long_history, max_workers=1, cancel=cancel)
        )
    )
    worker.start()
    gate.wait_reached()
    cancel.set()
    gate.release()
    worker.join(60)
    assert not worker.is_alive()
    frame = result["frame"]
    assert len(metadata_requests(sb)) == 1  # the one on the wire; nothing after the cancel
    kinds = frame.drop_duplicates("versionId").set_index("versionId")["kind"]
    assert (kinds == "cancelled").sum() == len(kinds) - 1
    assert kinds.loc[73] == "initial"  # the newest version was fetched first


def test_a_revert_made_on_the_sandbox():
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with sandbox.start(seed=0, quotas=False, clock=sandbox.ManualClock(start)) as sb:
        ds = sb.store.datastore_ids()[0]
        image_set = sb.store.image_set_ids(ds)[0]  # a single version
        client = sb.client(max_attempts=1)
        payload = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "EDITED"}}}
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId="1",
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"updatableAttributes": json.dumps(payload).encode()}
            },
        )
        sb.clock.advance(5)
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId="2",
            updateImageSetMetadataUpdates={"revertToVersionId": "1"},
        )
        sb.clock.advance(5)
        frame = fetch_changes(client, ds, image_set)
        client.close()
    assert list(frame["kind"]) == ["initial", "modified", "revert"]
    assert list(frame["new"].iloc[1:]) == ["EDITED", frame["old"].iloc[1]]
    assert frame["revertedTo"].iloc[2] == 1


# ---------------------------------------------------------------------------- the plot


def label_boxes_overlap(ax, axis: str) -> bool:
    figure = ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    boxes = [t.get_window_extent(renderer) for t in ticks if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def many_attributes_frame(count: int) -> pd.DataFrame:
    docs = {}
    for version in range(1, 74):
        doc = copy.deepcopy(BASE)
        # Attribute k changes in versions divisible by k.
        doc["Study"]["DICOM"].update({f"Attr{k:02d}": version // k for k in range(1, count + 1)})
        docs[version] = doc
    return changes_from_documents(docs)


def test_plot_of_the_73_version_history_is_readable(box, client, long_history):
    import matplotlib.pyplot as plt

    from hi_widgets.plots.changes import CHANGE_COLORS, KIND_COLORS, plot_changes

    frame = fetch_changes(client, *long_history)
    ax = plot_changes(frame)
    assert plt.get_fignums() == []  # no pyplot state
    labels = [t.get_text() for t in ax.get_yticklabels()]
    changed = frame.dropna(subset=["attribute"])
    level_rank = {level: i for i, level in enumerate(LEVELS)}
    expected = sorted(
        {(row.level, row.attribute) for row in changed.itertuples()},
        key=lambda pair: (level_rank[pair[0]], pair[1]),
    )
    assert labels == ["(version)", *(f"{level}: {name}" for level, name in expected)]
    shown = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert shown[0] == 1 and 5 <= len(shown) <= 25
    assert not label_boxes_overlap(ax, "x") and not label_boxes_overlap(ax, "y")
    cells = ax.images[0].get_array()
    failed = int(frame.loc[frame["kind"] == "failed", "versionId"].iloc[0])
    assert tuple(cells[0, failed - 1]) == pytest.approx(to_rgba(KIND_COLORS["failed"]))
    first = changed[changed["change"] == "changed"].iloc[0]
    row = 1 + expected.index((first["level"], first["attribute"]))
    color = to_rgba(CHANGE_COLORS["changed"])
    assert tuple(cells[row, int(first["versionId"]) - 1]) == pytest.approx(color)
    assert ax.figure._repr_png_().startswith(b"\x89PNG")


def test_plot_sorts_by_level_then_name_and_thins_labels_to_fit():
    from hi_widgets.plots.changes import plot_changes

    new = copy.deepcopy(BASE)
    new["Patient"]["DICOM"]["PatientName"] = "OTHER"
    new["Study"]["DICOM"]["accessionNumber"] = "1"
    new["Study"]["DICOM"]["StudyDescription"] = "X"
    new["Study"]["Series"][SERIES]["Instances"][INSTANCE]["DICOM"]["InstanceNumber"] = 5
    new["Study"]["Series"][SERIES]["DICOM"]["Modality"] = "MR"
    labels = [
        t.get_text()
        for t in plot_changes(changes_from_documents({1: BASE, 2: new})).get_yticklabels()
    ]
    assert labels == [
        "(version)",
        "Patient: PatientName",
        "Study: accessionNumber",
        "Study: StudyDescription",
        "Series: Modality",
        "Instance: InstanceNumber",
    ]
    # Sixty attributes on a small given Axes: fewer labels, none overlapping.
    figure = Figure(figsize=(6, 3))
    FigureCanvasAgg(figure)
    ax = plot_changes(many_attributes_frame(60), ax=figure.add_subplot())
    assert 2 <= len(ax.get_yticklabels()) < 61
    assert not label_boxes_overlap(ax, "y") and not label_boxes_overlap(ax, "x")


def test_plot_of_an_empty_frame_says_so():
    from hi_widgets.plots.changes import plot_changes

    ax = plot_changes(empty_changes_frame())
    assert [t.get_text() for t in ax.texts] == ["No changes to show"]
    with pytest.raises(ValueError, match="attribute"):
        plot_changes(pd.DataFrame({"versionId": [1], "kind": ["initial"]}))


def test_a_version_that_cannot_be_fetched_becomes_an_error_row():
    # Stubber (shapes checked against the model) on a one-attempt client; one worker, so
    # the documents are asked for in listing order: newest first.
    import gzip
    import io

    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from hi_widgets.api.client import make_client

    ds, image_set = "d" * 32, "e" * 32
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client = make_client(session=session, max_attempts=1)
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    listing = {
        "imageSetPropertiesList": [
            {
                "imageSetId": image_set,
                "versionId": str(v),
                "imageSetState": "ACTIVE",
                "ImageSetWorkflowStatus": "UPDATED",
                "createdAt": when,
                "updatedAt": when,
            }
            for v in (3, 2, 1)
        ],
    }

    def blob(doc):
        raw = gzip.compress(json.dumps(doc).encode())
        return {
            "imageSetMetadataBlob": StreamingBody(io.BytesIO(raw), len(raw)),
            "contentType": "application/json",
            "contentEncoding": "gzip",
        }

    ids = {"datastoreId": ds, "imageSetId": image_set}
    with Stubber(client) as stub:
        stub.add_response("list_image_set_versions", listing, {**ids, "maxResults": 50})
        stub.add_response(
            "get_image_set_metadata", blob(edited(StudyDescription="3")), {**ids, "versionId": "3"}
        )
        stub.add_client_error(
            "get_image_set_metadata",
            "AccessDeniedException",
            "no",
            403,
            expected_params={**ids, "versionId": "2"},
        )
        stub.add_response("get_image_set_metadata", blob(BASE), {**ids, "versionId": "1"})
        frame = fetch_changes(client, ds, image_set, max_workers=1)
        stub.assert_no_pending_responses()
    client.close()
    assert list(frame["kind"]) == ["initial", "error", "modified"]
    assert frame.iloc[1]["message"].startswith("AccessDeniedError: Access denied")
    assert (frame.iloc[2]["previousVersionId"], frame.iloc[2]["new"]) == (1, "3")


def test_a_progress_callback_that_raises_stops_the_fetch(sb, client, long_history):
    class Stop(Exception):
        pass

    def progress(step):
        raise Stop

    with pytest.raises(Stop):
        fetch_changes(client, *long_history, progress=progress)
