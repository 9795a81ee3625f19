"""The sandbox writes an import job's output as AWS's pages describe it.

Each test names the page it checks in its docstring. A real job runs in the sandbox over
HTTP (boto3), reading pydicom's files and broken ones from moto's S3; its output is read
back with ``boto3.client("s3")`` through the standard configuration, as a user would.
What the pages leave open is said in :mod:`hi_widgets.sandbox.dicom.import_jobs`.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.api.model import service_model  # noqa: E402

UNDERSTANDING = (
    "https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html"
)
ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
DELAY = 2.0
GOOD = ("CT_small.dcm", "MR_small.dcm")

# The page's job-output-manifest.json example, its jobSummary keys in the page's order.
DOCUMENTED_MANIFEST_KEYS = [
    "jobId",
    "datastoreId",
    "inputS3Uri",
    "outputS3Uri",
    "successOutputS3Uri",
    "failureOutputS3Uri",
    "warningsOutputS3Uri",
    "numberOfScannedFiles",
    "numberOfImportedFiles",
    "numberOfFilesWithCustomerError",
    "numberOfFilesWithServerError",
    "numberOfGeneratedImageSets",
    "imageSetsSummary",
]


def _dataset(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


def _saved(dataset, **options) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, **options)
    return buffer.getvalue()


def _without_transfer_syntax() -> bytes:
    dataset = _dataset("CT_small.dcm")
    del dataset.file_meta.TransferSyntaxUID
    return _saved(dataset, enforce_file_format=False)


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
    return datastore_id


def _run(sb, client, datastore, bucket, prefix, files):
    s3 = boto3.client("s3")
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
    started = client.start_dicom_import_job(
        jobName="docs-check",
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{bucket}/{prefix}",
        outputS3Uri=f"s3://{bucket}/job_output/",
    )
    sb.clock.advance(DELAY)
    client.list_dicom_import_jobs(datastoreId=datastore)  # settles: the job starts
    assert sb.store.wait_for_imports(timeout=120)
    sb.clock.advance(DELAY)
    return client.get_dicom_import_job(datastoreId=datastore, jobId=started["jobId"])[
        "jobProperties"
    ]


def _output(job) -> tuple[str, str, dict[str, bytes]]:
    bucket, _, folder = job["outputS3Uri"][len("s3://") :].partition("/")
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]]
    bodies = {k[len(folder) :]: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
    return bucket, folder, bodies


def _lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.decode().splitlines()]


@pytest.fixture
def mixed_job(sb, client, datastore, s3_bucket):
    files = {name: Path(get_testdata_file(name)).read_bytes() for name in GOOD}
    files["invalidDicomFile1.dcm"] = _without_transfer_syntax()
    files["notes.txt"] = b"not a DICOM file"
    return _run(sb, client, datastore, s3_bucket, "dicom_input/", files)


def test_output_folder_and_files_are_the_documented_ones(mixed_job, datastore, s3_bucket):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (results at outputS3Uri: job-output-manifest.json and SUCCESS, FAILURE and WARNING
    folders holding success.ndjson, failure.ndjson, warning.ndjson) and the AWS CLI
    reference's get-dicom-import-job example
    (https://docs.aws.amazon.com/cli/latest/reference/medical-imaging/get-dicom-import-job.html:
    ``outputS3Uri`` is ``<requested outputS3Uri><datastoreId>-DicomImport-<jobId>/``)."""
    job = mixed_job
    assert job["outputS3Uri"] == (
        f"s3://{s3_bucket}/job_output/{datastore}-DicomImport-{job['jobId']}/"
    )
    _, _, bodies = _output(job)
    assert sorted(bodies) == [
        "FAILURE/failure.ndjson",
        "SUCCESS/success.ndjson",
        "WARNING/warning.ndjson",
        "job-output-manifest.json",
    ]


def test_validation_failures_leave_the_job_completed(mixed_job):
    """https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_GetDICOMImportJob.html
    ("an import job can return a jobStatus as COMPLETED even if validation issues are
    discovered during the import process"); ``message`` is for a job that fails."""
    assert mixed_job["jobStatus"] == "COMPLETED"
    assert "message" not in mixed_job
    assert mixed_job["submittedAt"] <= mixed_job["endedAt"]


