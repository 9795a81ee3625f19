"""fetch_versions: every version of many image sets, at the quota, each exactly once."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id
from hi_widgets.api.items import Item, validated_pairs
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.walk import Strategy, walk_versions
from hi_widgets.bulk._pool import MAIN, Task
from hi_widgets.bulk._result import FetchResult
from hi_widgets.bulk._routing import GET, LIST, Router, routed_task
from hi_widgets.bulk._run import Plan, run_plan
from hi_widgets.bulk.engine import Engine
from hi_widgets.bulk.processes import Processes
from hi_widgets.limits.ratelimit import RateLimiter


def _walk(engine: Engine, item: Item) -> list[ImageSetRecord]:
    return list(walk_versions(engine.send, *item, strategy=engine.strategy))


def _latest_versions(items: Any) -> dict[Item, int]:
    """Latest known version of each image set of a frame with ``versionId``, else {}."""
    if not isinstance(items, pd.DataFrame) or "versionId" not in items.columns:
        return {}
    known = items[["datastoreId", "imageSetId", "versionId"]].dropna()
    latest: dict[Item, int] = {}
    for ds, iset, version in known.itertuples(index=False, name=None):
        item = (validate_datastore_id(ds), validate_image_set_id(iset))
        latest[item] = max(latest.get(item, 0), int(version))
    return latest


def _plan(pairs: list[Item], strategy: Strategy, latest: dict[Item, int]) -> Plan:
    """One walk per image set; with known version counts, routed over both quotas."""

    def tasks(engine: Engine) -> list[Task]:
        if latest:
            router = Router(engine.limiter)
            return [routed_task(router, engine, item, latest.get(item)) for item in pairs]
        work = functools.partial(_walk, engine)
        return [Task(item, work) for item in pairs]

    inputs = {"items": sorted(pairs), "strategy": strategy}
    lanes = (LIST, GET) if latest else (MAIN,)
    return Plan("fetch_versions", inputs, tasks, strategy=strategy, lanes=lanes)


def fetch_versions(
    client: Any,
    items: Iterable[tuple[str, str]] | pd.DataFrame,
    *,
    strategy: Strategy = "auto",
    max_workers: int = 8,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    processes: Processes = None,
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
        to get for an image set whose listing is denied. With ``"auto"`` and a frame
        holding ``versionId`` (a search result's latest version, or a versions frame),
        the known version counts plan the work over both operations' quotas, as
        :func:`fetch_datastore` does (an image set found newer than planned is listed).
    max_workers
        Threads sending requests. The quota, not this, bounds the speed: a few more
        threads than ``rate * latency`` keep the quota busy.
    quota_rates
        Quota overrides ``{"ListImageSetVersions": (rate, burst), ...}`` for an account
        with raised quotas, or a :class:`~hi_widgets.limits.ratelimit.RateLimiter` to share
        between concurrent calls (quotas are per account and region). Default: the
        published quotas.
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting image sets
        (its ``item`` the ``(datastoreId, imageSetId)`` that ended) each time an image
        set finishes or fails. It is called **from worker threads**, one call at
        a time per thread: make it thread-safe (a tqdm bar's ``update`` is), and do not
        touch ipywidgets' ``Output`` with ``with out:`` from it. If it raises, the fetch
        stops and the exception propagates.
    cancel
        When set, workers stop before their next request (a request already on the wire
        finishes), and the result holds what was complete so far.
    checkpoint
        A file that records each image set as it completes (durably: appended and
        fsynced). Calling again with the same file and the same ``items`` and
        ``strategy`` (after a crash, a kill or a cancel) fetches only the image sets not
        in it, and returns them all: the same frame as an uninterrupted call. A file
        written for other inputs is refused (ValueError). ``progress`` then counts the
        image sets this call fetches. Each line carries an HMAC under a random key kept
        in the (owner-only) file: a damaged or hand-edited line is skipped with a warning
        naming it, and its image set fetched again. If the file cannot be written (a
        full disk), the call goes on in memory and says so in ``.warnings``.

    processes
        Send the requests from this many child processes, or from a
        :class:`~hi_widgets.RequestProcesses` kept open: for raised quotas beyond what one
        process can send (a few hundred requests per second; ``docs/quotas.md``). The
        quota, retries, checkpoint, progress and cancel stay in this process, and the
        result is the same. Default: send from this process.

    Returns
    -------
    FetchResult
        ``.frame``: every version of every completed image set, exactly once.
        ``.errors``: one row per failed image set. ``.stats``: request counters.
        ``.pending``: image sets left undone by cancellation. ``.warnings``: what went
        wrong without losing data (e.g. the checkpoint could not be written).

    Raises
    ------
    InvalidIdentifierError
        Before any request, naming every malformed item (up to five).
    ValueError, TypeError
        For a bad ``strategy``, ``max_workers``, ``quota_rates`` or ``items`` shape, or
        a ``checkpoint`` written for other inputs.
    OSError
        Before any request, if a new ``checkpoint`` file cannot be created (its
        ``filename`` names it).

    Notes
    -----
    Retryable failures (ThrottlingException, 5xx, dropped connections) are retried up to
    :data:`MAX_ATTEMPTS` times per request with full-jitter exponential backoff; a
    throttle also empties the operation's bucket and cuts its rate (see
    :mod:`hi_widgets.limits.ratelimit`). Any other error, or a retryable one that persists,
    fails its image set only.

    An image set that fails part-way through its pages keeps **none** of its versions:
    it is either complete in ``.frame`` or listed in ``.errors``, never both, so a frame
    never silently holds a partial history. The same holds for cancellation: an image
    set being fetched when ``cancel`` is set goes to ``.pending``.

    Examples
    --------
    >>> pairs = [(datastore_id, image_set_id), (datastore_id, "0" * 32)]
    >>> result = hw.fetch_versions(client, pairs)
    >>> len(result.frame), result.errors["error"].tolist()
    (73, ['ResourceNotFoundError'])
    """
    pairs = validated_pairs(items)
    latest = _latest_versions(items) if strategy == "auto" else {}
    return run_plan(
        client,
        _plan(pairs, strategy, latest),
        max_workers=max_workers,
        quota_rates=quota_rates,
        progress=progress,
        cancel=cancel,
        checkpoint=checkpoint,
        processes=processes,
    )
