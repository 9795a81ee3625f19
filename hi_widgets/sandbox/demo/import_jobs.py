"""The demo's import jobs: the jobs that imported some demo image sets, and two that failed.

Every demo image set begins with an import (its version 1, IMPORTED); for a few of them
the demo also keeps the job that did it, so ListDICOMImportJobs and GetDICOMImportJob
answer, and the job output ("Understanding import jobs": ``job-output-manifest.json``,
``SUCCESS/success.ndjson``, ``FAILURE/failure.ndjson``) names files whose
``importResponse.imageSetId`` is that image set: a file leads to an image set and its
whole history. Nothing here changes an image set: the jobs are read off the versions the
demo wrote (:mod:`hi_widgets.sandbox.demo.data`), found by their deterministic ids.

Layout (the same for every seed; the seed changes ids and times):

* ``demo-radiology``: image set 1 (73 versions) and image set 2 (its late, non-primary
  import) come from jobs that COMPLETED with failed files; image sets 3 and 0 from clean
  COMPLETED jobs; one job FAILED because its input bucket does not exist.
* ``demo-oncology``: image set 1 from a clean job, image set 0 from a job with one failed
  file, a COMPLETED job where every file failed (no image set), and a FAILED job that
  was denied its input.

A job's ``endedAt`` is its image set's version 1 ``updatedAt`` (the end of the import);
it was submitted a minute or so before the version's ``createdAt``. The failure reasons
are the words of the sandbox's own import pipeline for such files
(:mod:`hi_widgets.sandbox.dicom.read`; the tests build each broken file and compare), and
repeat across files and jobs. The output objects are written by :func:`write_outputs`
once an S3 endpoint is available (``Sandbox(demo_s3=True)``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from hi_widgets.sandbox.backend.domain import make_id
from hi_widgets.sandbox.backend.errors import ServiceError
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.dicom.import_jobs import ImportedImageSet, ImportJob, input_error_message
from hi_widgets.sandbox.dicom.pipeline import PipelineResult
from hi_widgets.sandbox.dicom.read import Failure

DICOM_FILE = "*.dcm"
INPUT_BUCKET = "hi-widgets-demo-dicom"
OUTPUT_BUCKET = "hi-widgets-demo-import-output"
BUCKETS = (INPUT_BUCKET, OUTPUT_BUCKET)
OUTPUT_S3_URI = f"s3://{OUTPUT_BUCKET}/import-jobs/"

NOT_DICOM = "The file is not DICOM P10: the 'DICM' prefix is missing"
NO_SOP_INSTANCE_UID = "DICOM attribute SOPInstanceUID does not exist"
NO_SOP_CLASS_UID = "DICOM attribute SOPClassUID does not exist"
"""What the pipeline says of a DICOMDIR (a media directory, no SOP instance)."""
NO_TRANSFER_SYNTAX = "DICOM attribute TransferSyntaxUID does not exist"
LONG_DESCRIPTION = "DICOM attribute StudyDescription is longer than 64 characters"
FAILURE_REASONS = (
    NOT_DICOM,
    NO_SOP_INSTANCE_UID,
    NO_SOP_CLASS_UID,
    NO_TRANSFER_SYNTAX,
    LONG_DESCRIPTION,
)
"""Every failure message of the demo jobs (the pipeline's words for such files)."""

NO_SUCH_BUCKET = (
    "An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: "
    "The specified bucket does not exist"
)
ACCESS_DENIED = (
    "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied"
)


@dataclass(frozen=True)
class DemoJob:
    """One demo job: which image set it imported (if any), and its failed files."""

    ds_index: int
    image_set_index: int | None
    """The demo image set its files went to; None for a job that imported nothing."""
    failures: tuple[tuple[str, str], ...] = ()
    """``(file name under the patient's folder, reason)`` of each failed file;
    :data:`DICOM_FILE` stands for the series' next ``IM<n>.dcm``."""
    input_error: str | None = None
    """Why the input could not be listed: the job FAILED."""


DEMO_JOBS = (
    DemoJob(
        0,
        1,
        (
            ("notes.txt", NOT_DICOM),
            (DICOM_FILE, NO_SOP_INSTANCE_UID),
            (DICOM_FILE, NO_SOP_INSTANCE_UID),
            (DICOM_FILE, NO_TRANSFER_SYNTAX),
            (DICOM_FILE, LONG_DESCRIPTION),
            ("thumbs.db", NOT_DICOM),
        ),
    ),
    DemoJob(0, 2, ((DICOM_FILE, NO_TRANSFER_SYNTAX), ("report.pdf", NOT_DICOM))),
    DemoJob(0, None, input_error=NO_SUCH_BUCKET),
    DemoJob(0, 3),
    DemoJob(0, 0),
    DemoJob(1, 1),
    DemoJob(1, 0, ((DICOM_FILE, LONG_DESCRIPTION),)),
    DemoJob(
        1,
        None,
        (
            ("DICOMDIR", NO_SOP_CLASS_UID),
            ("index.html", NOT_DICOM),
            (DICOM_FILE, NOT_DICOM),
        ),
    ),
    DemoJob(1, None, input_error=ACCESS_DENIED),
)
"""The demo jobs; they are added in ``submittedAt`` order (listed newest first)."""

DATASTORE_NAMES = ("radiology", "oncology")
ROLE_NAME = "HealthImagingDemoImportRole"


def _millis(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


def _build(
    store: Backend, seed: int, number: int, spec: DemoJob, fallback: datetime
) -> tuple[ImportJob, Callable[[ImportJob], None] | None]:
    """Return a demo job and, for one that imported an image set, what completes it.

    The job's times and ids need only the image set's ``createdAt``, which a deferred
    image set knows (:mod:`~hi_widgets.sandbox.demo.deferred`); the rest (its end, its
    files) needs version 1, whose history is written only when the job is first read.
    """
    rng = random.Random(f"hi-widgets-demo-import-job:{seed}:{number}")
    datastore_id = make_id("demo", seed, "datastore", spec.ds_index)
    image_set_id = None
    if spec.image_set_index is None:  # a job of its own, a few days after the one before
        submitted = _millis(fallback + _seconds(rng, 0, 36 * 3600))
    else:
        image_set_id = make_id("demo", seed, "imageset", spec.ds_index, spec.image_set_index)
        created = store.image_set(datastore_id, image_set_id).created_at
        submitted = _millis(created - _seconds(rng, 30, 90))
    started = _millis(submitted + _seconds(rng, 2, 15))
    job_id = make_id("demo", seed, "importjob", number)
    name = f"{DATASTORE_NAMES[spec.ds_index]}-{submitted:%Y-%m-%d}"
    bucket = INPUT_BUCKET if spec.input_error is None else f"{INPUT_BUCKET}-{name}"
    input_s3_uri = f"s3://{bucket}/{name}/"
    job = ImportJob(
        job_id=job_id,
        job_name=f"{name}-{job_id[:6]}",
        datastore_id=datastore_id,
        data_access_role_arn=f"arn:aws:iam::{store.account_id}:role/{ROLE_NAME}",
        input_s3_uri=input_s3_uri,
        requested_output_s3_uri=OUTPUT_S3_URI,
        submitted_at=submitted,
        delay=0.0,
        status="FAILED" if spec.input_error else "COMPLETED",
        started_at=started,
        ended_at=_millis(started + _seconds(rng, 5, 40)),
        message=input_error_message(input_s3_uri, spec.input_error) if spec.input_error else None,
    )
    job.done.set()
    # The files of one patient sit in a folder named by the (fake) PatientID, as real
    # keys often carry patient identifiers.
    patient = f"DEMO-9{spec.ds_index}{number:02d}"
    if image_set_id is None:
        job.result = None if spec.input_error else _result(spec, f"{name}/{patient}/", 0)
        return job, None

    def complete(job: ImportJob) -> None:
        first = store.image_set(datastore_id, image_set_id).versions[0]
        found = first.document["Patient"]["DICOM"].get("PatientID") or patient
        (series,) = first.document["Study"]["Series"].values()
        count = len(series["Instances"])
        files = tuple(f"{name}/{found}/series-1/IM{n:04d}.dcm" for n in range(1, count + 1))
        job.ended_at = first.updated_at  # the end of the import: IMPORTED
        job.imported = [ImportedImageSet(image_set_id, 1, bool(first.is_primary), files, count)]
        job.result = _result(spec, f"{name}/{found}/", count)

    return job, complete


def _result(spec: DemoJob, prefix: str, imported: int) -> PipelineResult:
    numbers = iter(range(imported + 1, 10_000))
    failures = [
        Failure(
            prefix + (f"series-1/IM{next(numbers):04d}.dcm" if path == DICOM_FILE else path),
            reason,
        )
        for path, reason in spec.failures
    ]
    return PipelineResult([], failures, imported + len(failures))


def _exists(store: Backend, seed: int, spec: DemoJob) -> bool:
    if spec.image_set_index is None:
        return True
    datastore_id = make_id("demo", seed, "datastore", spec.ds_index)
    image_set_id = make_id("demo", seed, "imageset", spec.ds_index, spec.image_set_index)
    try:  # one lookup, whatever the size of the datastore
        store.image_set(datastore_id, image_set_id)
    except ServiceError:
        return False
    return True


def add_demo_import_jobs(store: Backend, *, seed: int = 0) -> list[ImportJob]:
    """Add the demo's ended import jobs to ``store`` (after the demo data); return them.

    A job whose image set the demo does not have (a small ``image_sets``) is left out.
    No history is written here: a job that imported an image set is completed (its
    ``endedAt`` and output, from version 1) when the jobs are first read
    (:meth:`~hi_widgets.sandbox.dicom.operations.DicomImportOperations.import_jobs`).
    """
    built: list[tuple[ImportJob, Callable[[ImportJob], None] | None]] = []
    previous = datetime(2024, 1, 10, 8, 0, tzinfo=timezone.utc)
    for number, spec in enumerate(DEMO_JOBS):
        if not _exists(store, seed, spec):
            continue
        job, complete = _build(store, seed, number, spec, previous + timedelta(days=3))
        built.append((job, complete))
        previous = job.submitted_at
    built.sort(key=lambda item: item[0].submitted_at)
    for job, complete in built:
        store.add_import_job(job, complete)
    return [job for job, _ in built]


def write_outputs(jobs: list[ImportJob], client: Any) -> None:
    """Create the demo buckets and put every ended job's output with ``client`` (S3).

    A FAILED demo job could not list its input, so it wrote nothing (as the sandbox's
    own jobs do). Buckets that exist already (another demo S3 of this process: moto
    keeps one state per process) are reused.
    """
    region = client.meta.region_name
    for bucket in BUCKETS:
        options: dict[str, Any] = {"Bucket": bucket}
        if region and region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(**options)
    for job in jobs:
        if job.status == "COMPLETED":
            job.write_output(client)
