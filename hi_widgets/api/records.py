"""The normalized image set record that every fetch function returns.

GetImageSet and ListImageSetVersions describe a version with slightly different shapes
(ListImageSetVersions spells the workflow key ``ImageSetWorkflowStatus`` and omits the
datastore id, ARN, last access and storage tier). Both become one flat ``dict`` with the
keys in :data:`RECORD_FIELDS`, missing values as ``None``. So do the image set properties
that CopyImageSet, UpdateImageSetMetadata and DeleteImageSet answer (which name the
version ``latestVersionId``, or not at all).

Times are kept as AWS gives them: ``createdAt`` is the image set's creation time (the same
on every version), ``updatedAt`` when that version was last changed, and either may be
absent (the ListImageSetVersions example of the AWS CLI reference lists version 1 without
``updatedAt``). Nothing here says how long an operation took.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

RECORD_FIELDS: tuple[str, ...] = (
    "datastoreId",
    "imageSetId",
    "versionId",
    "imageSetState",
    "imageSetWorkflowStatus",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "message",
    "imageSetArn",
    "forced",
    "isPrimary",
    "lastAccessedAt",
    "storageTier",
)
"""Keys of a normalized record, in display order."""

TIMESTAMP_FIELDS: tuple[str, ...] = ("createdAt", "updatedAt", "deletedAt", "lastAccessedAt")


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:  # botocore gives aware datetimes; a naive one is taken as UTC
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def normalize_image_set(
    properties: Mapping[str, Any],
    *,
    datastore_id: str | None = None,
    image_set_id: str | None = None,
) -> dict[str, Any]:
    """Flatten a GetImageSet response or a ListImageSetVersions item into a record.

    Parameters
    ----------
    properties
        The response dict (``ResponseMetadata`` is ignored), one item of
        ``imageSetPropertiesList``, or the image set properties of a CopyImageSet,
        UpdateImageSetMetadata or DeleteImageSet answer (``latestVersionId`` is taken as
        the version when there is no ``versionId``).
    datastore_id, image_set_id
        Filled in where the response does not carry them.

    Returns
    -------
    dict
        Keys of :data:`RECORD_FIELDS`; ``versionId`` as ``int``, timestamps as UTC
        datetimes, ``overrides.forced`` as ``forced``.
    """
    workflow = properties.get("imageSetWorkflowStatus", properties.get("ImageSetWorkflowStatus"))
    version = properties.get("versionId", properties.get("latestVersionId"))
    overrides = properties.get("overrides") or {}
    record = {
        "datastoreId": properties.get("datastoreId", datastore_id),
        "imageSetId": properties.get("imageSetId", image_set_id),
        "versionId": int(version) if version is not None else None,
        "imageSetState": properties.get("imageSetState"),
        "imageSetWorkflowStatus": workflow,
        "message": properties.get("message"),
        "imageSetArn": properties.get("imageSetArn"),
        "forced": overrides.get("forced"),
        "isPrimary": properties.get("isPrimary"),
        "storageTier": properties.get("storageTier"),
    }
    for field in TIMESTAMP_FIELDS:
        record[field] = _utc(properties.get(field))
    return {field: record[field] for field in RECORD_FIELDS}
