"""Sandbox write operations with a ManualClock: update, revert, copy, delete, tags, datastores."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest

from hi_widgets import sandbox

START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def sb():
    clock = sandbox.ManualClock(START)
    with sandbox.start(seed=0, clock=clock, update_delay=2.0, quotas=False) as running:
        yield running


@pytest.fixture
def client(sb):
    client = sb.client(max_attempts=1)
    yield client
    client.close()


@pytest.fixture
def target(sb):
    """An ACTIVE image set with a few versions in the first datastore."""
    ds = sb.store.datastore_ids()[0]
    for image_set in sb.store.image_set_ids(ds):
        versions = sb.store.versions(ds, image_set)
        if len(versions) >= 3 and versions[-1]["imageSetState"] == "ACTIVE":
            return ds, image_set
    raise AssertionError("no suitable demo image set")


@pytest.fixture
def duplicate(sb):
    """(datastore, non-primary image set, the primary image set of the same series).

    Demo image set 2 is a late, conflicting import of image set 1's series.
    """
    ds = sb.store.datastore_ids()[0]
    primary, late = sb.store.image_set_ids(ds)[1:3]
    assert sb.store.versions(ds, late)[-1]["isPrimary"] is False
    assert sb.store.versions(ds, primary)[-1]["isPrimary"] is True
    return ds, late, primary


def metadata(client, ds, image_set, version=None):
    kwargs = {"versionId": version} if version else {}
    blob = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set, **kwargs)
    return json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))


def updates(payload: dict) -> dict:
    return {"DICOMUpdates": {"updatableAttributes": json.dumps(payload).encode()}}


def test_update_creates_a_version_that_settles_with_the_clock(sb, client, target):
    ds, image_set = target
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    new_description = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "EDITED"}}}
    response = client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates=updates(new_description),
    )
    new = str(int(latest) + 1)
    assert response["latestVersionId"] == new
    assert response["imageSetState"] == "LOCKED"
    assert response["imageSetWorkflowStatus"] == "UPDATING"
    # CLI reference, update-image-set-metadata example 1
    # (https://docs.aws.amazon.com/code-library/latest/ug/medical-imaging_example_medical-imaging_UpdateImageSetMetadata_section.html):
    # createdAt 1680027126.436 is the image set's creation, updatedAt 1680042257.908 the
    # update's time.
    created = client.get_image_set(datastoreId=ds, imageSetId=image_set, versionId="1")[
        "createdAt"
    ]
    assert response["createdAt"] == created < START
    assert response["updatedAt"] == START

    during = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert (during["versionId"], during["imageSetWorkflowStatus"]) == (new, "UPDATING")
    sb.clock.advance(1.999)
    assert client.get_image_set(datastoreId=ds, imageSetId=image_set)["imageSetState"] == "LOCKED"
    sb.clock.advance(0.001)
    after = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert after["imageSetState"] == "ACTIVE"
    assert after["imageSetWorkflowStatus"] == "UPDATED"
    assert after["updatedAt"] == START + timedelta(seconds=2)
    assert after["createdAt"] == created  # the image set's, on every version
    assert "overrides" not in after

    listed = client.list_image_set_versions(datastoreId=ds, imageSetId=image_set)
    assert listed["imageSetPropertiesList"][0]["versionId"] == new
    assert listed["imageSetPropertiesList"][0]["ImageSetWorkflowStatus"] == "UPDATED"

    assert metadata(client, ds, image_set)["Study"]["DICOM"]["StudyDescription"] == "EDITED"
    old = metadata(client, ds, image_set, latest)["Study"]["DICOM"]["StudyDescription"]
    assert old != "EDITED"
    assert sb.store.versions(ds, image_set)[-1]["versionId"] == new


def test_stale_latest_version_is_a_conflict(client, target):
    ds, image_set = target
    latest = int(client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"])
    with pytest.raises(client.exceptions.ConflictException) as excinfo:
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId=str(latest - 1),
            updateImageSetMetadataUpdates=updates({"Study": {"DICOM": {"StudyID": "X"}}}),
        )
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_update_while_updating_is_a_conflict(sb, client, target):
    ds, image_set = target
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    payload = updates({"Study": {"DICOM": {"StudyDescription": "A"}}})
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates=payload,
    )
    with pytest.raises(client.exceptions.ConflictException):
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId=str(int(latest) + 1),
            updateImageSetMetadataUpdates=payload,
        )


def test_remove_attributes_and_revert(sb, client, duplicate):
    ds, image_set, _ = duplicate  # Patient level elements change only on non-primary sets
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    before = metadata(client, ds, image_set)
    assert "PatientSex" in before["Patient"]["DICOM"]
    # AWS SDK for Python example, remove_attributes: "Attribute key and value must match
    # the existing attribute."
    # (https://docs.aws.amazon.com/code-library/latest/ug/medical-imaging_example_medical-imaging_UpdateImageSetMetadata_section.html)
    removal = {"Patient": {"DICOM": {"PatientSex": before["Patient"]["DICOM"]["PatientSex"]}}}
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"removableAttributes": json.dumps(removal).encode()}
        },
    )
    sb.clock.advance(5)
    removed = metadata(client, ds, image_set)
    assert "PatientSex" not in removed["Patient"]["DICOM"]
    response = client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=str(int(latest) + 1),
        updateImageSetMetadataUpdates={"revertToVersionId": latest},
    )
    assert response["latestVersionId"] == str(int(latest) + 2)
    sb.clock.advance(5)
    assert metadata(client, ds, image_set) == before


def test_protected_attributes_need_force(sb, client, duplicate):
    ds, image_set, _ = duplicate  # a UID changes only on a non-primary image set
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    change = updates({"Study": {"DICOM": {"StudyInstanceUID": "1.2.3"}}})
    # A DICOM metadata constraint is found while the update runs: the version ends
    # UPDATE_FAILED with a message ("If the UpdateImageSetMetadata action is not
    # successful, call GetImageSet and review the message",
    # https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html).
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates=change,
    )
    sb.clock.advance(2)
    failed = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert failed["imageSetWorkflowStatus"] == "UPDATE_FAILED"
    assert "force" in failed["message"]
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=failed["versionId"],
        updateImageSetMetadataUpdates=change,
        force=True,
    )
    sb.clock.advance(2)
    forced = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert forced["overrides"] == {"forced": True}
    assert sb.requests[-2].params["force"] is True


def test_bad_update_documents_are_validation_errors(client, target):
    ds, image_set = target
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    for blob in (b"not json", b"[1]", json.dumps({"Nope": {}}).encode()):
        with pytest.raises(client.exceptions.ValidationException):
            client.update_image_set_metadata(
                datastoreId=ds,
                imageSetId=image_set,
                latestVersionId=latest,
                updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": blob}},
            )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId=latest,
            updateImageSetMetadataUpdates={"revertToVersionId": "9999"},
        )


def test_copy_to_a_new_image_set_locks_the_source(sb, client, target):
    ds, source = target
    before_ids = sb.store.image_set_ids(ds)
    source_before = client.get_image_set(datastoreId=ds, imageSetId=source)
    response = client.copy_image_set(
        datastoreId=ds,
        sourceImageSetId=source,
        copyImageSetInformation={
            "sourceImageSet": {"latestVersionId": source_before["versionId"]}
        },
    )
    src = response["sourceImageSetProperties"]
    dst = response["destinationImageSetProperties"]
    assert src["imageSetState"] == "LOCKED"
    assert src["imageSetWorkflowStatus"] == "COPYING_WITH_READ_ONLY_ACCESS"
    assert (dst["latestVersionId"], dst["imageSetWorkflowStatus"]) == ("1", "COPYING")
    assert sb.store.image_set_ids(ds) == [*before_ids, dst["imageSetId"]]

    locked = client.get_image_set(datastoreId=ds, imageSetId=source)
    assert locked["imageSetState"] == "LOCKED"
    assert locked["versionId"] == source_before["versionId"]
    with pytest.raises(client.exceptions.ConflictException):
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=source,
            latestVersionId=source_before["versionId"],
            updateImageSetMetadataUpdates={"revertToVersionId": "1"},
        )
    sb.clock.advance(2)
    restored = client.get_image_set(datastoreId=ds, imageSetId=source)
    assert restored["imageSetState"] == "ACTIVE"
    assert restored["imageSetWorkflowStatus"] == source_before["imageSetWorkflowStatus"]
    copied = client.get_image_set(datastoreId=ds, imageSetId=dst["imageSetId"])
    assert (copied["imageSetState"], copied["imageSetWorkflowStatus"]) == ("ACTIVE", "COPIED")
    source_doc = metadata(client, ds, source)
    copy_doc = metadata(client, ds, dst["imageSetId"])
    assert copy_doc["Study"] == source_doc["Study"]
    assert copy_doc["ImageSetID"] == dst["imageSetId"]


def test_copy_into_an_existing_image_set_with_selected_instances(sb, client, duplicate):
    ds, source, destination = duplicate
    source_doc = metadata(client, ds, source)
    series_uid, series = next(iter(source_doc["Study"]["Series"].items()))
    instance_uid = next(iter(series["Instances"]))
    dest_latest = sb.store.versions(ds, destination)[-1]["versionId"]
    selection = {"Study": {"Series": {series_uid: {"Instances": {instance_uid: {}}}}}}

    def copy():
        return client.copy_image_set(
            datastoreId=ds,
            sourceImageSetId=source,
            copyImageSetInformation={
                "sourceImageSet": {
                    "latestVersionId": sb.store.versions(ds, source)[-1]["versionId"],
                    "DICOMCopies": {
                        "copiableAttributes": json.dumps({"SchemaVersion": "1.1", **selection})
                    },
                },
                "destinationImageSet": {"imageSetId": destination, "latestVersionId": dest_latest},
            },
        )

    # CopyImageSet force: "force completion of the CopyImageSet operation, even if there
    # are inconsistent Patient, Study, and/or Series level metadata elements between the
    # sourceImageSet and destinationImageSet" -- so without it, inconsistency is refused.
    # The developer guide: "If the CopyImageSet action is not successful, call GetImageSet
    # and review the message property"
    # (https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html): the
    # copy is accepted and its version ends COPY_FAILED, the destination's metadata kept.
    primary_study = metadata(client, ds, destination)["Study"]["DICOM"]
    assert source_doc["Study"]["DICOM"] != primary_study  # the demo's primary moved on
    before = metadata(client, ds, destination)
    assert copy()["destinationImageSetProperties"]["imageSetWorkflowStatus"] == "COPYING"
    sb.clock.advance(2)
    failed = client.get_image_set(datastoreId=ds, imageSetId=destination)
    assert failed["imageSetWorkflowStatus"] == "COPY_FAILED"
    assert failed["message"].startswith("INVALID_REQUEST: ") and "Study level" in failed["message"]
    assert metadata(client, ds, destination) == before
    dest_latest = failed["versionId"]
    # "After resolving metadata conflicts that data can be made primary": reconcile the
    # non-primary image set (StudyID needs force), then copy it in.
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=source,
        latestVersionId=sb.store.versions(ds, source)[-1]["versionId"],
        updateImageSetMetadataUpdates=updates({"Study": {"DICOM": primary_study}}),
        force=True,
    )
    sb.clock.advance(2)
    response = copy()
    dst = response["destinationImageSetProperties"]
    assert dst["latestVersionId"] == str(int(dest_latest) + 1)
    sb.clock.advance(2)
    merged = metadata(client, ds, destination)
    assert instance_uid in merged["Study"]["Series"][series_uid]["Instances"]
    final = client.get_image_set(datastoreId=ds, imageSetId=destination)
    assert final["imageSetWorkflowStatus"] == "COPIED" and final["isPrimary"] is True


def test_copy_with_stale_source_version_is_a_conflict(client, target):
    ds, source = target
    with pytest.raises(client.exceptions.ConflictException):
        client.copy_image_set(
            datastoreId=ds,
            sourceImageSetId=source,
            copyImageSetInformation={"sourceImageSet": {"latestVersionId": "1"}},
        )


def test_delete_goes_deleting_then_deleted(sb, client, target):
    ds, image_set = target
    response = client.delete_image_set(datastoreId=ds, imageSetId=image_set)
    assert (response["imageSetState"], response["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "DELETING",
    )
    deleting = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert deleting["imageSetWorkflowStatus"] == "DELETING" and "deletedAt" not in deleting
    sb.clock.advance(2)
    deleted = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert (deleted["imageSetState"], deleted["imageSetWorkflowStatus"]) == ("DELETED", "DELETED")
    assert deleted["deletedAt"] == START + timedelta(seconds=2)
    found = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    assert image_set not in {s["imageSetId"] for s in found}
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_image_set(datastoreId=ds, imageSetId=image_set)


def test_tags_on_datastores_and_image_sets(client, sb, target):
    ds, image_set = target
    datastore_arn = client.get_datastore(datastoreId=ds)["datastoreProperties"]["datastoreArn"]
    image_set_arn = client.get_image_set(datastoreId=ds, imageSetId=image_set)["imageSetArn"]
    assert client.list_tags_for_resource(resourceArn=datastore_arn)["tags"]["project"] == (
        "hi-widgets-demo"
    )
    client.tag_resource(resourceArn=image_set_arn, tags={"team": "qa", "stage": "test"})
    assert client.list_tags_for_resource(resourceArn=image_set_arn)["tags"] == {
        "team": "qa",
        "stage": "test",
    }
    client.untag_resource(resourceArn=image_set_arn, tagKeys=["team"])
    assert client.list_tags_for_resource(resourceArn=image_set_arn)["tags"] == {"stage": "test"}
    assert sb.requests[-2].params["tagKeys"] == ["team"]
    missing = image_set_arn[:-32] + "0" * 32
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_tags_for_resource(resourceArn=missing)


def test_create_and_delete_datastore(sb, client):
    created = client.create_datastore(datastoreName="scratch", tags={"k": "v"})
    assert created["datastoreStatus"] == "CREATING"
    new_id = created["datastoreId"]
    assert client.get_datastore(datastoreId=new_id)["datastoreProperties"]["datastoreStatus"] == (
        "CREATING"
    )
    sb.clock.advance(2)
    assert client.get_datastore(datastoreId=new_id)["datastoreProperties"]["datastoreStatus"] == (
        "ACTIVE"
    )
    assert client.search_image_sets(datastoreId=new_id)["imageSetsMetadataSummaries"] == []
    assert client.delete_datastore(datastoreId=new_id)["datastoreStatus"] == "DELETING"
    sb.clock.advance(2)
    statuses = client.list_datastores(datastoreStatus="DELETED")["datastoreSummaries"]
    assert [s["datastoreId"] for s in statuses] == [new_id]
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_datastore(datastoreId=sb.store.datastore_ids()[0])


def test_create_datastore_is_idempotent_with_client_token(client):
    first = client.create_datastore(datastoreName="idem", clientToken="token-1")
    again = client.create_datastore(datastoreName="idem", clientToken="token-1")
    assert first["datastoreId"] == again["datastoreId"]


def test_an_image_frame_not_in_the_image_set_is_not_found(client, target):
    ds, image_set = target
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.get_image_frame(
            datastoreId=ds, imageSetId=image_set, imageFrameInformation={"imageFrameId": "a" * 32}
        )
    assert "a" * 32 in excinfo.value.response["Error"]["Message"]


def test_blob_updates_arrive_base64_decoded(sb, client, target):
    ds, image_set = target
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    payload = json.dumps({"Study": {"DICOM": {"StudyDescription": "B64"}}}).encode()
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": payload}},
    )
    logged = sb.requests[-1].params["updateImageSetMetadataUpdates"]
    assert logged["DICOMUpdates"]["updatableAttributes"] == payload
    assert base64.b64encode(payload)  # botocore sent it base64-encoded in JSON
