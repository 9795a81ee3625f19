"""Server-side token buckets, one per operation, at HealthImaging's published quotas.

The buckets are the client's (:class:`hi_widgets.limits.bucket.TokenBucket`, here with no
safety margin and never adapted: the service's own bucket), and the rates come from the
one published table with overrides checked by the one check,
:func:`hi_widgets.limits.quotas.quota_table`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from hi_widgets.limits.bucket import Quota, TokenBucket
from hi_widgets.limits.quotas import quota_table


class QuotaTable:
    """Token buckets per operation; thread-safe.

    Parameters
    ----------
    time_fn
        Monotonic seconds used to refill the buckets (the sandbox passes its clock's
        ``monotonic``, so a ``ManualClock`` moves them).
    enabled
        Whether quotas are enforced.
    quota_rates
        Overrides of :data:`hi_widgets.limits.quotas.PUBLISHED_QUOTAS`:
        ``{"GetImageSet": (rate, burst), ...}``.

    Raises
    ------
    ValueError
        If an override names an unknown operation or is not a valid quota.
    """

    def __init__(
        self,
        time_fn: Callable[[], float],
        *,
        enabled: bool = True,
        quota_rates: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self._time_fn = time_fn
        self._lock = threading.Lock()
        self.configure(enabled, quota_rates)

    def configure(
        self, enabled: bool, quota_rates: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        """Turn quotas on or off and replace rate overrides; all buckets start full again."""
        merged: dict[str, Quota] = quota_table(quota_rates)
        with self._lock:
            self.enabled = bool(enabled)
            self.rates = merged
            self._buckets: dict[str, TokenBucket] = {}

    def try_acquire(self, operation: str) -> bool:
        """Return True if ``operation`` may run now (always True when disabled)."""
        with self._lock:
            if not self.enabled:
                return True
            bucket = self._buckets.get(operation)
            if bucket is None:
                if operation not in self.rates:  # newer than the published table: no
                    return True  # quota is known, so none is invented here
                rate, burst = self.rates[operation]
                bucket = TokenBucket(rate, burst, clock=self._time_fn)
                self._buckets[operation] = bucket
        return bucket.try_acquire() is not None
