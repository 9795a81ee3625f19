"""Search criteria in one shape: the keywords every search-taking function accepts.

:func:`hi_widgets.search_image_sets`, :func:`hi_widgets.fetch_image_sets` and
:func:`hi_widgets.fetch_datastore` take the same keywords (``patient_id``,
``accession_number``, ``study_instance_uid``, ``series_instance_uid``, ``study_id``,
``created_between=(start, end)``, ``updated_between=(start, end)``), or, for what the
keywords cannot say, SearchImageSets' own ``searchCriteria`` dict as ``search_criteria=``.
:func:`search_criteria` turns either into the dict sent on the wire, checked before any
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from typing import Any

__all__ = ["Bound", "Span", "search_criteria"]

Bound = date | datetime | None
"""One end of a range: a datetime as is, a date as that whole UTC day, None as open."""

Span = tuple[Bound, Bound]
"""``(start, end)``, both ends inclusive."""

_EQUAL_KEYS = {
    "patient_id": "DICOMPatientId",
    "accession_number": "DICOMAccessionNumber",
    "study_instance_uid": "DICOMStudyInstanceUID",
    "series_instance_uid": "DICOMSeriesInstanceUID",
    "study_id": "DICOMStudyId",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _bound(value: Bound, name: str, *, end: bool) -> datetime:
    if value is None:
        return datetime.now(timezone.utc) if end else _EPOCH
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.max if end else time.min, tzinfo=timezone.utc)
    raise TypeError(f"{name} must hold dates, datetimes or None, got {type(value).__name__}")


def _span(value: Span | None, name: str) -> tuple[datetime, datetime] | None:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a (start, end) tuple, got {value!r}")
    if value[0] is None and value[1] is None:
        return None
    start = _bound(value[0], name, end=False)
    stop = _bound(value[1], name, end=True)
    if start > stop:
        raise ValueError(f"{name} starts after it ends: {start} > {stop}")
    return start, stop


def search_criteria(
    *,
    patient_id: str | None = None,
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    study_id: str | None = None,
    created_between: Span | None = None,
    updated_between: Span | None = None,
    sort: tuple[str, str] | None = None,
    search_criteria: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return SearchImageSets' ``searchCriteria`` for the search keywords.

    Parameters
    ----------
    patient_id, accession_number, study_instance_uid, series_instance_uid, study_id
        Match exactly (operator EQUAL); None or blank: not a criterion.
    created_between, updated_between
        ``(start, end)``, inclusive (operator BETWEEN on ``createdAt``/``updatedAt``).
        A date means the whole UTC day; None at either end leaves it open (1970, now).
    sort
        ``(sortField, sortOrder)``, e.g. ``("updatedAt", "ASC")``.
    search_criteria
        The service's ``searchCriteria`` dict as is, for what the keywords cannot say;
        not together with any other keyword.

    Returns
    -------
    dict
        ``{"filters": [...], "sort": {...}}`` (keys only when given; ``{}`` for no
        criterion).

    Raises
    ------
    ValueError
        More than two filters (the service's limit), a range that starts after it ends,
        or ``search_criteria`` given with another keyword.
    TypeError
        A range that is not a pair of dates, or ``search_criteria`` not a mapping.

    Examples
    --------
    >>> import datetime
    >>> from hi_widgets.api.criteria import search_criteria
    >>> day = datetime.date(2024, 5, 1)
    >>> criteria = search_criteria(patient_id="P-1", created_between=(day, day))
    >>> [item["operator"] for item in criteria["filters"]]
    ['EQUAL', 'BETWEEN']
    >>> criteria["filters"][1]["values"][1]["createdAt"].isoformat()  # the whole day
    '2024-05-01T23:59:59.999999+00:00'
    """
    keywords: dict[str, Any] = {
        "patient_id": patient_id,
        "accession_number": accession_number,
        "study_instance_uid": study_instance_uid,
        "series_instance_uid": series_instance_uid,
        "study_id": study_id,
        "created_between": created_between,
        "updated_between": updated_between,
        "sort": sort,
    }
    if search_criteria is not None:
        if not isinstance(search_criteria, Mapping):
            raise TypeError(
                f"search_criteria must be a mapping, got {type(search_criteria).__name__}"
            )
        given = [name for name, value in keywords.items() if value not in (None, "")]
        if given:
            raise ValueError(
                f"give either search_criteria or the search keywords, not both ({given[0]})"
            )
        return dict(search_criteria)
    filters: list[dict[str, Any]] = []
    for name, key in _EQUAL_KEYS.items():
        value = keywords[name]
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        if value.strip():
            filters.append({"values": [{key: value.strip()}], "operator": "EQUAL"})
    for name, key in (("created_between", "createdAt"), ("updated_between", "updatedAt")):
        span = _span(keywords[name], name)
        if span is not None:
            filters.append({"values": [{key: span[0]}, {key: span[1]}], "operator": "BETWEEN"})
    if len(filters) > 2:
        raise ValueError(f"SearchImageSets accepts at most 2 criteria, got {len(filters)}")
    criteria: dict[str, Any] = {"filters": filters} if filters else {}
    if sort is not None:
        criteria["sort"] = {"sortField": sort[0], "sortOrder": sort[1]}
    return criteria
