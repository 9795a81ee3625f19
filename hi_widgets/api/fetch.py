"""Calls to HealthImaging: one image set, its version history, datastores, search, metadata.

Every function takes a boto3 ``medical-imaging`` client (see :func:`hi_widgets.make_client`),
checks identifiers before any request, and raises :mod:`hi_widgets.api.errors` exceptions.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from hi_widgets.api.errors import translate
from hi_widgets.api.ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
)
from hi_widgets.api.walk import (
    STRATEGIES,
    Cancelled,
    MissingCallback,
    Strategy,
    VersionProgress,
    direct_send,
    get_version,
    search_summaries,
    walk_versions,
)

log = logging.getLogger(__name__)


def get_image_set(
    client: Any, datastore_id: str, image_set_id: str, version_id: str | int | None = None
) -> dict[str, Any]:
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
    client: Any,
    datastore_id: str,
    image_set_id: str,
    *,
    strategy: Strategy = "auto",
    progress: VersionProgress | None = None,
    on_missing: MissingCallback | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
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
        Called after each request with ``(versions_so_far, total)``; ``total`` is the
        latest version number once known, else None.
    on_missing
        ``"get"`` only: called with ``(version_number, error)`` for a version that no
        longer exists. The walk continues; by default the gap is logged as a warning.
    cancel
        When set, the iteration stops before its next request.

    Yields
    ------
    dict
        Normalized records, each version once. List items lack ``imageSetArn``,
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


def _until_cancelled(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    try:
        yield from records
    except Cancelled:
        return


def list_datastores(client: Any, *, status: str | None = None) -> list[dict[str, Any]]:
    """Return every datastore summary (all pages), optionally only those with ``status``.

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
    params = {"datastoreStatus": status} if status else {}
    paginator = client.get_paginator("list_datastores")
    with translate("ListDatastores"):
        return [
            summary
            for page in paginator.paginate(**params)
            for summary in page.get("datastoreSummaries", [])
        ]


def search_image_sets(
    client: Any,
    datastore_id: str,
    *,
    patient_id: str | None = None,
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    study_id: str | None = None,
    created_between: tuple[datetime, datetime] | None = None,
    updated_between: tuple[datetime, datetime] | None = None,
    sort: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Search a datastore's image sets with SearchImageSets (all pages, up to ``limit``).

    At most two criteria may be given (the service's limit). Equality for DICOM
    identifiers, BETWEEN for the date ranges.

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
    equal = {
        "DICOMPatientId": patient_id,
        "DICOMAccessionNumber": accession_number,
        "DICOMStudyInstanceUID": study_instance_uid,
        "DICOMSeriesInstanceUID": series_instance_uid,
        "DICOMStudyId": study_id,
    }
    filters = [
        {"values": [{key: value.strip()}], "operator": "EQUAL"}
        for key, value in equal.items()
        if value is not None and value.strip()
    ]
    for key, span in (("createdAt", created_between), ("updatedAt", updated_between)):
        if span is not None:
            start, end = span
            if start > end:
                raise ValueError(f"{key} range starts after it ends: {start} > {end}")
            filters.append({"values": [{key: start}, {key: end}], "operator": "BETWEEN"})
    if len(filters) > 2:
        raise ValueError(f"SearchImageSets accepts at most 2 criteria, got {len(filters)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    criteria: dict[str, Any] = {"filters": filters} if filters else {}
    if sort is not None:
        criteria["sort"] = {"sortField": sort[0], "sortOrder": sort[1]}
    return list(search_summaries(direct_send(client), datastore_id, criteria, limit=limit))


def get_image_set_metadata(
    client: Any, datastore_id: str, image_set_id: str, version_id: str | int | None = None
) -> dict[str, Any]:
    """Return the image set metadata document (Patient/Study/Series/Instances), gunzipped.

    The document contains PHI.

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
    ids = {"datastoreId": datastore_id, "imageSetId": image_set_id, "versionId": version}
    with translate("GetImageSetMetadata", **ids):
        response = client.get_image_set_metadata(**params)
        with response["imageSetMetadataBlob"] as body:
            raw = body.read()
    if raw[:2] == b"\x1f\x8b" or response.get("contentEncoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)
