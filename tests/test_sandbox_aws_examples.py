"""The sandbox answers as AWS's own examples show, and AWS's Python examples work against it.

The calls below are the ones AWS's SDK for Python code examples for HealthImaging make
(``MedicalImagingWrapper`` in python/example_code/medical-imaging of
awsdocs/aws-doc-sdk-examples, its ``usage_demo``, and the image frame workflow that
decodes each frame with pylibjpeg-openjpeg in JP2 mode and checks its CRC32), made here
with plain boto3 against a started sandbox; their code is not copied. Every wait moves the
sandbox's ManualClock; the one wait on real work is ``wait_for_imports`` (a join with a
timeout on the import job's thread).

Pages cited:
[CLI-V] https://docs.aws.amazon.com/healthimaging/latest/devguide/list-image-set-versions.html
[CLI-C] https://docs.aws.amazon.com/code-library/latest/ug/medical-imaging_example_medical-imaging_CopyImageSet_section.html
[CLI-U] https://docs.aws.amazon.com/code-library/latest/ug/medical-imaging_example_medical-imaging_UpdateImageSetMetadata_section.html
[CLI-G] https://docs.aws.amazon.com/healthimaging/latest/devguide/example_medical-imaging_GetImageSet_section.html
[API-F] https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_GetImageFrame.html
[THR] https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html
"""

from __future__ import annotations

import gzip
import json
import warnings
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
openjpeg = pytest.importorskip("openjpeg")  # pylibjpeg-openjpeg, as AWS's example uses
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.images._pixels import decode_image_frame  # noqa: E402

START = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)
DELAY = 2.0
ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
CT = "CT_small.dcm"  # StudyDate 20040119, StudyTime 072730
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


@pytest.fixture
def sb():
    # Default quotas (the published table), on a clock the test moves.
    with sandbox.start(clock=sandbox.ManualClock(START), update_delay=DELAY) as box:
        yield box


@pytest.fixture
def client(sb):
    return sb.client(max_attempts=1)


def _ct():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(CT))


def _new_datastore(sb, client, **options) -> str:
    datastore = client.create_datastore(datastoreName="examples", **options)["datastoreId"]
    sb.clock.advance(DELAY)
    properties = client.get_datastore(datastoreId=datastore)["datastoreProperties"]
    assert properties["datastoreStatus"] == "ACTIVE"
    return datastore


def _import_ct(sb, client, datastore, bucket) -> str:
    boto3.client("s3").put_object(
        Bucket=bucket, Key="dicom_input/ct.dcm", Body=Path(str(get_testdata_file(CT))).read_bytes()
    )
    job = client.start_dicom_import_job(
        jobName="python_usage_demo_job",
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{bucket}/dicom_input/",
        outputS3Uri=f"s3://{bucket}/job_output/",
    )["jobId"]
    sb.clock.advance(DELAY)
    # The job starts on the first call after its delay (the sandbox settles lazily).
    status = client.get_dicom_import_job(datastoreId=datastore, jobId=job)["jobProperties"]
    assert status["jobStatus"] == "IN_PROGRESS"
    assert sb.store.wait_for_imports(timeout=120)
    sb.clock.advance(DELAY)
    status = client.get_dicom_import_job(datastoreId=datastore, jobId=job)["jobProperties"]
    assert status["jobStatus"] == "COMPLETED"
    return job


def _search(client, datastore, criteria) -> list[dict]:
    pages = client.get_paginator("search_image_sets").paginate(
        datastoreId=datastore, searchCriteria=criteria
    )
    return [s for page in pages for s in page["imageSetsMetadataSummaries"]]


def _study_between(low: dict, high: dict) -> dict:
    values = [{"DICOMStudyDateAndTime": low}, {"DICOMStudyDateAndTime": high}]
    return {"filters": [{"operator": "BETWEEN", "values": values}]}


def _metadata(client, datastore, image_set) -> dict:
    blob = client.get_image_set_metadata(datastoreId=datastore, imageSetId=image_set)
    return json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))


def _state(client, datastore, image_set) -> dict:
    return client.get_image_set(datastoreId=datastore, imageSetId=image_set)


