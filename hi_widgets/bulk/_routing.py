"""Routing image sets between two operations' quotas, when their version counts are known.

HealthImaging's quotas are per operation. An image set with v versions costs
``ceil(v / 50)`` ListImageSetVersions requests or ``v`` GetImageSet requests, and
:class:`Router` sends each to the operation whose queue (in seconds of its quota) it
would finish first. Single-version image sets, the common case, then keep the
GetImageSet bucket as busy as the ListImageSetVersions one, and a GetImageSet also
returns imageSetArn, lastAccessedAt and storageTier. Each route runs on its own lane of
threads (:class:`~hi_widgets.bulk._pool.Pool`), so work waiting for one bucket's tokens
never holds up the other bucket.

The route of an image set depends only on the version counts of the image sets planned
before it, never on what was already fetched: a call resumed from a checkpoint routes
every image set as the uninterrupted call did (and so gets the same fields for each), by
planning the checkpointed ones too and skipping only their requests.
"""

from __future__ import annotations

import functools
import logging
import math

from hi_widgets.api.errors import AccessDeniedError
from hi_widgets.api.items import Item
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.walk import PAGE_SIZE, get_version, walk_versions
from hi_widgets.bulk._pool import Task
from hi_widgets.bulk.engine import Engine
from hi_widgets.limits.ratelimit import RateLimiter

log = logging.getLogger(__name__)

LIST, GET = "list", "get"


class Router:
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


def by_list(engine: Engine, item: Item) -> list[ImageSetRecord]:
    return list(walk_versions(engine.send, *item, strategy="auto"))


def by_get(engine: Engine, item: Item, *, searched: int | None) -> list[ImageSetRecord]:
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


def routed_task(router: Router, engine: Engine, item: Item, versions: int | None) -> Task:
    """Return the task of ``item`` on the lane :meth:`Router.route` picks for it."""
    if router.route(versions) == GET:
        return Task(item, functools.partial(by_get, engine, searched=versions), GET)
    return Task(item, functools.partial(by_list, engine), LIST)
