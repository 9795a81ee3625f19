"""The sandbox follows AWS HealthImaging's documented rules (issue 11, items 1-4).

Each test cites the sentence of the AWS documentation it follows:
[U] Developer Guide, "Updating image set metadata";
[C] Developer Guide, "DICOM metadata constraints";
[I] Developer Guide, "Understanding image sets";
[S] API Reference, SearchImageSets;
[A] API Reference, CopyImageSet.
Everything runs through a real boto3 client over HTTP on a ManualClock.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone

import pytest

from hi_widgets import sandbox
from hi_widgets.sandbox.dicom.levels import level_of

START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DELAY = 2.0


@pytest.fixture
def sb():
    clock = sandbox.ManualClock(START)
    with sandbox.start(seed=0, clock=clock, update_delay=DELAY, quotas=False) as running:
        yield running


@pytest.fixture
def client(sb):
    client = sb.client(max_attempts=1)
    yield client
    client.close()


@pytest.fixture
def ds(sb):
    return sb.store.datastore_ids()[0]


@pytest.fixture
def primary(sb, ds):
    """Demo image set 1: primary, with image set 2 a non-primary import of its series."""
    return sb.store.image_set_ids(ds)[1]


@pytest.fixture
def non_primary(sb, ds):
    return sb.store.image_set_ids(ds)[2]


def latest(client, ds, image_set) -> str:
    return client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]


def document(client, ds, image_set) -> dict:
    blob = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set)
    return json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))


def update(client, ds, image_set, updatable=None, removable=None, **kwargs):
    dicom = {}
    if updatable is not None:
        dicom["updatableAttributes"] = json.dumps({"SchemaVersion": "1.1", **updatable})
    if removable is not None:
        dicom["removableAttributes"] = json.dumps({"SchemaVersion": "1.1", **removable})
    return client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest(client, ds, image_set),
        updateImageSetMetadataUpdates={"DICOMUpdates": dicom},
        **kwargs,
    )


def refused(sb, client, match, ds, image_set, updatable=None, removable=None, **kwargs):
    """The update is accepted, and its version ends UPDATE_FAILED with a message.

    The constraints are found while the update runs, as the developer guide says
    ("If the UpdateImageSetMetadata action is not successful, call GetImageSet and review
    the message response element to see common errors",
    https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
    GetImageSet, polled on the sandbox's ManualClock, shows the failed version.
    """
    before = int(latest(client, ds, image_set))
    before_document = document(client, ds, image_set)
    answer = update(client, ds, image_set, updatable, removable, **kwargs)
    assert (answer["imageSetState"], answer["imageSetWorkflowStatus"]) == ("LOCKED", "UPDATING")
    sb.clock.advance(DELAY)
    failed = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert failed["versionId"] == str(before + 1)
    assert (failed["imageSetState"], failed["imageSetWorkflowStatus"]) == (
        "ACTIVE",
        "UPDATE_FAILED",
    )
    assert failed["message"].startswith("INVALID_REQUEST: ")
    assert re.search(match, failed["message"]), failed["message"]
    assert document(client, ds, image_set) == before_document  # nothing was changed


def only_series(client, ds, image_set) -> str:
    (uid,) = document(client, ds, image_set)["Study"]["Series"]
    return uid


# ------------------------------------------------------------------------ 1. search order


def test_search_without_sort_is_updated_at_newest_first(sb, client, ds):
    # [S] "By default, SearchImageSets uses the updatedAt field for sorting in descending
    # order from newest to oldest."
    summaries = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    stamps = [s["updatedAt"] for s in summaries]
    assert stamps == sorted(stamps, reverse=True)
    oldest = summaries[-1]["imageSetId"]
    update(client, ds, oldest, {"Study": {"DICOM": {"StudyDescription": "DEMO TOUCHED"}}})
    sb.clock.advance(DELAY)
    again = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    assert again[0]["imageSetId"] == oldest and "sort" not in again


# ------------------------------------------------------------------ 2. no permanent LOCKED


def test_no_image_set_stays_locked(sb, client):
    # [U] "Updating image set metadata is an asynchronous process ... You cannot perform
    # other write operations on a LOCKED image set." LOCKED is an operation's passing state:
    # the demo starts with operations running, and a client waiting "until not LOCKED"
    # sees each end once the operation's time has passed on the sandbox clock.
    locked = [
        (ds, i)
        for ds in sb.store.datastore_ids()
        for i in sb.store.image_set_ids(ds)
        if client.get_image_set(datastoreId=ds, imageSetId=i)["imageSetState"] == "LOCKED"
    ]
    assert len(locked) >= 4
    waited = 0.0
    while any(
        client.get_image_set(datastoreId=ds, imageSetId=i)["imageSetState"] == "LOCKED"
        for ds, i in locked
    ):
        assert waited < DELAY, "an image set stayed LOCKED past its operation's time"
        sb.clock.advance(0.5)
        waited += 0.5
    finals = {
        client.get_image_set(datastoreId=ds, imageSetId=i)["imageSetWorkflowStatus"]
        for ds, i in locked
    }
    assert finals == {"UPDATED", "COPIED", "DELETED", "IMPORTED"}


# -------------------------------------------------------- 3. update rules on primary sets


def test_patient_and_series_elements_are_not_updatable_on_primary(sb, client, ds, primary):
    # [U] "The Patient and Series level metadata elements can not be updated for primary
    # image sets."
    series = only_series(client, ds, primary)
    refused(sb, client, "primary", ds, primary, {"Patient": {"DICOM": {"PatientName": "DEMO^X"}}})
    refused(
        sb,
        client,
        "primary",
        ds,
        primary,
        {"Study": {"Series": {series: {"DICOM": {"SeriesDescription": "DEMO X"}}}}},
    )
    refused(
        sb, client, "primary", ds, primary, removable={"Patient": {"DICOM": {"PatientSex": ""}}}
    )


def test_patient_and_series_elements_are_updatable_on_non_primary(sb, client, ds, non_primary):
    series = only_series(client, ds, non_primary)
    update(
        client,
        ds,
        non_primary,
        {
            "Patient": {"DICOM": {"PatientName": "DEMO^RENAMED"}},
            "Study": {"Series": {series: {"DICOM": {"SeriesDescription": "DEMO FIXED"}}}},
        },
    )
    sb.clock.advance(DELAY)
    after = document(client, ds, non_primary)
    assert after["Patient"]["DICOM"]["PatientName"] == "DEMO^RENAMED"
    assert after["Study"]["Series"][series]["DICOM"]["SeriesDescription"] == "DEMO FIXED"


def test_patient_id_is_not_a_force_attribute(sb, client, ds, primary, non_primary):
    # [U] force "allows the following updates ...: Updating the Tag.StudyInstanceUID,
    # Tag.SeriesInstanceUID, Tag.SOPInstanceUID, and Tag.StudyID attributes" -- PatientID
    # is not among them: on a non-primary image set it changes without force, and on a
    # primary one it is a Patient level element, which force does not unlock.
    update(client, ds, non_primary, {"Patient": {"DICOM": {"PatientID": "DEMO-9999"}}})
    sb.clock.advance(DELAY)
    assert document(client, ds, non_primary)["Patient"]["DICOM"]["PatientID"] == "DEMO-9999"
    refused(
        sb,
        client,
        "primary",
        ds,
        primary,
        {"Patient": {"DICOM": {"PatientID": "DEMO-9998"}}},
        force=True,
    )


def test_force_attributes(sb, client, ds, primary, non_primary):
    # [C] "Cannot update the following DICOM attributes unless the force flag is set:
    # Tag.PixelData, Tag.StudyInstanceUID, Tag.SeriesInstanceUID, Tag.SOPInstanceUID,
    # Tag.StudyID"
    refused(sb, client, "force", ds, primary, {"Study": {"DICOM": {"StudyID": "DEMO7777"}}})
    update(client, ds, primary, {"Study": {"DICOM": {"StudyID": "DEMO7777"}}}, force=True)
    sb.clock.advance(DELAY)
    forced = client.get_image_set(datastoreId=ds, imageSetId=primary)
    assert forced["overrides"] == {"forced": True}
    # [U] "The UpdateImageSet will not support --force to update StudyInstanceUID,
    # SeriesInstanceUID, and SOPInstanceUID for primary image sets."
    new_uid = {"Study": {"DICOM": {"StudyInstanceUID": "2.25.1234"}}}
    refused(sb, client, "even with force", ds, primary, new_uid, force=True)
    refused(sb, client, "force", ds, non_primary, new_uid)
    series = only_series(client, ds, non_primary)
    update(
        client,
        ds,
        non_primary,
        {"Study": {"Series": {series: {"DICOM": {"SeriesInstanceUID": "2.25.5678"}}}}},
        force=True,
    )
    sb.clock.advance(DELAY)
    assert only_series(client, ds, non_primary) == "2.25.5678"  # the series is re-keyed


def test_instance_private_tags_need_force_and_other_levels_refuse_them(
    sb, client, ds, non_primary
):
    # [U] force allows "Adding, removing, or updating instance level private DICOM data
    # elements"
    doc = document(client, ds, non_primary)
    series = only_series(client, ds, non_primary)
    instance = next(iter(doc["Study"]["Series"][series]["Instances"]))
    private = {
        "Study": {"Series": {series: {"Instances": {instance: {"DICOM": {"00091001": "DEMO"}}}}}}
    }
    refused(sb, client, "requires force", ds, non_primary, private)
    update(client, ds, non_primary, private, force=True)
    sb.clock.advance(DELAY)
    stored = document(client, ds, non_primary)["Study"]["Series"][series]["Instances"][instance]
    assert stored["DICOM"]["00091001"] == "DEMO"
    # Sandbox choice (the guide names only instance level private elements for force).
    refused(
        sb,
        client,
        "instance level",
        ds,
        non_primary,
        {"Study": {"DICOM": {"00091001": "X"}}},
        force=True,
    )


def test_generated_attributes_are_not_updatable(sb, client, ds, non_primary):
    # [C] "Cannot update the following AWS HealthImaging generated attributes:
    # SchemaVersion, DatastoreID, ImageSetID, PixelData, Checksum, Width, Height,
    # MinPixelValue, MaxPixelValue, FrameSizeInBytes"
    doc = document(client, ds, non_primary)
    series = only_series(client, ds, non_primary)
    instance = next(iter(doc["Study"]["Series"][series]["Instances"]))
    path = lambda node: {"Study": {"Series": {series: {"Instances": {instance: node}}}}}  # noqa: E731
    refused(sb, client, "generated", ds, non_primary, path({"ImageFrames": []}), force=True)
    refused(
        sb, client, "generated", ds, non_primary, path({"DICOM": {"MaxPixelValue": 1}}), force=True
    )
    refused(sb, client, "generated", ds, non_primary, removable=path({"ImageFrames": {}}))


def test_a_series_the_image_set_lacks_cannot_be_updated(sb, client, ds, non_primary):
    # [C] "you are not allowed to update attributes for a seriesInstanceUID if the Series
    # with seriesInstanceUID is not present in existing image set metadata."
    absent = {"Study": {"Series": {"2.25.404": {"DICOM": {"SeriesDescription": "DEMO"}}}}}
    refused(sb, client, "no series 2.25.404", ds, non_primary, absent)
    refused(
        sb, client, "no series", ds, non_primary, removable={"Study": {"Series": {"2.25.4": {}}}}
    )


def test_attributes_across_modules_are_refused(sb, client, ds, non_primary):
    # [C] "Cannot update attributes across modules. For example, if a Patient level
    # attribute is given at the Study level in customer payload request, the request can
    # be invalidated."
    refused(
        sb, client, "Patient level", ds, non_primary, {"Study": {"DICOM": {"PatientName": "X"}}}
    )
    refused(sb, client, "Study level", ds, non_primary, {"Patient": {"DICOM": {"StudyDate": "X"}}})
    # The import's level table is the one the check uses: InstitutionName (General
    # Equipment) is not normalised, so it lives with each instance.
    assert level_of("InstitutionName") == "Instance"
    refused(
        sb,
        client,
        "Instance level",
        ds,
        non_primary,
        {"Study": {"DICOM": {"InstitutionName": "X"}}},
    )


def test_multivalued_attributes_need_force(sb, client, ds, non_primary):
    # [C] "Cannot update multivalued attributes unless the force flag is set"
    value = {"Study": {"DICOM": {"StudyDescription": ["DEMO A", "DEMO B"]}}}
    refused(sb, client, "multivalued", ds, non_primary, value)
    update(client, ds, non_primary, value, force=True)
    sb.clock.advance(DELAY)


# ---------------------------------------------------------------- includeStudyImageSets


def study_pair(sb, ds):
    """Demo image sets 3 and 4: two series (two primary image sets) of one study."""
    return sb.store.image_set_ids(ds)[3:5]


def test_include_study_image_sets_updates_every_primary_set_of_the_study(sb, client, ds):
    # [U] "Pass in the --include-study-image-sets flag to update all the primary image sets
    # that share the same Study Instance UID as the requested image set. This is an atomic
    # operation, and the versions of all affected image sets will be incremented."
    first, second = study_pair(sb, ds)
    study = document(client, ds, first)["Study"]["DICOM"]["StudyInstanceUID"]
    assert document(client, ds, second)["Study"]["DICOM"]["StudyInstanceUID"] == study
    before = {i: int(latest(client, ds, i)) for i in (first, second)}
    update(
        client,
        ds,
        second,
        {"Study": {"DICOM": {"StudyDescription": "DEMO STUDY WIDE"}}},
        includeStudyImageSets=True,
    )
    assert sb.requests[-1].params["includeStudyImageSets"] is True
    other = client.get_image_set(datastoreId=ds, imageSetId=first)
    assert other["imageSetWorkflowStatus"] == "UPDATING_FOR_STUDY_CONSISTENCY"
    sb.clock.advance(DELAY)
    for image_set in (first, second):
        assert int(latest(client, ds, image_set)) == before[image_set] + 1
        assert document(client, ds, image_set)["Study"]["DICOM"]["StudyDescription"] == (
            "DEMO STUDY WIDE"
        )


def test_include_study_image_sets_is_all_or_nothing(sb, client, ds):
    first, second = study_pair(sb, ds)
    update(client, ds, first, {"Study": {"DICOM": {"StudyDescription": "DEMO BUSY"}}})
    before = latest(client, ds, second)
    with pytest.raises(client.exceptions.ConflictException):  # first is LOCKED (UPDATING)
        update(
            client,
            ds,
            second,
            {"Study": {"DICOM": {"StudyDescription": "DEMO NEVER"}}},
            includeStudyImageSets=True,
        )
    assert latest(client, ds, second) == before


def test_include_study_image_sets_is_not_allowed_with_revert(client, ds, sb):
    # [U] "the --include-study-image-sets flag is not supported with revertToVersionId
    # operations"
    first, _ = study_pair(sb, ds)
    with pytest.raises(client.exceptions.ValidationException, match="revertToVersionId"):
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=first,
            latestVersionId=latest(client, ds, first),
            updateImageSetMetadataUpdates={"revertToVersionId": "1"},
            includeStudyImageSets=True,
        )


# ------------------------------------------------------------------- promoteToPrimary


def copy_new(client, ds, source, **kwargs):
    return client.copy_image_set(
        datastoreId=ds,
        sourceImageSetId=source,
        copyImageSetInformation={
            "sourceImageSet": {"latestVersionId": latest(client, ds, source)}
        },
        **kwargs,
    )


def test_promote_to_primary_never_makes_two_primary_sets_of_one_series(
    sb, client, ds, primary, non_primary
):
    # [I] "Imported P10 data that conflicts with primary image sets already in the a store
    # will be persisted as non-primary. After resolving metadata conflicts that data can be
    # made primary." Sandbox choice: promoting while the series has a primary image set is
    # a ConflictException.
    with pytest.raises(client.exceptions.ConflictException, match="already has the primary"):
        copy_new(client, ds, non_primary, promoteToPrimary=True)
    plain = copy_new(client, ds, non_primary)["destinationImageSetProperties"]["imageSetId"]
    sb.clock.advance(DELAY)
    assert client.get_image_set(datastoreId=ds, imageSetId=plain)["isPrimary"] is False
    client.delete_image_set(datastoreId=ds, imageSetId=primary)
    sb.clock.advance(DELAY)
    promoted = copy_new(client, ds, non_primary, promoteToPrimary=True)
    new_id = promoted["destinationImageSetProperties"]["imageSetId"]
    sb.clock.advance(DELAY)
    assert client.get_image_set(datastoreId=ds, imageSetId=new_id)["isPrimary"] is True
    series = only_series(client, ds, new_id)
    found = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [{"values": [{"DICOMSeriesInstanceUID": series}], "operator": "EQUAL"}]
        },
    )["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in found if s["isPrimary"]] == [new_id]


# ------------------------------------------------------------- 4. one series per image set


def test_every_image_set_holds_one_series_and_search_names_it(sb, client):
    # [I] "Importing DICOM P10 data results in image sets that contain DICOM metadata and
    # image frames for one or more Service-Object Pair (SOP) instances in the same DICOM
    # Series."
    for ds in sb.store.datastore_ids():
        for image_set in sb.store.image_set_ids(ds):
            assert len(sb.store.metadata_document(ds, image_set)["Study"]["Series"]) == 1
        ds_summaries = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
        for summary in ds_summaries[:10]:
            series = summary["DICOMTags"]["DICOMSeriesInstanceUID"]
            found = client.search_image_sets(
                datastoreId=ds,
                searchCriteria={
                    "filters": [
                        {"values": [{"DICOMSeriesInstanceUID": series}], "operator": "EQUAL"}
                    ]
                },
            )["imageSetsMetadataSummaries"]
            assert summary["imageSetId"] in {s["imageSetId"] for s in found}
            assert {s["DICOMTags"]["DICOMSeriesInstanceUID"] for s in found} == {series}
