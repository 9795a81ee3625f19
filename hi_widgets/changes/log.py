"""The change log of an image set: which attributes each version changed, and how.

:func:`fetch_changes` lists the versions of an image set (ListImageSetVersions), fetches
the metadata document of every version (GetImageSetMetadata, a small thread pool sending
through a :class:`~hi_widgets.limits.ratelimit.RateLimiter` at the published quotas, retrying
throttling and 5xx answers), and compares each version with the one before it.
:func:`changes_from_documents` is the comparison alone, for documents already at hand.

Reading the frame
-----------------
Every version in scope has at least one row, so nothing happens silently. The ``kind``
column says what the version is:

``initial``
    The first version of the frame: there is nothing before it to compare with. One row.
``modified``
    One row per attribute it added, removed or changed.
``revert``
    Its document equals an earlier version's (not the one just before it): the rows
    show what it changed back, and ``revertedTo`` names the earliest version whose
    document it restores.
``unchanged``
    Its document equals the previous version's (a copy that changed no metadata). One row.
``failed``
    Its workflow status is a failure (UPDATE_FAILED, COPY_FAILED, ...). Its document
    normally equals the previous one's: one row, ``message`` holding the service's reason.
    Should it differ, the rows show the difference, still marked ``failed``.
``error``
    Its metadata could not be fetched; ``message`` says why. The next version is compared
    with the last one fetched (``previousVersionId`` says which).
``cancelled``
    Not fetched because the call was cancelled.

The one-row kinds have no ``level``, ``attribute``, ``path`` or ``change``.

A whole series or instance added or removed is one row (``attribute`` ``SeriesInstanceUID``
or ``SOPInstanceUID``, the UID as the value), not one row per attribute inside it. The
frame is complete, PHI included (patient attributes, accession numbers, dates...): export
it with the export module's de-identification rules.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.errors import InvalidIdentifierError
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id, validate_version_id
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.single_attempt import single_attempt_client
from hi_widgets.api.tables import TIME_UNIT, apply_schema
from hi_widgets.api.walk import Strategy
from hi_widgets.bulk.engine import Engine, check_options, make_limiter
from hi_widgets.changes._compare import (
    LEVELS,
    Entity,
    Parsed,
    SeriesLabels,
    document_rows,
    expand_diffs,
    parse,
)
from hi_widgets.changes._fetch import fetch_documents
from hi_widgets.changes.diff import CHANGE_KINDS
from hi_widgets.limits.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "CHANGES_COLUMNS",
    "LEVELS",
    "VERSION_KINDS",
    "changes_from_documents",
    "empty_changes_frame",
    "fetch_changes",
]

CHANGES_COLUMNS: tuple[str, ...] = (
    "versionId",
    "previousVersionId",
    "updatedAt",
    "workflowStatus",
    "kind",
    "revertedTo",
    "level",
    "series",
    "seriesInstanceUID",
    "attribute",
    "path",
    "change",
    "old",
    "new",
    "message",
)
"""Columns of :func:`fetch_changes`, in order."""

VERSION_KINDS: tuple[str, ...] = (
    "initial",
    "modified",
    "revert",
    "unchanged",
    "failed",
    "error",
    "cancelled",
)
"""Categories of the ``kind`` column (see the module notes)."""

_STRING = pd.StringDtype()
# every version is listed (ListImageSetVersions), then its document got
_STRATEGY: Strategy = "list"


def _failed(status: Any) -> bool:
    return isinstance(status, str) and status.endswith("_FAILED")


def _error_text(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{type(error).__name__}: {message}"


def changes_from_documents(
    documents: Mapping[int, Mapping[str, Any] | Parsed | BaseException | None],
    records: Mapping[int, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Build the change log from metadata documents already fetched.

    Parameters
    ----------
    documents
        Version number to its decoded metadata document. An exception in place of a
        document makes an ``error`` row (its text in ``message``); None a ``cancelled`` row.
    records
        Version number to its record (:func:`hi_widgets.api.records.normalize_image_set`, or any
        mapping with ``updatedAt``, ``imageSetWorkflowStatus`` and ``message``). A version
        in ``records`` but not in ``documents`` counts as cancelled.

    Returns
    -------
    pandas.DataFrame
        As :func:`fetch_changes`.
    """
    records = records or {}
    labels = SeriesLabels()
    rows: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    previous: tuple[int, dict[tuple[Any, ...], Entity], str] | None = None
    for version_id in sorted({*map(int, documents), *map(int, records)}):
        record = records.get(version_id, {})
        status = record.get("imageSetWorkflowStatus")
        head = {
            "versionId": version_id,
            "previousVersionId": None if previous is None else previous[0],
            "updatedAt": record.get("updatedAt"),
            "workflowStatus": status,
            "message": record.get("message"),
        }
        doc = documents.get(version_id)
        if isinstance(doc, BaseException):
            rows.append({**head, "kind": "error", "message": _error_text(doc)})
            continue
        if doc is None:
            rows.append({**head, "kind": "cancelled"})
            continue
        entities, canonical = doc if isinstance(doc, Parsed) else parse(doc)
        labels.see(entities.values())
        if previous is None:
            rows.append({**head, "kind": "initial"})
        elif canonical == previous[2]:
            rows.append({**head, "kind": "failed" if _failed(status) else "unchanged"})
        else:
            reverted = first_seen.get(canonical)
            kind = (
                "failed" if _failed(status) else "revert" if reverted is not None else "modified"
            )
            extra = {"kind": kind, "revertedTo": reverted if kind == "revert" else None}
            rows.extend(
                {**head, **extra, **row}
                for row in document_rows(previous[1], entities, labels.order)
            )
        first_seen.setdefault(canonical, version_id)
        previous = (version_id, entities, canonical)
    rows = expand_diffs(rows)
    for row in rows:
        uid = row.get("seriesInstanceUID")
        row["series"] = None if uid is None else labels.labels.get(uid)
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    def column(name: str) -> list[Any]:
        return [row.get(name) for row in rows]

    typed = apply_schema(
        pd.DataFrame(
            {
                "updatedAt": pd.Series(column("updatedAt"), dtype=object),
                "imageSetWorkflowStatus": pd.Series(column("workflowStatus"), dtype=object),
            }
        )
    )

    # Categories as pandas' string dtype: a missing value is then pd.NA, as in the Int64
    # and string columns, and the frame prints every missing value one way (``<NA>``);
    # categories of Python strings print theirs as ``NaN``.
    def category(name: str, categories: Iterable[str]) -> pd.Categorical:
        return pd.Categorical(column(name), categories=pd.Index(list(categories), dtype=_STRING))

    statuses = typed["imageSetWorkflowStatus"].array
    statuses = statuses.set_categories(pd.Index(list(statuses.categories), dtype=_STRING))

    data = {
        "versionId": pd.array(column("versionId"), dtype="Int64"),
        "previousVersionId": pd.array(column("previousVersionId"), dtype="Int64"),
        "updatedAt": typed["updatedAt"].dt.as_unit(TIME_UNIT).array,
        "workflowStatus": statuses,
        "kind": category("kind", VERSION_KINDS),
        "revertedTo": pd.array(column("revertedTo"), dtype="Int64"),
        "level": category("level", LEVELS),
        **{
            name: pd.array(column(name), dtype=_STRING)
            for name in ("series", "seriesInstanceUID", "attribute", "path")
        },
        "change": category("change", CHANGE_KINDS),
        **{name: pd.array(column(name), dtype=_STRING) for name in ("old", "new", "message")},
    }
    result: pd.DataFrame = pd.DataFrame(
        data, columns=list(CHANGES_COLUMNS), index=pd.RangeIndex(len(rows))
    )
    return result


