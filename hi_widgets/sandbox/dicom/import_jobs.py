"""DICOM import jobs: read P10 files from S3, run the pipeline, write the job output.

A job reads every object under ``inputS3Uri`` through boto3's S3 client built with the
standard configuration chain (so ``AWS_ENDPOINT_URL_S3``, profiles and credentials point
it at any S3-compatible server), runs :func:`.pipeline.run_pipeline` and writes its
results under ``outputS3Uri`` as "Understanding import jobs"
(https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html)
documents them:

``<outputS3Uri>/<datastoreId>-DicomImport-<jobId>/``
    ``job-output-manifest.json`` (``{"jobSummary": {...}}``), ``SUCCESS/success.ndjson``
    (one ``{"inputFile", "importResponse"}`` record per imported file),
    ``FAILURE/failure.ndjson`` (one ``{"inputFile", "exception"}`` record per file that
    was not imported) and ``WARNING/warning.ndjson`` (files imported with warnings; the
    sandbox finds none, so it is empty).

The job's ``outputS3Uri`` property is that job folder, as GetDICOMImportJob returns it
(the AWS CLI reference's ``get-dicom-import-job`` example).

Where the page is silent the sandbox chooses, and says so here: every list is written
even when empty; ``importResponse`` and each ``imageSetsSummary`` entry carry
``imageSetVersion`` and ``isPrimary`` besides the documented fields (the page's
``warning.ndjson`` example shows ``imageSetVersion`` in ``importResponse``); a job that
cannot list its input ends FAILED and writes nothing.

States (``jobStatus``) move on the sandbox clock: SUBMITTED for ``delay`` seconds, then
IN_PROGRESS (the work starts on its own thread at that moment), then COMPLETED once the
work is done and at least ``delay`` seconds have passed, or FAILED when the input cannot
be listed or the output cannot be written. A file that is not DICOM or is broken does not
fail the job: it is a line of ``failure.ndjson`` ("an import job can return a jobStatus as
COMPLETED even if validation issues are discovered", GetDICOMImportJob). Nothing the
job does raises into the server.

The sandbox never reaches AWS unless told to: without an S3 endpoint of its own, boto3
would send the environment's AWS credentials to ``https://<bucket>.s3.amazonaws.com``.
:func:`checked_s3_client` refuses a client whose endpoint is an AWS domain unless
``allow_aws`` (``Sandbox(allow_aws_s3=True)``, ``--allow-aws-s3``). Objects are read in
chunks under the job's :class:`~.limits.ImportLimits`; one too large to read is a
failure, never a job-ending error.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from hi_widgets.sandbox.dicom.limits import ImportLimits, JobBudget
from hi_widgets.sandbox.dicom.pipeline import ImageSetDraft, PipelineResult, run_pipeline
from hi_widgets.sandbox.dicom.read import Failure

logger = logging.getLogger(__name__)

JOB_STATUSES = ("SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED")
MANIFEST_NAME = "job-output-manifest.json"
SUCCESS_KEY = "SUCCESS/success.ndjson"
FAILURE_KEY = "FAILURE/failure.ndjson"
WARNING_KEY = "WARNING/warning.ndjson"
SERVER_ERROR_TYPES = frozenset({"InternalServerException"})
"""``exceptionType`` values counted as ``numberOfFilesWithServerError`` (others: customer)."""
AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "api.aws", "on.aws", "aws")
"""Host name suffixes of AWS endpoints (commercial, China, dual-stack)."""
ALLOW_AWS_HINT = (
    "set AWS_ENDPOINT_URL_S3 to a local S3-compatible server (e.g. moto), or start the "
    "sandbox with allow_aws_s3=True (--allow-aws-s3) to read from AWS with the "
    "environment's AWS credentials"
)
_READ_CHUNK = 1024 * 1024


def input_error_message(input_s3_uri: str, error: object) -> str:
    """Return the ``message`` of a job that failed because its input cannot be read."""
    return f"Cannot read inputS3Uri {input_s3_uri}: {error}"


class AwsEndpointRefused(ValueError):
    """An import would reach AWS and the sandbox was not told it may."""


def reaches_aws(endpoint_url: str) -> bool:
    """Return whether ``endpoint_url`` names an AWS endpoint (by its host name)."""
    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in AWS_DOMAINS)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into ``(bucket, prefix)``.

    Raises
    ------
    ValueError
        If ``uri`` does not start with ``s3://`` and a bucket name.
    """
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"expected an S3 URI like s3://bucket/prefix/, got {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def s3_client() -> Any:
    """Return a boto3 S3 client from the standard configuration chain."""
    import boto3  # loads slowly; only import jobs from S3 need it

    return boto3.session.Session().client("s3")


