"""What an import job did with each file: its output in S3 as DataFrames.

An import job writes its results under its ``outputS3Uri``, in the job's own folder
``<datastoreId>-DicomImport-<jobId>/`` ("Understanding import jobs",
https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html):
``job-output-manifest.json`` (``{"jobSummary": {...}}``: counts and
``imageSetsSummary``), and one JSON line per input file in ``SUCCESS/success.ndjson``,
``WARNING/warning.ndjson`` and ``FAILURE/failure.ndjson``.

The lines are streamed: S3 bodies are read in chunks, regrouped into blocks of whole
lines and parsed into typed columns block by block (:mod:`.import_lines`), so a job that
lists millions of files needs the memory of the frame, not of the text or of a Python
object per line. Every ``.ndjson`` object of the three folders is read, so an output split
into several files is read whole.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.ids import validate_datastore_id, validate_job_id
from hi_widgets.api.import_jobs import get_import_job
from hi_widgets.api.import_lines import (
    FILE_COLUMNS,
    OUTCOME_STATUSES,
    LineColumns,
    split_lines,
)
from hi_widgets.api.progress import ProgressCallback, report

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient
    from mypy_boto3_s3 import S3Client

__all__ = [
    "FILE_COLUMNS",
    "IMAGE_SET_COLUMNS",
    "OUTCOME_STATUSES",
    "ImportOutcomes",
    "ImportOutputError",
    "failure_reasons",
    "fetch_import_outcomes",
    "import_files_frame",
    "job_output_folder",
]

MANIFEST_NAME = "job-output-manifest.json"
FOLDERS: tuple[str, ...] = ("FAILURE/", "WARNING/", "SUCCESS/")
"""The output folders, in the order their rows come (failures first)."""
IMAGE_SET_COLUMNS: tuple[str, ...] = (
    "imageSetId",
    "imageSetVersion",
    "isPrimary",
    "numberOfMatchedSOPInstances",
)
"""Columns of :attr:`ImportOutcomes.image_sets` (the manifest's ``imageSetsSummary``)."""
READ_CHUNK = 1 << 20
BLOCK_BYTES = 2 << 20
"""Bytes of whole lines parsed at once: the text held in memory at any time."""


class ImportOutputError(Exception):
    """An import job's output could not be read from S3 (the message names the URI).

    Examples
    --------
    >>> import boto3
    >>> try:  # no AWS credentials here: nothing is sent
    ...     hw.fetch_import_outcomes(None, datastore_id, "abc", s3_client=boto3.client("s3"),
    ...                              output_s3_uri="s3://my-bucket/out/")
    ... except hw.ImportOutputError as error:
    ...     print(error)
    Cannot read s3://my-bucket/out/...-DicomImport-abc/job-output-manifest.json: Unable ...
    """


@dataclass(frozen=True)
class ImportOutcomes:
    """An import job's results: one row per input file, the image sets, the counts.

    Attributes
    ----------
    files
        One row per input file (:data:`FILE_COLUMNS`), failures first: ``inputFile``
        (``string``, the S3 key), ``status`` (categorical SUCCESS / WARNING / FAILURE),
        ``imageSetId``, ``imageSetVersion`` (``Int64``), ``isPrimary`` (``boolean``), for
        a file that was imported; ``exceptionType``, ``message`` and ``reason`` (the
        failure, or the warnings, with ``reason`` normalized for grouping, see
        :func:`failure_reasons`).
    image_sets
        The manifest's ``imageSetsSummary`` (:data:`IMAGE_SET_COLUMNS`).
    summary
        The manifest's ``jobSummary`` without ``imageSetsSummary``: ``jobId``,
        ``numberOfScannedFiles``, ``numberOfImportedFiles``,
        ``numberOfFilesWithCustomerError``, ``numberOfFilesWithServerError``,
        ``numberOfGeneratedImageSets``, the output URIs... Empty if there is no manifest.
    job
        The job's properties (GetDICOMImportJob), or ``{"outputS3Uri": ...}`` when the
        output was read without asking HealthImaging.
    complete
        False if reading was cancelled: ``files`` then holds the lines read so far.
    unreadable
        Lines that were not JSON objects (skipped, never fatal).

    Examples
    --------
    >>> files = hw.import_files_frame([
    ...     {"inputFile": "in/a.dcm", "importResponse": {"imageSetId": image_set_id}},
    ...     {"inputFile": "in/b.txt", "exception": {"message": "Not DICOM P10"}}])
    >>> outcomes = hw.ImportOutcomes(files, image_sets=files.iloc[:0], summary={})
    >>> outcomes
    ImportOutcomes(2 files: SUCCESS=1, WARNING=0, FAILURE=1)
    >>> outcomes.files.loc[outcomes.files["status"] == "FAILURE", "inputFile"].tolist()
    ['in/b.txt']
    """

    files: pd.DataFrame
    image_sets: pd.DataFrame
    summary: dict[str, Any]
    job: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    unreadable: int = 0

    def __repr__(self) -> str:
        counts = self.files["status"].value_counts(sort=False).to_dict()
        shown = ", ".join(f"{k}={v}" for k, v in counts.items())
        more = "" if self.complete else ", incomplete"
        return f"ImportOutcomes({len(self.files)} files: {shown}{more})"


def import_files_frame(records: Any) -> pd.DataFrame:
    """Build the typed per-file frame from parsed output lines (no request).

    Parameters
    ----------
    records
        Dicts as the output's lines hold them: ``{"inputFile", "importResponse": {...}}``
        or ``{"inputFile", "exception": {...}}``, in any mix.

    Returns
    -------
    pandas.DataFrame
        :data:`FILE_COLUMNS`, one row per record, in the order given.

    Examples
    --------
    >>> files = hw.import_files_frame([
    ...     {"inputFile": "in/a.dcm", "importResponse": {
    ...         "imageSetId": image_set_id, "imageSetVersion": 1, "isPrimary": True}},
    ...     {"inputFile": "in/b.txt", "exception": {
    ...         "exceptionType": "ValidationException", "message": "Not DICOM P10"}}])
    >>> files[["status", "imageSetVersion", "reason"]]
        status  imageSetVersion                             reason
    0  SUCCESS                1                               <NA>
    1  FAILURE             <NA>  ValidationException: Not DICOM P10
    """
    columns = LineColumns()
    columns.add_records(records)
    return columns.frame()


def failure_reasons(df: pd.DataFrame, *, examples: int = 3) -> pd.DataFrame:
    """Count the files of each failure (or warning) reason: the same reason is one row.

    Parameters
    ----------
    df
        A ``files`` frame (:attr:`ImportOutcomes.files`).
    examples
        How many ``inputFile`` values to show per reason.

    Returns
    -------
    pandas.DataFrame
        ``reason`` (``string``), ``status`` (FAILURE or WARNING), ``count`` (``int64``)
        and ``examples`` (a list of up to ``examples`` input files), most frequent first;
        no rows when every file was imported without warnings.

    Examples
    --------
    >>> files = hw.import_files_frame([
    ...     {"inputFile": f"in/{n}.dcm", "exception": {"exceptionType": "ValidationException",
    ...      "message": f"DICOM attribute SOPClassUID does not exist in file {n}"}}
    ...     for n in (1, 2, 3)])
    >>> reasons = hw.failure_reasons(files, examples=2)
    >>> reasons.loc[0, "reason"]
    'ValidationException: DICOM attribute SOPClassUID does not exist in file <n>'
    >>> int(reasons.loc[0, "count"]), reasons.loc[0, "examples"]
    (3, ['in/1.dcm', 'in/2.dcm'])
    """
    if examples < 0:
        raise ValueError(f"examples must be 0 or more, got {examples!r}")
    problems = df[df["status"].astype("string") != "SUCCESS"]
    problems = problems[problems["reason"].notna()]
    if problems.empty:
        empty: pd.DataFrame = pd.DataFrame(
            {
                "reason": pd.array([], dtype="string"),
                "status": pd.Categorical([], categories=list(OUTCOME_STATUSES)),
                "count": pd.array([], dtype="int64"),
                "examples": pd.Series([], dtype=object),
            }
        )
        return empty
    grouped = problems.groupby("reason", sort=False, observed=True)
    out = pd.DataFrame(
        {
            "status": grouped["status"].first(),
            "count": grouped.size().astype("int64"),
            "examples": grouped["inputFile"].agg(lambda s: [str(v) for v in s.iloc[:examples]]),
        }
    )
    out = out.rename_axis("reason").reset_index()
    out["reason"] = out["reason"].astype("string")
    out = out.sort_values(["count", "reason"], ascending=[False, True], kind="stable")
    result: pd.DataFrame = out[["reason", "status", "count", "examples"]].reset_index(drop=True)
    return result


def job_output_folder(output_s3_uri: str, datastore_id: str, job_id: str) -> str:
    """Return the job's own output folder: ``outputS3Uri``, ending in the job folder.

    The manifest's ``outputS3Uri`` already ends in ``<datastoreId>-DicomImport-<jobId>/``;
    the prefix given to StartDICOMImportJob does not. Either is accepted.
    """
    if not isinstance(output_s3_uri, str) or not output_s3_uri.startswith("s3://"):
        raise ValueError(f"outputS3Uri must be an s3:// URI, got {output_s3_uri!r}")
    folder = f"{datastore_id}-DicomImport-{job_id}/"
    base = output_s3_uri if output_s3_uri.endswith("/") else output_s3_uri + "/"
    return base if base.endswith("/" + folder) else base + folder


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"expected s3://bucket/prefix, got {uri!r}")
    return bucket, prefix


