"""AWS's documented example responses through the product: records, frames, plots, change log.

The examples are the AWS CLI command reference's for ``medical-imaging`` (repeated in the
HealthImaging developer guide), transcribed in ``tests/data/aws_examples/`` with their page
and title (see ``tests/aws_examples.py``). Each is fed to boto3 through
``botocore.stub.Stubber`` after botocore's own parser read the page's body, so the product
meets exactly what boto3 would return for it, absent fields included.

What these examples say about time, and the product must honour:

* ``createdAt`` is the image set's creation time, the same on every version
  (list-image-set-versions: 1680027126.436 on versions 1 to 4; copy-image-set: the source
  keeps it, a new destination has ``createdAt == updatedAt``);
* ``updatedAt`` is when the version was last changed, and may be absent (version 1 of the
  list-image-set-versions example; the SearchImageSets examples 3 and 4 print
  ``lastUpdatedAt``, a key the service model does not have);
* a failure is a version (``COPY_FAILED`` with a ``message``), not an error.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from aws_examples import (
    as_boto3,
    boto3_request,
    dropped_keys,
    example_names,
    examples_of,
    load,
    operation_model,
)
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

import hi_widgets
from hi_widgets.api.records import normalize_image_set
from hi_widgets.api.tables import DERIVED_COLUMNS, image_sets_frame, versions_frame
from hi_widgets.changes.log import changes_from_documents
from hi_widgets.plots.counts import plot_activity, plot_state_counts
from hi_widgets.plots.timeline import plot_version_timeline

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")

CLI_REFERENCE = "https://docs.aws.amazon.com/cli/latest/reference/medical-imaging/"
DEVELOPER_GUIDE = "https://docs.aws.amazon.com/healthimaging/latest/devguide/"
OPERATIONS = (
    "GetImageSet",
    "ListImageSetVersions",
    "SearchImageSets",
    "CopyImageSet",
    "UpdateImageSetMetadata",
    "DeleteImageSet",
    "GetImageSetMetadata",
    "GetDatastore",
    "ListDatastores",
    "StartDICOMImportJob",
    "GetDICOMImportJob",
    "ListDICOMImportJobs",
)
# Keys the pages print that the installed service model does not have (boto3 drops them).
NOT_IN_THE_MODEL = {
    "search-image-sets-3": {"imageSetsMetadataSummaries.[].lastUpdatedAt"},
    "search-image-sets-4": {"imageSetsMetadataSummaries.[].lastUpdatedAt"},
}
HISTORY = "list-image-set-versions"
IMAGE_SET_CREATED = datetime(2023, 3, 28, 18, 12, 6, 436000, timezone.utc)  # 1680027126.436
A_YEAR = timedelta(days=365)


def utc(seconds: float) -> pd.Timestamp:
    """The pages' epoch seconds (millisecond precision) as a UTC timestamp."""
    return pd.Timestamp(round(seconds * 1000), unit="ms", tz="UTC")


def history_records(shift: timedelta = timedelta(0)) -> list[dict]:
    """The list-image-set-versions example as records, createdAt moved by ``shift``."""
    example = load(HISTORY)
    items = as_boto3(example)["imageSetPropertiesList"]
    datastore_id = example["request"]["datastoreId"]
    records: list[dict[str, Any]] = [
        dict(normalize_image_set(item, datastore_id=datastore_id)) for item in items
    ]
    for record in records:
        record["createdAt"] += shift
    return records


# --------------------------------------------------------------------- the transcriptions


def test_every_operation_the_product_reads_has_its_examples():
    have = {load(name)["operation"] for name in example_names()}
    assert set(OPERATIONS) <= have
    assert len(example_names()) >= 28


@pytest.mark.parametrize("name", example_names())
def test_each_example_cites_its_page_and_matches_the_service_model(name):
    example = load(name)
    source = example["source"]
    command = re.sub(r"-\d+$", "", name)
    assert source["url"] == f"{CLI_REFERENCE}{command}.html"
    assert source["developer_guide"].startswith(DEVELOPER_GUIDE)
    assert source["example"] and not source["example"].startswith("*")
    model = operation_model(example["operation"])
    # The request, in boto3's names, is one the installed model accepts.
    validate_parameters(boto3_request(example), model.input_shape)
    parsed = as_boto3(example)
    assert dropped_keys(example["response"], parsed, model.output_shape) == NOT_IN_THE_MODEL.get(
        name, set()
    )
    required = set(model.output_shape.required_members)
    assert required <= set(parsed), f"{name}: {required - set(parsed)} missing"


