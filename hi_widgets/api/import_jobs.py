"""DICOM import jobs as a typed DataFrame: ListDICOMImportJobs, and GetDICOMImportJob on request.

A job has two times of its own, ``submittedAt`` and ``endedAt`` (ListDICOMImportJobs and
GetDICOMImportJob both return them), so unlike an image set version its ``duration`` is
real: ``endedAt - submittedAt``, NaT while the job runs.

ListDICOMImportJobs filters by ``jobStatus`` on the server and by nothing else (its
request takes ``datastoreId``, ``jobStatus``, ``maxResults`` and ``nextToken`` only, API
reference), so ``submitted_between`` is applied here to the listed jobs. The input and
output S3 URIs are in GetDICOMImportJob only: ``details=True`` sends one per job, paced
at that operation's quota by the project's :class:`~hi_widgets.limits.ratelimit.RateLimiter`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.criteria import Span, _span
from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.ids import validate_datastore_id, validate_job_id
from hi_widgets.api.model import enum_values
from hi_widgets.api.progress import ProgressCallback, report
from hi_widgets.api.tables import TIME_UNIT, _categorical, _convert
from hi_widgets.api.walk import Cancelled, Send, direct_send, import_job_summaries
from hi_widgets.limits.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "IMPORT_JOB_COLUMNS",
    "fetch_import_jobs",
    "get_import_job",
    "import_jobs_frame",
    "job_statuses",
]

log = logging.getLogger(__name__)

IMPORT_JOB_COLUMNS: tuple[str, ...] = (
    "jobId",
    "jobName",
    "jobStatus",
    "datastoreId",
    "dataAccessRoleArn",
    "submittedAt",
    "endedAt",
    "duration",
    "message",
    "inputS3Uri",
    "outputS3Uri",
)
"""Columns of :func:`import_jobs_frame`, in order. ``duration`` is derived; the S3 URIs
come from GetDICOMImportJob (``<NA>`` in a frame built from ListDICOMImportJobs alone)."""

_KINDS: dict[str, str] = {
    "jobId": "string",
    "jobName": "string",
    "datastoreId": "string",
    "dataAccessRoleArn": "string",
    "submittedAt": "timestamp",
    "endedAt": "timestamp",
    "message": "string",
    "inputS3Uri": "string",
    "outputS3Uri": "string",
}


def job_statuses() -> tuple[str, ...]:
    """Return the import job statuses of the installed botocore model.

    Returns
    -------
    tuple of str
        ``SUBMITTED``, ``IN_PROGRESS``, ``COMPLETED``, ``FAILED`` (and any the model adds).

    Examples
    --------
    >>> from hi_widgets.api.import_jobs import job_statuses
    >>> job_statuses()
    ('SUBMITTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED')
    """
    return enum_values("JobStatus")


def import_jobs_frame(summaries: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Build the typed import-jobs frame from job summaries or job properties.

    Parameters
    ----------
    summaries
        ``DICOMImportJobSummary`` dicts (ListDICOMImportJobs), ``DICOMImportJobProperties``
        dicts (GetDICOMImportJob), or a frame with some of :data:`IMPORT_JOB_COLUMNS`
        (e.g. read back from a file). Timestamps may be datetimes or ISO-8601 text.

    Returns
    -------
    pandas.DataFrame
        One row per job (a job listed twice is kept once), newest ``submittedAt`` first,
        columns :data:`IMPORT_JOB_COLUMNS`: identifiers, names, ARNs, messages and URIs as
        ``string``; ``jobStatus`` a categorical over :func:`job_statuses` (a status the
        model does not know is kept, appended); ``submittedAt`` and ``endedAt``
        ``datetime64[us, UTC]``; ``duration`` ``timedelta64[us]``, ``endedAt -
        submittedAt``, NaT while the job has not ended. An empty input gives an empty
        frame with this schema.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> jobs = hw.import_jobs_frame([{
    ...     "jobId": "a1", "jobName": "ct", "jobStatus": "COMPLETED",
    ...     "datastoreId": datastore_id,
    ...     "submittedAt": datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc),
    ...     "endedAt": datetime(2025, 3, 1, 9, 4, 30, tzinfo=timezone.utc)}])
    >>> jobs.loc[0, "duration"], str(jobs["jobStatus"].dtype)
    (Timedelta('0 days 00:04:30'), 'category')
    >>> hw.import_jobs_frame([]).columns.tolist() == list(hw.IMPORT_JOB_COLUMNS)
    True
    """
    records: list[dict[str, Any]]
    if isinstance(summaries, pd.DataFrame):
        records = [{str(k): v for k, v in row.items()} for row in summaries.to_dict("records")]
    else:
        records = [dict(item) for item in summaries]
    seen: set[Any] = set()
    unique = []
    for record in records:  # a page boundary that shifted can repeat a job
        key = record.get("jobId")
        if key is not None and key in seen:
            continue
        seen.add(key)
        unique.append(record)
    data: dict[str, Any] = {}
    for column in IMPORT_JOB_COLUMNS:
        values = [_cell(record.get(column)) for record in unique]
        if column == "jobStatus":
            data[column] = _categorical(values, job_statuses())
        elif column != "duration":
            data[column] = _convert(values, _KINDS[column])
    data["duration"] = (
        (pd.Series(data["endedAt"]) - pd.Series(data["submittedAt"]))
        .astype(f"timedelta64[{TIME_UNIT}]")
        .array
    )
    frame: pd.DataFrame = pd.DataFrame(data, columns=list(IMPORT_JOB_COLUMNS))
    if len(frame):
        frame = frame.sort_values(
            ["submittedAt", "jobId"], ascending=[False, True], na_position="last", kind="stable"
        ).reset_index(drop=True)
    return frame


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and value != value) else value


