"""sync_datastore: bring a Parquet dataset of a datastore's versions up to date.

A sync asks SearchImageSets for the image sets updated since the dataset's high-water
mark, less an overlap (``updatedAt`` BETWEEN, newest first), fetches
the histories of those that changed through the bulk engine, appends their rows as the
streaming fetch does (one :class:`~hi_widgets.export.dataset.DatasetStream`, the
dataset sink of ``_stream``, settled versions only: ``_sync_sink``), and only then
moves the mark. The state lives in a small file in the dataset root (``_sync_state``).
See ``docs/datasets.md`` for the reasons behind the
overlap and the handling of deletions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from hi_widgets.api.criteria import search_criteria
from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.ids import validate_datastore_id
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.single_attempt import single_attempt_client
from hi_widgets.api.tables import empty_versions_frame
from hi_widgets.api.walk import Cancelled, search_summaries
from hi_widgets.bulk._pool import Task
from hi_widgets.bulk._result import ERROR_COLUMNS, FetchResult
from hi_widgets.bulk._routing import GET, LIST, Router, routed_task
from hi_widgets.bulk._run import Plan, run_plan
from hi_widgets.bulk._stream import BATCH_ROWS
from hi_widgets.bulk._sync_sink import SYNC_KEY, SyncSink
from hi_widgets.bulk._sync_state import (
    DatastoreState,
    checkpoint_path,
    iso,
    load_state,
    parse_iso,
    save_state,
    uid_key_id,
)
from hi_widgets.bulk.engine import Engine, check_options, make_limiter
from hi_widgets.bulk.processes import Processes, check_processes
from hi_widgets.export.dataset import DatasetStream
from hi_widgets.export.dataset_store import LocalStore, parse_root
from hi_widgets.limits.ratelimit import RateLimiter

__all__ = ["DEFAULT_OVERLAP", "SyncResult", "sync_datastore"]

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = timedelta(minutes=15)
"""How far below the high-water mark each search starts (see docs/datasets.md)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The search's upper bound: far enough past the client's clock for any service clock.
_UPPER_MARGIN = timedelta(days=1)
_GONE = "ResourceNotFoundError"


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync_datastore` call did.

    Attributes
    ----------
    root, datastore_id
        The dataset and the datastore synced.
    high_water_mark
        The newest ``updatedAt`` the dataset now covers (None before any image set).
    searched
        Image set summaries SearchImageSets returned (the overlap included).
    fetched
        Image sets whose histories were fetched (or read back from the checkpoint of an
        interrupted sync).
    rows_written, rows_skipped
        Rows appended to the dataset, and rows left out as already stored.
    deleted
        Image sets found deleted: a DELETED row of their latest version was stored.
    retry
        Image sets the next sync fetches whatever the search says (still settling, or
        failed this time).
    requests
        HTTP requests sent: the search's and the fetches'.
    complete
        True if the high-water mark moved (the sync ran to its end); False after a
        cancel, when the next sync resumes this one.
    errors
        One row per image set that failed (columns as :attr:`FetchResult.errors`).
    files
        The Parquet files written.

    Examples
    --------
    >>> import tempfile
    >>> result = hw.sync_datastore(client, datastore_id, tempfile.mkdtemp())
    >>> result.complete, result.fetched == result.searched, result.deleted
    (True, True, ())
    """

    root: str
    datastore_id: str
    high_water_mark: datetime | None
    searched: int
    fetched: int
    rows_written: int
    rows_skipped: int
    deleted: tuple[str, ...]
    retry: tuple[str, ...]
    requests: int
    complete: bool
    errors: pd.DataFrame
    files: tuple[str, ...]


@dataclass
class _Search:
    """What the window search saw: candidates to fetch, and every summary's version."""

    candidates: dict[str, int | None]
    seen: dict[str, tuple[int | None, datetime | None]]
    requests: int
    error: HealthImagingError | None


def _stored_image_sets(root: Path, datastore_id: str) -> dict[str, tuple[int, bool]]:
    """``{imageSetId: (latest stored version, deleted)}`` of the dataset's rows."""
    store = LocalStore(root)
    stored: dict[str, tuple[int, bool]] = {}
    for relative, _size in store.files(f"datastoreId={datastore_id}"):
        table = pq.read_table(
            store.location(relative), columns=["imageSetId", "versionId", "imageSetState"]
        )
        for image_set, version, state in zip(*(c.to_pylist() for c in table.columns), strict=True):
            latest, deleted = stored.get(image_set, (0, False))
            stored[image_set] = (max(latest, int(version)), deleted or state == "DELETED")
    return stored


def _summary(summary: Mapping[str, Any]) -> tuple[str, int | None, datetime | None]:
    """(imageSetId, version, updatedAt) of a search summary; the last two are optional."""
    version = summary.get("version")
    return (
        summary["imageSetId"],
        None if version is None else int(version),
        summary.get("updatedAt"),
    )


def _search(
    engine: Engine,
    datastore_id: str,
    run: Mapping[str, Any],
    known: DatastoreState,
    stored: dict[str, tuple[int, bool]] | None,
) -> _Search:
    """Search the run's window; keep the image sets that changed since the dataset."""
    criteria = search_criteria(
        updated_between=(parse_iso(run["lower"]), parse_iso(run["upper"])),
        sort=("updatedAt", "DESC"),
    )
    candidates: dict[str, int | None] = {}
    seen: dict[str, tuple[int | None, datetime | None]] = {}
    error = None
    try:
        for summary in search_summaries(engine.send, datastore_id, criteria):
            image_set, version, updated = _summary(summary)
            seen[image_set] = (version, updated)
            if version is None or updated is None:  # optional in the API: fetch to know
                unchanged = False
            elif stored is not None:
                unchanged = stored.get(image_set, (0, False))[0] == version
            else:
                unchanged = known.frontier.get(image_set) == (version, iso(updated))
            if not unchanged:
                candidates[image_set] = version
    except HealthImagingError as failure:
        if not seen:
            raise
        log.warning("SearchImageSets stopped after %d image sets: %s", len(seen), failure)
        error = failure
    # Seen before, missing now although still inside the window: deleted, most likely
    # (AWS does not say whether a search returns deleted image sets; if it does not,
    # this is the only cheap hint). Their histories say.
    missing = set(known.frontier) if stored is None else {i for i, s in stored.items() if not s[1]}
    for image_set in sorted(missing - set(seen)) if error is None else ():
        candidates.setdefault(image_set, None)
    for image_set in known.retry:
        candidates.setdefault(image_set, None)
    return _Search(candidates, seen, engine.counters.requests, error)


def _plan(datastore_id: str, candidates: Mapping[str, int | None], run: Any) -> Plan:
    """Fetch each candidate's history, routed over both quotas as fetch_datastore does."""

    def tasks(engine: Engine) -> Iterator[Task]:
        router = Router(engine.limiter)
        for image_set, version in candidates.items():
            yield routed_task(router, engine, (datastore_id, image_set), version)

    inputs = {"datastoreId": datastore_id, "window": run}
    return Plan("sync_datastore", inputs, tasks, lanes=(LIST, GET))


def _next_state(
    known: DatastoreState,
    found: _Search,
    overlap: timedelta,
    *,
    failed: set[str],
    gone: set[str],
    unsettled: set[str],
) -> DatastoreState:
    """Return the state after a completed run: the mark moved, frontier and retries renewed."""
    times = [updated for _, updated in found.seen.values() if updated is not None]
    if known.high_water_mark is not None:
        times.append(known.high_water_mark)
    mark = max(times, default=None)
    frontier = {}
    if mark is not None:
        cutoff = mark - overlap
        frontier = {
            image_set: (version, iso(updated))
            for image_set, (version, updated) in found.seen.items()
            if version is not None
            and updated is not None
            and updated >= cutoff
            and image_set not in failed | unsettled
        }
    retry = sorted((unsettled | failed) - gone)
    return DatastoreState(high_water_mark=mark, frontier=frontier, retry=retry, run=None)


def _new_run(known: DatastoreState, overlap: timedelta, full: bool) -> dict[str, Any]:
    mark = known.high_water_mark
    lower = _EPOCH if full or mark is None else max(_EPOCH, mark - overlap)
    upper = datetime.now(timezone.utc) + _UPPER_MARGIN
    return {"lower": iso(lower), "upper": iso(upper), "full": bool(full)}


def _check_arguments(root: Any, overlap: Any, batch_rows: Any) -> Path:
    kind, where, _prefix = parse_root(root)
    if kind != "local":
        raise ValueError(
            f"root: sync_datastore keeps its state in a local file; {os.fspath(root)!r} is "
            "not a local folder (sync to a folder, then copy it to S3)"
        )
    if not isinstance(overlap, timedelta) or overlap < timedelta(0):
        raise ValueError(f"overlap must be a timedelta >= 0, got {overlap!r}")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be an integer >= 1, got {batch_rows!r}")
    return Path(where)


def sync_datastore(
    client: Any,
    datastore_id: str,
    root: str | os.PathLike[str],
    *,
    full: bool = False,
    overlap: timedelta = DEFAULT_OVERLAP,
    include_phi: bool = False,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
    max_workers: int = 8,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    batch_rows: int = BATCH_ROWS,
    processes: Processes = None,
) -> SyncResult:
    """Bring a partitioned Parquet dataset of a datastore's versions up to date.

    The first sync of a folder stores every version of every image set (as
    :func:`fetch_datastore` would fetch them). Each later sync searches only the image
    sets updated since the dataset's high-water mark (less ``overlap``), fetches the
    histories of those that changed, appends their new rows, and then moves the mark.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (as for :func:`fetch_versions`).
    datastore_id
        32 lower-case letters and digits; checked before any request.
    root
        A local folder: the dataset (``datastoreId=<id>/part-*.parquet``, as written by
        :func:`hi_widgets.export_dataset`) and its state file ``_hi_widgets_sync.json``.
        Several datastores can be synced into one folder.
    full
        Reconcile: list the whole datastore (one SearchImageSets request per 50 image
        sets) instead of the window, fetch every image set whose latest version differs
        from the dataset's, and look up every stored image set the listing no longer
        returns (a deletion is stored as a DELETED row). See the notes.
    overlap
        How far below the high-water mark each search starts, for clock skew between
        the service's hosts and for a search index that lags the writes. Image sets in
        the overlap that did not change cost no fetch.
    include_phi, keep_dates, uid_key
        De-identification, as for :func:`hi_widgets.export_dataset` (de-identified
        unless ``include_phi=True``). They are recorded in the state file (the key only
        as an scrypt digest) and every later sync of the folder must pass the same.
    max_workers, quota_rates, progress, cancel, processes
        As for :func:`fetch_datastore`; ``progress`` counts the image sets fetched, and
        ``processes`` sends the fetches (not the search) from child processes.
    batch_rows
        Rows gathered before they are appended (bounds the memory of a first sync).

    Returns
    -------
    SyncResult
        What was searched, fetched and written, and the requests sent.

    Raises
    ------
    InvalidIdentifierError, ValueError, TypeError
        Before any request: a bad argument, an S3 root, or de-identification settings
        other than the dataset's.
    HealthImagingError
        If the first SearchImageSets page fails (nothing was written).

    Notes
    -----
    *Resuming.* The window searched is saved before any fetch, and each batch's image
    sets are checkpointed (``_hi_widgets_sync-<datastoreId>.checkpoint``) once their
    rows are in the dataset, so a sync that is killed or cancelled resumes on the next
    call without fetching again what it had written (except image sets still settling
    or deleted, fetched again so they are retried or reported); the mark moves only
    after every row is written, and rows already stored are skipped, so nothing is lost
    or duplicated.

    *Deletions.* SearchImageSets does not return deleted image sets, and AWS offers no
    feed of deletions. A sync notices a deletion only for an image set it saw inside the
    overlap window last time; ``full=True`` finds every one, at the cost of a listing.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> first = hw.sync_datastore(client, datastore_id, root)
    >>> first.fetched, first.rows_written > 0
    (30, True)
    >>> again = hw.sync_datastore(client, datastore_id, root)  # nothing changed since
    >>> again.fetched, again.rows_written, again.requests
    (0, 0, 1)
    """
    datastore_id = validate_datastore_id(datastore_id)
    folder = _check_arguments(root, overlap, batch_rows)
    check_options("auto", max_workers)
    check_processes(processes)
    limiter = make_limiter(quota_rates)
    state = load_state(folder)
    key_id = uid_key_id(uid_key)
    state.check_deidentification(include_phi, keep_dates, key_id, folder / "_hi_widgets_sync.json")
    known = state.datastores.get(datastore_id, DatastoreState())
    run = known.run if known.run and known.run.get("full") == bool(full) else None
    run = run or _new_run(known, overlap, full)

    stream = DatasetStream(
        folder, key=SYNC_KEY, include_phi=include_phi, keep_dates=keep_dates, uid_key=uid_key
    )
    stream.prepare(empty_versions_frame())  # the dataset can take the rows: before any request
    engine = Engine(single_attempt_client(client, max_workers), limiter, "auto", cancel)
    stored = _stored_image_sets(folder, datastore_id) if full else None
    try:
        found = _search(engine, datastore_id, run, known, stored)
    except Cancelled:
        found = _Search({}, {}, engine.counters.requests, None)
        return _result(folder, datastore_id, known, found, None, None, complete=False)
    checkpoint = checkpoint_path(folder, datastore_id)
    if not found.candidates:  # nothing changed: no file is written
        if found.error is None:
            after = _next_state(known, found, overlap, failed=set(), gone=set(), unsettled=set())
            if after.to_json() != known.to_json():
                _save(folder, state, datastore_id, after, include_phi, keep_dates, key_id)
            known = after
            with contextlib.suppress(FileNotFoundError):
                checkpoint.unlink()
        return _result(
            folder, datastore_id, known, found, None, None, complete=found.error is None
        )

    if known.run != run:  # a new window: a checkpoint left by another one is stale
        with contextlib.suppress(FileNotFoundError):
            checkpoint.unlink()
        known.run = run
        _save(folder, state, datastore_id, known, include_phi, keep_dates, key_id)
    # Without a uid_key, UIDs are replaced under a key derived from the checkpoint's, so a
    # resumed sync replaces them as the interrupted one did.
    derive = uid_key is None and not include_phi
    sink = SyncSink(stream, batch_rows=batch_rows, derive_uid_key=derive)
    fetch = run_plan(
        client,
        _plan(datastore_id, found.candidates, run),
        max_workers=max_workers,
        quota_rates=limiter,
        progress=progress,
        cancel=cancel,
        checkpoint=checkpoint,
        sink=sink,
        processes=processes,
    )
    # run_plan flushed the sink: the rows are stored before the mark moves.
    if (failure := sink.error) is not None:  # the call stopped; the checkpoint holds the rest
        raise failure
    complete = not fetch.pending and found.error is None
    if complete:
        errors = fetch.errors[fetch.errors["imageSetId"].notna()]
        known = _next_state(
            known,
            found,
            overlap,
            failed=set(errors["imageSetId"].astype(str)),
            gone=set(errors.loc[errors["error"] == _GONE, "imageSetId"].astype(str)),
            unsettled=sink.unsettled,
        )
        _save(folder, state, datastore_id, known, include_phi, keep_dates, key_id)
        with contextlib.suppress(FileNotFoundError):
            checkpoint.unlink()
    return _result(folder, datastore_id, known, found, fetch, sink, complete=complete)


def _save(
    folder: Path,
    state: Any,
    datastore_id: str,
    known: DatastoreState,
    include_phi: bool,
    keep_dates: bool,
    key_id: str | None,
) -> None:
    state.include_phi, state.keep_dates, state.uid_key_id = include_phi, keep_dates, key_id
    state.datastores[datastore_id] = known
    save_state(folder, state)


def _no_errors() -> pd.DataFrame:
    empty: pd.DataFrame = pd.DataFrame({name: pd.Series(dtype=object) for name in ERROR_COLUMNS})
    return empty


def _result(
    folder: Path,
    datastore_id: str,
    known: DatastoreState,
    found: _Search,
    fetch: FetchResult | None,
    sink: SyncSink | None,
    *,
    complete: bool,
) -> SyncResult:
    errors = _no_errors() if fetch is None else fetch.errors
    requests = found.requests + (0 if fetch is None else fetch.stats.requests)
    written = None if sink is None else sink.summary()
    return SyncResult(
        root=str(folder),
        datastore_id=datastore_id,
        high_water_mark=known.high_water_mark,
        searched=len(found.seen),
        fetched=0 if fetch is None else fetch.stats.completed,
        rows_written=0 if written is None else written.rows_written,
        rows_skipped=0 if written is None else written.rows_skipped,
        deleted=() if sink is None else tuple(sorted(sink.deleted)),
        retry=tuple(known.retry),
        requests=requests,
        complete=complete,
        errors=errors,
        files=() if written is None else written.files,
    )
