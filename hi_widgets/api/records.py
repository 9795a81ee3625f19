"""The normalized image set record that every fetch function returns.

GetImageSet and ListImageSetVersions describe a version with slightly different shapes
(ListImageSetVersions spells the workflow key ``ImageSetWorkflowStatus`` and omits the
datastore id, ARN, last access and storage tier). Both become one flat ``dict`` with the
keys in :data:`RECORD_FIELDS`, missing values as ``None`` (an :class:`ImageSetRecord`).
So do the image set properties that CopyImageSet, UpdateImageSetMetadata and
DeleteImageSet answer (which name the version ``latestVersionId``, or not at all).

Times are kept as AWS gives them: ``createdAt`` is the image set's creation time (the same
on every version), ``updatedAt`` when that version was last changed, and either may be
absent (the ListImageSetVersions example of the AWS CLI reference lists version 1 without
``updatedAt``). Nothing here says how long an operation took.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypedDict

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


class ImageSetRecord(TypedDict):
    """One version of an image set, as every fetch function returns it.

    The keys are :data:`RECORD_FIELDS`, always all of them; a value the response did not
    carry is None. States and statuses stay text (a value newer than the installed
    botocore model is kept).

    Examples
    --------
    >>> record = hw.get_image_set(client, datastore_id, image_set_id, version_id=1)
    >>> tuple(record) == hw.RECORD_FIELDS, record["versionId"]
    (True, 1)
    """

    datastoreId: str
    imageSetId: str
    versionId: int  # None only in the record of a DeleteImageSet answer (no version)
    imageSetState: str | None
    imageSetWorkflowStatus: str | None
    createdAt: datetime | None
    updatedAt: datetime | None
    deletedAt: datetime | None
    message: str | None
    imageSetArn: str | None
    forced: bool | None
    isPrimary: bool | None
    lastAccessedAt: datetime | None
    storageTier: str | None


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
) -> ImageSetRecord:
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
    ImageSetRecord
        Keys of :data:`RECORD_FIELDS`; ``versionId`` as ``int``, timestamps as UTC
        datetimes, ``overrides.forced`` as ``forced``.

    Raises
    ------
    ValueError
        If the image set's identifiers are neither in the response nor given (the service
        always sends them). A response without a version (DeleteImageSet) gives ``None``.
    """
    workflow = properties.get("imageSetWorkflowStatus", properties.get("ImageSetWorkflowStatus"))
    version = properties.get("versionId", properties.get("latestVersionId"))
    datastore = properties.get("datastoreId", datastore_id)
    image_set = properties.get("imageSetId", image_set_id)
    if datastore is None or image_set is None:
        missing = [
            n for n, v in (("datastoreId", datastore), ("imageSetId", image_set)) if v is None
        ]
        raise ValueError(f"image set properties lack {', '.join(missing)}")
    overrides = properties.get("overrides") or {}
    return {
        "datastoreId": datastore,
        "imageSetId": image_set,
        # A DeleteImageSet answer names no version: the one record without one.
        "versionId": int(version) if version is not None else None,  # type: ignore[typeddict-item]
        "imageSetState": properties.get("imageSetState"),
        "imageSetWorkflowStatus": workflow,
        "createdAt": _utc(properties.get("createdAt")),
        "updatedAt": _utc(properties.get("updatedAt")),
        "deletedAt": _utc(properties.get("deletedAt")),
        "message": properties.get("message"),
        "imageSetArn": properties.get("imageSetArn"),
        "forced": overrides.get("forced"),
        "isPrimary": properties.get("isPrimary"),
        "lastAccessedAt": _utc(properties.get("lastAccessedAt")),
        "storageTier": properties.get("storageTier"),
    }
