"""DICOM import jobs and GetImageFrame served by the sandbox over HTTP (boto3, moto S3).

Every wait moves the sandbox's ManualClock; the one wait on real work is
``wait_for_imports`` (a join with a timeout on the job's thread), never a sleep.
"""

import gzip
import json
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path

import boto3
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.cli.main import build_parser  # noqa: E402
from hi_widgets.sandbox.command import run as run_sandbox  # noqa: E402
from hi_widgets.sandbox.dicom import frame_encoding as frames  # noqa: E402

CT, MR, MR_RLE, MULTIFRAME = "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "rtdose.dcm"
ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
DELAY = 2.0


def _bytes(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _dataset(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


@pytest.fixture
def sb():
    clock = sandbox.ManualClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))
    with sandbox.start(clock=clock, quotas=False, image_sets=2, update_delay=DELAY) as box:
        yield box


@pytest.fixture
def client(sb):
    return sb.client(max_attempts=1)


@pytest.fixture
def datastore(sb, client):
    datastore_id = client.create_datastore(datastoreName="imports")["datastoreId"]
    sb.clock.advance(DELAY)
    assert (
        client.get_datastore(datastoreId=datastore_id)["datastoreProperties"]["datastoreStatus"]
        == "ACTIVE"
    )
    return datastore_id


def _upload(bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    s3 = boto3.client("s3")
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def _run_job(sb, client, datastore, bucket, prefix, **extra):
    started = client.start_dicom_import_job(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{bucket}/{prefix}",
        outputS3Uri=f"s3://{bucket}/output/",
        **extra,
    )
    job_id = started["jobId"]
    assert started["jobStatus"] == "SUBMITTED"
    sb.clock.advance(DELAY)
    job = client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]
    assert job["jobStatus"] == "IN_PROGRESS"
    assert sb.store.wait_for_imports(timeout=120)
    return job_id


def _finish(sb, client, datastore, job_id):
    sb.clock.advance(DELAY)
    return client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]


def _metadata(client, datastore, image_set_id, **version):
    blob = client.get_image_set_metadata(
        datastoreId=datastore, imageSetId=image_set_id, **version
    )["imageSetMetadataBlob"].read()
    return json.loads(gzip.decompress(blob))


def _image_set_of(client, datastore, series_uid):
    found = client.search_image_sets(
        datastoreId=datastore,
        searchCriteria={
            "filters": [{"values": [{"DICOMSeriesInstanceUID": series_uid}], "operator": "EQUAL"}]
        },
    )["imageSetsMetadataSummaries"]
    return found