def test_create_at_is_the_image_sets_across_every_example():
    """Every example naming image set ea92b0d8… gives it the same createdAt, whatever the
    version or the operation: it is the image set's, not the version's."""
    image_set = "ea92b0d8838c72a3f25d00d13616f87e"
    seen: dict[str, set[float]] = {}

    def visit(value, name):
        if isinstance(value, dict):
            if value.get("imageSetId") == image_set and "createdAt" in value:
                seen.setdefault(name, set()).add(value["createdAt"])
            for item in value.values():
                visit(item, name)
        elif isinstance(value, list):
            for item in value:
                visit(item, name)

    for name in example_names():
        visit(load(name)["response"], name)
    assert len(seen) >= 5  # list-image-set-versions, copy-image-set 1-3, updates
    assert set.union(*seen.values()) == {IMAGE_SET_CREATED.timestamp()}
    # ...while updatedAt differs per version.
    updated = [
        item.get("updatedAt") for item in load(HISTORY)["response"]["imageSetPropertiesList"]
    ]
    assert len({u for u in updated if u is not None}) == 3 and None in updated


# ------------------------------------------------------------------ through the data layer


def test_get_image_set_example_as_a_record_and_a_frame(stubbed):
    client, stub = stubbed
    example = load("get-image-set")
    stub.add_response("get_image_set", as_boto3(example), example["request"])
    request = example["request"]
    record = hi_widgets.get_image_set(
        client, request["datastoreId"], request["imageSetId"], version_id=request["versionId"]
    )
    assert record["versionId"] == 1 and record["imageSetWorkflowStatus"] == "COPIED"
    assert record["createdAt"] == utc(1679592510.753)
    assert record["updatedAt"] == utc(1680027253.471)
    frame = versions_frame([record])
    assert frame.loc[0, "changedAt"] == utc(1680027253.471)  # updatedAt, not createdAt
    assert pd.isna(frame.loc[0, "sincePrevious"]) and bool(frame.loc[0, "isLatest"])
    assert "duration" not in frame.columns


def test_list_image_set_versions_example_tabulates(stubbed):
    client, stub = stubbed
    example = load(HISTORY)
    request = example["request"]
    stub.add_response("list_image_set_versions", as_boto3(example), {**request, "maxResults": 50})
    records = list(hi_widgets.iter_versions(client, request["datastoreId"], request["imageSetId"]))
    frame = versions_frame(records)
    assert frame["versionId"].tolist() == [1, 2, 3, 4]
    assert (frame["createdAt"] == IMAGE_SET_CREATED).all()
    assert frame["updatedAt"].isna().tolist() == [True, False, False, False]
    assert frame["imageSetWorkflowStatus"].astype(str).tolist() == [
        "COPIED",
        "COPY_FAILED",
        "UPDATED",
        "UPDATED",
    ]
    assert frame.loc[1, "message"].startswith("INVALID_REQUEST:")
    # Each version at its own time; version 1 (no updatedAt) at the image set's creation.
    assert frame["changedAt"].tolist() == [
        IMAGE_SET_CREATED,
        utc(1680027455.944),
        utc(1680029163.325),
        utc(1680029436.304),
    ]
    seconds = [None if pd.isna(t) else round(t.total_seconds(), 3) for t in frame["sincePrevious"]]
    assert seconds == [None, 329.508, 1707.381, 272.979]
    assert frame["isLatest"].tolist() == [False, False, False, True]
    # What "duration = updatedAt - createdAt" would have said: 38 minutes for version 4.
    assert (frame["updatedAt"] - frame["createdAt"]).max() > frame["sincePrevious"].max()


def test_no_derived_time_grows_with_the_image_sets_age():
    """createdAt a year earlier: every time AWS gives per version stays put. Only version
    1, whose one time is createdAt (the example gives it no updatedAt), moves with it."""
    now = versions_frame(history_records())
    older = versions_frame(history_records(shift=-A_YEAR))
    assert list(DERIVED_COLUMNS) == ["changedAt", "sincePrevious", "isLatest"]
    own_time = now["updatedAt"].notna()
    pd.testing.assert_series_equal(now["changedAt"][own_time], older["changedAt"][own_time])
    pd.testing.assert_series_equal(now["isLatest"], older["isLatest"])
    after_own_time = own_time & own_time.shift(1, fill_value=False)
    assert after_own_time.tolist() == [False, False, True, True]
    pd.testing.assert_series_equal(
        now["sincePrevious"][after_own_time], older["sincePrevious"][after_own_time]
    )
    # The fallback is the only path from createdAt to a derived time, and it is exact.
    assert older.loc[0, "changedAt"] == now.loc[0, "changedAt"] - A_YEAR
    assert older.loc[1, "sincePrevious"] == now.loc[1, "sincePrevious"] + A_YEAR
    # A history where every version has its updatedAt does not move at all.
    full = [dict(r, updatedAt=r["updatedAt"] or r["createdAt"]) for r in history_records()]
    full_older = [dict(r, createdAt=r["createdAt"] - A_YEAR) for r in full]
    derived = ["changedAt", "sincePrevious", "isLatest"]
    pd.testing.assert_frame_equal(
        versions_frame(full)[derived], versions_frame(full_older)[derived]
    )


