"""Client-side rate limiting at HealthImaging's request quotas.

HealthImaging limits requests per account, region and operation with a token bucket
(a sustained rate in requests per second and a burst). Sending faster than the quota only
produces ``ThrottlingException`` answers that cost a round trip each; sending slower
wastes the quota. :class:`RateLimiter` keeps one
:class:`~hi_widgets.limits.bucket.TokenBucket` per operation so a
pool of threads sharing one client runs at the quota without tripping it.

Safety margin
-------------
The service keeps its own bucket, refilled by its own clock, and sees a request when it
*arrives*, not when the client sent it. Network jitter can bring requests closer together
at the server than they left the client, and the two clocks tick at slightly different
rates. Every bucket therefore runs :data:`SAFETY_MARGIN` (3%) below the quota, both in rate
and in burst: with the published 25/s and burst 50 the client sends at most 48.5 at once
and 24.25/s after that. The 1.5 spare burst tokens absorb about 60 ms of arrival jitter,
and the 0.75 tokens/s of spare rate repay any drift within seconds. The cost is 3% of the
throughput.

The bucket itself, and how it adapts to throttles, is :mod:`hi_widgets.limits.bucket`
(the same bucket the sandbox enforces its quotas with).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from hi_widgets.limits.bucket import SleepFunction, TokenBucket
from hi_widgets.limits.quotas import PUBLISHED_QUOTAS, Quota, quota_for, quota_table

__all__ = [
    "PUBLISHED_QUOTAS",
    "SAFETY_MARGIN",
    "Quota",
    "RateLimiter",
]


SAFETY_MARGIN = 0.03
"""Fraction of rate and burst left unused, for arrival jitter and clock drift."""


class RateLimiter:
    """One token bucket per operation, created on first use; thread-safe.

    Parameters
    ----------
    quota_rates
        Overrides of :data:`~hi_widgets.limits.quotas.PUBLISHED_QUOTAS`:
        ``{"GetImageSet": (rate, burst), ...}``, for an account whose quotas were raised.
        An operation name not in that table is a ``ValueError`` naming it.
    margin
        Fraction of rate and burst every bucket leaves unused (see the module notes).
    clock, sleep
        Passed to every :class:`~hi_widgets.limits.bucket.TokenBucket`.

    Examples
    --------
    >>> limiter = RateLimiter({"ListImageSetVersions": (100, 200)})
    >>> limiter.quota("ListImageSetVersions")
    Quota(rate=100.0, burst=200.0)
    """

    def __init__(
        self,
        quota_rates: Mapping[str, tuple[float, float]] | None = None,
        *,
        margin: float = SAFETY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: SleepFunction | None = None,
    ) -> None:
        self._quotas = quota_table(quota_rates)
        self._margin = margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def quota(self, operation: str) -> Quota:
        """Return the configured quota of ``operation`` (ValueError if it is unknown)."""
        return quota_for(operation, self._quotas)

    def bucket(self, operation: str) -> TokenBucket:
        """Return the bucket of ``operation``, creating it (full) on first use."""
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                rate, burst = self.quota(operation)
                bucket = TokenBucket(
                    rate, burst, margin=self._margin, clock=self._clock, sleep=self._sleep
                )
                self._buckets[operation] = bucket
            return bucket

    def acquire(self, operation: str, cancel: threading.Event | None = None) -> float | None:
        """Wait for a token of ``operation``; see :meth:`TokenBucket.acquire`."""
        return self.bucket(operation).acquire(cancel)

    def on_throttle(self, operation: str, sent_at: float | None = None) -> bool:
        """Report a throttled ``operation`` request; see :meth:`TokenBucket.on_throttle`."""
        return self.bucket(operation).on_throttle(sent_at)

    def rates(self) -> dict[str, float]:
        """Return the current adapted rate of every bucket used so far."""
        with self._lock:
            buckets = dict(self._buckets)
        return {operation: bucket.rate for operation, bucket in buckets.items()}
