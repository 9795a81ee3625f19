"""Per-operation token buckets with HealthImaging's published default quotas."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

DEFAULT_RATES: dict[str, tuple[float, float]] = {
    "GetImageSet": (25.0, 50.0),
    "ListImageSetVersions": (25.0, 50.0),
    "SearchImageSets": (25.0, 50.0),
    "GetImageSetMetadata": (50.0, 100.0),
    "GetImageFrame": (100.0, 200.0),
    "GetDatastore": (10.0, 20.0),
    "ListDatastores": (5.0, 10.0),
    "CreateDatastore": (1.0, 2.0),
    "DeleteDatastore": (1.0, 2.0),
    "UpdateImageSetMetadata": (0.25, 1.0),
    "CopyImageSet": (0.25, 1.0),
    "DeleteImageSet": (0.25, 1.0),
    "TagResource": (10.0, 20.0),
    "UntagResource": (10.0, 20.0),
    "ListTagsForResource": (10.0, 20.0),
    "StartDICOMImportJob": (1.0, 2.0),
    "GetDICOMImportJob": (10.0, 20.0),
    "ListDICOMImportJobs": (10.0, 20.0),
}
"""Requests per second and burst size per operation (published defaults where AWS
publishes them; other operations get a sensible value)."""

FALLBACK_RATE: tuple[float, float] = (10.0, 20.0)
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
    rates
        Overrides of :data:`DEFAULT_RATES`: ``{"GetImageSet": (rate, burst), ...}``.
    """

    def __init__(
        self,
        time_fn: Callable[[], float],
        *,
        enabled: bool = True,
        rates: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self._time_fn = time_fn
        self._lock = threading.Lock()
        self.configure(enabled, rates)

    def configure(
        self, enabled: bool, rates: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        """Turn quotas on or off and replace rate overrides; all buckets start full again."""
        merged = dict(DEFAULT_RATES)
        for operation, (rate, burst) in (rates or {}).items():
            merged[operation] = (float(rate), float(burst))
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
                rate, burst = self.rates.get(operation, FALLBACK_RATE)
                bucket = self._buckets[operation] = TokenBucket(rate, burst, self._time_fn)
            return bucket.try_take()