def test_an_import_job_over_http_makes_searchable_image_sets_with_frames(
    sb, client, datastore, s3_bucket
):
    _upload(
        s3_bucket,
        "in/",
        {CT: _bytes(CT), MULTIFRAME: _bytes(MULTIFRAME), "notes.txt": b"not DICOM"},
    )
    job_id = _run_job(sb, client, datastore, s3_bucket, "in/", jobName="pydicom-files")
    # While the job runs, its image sets are LOCKED in IMPORTING.
    ct = _dataset(CT)
    (summary,) = _image_set_of(client, datastore, ct.SeriesInstanceUID)
    locked = client.get_image_set(datastoreId=datastore, imageSetId=summary["imageSetId"])
    assert (locked["imageSetState"], locked["imageSetWorkflowStatus"]) == ("LOCKED", "IMPORTING")

    job = _finish(sb, client, datastore, job_id)
    assert job["jobStatus"] == "COMPLETED" and job["jobName"] == "pydicom-files"
    assert job["outputS3Uri"] == f"s3://{s3_bucket}/output/{datastore}-DicomImport-{job_id}/"
    assert job["endedAt"] > job["submittedAt"]
    image_set = client.get_image_set(datastoreId=datastore, imageSetId=summary["imageSetId"])
    assert image_set["versionId"] == "1" and image_set["isPrimary"] is True
    assert image_set["createdAt"] <= image_set["updatedAt"] == job["endedAt"]
    assert (image_set["imageSetState"], image_set["imageSetWorkflowStatus"]) == (
        "ACTIVE",
        "IMPORTED",
    )

    # The manifest names the image sets that the datastore holds.
    s3 = boto3.client("s3")
    folder = job["outputS3Uri"].split(s3_bucket + "/", 1)[1]
    manifest = json.loads(
        s3.get_object(Bucket=s3_bucket, Key=folder + "job-output-manifest.json")["Body"].read()
    )["jobSummary"]
    assert manifest["numberOfGeneratedImageSets"] == 2
    assert manifest["numberOfFilesWithCustomerError"] == 1
    listed = {
        s["imageSetId"]
        for s in client.search_image_sets(datastoreId=datastore)["imageSetsMetadataSummaries"]
    }
    assert {s["imageSetId"] for s in manifest["imageSetsSummary"]} == listed

    # Search by the file's patient id; metadata equals the file's attributes.
    found = client.search_image_sets(
        datastoreId=datastore,
        searchCriteria={
            "filters": [{"values": [{"DICOMPatientId": ct.PatientID}], "operator": "EQUAL"}]
        },
    )["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in found] == [summary["imageSetId"]]
    assert found[0]["DICOMTags"]["DICOMStudyInstanceUID"] == ct.StudyInstanceUID
    document = _metadata(client, datastore, summary["imageSetId"])
    assert document["ImageSetID"] == summary["imageSetId"] and document["DatastoreID"] == datastore
    assert document["Patient"]["DICOM"]["PatientName"] == str(ct.PatientName)
    instance = document["Study"]["Series"][ct.SeriesInstanceUID]["Instances"][ct.SOPInstanceUID]
    assert instance["DICOM"]["Rows"] == ct.Rows

    # The frame id in the metadata resolves to HTJ2K that decodes to Rows x Columns.
    (frame_entry,) = instance["ImageFrames"]
    response = client.get_image_frame(
        datastoreId=datastore,
        imageSetId=summary["imageSetId"],
        imageFrameInformation={"imageFrameId": frame_entry["ID"]},
    )
    assert response["contentType"] == frames.CONTENT_TYPE == "image/jph"
    pixels = frames.decode(response["imageFrameBlob"].read())
    assert pixels.shape == (ct.Rows, ct.Columns)
    assert np.array_equal(pixels, ct.pixel_array)

    # ListDICOMImportJobs, with and without a status filter.
    jobs = client.list_dicom_import_jobs(datastoreId=datastore)["jobSummaries"]
    assert [j["jobId"] for j in jobs] == [job_id] and jobs[0]["jobStatus"] == "COMPLETED"
    assert (
        client.list_dicom_import_jobs(datastoreId=datastore, jobStatus="FAILED")["jobSummaries"]
        == []
    )


@pytest.mark.slow
def test_a_later_import_of_the_same_series_makes_a_new_version_or_a_non_primary_set(
    sb, client, datastore, s3_bucket, tmp_path
):
    _upload(s3_bucket, "first/", {MR: _bytes(MR)})
    _finish(sb, client, datastore, _run_job(sb, client, datastore, s3_bucket, "first/"))
    mr = _dataset(MR)
    (primary,) = _image_set_of(client, datastore, mr.SeriesInstanceUID)

    # Same series and grouping values: the primary image set gets version 2.
    _upload(s3_bucket, "second/", {MR_RLE: _bytes(MR_RLE)})
    job_id = _run_job(sb, client, datastore, s3_bucket, "second/")
    assert _finish(sb, client, datastore, job_id)["jobStatus"] == "COMPLETED"
    latest = client.get_image_set(datastoreId=datastore, imageSetId=primary["imageSetId"])
    assert latest["versionId"] == "2" and latest["imageSetWorkflowStatus"] == "IMPORTED"
    assert len(_image_set_of(client, datastore, mr.SeriesInstanceUID)) == 1

    # A conflicting Patient ID for the same series: a new, non-primary image set.
    conflicting = _dataset(MR)
    conflicting.PatientID = "SOMEONE-ELSE"
    conflicting.SOPInstanceUID = mr.SOPInstanceUID + ".9"
    path = tmp_path / "conflict.dcm"
    conflicting.save_as(path)
    _upload(s3_bucket, "third/", {"conflict.dcm": path.read_bytes()})
    _finish(sb, client, datastore, _run_job(sb, client, datastore, s3_bucket, "third/"))
    sets = _image_set_of(client, datastore, mr.SeriesInstanceUID)
    assert sorted(s["isPrimary"] for s in sets) == [False, True]
    assert len(client.list_dicom_import_jobs(datastoreId=datastore)["jobSummaries"]) == 3


def test_a_job_whose_input_cannot_be_read_fails_with_a_message(sb, client, datastore, s3_endpoint):
    started = client.start_dicom_import_job(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri="s3://no-such-bucket-anywhere/in/",
        outputS3Uri="s3://no-such-bucket-anywhere/out/",
    )
    sb.clock.advance(DELAY)
    client.list_dicom_import_jobs(datastoreId=datastore)  # settles: the job starts
    assert sb.store.wait_for_imports(timeout=60)
    job = _finish(sb, client, datastore, started["jobId"])
    assert job["jobStatus"] == "FAILED" and "no-such-bucket-anywhere" in job["message"]


def test_start_import_job_is_idempotent_and_checks_its_datastore(sb, client, datastore, s3_bucket):
    kwargs = dict(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{s3_bucket}/in/",
        outputS3Uri=f"s3://{s3_bucket}/out/",
        clientToken="same-token",
    )
    first = client.start_dicom_import_job(**kwargs)
    assert client.start_dicom_import_job(**kwargs)["jobId"] == first["jobId"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_dicom_import_job(datastoreId=datastore, jobId="0" * 32)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.start_dicom_import_job(**{**kwargs, "datastoreId": "f" * 32})


def test_import_jobs_page_by_max_results(sb, client, datastore, s3_bucket):
    for index in range(3):
        client.start_dicom_import_job(
            datastoreId=datastore,
            dataAccessRoleArn=ROLE,
            inputS3Uri=f"s3://{s3_bucket}/in{index}/",
            outputS3Uri=f"s3://{s3_bucket}/out/",
        )
    pages = list(
        client.get_paginator("list_dicom_import_jobs").paginate(
            datastoreId=datastore, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page["jobSummaries"]) for page in pages] == [2, 1]


def test_sandbox_imports_a_local_folder_at_start_up(tmp_path):
    for name in (CT, MR, "README.txt"):
        source = get_testdata_file(name) if name != "README.txt" else None
        (tmp_path / name).write_bytes(Path(source).read_bytes() if source else b"not DICOM")
    with sandbox.start(quotas=False, image_sets=1, import_from=str(tmp_path)) as sb:
        client = sb.client(max_attempts=1)
        (store,) = [
            d
            for d in client.list_datastores()["datastoreSummaries"]
            if d["datastoreName"] == "imported-dicom"
        ]
        assert store["datastoreStatus"] == "ACTIVE"
        summaries = client.search_image_sets(datastoreId=store["datastoreId"])[
            "imageSetsMetadataSummaries"
        ]
        assert sorted(s["DICOMTags"]["DICOMPatientId"] for s in summaries) == sorted(
            [_dataset(CT).PatientID, _dataset(MR).PatientID]
        )
        for summary in summaries:
            image_set = client.get_image_set(
                datastoreId=store["datastoreId"], imageSetId=summary["imageSetId"]
            )
            assert image_set["imageSetWorkflowStatus"] == "IMPORTED"


def test_sandbox_command_imports_a_bucket_at_start_up(s3_bucket, serve_sandbox_command):
    _upload(s3_bucket, "dicom/", {CT: _bytes(CT)})
    served = serve_sandbox_command(["--image-sets", "1", "--import", f"s3://{s3_bucket}/dicom/"])
    datastores = served.client().list_datastores()["datastoreSummaries"]
    assert "imported-dicom" in [d["datastoreName"] for d in datastores]
    served.shut_down()


def test_sandbox_command_refuses_a_missing_import_folder(tmp_path, capsys):
    args = build_parser().parse_args(
        ["sandbox", "--port", "0", "--import", str(tmp_path / "missing")]
    )
    assert run_sandbox(args, threading.Event()) == 2
    assert "no such file or folder to import" in capsys.readouterr().err