def test_the_python_usage_demo_calls_work_against_the_sandbox(sb, client, s3_bucket):
    datastore = _new_datastore(sb, client)
    listed = client.get_paginator("list_datastores").paginate()
    assert datastore in {d["datastoreId"] for p in listed for d in p["datastoreSummaries"]}
    job = _import_ct(sb, client, datastore, s3_bucket)
    jobs = client.get_paginator("list_dicom_import_jobs").paginate(datastoreId=datastore)
    assert [j["jobId"] for p in jobs for j in p["jobSummaries"]] == [job]

    # search_imagesets_demo: its four filters.
    ct = _ct()
    assert _search(client, datastore, {"filters": [{"operator": "EQUAL", "values": [
        {"DICOMPatientId": ct.PatientID}]}]})  # fmt: skip
    found = _search(
        client,
        datastore,
        _study_between(
            {"DICOMStudyDate": "19900101", "DICOMStudyTime": "000000"},
            {"DICOMStudyDate": "20230101", "DICOMStudyTime": "000000"},
        ),
    )
    (image_set,) = [s["imageSetId"] for s in found]
    recent = _search(client, datastore, {"filters": [{"operator": "BETWEEN", "values": [
        {"createdAt": datetime(2021, 8, 4, 14, 49, 54, 429000)},
        {"createdAt": START + timedelta(days=1)}]}]})  # fmt: skip
    assert [s["imageSetId"] for s in recent] == [image_set]
    by_series = _search(client, datastore, {"filters": [
        {"operator": "BETWEEN", "values": [{"updatedAt": datetime(2021, 8, 4)},
                                           {"updatedAt": START + timedelta(days=1)}]},
        {"operator": "EQUAL", "values": [{"DICOMSeriesInstanceUID": ct.SeriesInstanceUID}]},
    ], "sort": {"sortOrder": "ASC", "sortField": "updatedAt"}})  # fmt: skip
    assert [s["imageSetId"] for s in by_series] == [image_set]

    version = recent[0]["version"]
    got = client.get_image_set(datastoreId=datastore, imageSetId=image_set, versionId=str(version))
    assert got["versionId"] == "1" and got["imageSetWorkflowStatus"] == "IMPORTED"

    # The frame id the demo reads from the metadata, then GetImageFrame as a .jph file.
    document = _metadata(client, datastore, image_set)
    instances = [i for s in document["Study"]["Series"].values() for i in s["Instances"].values()]
    frame_id = instances[-1]["ImageFrames"][0]["ID"]
    frame = client.get_image_frame(
        datastoreId=datastore,
        imageSetId=image_set,
        imageFrameInformation={"imageFrameId": frame_id},
    )
    assert frame["imageFrameBlob"].read()[:12] == JP2_SIGNATURE

    versions = client.get_paginator("list_image_set_versions").paginate(
        datastoreId=datastore, imageSetId=image_set
    )
    assert [v["versionId"] for p in versions for v in p["imageSetPropertiesList"]] == ["1"]

    copied = client.copy_image_set(
        datastoreId=datastore,
        sourceImageSetId=image_set,
        copyImageSetInformation={"sourceImageSet": {"latestVersionId": str(version)}},
        force=False,
    )["destinationImageSetProperties"]["imageSetId"]
    assert _state(client, datastore, copied)["imageSetState"] == "LOCKED"
    sb.clock.advance(DELAY)
    assert _state(client, datastore, copied)["imageSetState"] == "ACTIVE"
    attributes = '{"SchemaVersion":1.1,"Patient":{"DICOM":{"PatientName":"Garcia^Gloria"}}}'
    client.update_image_set_metadata(
        datastoreId=datastore,
        imageSetId=copied,
        latestVersionId="1",
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": attributes}},
        force=False,
    )
    sb.clock.advance(DELAY)
    updated = _state(client, datastore, copied)
    assert (updated["versionId"], updated["imageSetWorkflowStatus"]) == ("2", "UPDATED")
    assert _metadata(client, datastore, copied)["Patient"]["DICOM"]["PatientName"] == (
        "Garcia^Gloria"
    )

    # [THR]: DeleteImageSet 0.25 per second, burst 1; the demo deletes back to back, so
    # a second delete within 4 seconds is throttled and succeeds once the quota allows.
    client.delete_image_set(datastoreId=datastore, imageSetId=image_set)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.delete_image_set(datastoreId=datastore, imageSetId=copied)
    sb.clock.advance(4)
    client.delete_image_set(datastoreId=datastore, imageSetId=copied)
    sb.clock.advance(DELAY)
    for deleted in (image_set, copied):
        assert _state(client, datastore, deleted)["imageSetState"] == "DELETED"
    assert client.delete_datastore(datastoreId=datastore)["datastoreStatus"] == "DELETING"


