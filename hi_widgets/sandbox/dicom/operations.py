"""Backend operations for DICOM import jobs and image frames.

StartDICOMImportJob, GetDICOMImportJob, ListDICOMImportJobs and GetImageFrame over the
shared :class:`~hi_widgets.sandbox.backend.state.BackendState`. The job itself (S3 input and
output, the pipeline, its states) is :class:`~hi_widgets.sandbox.dicom.import_jobs.ImportJob`;
this module places a job's image set drafts in the datastore and serves their frames.

Placement follows "Understanding import jobs": a series' instances form one primary image
set; instances of a series that already has a primary image set join it as a new version
when their grouping elements agree with it, and go to a new non-primary image set when
they conflict (or when that image set is busy with another operation, a choice of this
sandbox). While the job runs its versions are LOCKED in IMPORTING; they turn ACTIVE in
IMPORTED when the job completes (IMPORT_FAILED if it fails).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hi_widgets.sandbox.backend import tiering
from hi_widgets.sandbox.backend.domain import Datastore, ImageSet, Version
from hi_widgets.sandbox.backend.errors import ServiceError, conflict, not_found, validation_error
from hi_widgets.sandbox.backend.paging import make_token, page_size, read_token
from hi_widgets.sandbox.backend.state import BackendState
from hi_widgets.sandbox.dicom import frame_encoding
from hi_widgets.sandbox.dicom.frame_encoding import FrameStore
from hi_widgets.sandbox.dicom.import_jobs import (
    AwsEndpointRefused,
    ImportedImageSet,
    ImportJob,
    checked_s3_client,
    iter_s3_objects,
    s3_client,
)
from hi_widgets.sandbox.dicom.limits import ImportLimits, JobBudget
from hi_widgets.sandbox.dicom.pipeline import (
    ImageSetDraft,
    document_identity,
    iter_local_files,
    merge_documents,
    run_pipeline,
)


def frame_ids(document: dict[str, Any]) -> Iterable[str]:
    """Yield the image frame ids of a metadata document."""
    for _, frame_id in _frames_with_syntax(document):
        yield frame_id


def _frames_with_syntax(document: dict[str, Any]) -> Iterable[tuple[str | None, str]]:
    """Yield ``(StoredTransferSyntaxUID, frame id)`` of every frame of a document."""
    for series in document.get("Study", {}).get("Series", {}).values():
        for instance in series.get("Instances", {}).values():
            for frame in instance.get("ImageFrames") or []:
                yield instance.get("StoredTransferSyntaxUID"), frame.get("ID")


def _stored_as(document: dict[str, Any], transfer_syntax: str) -> dict[str, Any]:
    """Return ``document`` with every instance's StoredTransferSyntaxUID set."""
    study = document.get("Study", {})
    series = {
        uid: {
            **node,
            "Instances": {
                key: {**instance, "StoredTransferSyntaxUID": transfer_syntax}
                for key, instance in node.get("Instances", {}).items()
            },
        }
        for uid, node in study.get("Series", {}).items()
    }
    return {**document, "Study": {**study, "Series": series}}


