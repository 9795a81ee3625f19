"""HealthImaging's published request quotas: the one table both the client and the sandbox use.

Source: AWS HealthImaging Developer Guide, "AWS HealthImaging throttling limits"
(https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html). The page
exists in several versions: older copies (the HTML page and its translations) list
StartDICOMImportJob at 1/2 or 0.25/1 and UpdateImageSetMetadata at 0.25/1; the newest copy
(the page's markdown, ``throttling-limits.md``) lists StartDICOMImportJob at 40/80 and
UpdateImageSetMetadata at 10/40 tps. This table follows the newest copy
(:data:`QUOTA_TABLE_SOURCE`); the rows below UpdateImageSetMetadata (CopyImageSet,
DeleteImageSet, the tag operations) were not legible in the copy read for this table and
keep the values every copy we read agrees on. Quotas are per account, region and
operation, and adjustable through AWS Support; a raised quota is passed as an override,
never edited here.

This module imports nothing but the standard library, so the sandbox and the CLI can use
it without loading the data layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "PUBLISHED_QUOTAS",
    "QUOTA_TABLE_SOURCE",
    "Quota",
    "check_quota",
    "quota_for",
    "scaled_quotas",
]

QUOTA_TABLE_SOURCE = (
    "the newest copy of AWS's 'AWS HealthImaging throttling limits' page "
    "(StartDICOMImportJob 40/80, UpdateImageSetMetadata 10/40 tps)"
)
"""Which version of the published table :data:`PUBLISHED_QUOTAS` follows (for --help)."""


class Quota(NamedTuple):
    """A request quota: sustained ``rate`` (requests per second) and ``burst`` size."""

    rate: float
    burst: float


PUBLISHED_QUOTAS: Mapping[str, Quota] = {
    "CreateDatastore": Quota(0.085, 1.0),
    "GetDatastore": Quota(10.0, 20.0),
    "ListDatastores": Quota(5.0, 10.0),
    "DeleteDatastore": Quota(0.085, 1.0),
    "StartDICOMImportJob": Quota(40.0, 80.0),
    "GetDICOMImportJob": Quota(25.0, 50.0),
    "ListDICOMImportJobs": Quota(10.0, 20.0),
    "SearchImageSets": Quota(25.0, 50.0),
    "GetImageSet": Quota(25.0, 50.0),
    "GetImageSetMetadata": Quota(50.0, 100.0),
    "GetImageFrame": Quota(1000.0, 2000.0),
    "ListImageSetVersions": Quota(25.0, 50.0),
    "UpdateImageSetMetadata": Quota(10.0, 40.0),
    "CopyImageSet": Quota(0.25, 1.0),
    "DeleteImageSet": Quota(0.25, 1.0),
    "TagResource": Quota(10.0, 20.0),
    "ListTagsForResource": Quota(10.0, 20.0),
    "UntagResource": Quota(10.0, 20.0),
}
"""Published default quota of every HealthImaging API operation (rate per second, burst)."""


def check_quota(operation: str, rate: object, burst: object) -> Quota:
    """Return ``Quota(rate, burst)`` for a known ``operation``, or raise ``ValueError``.

    The operation must be one of :data:`PUBLISHED_QUOTAS` (a misspelt name is an error,
    not a silently ignored override); the rate must be positive and the burst at least 1.
    """
    if operation not in PUBLISHED_QUOTAS:
        known = ", ".join(sorted(PUBLISHED_QUOTAS))
        raise ValueError(f"unknown HealthImaging operation {operation!r}; expected one of {known}")
    try:
        # Anything float() takes (numpy numbers, text); float() itself rejects the rest.
        rate_value, burst_value = float(rate), float(burst)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"quota of {operation} must be numbers (rate, burst), got {(rate, burst)!r}"
        ) from None
    if not (math.isfinite(rate_value) and rate_value > 0):
        raise ValueError(f"rate of {operation} must be a positive number, got {rate!r}")
    if not (math.isfinite(burst_value) and burst_value >= 1):
        raise ValueError(f"burst of {operation} must be a number >= 1, got {burst!r}")
    return Quota(rate_value, burst_value)


def quota_for(operation: str, overrides: Mapping[str, tuple[float, float]] | None = None) -> Quota:
    """Return the quota of ``operation``: the override if given, else the published one."""
    if overrides and operation in overrides:
        return check_quota(operation, *overrides[operation])
    try:
        return PUBLISHED_QUOTAS[operation]
    except KeyError:
        check_quota(operation, 1, 1)  # raises the ValueError naming the known operations
        raise


def scaled_quotas(factor: float) -> dict[str, Quota]:
    """Every published quota multiplied by ``factor`` (bursts stay at least 1).

    This is the table after a granted quota increase, used by benchmarks and
    ``hi-widgets sandbox --quota-scale``.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"quota scale factor must be a positive number, got {factor!r}")
    return {
        name: Quota(quota.rate * factor, max(1.0, quota.burst * factor))
        for name, quota in PUBLISHED_QUOTAS.items()
    }
