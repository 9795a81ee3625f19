"""refresh: bring a versions frame up to date, re-listing only what changed."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from hi_widgets.api.criteria import search_criteria
from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.items import Item, validated_pairs
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.records import RECORD_FIELDS, ImageSetRecord
from hi_widgets.api.tables import versions_frame
from hi_widgets.api.walk import Cancelled, Strategy, search_summaries, walk_versions
from hi_widgets.bulk._pool import Task
from hi_widgets.bulk._result import FetchResult
from hi_widgets.bulk._run import Plan, run_plan
from hi_widgets.bulk.engine import Engine
from hi_widgets.limits.ratelimit import RateLimiter

log = logging.getLogger(__name__)

_SETTLED_STATES = frozenset({"ACTIVE", "DELETED"})

Signature = tuple[Any, Any, Any]
"""(updatedAt, imageSetWorkflowStatus, imageSetState) of a version."""


def _signature(record: Mapping[Any, Any]) -> Signature:
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


def _known_walk(
    engine: Engine, known: Mapping[Item, Mapping[int, Signature]], item: Item
) -> list[ImageSetRecord]:
    """Return the versions of ``item`` newest first, down to the first one known and settled."""

    def is_known(record: Mapping[str, Any]) -> bool:
        signature = known[item].get(record["versionId"])
        return signature is not None and signature == _signature(record) and _settled(signature)

    walk = walk_versions(engine.send, *item, strategy=engine.strategy, stop_at=is_known)
    return list(walk)


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
    for row in frame[columns].to_dict("records"):
        item = (str(row["datastoreId"]), str(row["imageSetId"]))
        versions = known.setdefault(item, {})
        if pd.isna(row["versionId"]):
            continue
        versions[int(row["versionId"])] = _signature(row)
    return known


def _changed_since(engine: Engine, datastore_id: str, since: datetime) -> set[str] | None:
    """Image sets of a datastore updated at or after ``since``; None if the search failed."""
    upper = datetime.now(timezone.utc) + timedelta(days=1)
    criteria = search_criteria(updated_between=(since, upper))
    try:
        summaries = search_summaries(engine.send, datastore_id, criteria)
        return {summary["imageSetId"] for summary in summaries}
    except HealthImagingError as error:
        log.info("SearchImageSets failed on %s (%s); listing every image set", datastore_id, error)
        return None


def refresh(
    client: Any,
    df: pd.DataFrame,
    *,
    strategy: Strategy = "auto",
    max_workers: int = 8,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    search: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
) -> FetchResult:
    """Bring a versions frame up to date, fetching only what changed.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (as for :func:`fetch_versions`).
    df
        A versions frame, e.g. ``fetch_versions(...).frame`` or one read back from a
        file. Its image sets are refreshed; image sets not in it are not added.
    strategy, max_workers, quota_rates, progress, cancel
        As for :func:`fetch_versions`; ``progress`` counts the image sets re-listed.
    search
        Ask SearchImageSets (one request per 50 results per datastore) which image sets
        were updated at or after the newest ``updatedAt`` of the frame's datastore, and
        list only those plus the ones whose known state may still change. If False, or
        if the search fails (e.g. it is denied), every image set is listed.
    checkpoint
        A file recording each re-listed image set as it completes, as for
        :func:`fetch_versions`; a rerun with the same ``df`` fetches only the image
        sets not in it.

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

    Examples
    --------
    >>> result = hw.fetch_versions(client, [(datastore_id, image_set_id)])
    >>> later = hw.refresh(client, result.frame)  # nothing changed since
    >>> later.stats.versions, later.errors.empty
    (0, True)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a versions DataFrame, got {type(df).__name__}")
    old = versions_frame(df)
    validated_pairs(old[["datastoreId", "imageSetId"]])
    return run_plan(
        client,
        _plan(old, strategy, search),
        max_workers=max_workers,
        quota_rates=quota_rates,
        progress=progress,
        cancel=cancel,
        checkpoint=checkpoint,
    )


def _plan(old: pd.DataFrame, strategy: Strategy, search: bool) -> Plan:
    """Re-list the image sets of ``old`` that may have changed; merge what comes back."""
    known = _known_versions(old)
    items = list(known)

    def tasks(engine: Engine) -> list[Task]:
        candidates = _refresh_candidates(engine, old, known) if search else items
        work = functools.partial(_known_walk, engine, known)
        return [Task(item, work) for item in candidates]

    def merged(fresh: list[ImageSetRecord]) -> pd.DataFrame:
        return _merge(old, fresh) if fresh else old

    inputs = {
        "known": sorted(
            [*item, version, str(signature)]
            for item, versions in known.items()
            for version, signature in versions.items()
        ),
        "items": sorted(items),
        "strategy": strategy,
        "search": search,
    }
    return Plan("refresh", inputs, tasks, strategy=strategy, items=items, frame=merged)


def _refresh_candidates(
    engine: Engine, old: pd.DataFrame, known: Mapping[Item, Mapping[int, Signature]]
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
            except Cancelled:
                return items  # nothing more is sent; every item ends up pending
        for item in items:
            if item[0] != datastore_id:
                continue
            versions = known[item]
            unsettled = any(not _settled(signature) for signature in versions.values())
            if changed is None or item[1] in changed or unsettled or not versions:
                wanted.add(item)
    return [item for item in items if item in wanted]


def _merge(old: pd.DataFrame, records: list[ImageSetRecord]) -> pd.DataFrame:
    """Old rows plus fetched records; a fetched version replaces its old row."""
    columns = {}
    as_mappings: Sequence[Mapping[str, Any]] = records  # looked up by a field name held in a str
    for name in RECORD_FIELDS:
        before = old[name].to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
        after = np.empty(len(records), dtype=object)
        after[:] = [row[name] for row in as_mappings]
        columns[name] = np.concatenate([before, after])
    return versions_frame(pd.DataFrame(columns))
