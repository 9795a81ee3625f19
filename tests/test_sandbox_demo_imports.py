"""The demo's import jobs: served by the API, their output in the demo's local S3.

The jobs are the ones that imported some demo image sets (their version 1), plus jobs
that failed; a user reads their output with ``boto3.client("s3")`` and the printed
environment, as on Binder with no AWS account.
"""

from __future__ import annotations

import io
import json
import socket
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

pytest.importorskip("moto.server")

from hi_widgets import sandbox
from hi_widgets.sandbox.backend.domain import make_id
from hi_widgets.sandbox.demo import import_jobs as demo_jobs
from hi_widgets.sandbox.demo.data import LONG_HISTORY
from hi_widgets.sandbox.dicom.import_jobs import ImportJob, reaches_aws
from hi_widgets.sandbox.dicom.read import Failure, read_instance


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(seed=0, quotas=False, clock=sandbox.ManualClock(), demo_s3=True) as box:
        yield box


@pytest.fixture(scope="module")
def client(sb):
    return sb.client(max_attempts=1)


@pytest.fixture
def user_s3(sb, monkeypatch):
    """``boto3.client("s3")`` in an environment holding only the sandbox's printed lines."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/hi-widgets-test-config")
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3")


def _jobs(client, datastore_id):
    pages = client.get_paginator("list_dicom_import_jobs").paginate(
        datastoreId=datastore_id, PaginationConfig={"PageSize": 2}
    )
    return [job for page in pages for job in page["jobSummaries"]]


def _read(s3, uri: str, name: str) -> bytes:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()


def test_each_demo_datastore_has_completed_partial_and_failed_jobs(sb, client):
    for datastore_id in sb.store.datastore_ids():
        jobs = _jobs(client, datastore_id)
        assert [j["submittedAt"] for j in jobs] == sorted(
            (j["submittedAt"] for j in jobs), reverse=True
        )  # newest first
        by_status = Counter(j["jobStatus"] for j in jobs)
        assert by_status["COMPLETED"] >= 3 and by_status["FAILED"] == 1
        failed = next(j for j in jobs if j["jobStatus"] == "FAILED")
        assert failed["message"].startswith("Cannot read inputS3Uri s3://")
        assert all(j["submittedAt"] < j["endedAt"] for j in jobs)
        only_failed = client.list_dicom_import_jobs(datastoreId=datastore_id, jobStatus="FAILED")
        assert [j["jobId"] for j in only_failed["jobSummaries"]] == [failed["jobId"]]
        for job in jobs:
            properties = client.get_dicom_import_job(datastoreId=datastore_id, jobId=job["jobId"])
            assert {k: v for k, v in properties["jobProperties"].items() if k in job} == job


def test_the_printed_environment_points_boto3_s3_at_the_local_s3(sb):
    env = sb.env()
    assert env["AWS_ENDPOINT_URL_S3"] == sb.s3_endpoint_url
    assert sb.s3_endpoint_url.startswith("http://127.0.0.1:")
    assert not reaches_aws(sb.s3_endpoint_url)
    # The sandbox's own import jobs read and write the same local S3, never AWS.
    assert sb.store.s3_client_factory().meta.endpoint_url == sb.s3_endpoint_url


def test_completed_job_output_is_readable_with_the_printed_environment(sb, client, user_s3):
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (the manifest, SUCCESS/success.ndjson and FAILURE/failure.ndjson under outputS3Uri)."""
    reasons: Counter[str] = Counter()
    partial = 0
    for datastore_id in sb.store.datastore_ids():
        for job in _jobs(client, datastore_id):
            uri = client.get_dicom_import_job(datastoreId=datastore_id, jobId=job["jobId"])[
                "jobProperties"
            ]["outputS3Uri"]
            if job["jobStatus"] == "FAILED":  # nothing was read, nothing is written
                bucket, _, prefix = uri[len("s3://") :].partition("/")
                assert user_s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0
                continue
            summary = json.loads(_read(user_s3, uri, "job-output-manifest.json"))["jobSummary"]
            successes = [
                json.loads(x) for x in _read(user_s3, uri, "SUCCESS/success.ndjson").splitlines()
            ]
            failures = [
                json.loads(x) for x in _read(user_s3, uri, "FAILURE/failure.ndjson").splitlines()
            ]
            assert summary["jobId"] == job["jobId"] and summary["outputS3Uri"] == uri
            assert summary["numberOfImportedFiles"] == len(successes)
            assert summary["numberOfFilesWithCustomerError"] == len(failures)
            assert summary["numberOfScannedFiles"] == len(successes) + len(failures)
            assert summary["numberOfGeneratedImageSets"] == len(summary["imageSetsSummary"])
            prefix = summary["inputS3Uri"].split("/", 3)[3]
            for record in successes + failures:
                assert record["inputFile"].startswith(prefix)
            reasons.update(f["exception"]["message"] for f in failures)
            partial += bool(failures and successes)
    assert partial >= 2
    assert len(reasons) >= 3 and max(reasons.values()) >= 3  # distinct, and repeated
    assert set(reasons) == set(demo_jobs.FAILURE_REASONS)


