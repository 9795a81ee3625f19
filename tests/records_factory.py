"""Normalized version records for the frames, plots and export tests, and the service
responses the Stubber tests of the walk and fetch_datastore give.

A record is what :func:`hi_widgets.api.records.normalize_image_set` returns: every field of
:data:`hi_widgets.api.records.RECORD_FIELDS`. Image set ``n`` is created on day ``n`` after
:data:`BASE` (its ``createdAt``, the same on every version, as AWS gives it: see the
``list-image-set-versions`` example of the AWS CLI reference); its version ``v`` was last
changed (``updatedAt``) at hour ``v`` of that day plus ``updated_after``. Status CREATED
for version 1 and UPDATED after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

DS = "d" * 32
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def record_builder(
    image_set_id: Callable[[int], str],
    *,
    updated_after: timedelta = timedelta(minutes=5),
    **defaults: Any,
) -> Callable[..., dict[str, Any]]:
    """Return ``record(image_set=1, version=1, **overrides)`` for a test module.

    Parameters
    ----------
    image_set_id
        Image set number to its 32-character id.
    updated_after
        ``updatedAt`` of version ``v`` is this long after hour ``v`` of the image set's day.
    defaults
        Field values replacing the usual ones (e.g. ``imageSetArn``).
    """

    def record(image_set: int = 1, version: int = 1, **overrides: Any) -> dict[str, Any]:
        created = BASE + timedelta(days=image_set)
        fields = {
            "datastoreId": DS,
            "imageSetId": image_set_id(image_set),
            "versionId": version,
            "imageSetState": "ACTIVE",
            "imageSetWorkflowStatus": "CREATED" if version == 1 else "UPDATED",
            "createdAt": created,
            "updatedAt": created + timedelta(hours=version) + updated_after,
            "deletedAt": None,
            "message": None,
            "imageSetArn": None,
            "forced": None,
            "isPrimary": True,
            "lastAccessedAt": None,
            "storageTier": "FREQUENT_ACCESS",
            **defaults,
        }
        fields.update(overrides)
        return fields

    return record


# Service responses for Stubber tests of one image set (the walk, fetch_datastore).
STUB_DS = "a" * 32
STUB_IS = "0123456789abcdef0123456789abcdef"
STUB_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def listed_version(version: int) -> dict[str, Any]:
    """One ``imageSetPropertiesList`` entry of ListImageSetVersions for STUB_IS."""
    return {
        "imageSetId": STUB_IS,
        "versionId": str(version),
        "imageSetState": "ACTIVE",
        "ImageSetWorkflowStatus": "UPDATED",  # the API's own casing in this shape
        "createdAt": STUB_TIME,
        "updatedAt": STUB_TIME,
    }


def got_version(version: int) -> dict[str, Any]:
    """A GetImageSet response for version ``version`` of STUB_IS."""
    return {
        "datastoreId": STUB_DS,
        "imageSetId": STUB_IS,
        "versionId": str(version),
        "imageSetState": "ACTIVE",
        "imageSetWorkflowStatus": "UPDATED",
        "createdAt": STUB_TIME,
        "updatedAt": STUB_TIME,
        "imageSetArn": f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/{STUB_DS}",
    }
