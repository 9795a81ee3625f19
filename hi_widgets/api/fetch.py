"""Calls to HealthImaging: one image set, its version history, datastores, search, metadata.

Every function takes a boto3 ``medical-imaging`` client (see :func:`hi_widgets.make_client`),
checks identifiers before any request, and raises :mod:`hi_widgets.api.errors` exceptions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from hi_widgets.api.criteria import Span
from hi_widgets.api.criteria import search_criteria as build_criteria
from hi_widgets.api.errors import translate
from hi_widgets.api.ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
)
from hi_widgets.api.metadata_blob import decode_metadata
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.walk import (
    STRATEGIES,
    Cancelled,
    MissingCallback,
    Strategy,
    direct_send,
    get_version,
    search_summaries,
    walk_versions,
)

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

log = logging.getLogger(__name__)


def get_image_set(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    version_id: str | int | None = None,
) -> ImageSetRecord:
    """Fetch one version of an image set (the latest when ``version_id`` is None).

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        32 lower-case letters and digits each.
    version_id
        A version number (``int`` or digits); None or blank for the latest.

    Returns
    -------
    dict
        A normalized record (:data:`hi_widgets.api.records.RECORD_FIELDS`).

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier is malformed.
    HealthImagingError
        The subclass matching the service error.

    Examples
    --------
    >>> first = hw.get_image_set(client, datastore_id, image_set_id, version_id=1)
    >>> first["versionId"], first["imageSetState"], first["imageSetWorkflowStatus"]
    (1, 'ACTIVE', 'IMPORTED')
    >>> hw.get_image_set(client, datastore_id, image_set_id)["versionId"]  # the latest
    73
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    version = validate_optional_version_id(version_id)
    return get_version(direct_send(client), datastore_id, image_set_id, version)


def iter_versions(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    *,
    strategy: Strategy = "auto",
    progress: ProgressCallback | None = None,
    on_missing: MissingCallback | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[ImageSetRecord]:
    """Yield a normalized record for every version of an image set, newest first.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        32 lower-case letters and digits each; checked before any request.
    strategy
        ``"list"``: ListImageSetVersions, every page.
        ``"get"``: GetImageSet for the latest version, then each older version number
        down to 1 (for principals allowed GetImageSet but not ListImageSetVersions).
        ``"auto"``: ``"list"``, falling back to ``"get"`` if the first page is denied
        (a denial after that is raised). The rules are :mod:`hi_widgets.api.walk`'s, shared
        with :func:`hi_widgets.fetch_versions`.
    progress
        Called after each request with a :class:`~hi_widgets.api.progress.Progress`
        counting versions; its ``total`` is the latest version number once known, else
        None.
    on_missing
        ``"get"`` only: called with ``(version_number, error)`` for a version that no
        longer exists. The walk continues; by default the gap is logged as a warning.
    cancel
        When set, the iteration stops before its next request.

    Returns
    -------
    iterator of ImageSetRecord
        Normalized records (:class:`hi_widgets.api.records.ImageSetRecord`), each
        version once, yielded as the pages arrive. List items lack ``imageSetArn``,
        ``lastAccessedAt`` and ``storageTier`` (the service does not return them there):
        those are None.

    Examples
    --------
    >>> records = list(hw.iter_versions(client, datastore_id, image_set_id))
    >>> len(records), records[0]["versionId"], records[-1]["versionId"]  # newest first
    (73, 73, 1)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    return _until_cancelled(
        walk_versions(
            direct_send(client, None if cancel is None else cancel.is_set),
            datastore_id,
            image_set_id,
            strategy=strategy,
            progress=progress,
            on_missing=on_missing,
        )
    )


def _until_cancelled(records: Iterator[ImageSetRecord]) -> Iterator[ImageSetRecord]:
    try:
        yield from records
    except Cancelled:
        return


def list_datastores(
    client: HealthImagingClient, *, status: str | None = None
) -> list[dict[str, Any]]:
    """Return every datastore summary (all pages), optionally only those with ``status``.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    status
        Only datastores in this state (``"ACTIVE"``, ``"CREATING"``, ...); None: all.

    Returns
    -------
    list of dict
        ``datastoreId``, ``datastoreName``, ``datastoreStatus``, ``datastoreArn``,
        ``createdAt``, ``updatedAt`` as the service returns them.

    Examples
    --------
    >>> datastores = hw.list_datastores(client)
    >>> [(d["datastoreName"], d["datastoreStatus"]) for d in datastores]
    [('demo-radiology', 'ACTIVE'), ('demo-oncology', 'ACTIVE')]
    """
    params: dict[str, Any] = {"datastoreStatus": status} if status else {}
    paginator = client.get_paginator("list_datastores")
    with translate("ListDatastores"):
        return [
            dict(summary)
            for page in paginator.paginate(**params)
            for summary in page.get("datastoreSummaries", [])
        ]


def search_image_sets(
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
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Search a datastore's image sets with SearchImageSets (all pages, up to ``limit``).

    At most two criteria may be given (the service's limit); see
    :func:`hi_widgets.api.criteria.search_criteria`, which checks them before any request.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id
        32 lower-case letters and digits; checked before any request.
    patient_id, accession_number, study_instance_uid, series_instance_uid, study_id
        Match exactly (operator EQUAL); None or blank: not a criterion.
    created_between, updated_between
        ``(start, end)``, inclusive (operator BETWEEN). A date means the whole UTC day;
        None at either end leaves it open.
    sort
        ``(sortField, sortOrder)``; default: the service's order (``updatedAt``, newest
        first).
    search_criteria
        SearchImageSets' ``searchCriteria`` dict as is, instead of the keywords above.
    limit
        Summaries returned at most; None: all.

    Returns
    -------
    list of dict
        ``ImageSetsMetadataSummary`` items (see :func:`hi_widgets.image_sets_frame`).
        Their ``DICOMTags`` contain PHI.

    Examples
    --------
    >>> summaries = hw.search_image_sets(client, datastore_id)
    >>> len(summaries)
    30
    >>> sorted(summaries[0])[:3]
    ['DICOMTags', 'createdAt', 'imageSetId']
    """
    datastore_id = validate_datastore_id(datastore_id)
    criteria = build_criteria(
        patient_id=patient_id,
        accession_number=accession_number,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        study_id=study_id,
        created_between=created_between,
        updated_between=updated_between,
        sort=sort,
        search_criteria=search_criteria,
    )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    return list(search_summaries(direct_send(client), datastore_id, criteria, limit=limit))


def get_image_set_metadata(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    version_id: str | int | None = None,
) -> dict[str, Any]:
    """Return the image set metadata document (Patient/Study/Series/Instances), gunzipped.

    The document contains PHI.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        32 lower-case letters and digits each; checked before any request.
    version_id
        A version number (``int`` or digits); None or blank for the latest.

    Returns
    -------
    dict
        The document, as GetImageSetMetadata's JSON (``SchemaVersion``, ``DatastoreID``,
        ``ImageSetID``, ``Patient``, ``Study``).

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier is malformed.
    HealthImagingError
        The subclass matching the service error.

    Examples
    --------
    >>> metadata = hw.get_image_set_metadata(client, datastore_id, image_set_id, version_id=1)
    >>> sorted(metadata)
    ['DatastoreID', 'ImageSetID', 'Patient', 'SchemaVersion', 'Study']
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    version = validate_optional_version_id(version_id)
    params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    if version is not None:
        params["versionId"] = version
    return decode_metadata(direct_send(client)("GetImageSetMetadata", params))
