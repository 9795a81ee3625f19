"""Client-side rate limiting at HealthImaging's request quotas.

HealthImaging limits requests per account, region and operation with a token bucket
(a sustained rate in requests per second and a burst). Sending faster than the quota only
produces ``ThrottlingException`` answers that cost a round trip each; sending slower
wastes the quota. :class:`RateLimiter` keeps one :class:`TokenBucket` per operation so a
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

Adaptation
----------
When a request is throttled anyway (another process is using the same quota, or the
quota is lower than configured), :meth:`TokenBucket.on_throttle` empties the bucket and
cuts its rate multiplicatively (AIMD). Concurrent throttles of requests that were already
sent before the cut do not cut again, so a burst of in-flight throttles counts as one
signal. The rate then recovers linearly with time, back to the configured rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from hi_widgets.limits.quotas import PUBLISHED_QUOTAS, Quota, check_quota, quota_for

__all__ = [
    "PUBLISHED_QUOTAS",
    "SAFETY_MARGIN",
    "Quota",
    "RateLimiter",
    "TokenBucket",
]


SAFETY_MARGIN = 0.03
"""Fraction of rate and burst left unused, for arrival jitter and clock drift."""

DECREASE_FACTOR = 0.7
"""The rate is multiplied by this on each throttle signal."""

RECOVERY_PER_SECOND = 0.05
"""Fraction of the configured rate regained per second after a throttle."""

MIN_RATE_FRACTION = 0.05
"""The adaptive rate never falls below this fraction of the configured rate."""

SleepFunction = Callable[[float], object]

# Refill arithmetic rounds: 0.5 + (0.5 / r) * r can come out as 0.9999999999999999.
_EPSILON = 1e-9


def _positive_quota(rate: float, burst: float) -> Quota:
    try:
        rate, burst = float(rate), float(burst)
    except (TypeError, ValueError):
        raise ValueError(f"a bucket needs numbers (rate, burst), got {(rate, burst)!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate of the bucket must be a positive number, got {rate!r}")
    if not (math.isfinite(burst) and burst >= 1):
        raise ValueError(f"burst of the bucket must be a number >= 1, got {burst!r}")
    return Quota(rate, burst)


class TokenBucket:
    """A thread-safe token bucket with adaptive rate, for one operation.

    Parameters
    ----------
    rate
        The quota's sustained rate, requests per second.
    burst
        The quota's burst size (>= 1). The bucket starts full.
    margin
        Fraction of rate and burst left unused (see the module notes); the usable burst
        never falls below one token.
    clock
        Monotonic seconds; default :func:`time.monotonic`. Tests pass a fake clock.
    sleep
        ``sleep(seconds)`` used while waiting for a token. Default: ``cancel.wait`` when a
        cancel event is given (so cancelling wakes the waiter), else :func:`time.sleep`.
    decrease
        Factor applied to the rate on a throttle (0 < decrease < 1).
    recovery
        Fraction of the configured rate regained per second after a throttle.
    min_fraction
        Lower bound of the adaptive rate, as a fraction of the configured rate.

    Examples
    --------
    >>> bucket = TokenBucket(25, 50)
    >>> bucket.try_acquire() is not None  # a full bucket: a token at once
    True
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        margin: float = SAFETY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: SleepFunction | None = None,
        decrease: float = DECREASE_FACTOR,
        recovery: float = RECOVERY_PER_SECOND,
        min_fraction: float = MIN_RATE_FRACTION,
    ) -> None:
        rate, burst = _positive_quota(rate, burst)
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
        if recovery < 0:
            raise ValueError(f"recovery must be >= 0, got {recovery!r}")
        if not 0 < min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}")
        self.quota = Quota(rate, burst)
        self.max_rate = rate * (1.0 - margin)
        self.burst = max(1.0, burst * (1.0 - margin))
        self._min_rate = self.max_rate * min_fraction
        self._decrease = decrease
        self._recovery = recovery * self.max_rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rate = self.max_rate
        self._tokens = self.burst
        self._last = clock()
        self._last_cut = -math.inf
        self.throttles = 0
        self.cuts = 0

    def __repr__(self) -> str:
        return (
            f"TokenBucket(quota={self.quota.rate:g}/s burst {self.quota.burst:g}, "
            f"rate={self.rate:.3g}/s, tokens={self.tokens:.3g})"
        )

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed <= 0:
            return
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self._rate)
        if self._rate < self.max_rate:
            self._rate = min(self.max_rate, self._rate + elapsed * self._recovery)

    @property
    def rate(self) -> float:
        """The current (adapted) sending rate, requests per second."""
        with self._lock:
            self._refill(self._clock())
            return self._rate

    @property
    def tokens(self) -> float:
        """Tokens available now (may be fractional)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def try_acquire(self) -> float | None:
        """Take a token if one is available, without waiting.

        Returns
        -------
        float or None
            The clock time the token was taken (pass it to :meth:`on_throttle`), or None
            when the bucket is empty.
        """
        return self._take()[0]

    def _take(self) -> tuple[float | None, float]:
        """Take a token if there is one: ``(time taken, 0)``, else ``(None, seconds to wait)``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if self._tokens >= 1.0 - _EPSILON:
                self._tokens -= 1.0
                return now, 0.0
            return None, (1.0 - self._tokens) / self._rate

    def delay(self) -> float:
        """Seconds until a token is available (0 if one is available now)."""
        with self._lock:
            self._refill(self._clock())
            return max(0.0, (1.0 - self._tokens) / self._rate)

    def acquire(self, cancel: threading.Event | None = None) -> float | None:
        """Wait for a token and take it.

        Parameters
        ----------
        cancel
            When set, stop waiting and return None without taking a token.

        Returns
        -------
        float or None
            The clock time the token was taken, or None if cancelled.
        """
        while True:
            if cancel is not None and cancel.is_set():
                return None
            taken, wait = self._take()
            if taken is not None:
                return taken
            self._wait(wait, cancel)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)

    def on_throttle(self, sent_at: float | None = None) -> bool:
        """Record that the service throttled a request: empty the bucket, slow down.

        Parameters
        ----------
        sent_at
            The time :meth:`acquire` returned for the throttled request. A request sent
            before the last slow-down does not slow down again (it was sent at the old
            rate). None always counts.

        Returns
        -------
        bool
            Whether the rate was cut.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            self._tokens = min(self._tokens, 0.0)
            if sent_at is not None and sent_at < self._last_cut:
                return False
            self._rate = max(self._min_rate, self._rate * self._decrease)
            self._last_cut = now
            self.cuts += 1
            return True


class RateLimiter:
    """One :class:`TokenBucket` per operation, created on first use; thread-safe.

    Parameters
    ----------
    quota_rates
        Overrides of :data:`~hi_widgets.limits.quotas.PUBLISHED_QUOTAS`:
        ``{"GetImageSet": (rate, burst), ...}``, for an account whose quotas were raised.
        An operation name not in that table is a ``ValueError`` naming it.
    margin, clock, sleep
        Passed to every :class:`TokenBucket`.

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
        if quota_rates is not None and not isinstance(quota_rates, Mapping):
            raise TypeError(
                f"quota_rates must be a mapping of operation to (rate, burst), got {quota_rates!r}"
            )
        quotas = dict(PUBLISHED_QUOTAS)
        for operation, value in (quota_rates or {}).items():
            try:
                rate, burst = value
            except (TypeError, ValueError):
                raise ValueError(
                    f"quota of {operation} must be a pair (rate, burst), got {value!r}"
                ) from None
            quotas[operation] = check_quota(operation, rate, burst)
        self._quotas = quotas
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
