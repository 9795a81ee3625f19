"""Queries that answer with a DataFrame: a search, or one image set's whole history.

The widgets call these (in a background thread); a notebook can call them directly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.criteria import Span
from hi_widgets.api.fetch import iter_versions, search_image_sets
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.tables import image_sets_frame, versions_frame
from hi_widgets.api.walk import Strategy

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["fetch_history", "fetch_image_sets"]


def fetch_image_sets(
    client: HealthImagingClient,
    datastore_id: str,
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
    limit: int | None = 200,
) -> pd.DataFrame:
    """Search image sets and return them as :func:`hi_widgets.image_sets_frame`.

    Parameters
    ----------
    client, datastore_id
        As for :func:`hi_widgets.search_image_sets`.
    patient_id, accession_number, study_instance_uid, series_instance_uid, study_id
        Match exactly (operator EQUAL); None or blank: not a criterion.
    created_between, updated_between
        ``(start, end)``, inclusive; a date means the whole UTC day, None at either end
        leaves it open.
    sort, search_criteria
        As for :func:`hi_widgets.search_image_sets`.
    limit
        Image sets returned at most; None: all of them.

    Returns
    -------
    pandas.DataFrame
        One row per image set found; contains PHI columns.

    Examples
    --------
    >>> image_sets = hw.fetch_image_sets(client, datastore_id)
    >>> len(image_sets), "DICOMPatientName" in image_sets
    (30, True)
    """
    summaries = search_image_sets(
        client,
        datastore_id,
        patient_id=patient_id,
        accession_number=accession_number,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        study_id=study_id,
        created_between=created_between,
        updated_between=updated_between,
        sort=sort,
        search_criteria=search_criteria,
        limit=limit,
    )
    return image_sets_frame(summaries, datastore_id=datastore_id)


def fetch_history(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    *,
    progress: ProgressCallback | None = None,
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
    >>> versions = hw.fetch_history(client, datastore_id, image_set_id)
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