def _s3_call(what: str, uri: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(*args, **kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(uri) from error
        raise ImportOutputError(f"Cannot {what} {uri}: {code or error}") from error
    except BotoCoreError as error:
        raise ImportOutputError(f"Cannot {what} {uri}: {error}") from error


def _ndjson_keys(s3: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    uri = f"s3://{bucket}/{prefix}"
    paginator = s3.get_paginator("list_objects_v2")
    pages = _s3_call("list", uri, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix)))
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"].endswith(".ndjson"):
                yield item["Key"]


class _Cancelled(Exception):
    """Reading stopped on ``cancel``: the partial line in hand is dropped, not parsed."""


def _chunks(body: Any, uri: str, cancel: threading.Event | None) -> Iterator[bytes]:
    from botocore.exceptions import BotoCoreError

    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            try:
                chunk = body.read(READ_CHUNK)
            except (BotoCoreError, OSError) as error:  # a dropped connection, a timeout
                raise ImportOutputError(f"Cannot read {uri}: {error}") from error
            if not chunk:
                return
            yield chunk
    finally:
        body.close()


def _read_manifest(s3: S3Client, bucket: str, prefix: str) -> dict[str, Any]:
    uri = f"s3://{bucket}/{prefix}{MANIFEST_NAME}"
    try:
        response = _s3_call("read", uri, s3.get_object, Bucket=bucket, Key=prefix + MANIFEST_NAME)
    except FileNotFoundError:
        return {}  # the job is still running, or failed before writing it
    try:
        document = json.loads(response["Body"].read())
    except ValueError as error:
        raise ImportOutputError(f"{uri} is not JSON: {error}") from error
    summary = document.get("jobSummary") if isinstance(document, Mapping) else None
    return dict(summary) if isinstance(summary, Mapping) else {}


def _image_sets_frame(summaries: Any) -> pd.DataFrame:
    items = [s for s in summaries or [] if isinstance(s, Mapping)]
    versions = [s.get("imageSetVersion") for s in items]
    frame: pd.DataFrame = pd.DataFrame(
        {
            "imageSetId": pd.array([s.get("imageSetId") for s in items], dtype="string"),
            "imageSetVersion": pd.array(
                [int(str(v)) if str(v).isdigit() else None for v in versions], dtype="Int64"
            ),
            "isPrimary": pd.array([s.get("isPrimary") for s in items], dtype="boolean"),
            "numberOfMatchedSOPInstances": pd.array(
                [s.get("numberOfMatchedSOPInstances") for s in items], dtype="Int64"
            ),
        },
        columns=list(IMAGE_SET_COLUMNS),
    )
    return frame


def _without_duplicates(files: pd.DataFrame) -> pd.DataFrame:
    """Drop a SUCCESS row of a file that also has a WARNING row (both lists may name it)."""
    warned = files["status"] == "WARNING"
    if not warned.any():
        return files
    twice = (files["status"] == "SUCCESS") & files["inputFile"].isin(
        files.loc[warned, "inputFile"]
    )
    return files[~twice].reset_index(drop=True) if twice.any() else files


def fetch_import_outcomes(
    client: HealthImagingClient | None,
    datastore_id: str,
    job_id: str,
    *,
    output_s3_uri: str | None = None,
    s3_client: S3Client | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ImportOutcomes:
    """Read what an import job did with each file, from its output in S3.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client, for GetDICOMImportJob (the job's
        ``outputS3Uri``); may be None when ``output_s3_uri`` is given.
    datastore_id
        32 lower-case letters and digits.
    job_id
        The import job id.
    output_s3_uri
        The job's ``outputS3Uri`` if already known (a row of
        :func:`fetch_import_jobs` with ``details=True``): no HealthImaging request.
    s3_client
        A boto3 S3 client; default ``boto3.client("s3")``, boto3's standard configuration
        (profile, region, ``AWS_ENDPOINT_URL_S3``).
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting ``"files"``
        (lines read; total from the manifest's ``numberOfScannedFiles`` when known).
    cancel
        When set, stop reading and return what was read (``complete=False``).

    Returns
    -------
    ImportOutcomes
        ``files`` (one row per input file, failures first), ``image_sets``, ``summary``.

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier is malformed.
    HealthImagingError
        If GetDICOMImportJob fails.
    ImportOutputError
        If the output cannot be listed or read (the message names the S3 URI).

    Examples
    --------
    >>> hw.fetch_import_outcomes(None, datastore_id, "job", output_s3_uri="/tmp/out")
    Traceback (most recent call last):
    ...
    ValueError: outputS3Uri must be an s3:// URI, got '/tmp/out'
    """
    datastore_id = validate_datastore_id(datastore_id)
    job_id = validate_job_id(job_id)
    if output_s3_uri is None:
        if client is None:
            raise ValueError("give a medical-imaging client, or output_s3_uri")
        job = get_import_job(client, datastore_id, job_id)
        output_s3_uri = job.get("outputS3Uri")
        if not output_s3_uri:
            raise ImportOutputError(f"import job {job_id} has no outputS3Uri")
    else:
        job = {"jobId": job_id, "datastoreId": datastore_id, "outputS3Uri": output_s3_uri}
    folder = job_output_folder(output_s3_uri, datastore_id, job_id)
    bucket, prefix = _split(folder)
    if s3_client is None:
        import boto3  # slow to import; only reading job output needs S3

        s3_client = boto3.client("s3")
    summary = _read_manifest(s3_client, bucket, prefix)
    image_sets = _image_sets_frame(summary.pop("imageSetsSummary", None))
    total = summary.get("numberOfScannedFiles")
    total = total if isinstance(total, int) else None
    columns = LineColumns()
    cancelled = False
    try:
        for sub in FOLDERS:
            for key in _ndjson_keys(s3_client, bucket, prefix + sub):
                uri = f"s3://{bucket}/{key}"
                response = _s3_call("read", uri, s3_client.get_object, Bucket=bucket, Key=key)
                for block in split_lines(_chunks(response["Body"], uri, cancel), BLOCK_BYTES):
                    columns.add_block(block, uri)
                    report(progress, columns.rows, total, "files")
    except _Cancelled:
        cancelled = True
    files = _without_duplicates(columns.frame())
    return ImportOutcomes(
        files=files,
        image_sets=image_sets,
        summary=summary,
        job=dict(job),
        complete=not cancelled,
        unreadable=columns.unreadable,
    )
