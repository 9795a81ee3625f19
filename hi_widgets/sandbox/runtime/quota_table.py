"""Server-side token buckets, one per operation, at HealthImaging's published quotas.

The rates come from the one published table, :mod:`hi_widgets.limits.quotas`; overrides are
checked against it, so a misspelt operation is an error rather than silently ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from hi_widgets.limits.quotas import PUBLISHED_QUOTAS, Quota, check_quota

_EPSILON = 1e-9


class TokenBucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second.

    Parameters
    ----------
    rate
        Tokens added per second.
    burst
        Capacity; the bucket starts full.
    time_fn
        Monotonic seconds (the sandbox passes its clock's ``monotonic``).
    """

    def __init__(self, rate: float, burst: float, time_fn: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._time_fn = time_fn
        self._tokens = float(burst)
        self._last = time_fn()

    def try_take(self) -> bool:
        """Take one token if there is one; return whether the request may proceed."""
        now = self._time_fn()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0 - _EPSILON:  # a call exactly at the rate must pass
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False


class QuotaTable:
    """Token buckets per operation; thread-safe.

    Parameters
    ----------
    time_fn
        Monotonic seconds used to refill the buckets.
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
        merged: dict[str, Quota] = dict(PUBLISHED_QUOTAS)
        for operation, quota in (quota_rates or {}).items():
            merged[operation] = check_quota(operation, *quota)
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
                bucket = self._buckets[operation] = TokenBucket(rate, burst, self._time_fn)
            return bucket.try_take()
