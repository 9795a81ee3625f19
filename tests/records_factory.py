"""Normalized version records for the frames, plots and export tests.

A record is what :func:`hi_widgets.records.normalize_image_set` returns: every field of
:data:`hi_widgets.records.RECORD_FIELDS`. Version ``v`` of image set ``n`` is created on
day ``n``, hour ``v`` after :data:`BASE`, status CREATED for version 1 and UPDATED after.
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
        ``updatedAt - createdAt`` of every record.
    defaults
        Field values replacing the usual ones (e.g. ``imageSetArn``).
    """

    def record(image_set: int = 1, version: int = 1, **overrides: Any) -> dict[str, Any]:
        created = BASE + timedelta(days=image_set, hours=version)
        fields = {
            "datastoreId": DS,
            "imageSetId": image_set_id(image_set),
            "versionId": version,
            "imageSetState": "ACTIVE",
            "imageSetWorkflowStatus": "CREATED" if version == 1 else "UPDATED",
            "createdAt": created,
            "updatedAt": created + updated_after,
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