def _bars(frame: pd.DataFrame) -> list[tuple[float, float]]:
    ax = plot_version_timeline(frame)
    versions = next(c for c in ax.collections if c.get_gid() == "versions")
    corners = [np.asarray(p.vertices)[:4, 0] for p in versions.get_paths()]
    return [(float(x.min()), float(x.max())) for x in corners]


def test_list_image_set_versions_example_plots_sensibly():
    frame = versions_frame(history_records())
    ax = plot_version_timeline(frame)
    bars = _bars(frame)
    times = mdates.date2num(frame["changedAt"].dt.tz_localize(None).to_numpy())
    # Each bar ends at its version's time and starts at the previous one's.
    assert [end for _start, end in bars] == pytest.approx(times, abs=1e-6)
    assert [start for start, _end in bars[1:]] == pytest.approx(times[:-1], abs=1e-6)
    # The axis spans the versions (38 minutes), not from the image set's creation onwards
    # for every bar; the failed copy is marked at its time.
    left, right = ax.get_xlim()
    assert (right - left) * 24 * 60 < 60
    failures = next(c for c in ax.collections if c.get_gid() == "failures")
    assert failures.get_offsets()[:, 0].tolist() == pytest.approx([times[1]], abs=1e-6)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["COPIED", "UPDATED", "COPY_FAILED"] or set(legend) == {
        "COPIED",
        "COPY_FAILED",
        "UPDATED",
    }
    # The later versions stay at their times when the image set is a year older (version
    # 1's only time is the creation; bars are widened to 0.4 % of the axis, which then
    # spans a year, so only the ends are compared).
    older = _bars(versions_frame(history_records(shift=-A_YEAR)))
    assert [end for _s, end in older[1:]] == pytest.approx([end for _s, end in bars[1:]], abs=1e-6)
    # Counts per period: the versions at their own times, not four at creation.
    assert sum(p.get_height() for p in plot_activity(frame, freq="h").patches) == 4
    assert len(plot_activity(frame, freq="h").patches) == 1  # all within 18:00-19:00
    assert sorted(p.get_width() for p in plot_state_counts(frame).patches) == [1, 1, 2]


def test_search_examples_as_an_image_sets_frame(stubbed):
    client, stub = stubbed
    names = examples_of("SearchImageSets")
    for name in names:
        stub.add_response("search_image_sets", as_boto3(load(name)), None)
    datastore_id = load(names[0])["request"]["datastoreId"]
    frames = [
        image_sets_frame(
            hi_widgets.search_image_sets(client, datastore_id), datastore_id=datastore_id
        )
        for _ in names
    ]
    for name, frame in zip(names, frames, strict=True):
        assert len(frame) == 1, name
        row = frame.iloc[0]
        assert row["createdAt"] == pd.Timestamp("2022-12-06T21:40:59.429Z")
        assert row["versionId"] == 1 and row["DICOMNumberOfStudyRelatedSeries"] == 1
        assert str(frame["DICOMNumberOfStudyRelatedInstances"].dtype) == "Int64"
        assert row["DICOMStudyDate"] == "19991122"
    # Examples 1 and 2 carry updatedAt; 3 and 4 print "lastUpdatedAt", which the model
    # does not have: boto3 drops it and the frame shows a missing updatedAt, not an error.
    assert [bool(f["updatedAt"].isna().iloc[0]) for f in frames] == [False, False, True, True]


@pytest.mark.parametrize(
    "name", [*examples_of("CopyImageSet"), *examples_of("UpdateImageSetMetadata")]
)
def test_copy_and_update_answers_as_records(name):
    parsed = as_boto3(load(name))
    datastore_id = parsed["datastoreId"]
    if "destinationImageSetProperties" in parsed:
        answers = [parsed["sourceImageSetProperties"], parsed["destinationImageSetProperties"]]
    else:
        answers = [parsed]
    frame = versions_frame([normalize_image_set(a, datastore_id=datastore_id) for a in answers])
    assert frame["versionId"].notna().all()  # latestVersionId taken as the version
    assert (frame["imageSetState"] == "LOCKED").all()
    assert frame["changedAt"].tolist() == frame["updatedAt"].tolist()
    assert frame["sincePrevious"].isna().all()  # one version per image set here
    assert "duration" not in frame.columns
    if len(answers) == 2:
        source = frame.set_index("imageSetId").loc[
            parsed["sourceImageSetProperties"]["imageSetId"]
        ]
        assert source["createdAt"] == IMAGE_SET_CREATED  # the source keeps its creation time


