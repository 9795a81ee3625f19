"""Queries that answer with a DataFrame: a search, or one image set's whole history.

The widgets call these (in a background thread); a notebook can call them directly.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timezone
from typing import Any

import pandas as pd

from hi_widgets.api.fetch import iter_versions, search_image_sets
from hi_widgets.api.tables import image_sets_frame, versions_frame
from hi_widgets.api.walk import Strategy, VersionProgress

__all__ = ["fetch_versions_frame", "search_frame"]


def _day_bounds(start: date | None, end: date | None) -> tuple[datetime, datetime] | None:
    if start is None and end is None:
        return None
    low = datetime.combine(start or date(1970, 1, 1), time.min, tzinfo=timezone.utc)
    high = (
        datetime.combine(end, time.max, tzinfo=timezone.utc)
        if end is not None
        else datetime.now(timezone.utc)
    )
    return low, high


def search_frame(
    client: Any,
    datastore_id: str,
    *,
    patient_id: str | None = None,
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    study_id: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    updated_from: date | None = None,
    updated_to: date | None = None,
    limit: int | None = 200,
) -> pd.DataFrame:
    """Search image sets and return :func:`hi_widgets.api.tables.image_sets_frame`.

    Identifiers match exactly (operator EQUAL); dates are whole UTC days (operator
    BETWEEN, the ``*_to`` day inclusive; a missing end is "now").

    Returns
    -------
    pandas.DataFrame
        One row per image set found; contains PHI columns.

    Examples
    --------
    >>> image_sets = hw.search_frame(client, datastore_id)
    >>> len(image_sets), "DICOMPatientName" in image_sets
    (30, True)
    """
    summaries = search_image_sets(
        client,
        datastore_id,
        patient_id=patient_id or None,
        accession_number=accession_number or None,
        study_instance_uid=study_instance_uid or None,
        series_instance_uid=series_instance_uid or None,
        study_id=study_id or None,
        created_between=_day_bounds(created_from, created_to),
        updated_between=_day_bounds(updated_from, updated_to),
        limit=limit,
    )
    return image_sets_frame(summaries, datastore_id=datastore_id)


def fetch_versions_frame(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    *,
    progress: VersionProgress | None = None,
    cancel: threading.Event | None = None,
    strategy: Strategy = "auto",
) -> pd.DataFrame:
    """Fetch every version of an image set into a versions frame.

    Parameters
    ----------
    client, datastore_id, image_set_id, progress, cancel, strategy
        Passed to :func:`hi_widgets.iter_versions`.

    Returns
    -------
    pandas.DataFrame
        :func:`hi_widgets.api.tables.versions_frame` of the versions fetched (all of them
        unless cancelled).

    Examples
    --------
    >>> versions = hw.fetch_versions_frame(client, datastore_id, image_set_id)
    >>> len(versions), int(versions["versionId"].max())
    (73, 73)
    """
    records = list(
        iter_versions(
            client,
            datastore_id,
            image_set_id,
            strategy=strategy,
            progress=progress,
            cancel=cancel,
        )
    )
    return versions_frame(records)