def test_each_imported_file_leads_to_an_image_set_and_its_history(sb, client, user_s3):
    opened = 0
    for datastore_id in sb.store.datastore_ids():
        for job in _jobs(client, datastore_id):
            if job["jobStatus"] != "COMPLETED":
                continue
            uri = client.get_dicom_import_job(datastoreId=datastore_id, jobId=job["jobId"])[
                "jobProperties"
            ]["outputS3Uri"]
            for line in _read(user_s3, uri, "SUCCESS/success.ndjson").splitlines():
                response = json.loads(line)["importResponse"]
                versions = client.get_paginator("list_image_set_versions").paginate(
                    datastoreId=datastore_id, imageSetId=response["imageSetId"]
                )
                history = [v for page in versions for v in page["imageSetPropertiesList"]]
                first = min(history, key=lambda v: int(v["versionId"]))
                assert first["versionId"] == str(response["imageSetVersion"]) == "1"
                assert first["ImageSetWorkflowStatus"] == "IMPORTED"
                # The image set was created while its job ran, and ended with it.
                assert job["submittedAt"] < first["createdAt"] < job["endedAt"]
                assert first["updatedAt"] == job["endedAt"]
                image_set = client.get_image_set(
                    datastoreId=datastore_id, imageSetId=response["imageSetId"], versionId="1"
                )
                assert image_set["isPrimary"] is response["isPrimary"]
                opened += 1
    assert opened >= 6
    # The 73-version image set is one of them: a file leads to a long history.
    first_datastore = sb.store.datastore_ids()[0]
    long_id = make_id("demo", 0, "imageset", *LONG_HISTORY)
    assert sb.store.version_count(first_datastore, long_id) == 73
    jobs = sb.store.import_jobs(first_datastore)
    assert any(i.image_set_id == long_id for job in jobs for i in job.imported)


def test_a_non_primary_demo_import_says_so():
    """https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
    (a non-primary image set's success.ndjson records have isPrimary: False)."""
    box = sandbox.Sandbox(seed=0, clock=sandbox.ManualClock())
    records = [
        json.loads(line)
        for job in box.demo_import_jobs
        for line in job.output_objects()["SUCCESS/success.ndjson"].splitlines()
    ]
    flags = {r["importResponse"]["imageSetId"]: r["importResponse"]["isPrimary"] for r in records}
    assert False in flags.values() and True in flags.values()
    for datastore_id in box.store.datastore_ids():
        for image_set_id in box.store.image_set_ids(datastore_id):
            if image_set_id in flags:
                first = box.store.image_set(datastore_id, image_set_id).versions[0]
                assert first.is_primary is flags[image_set_id]