def test_the_manifest_has_the_documented_fields_and_counts(mixed_job, client, datastore):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (the job-output-manifest.json example: jobSummary with these keys in this order;
    imageSetsSummary entries with imageSetId and numberOfMatchedSOPInstances)."""
    _, _, bodies = _output(mixed_job)
    manifest = json.loads(bodies["job-output-manifest.json"])
    assert list(manifest) == ["jobSummary"]
    summary = manifest["jobSummary"]
    assert list(summary) == DOCUMENTED_MANIFEST_KEYS
    folder = mixed_job["outputS3Uri"]
    assert summary["jobId"] == mixed_job["jobId"] and summary["datastoreId"] == datastore
    assert summary["inputS3Uri"] == mixed_job["inputS3Uri"]
    assert summary["outputS3Uri"] == folder
    assert summary["successOutputS3Uri"] == folder + "SUCCESS/"
    assert summary["failureOutputS3Uri"] == folder + "FAILURE/"
    assert summary["warningsOutputS3Uri"] == folder + "WARNING/"
    counts = {key: summary[key] for key in DOCUMENTED_MANIFEST_KEYS if key.startswith("number")}
    assert all(type(value) is int for value in counts.values())
    assert counts == {
        "numberOfScannedFiles": 4,
        "numberOfImportedFiles": 2,
        "numberOfFilesWithCustomerError": 2,
        "numberOfFilesWithServerError": 0,
        "numberOfGeneratedImageSets": 2,
    }
    assert len(summary["imageSetsSummary"]) == 2
    for entry in summary["imageSetsSummary"]:
        assert {"imageSetId", "numberOfMatchedSOPInstances"} <= set(entry)
        assert entry["numberOfMatchedSOPInstances"] == 1
        found = client.get_image_set(datastoreId=datastore, imageSetId=entry["imageSetId"])
        assert found["imageSetWorkflowStatus"] == "IMPORTED"


def test_success_records_name_each_file_and_its_image_set(mixed_job, client, datastore):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (success.ndjson: one ``{"inputFile", "importResponse": {"imageSetId", "isPrimary"}}``
    line per imported file; inputFile is the object's key, input prefix included)."""
    _, _, bodies = _output(mixed_job)
    records = _lines(bodies["SUCCESS/success.ndjson"])
    assert sorted(r["inputFile"] for r in records) == [f"dicom_input/{n}" for n in GOOD]
    for record in records:
        assert set(record) == {"inputFile", "importResponse"}
        response = record["importResponse"]
        assert {"imageSetId", "isPrimary"} <= set(response)
        assert response["isPrimary"] is True  # a JSON boolean
        assert re.fullmatch(r"[0-9a-z]{32}", response["imageSetId"])
        image_set = client.get_image_set(datastoreId=datastore, imageSetId=response["imageSetId"])
        assert image_set["versionId"] == str(response["imageSetVersion"])