def test_a_new_copy_destination_is_created_when_it_is_last_changed():
    destination = as_boto3(load("copy-image-set-1"))["destinationImageSetProperties"]
    assert destination["createdAt"] == destination["updatedAt"]
    # An existing destination (example 2) keeps the createdAt example 1 gave it.
    existing = as_boto3(load("copy-image-set-2"))["destinationImageSetProperties"]
    assert existing["createdAt"] == destination["createdAt"] < existing["updatedAt"]


def test_delete_answer_without_any_time_is_a_record():
    parsed = as_boto3(load("delete-image-set"))
    frame = versions_frame([normalize_image_set(parsed)])
    assert frame.loc[0, "imageSetWorkflowStatus"] == "DELETING"
    assert pd.isna(frame.loc[0, "versionId"]) and pd.isna(frame.loc[0, "changedAt"])
    ax = plot_version_timeline(frame)
    assert [t.get_text() for t in ax.texts]  # "no time to show", not an exception


def test_get_image_set_metadata_example_headers(stubbed):
    # The page's output is the headers only (the body goes to a file); the body is ours.
    client, stub = stubbed
    for name in examples_of("GetImageSetMetadata"):
        example = load(name)
        document = {"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientName": "X"}}}
        blob = gzip.compress(json.dumps(document).encode())
        response = {
            **as_boto3(example),
            "imageSetMetadataBlob": StreamingBody(io.BytesIO(blob), len(blob)),
        }
        stub.add_response("get_image_set_metadata", response, example["request"])
        request = example["request"]
        got = hi_widgets.get_image_set_metadata(
            client,
            request["datastoreId"],
            request["imageSetId"],
            version_id=request.get("versionId"),
        )
        assert got == document


def test_list_datastores_example(stubbed):
    client, stub = stubbed
    stub.add_response("list_datastores", as_boto3(load("list-datastores")), {})
    (datastore,) = hi_widgets.list_datastores(client)
    assert datastore["datastoreName"] == "TestDatastore123"
    assert datastore["createdAt"] == datetime(2022, 11, 15, 23, 33, 9, 643000, timezone.utc)


def test_change_log_of_the_example_history():
    """The change log over the example's versions: the failed copy is a version with its
    message, and each row carries the version's own updatedAt (none for version 1, as
    AWS lists it). The documents are ours; versions 3 and 4 apply the payloads of the
    update-image-set-metadata examples 1 and 2."""
    records = {r["versionId"]: r for r in history_records()}
    first = {
        "SchemaVersion": "1.1",
        "Patient": {"DICOM": {"PatientName": "DOE^J"}},
        "Study": {"DICOM": {"StudyDescription": "CHEST", "StudyID": "7"}, "Series": {}},
    }
    updates = [
        json.loads(
            load(f"update-image-set-metadata-{n}")["request"]["updateImageSetMetadataUpdates"][
                "DICOMUpdates"
            ][key]
        )
        for n, key in ((1, "updatableAttributes"), (2, "removableAttributes"))
    ]
    third = copy.deepcopy(first)
    third["Patient"]["DICOM"].update(updates[0]["Patient"]["DICOM"])
    fourth = copy.deepcopy(third)
    for attribute in updates[1]["Study"]["DICOM"]:
        del fourth["Study"]["DICOM"][attribute]
    log = changes_from_documents({1: first, 2: first, 3: third, 4: fourth}, records)
    kinds = log.groupby("versionId")["kind"].first().astype(str).to_dict()
    assert kinds == {1: "initial", 2: "failed", 3: "modified", 4: "modified"}
    failed = log[log["versionId"] == 2].iloc[0]
    assert failed["message"].startswith("INVALID_REQUEST:")
    changed = log[log["attribute"].notna()][["versionId", "attribute", "change"]]
    assert changed.astype(str).values.tolist() == [
        ["3", "PatientName", "changed"],
        ["4", "StudyDescription", "removed"],
    ]
    times = log.groupby("versionId")["updatedAt"].first()
    assert pd.isna(times[1]) and times[4] == utc(1680029436.304)
    assert not {"duration", "took"} & set(log.columns)
    assert np.all(log["updatedAt"].dropna() > pd.Timestamp(IMAGE_SET_CREATED))