class DicomImportOperations(BackendState):
    """StartDICOMImportJob, GetDICOMImportJob, ListDICOMImportJobs and GetImageFrame."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames = FrameStore()
        """The encoded frames of every imported instance."""
        self.s3_client_factory: Callable[[], Any] = s3_client
        """Builds the S3 client of each job (boto3's standard configuration chain)."""
        self.allow_aws_s3 = False
        """Whether imports may read from AWS (refused by default: see import_jobs)."""
        self.import_limits = ImportLimits()
        """What one object and one job may read, decompress and hold."""
        self._import_jobs: dict[str, ImportJob] = {}
        self._incomplete_jobs: dict[str, Callable[[ImportJob], None]] = {}
        self._import_threads: list[threading.Thread] = []
        self._job_versions: dict[str, list[Version]] = {}
        self._transcoded: dict[tuple[str, str], bytes] = {}

    # ------------------------------------------------------------------ clock

    def settle(self) -> None:
        with self.lock:
            super().settle()
            now = self.clock.now()
            for job in self._import_jobs.values():
                if job.status in ("SUBMITTED", "IN_PROGRESS"):
                    job.advance(now, self._start_job)
                    if job.status in ("COMPLETED", "FAILED"):
                        self._finish_versions(job)

    def _start_job(self, job: ImportJob) -> None:
        thread = threading.Thread(
            target=job.run,
            kwargs={"commit": self._commit, "client_factory": self.s3_client_factory},
            name=f"hi-widgets-import-{job.job_id[:8]}",
            daemon=True,
        )
        self._import_threads = [t for t in self._import_threads if t.is_alive()] + [thread]
        thread.start()

    def wait_for_imports(self, timeout: float = 60.0) -> bool:
        """Wait until every started import job has done its work (for tests and start-up).

        Returns False if ``timeout`` seconds passed first. The jobs' states still move
        only on the sandbox clock.
        """
        with self.lock:
            threads = list(self._import_threads)
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    # -------------------------------------------------------------- placement

    def place_drafts(
        self,
        datastore_id: str,
        drafts: Iterable[ImageSetDraft],
        *,
        state: str = "LOCKED",
        workflow_status: str = "IMPORTING",
    ) -> list[tuple[ImportedImageSet, Version]]:
        """Put drafts into a datastore as new image sets or new versions; store frames.

        Parameters
        ----------
        datastore_id
            An existing datastore.
        drafts
            From :func:`hi_widgets.sandbox.dicom.pipeline.run_pipeline` (or ``import_local``).
        state, workflow_status
            Of the versions written: LOCKED/IMPORTING for a running job, ACTIVE/IMPORTED
            for data loaded at start-up.
        """
        with self.lock:
            datastore = self.datastore(datastore_id)
            now = self.now()
            placed = []
            for draft in drafts:
                for frame in draft.frames():
                    self.frames.put(frame.frame_id, frame.htj2k)
                document = draft.document()
                stored = frame_encoding.TRANSFER_SYNTAX_BY_STORAGE_FORMAT.get(
                    datastore.lossless_storage_format or "HTJ2K"
                )
                if stored is not None and stored != frame_encoding.HTJ2K_TRANSFER_SYNTAX_UID:
                    document = _stored_as(document, stored)
                primary = (
                    self.primary_holder(datastore, draft.series_instance_uid)
                    if draft.is_primary
                    else None
                )
                joins = (
                    primary is not None
                    and primary.latest.state == "ACTIVE"
                    and document_identity(primary.latest.document) == draft.identity
                )
                if primary is not None and joins:
                    image_set = primary
                    version_id = image_set.latest.version_id + 1
                    document = merge_documents(image_set.latest.document, document)
                    is_primary = True
                else:
                    image_set_id = self.new_id("imageset")
                    image_set = ImageSet(
                        datastore_id=datastore_id,
                        image_set_id=image_set_id,
                        arn=self.image_set_arn(datastore_id, image_set_id),
                        versions=[],
                        last_accessed_at=now,
                    )
                    datastore.image_sets[image_set_id] = image_set
                    version_id = 1
                    is_primary = draft.is_primary and primary is None
                version = Version(
                    version_id=version_id,
                    state=state,
                    workflow_status=workflow_status,
                    created_at=now,
                    updated_at=now,
                    document=document,
                    is_primary=is_primary,
                )
                image_set.versions.append(version)
                self.index(image_set)
                imported = ImportedImageSet.of_draft(
                    draft, image_set.image_set_id, version_id, is_primary
                )
                placed.append((imported, version))
            return placed

    def _commit(self, job: ImportJob, result: Any) -> list[ImportedImageSet]:
        placed = self.place_drafts(job.datastore_id, result.image_sets)
        with self.lock:
            self._job_versions[job.job_id] = [version for _, version in placed]
        return [imported for imported, _ in placed]

    def _finish_versions(self, job: ImportJob) -> None:
        for version in self._job_versions.pop(job.job_id, []):
            version.state = "ACTIVE"
            version.workflow_status = "IMPORTED" if job.status == "COMPLETED" else "IMPORT_FAILED"
            version.message = None if job.status == "COMPLETED" else job.message
            version.updated_at = job.ended_at or self.now()
            self.changed()

    def import_at_startup(self, source: str | Iterable[str], datastore_name: str) -> str:
        """Create an ACTIVE datastore holding the DICOM of ``source``; return its id.

        ``source`` is an ``s3://bucket/prefix`` URI (read with boto3's standard S3
        configuration) or local files and folders. Image sets are IMPORTED at once; files
        that are not DICOM or are broken are skipped (:func:`~.dicom.run_pipeline` says
        why when called directly).

        Raises
        ------
        ValueError
            If a local path does not exist or the S3 prefix cannot be read.
        """
        files: Iterable[tuple[str, Any]]
        if isinstance(source, str) and source.startswith("s3://"):
            client = checked_s3_client(self.s3_client_factory, allow_aws=self.allow_aws_s3)
            files = iter_s3_objects(client, source, self.import_limits)
        else:
            paths = [source] if isinstance(source, str) else list(source)
            missing = [str(path) for path in paths if not Path(path).exists()]
            if missing:
                raise ValueError(f"no such file or folder to import: {', '.join(missing)}")
            files = iter_local_files(paths, max_bytes=self.import_limits.max_object_bytes)
        try:
            result = run_pipeline(files, budget=JobBudget(self.import_limits))
        except Exception as error:  # S3, credential, endpoint or file system errors
            raise ValueError(f"cannot read DICOM from {source}: {error}") from error
        with self.lock:
            now = self.now()
            datastore_id = self.new_id("datastore")
            self.add_datastore(
                Datastore(
                    datastore_id=datastore_id,
                    name=datastore_name,
                    status="ACTIVE",
                    arn=self.datastore_arn(datastore_id),
                    created_at=now,
                    updated_at=now,
                )
            )
            self.place_drafts(
                datastore_id, result.image_sets, state="ACTIVE", workflow_status="IMPORTED"
            )
        return datastore_id

    # ------------------------------------------------------------- operations

    def start_dicom_import_job(
        self,
        *,
        datastore_id: str,
        data_access_role_arn: str,
        input_s3_uri: str,
        output_s3_uri: str,
        job_name: str | None = None,
        client_token: str | None = None,
        input_owner_account_id: str | None = None,
        import_configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if import_configuration:
            raise validation_error(
                "importConfiguration (DICOM JSON metadata mappings) is not available in the "
                "hi_widgets sandbox; import DICOM P10 files without it"
            )
        if input_owner_account_id is not None and input_owner_account_id != self.account_id:
            raise validation_error(
                f"inputOwnerAccountId {input_owner_account_id} is not the sandbox account "
                f"{self.account_id}"
            )
        try:  # before the job exists: an import that would reach AWS is refused outright
            checked_s3_client(self.s3_client_factory, allow_aws=self.allow_aws_s3)
        except AwsEndpointRefused as error:
            raise ServiceError("AccessDeniedException", str(error)) from None
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            if datastore.status != "ACTIVE":
                raise conflict(f"Datastore {datastore_id} is {datastore.status}, not ACTIVE")
            for job in self._import_jobs.values():
                if client_token is not None and job.client_token == client_token:
                    return self._started(job)
            job_id = self.new_id("importjob")
            job = ImportJob(
                job_id=job_id,
                job_name=job_name or f"import-{job_id[:8]}",
                datastore_id=datastore_id,
                data_access_role_arn=data_access_role_arn,
                input_s3_uri=input_s3_uri,
                requested_output_s3_uri=output_s3_uri,
                submitted_at=self.now(),
                delay=self.update_delay,
                client_token=client_token,
                limits=self.import_limits,
                allow_aws=self.allow_aws_s3,
                clock=self.now,
            )
            self._import_jobs[job_id] = job
            return self._started(job)

    def add_import_job(
        self, job: ImportJob, complete: Callable[[ImportJob], None] | None = None
    ) -> None:
        """Record a job that has already ended (the demo's history of imports).

        Jobs are listed newest first by insertion, so add them in ``submittedAt`` order
        and before any job is started. ``complete`` (optional) fills what the job can
        only know by reading the datastore; it runs once, under the lock, when the jobs
        are first read (so a deferred demo history is written only then).
        """
        if job.status not in ("COMPLETED", "FAILED"):
            raise ValueError(f"only an ended job can be added, not a {job.status} one")
        with self.lock:
            self.datastore(job.datastore_id)
            if job.job_id in self._import_jobs:
                raise ValueError(f"import job {job.job_id} exists already")
            self._import_jobs[job.job_id] = job
            if complete is not None:
                self._incomplete_jobs[job.job_id] = complete

    def import_jobs(self, datastore_id: str | None = None) -> list[ImportJob]:
        """Return the import jobs (of one datastore), oldest first, completed."""
        with self.lock:
            self._complete_jobs()
            return [
                job
                for job in self._import_jobs.values()
                if datastore_id is None or job.datastore_id == datastore_id
            ]

    def _complete_jobs(self) -> None:
        while self._incomplete_jobs:
            job_id, complete = self._incomplete_jobs.popitem()
            complete(self._import_jobs[job_id])

    @staticmethod
    def _started(job: ImportJob) -> dict[str, Any]:
        return {
            "datastoreId": job.datastore_id,
            "jobId": job.job_id,
            "jobStatus": job.status,
            "submittedAt": job.submitted_at,
        }

    def _import_job(self, datastore_id: str, job_id: str) -> ImportJob:
        self.datastore(datastore_id)
        job = self._import_jobs.get(job_id)
        if job is None or job.datastore_id != datastore_id:
            raise not_found(f"Import job {job_id} does not exist in datastore {datastore_id}")
        return job

    def get_dicom_import_job(self, *, datastore_id: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            self._complete_jobs()
            return {"jobProperties": self._import_job(datastore_id, job_id).properties()}

    def list_dicom_import_jobs(
        self,
        *,
        datastore_id: str,
        job_status: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        """List a datastore's jobs, newest first (the docs do not give an order).

        "Understanding import jobs" says jobs stay in the list for 90 days and are then
        archived; the sandbox lists every job (the demo's are from 2024), a known
        difference.
        """
        with self.lock:
            self.settle()
            self.datastore(datastore_id)
            self._complete_jobs()
            jobs = [
                job
                for job in reversed(self._import_jobs.values())
                if job.datastore_id == datastore_id
                and (job_status is None or job.status == job_status)
            ]
            token = read_token(next_token, "ListDICOMImportJobs")
            start = token["o"] if token else 0
            end = start + page_size(max_results)
            output: dict[str, Any] = {
                "jobSummaries": [job.summary() for job in itertools.islice(jobs, start, end)]
            }
            if end < len(jobs):
                output["nextToken"] = make_token({"k": "ListDICOMImportJobs", "o": end})
            return output

    def get_image_frame(
        self,
        *,
        datastore_id: str,
        image_set_id: str,
        image_frame_information: Mapping[str, str],
    ) -> dict[str, Any]:
        image_frame_id = image_frame_information["imageFrameId"]
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            if image_set.latest.state == "DELETED":
                raise not_found(f"Image set {image_set_id} is deleted")
            syntaxes = {
                syntax
                for version in image_set.versions
                for syntax, frame_id in _frames_with_syntax(version.document)
                if frame_id == image_frame_id
            }
            if syntaxes:
                tiering.record_access(image_set, self.now())
        if not syntaxes:
            raise not_found(
                f"Image frame {image_frame_id} is not part of image set {image_set_id}"
            )
        blob = self.frames.get(image_frame_id)
        if blob is None:
            raise not_found(
                f"Image frame {image_frame_id} has no pixel data in the sandbox (its metadata "
                "was made up for the demo, not imported from DICOM)"
            )
        syntax = sorted(syntaxes, key=str)[0]
        key = (image_frame_id, str(syntax))
        with self.lock:
            cached = self._transcoded.get(key)
        if cached is not None and syntax == frame_encoding.JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID:
            return {"imageFrameBlob": cached, "contentType": frame_encoding.CONTENT_TYPES[syntax]}
        body, content_type = frame_encoding.served_frame(blob, syntax)
        if syntax == frame_encoding.JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID:
            with self.lock:  # transcoded once, on the first request (outside the lock)
                self._transcoded[key] = body
        return {"imageFrameBlob": body, "contentType": content_type}