def _broken_files() -> dict[str, bytes]:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    def ct():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(get_testdata_file("CT_small.dcm"))

    def saved(dataset, **options):
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.save_as(buffer, **options)
        return buffer.getvalue()

    no_sop, no_syntax, long_description = ct(), ct(), ct()
    del no_sop.SOPInstanceUID
    del no_syntax.file_meta.TransferSyntaxUID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long_description.StudyDescription = "X" * 65
    return {
        demo_jobs.NOT_DICOM: b"Referring physician's notes, not DICOM\n",
        demo_jobs.NO_SOP_CLASS_UID: Path(str(get_testdata_file("DICOMDIR"))).read_bytes(),
        demo_jobs.NO_SOP_INSTANCE_UID: saved(no_sop),
        demo_jobs.NO_TRANSFER_SYNTAX: saved(no_syntax, enforce_file_format=False),
        demo_jobs.LONG_DESCRIPTION: saved(long_description),
    }


def test_the_demo_failure_reasons_are_the_pipelines_words_for_such_files():
    pytest.importorskip("imagecodecs")
    files = _broken_files()
    assert set(files) == set(demo_jobs.FAILURE_REASONS)
    for reason, data in files.items():
        result = read_instance("broken.dcm", data)
        assert isinstance(result, Failure) and result.message == reason
        assert result.exception_type == "ValidationException"


def test_the_failed_demo_job_says_what_a_real_job_says(s3_endpoint):
    """A real job whose input bucket does not exist fails with the demo's message."""
    box = sandbox.Sandbox(seed=0, clock=sandbox.ManualClock())
    demo = next(j for j in box.demo_import_jobs if j.status == "FAILED")
    real = ImportJob(
        job_id="0" * 32,
        job_name="real",
        datastore_id=demo.datastore_id,
        data_access_role_arn=demo.data_access_role_arn,
        input_s3_uri=demo.input_s3_uri,
        requested_output_s3_uri=demo.requested_output_s3_uri,
        submitted_at=demo.submitted_at,
        delay=0.0,
    )
    real.run(lambda job, result: [])
    real.advance(demo.submitted_at, lambda job: None)
    real.advance(demo.submitted_at, lambda job: None)
    assert real.status == "FAILED"
    assert real.message == demo.message


def test_the_demo_jobs_are_deterministic_and_follow_the_seed():
    a = sandbox.Sandbox(seed=2, clock=sandbox.ManualClock())
    b = sandbox.Sandbox(seed=2, clock=sandbox.ManualClock())
    c = sandbox.Sandbox(seed=3, clock=sandbox.ManualClock())
    assert [j.properties() for j in a.demo_import_jobs] == [
        j.properties() for j in b.demo_import_jobs
    ]
    assert [j.output_objects() for j in a.demo_import_jobs] == [
        j.output_objects() for j in b.demo_import_jobs
    ]
    assert {j.job_id for j in a.demo_import_jobs}.isdisjoint(j.job_id for j in c.demo_import_jobs)


def test_a_small_demo_keeps_only_the_jobs_of_its_image_sets():
    box = sandbox.Sandbox(seed=0, clock=sandbox.ManualClock(), image_sets=1)
    first = box.store.datastore_ids()[0]
    imported = {i.image_set_id for j in box.store.import_jobs(first) for i in j.imported}
    assert imported == set(box.store.image_set_ids(first))  # image set 0 only


def test_a_user_import_runs_through_the_local_s3(sb, client, user_s3):
    """The Binder path: upload DICOM to the printed S3, import it, read the output."""
    pytest.importorskip("imagecodecs")
    files = _broken_files()
    user_s3.create_bucket(Bucket="my-dicom")
    user_s3.put_object(Bucket="my-dicom", Key="in/notes.txt", Body=files[demo_jobs.NOT_DICOM])
    datastore_id = sb.store.datastore_ids()[1]
    started = client.start_dicom_import_job(
        datastoreId=datastore_id,
        dataAccessRoleArn="arn:aws:iam::123456789012:role/R",
        inputS3Uri="s3://my-dicom/in/",
        outputS3Uri="s3://my-dicom/out/",
    )
    sb.clock.advance(sb.store.update_delay)
    client.list_dicom_import_jobs(datastoreId=datastore_id)
    assert sb.store.wait_for_imports(timeout=60)
    sb.clock.advance(sb.store.update_delay)
    job = client.get_dicom_import_job(datastoreId=datastore_id, jobId=started["jobId"])
    uri = job["jobProperties"]["outputS3Uri"]
    assert job["jobProperties"]["jobStatus"] == "COMPLETED"
    (failure,) = [
        json.loads(x) for x in _read(user_s3, uri, "FAILURE/failure.ndjson").splitlines()
    ]
    assert failure["exception"]["message"] == demo_jobs.NOT_DICOM
    newest = client.list_dicom_import_jobs(datastoreId=datastore_id)["jobSummaries"][0]
    assert newest["jobId"] == started["jobId"]


