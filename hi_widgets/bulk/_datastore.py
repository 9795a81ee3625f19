"""fetch_datastore: every image set of a datastore, spread over two operations' quotas.

SearchImageSets enumerates the image sets, and each summary carries the image set's
latest ``version``; the image sets are routed (``_routing``) as the pages arrive.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from hi_widgets.api.criteria import Span
from hi_widgets.api.criteria import search_criteria as build_criteria
from hi_widgets.api.ids import validate_datastore_id
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.walk import search_summaries
from hi_widgets.bulk._pool import Task
from hi_widgets.bulk._result import FetchResult
from hi_widgets.bulk._routing import GET, LIST, Router, routed_task
from hi_widgets.bulk._run import Plan, run_plan
from hi_widgets.bulk.engine import Engine
from hi_widgets.limits.ratelimit import RateLimiter


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
        (so it gets the same frame).

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
    OSError
        Before any request, if a new ``checkpoint`` file cannot be created.

    Notes
    -----
    SearchImageSets does not return deleted image sets, so neither does this.
    Each summary's ``version`` plans the work (see the module notes). An image set
    updated between the search and its fetch (GetImageSet reports a newer version than
    the summary) is read with ListImageSetVersions instead, so the result is exact.

    Examples
    --------
    >>> result = hw.fetch_datastore(client, datastore_id)
    >>> result.frame["imageSetId"].nunique(), result.errors.empty
    (30, True)
    """
    datastore_id = validate_datastore_id(datastore_id)
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
    return run_plan(
        client,
        _plan(datastore_id, criteria, inputs),
        max_workers=max_workers,
        quota_rates=quota_rates,
        progress=progress,
        cancel=cancel,
        checkpoint=checkpoint,
    )
