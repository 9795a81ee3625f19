"""Import jobs as a typed DataFrame: ListDICOMImportJobs (every page) and GetDICOMImportJob.

Facts from AWS's API reference:

- ListDICOMImportJobs takes ``datastoreId``, ``jobStatus`` (SUBMITTED | IN_PROGRESS |
  COMPLETED | FAILED), ``maxResults`` (1..50) and ``nextToken``, nothing else: no time
  filter (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ListDICOMImportJobs.html).
- GetDICOMImportJob adds ``inputS3Uri`` and ``outputS3Uri`` to the summary's fields
  (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_GetDICOMImportJob.html);
  a job id is ``[0-9a-z]+``, 1 to 32 characters
  (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMImportJobProperties.html).
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

import hi_widgets as hw
from hi_widgets.limits.ratelimit import RateLimiter

DS = "d" * 32
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/ImportRole"


def _summary(job_id: str, status: str, submitted: datetime, ended: datetime | None = None):
    summary = {
        "jobId": job_id,
        "jobName": f"name-{job_id}",
        "jobStatus": status,
        "datastoreId": DS,
        "dataAccessRoleArn": ROLE,
        "submittedAt": submitted,
    }
    if ended is not None:
        summary["endedAt"] = ended
    return summary


def test_the_frame_has_typed_columns_and_a_real_duration():
    jobs = hw.import_jobs_frame(
        [
            _summary("a1", "COMPLETED", T0, T0 + timedelta(minutes=4, seconds=30)),
            _summary("a2", "IN_PROGRESS", T0 + timedelta(hours=1)),
            _summary("a3", "PAUSED", T0 - timedelta(days=1), T0),  # a status the model lacks
            _summary("a1", "COMPLETED", T0, T0 + timedelta(minutes=4, seconds=30)),  # repeated
        ]
    )
    assert list(jobs.columns) == list(hw.IMPORT_JOB_COLUMNS)
    assert list(jobs["jobId"]) == ["a2", "a1", "a3"]  # newest submitted first, once each
    assert str(jobs["submittedAt"].dtype) == "datetime64[us, UTC]"
    assert str(jobs["duration"].dtype) == "timedelta64[us]"
    by_id = jobs.set_index("jobId")
    assert by_id.loc["a1", "duration"] == timedelta(minutes=4, seconds=30)
    assert pd.isna(by_id.loc["a2", "duration"]) and pd.isna(by_id.loc["a2", "endedAt"])
    categories = list(jobs["jobStatus"].cat.categories)
    assert categories[:4] == ["SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED"]
    assert by_id.loc["a3", "jobStatus"] == "PAUSED"  # kept, never NaN
    assert jobs["inputS3Uri"].isna().all() and str(jobs["inputS3Uri"].dtype) == "string"


def test_an_empty_listing_keeps_the_schema():
    jobs = hw.import_jobs_frame([])
    assert jobs.empty and list(jobs.columns) == list(hw.IMPORT_JOB_COLUMNS)
    assert str(jobs["endedAt"].dtype) == "datetime64[us, UTC]"


def test_every_page_is_read_with_the_status_filter_sent_to_the_service(stubbed):
    client, stub = stubbed
    first = [
        _summary(f"p{i}", "COMPLETED", T0 + timedelta(minutes=i), T0 + timedelta(hours=1))
        for i in range(50)
    ]
    second = [_summary("last", "COMPLETED", T0 - timedelta(days=2), T0)]
    params = {"datastoreId": DS, "jobStatus": "COMPLETED", "maxResults": 50}
    stub.add_response(
        "list_dicom_import_jobs", {"jobSummaries": first, "nextToken": "page-2"}, params
    )
    stub.add_response(
        "list_dicom_import_jobs", {"jobSummaries": second}, {**params, "nextToken": "page-2"}
    )
    seen = []
    jobs = hw.fetch_import_jobs(client, DS, status="COMPLETED", progress=seen.append)
    assert len(jobs) == 51 and jobs["jobId"].iloc[-1] == "last"
    assert seen[-1].done == 51 and seen[-1].unit == "jobs" and seen[-1].total is None


def test_submitted_between_is_applied_to_the_listed_jobs_not_sent(stubbed):
    client, stub = stubbed
    summaries = [
        _summary("old", "COMPLETED", datetime(2025, 2, 27, 23, 59, tzinfo=timezone.utc), T0),
        _summary("in", "COMPLETED", datetime(2025, 2, 28, 12, 0, tzinfo=timezone.utc), T0),
        _summary("new", "SUBMITTED", datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc)),
    ]
    # The request carries no time filter: the API has none (Stubber checks the params).
    stub.add_response(
        "list_dicom_import_jobs",
        {"jobSummaries": summaries},
        {"datastoreId": DS, "maxResults": 50},
    )
    jobs = hw.fetch_import_jobs(
        client, DS, submitted_between=(date(2025, 2, 28), date(2025, 2, 28))
    )
    assert list(jobs["jobId"]) == ["in"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "DONE"}, "status must be one of SUBMITTED"),
        ({"status": []}, "status must be one of"),
        ({"submitted_between": (date(2025, 3, 2), date(2025, 3, 1))}, "starts after it ends"),
        ({"quota_rates": {"GetDICOMImportJobz": (1, 1)}}, "GetDICOMImportJobz"),
    ],
)
def test_bad_arguments_fail_before_any_request(stubbed, kwargs, error):
    client, _stub = stubbed  # no response queued: any request would fail the test
    with pytest.raises(ValueError, match=error):
        hw.fetch_import_jobs(client, DS, **kwargs)


def test_bad_identifiers_fail_before_any_request(stubbed):
    client, _stub = stubbed
    with pytest.raises(hw.InvalidIdentifierError, match="datastoreId"):
        hw.fetch_import_jobs(client, "D" * 32)
    with pytest.raises(hw.InvalidIdentifierError, match="jobId"):
        hw.get_import_job(client, DS, "Job-1")
    with pytest.raises(hw.InvalidIdentifierError, match="jobId"):
        hw.get_import_job(client, DS, "a" * 33)


def test_details_are_fetched_per_job_through_the_limiter_and_a_failure_keeps_the_row(
    stubbed, monkeypatch
):
    client, stub = stubbed
    acquired = []
    original = RateLimiter.acquire

    def recording(self, operation, cancel=None):
        acquired.append(operation)
        return original(self, operation, cancel)

    monkeypatch.setattr(RateLimiter, "acquire", recording)
    summaries = [
        _summary("j1", "COMPLETED", T0, T0 + timedelta(minutes=1)),
        _summary("j2", "FAILED", T0 - timedelta(hours=1), T0),
    ]
    stub.add_response(
        "list_dicom_import_jobs",
        {"jobSummaries": summaries},
        {"datastoreId": DS, "maxResults": 50},
    )
    properties = {**summaries[0], "inputS3Uri": "s3://in-bucket/a/", "outputS3Uri": "s3://out/x/"}
    stub.add_response(
        "get_dicom_import_job", {"jobProperties": properties}, {"datastoreId": DS, "jobId": "j1"}
    )
    stub.add_client_error(
        "get_dicom_import_job",
        "AccessDeniedException",
        "no",
        403,
        expected_params={"datastoreId": DS, "jobId": "j2"},
    )
    jobs = hw.fetch_import_jobs(client, DS, details=True).set_index("jobId")
    assert acquired == ["ListDICOMImportJobs", "GetDICOMImportJob", "GetDICOMImportJob"]
    assert jobs.loc["j1", "inputS3Uri"] == "s3://in-bucket/a/"
    assert jobs.loc["j2", "jobStatus"] == "FAILED" and pd.isna(jobs.loc["j2", "inputS3Uri"])


def test_a_cancelled_fetch_sends_nothing_more_and_returns_what_it_has(stubbed):
    client, _stub = stubbed
    cancel = threading.Event()
    cancel.set()
    jobs = hw.fetch_import_jobs(client, DS, cancel=cancel)
    assert jobs.empty and list(jobs.columns) == list(hw.IMPORT_JOB_COLUMNS)


def test_an_unknown_job_is_named_in_the_error(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "get_dicom_import_job",
        "ResourceNotFoundException",
        "Job not found",
        404,
        expected_params={"datastoreId": DS, "jobId": "abc"},
    )
    with pytest.raises(hw.ResourceNotFoundError, match="import job abc in datastore"):
        hw.get_import_job(client, DS, "abc")


# ------------------------------------------------------------ against the sandbox, over HTTP


@pytest.fixture
def sb():
    from hi_widgets import sandbox

    clock = sandbox.ManualClock(T0)
    with sandbox.start(clock=clock, quotas=False, image_sets=2, update_delay=2.0) as box:
        yield box


def test_jobs_of_a_datastore_from_the_sandbox(sb, s3_bucket):
    pytest.importorskip("pydicom")
    from import_job_helpers import new_datastore, pydicom_file, run_job, upload

    client = sb.client(max_attempts=1)
    datastore = new_datastore(sb, client)
    upload(s3_bucket, "in/", {"CT_small.dcm": pydicom_file("CT_small.dcm")})
    done = run_job(
        sb,
        client,
        datastore,
        f"s3://{s3_bucket}/in/",
        f"s3://{s3_bucket}/out/",
        jobName="ct-import",
    )
    failed = run_job(
        sb, client, datastore, "s3://no-such-bucket-here/in/", f"s3://{s3_bucket}/out/"
    )
    jobs = hw.fetch_import_jobs(client, datastore, details=True).set_index("jobId")
    assert set(jobs.index) == {done, failed}
    assert jobs.loc[done, "jobStatus"] == "COMPLETED" and jobs.loc[done, "jobName"] == "ct-import"
    assert jobs.loc[failed, "jobStatus"] == "FAILED"
    assert "no-such-bucket-here" in jobs.loc[failed, "message"]
    for job_id in (done, failed):
        row = jobs.loc[job_id]
        assert row["duration"] == row["endedAt"] - row["submittedAt"] > timedelta(0)
        properties = hw.get_import_job(client, datastore, job_id)
        assert row["outputS3Uri"] == properties["outputS3Uri"]
        assert row["inputS3Uri"] == properties["inputS3Uri"]
    only_failed = hw.fetch_import_jobs(client, datastore, status="FAILED")
    assert list(only_failed["jobId"]) == [failed] and only_failed["outputS3Uri"].isna().all()