def test_stopping_the_sandbox_stops_its_s3():
    box = sandbox.start(seed=0, quotas=False, clock=sandbox.ManualClock(), demo_s3=True)
    url = box.s3_endpoint_url
    s3 = box.s3_client()
    assert (
        s3.head_bucket(Bucket=demo_jobs.OUTPUT_BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )
    box.stop()
    assert box.s3_endpoint_url is None
    parts = urlsplit(url)
    with pytest.raises(OSError), socket.create_connection((parts.hostname, parts.port), timeout=5):
        pass


def test_the_sandbox_command_prints_the_s3_endpoint_and_serves_the_demo_output(
    serve_sandbox_command, monkeypatch
):
    served = serve_sandbox_command(["--image-sets", "2", "--demo-s3"])
    assert "Local S3 (moto) on http://127.0.0.1:" in served.stderr
    for name, value in served.exports.items():  # a shell with the printed lines pasted
        monkeypatch.setenv(name, value)
    client = served.client(total_max_attempts=1)
    datastore_id = client.list_datastores()["datastoreSummaries"][0]["datastoreId"]
    newest = client.list_dicom_import_jobs(datastoreId=datastore_id)["jobSummaries"][0]
    job = client.get_dicom_import_job(datastoreId=datastore_id, jobId=newest["jobId"])
    manifest = _read(
        boto3.client("s3"), job["jobProperties"]["outputS3Uri"], "job-output-manifest.json"
    )
    assert json.loads(manifest)["jobSummary"]["jobId"] == newest["jobId"]


def test_the_sandbox_command_without_the_demo_s3_prints_no_s3_endpoint(serve_sandbox_command):
    served = serve_sandbox_command(["--image-sets", "1", "--no-demo-s3"])
    assert "AWS_ENDPOINT_URL_S3" not in served.exports
    assert "AWS_ENDPOINT_URL_MEDICAL_IMAGING" in served.exports
    assert "Local S3" not in served.stderr


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example"},  # DNS rebinding: a name of the attacker's
        {"Origin": "https://attacker.example"},  # a web page's cross-origin request
    ],
    ids=["foreign-host", "origin"],
)
def test_the_local_s3_refuses_what_a_web_page_could_send(sb, headers):
    import http.client

    sb.s3_client()  # serving
    parts = urlsplit(sb.s3_endpoint_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", f"/{demo_jobs.OUTPUT_BUCKET}?list-type=2", headers=headers)
        answer = connection.getresponse()
        body = answer.read().decode()
    finally:
        connection.close()
    assert answer.status == 403 and "<Code>AccessDenied</Code>" in body
    assert "import-jobs/" not in body  # no listing leaked


def test_the_local_s3_listens_on_loopback_only():
    from hi_widgets.sandbox.server.local_s3 import LocalS3

    with pytest.raises(ValueError, match="loopback"):
        LocalS3("0.0.0.0")


def test_the_demo_jobs_write_no_history_until_they_are_read():
    box = sandbox.Sandbox(seed=0, clock=sandbox.ManualClock(), image_sets=30)
    first = box.store.datastore_ids()[0]
    ids = box.store.image_set_ids(first)
    assert all(box.store.image_set(first, i).is_deferred for i in ids)  # a deferred start
    jobs = box.store.import_jobs(first)  # the first read completes them
    imported = {item.image_set_id for job in jobs for item in job.imported}
    written = {i for i in ids if not box.store.image_set(first, i).is_deferred}
    assert imported <= written and len(written) < len(ids)
