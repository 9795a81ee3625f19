"""Fetch the version histories of many image sets at the account's request quota.

:func:`fetch_versions` runs a pool of threads over one client. Every request first takes a
token from a per-operation :class:`~hi_widgets.ratelimit.RateLimiter` (published quotas by
default), so the pool sends as fast as the quota allows and no faster. Throttling, 5xx
answers and dropped connections are retried here, with exponential backoff and full
jitter, and each throttle slows the operation's bucket down. Every other error is recorded
for its image set, and the other image sets carry on.

:func:`refresh` brings a versions frame up to date with far fewer requests: it asks
SearchImageSets which image sets changed since the newest timestamp in the frame, and
lists only those (newest first, stopping at the first version it already knows).

Retries and the client's own retries
------------------------------------
The retry and rate logic lives here, so botocore must not retry underneath it: a botocore
retry would bypass the token bucket and sleep on its own schedule. When the client passed
in retries (its ``retries`` config allows more than one attempt, as boto3's default and
:func:`hi_widgets.make_client`'s default do), the functions here build a twin client for
the duration of the call: same credentials object (refreshing credentials keep
refreshing), region, endpoint and configuration, but one attempt per request and a
connection pool as large as ``max_workers``. Event handlers registered on the original
client (including a ``botocore.stub.Stubber``) are not copied: pass a client built with
``make_client(max_attempts=1)`` to have yours used as is.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import botocore.session
import numpy as np
import pandas as pd
from botocore.config import Config

from .errors import (
    AccessDeniedError,
    ConnectionFailedError,
    HealthImagingError,
    InternalServerError,
    InvalidIdentifierError,
    ResourceNotFoundError,
    ThrottlingError,
    translate,
)
from .frames import versions_frame
from .ids import validate_datastore_id, validate_image_set_id
from .model import SERVICE_NAME
from .ratelimit import RateLimiter
from .records import RECORD_FIELDS, normalize_image_set

__all__ = [
    "ERROR_COLUMNS",
    "FetchResult",
    "FetchStats",
    "fetch_versions",
    "refresh",
]

log = logging.getLogger(__name__)

Strategy = Literal["auto", "list", "get"]
STRATEGIES: tuple[str, ...] = ("auto", "list", "get")
Item = tuple[str, str]
ProgressCallback = Callable[[int, int, Item], object]

PAGE_SIZE = 50
"""maxResults of ListImageSetVersions and SearchImageSets (the service's maximum)."""

MAX_ATTEMPTS = 8
"""Attempts per request for retryable errors (throttling, 5xx, dropped connections)."""

BACKOFF_BASE = 0.1
"""Seconds: the n-th retry waits a uniformly random time in [0, base * 2**(n - 1)]."""

BACKOFF_CAP = 10.0
"""Seconds: upper bound of one backoff wait."""

ERROR_COLUMNS: tuple[str, ...] = ("datastoreId", "imageSetId", "error", "message", "retryable")
"""Columns of :attr:`FetchResult.errors`."""

_SETTLED_STATES = frozenset({"ACTIVE", "DELETED"})


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class FetchStats:
    """Counters of one :func:`fetch_versions` or :func:`refresh` call.

    Attributes
    ----------
    items
        Distinct image sets asked for.
    completed
        Image sets whose whole history (or, for refresh, every change) was fetched.
    failed
        Image sets that ended with an error (see :attr:`FetchResult.errors`).
    pending
        Image sets not (completely) fetched because the call was cancelled.
    versions
        Rows fetched by this call (for refresh: new or changed versions only).
    requests
        HTTP requests sent, retries included.
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
        """Return a one-line human summary."""
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
class FetchResult:
    """What :func:`fetch_versions` and :func:`refresh` return: versions, errors, counters.

    Attributes
    ----------
    frame
        The versions DataFrame (:func:`hi_widgets.frames.versions_frame`): one row per
        version, each exactly once. For :func:`refresh`, the whole merged frame.
    errors
        One row per failed image set, columns :data:`ERROR_COLUMNS`: ``datastoreId``,
        ``imageSetId``, ``error`` (the :mod:`hi_widgets.errors` class name), ``message``
        (``string``) and ``retryable`` (``boolean``). Empty, with that schema, when
        nothing failed.
    stats
        :class:`FetchStats` of this call.
    pending
        (datastoreId, imageSetId) pairs not fetched because of cancellation; pass them
        to :func:`fetch_versions` again to resume.
    """

    frame: pd.DataFrame
    errors: pd.DataFrame
    stats: FetchStats
    pending: tuple[Item, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no image set failed and the call was not cancelled."""
        return self.stats.failed == 0 and not self.stats.cancelled

    def summary(self) -> str:
        """Return a one-line human summary (see :meth:`FetchStats.summary`)."""
        return self.stats.summary()

    def __repr__(self) -> str:
        return f"<FetchResult {self.summary()}>"


def _errors_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    data = {
        column: pd.array([row[column] for row in rows], dtype="string")
        for column in ERROR_COLUMNS[:-1]
    }
    data["retryable"] = pd.array([row["retryable"] for row in rows], dtype="boolean")
    return pd.DataFrame(data, columns=list(ERROR_COLUMNS), index=pd.RangeIndex(len(rows)))


# -------------------------------------------------------------------------------- input


def _pairs(items: Any) -> list[tuple[Any, Any, str]]:
    """Return (datastoreId, imageSetId, label) for each input item, label naming it."""
    if isinstance(items, pd.DataFrame):
        missing = [c for c in ("datastoreId", "imageSetId") if c not in items.columns]
        if missing:
            raise ValueError(
                f"items DataFrame needs columns datastoreId and imageSetId; missing {missing}"
            )
        return [
            (ds, iset, f"row {label!r}")
            for label, ds, iset in zip(
                items.index, items["datastoreId"], items["imageSetId"], strict=True
            )
        ]
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(
            "items must be (datastoreId, imageSetId) pairs or a DataFrame with those "
            f"columns, got {type(items).__name__}"
        )
    pairs = []
    for position, item in enumerate(items):
        if isinstance(item, (str, bytes)) or not isinstance(item, Iterable):
            raise TypeError(
                f"item {position} must be a (datastoreId, imageSetId) pair, got {item!r}"
            )
        values = tuple(item)
        if len(values) != 2:
            raise TypeError(
                f"item {position} must be a (datastoreId, imageSetId) pair, got {item!r}"
            )
        pairs.append((values[0], values[1], f"item {position}"))
    return pairs


def _validated(items: Any) -> list[Item]:
    """Validate every identifier before any request; return distinct pairs in order."""
    seen: dict[Item, None] = {}
    bad: list[tuple[str, InvalidIdentifierError]] = []
    pairs = _pairs(items)
    for ds, iset, label in pairs:
        try:
            pair = (validate_datastore_id(ds), validate_image_set_id(iset))
        except InvalidIdentifierError as error:
            bad.append((label, error))
            continue
        seen.setdefault(pair, None)
    if bad:
        label, first = bad[0]
        shown = "; ".join(f"{where}: {error.message}" for where, error in bad[:5])
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        error = InvalidIdentifierError(first.field, first.value, first.expected)
        error.message = (
            f"{len(bad)} of {len(pairs)} items have an invalid identifier; nothing was "
            f"fetched. {shown}{more}"
        )
        error.args = (error.message,)
        raise error
    return list(seen)


def _check_options(strategy: str, max_workers: int) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")


def _limiter(rates: Mapping[str, tuple[float, float]] | RateLimiter | None) -> RateLimiter:
    if isinstance(rates, RateLimiter):
        return rates
    return RateLimiter(rates)


# ------------------------------------------------------------------------------- client


class _GivenCredentials:
    """A botocore credential provider component that hands out one credentials object."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials


def _single_attempt_client(client: Any, max_workers: int) -> Any:
    """Return ``client`` if botocore does not retry on it, else a single-attempt twin."""
    config = client.meta.config
    retries = config.retries or {}
    if retries.get("total_max_attempts") == 1:
        return client
    getter = getattr(client, "_get_credentials", None)
    if getter is None:  # pragma: no cover - a botocore without the accessor
        log.info("cannot derive a single-attempt client; botocore retries stay on")
        return client
    session = botocore.session.Session()
    session.register_component("credential_provider", _GivenCredentials(getter()))
    pool = max(max_workers, config.max_pool_connections or 10)
    twin_config = config.merge(
        Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=pool)
    )
    return session.create_client(
        SERVICE_NAME,
        region_name=client.meta.region_name,
        endpoint_url=client.meta.endpoint_url,
        config=twin_config,
    )


def _close_twin(used: Any, given: Any) -> None:
    """Close the connection pool of a twin client (never the caller's own client)."""
    if used is not given:
        used.close()


# ------------------------------------------------------------------------------- engine


class _Cancelled(Exception):
    """Internal: the walk of one image set stopped because of cancellation."""


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.retries = self.throttles = 0
        self.server_errors = self.connection_errors = 0

    def add(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


Signature = tuple[Any, Any, Any]


def _signature(record: Mapping[str, Any]) -> Signature:
    updated = record.get("updatedAt")
    updated = None if updated is None or pd.isna(updated) else pd.Timestamp(updated)
    status = record.get("imageSetWorkflowStatus")
    state = record.get("imageSetState")
    return (
        updated,
        None if status is None or pd.isna(status) else str(status),
        None if state is None or pd.isna(state) else str(state),
    )


def _settled(signature: Signature) -> bool:
    _, status, state = signature
    if status is not None and status.endswith("ING"):
        return False
    return state is None or state in _SETTLED_STATES


class _Engine:
    """Shared state of one call: client, limiter, counters, cancellation, backoff RNG."""

    def __init__(
        self,
        client: Any,
        limiter: RateLimiter,
        strategy: str,
        cancel: threading.Event | None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.strategy = strategy
        self.cancel = cancel
        self.abort = threading.Event()
        self.counters = _Counters()
        self._random = random.Random()

    def stopped(self) -> bool:
        return self.abort.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, waking within ~50 ms of a cancel or an abort."""
        deadline = time.monotonic() + seconds
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            (self.cancel or self.abort).wait(min(remaining, 0.05))

    def call(self, operation: str, method: str, params: dict[str, Any], ids: dict) -> dict:
        """Send one request through the bucket, retrying retryable failures."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.stopped():
                raise _Cancelled
            sent_at = self.limiter.acquire(operation, self.cancel)
            if sent_at is None or self.stopped():  # cancelled while waiting for the token
                raise _Cancelled
            self.counters.add("requests")
            try:
                with translate(operation, **ids):
                    return getattr(self.client, method)(**params)
            except HealthImagingError as error:
                if isinstance(error, ThrottlingError):
                    self.counters.add("throttles")
                    self.limiter.on_throttle(operation, sent_at)
                elif isinstance(error, InternalServerError):
                    self.counters.add("server_errors")
                elif isinstance(error, ConnectionFailedError):
                    self.counters.add("connection_errors")
                if not error.retryable or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("%s attempt %d failed (%s); retrying", operation, attempt, error.code)
                self.counters.add("retries")
                delay = self._random.uniform(
                    0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- walks ----------------------------------------------------------------------

    def versions(
        self, datastore_id: str, image_set_id: str, known: Mapping[int, Signature] | None
    ) -> list[dict[str, Any]]:
        """Return the versions of one image set (only new/changed ones when ``known``)."""
        if self.strategy == "get":
            return self._walk_get(datastore_id, image_set_id, known)
        try:
            return self._walk_list(datastore_id, image_set_id, known)
        except AccessDeniedError:
            if self.strategy == "list":
                raise
            log.info("ListImageSetVersions denied for %s; using GetImageSet", image_set_id)
            return self._walk_get(datastore_id, image_set_id, known)

    @staticmethod
    def _is_known(record: Mapping[str, Any], known: Mapping[int, Signature] | None) -> bool:
        if known is None:
            return False
        signature = known.get(record["versionId"])
        return signature is not None and signature == _signature(record) and _settled(signature)

    def _walk_list(
        self, datastore_id: str, image_set_id: str, known: Mapping[int, Signature] | None
    ) -> list[dict[str, Any]]:
        ids = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        records: dict[int, dict[str, Any]] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {**ids, "maxResults": PAGE_SIZE}
            if token:
                params["nextToken"] = token
            page = self.call("ListImageSetVersions", "list_image_set_versions", params, ids)
            for item in page.get("imageSetPropertiesList", []):
                record = normalize_image_set(
                    item, datastore_id=datastore_id, image_set_id=image_set_id
                )
                if self._is_known(record, known):
                    return list(records.values())
                records.setdefault(record["versionId"], record)
            token = page.get("nextToken")
            if not token:
                return list(records.values())

    def _get(self, datastore_id: str, image_set_id: str, version: int | None) -> dict:
        params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        ids = dict(params)
        if version is not None:
            params["versionId"] = ids["versionId"] = str(version)
        response = self.call("GetImageSet", "get_image_set", params, ids)
        return normalize_image_set(response, datastore_id=datastore_id, image_set_id=image_set_id)

    def _walk_get(
        self, datastore_id: str, image_set_id: str, known: Mapping[int, Signature] | None
    ) -> list[dict[str, Any]]:
        latest = self._get(datastore_id, image_set_id, None)
        if self._is_known(latest, known):
            return []
        records = [latest]
        for number in range(latest["versionId"] - 1, 0, -1):
            try:
                record = self._get(datastore_id, image_set_id, number)
            except ResourceNotFoundError:
                log.info("image set %s has no version %d; skipped", image_set_id, number)
                continue
            if self._is_known(record, known):
                break
            records.append(record)
        return records


@dataclass
class _Outcome:
    records: list[dict[str, Any]] | None = None
    error: BaseException | None = None


def _run(
    engine: _Engine,
    items: list[Item],
    known: Mapping[Item, Mapping[int, Signature]] | None,
    max_workers: int,
    progress: ProgressCallback | None,
) -> dict[Item, _Outcome]:
    """Fetch every item on a thread pool; return outcomes of the items that finished."""
    outcomes: dict[Item, _Outcome] = {}
    lock = threading.Lock()
    total = len(items)
    done = 0

    def work(item: Item) -> None:
        nonlocal done
        if engine.stopped():
            return
        outcome = _Outcome()
        try:
            outcome.records = engine.versions(*item, None if known is None else known[item])
        except _Cancelled:
            return
        except HealthImagingError as error:
            outcome.error = error
        except Exception as error:  # one item's failure must not lose the others
            log.exception("unexpected error fetching %s", item[1])
            outcome.error = error
        with lock:
            outcomes[item] = outcome
            done += 1
            count = done
        if progress is not None:
            try:
                progress(count, total, item)
            except BaseException:
                engine.abort.set()  # stop every worker now, not when the caller sees it
                raise

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hi-fetch") as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            engine.abort.set()  # a progress callback raised, or KeyboardInterrupt here
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _error_row(item: Item, error: BaseException) -> dict[str, Any]:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return {
        "datastoreId": item[0],
        "imageSetId": item[1],
        "error": type(error).__name__,
        "message": message,
        "retryable": bool(getattr(error, "retryable", False)),
    }


def _result(
    engine: _Engine,
    items: list[Item],
    outcomes: dict[Item, _Outcome],
    frame: pd.DataFrame,
    versions: int,
    started: float,
    listed: list[Item] | None = None,
) -> FetchResult:
    """Assemble the result; ``listed`` are the items actually walked (default: all)."""
    listed = items if listed is None else listed
    order = {item: i for i, item in enumerate(listed)}
    failed = sorted(
        (item for item, outcome in outcomes.items() if outcome.error is not None),
        key=order.__getitem__,
    )
    errors = [_error_row(item, outcomes[item].error) for item in failed]  # type: ignore[arg-type]
    pending = tuple(item for item in listed if item not in outcomes)
    c = engine.counters
    stats = FetchStats(
        items=len(items),
        completed=len(items) - len(failed) - len(pending),
        failed=len(failed),
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
    return FetchResult(frame, _errors_frame(errors), stats, pending)


# ---------------------------------------------------------------------------- public API


def fetch_versions(
    client: Any,
    items: Iterable[tuple[str, str]] | pd.DataFrame,
    *,
    strategy: Strategy = "auto",
    max_workers: int = 8,
    rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> FetchResult:
    """Fetch every version of many image sets, as fast as the request quota allows.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (see :func:`hi_widgets.make_client`). If it
        retries on its own, a single-attempt twin is used instead (module notes).
    items
        (datastoreId, imageSetId) pairs, or a DataFrame with those columns (for example
        a search result or a versions frame). Duplicates are fetched once. Every
        identifier is checked before the first request.
    strategy
        ``"list"``: ListImageSetVersions, every page. ``"get"``: GetImageSet for the
        latest version, then each older version number. ``"auto"``: list, falling back
        to get for an image set whose listing is denied.
    max_workers
        Threads sending requests. The quota, not this, bounds the speed: a few more
        threads than ``rate * latency`` keep the quota busy.
    rates
        Quota overrides ``{"ListImageSetVersions": (rate, burst), ...}`` for an account
        with raised quotas, or a :class:`~hi_widgets.ratelimit.RateLimiter` to share
        between concurrent calls (quotas are per account and region). Default: the
        published quotas.
    progress
        Called as ``progress(done, total, (datastoreId, imageSetId))`` each time an
        image set finishes or fails. It is called **from worker threads**, one call at
        a time per thread: make it thread-safe (a tqdm bar's ``update`` is), and do not
        touch ipywidgets' ``Output`` with ``with out:`` from it. If it raises, the fetch
        stops and the exception propagates.
    cancel
        When set, workers stop before their next request (a request already on the wire
        finishes), and the result holds what was complete so far.

    Returns
    -------
    FetchResult
        ``.frame``: every version of every completed image set, exactly once.
        ``.errors``: one row per failed image set. ``.stats``: request counters.
        ``.pending``: image sets left undone by cancellation.

    Raises
    ------
    InvalidIdentifierError
        Before any request, naming every malformed item (up to five).
    ValueError, TypeError
        For a bad ``strategy``, ``max_workers``, ``rates`` or ``items`` shape.

    Notes
    -----
    Retryable failures (ThrottlingException, 5xx, dropped connections) are retried up to
    :data:`MAX_ATTEMPTS` times per request with full-jitter exponential backoff; a
    throttle also empties the operation's bucket and cuts its rate (see
    :mod:`hi_widgets.ratelimit`). Any other error, or a retryable one that persists,
    fails its image set only.

    An image set that fails part-way through its pages keeps **none** of its versions:
    it is either complete in ``.frame`` or listed in ``.errors``, never both, so a frame
    never silently holds a partial history. The same holds for cancellation: an image
    set being fetched when ``cancel`` is set goes to ``.pending``.

    Examples
    --------
    >>> result = fetch_versions(client, [(datastore_id, image_set_id)])  # doctest: +SKIP
    >>> result.frame.shape, result.errors.empty  # doctest: +SKIP
    """
    started = time.monotonic()
    _check_options(strategy, max_workers)
    limiter = _limiter(rates)
    pairs = _validated(items)
    if not pairs:
        engine = _Engine(client, limiter, strategy, cancel)
        return _result(engine, [], {}, versions_frame([]), 0, started)
    engine = _Engine(_single_attempt_client(client, max_workers), limiter, strategy, cancel)
    try:
        outcomes = _run(engine, pairs, None, max_workers, progress)
    finally:
        _close_twin(engine.client, client)
    records = [r for item in pairs if item in outcomes for r in outcomes[item].records or ()]
    frame = versions_frame(records)
    return _result(engine, pairs, outcomes, frame, len(frame), started)


def _known_versions(frame: pd.DataFrame) -> dict[Item, dict[int, Signature]]:
    known: dict[Item, dict[int, Signature]] = {}
    columns = [
        "datastoreId",
        "imageSetId",
        "versionId",
        "updatedAt",
        "imageSetWorkflowStatus",
        "imageSetState",
    ]
    for row in frame[columns].itertuples(index=False):
        item = (str(row.datastoreId), str(row.imageSetId))
        versions = known.setdefault(item, {})
        if pd.isna(row.versionId):
            continue
        versions[int(row.versionId)] = _signature(row._asdict())
    return known


def _changed_since(engine: _Engine, datastore_id: str, since: datetime) -> set[str] | None:
    """Image sets of a datastore updated at or after ``since``; None if the search failed."""
    upper = datetime.now(timezone.utc) + timedelta(days=1)
    ids = {"datastoreId": datastore_id}
    criteria = {
        "filters": [
            {"values": [{"updatedAt": since}, {"updatedAt": upper}], "operator": "BETWEEN"}
        ]
    }
    found: set[str] = set()
    token: str | None = None
    try:
        while True:
            params: dict[str, Any] = {**ids, "searchCriteria": criteria, "maxResults": PAGE_SIZE}
            if token:
                params["nextToken"] = token
            page = engine.call("SearchImageSets", "search_image_sets", params, ids)
            found.update(s["imageSetId"] for s in page.get("imageSetsMetadataSummaries", []))
            token = page.get("nextToken")
            if not token:
                return found
    except HealthImagingError as error:
        log.info("SearchImageSets failed on %s (%s); listing every image set", datastore_id, error)
        return None


def refresh(
    client: Any,
    frame: pd.DataFrame,
    *,
    strategy: Strategy = "auto",
    max_workers: int = 8,
    rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    search: bool = True,
) -> FetchResult:
    """Bring a versions frame up to date, fetching only what changed.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (as for :func:`fetch_versions`).
    frame
        A versions frame, e.g. ``fetch_versions(...).frame`` or one read back from a
        file. Its image sets are refreshed; image sets not in it are not added.
    strategy, max_workers, rates, progress, cancel
        As for :func:`fetch_versions`; ``progress`` counts the image sets re-listed.
    search
        Ask SearchImageSets (one request per 50 results per datastore) which image sets
        were updated at or after the newest ``updatedAt`` of the frame's datastore, and
        list only those plus the ones whose known state may still change. If False, or
        if the search fails (e.g. it is denied), every image set is listed.

    Returns
    -------
    FetchResult
        ``.frame``: the merged frame, fetched rows replacing the old rows of the same
        version. ``.stats``: only this call's requests; ``.stats.versions`` counts the
        new or changed rows. ``.errors``: image sets that failed (their old rows are
        kept as they were). A failed search is not an error: it is logged, and every
        image set of that datastore is listed instead.

    Notes
    -----
    Each listed image set is read newest first, and paging stops at the first version
    already in the frame with the same ``updatedAt``, workflow status and state. A
    version whose known state may still change (a workflow status ending in ``ING``,
    such as UPDATING, COPYING, DELETING or IMPORTING, or a state other than ACTIVE or
    DELETED, such as LOCKED) never stops the walk, so it is always fetched again.

    The search compares the service's own timestamps (the frame's newest ``updatedAt``,
    inclusive), so the client's clock does not matter. SearchImageSets does not return
    deleted image sets: an image set deleted after the frame was fetched while it was
    settled is not noticed (refresh with ``search=False`` to catch that).
    """
    started = time.monotonic()
    _check_options(strategy, max_workers)
    limiter = _limiter(rates)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a versions DataFrame, got {type(frame).__name__}")
    old = versions_frame(frame)
    _validated(old[["datastoreId", "imageSetId"]])
    known = _known_versions(old)
    items = list(known)
    if not items:
        return _result(_Engine(client, limiter, strategy, cancel), [], {}, old, 0, started)
    engine = _Engine(_single_attempt_client(client, max_workers), limiter, strategy, cancel)
    try:
        candidates = _refresh_candidates(engine, old, known) if search else items
        outcomes = _run(engine, candidates, known, max_workers, progress)
    finally:
        _close_twin(engine.client, client)
    fresh = [r for item in candidates if item in outcomes for r in outcomes[item].records or ()]
    merged = _merge(old, fresh) if fresh else old
    return _result(engine, items, outcomes, merged, len(fresh), started, candidates)


def _refresh_candidates(
    engine: _Engine, old: pd.DataFrame, known: Mapping[Item, Mapping[int, Signature]]
) -> list[Item]:
    """Image sets to list again: changed since the frame (per search), or unsettled."""
    items = list(known)
    wanted: set[Item] = set()
    for datastore_id in dict.fromkeys(ds for ds, _ in items):
        since = old.loc[old["datastoreId"] == datastore_id, "updatedAt"].max()
        changed: set[str] | None = None
        if not pd.isna(since):
            try:
                changed = _changed_since(engine, datastore_id, since.to_pydatetime())
            except _Cancelled:
                return items  # nothing more is sent; every item ends up pending
        for item in items:
            if item[0] != datastore_id:
                continue
            versions = known[item]
            unsettled = any(not _settled(signature) for signature in versions.values())
            if changed is None or item[1] in changed or unsettled or not versions:
                wanted.add(item)
    return [item for item in items if item in wanted]


def _merge(old: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Old rows plus fetched records; a fetched version replaces its old row."""
    columns = {}
    for name in RECORD_FIELDS:
        before = old[name].to_numpy(dtype=object, na_value=None)
        after = np.empty(len(records), dtype=object)
        after[:] = [record[name] for record in records]
        columns[name] = np.concatenate([before, after])
    return versions_frame(pd.DataFrame(columns))