def test_failure_records_carry_an_exception_type_and_message(mixed_job):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (failure.ndjson: ``{"inputFile", "exception": {"exceptionType", "message"}}``; its
    first example is a file without TransferSyntaxUID: ValidationException, "DICOM
    attribute TransferSyntaxUID does not exist")."""
    _, _, bodies = _output(mixed_job)
    records = {r["inputFile"]: r for r in _lines(bodies["FAILURE/failure.ndjson"])}
    assert set(records) == {"dicom_input/invalidDicomFile1.dcm", "dicom_input/notes.txt"}
    for record in records.values():
        assert set(record) == {"inputFile", "exception"}
        assert set(record["exception"]) == {"exceptionType", "message"}
        assert record["exception"]["exceptionType"] == "ValidationException"
    assert records["dicom_input/invalidDicomFile1.dcm"]["exception"]["message"] == (
        "DICOM attribute TransferSyntaxUID does not exist"
    )
    assert bodies["WARNING/warning.ndjson"] == b""  # the sandbox raises no warnings


def test_a_conflicting_import_is_reported_non_primary(sb, client, datastore, s3_bucket):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    ("When data imports create non-primary image sets ... the record written to the
    success.ndjson will also have isPrimary: False within the importResponse object")."""
    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    _run(sb, client, datastore, s3_bucket, "first/", {"mr.dcm": mr})
    conflicting = _dataset("MR_small.dcm")
    conflicting.PatientID = "SOMEONE-ELSE"
    conflicting.SOPInstanceUID = conflicting.SOPInstanceUID + ".9"
    job = _run(sb, client, datastore, s3_bucket, "second/", {"mr.dcm": _saved(conflicting)})
    _, _, bodies = _output(job)
    (record,) = _lines(bodies["SUCCESS/success.ndjson"])
    assert record["importResponse"]["isPrimary"] is False
    (entry,) = json.loads(bodies["job-output-manifest.json"])["jobSummary"]["imageSetsSummary"]
    assert entry["imageSetId"] == record["importResponse"]["imageSetId"]
    found = client.get_image_set(datastoreId=datastore, imageSetId=entry["imageSetId"])
    assert found["isPrimary"] is False


def test_job_summaries_and_properties_hold_the_documented_members(sb, mixed_job, datastore):
    """https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMImportJobSummary.html
    and .../API_DICOMImportJobProperties.html (the members of each shape, as the installed
    botocore model has them): the wire answers use no other names."""
    shapes = service_model().shape_for
    summary_members = set(shapes("DICOMImportJobSummary").members)
    property_members = set(shapes("DICOMImportJobProperties").members)
    (job,) = [j for j in sb.store.import_jobs(datastore) if j.job_id == mixed_job["jobId"]]
    assert set(job.summary()) <= summary_members
    assert {"jobId", "jobName", "jobStatus", "datastoreId", "submittedAt", "endedAt"} <= set(
        job.summary()
    )
    assert set(job.properties()) <= property_members
    assert {"inputS3Uri", "outputS3Uri", "dataAccessRoleArn"} <= set(job.properties())


def test_a_failed_job_says_why_and_when_it_ended(sb, client, datastore, s3_endpoint):
    """https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMImportJobSummary.html
    (``message``: "The error message thrown if an import job fails"; ``endedAt``: when
    the job ended)."""
    started = client.start_dicom_import_job(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri="s3://no-such-bucket-for-docs/in/",
        outputS3Uri="s3://no-such-bucket-for-docs/out/",
    )
    sb.clock.advance(DELAY)
    client.list_dicom_import_jobs(datastoreId=datastore)
    assert sb.store.wait_for_imports(timeout=60)
    sb.clock.advance(DELAY)
    (summary,) = client.list_dicom_import_jobs(datastoreId=datastore, jobStatus="FAILED")[
        "jobSummaries"
    ]
    assert summary["jobId"] == started["jobId"]
    assert "no-such-bucket-for-docs" in summary["message"]
    assert summary["submittedAt"] < summary["endedAt"]


def test_failures_count_as_customer_or_server_errors_by_type():
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (the manifest counts numberOfFilesWithCustomerError and numberOfFilesWithServerError;
    the page names no exception type for a server error: the sandbox takes the API's
    InternalServerException, and every other type is the customer's)."""
    from hi_widgets.sandbox.dicom.import_jobs import ImportJob
    from hi_widgets.sandbox.dicom.pipeline import PipelineResult
    from hi_widgets.sandbox.dicom.read import Failure

    job = ImportJob(
        job_id="1" * 32,
        job_name="counts",
        datastore_id="d" * 32,
        data_access_role_arn=ROLE,
        input_s3_uri="s3://in/dicom_input/",
        requested_output_s3_uri="s3://out/job_output/",
        submitted_at=datetime(2025, 6, 2, tzinfo=timezone.utc),
        delay=0.0,
        result=PipelineResult(
            [],
            [
                Failure("dicom_input/a.dcm", "DICOM attribute SOPClassUID does not exist"),
                Failure("dicom_input/b.dcm", "Internal error", "InternalServerException"),
                Failure("dicom_input/c.dcm", "Internal error", "InternalServerException"),
            ],
            3,
        ),
    )
    summary = job.manifest()["jobSummary"]
    assert summary["numberOfFilesWithCustomerError"] == 1
    assert summary["numberOfFilesWithServerError"] == 2
    assert summary["numberOfScannedFiles"] == 3 and summary["numberOfImportedFiles"] == 0
    lines = job.output_objects()["FAILURE/failure.ndjson"].decode().splitlines()
    types = [json.loads(line)["exception"]["exceptionType"] for line in lines]
    assert types == ["ValidationException", "InternalServerException", "InternalServerException"]