def checked_s3_client(factory: Callable[[], Any], *, allow_aws: bool = False) -> Any:
    """Build an S3 client with ``factory``; refuse it if it would reach AWS.

    Raises
    ------
    AwsEndpointRefused
        If the client's endpoint is an AWS domain and ``allow_aws`` is false (nothing
        has been sent: building a client makes no request).
    """
    client = factory()
    endpoint = str(client.meta.endpoint_url)
    if reaches_aws(endpoint) and not allow_aws:
        raise AwsEndpointRefused(
            f"The sandbox does not reach AWS: S3 would be read from {endpoint}; " + ALLOW_AWS_HINT
        )
    return client


def _read_object(client: Any, bucket: str, key: str, size: int, limit: int) -> bytes | Failure:
    if size > limit:
        return Failure(
            key, f"The file is {size} bytes, more than {limit} (the sandbox's max_object_bytes)"
        )
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    parts, total = [], 0
    try:
        while chunk := body.read(_READ_CHUNK):
            total += len(chunk)
            if total > limit:  # the object grew since it was listed
                return Failure(
                    key, f"The file is more than {limit} bytes (the sandbox's max_object_bytes)"
                )
            parts.append(chunk)
    finally:
        body.close()
    return b"".join(parts)


def iter_s3_objects(
    client: Any, uri: str, limits: ImportLimits | None = None
) -> Iterator[tuple[str, bytes | Failure]]:
    """Yield ``(key, bytes)`` of every object under ``uri``, in key order.

    Keys ending in ``/`` (folder markers) are skipped. Objects are read one at a time,
    in chunks; one over ``limits.max_object_bytes`` comes as a
    :class:`~.read.Failure` instead of its bytes, without being downloaded.
    """
    limit = (limits or ImportLimits()).max_object_bytes
    bucket, prefix = parse_s3_uri(uri)
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            yield key, _read_object(client, bucket, key, int(item.get("Size", 0)), limit)


@dataclass(frozen=True)
class ImportedImageSet:
    """Where the files of one image set draft of a job landed in the datastore."""

    image_set_id: str
    version: int
    is_primary: bool
    input_files: tuple[str, ...]
    """The job's files that went into this image set (its S3 keys), in input order."""
    matched_instances: int
    """The SOP instances those files hold (a file imported twice counts once)."""

    @classmethod
    def of_draft(
        cls, draft: ImageSetDraft, image_set_id: str, version: int, is_primary: bool
    ) -> ImportedImageSet:
        """Describe where ``draft`` landed."""
        return cls(
            image_set_id, version, is_primary, tuple(draft.input_files), len(draft.instances)
        )

    def summary(self) -> dict[str, Any]:
        """Return the draft's entry of ``imageSetsSummary`` in the job manifest."""
        return {
            "imageSetId": self.image_set_id,
            "imageSetVersion": self.version,
            "isPrimary": self.is_primary,
            "numberOfMatchedSOPInstances": self.matched_instances,
        }

    def success_records(self) -> Iterator[dict[str, Any]]:
        """Return the ``success.ndjson`` records of the draft's input files."""
        response = {
            "imageSetId": self.image_set_id,
            "imageSetVersion": self.version,
            "isPrimary": self.is_primary,
        }
        for input_file in self.input_files:
            yield {"inputFile": input_file, "importResponse": dict(response)}


Commit = Callable[["ImportJob", PipelineResult], list[ImportedImageSet]]
"""Puts a job's drafts into the datastore (LOCKED while importing) and says where."""


