"""What a bulk call returns: :class:`FetchResult` (frame, errors, pending), :class:`FetchStats`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hi_widgets.api.items import Item
from hi_widgets.bulk._pool import Outcome
from hi_widgets.bulk.engine import Engine

ERROR_COLUMNS: tuple[str, ...] = ("datastoreId", "imageSetId", "error", "message", "retryable")
"""Columns of :attr:`FetchResult.errors`."""


@dataclass(frozen=True)
class FetchStats:
    """Counters of one :func:`fetch_versions`, :func:`fetch_datastore` or :func:`refresh` call.

    Attributes
    ----------
    items
        Distinct image sets asked for.
    completed
        Image sets whose whole history (or, for refresh, every change) was fetched,
        including those read back from a checkpoint.
    failed
        Rows of :attr:`FetchResult.errors`: image sets that ended with an error, and a
        datastore search that stopped early.
    pending
        Image sets not (completely) fetched because the call was cancelled.
    versions
        Rows of :attr:`FetchResult.frame` (for refresh: new or changed versions only).
    requests
        HTTP requests sent by this call, retries included.
    retries
        Requests that were repeats of a failed one.
    throttles
        ThrottlingException answers (all retried; each slowed the bucket down).
    server_errors
        5xx answers (retried).
    connection_errors
        Dropped or failed connections (retried).
    elapsed
        Wall time of the call, in seconds.
    cancelled
        Whether the call was cancelled before every image set was done.

    Examples
    --------
    >>> stats = hw.fetch_versions(client, [(datastore_id, image_set_id)]).stats
    >>> stats.completed, stats.versions, stats.requests  # 73 versions: two pages of 50
    (1, 73, 2)
    """

    items: int = 0
    completed: int = 0
    failed: int = 0
    pending: int = 0
    versions: int = 0
    requests: int = 0
    retries: int = 0
    throttles: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    elapsed: float = 0.0
    cancelled: bool = False

    def summary(self) -> str:
        """Return a one-line human summary.

        Returns
        -------
        str
            Versions, image sets done and failed, requests, retries and the time taken.
        """
        parts = [f"{self.versions} versions of {self.completed}/{self.items} image sets"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.cancelled:
            parts.append(f"cancelled with {self.pending} pending")
        rate = self.requests / self.elapsed if self.elapsed > 0 else 0.0
        parts.append(
            f"{self.requests} requests ({self.retries} retries, {self.throttles} throttled) "
            f"in {self.elapsed:.2f} s, {rate:.1f} req/s"
        )
        return "; ".join(parts)


@dataclass(frozen=True)
class StreamedDataset:
    """What a streaming call (``fetch_datastore(..., dataset=ROOT)``) wrote to its dataset.

    Attributes
    ----------
    root
        The dataset root as given.
    files
        The files this call wrote (local paths or ``s3://`` URIs).
    batches
        Batches written (each one :func:`~hi_widgets.export.dataset.export_dataset`-like
        append, of whole image sets).
    rows_written
        Versions this call added to the dataset.
    rows_skipped
        Versions fetched that the dataset already held (left as stored): those of a
        batch written by a killed run just before its checkpoint recorded it, or of an
        earlier run into the same dataset.

    Examples
    --------
    >>> import tempfile
    >>> written = hw.fetch_datastore(client, datastore_id, dataset=tempfile.mkdtemp()).dataset
    >>> type(written).__name__, written.batches, written.rows_skipped
    ('StreamedDataset', 1, 0)
    """

    root: str
    files: tuple[str, ...]
    batches: int
    rows_written: int
    rows_skipped: int


@dataclass(frozen=True)
class FetchResult:
    """What the bulk functions return: versions, errors, counters.

    Attributes
    ----------
    frame
        The versions DataFrame (:func:`hi_widgets.api.tables.versions_frame`): one row per
        version, each exactly once. For :func:`refresh`, the whole merged frame.
    errors
        One row per failed image set, columns :data:`ERROR_COLUMNS`: ``datastoreId``,
        ``imageSetId``, ``error`` (the :mod:`hi_widgets.api.errors` class name), ``message``
        (``string``) and ``retryable`` (``boolean``). Empty, with that schema, when
        nothing failed.
    stats
        :class:`FetchStats` of this call.
    pending
        (datastoreId, imageSetId) pairs not fetched because of cancellation; pass them
        to :func:`fetch_versions` again to resume.
    dataset
        For ``fetch_datastore(..., dataset=ROOT)``: what was written to the dataset
        (:class:`StreamedDataset`); :attr:`frame` is then empty. None otherwise.
    warnings
        What went wrong without losing fetched data, one sentence each (also logged when
        it happened): a checkpoint that could not be written (the call went on in memory;
        the sentence names the file and the error), or checkpoint lines that did not
        verify and were fetched again.

    Examples
    --------
    >>> result = hw.fetch_versions(client, [(datastore_id, image_set_id)])
    >>> type(result).__name__, len(result.frame), result.errors.empty, result.pending
    ('FetchResult', 73, True, ())
    """

    frame: pd.DataFrame
    errors: pd.DataFrame
    stats: FetchStats
    pending: tuple[Item, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    dataset: StreamedDataset | None = None

    @property
    def ok(self) -> bool:
        """True when no image set failed and the call was not cancelled."""
        return self.stats.failed == 0 and not self.stats.cancelled

    def summary(self) -> str:
        """Return a one-line human summary.

        Returns
        -------
        str
            :meth:`FetchStats.summary` of :attr:`stats`.
        """
        summary = self.stats.summary()
        if self.warnings:
            summary += f"; {len(self.warnings)} warning(s)"
        return summary

    def __repr__(self) -> str:
        return f"<FetchResult {self.summary()}>"


def _errors_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {
        column: pd.array([row[column] for row in rows], dtype="string")
        for column in ERROR_COLUMNS[:-1]
    }
    data["retryable"] = pd.array([row["retryable"] for row in rows], dtype="boolean")
    result: pd.DataFrame = pd.DataFrame(
        data, columns=list(ERROR_COLUMNS), index=pd.RangeIndex(len(rows))
    )
    return result


# -------------------------------------------------------------------------------- input


def _error_row(item: Item, error: BaseException) -> dict[str, Any]:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return {
        "datastoreId": item[0],
        "imageSetId": item[1],
        "error": type(error).__name__,
        "message": message,
        "retryable": bool(getattr(error, "retryable", False)),
    }


def assemble(
    engine: Engine,
    items: list[Item],
    outcomes: dict[Item, Outcome],
    frame: pd.DataFrame,
    versions: int,
    started: float,
    walked: list[Item] | None = None,
    *,
    search_error: BaseException | None = None,
    warnings: tuple[str, ...] = (),
    dataset: StreamedDataset | None = None,
) -> FetchResult:
    """Assemble the result; ``walked`` are the items actually fetched (default: all).

    ``search_error``: the enumeration of a datastore stopped early; it is one more
    failure, in an error row without an image set. ``warnings``, ``dataset``: see
    :attr:`FetchResult.warnings`, :attr:`FetchResult.dataset`.
    """
    walked = items if walked is None else walked
    failed = [item for item, outcome in outcomes.items() if outcome.error is not None]
    if failed:  # in walk order (no index of every item when nothing failed: memory)
        order = {item: i for i, item in enumerate(walked)}
        failed.sort(key=order.__getitem__)
    errors = [_error_row(item, outcomes[item].error) for item in failed]  # type: ignore[arg-type]
    if search_error is not None:
        datastore_id = getattr(search_error, "identifiers", {}).get("datastoreId")
        errors.append(_error_row((datastore_id, None), search_error))  # type: ignore[arg-type]
    pending = tuple(item for item in walked if item not in outcomes)
    c = engine.counters
    stats = FetchStats(
        items=len(items),
        completed=len(items) - len(failed) - len(pending),
        failed=len(errors),
        pending=len(pending),
        versions=versions,
        requests=c.requests,
        retries=c.retries,
        throttles=c.throttles,
        server_errors=c.server_errors,
        connection_errors=c.connection_errors,
        elapsed=time.monotonic() - started,
        cancelled=bool(pending) and engine.stopped(),
    )
    return FetchResult(frame, _errors_frame(errors), stats, pending, warnings, dataset)
