"""Fetching for :func:`hi_widgets.changes.changes_frame`: versions, then every document.

ListImageSetVersions pages are read in the calling thread; each version's
GetImageSetMetadata is handed to a small thread pool as soon as its page arrives, so the
second page overlaps with the first page's documents. Every request goes through
:class:`_Sender`, which mirrors the bulk engine's rate and retry policy
(:mod:`hi_widgets.bulk`).
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from .errors import HealthImagingError, ResourceNotFoundError, ThrottlingError, translate
from .quotas import quota_for
from .ratelimit import RateLimiter
from .records import normalize_image_set

log = logging.getLogger(__name__)

_METHODS = {
    "ListImageSetVersions": "list_image_set_versions",
    "GetImageSetMetadata": "get_image_set_metadata",
}
PAGE_SIZE = 50  # ListImageSetVersions' maximum maxResults
MAX_ATTEMPTS = 8
BACKOFF_BASE = 0.1
BACKOFF_CAP = 10.0

ProgressCallback = Callable[[int, int], object]


class Cancelled(Exception):
    """Internal: a request was not sent because the call was cancelled or aborted."""


class Sender:
    """Sends one request at a time through the rate limiter, retrying what is retryable.

    It mirrors the bulk engine's policy (:mod:`hi_widgets.bulk`): a token of the
    operation's bucket before every attempt; ThrottlingException, 5xx answers and dropped
    connections retried up to :data:`MAX_ATTEMPTS` times with full-jitter exponential
    backoff (``uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**(attempt - 1)))``); a throttle
    also empties the bucket and cuts its rate; any other error raised at once.
    """

    def __init__(self, client: Any, limiter: RateLimiter, cancel: threading.Event | None):
        self.client = client
        self.limiter = limiter
        self.cancel = cancel
        self.abort = threading.Event()
        self._random = random.Random()

    def stopped(self) -> bool:
        return self.abort.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            (self.cancel or self.abort).wait(min(remaining, 0.05))

    def send(self, operation: str, params: dict[str, Any], ids: dict[str, Any]) -> dict:
        method = getattr(self.client, _METHODS[operation])
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.stopped():
                raise Cancelled
            sent_at = self.limiter.acquire(operation, self.cancel)
            if sent_at is None or self.stopped():
                raise Cancelled
            try:
                with translate(operation, **ids):
                    response = method(**params)
                    if operation == "GetImageSetMetadata":
                        with response["imageSetMetadataBlob"] as body:
                            response["imageSetMetadataBlob"] = body.read()
                    return response
            except HealthImagingError as error:
                if isinstance(error, ThrottlingError):
                    self.limiter.on_throttle(operation, sent_at)
                if not error.retryable or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("%s attempt %d failed (%s); retrying", operation, attempt, error.code)
                self._sleep(
                    self._random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
                )
        raise AssertionError("unreachable")  # pragma: no cover


def _decode_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    raw = response["imageSetMetadataBlob"]
    if raw[:2] == b"\x1f\x8b" or response.get("contentEncoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def make_limiter(rates: Mapping[str, tuple[float, float]] | RateLimiter | None) -> RateLimiter:
    if isinstance(rates, RateLimiter):
        return rates
    quotas = {operation: quota_for(operation, rates) for operation in _METHODS}
    return RateLimiter({**(rates or {}), **quotas})


def _list_pages(sender: Sender, ids: dict[str, str]) -> Iterable[list[dict[str, Any]]]:
    token: str | None = None
    while True:
        params: dict[str, Any] = {**ids, "maxResults": PAGE_SIZE}
        if token:
            params["nextToken"] = token
        page = sender.send("ListImageSetVersions", params, ids)
        yield [
            normalize_image_set(
                item, datastore_id=ids["datastoreId"], image_set_id=ids["imageSetId"]
            )
            for item in page.get("imageSetPropertiesList", [])
        ]
        token = page.get("nextToken")
        if not token:
            return


def fetch_documents(
    sender: Sender,
    ids: dict[str, str],
    wanted: list[int] | None,
    max_workers: int,
    progress: ProgressCallback | None,
    parse: Callable[[dict[str, Any]], Any],
) -> tuple[dict[int, dict[str, Any]], dict[int, Any]]:
    """List the versions and fetch their documents as pages arrive.

    Returns the records of the versions listed (by version number), and for each version
    fetched ``parse(document)``, the error that stopped it, or None if cancelled.
    ``parse`` runs in the worker, while the other workers wait on the network.
    """
    records: dict[int, dict[str, Any]] = {}
    futures: dict[Future, int] = {}
    listed: set[int] = set()
    selection = None if wanted is None else set(wanted)

    def fetch(version_id: int) -> Any:
        params = {**ids, "versionId": str(version_id)}
        try:
            return parse(_decode_metadata(sender.send("GetImageSetMetadata", params, params)))
        except Cancelled:
            return None
        except HealthImagingError as error:
            return error
        except Exception as error:  # a corrupt document must not lose the other versions
            log.warning("metadata of version %d unreadable: %s", version_id, error)
            return error

    outcomes: dict[int, Any] = {}
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hi-changes") as pool:
        try:
            try:
                for page in _list_pages(sender, ids):
                    for record in page:
                        version_id = record["versionId"]
                        listed.add(version_id)
                        if version_id in records or (
                            selection is not None and version_id not in selection
                        ):
                            continue
                        records[version_id] = record
                        futures[pool.submit(fetch, version_id)] = version_id
            except Cancelled:
                pass
            missing = [] if sender.stopped() or selection is None else sorted(selection - listed)
            if missing:
                raise ResourceNotFoundError(
                    f"Not found: version(s) {', '.join(map(str, missing))} of image set "
                    f"{ids['imageSetId']} (versions=). The image set has versions "
                    f"{min(listed, default=0)} to {max(listed, default=0)}.",
                    operation="ListImageSetVersions",
                    identifiers=ids,
                )
            total = len(futures)
            for done, future in enumerate(as_completed(futures), start=1):
                outcomes[futures[future]] = future.result()
                if progress is not None:
                    progress(done, total)
        except BaseException:
            sender.abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return records, outcomes
