"""Storage tiers and access times of image sets, on the sandbox clock.

AWS HealthImaging Developer Guide, "Cost optimization" (intelligent tiering,
https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html): new
image sets (imported, or made by CopyImageSet) are stored in the Frequent Access tier, and
HealthImaging automatically moves image sets not accessed for 30 consecutive days to the
Archive Instant Access tier; an archived image set that is accessed again is back in
Frequent Access.

Sandbox choices, where the guide is silent: reading an image set's data (its metadata with
GetImageSetMetadata, or an image frame with GetImageFrame) is an access and sets
``lastAccessedAt``; reading its properties (GetImageSet, ListImageSetVersions,
SearchImageSets), which report ``lastAccessedAt``, is not. The tier is computed when it is
reported, so it moves with the sandbox clock (a ManualClock moves it only when advanced).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hi_widgets.sandbox.backend.domain import ImageSet

FREQUENT_ACCESS = "FREQUENT_ACCESS"
ARCHIVE_INSTANT_ACCESS = "ARCHIVE_INSTANT_ACCESS"
ARCHIVE_AFTER = timedelta(days=30)
"""Days without access after which an image set is moved to Archive Instant Access."""


def storage_tier(image_set: ImageSet, now: datetime | None) -> str | None:
    """Return the image set's tier at ``now`` (its stored tier when ``now`` is None)."""
    last = image_set.last_accessed_at
    if now is None or last is None or image_set.storage_tier != FREQUENT_ACCESS:
        return image_set.storage_tier
    return ARCHIVE_INSTANT_ACCESS if now - last >= ARCHIVE_AFTER else FREQUENT_ACCESS


def record_access(image_set: ImageSet, now: datetime) -> None:
    """Note a read of the image set's data: it is (back) in Frequent Access from ``now``."""
    image_set.last_accessed_at = now
    image_set.storage_tier = FREQUENT_ACCESS