def empty_changes_frame() -> pd.DataFrame:
    """Return a change log with no rows and the full schema of :func:`fetch_changes`."""
    return _frame([])


# ------------------------------------------------------------------------------ public


def _validated_versions(version_ids: Any) -> list[int] | None:
    if version_ids is None:
        return None
    if isinstance(version_ids, (str, bytes, int)) or not isinstance(version_ids, Iterable):
        raise TypeError(
            f"version_ids must be a list of version numbers (or None for all), got {version_ids!r}"
        )
    out = []
    for position, value in enumerate(version_ids):
        if not isinstance(value, bool) and isinstance(value, numbers.Integral):
            value = int(value)  # numpy and pandas integers, e.g. from a frame's column
        try:
            out.append(int(validate_version_id(value)))
        except InvalidIdentifierError as error:
            raise InvalidIdentifierError(
                f"version_ids[{position}]", value, error.expected
            ) from None
    return sorted(set(out))


def fetch_changes(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    *,
    version_ids: Iterable[int | str] | None = None,
    max_workers: int = 8,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """Return the change log of an image set: one row per attribute each version changed.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client. If it retries on its own, a single-attempt
        twin is used, as :func:`hi_widgets.fetch_versions` does, so retries go through the
        rate limiter.
    datastore_id, image_set_id
        The image set; checked before any request.
    version_ids
        Version numbers to include (ints or digit strings); default every version. Each
        is compared with the previous one *of the selection*: ``version_ids=[1, 73]`` gives
        what changed from 1 to 73. Checked before any request; a version the image set
        does not have raises ResourceNotFoundError.
    max_workers
        Threads fetching metadata documents; the GetImageSetMetadata quota (50/s, burst
        100), not this, bounds the speed of long histories.
    quota_rates
        Quota overrides (``{"GetImageSetMetadata": (rate, burst), ...}``) for raised
        quotas, or a :class:`~hi_widgets.limits.ratelimit.RateLimiter` shared with other calls.
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting metadata
        documents after each one (or its failure), from the calling thread. If it
        raises, the fetch stops and the exception propagates.
    cancel
        When set, no further request is sent; versions not fetched get ``cancelled`` rows
        and the rows already computed are returned.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGES_COLUMNS`, ordered by ``versionId`` then level, series and
        path: ``versionId`` and ``previousVersionId`` (the version compared with) and
        ``revertedTo`` (``Int64``), ``updatedAt`` (UTC), ``workflowStatus`` (categorical
        of the model's enum, unknown values kept), ``kind`` (categorical
        :data:`VERSION_KINDS`), ``level`` (categorical :data:`LEVELS`), ``series`` (a
        short label such as ``S2 (…4a1b9c)``) and ``seriesInstanceUID``, ``attribute``
        (the DICOM keyword), ``path`` (as :func:`hi_widgets.flatten_metadata` spells it),
        ``change`` (categorical added / removed / changed), ``old``, ``new`` (text, JSON
        for non-text values) and ``message`` (the version's message, or the fetch error).
        Text columns and categories are pandas' string dtype: every missing value is
        ``pd.NA`` and prints as ``<NA>``. Every version has at least one row (see the
        module notes for ``kind``). Contains PHI.

    Raises
    ------
    InvalidIdentifierError
        Before any request: a malformed identifier, or a malformed entry of ``version_ids``
        (the error's ``field`` names it, e.g. ``version_ids[2]``).
    HealthImagingError
        If listing the versions fails, or if no metadata document at all could be
        fetched (then nothing is lost by raising). Failures of single versions become
        ``error`` rows instead.

    Examples
    --------
    >>> log = hw.fetch_changes(client, datastore_id, image_set_id, version_ids=[1, 2])
    >>> log[["versionId", "attribute", "change"]].to_dict("records")
    [...{'versionId': 2, 'attribute': 'StudyDescription', 'change': 'changed'}...]
    """
    ids = {
        "datastoreId": validate_datastore_id(datastore_id),
        "imageSetId": validate_image_set_id(image_set_id),
    }
    wanted = _validated_versions(version_ids)
    check_options(_STRATEGY, max_workers)
    limiter = make_limiter(quota_rates)
    if wanted == []:
        return empty_changes_frame()
    engine = Engine(single_attempt_client(client, max_workers), limiter, _STRATEGY, cancel)
    records, outcomes = fetch_documents(
        engine, ids, wanted, max_workers, progress, lambda doc: Parsed(parse(doc))
    )
    documents = {v: outcomes.get(v) for v in records}
    errors = [d for d in documents.values() if isinstance(d, BaseException)]
    fetched = any(isinstance(d, Parsed) for d in documents.values())
    if errors and not fetched and not engine.stopped():
        raise errors[0]
    return changes_from_documents(documents, records)
