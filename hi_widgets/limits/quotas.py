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

This module imports nothing but the standard library and the bucket leaf
(:mod:`hi_widgets.limits.bucket`), so the sandbox and the CLI can use it without loading
the data layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hi_widgets.limits.bucket import Quota, check_rate_and_burst

QUOTA_TABLE_SOURCE = (
    "the newest copy of AWS's 'AWS HealthImaging throttling limits' page "
    "(StartDICOMImportJob 40/80, UpdateImageSetMetadata 10/40 tps)"
)
"""Which version of the published table :data:`PUBLISHED_QUOTAS` follows (for --help)."""

__all__ = [
    "PUBLISHED_QUOTAS",
    "QUOTA_TABLE_SOURCE",
    "Quota",
    "QuotaOverrides",
    "check_quota",
    "quota_for",
    "quota_table",
    "scaled_quotas",
]

QuotaOverrides = Mapping[str, tuple[float, float]]
"""``quota_rates={"GetImageSet": (rate, burst), ...}``: quotas raised for an account."""


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
    return check_rate_and_burst(rate, burst, operation)


def quota_table(overrides: QuotaOverrides | None = None) -> dict[str, Quota]:
    """Return the published quotas with ``overrides`` checked and applied (the one check).

    Both the client's :class:`~hi_widgets.limits.ratelimit.RateLimiter` and the sandbox's
    quota table build their buckets from this table.

    Parameters
    ----------
    overrides
        ``{"GetImageSet": (rate, burst), ...}`` for an account whose quotas were raised.

    Returns
    -------
    dict
        Operation name -> :class:`Quota`, every published operation included.

    Raises
    ------
    TypeError
        If ``overrides`` is not a mapping.
    ValueError
        If an override names an operation the table does not know, is not a pair, or
        its numbers are not a valid quota.

    Examples
    --------
    >>> quota_table({"GetImageSet": (100, 200)})["GetImageSet"]
    Quota(rate=100.0, burst=200.0)
    """
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(
            f"quota_rates must be a mapping of operation to (rate, burst), got {overrides!r}"
        )
    table = dict(PUBLISHED_QUOTAS)
    for operation, value in (overrides or {}).items():
        try:
            rate, burst = value
        except (TypeError, ValueError):
            raise ValueError(
                f"quota of {operation} must be a pair (rate, burst), got {value!r}"
            ) from None
        table[operation] = check_quota(operation, rate, burst)
    return table


def quota_for(operation: str, overrides: QuotaOverrides | None = None) -> Quota:
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
