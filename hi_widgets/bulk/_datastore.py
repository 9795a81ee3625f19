"""fetch_datastore: every image set of a datastore, spread over two operations' quotas.

SearchImageSets enumerates the image sets, and each summary carries the image set's
latest ``version``. HealthImaging's quotas are per operation, so the image sets are
routed as the pages arrive: one with v versions costs ``ceil(v / 50)`` ListImageSetVersions
requests or ``v`` GetImageSet requests, and :class:`_Router` sends each to the operation
whose queue (in seconds of its quota) it would finish first. Single-version image sets,
the common case, then keep the GetImageSet bucket as busy as the ListImageSetVersions
one, and a GetImageSet also returns imageSetArn, lastAccessedAt and storageTier.

Each lane has its own threads, so work waiting for one bucket's tokens never holds up
the other bucket.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..errors import AccessDeniedError, HealthImagingError
from ..frames import versions_frame
from ..ids import validate_datastore_id
from ..ratelimit import RateLimiter
from ..walk import PAGE_SIZE, Cancelled, get_version, search_summaries, walk_versions
from ._checkpoint import Checkpoint
from ._engine import Engine, check_options, make_limiter
from ._pool import Item, ItemProgress, Pool
from ._result import FetchResult, assemble
from ._twin import single_attempt_client

log = logging.getLogger(__name__)

LIST, GET = "list", "get"


class _Router:
    """Send each image set to the operation whose queue it would finish soonest."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._rate = {
            LIST: limiter.quota("ListImageSetVersions").rate,
            GET: limiter.quota("GetImageSet").rate,
        }
        self.queued = {LIST: 0.0, GET: 0.0}  # seconds of quota assigned so far

    def route(self, versions: int | None) -> str:
        if not isinstance(versions, int) or versions < 1:  # unknown: one listing shows it
            self.queued[LIST] += 1 / self._rate[LIST]
            return LIST
        by_list = math.ceil(versions / PAGE_SIZE) / self._rate[LIST]
        by_get = versions / self._rate[GET]
        finish_list = max(self.queued[LIST] + by_list, self.queued[GET])
        finish_get = max(self.queued[LIST], self.queued[GET] + by_get)
        # On a tie a single version goes to GetImageSet: the same cost, a fuller record.
        lane = (
            GET
            if finish_get < finish_list or (finish_get == finish_list and versions == 1)
            else LIST
        )
        self.queued[lane] += by_get if lane == GET else by_list
        return lane


def _by_list(engine: Engine, item: Item) -> list[dict[str, Any]]:
    return list(walk_versions(engine.send, *item, strategy="auto"))


def _by_get(engine: Engine, item: Item, *, searched: int | None) -> list[dict[str, Any]]:
    """GetImageSet walk; an image set changed since the search is listed instead."""
    try:
        latest = get_version(engine.send, *item)
    except AccessDeniedError:
        log.info("GetImageSet denied for %s; listing its versions", item[1])
        return list(walk_versions(engine.send, *item, strategy="list"))
    if searched is None or latest["versionId"] > searched:
        # Updated between the search and now: its history may be longer than planned,
        # and the listing is the cheap way to read all of it, each version once.
        listed = walk_versions(engine.send, *item, strategy="auto")
        return [latest if r["versionId"] == latest["versionId"] else r for r in listed]
    return list(walk_versions(engine.send, *item, strategy="get", latest=latest))


def fetch_datastore(
    client: Any,
    datastore_id: str,
    *,
    search_criteria: Mapping[str, Any] | None = None,
    max_workers: int = 8,
    rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ItemProgress | None = None,
    cancel: threading.Event | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> FetchResult:
    """Fetch every version of every image set of a datastore, using two quotas at once.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (as for :func:`fetch_versions`).
    datastore_id
        32 lower-case letters and digits; checked before any request.
    search_criteria
        SearchImageSets' ``searchCriteria`` (``filters``, ``sort``) to fetch only some
        image sets; default: all of them.
    max_workers
        Threads per operation (ListImageSetVersions and GetImageSet each get this many).
    rates
        Quota overrides or a shared :class:`~hi_widgets.ratelimit.RateLimiter`, as for
        :func:`fetch_versions`; the routing balances the two operations' rates.
    progress
        ``progress(done, total, item)`` from worker threads as each image set ends;
        ``total`` grows while search pages arrive. If it raises, the fetch stops.
    cancel
        When set, no further request is sent; the result holds what was complete.
    checkpoint
        A file recording each image set as it completes, as for :func:`fetch_versions`;
        a rerun with the same ``datastore_id`` and ``search_criteria`` searches again
        and fetches only the image sets not in it.

    Returns
    -------
    FetchResult
        As for :func:`fetch_versions`: ``.frame`` holds every version of every image set
        found, exactly once. A search that fails after its first page adds a row to
        ``.errors`` with an empty ``imageSetId`` (the listing is incomplete) and keeps
        what was fetched.

    Raises
    ------
    InvalidIdentifierError, ValueError, TypeError
        Before any request, for a bad argument.
    HealthImagingError
        If the first SearchImageSets page fails (nothing was fetched).

    Notes
    -----
    SearchImageSets does not return deleted image sets, so neither does this.
    Each summary's ``version`` plans the work (see the module notes). An image set
    updated between the search and its fetch (GetImageSet reports a newer version than
    the summary) is read with ListImageSetVersions instead, so the result is exact.
    """
    started = time.monotonic()
    check_options("auto", max_workers)
    datastore_id = validate_datastore_id(datastore_id)
    if search_criteria is not None and not isinstance(search_criteria, Mapping):
        raise TypeError(f"search_criteria must be a mapping, got {type(search_criteria).__name__}")
    limiter = make_limiter(rates)
    engine = Engine(single_attempt_client(client, max_workers), limiter, "auto", cancel)
    router = _Router(limiter)
    found: dict[Item, None] = {}
    search_error: HealthImagingError | None = None
    criteria = dict(search_criteria or {})
    with contextlib.ExitStack() as stack:
        saved = None
        if checkpoint is not None:
            inputs = {"datastoreId": datastore_id, "searchCriteria": criteria}
            saved = stack.enter_context(Checkpoint(checkpoint, "fetch_datastore", inputs))
        pool = stack.enter_context(
            Pool(
                engine,
                max_workers,
                progress,
                lanes=(LIST, GET),
                on_outcome=None if saved is None else saved.record,
            )
        )
        try:
            for summary in search_summaries(engine.send, datastore_id, criteria):
                item = (datastore_id, summary["imageSetId"])
                if item in found:  # repeated when a page boundary shifted
                    continue
                found[item] = None
                if saved is not None and item in saved.done:
                    continue
                version = summary.get("version")
                if router.route(version) == GET:
                    pool.submit(item, functools.partial(_by_get, engine, searched=version), GET)
                else:
                    pool.submit(item, functools.partial(_by_list, engine), LIST)
        except Cancelled:
            pass
        except HealthImagingError as error:
            if not found:
                raise
            log.warning("SearchImageSets failed after %d image sets: %s", len(found), error)
            search_error = error
    outcomes = pool.outcomes
    if saved is not None:
        outcomes.update(saved.outcomes(list(found)))
    records = [r for item in found if item in outcomes for r in outcomes[item].records or ()]
    frame = versions_frame(records)
    return assemble(
        engine, list(found), outcomes, frame, len(frame), started, search_error=search_error
    )