def _check_statuses(status: str | Sequence[str] | None) -> list[str | None]:
    if status is None:
        return [None]
    wanted = [status] if isinstance(status, str) else list(status)
    known = job_statuses()
    bad = [s for s in wanted if not isinstance(s, str) or s not in known]
    if bad or not wanted:
        raise ValueError(
            f"status must be one of {', '.join(known)} (or a list of them, or None), "
            f"got {status!r}"
        )
    return list(dict.fromkeys(wanted))


def _limited_send(
    client: HealthImagingClient, limiter: RateLimiter, cancel: threading.Event | None
) -> Send:
    """Return a :data:`~hi_widgets.api.walk.Send` that waits for its operation's token."""
    plain = direct_send(client, None if cancel is None else cancel.is_set)

    def send(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if limiter.acquire(operation, cancel) is None:
            raise Cancelled
        return plain(operation, params)

    return send


def get_import_job(client: HealthImagingClient, datastore_id: str, job_id: str) -> dict[str, Any]:
    """Fetch one import job's properties (GetDICOMImportJob).

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id
        32 lower-case letters and digits.
    job_id
        The import job id (1 to 32 lower-case letters and digits).

    Returns
    -------
    dict
        The response's ``jobProperties``: ``jobId``, ``jobName``, ``jobStatus``,
        ``datastoreId``, ``dataAccessRoleArn``, ``submittedAt``, ``endedAt``,
        ``inputS3Uri``, ``outputS3Uri``, ``message`` (those the service returned).

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier is malformed.
    HealthImagingError
        The subclass matching the service error (ResourceNotFoundError for an unknown job).

    Examples
    --------
    >>> try:
    ...     hw.get_import_job(client, datastore_id, "0" * 32)
    ... except hw.ResourceNotFoundError as error:
    ...     print(error.operation)
    GetDICOMImportJob
    """
    datastore_id = validate_datastore_id(datastore_id)
    job_id = validate_job_id(job_id)
    response = direct_send(client)(
        "GetDICOMImportJob", {"datastoreId": datastore_id, "jobId": job_id}
    )
    return dict(response["jobProperties"])


def _submitted_within(record: Mapping[str, Any], span: tuple[Any, Any] | None) -> bool:
    if span is None:
        return True
    submitted = record.get("submittedAt")
    if submitted is None:
        return False
    when = pd.Timestamp(submitted)
    when = when.tz_localize("UTC") if when.tzinfo is None else when
    start, stop = (pd.Timestamp(bound) for bound in span)
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop
    return bool(start <= when <= stop)


def fetch_import_jobs(
    client: HealthImagingClient,
    datastore_id: str,
    *,
    status: str | Sequence[str] | None = None,
    submitted_between: Span | None = None,
    details: bool = False,
    quota_rates: Mapping[str, tuple[float, float]] | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """List a datastore's import jobs, every page, into :func:`import_jobs_frame`.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id
        32 lower-case letters and digits.
    status
        Only jobs in this status (or these statuses): the service's own ``jobStatus``
        filter, one listing per status. None: every job.
    submitted_between
        ``(start, end)``, inclusive; a date means the whole UTC day, None at either end
        leaves it open. Applied to the listed jobs (the service has no such filter).
    details
        Also send GetDICOMImportJob for each job listed (for ``inputS3Uri`` and
        ``outputS3Uri``), at that operation's quota. A job whose details fail keeps its
        summary (URIs ``<NA>``) and is logged as a warning.
    quota_rates
        Overrides of the published quotas, ``{"GetDICOMImportJob": (rate, burst)}``;
        ListDICOMImportJobs is paced too.
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting ``"jobs"``:
        listed (total unknown), then detailed (total known).
    cancel
        When set, stop after the request in flight and return the jobs fetched so far.

    Returns
    -------
    pandas.DataFrame
        :func:`import_jobs_frame` of the jobs found, newest first.

    Raises
    ------
    InvalidIdentifierError
        Before any request, if ``datastore_id`` is malformed.
    ValueError, TypeError
        Before any request, for an unknown ``status``, a bad ``submitted_between`` or an
        unknown operation in ``quota_rates``.
    HealthImagingError
        If a listing page fails (the subclass matching the service error).

    Examples
    --------
    >>> jobs = hw.fetch_import_jobs(client, datastore_id, details=True)
    >>> list(jobs.columns) == list(hw.IMPORT_JOB_COLUMNS)
    True
    >>> str(jobs["submittedAt"].dtype), str(jobs["duration"].dtype)
    ('datetime64[us, UTC]', 'timedelta64[us]')
    """
    datastore_id = validate_datastore_id(datastore_id)
    statuses = _check_statuses(status)
    span = _span(submitted_between, "submitted_between")
    limiter = RateLimiter(quota_rates)
    send = _limited_send(client, limiter, cancel)
    found: list[dict[str, Any]] = []
    try:
        for one_status in statuses:
            for summary in import_job_summaries(send, datastore_id, one_status):
                if _submitted_within(summary, span):
                    found.append(dict(summary))
                    report(progress, len(found), None, "jobs")
        if details:
            _add_details(send, datastore_id, found, progress)
    except Cancelled:
        log.info("fetch_import_jobs cancelled: returning the %d jobs fetched", len(found))
    return import_jobs_frame(found)


def _add_details(
    send: Send,
    datastore_id: str,
    jobs: list[dict[str, Any]],
    progress: ProgressCallback | None,
) -> None:
    for done, job in enumerate(jobs, start=1):
        params = {"datastoreId": datastore_id, "jobId": job["jobId"]}
        try:
            job.update(send("GetDICOMImportJob", params)["jobProperties"])
        except HealthImagingError as error:
            log.warning("GetDICOMImportJob failed for job %s: %s", job["jobId"], error)
        report(progress, done, len(jobs), "jobs")
