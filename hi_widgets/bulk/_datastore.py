"""fetch_datastore: every image set of a datastore, spread over two operations' quotas.

SearchImageSets enumerates the image sets, and each summary carries the image set's
latest ``version``; the image sets are routed (``_routing``) as the pages arrive.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from hi_widgets.api.criteria import Span
from hi_widgets.api.criteria import search_criteria as build_criteria
from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.ids import validate_datastore_id
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.tables import versions_frame
from hi_widgets.api.walk import Cancelled, search_summaries
from hi_widgets.bulk._checkpoint import Checkpoint
from hi_widgets.bulk._pool import Item, Pool
from hi_widgets.bulk._result import FetchResult, assemble
from hi_widgets.bulk._routing import GET, LIST, Router, by_get, by_list
from hi_widgets.bulk.engine import Engine, check_options, make_limiter
from hi_widgets.bulk.single_attempt import single_attempt_client
from hi_widgets.limits.ratelimit import RateLimiter

log = logging.getLogger(__name__)


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
        a rerun with the same ``datastore_id`` and criteria searches again
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

    Examples
    --------
    >>> result = hw.fetch_datastore(client, datastore_id)
    >>> result.frame["imageSetId"].nunique(), result.errors.empty
    (30, True)
    """
    started = time.monotonic()
    check_options("auto", max_workers)
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
    limiter = make_limiter(quota_rates)
    engine = Engine(single_attempt_client(client, max_workers), limiter, "auto", cancel)
    router = Router(limiter)
    found: dict[Item, None] = {}
    search_error: HealthImagingError | None = None
    with contextlib.ExitStack() as stack:
        saved = None
        if checkpoint is not None:
            # The keywords as asked, not the criteria built: an open range ends "now".
            asked = {name: value for name, value in keywords.items() if value is not None}
            inputs = {"datastoreId": datastore_id, "searchCriteria": dict(search_criteria or {})}
            if asked:
                inputs["search"] = asked
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
                    pool.submit(item, functools.partial(by_get, engine, searched=version), GET)
                else:
                    pool.submit(item, functools.partial(by_list, engine), LIST)
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