def test_frames_decode_as_the_frame_workflow_decodes_them(sb, client, s3_bucket):
    datastore = _new_datastore(sb, client)
    job = _import_ct(sb, client, datastore, s3_bucket)
    # get_image_sets_for_dicom_import_job: the manifest under the job's outputS3Uri.
    output = client.get_dicom_import_job(datastoreId=datastore, jobId=job)["jobProperties"][
        "outputS3Uri"
    ]
    bucket, _, key = output.removeprefix("s3://").partition("/")
    manifest = json.load(
        boto3.client("s3").get_object(Bucket=bucket, Key=key + "job-output-manifest.json")["Body"]
    )
    (image_set,) = [s["imageSetId"] for s in manifest["jobSummary"]["imageSetsSummary"]]
    expected = _ct().pixel_array
    for series in _metadata(client, datastore, image_set)["Study"]["Series"].values():
        for instance in series["Instances"].values():
            for image_frame in instance["ImageFrames"]:
                full = max(
                    image_frame["PixelDataChecksumFromBaseToFullResolution"],
                    key=lambda c: c["Width"],
                )
                response = client.get_image_frame(
                    datastoreId=datastore,
                    imageSetId=image_set,
                    imageFrameInformation={"imageFrameId": image_frame["ID"]},
                )
                # [API-F]: 1.2.840.10008.1.2.4.202 (or no stored syntax) -> image/jph.
                assert instance.get("StoredTransferSyntaxUID") in (None, "1.2.840.10008.1.2.4.202")
                assert response["contentType"] == "image/jph"
                body = response["imageFrameBlob"].read()
                # The workflow's decode: openjpeg.utils.decode(file, 2) (JP2 mode), then
                # zlib.crc32 of the array against the full resolution checksum.
                pixels = openjpeg.utils.decode(body, 2)
                assert zlib.crc32(pixels) == full["Checksum"]
                np.testing.assert_array_equal(pixels, expected)
                # The toolkit's decoder reads the same body with either codec.
                for codec in ("imagecodecs", "openjpeg"):
                    decoded = decode_image_frame(body, response["contentType"], codec=codec)
                    np.testing.assert_array_equal(decoded, expected)


def test_a_jpeg_2000_lossless_datastore_serves_j2c_codestreams(sb, client, s3_bucket):
    datastore = _new_datastore(sb, client, losslessStorageFormat="JPEG_2000_LOSSLESS")
    _import_ct(sb, client, datastore, s3_bucket)
    (summary,) = client.search_image_sets(datastoreId=datastore)["imageSetsMetadataSummaries"]
    document = _metadata(client, datastore, summary["imageSetId"])
    (instance,) = [
        i for s in document["Study"]["Series"].values() for i in s["Instances"].values()
    ]
    assert instance["StoredTransferSyntaxUID"] == "1.2.840.10008.1.2.4.90"
    response = client.get_image_frame(
        datastoreId=datastore,
        imageSetId=summary["imageSetId"],
        imageFrameInformation={"imageFrameId": instance["ImageFrames"][0]["ID"]},
    )
    body = response["imageFrameBlob"].read()
    assert response["contentType"] == "image/j2c" and body[:4] == b"\xff\x4f\xff\x51"
    expected = _ct().pixel_array
    np.testing.assert_array_equal(openjpeg.utils.decode(body, 0), expected)
    for codec in ("imagecodecs", "openjpeg"):
        np.testing.assert_array_equal(decode_image_frame(body, "image/j2c", codec=codec), expected)


