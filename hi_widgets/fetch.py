"""Calls to HealthImaging: one image set, its version history, datastores, search, metadata.

Every function takes a boto3 ``medical-imaging`` client (see :func:`hi_widgets.make_client`),
checks identifiers before any request, and raises :mod:`hi_widgets.errors` exceptions.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

from .errors import AccessDeniedError, ResourceNotFoundError, translate
from .ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
)
from .records import normalize_image_set

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # ListImageSetVersions / SearchImageSets accept maxResults 1..50
STRATEGIES = ("auto", "list", "get")

Strategy = Literal["auto", "list", "get"]
ProgressCallback = Callable[[int, "int | None"], None]
MissingCallback = Callable[[int, ResourceNotFoundError], None]


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
        A normalized record (:data:`hi_widgets.records.RECORD_FIELDS`).

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier is malformed.
    HealthImagingError
        The subclass matching the service error.
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    version = validate_optional_version_id(version_id)
    return _get(client, datastore_id, image_set_id, version)


def _get(client: Any, datastore_id: str, image_set_id: str, version: str | None) -> dict:
    params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    if version is not None:
        params["versionId"] = version
    with translate(
        "GetImageSet", datastoreId=datastore_id, imageSetId=image_set_id, versionId=version
    ):
        response = client.get_image_set(**params)
    return normalize_image_set(response, datastore_id=datastore_id, image_set_id=image_set_id)


def iter_versions(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    *,
    strategy: Strategy = "auto",
    progress: ProgressCallback | None = None,
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
        ``"list"``: the ListImageSetVersions paginator, all pages.
        ``"get"``: GetImageSet for the latest version, then each older version number
        down to 1 (for principals allowed GetImageSet but not ListImageSetVersions).
        ``"auto"``: ``"list"``, falling back to ``"get"`` if listing is denied.
    progress
        Called after each request with ``(versions_so_far, total)``; ``total`` is the
        latest version number once known, else None.
    on_missing
        ``"get"`` only: called with ``(version_number, error)`` for a version that no
        longer exists. The walk continues; by default the gap is logged.
    cancel
        When set, the iteration stops before its next request.

    Yields
    ------
    dict
        Normalized records. List items lack ``imageSetArn``, ``lastAccessedAt`` and
        ``storageTier`` (the service does not return them there): those are None.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    args = (client, datastore_id, image_set_id, progress, cancel)
    if strategy == "get":
        yield from _walk_get(*args, on_missing)
        return
    listed = _walk_list(*args)
    try:
        first = next(listed, None)
    except AccessDeniedError:
        if strategy == "list":
            raise
        log.info("ListImageSetVersions denied for %s; walking with GetImageSet", image_set_id)
        yield from _walk_get(*args, on_missing)
        return
    if first is not None:
        yield first
        yield from listed


def _walk_list(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("list_image_set_versions")
    pages = iter(
        paginator.paginate(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
    )
    done, total = 0, None
    ids = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    while not (cancel is not None and cancel.is_set()):
        with translate("ListImageSetVersions", **ids):
            page = next(pages, None)
        if page is None:
            return
        items = page.get("imageSetPropertiesList", [])
        records = [
            normalize_image_set(item, datastore_id=datastore_id, image_set_id=image_set_id)
            for item in items
        ]
        if total is None and records:
            total = max(r["versionId"] for r in records)
        done += len(records)
        if progress is not None:
            progress(done, total)
        yield from records


def _walk_get(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    on_missing: MissingCallback | None,
) -> Iterator[dict[str, Any]]:
    if cancel is not None and cancel.is_set():
        return
    latest = _get(client, datastore_id, image_set_id, None)
    total = latest["versionId"]
    done = 1
    if progress is not None:
        progress(done, total)
    yield latest
    for number in range(total - 1, 0, -1):
        if cancel is not None and cancel.is_set():
            return
        try:
            record = _get(client, datastore_id, image_set_id, str(number))
        except ResourceNotFoundError as error:
            if on_missing is not None:
                on_missing(number, error)
            else:
                log.warning("image set %s has no version %d", image_set_id, number)
            record = None
        else:
            done += 1
        if progress is not None:
            progress(done, total)
        if record is not None:
            yield record


def list_datastores(client: Any, *, status: str | None = None) -> list[dict[str, Any]]:
    """Return every datastore summary (all pages), optionally only those with ``status``.

    Returns
    -------
    list of dict
        ``datastoreId``, ``datastoreName``, ``datastoreStatus``, ``datastoreArn``,
        ``createdAt``, ``updatedAt`` as the service returns them.
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
    params: dict[str, Any] = {"datastoreId": datastore_id}
    if criteria:
        params["searchCriteria"] = criteria
    paginator = client.get_paginator("search_image_sets")
    found: list[dict[str, Any]] = []
    with translate("SearchImageSets", datastoreId=datastore_id):
        for page in paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE}):
            found.extend(page.get("imageSetsMetadataSummaries", []))
            if limit is not None and len(found) >= limit:
                return found[:limit]
    return found


def get_image_set_metadata(
    client: Any, datastore_id: str, image_set_id: str, version_id: str | int | None = None
) -> dict[str, Any]:
    """Return the image set metadata document (Patient/Study/Series/Instances), gunzipped.

    The document contains PHI.
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
