"""fetch_datastore: every image set of a datastore, spread over two operations' quotas.

SearchImageSets enumerates the image sets, and each summary carries the image set's
latest ``version``; the image sets are routed (``_routing``) as the pages arrive. With
``dataset=ROOT`` the completed image sets stream into a Parquet dataset in batches
(``_stream``) instead of into one frame.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from hi_widgets.api.criteria import Span
from hi_widgets.api.criteria import search_criteria as build_criteria
from hi_widgets.api.ids import validate_datastore_id
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.tables import empty_versions_frame
from hi_widgets.api.walk import search_summaries
from hi_widgets.bulk._pool import Task
from hi_widgets.bulk._result import FetchResult
from hi_widgets.bulk._routing import GET, LIST, Router, routed_task
from hi_widgets.bulk._run import Plan, run_plan
from hi_widgets.bulk._stream import BATCH_ROWS, DatasetSink
from hi_widgets.bulk.engine import Engine
from hi_widgets.bulk.processes import Processes
from hi_widgets.export.dataset import DatasetStream
from hi_widgets.limits.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _plan(datastore_id: str, criteria: dict[str, Any], inputs: dict[str, Any]) -> Plan:
    """Every image set the search returns, routed as its page arrives."""

    def tasks(engine: Engine) -> Iterator[Task]:
        router = Router(engine.limiter)
        for summary in search_summaries(engine.send, datastore_id, criteria):
            item = (datastore_id, summary["imageSetId"])
            yield routed_task(router, engine, item, summary.get("version"))

    return Plan("fetch_datastore", inputs, tasks, lanes=(LIST, GET))


def fetch_datastore(
    client: Any,
    datastore_id: str,
    *,
    patient_id: str | None = None,
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    study_id: str | None = None,
    created_between: Span | None = None,
    updated_between: Span | None = None,
    search_criteria: Mapping[str, Any] | None = None,
    max_workers: int = 8,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    dataset: str | os.PathLike[str] | None = None,
    batch_rows: int | None = None,
    include_phi: bool = False,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
    s3_client: S3Client | None = None,
    processes: Processes = None,
) -> FetchResult:
    """Fetch every version of every image set of a datastore, using two quotas at once.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (as for :func:`fetch_versions`).
    datastore_id
        32 lower-case letters and digits; checked before any request.
    patient_id, accession_number, study_instance_uid, series_instance_uid, study_id
        Fetch only the image sets matching exactly (as for
        :func:`hi_widgets.search_image_sets`); default: all of them.
    created_between, updated_between
        ``(start, end)``, inclusive; a date means the whole UTC day, None at either end
        leaves it open.
    search_criteria
        SearchImageSets' ``searchCriteria`` dict (``filters``, ``sort``) as is, instead
        of the keywords above.
    max_workers
        Threads per operation (ListImageSetVersions and GetImageSet each get this many).
    quota_rates
        Quota overrides or a shared :class:`~hi_widgets.limits.ratelimit.RateLimiter`, as for
        :func:`fetch_versions`; the routing balances the two operations' rates.
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting image sets,
        from worker threads, as each image set ends; its ``total`` grows while search
        pages arrive. If it raises, the fetch stops.
    cancel
        When set, no further request is sent; the result holds what was complete.
    checkpoint
        A file recording each image set as it completes, as for :func:`fetch_versions`;
        a rerun with the same ``datastore_id`` and criteria searches again and fetches
        only the image sets not in it, routing each one as the uninterrupted call would
        (so it gets the same frame). With ``dataset``, it records an image set only
        once its batch is in the dataset, and holds no records (see Notes).
    dataset
        Stream into this hive-partitioned Parquet dataset (a local folder, created if
        missing, or ``s3://bucket/prefix/``; the layout of
        :func:`hi_widgets.export_dataset`, partitioned by ``datastoreId``) instead of
        returning the versions: completed image sets are appended in batches as they
        finish, so memory does not grow with the datastore. Versions the dataset already
        holds are left as stored.
    batch_rows
        With ``dataset``: versions per batch (default 10,000; whole image sets, so a batch
        may hold a few more). Each batch is one file per partition.
    include_phi, keep_dates
        With ``dataset``: as for :func:`hi_widgets.export_dataset`; the dataset is
        de-identified unless ``include_phi=True``.
    uid_key
        With ``dataset``, when de-identifying: the HMAC key for the UIDs quoted in
        messages. Give every run into one dataset the same key to keep them joinable
        across runs. Default: a key derived from the ``checkpoint``'s own (so a resumed
        call replaces each UID as the first run did), or without a checkpoint one random
        key for the call (every batch of the call replaces alike).
    s3_client
        With an ``s3://`` dataset: the boto3 S3 client (default ``boto3.client("s3")``).

    processes
        Child processes to send the requests from, as for :func:`fetch_versions`.

    Returns
    -------
    FetchResult
        As for :func:`fetch_versions`: ``.frame`` holds every version of every image set
        found, exactly once. A search that fails after its first page adds a row to
        ``.errors`` with an empty ``imageSetId`` (the listing is incomplete) and keeps
        what was fetched. With ``dataset``: ``.frame`` is empty (the versions are in the
        dataset), ``.dataset`` says what was written
        (:class:`~hi_widgets.bulk.StreamedDataset`), ``.stats.versions`` counts the
        versions fetched by this call (not those skipped as checkpointed), and
        ``.errors``, ``.pending`` and ``.warnings`` are as without it.

    Raises
    ------
    InvalidIdentifierError, ValueError, TypeError
        Before any request, for a bad argument; with ``dataset``, also for a dataset
        partitioned otherwise or holding other columns, a root that is a file,
        ``uid_key`` with ``include_phi=True`` (it would not be used), or a dataset
        option without ``dataset``.
    OSError
        Before any request, if a new ``checkpoint`` file cannot be created.
    HealthImagingError
        If the first SearchImageSets page fails (nothing was fetched).

    Notes
    -----
    SearchImageSets does not return deleted image sets, so neither does this.
    Each summary's ``version`` plans the work (see the module notes). An image set
    updated between the search and its fetch (GetImageSet reports a newer version than
    the summary) is read with ListImageSetVersions instead, so the result is exact.

    With ``dataset``, each batch is written to the dataset first and recorded in the
    checkpoint second: an image set the checkpoint holds is in the dataset, and a batch
    written by a run killed before its checkpoint line is fetched again by the rerun and
    skipped by the dataset's key dedupe. Nothing is duplicated or lost after a kill at
    any point. What is buffered is written when the call ends, also on cancel or error.
    A batch that cannot be written (a full disk, an S3 error) stops the call as a cancel
    would, with a warning: that batch and the image sets completed while it stops are
    returned in ``.frame`` instead, the others in ``.pending``.

    Examples
    --------
    >>> result = hw.fetch_datastore(client, datastore_id)
    >>> result.frame["imageSetId"].nunique(), result.errors.empty
    (30, True)
    >>> import tempfile
    >>> streamed = hw.fetch_datastore(client, datastore_id, dataset=tempfile.mkdtemp())
    >>> streamed.frame.empty, streamed.dataset.rows_written == len(result.frame)
    (True, True)
    """
    datastore_id = validate_datastore_id(datastore_id)
    options: dict[str, Any] = {"include_phi": include_phi, "keep_dates": keep_dates}
    options |= {"uid_key": uid_key, "batch_rows": batch_rows, "s3_client": s3_client}
    if dataset is None:
        given = [name for name, value in options.items() if value not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)}: only apply with dataset=ROOT")
    keywords: dict[str, Any] = {
        "patient_id": patient_id,
        "accession_number": accession_number,
        "study_instance_uid": study_instance_uid,
        "series_instance_uid": series_instance_uid,
        "study_id": study_id,
        "created_between": created_between,
        "updated_between": updated_between,
    }
    criteria = build_criteria(**keywords, search_criteria=search_criteria)
    # The checkpoint's inputs: the keywords as asked, not the criteria built (an open
    # range ends "now").
    asked = {name: value for name, value in keywords.items() if value is not None}
    inputs = {"datastoreId": datastore_id, "searchCriteria": dict(search_criteria or {})}
    if asked:
        inputs["search"] = asked
    sink = None
    if dataset is not None:
        stream = DatasetStream(
            dataset,
            include_phi=include_phi,
            keep_dates=keep_dates,
            uid_key=uid_key,
            s3_client=s3_client,
        )
        inputs["dataset"] = _dataset_inputs(stream, include_phi, keep_dates, uid_key)
        rows = _batch_rows(batch_rows)
        stream.prepare(empty_versions_frame())
        derive = uid_key is None and not include_phi
        sink = DatasetSink(stream, batch_rows=rows, derive_uid_key=derive)
    return run_plan(
        client,
        _plan(datastore_id, criteria, inputs),
        max_workers=max_workers,
        quota_rates=quota_rates,
        progress=progress,
        cancel=cancel,
        checkpoint=checkpoint,
        sink=sink,
        processes=processes,
    )


def _batch_rows(value: int | None) -> int:
    if value is None:
        return BATCH_ROWS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_rows must be a positive integer, got {value!r}")
    return value


def _dataset_inputs(
    stream: DatasetStream, include_phi: bool, keep_dates: bool, uid_key: bytes | str | None
) -> dict[str, Any]:
    """Return what a streaming call's checkpoint is for: a rerun must write the same way."""
    if include_phi and uid_key is not None:
        raise ValueError(
            "uid_key: include_phi=True keeps the UIDs as they are, so uid_key would not be "
            "used; pass one or the other"
        )
    where = os.path.abspath(stream.root) if stream.kind == "local" else stream.root.rstrip("/")
    inputs: dict[str, Any] = {"root": where, "includePhi": include_phi}
    if not include_phi:
        inputs["keepDates"] = keep_dates
        if uid_key is not None:  # a digest, not the key: a rerun must use the same key
            key = uid_key.encode() if isinstance(uid_key, str) else uid_key
            inputs["uidKey"] = hashlib.sha256(b"hi_widgets.uid_key:" + key).hexdigest()
    return inputs