def test_a_study_date_bound_without_a_time_is_the_start_of_that_day(sb, client, s3_bucket):
    # CLI reference, search-image-sets: a missing DICOMStudyTime means the start of the day
    # (https://docs.aws.amazon.com/cli/latest/reference/medical-imaging/search-image-sets.html).
    datastore = _new_datastore(sb, client)
    _import_ct(sb, client, datastore, s3_bucket)  # studied 2004-01-19 at 07:27:30
    day = {"DICOMStudyDate": "20040119"}
    assert _search(client, datastore, _study_between({"DICOMStudyDate": "19900101"}, day)) == []
    late = {**day, "DICOMStudyTime": "072730"}
    assert len(_search(client, datastore, _study_between({"DICOMStudyDate": "19900101"}, late)))
    assert len(_search(client, datastore, _study_between(day, {"DICOMStudyDate": "20040120"})))


# ------------------------------------------------------------------ timestamps, failures


def test_timestamps_follow_the_cli_reference_examples(sb, client):
    ds = sb.store.datastore_ids()[0]
    source, other = sb.store.image_set_ids(ds)[5], sb.store.image_set_ids(ds)[8]
    created = client.get_image_set(datastoreId=ds, imageSetId=source, versionId="1")["createdAt"]
    # [CLI-V]: every version answers the image set's createdAt; updatedAt differs.
    listed = [
        v
        for page in client.get_paginator("list_image_set_versions").paginate(
            datastoreId=ds, imageSetId=source
        )
        for v in page["imageSetPropertiesList"]
    ]
    assert {v["createdAt"] for v in listed} == {created}
    assert len({v["updatedAt"] for v in listed}) == len(listed)
    summary = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    assert {s["imageSetId"]: s["createdAt"] for s in summary}[source] == created
    # [CLI-C] example 1: the source answers its creation time and the copy's time; a new
    # destination answers createdAt == updatedAt.
    latest = _state(client, ds, source)["versionId"]
    copy = client.copy_image_set(
        datastoreId=ds,
        sourceImageSetId=source,
        copyImageSetInformation={"sourceImageSet": {"latestVersionId": latest}},
    )
    src, dst = copy["sourceImageSetProperties"], copy["destinationImageSetProperties"]
    assert (src["createdAt"], src["updatedAt"]) == (created, START)
    assert dst["createdAt"] == dst["updatedAt"] == START
    # [CLI-U]: an update answers the image set's createdAt and the update's updatedAt.
    sb.clock.advance(DELAY)
    other_created = _state(client, ds, other)["createdAt"]
    answer = client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=other,
        latestVersionId=_state(client, ds, other)["versionId"],
        updateImageSetMetadataUpdates={"revertToVersionId": "1"},
    )
    assert (answer["createdAt"], answer["updatedAt"]) == (
        other_created,
        START + timedelta(seconds=DELAY),
    )
    sb.clock.advance(DELAY)
    # [CLI-G]: GetImageSet of any version answers the same createdAt.
    again = client.get_image_set(datastoreId=ds, imageSetId=other, versionId="1")
    assert again["createdAt"] == other_created < _state(client, ds, other)["updatedAt"]


def _copy(client, ds, source, destination=None, selection=None, **options):
    info: dict = {"sourceImageSet": {"latestVersionId": _state(client, ds, source)["versionId"]}}
    if selection is not None:
        info["sourceImageSet"]["DICOMCopies"] = {
            "copiableAttributes": json.dumps({"SchemaVersion": "1.1", **selection})
        }
    if destination is not None:
        info["destinationImageSet"] = {
            "imageSetId": destination,
            "latestVersionId": _state(client, ds, destination)["versionId"],
        }
    return client.copy_image_set(
        datastoreId=ds, sourceImageSetId=source, copyImageSetInformation=info, **options
    )["destinationImageSetProperties"]