@dataclass
class ImportJob:
    """One DICOM import job and its state machine.

    The backend creates it from a StartDICOMImportJob request, calls :meth:`advance` with
    the clock's time whenever it settles, and supplies ``commit``, the step that turns the
    pipeline's drafts into image set versions.
    """

    job_id: str
    job_name: str
    datastore_id: str
    data_access_role_arn: str
    input_s3_uri: str
    requested_output_s3_uri: str
    submitted_at: datetime
    delay: float
    client_token: str | None = None
    limits: ImportLimits = field(default_factory=ImportLimits)
    """What the job may read, decompress and hold (:mod:`.limits`)."""
    allow_aws: bool = False
    """Whether the job may read from an AWS endpoint (:func:`checked_s3_client`)."""
    clock: Callable[[], datetime] | None = field(default=None, repr=False)
    """The sandbox clock's ``now``; when given, the job never ends before its work did."""
    status: str = "SUBMITTED"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str | None = None
    imported: list[ImportedImageSet] = field(default_factory=list)
    result: PipelineResult | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    _error: str | None = field(default=None, repr=False)
    _work_ended_at: datetime | None = field(default=None, repr=False)

    @property
    def output_s3_uri(self) -> str:
        """The job's own output folder, ``<outputS3Uri>/<datastoreId>-DicomImport-<jobId>/``."""
        base = self.requested_output_s3_uri.rstrip("/")
        return f"{base}/{self.datastore_id}-DicomImport-{self.job_id}/"

    # ---------------------------------------------------------------- responses

    def summary(self) -> dict[str, Any]:
        """Return the job as a ``DICOMImportJobSummary`` (ListDICOMImportJobs)."""
        values = {
            "jobId": self.job_id,
            "jobName": self.job_name,
            "jobStatus": self.status,
            "datastoreId": self.datastore_id,
            "dataAccessRoleArn": self.data_access_role_arn,
            "endedAt": self.ended_at,
            "submittedAt": self.submitted_at,
            "message": self.message,
        }
        return {key: value for key, value in values.items() if value is not None}

    def properties(self) -> dict[str, Any]:
        """Return the job as ``DICOMImportJobProperties`` (GetDICOMImportJob)."""
        return {
            **self.summary(),
            "inputS3Uri": self.input_s3_uri,
            "outputS3Uri": self.output_s3_uri,
        }

    def manifest(self) -> dict[str, Any]:
        """Return the content of ``job-output-manifest.json``.

        The fields and their order are those of the page's example; a failure whose
        ``exceptionType`` is in :data:`SERVER_ERROR_TYPES` counts as a server error,
        any other as a customer error (the page names both counts, not the types).
        """
        result = self.result or PipelineResult([], [], 0)
        server = sum(f.exception_type in SERVER_ERROR_TYPES for f in result.failures)
        return {
            "jobSummary": {
                "jobId": self.job_id,
                "datastoreId": self.datastore_id,
                "inputS3Uri": self.input_s3_uri,
                "outputS3Uri": self.output_s3_uri,
                "successOutputS3Uri": self.output_s3_uri + "SUCCESS/",
                "failureOutputS3Uri": self.output_s3_uri + "FAILURE/",
                "warningsOutputS3Uri": self.output_s3_uri + "WARNING/",
                "numberOfScannedFiles": result.scanned_files,
                "numberOfImportedFiles": sum(len(i.input_files) for i in self.imported),
                "numberOfFilesWithCustomerError": len(result.failures) - server,
                "numberOfFilesWithServerError": server,
                "numberOfGeneratedImageSets": len(self.imported),
                "imageSetsSummary": [item.summary() for item in self.imported],
            }
        }

    def output_objects(self) -> dict[str, bytes]:
        """Return the job output as ``{key under the job folder: body}``, manifest last."""
        successes = [record for item in self.imported for record in item.success_records()]
        failures = [failure.record() for failure in (self.result.failures if self.result else [])]
        return {
            SUCCESS_KEY: _ndjson(successes),
            FAILURE_KEY: _ndjson(failures),
            WARNING_KEY: b"",
            # The manifest last, so a reader that finds it finds the lists too.
            MANIFEST_NAME: json.dumps(self.manifest(), indent=2).encode(),
        }

    # ------------------------------------------------------------ state machine

    def advance(self, now: datetime, start: Callable[[ImportJob], None]) -> None:
        """Apply the transitions that are due at ``now`` (the backend's settle step).

        ``start`` launches the work (normally :meth:`run` on a thread); it is called once,
        when the job turns IN_PROGRESS.
        """
        step = timedelta(seconds=self.delay)
        if self.status == "SUBMITTED" and now >= self.submitted_at + step:
            self.status = "IN_PROGRESS"
            self.started_at = self.submitted_at + step
            start(self)
        if self.status == "IN_PROGRESS" and self.done.is_set():
            assert self.started_at is not None
            due = self.started_at + step
            if now >= due:
                # On a real clock the work may outlast `delay`: end when it ended.
                self.ended_at = max(due, self._work_ended_at or due)
                self.status = "FAILED" if self._error else "COMPLETED"
                self.message = self._error

    def run(self, commit: Commit, client_factory: Callable[[], Any] = s3_client) -> None:
        """Do the work: read the input, run the pipeline, commit, write the output.

        Never raises: any error ends the job as FAILED with a message (applied by the
        next :meth:`advance` that is due), and :attr:`done` is set in every case.
        """
        try:
            try:
                client = checked_s3_client(client_factory, allow_aws=self.allow_aws)
            except AwsEndpointRefused as error:
                self._error = str(error)
                return
            try:
                self.result = run_pipeline(
                    iter_s3_objects(client, self.input_s3_uri, self.limits),
                    budget=JobBudget(self.limits),
                )
            except Exception as error:  # S3 or credential errors of any kind
                self._error = input_error_message(self.input_s3_uri, error)
                return
            self.imported = commit(self, self.result)
            try:
                self.write_output(client)
            except Exception as error:  # the image sets stay imported
                self._error = f"Cannot write the job output to {self.output_s3_uri}: {error}"
        except Exception as error:  # a job never crashes the server
            logger.exception("import job %s failed", self.job_id)
            self._error = f"Internal error while importing: {error}"
        finally:
            if self.clock is not None:
                self._work_ended_at = self.clock()
            self.done.set()

    def write_output(self, client: Any) -> None:
        """Put :meth:`output_objects` under the job's ``outputS3Uri`` with ``client``."""
        bucket, prefix = parse_s3_uri(self.output_s3_uri)
        for name, body in self.output_objects().items():
            content_type = "application/json" if name == MANIFEST_NAME else "application/x-ndjson"
            client.put_object(
                Bucket=bucket, Key=prefix + name, Body=body, ContentType=content_type
            )


def _ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()