def test_a_copy_between_different_series_ends_copy_failed_as_in_the_example(sb, client):
    # [CLI-V]: version 2 COPY_FAILED, "INVALID_REQUEST: Series of SourceImageSet and
    # DestinationImageSet don't match." The copy is accepted; GetImageSet shows the failure.
    ds = sb.store.datastore_ids()[0]
    source, destination = sb.store.image_set_ids(ds)[0], sb.store.image_set_ids(ds)[5]
    before = _metadata(client, ds, destination)
    accepted = _copy(client, ds, source, destination)
    assert (accepted["imageSetState"], accepted["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "COPYING",
    )
    sb.clock.advance(DELAY)
    failed = _state(client, ds, destination)
    assert failed["versionId"] == accepted["latestVersionId"]
    assert (failed["imageSetState"], failed["imageSetWorkflowStatus"]) == ("ACTIVE", "COPY_FAILED")
    assert failed["message"] == (
        "INVALID_REQUEST: Series of SourceImageSet and DestinationImageSet don't match."
    )
    assert _metadata(client, ds, destination) == before


def test_a_copy_of_absent_series_or_instances_fails_instead_of_copying_nothing(sb, client):
    ds = sb.store.datastore_ids()[0]
    source = sb.store.image_set_ids(ds)[0]
    (series,) = _metadata(client, ds, source)["Study"]["Series"]
    absent_series = {"Study": {"Series": {"2.25.404": {}}}}
    made = _copy(client, ds, source, selection=absent_series)
    sb.clock.advance(DELAY)
    new = _state(client, ds, made["imageSetId"])
    assert new["imageSetWorkflowStatus"] == "COPY_FAILED" and "2.25.404" in new["message"]
    absent_instance = {"Study": {"Series": {series: {"Instances": {"2.25.405": {}}}}}}
    destination = made["imageSetId"]
    before = _metadata(client, ds, destination)
    sb.clock.advance(4)  # [THR]: CopyImageSet 0.25 per second, burst 1
    _copy(client, ds, source, destination, selection=absent_instance, force=True)
    sb.clock.advance(DELAY)
    failed = _state(client, ds, destination)
    assert failed["imageSetWorkflowStatus"] == "COPY_FAILED" and "2.25.405" in failed["message"]
    assert _metadata(client, ds, destination) == before


def test_a_removal_whose_value_does_not_match_keeps_the_attribute(sb, client):
    # AWS SDK for Python example, remove_attributes: "Attribute key and value must match the
    # existing attribute." [CLI-U]
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[0]
    stored = _metadata(client, ds, image_set)["Study"]["DICOM"]["StudyDescription"]
    for value, outcome in ((stored + " NOT", "UPDATE_FAILED"), (stored, "UPDATED")):
        removal = {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": value}}}
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId=_state(client, ds, image_set)["versionId"],
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"removableAttributes": json.dumps(removal)}
            },
        )
        sb.clock.advance(DELAY)
        assert _state(client, ds, image_set)["imageSetWorkflowStatus"] == outcome
        kept = "StudyDescription" in _metadata(client, ds, image_set)["Study"]["DICOM"]
        assert kept is (outcome == "UPDATE_FAILED")


# ------------------------------------------------------------ tiers, regions, identifiers


def test_reads_record_access_and_thirty_idle_days_archive(sb, client):
    # Developer guide, "Cost optimization": image sets not accessed for 30 consecutive days
    # move to Archive Instant Access
    # (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html).
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[2]
    _metadata(client, ds, image_set)
    read = _state(client, ds, image_set)
    assert (read["lastAccessedAt"], read["storageTier"]) == (START, "FREQUENT_ACCESS")
    sb.clock.advance(timedelta(days=30).total_seconds())
    assert _state(client, ds, image_set)["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
    summaries = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    assert {s["imageSetId"]: s["storageTier"] for s in summaries}[image_set] == (
        "ARCHIVE_INSTANT_ACCESS"
    )
    _metadata(client, ds, image_set)
    assert _state(client, ds, image_set)["storageTier"] == "FREQUENT_ACCESS"


def test_a_signature_for_another_region_is_refused_as_aws_refuses_it(sb):
    keys = sb.credentials()
    other = boto3.Session(**keys, region_name="eu-west-1").client(
        "medical-imaging",
        endpoint_url=sb.endpoint_url,
        config=__import__("botocore.config").config.Config(
            inject_host_prefix=False, retries={"total_max_attempts": 1}
        ),
    )
    with pytest.raises(other.exceptions.ClientError) as caught:
        other.list_datastores()
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        "Credential should be scoped to a valid region, not 'eu-west-1'."
    )


def test_created_resources_get_new_ids_on_every_run_and_the_demo_keeps_its_own():
    ids = []
    for _ in range(2):
        with sandbox.start(clock=sandbox.ManualClock(START), quotas=False) as box:
            client = box.client(max_attempts=1)
            demo = box.store.datastore_ids()
            created = client.create_datastore(datastoreName="run")["datastoreId"]
            ids.append((demo, created))
    (demo_a, created_a), (demo_b, created_b) = ids
    assert demo_a == demo_b and created_a != created_b
