"""The one token bucket: the client's rate limiter and the sandbox's quota table both use it.

HealthImaging limits requests per account, region and operation with a token bucket (a
sustained rate in requests per second and a burst). The client paces its requests with
this bucket (:mod:`hi_widgets.limits.ratelimit`, with a safety margin and adaptation to
throttles); the sandbox enforces the published quotas with the same bucket (no margin,
never adapted), so both sides count tokens the same way.

A leaf: imports nothing else of hi_widgets (the sandbox may import it).

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
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Quota", "SleepFunction", "TokenBucket", "check_rate_and_burst"]

DECREASE_FACTOR = 0.7
"""The rate is multiplied by this on each throttle signal."""

RECOVERY_PER_SECOND = 0.05
"""Fraction of the configured rate regained per second after a throttle."""

MIN_RATE_FRACTION = 0.05
"""The adaptive rate never falls below this fraction of the configured rate."""

SleepFunction = Callable[[float], object]

# Refill arithmetic rounds: 0.5 + (0.5 / r) * r can come out as 0.9999999999999999, and a
# request exactly at the rate must pass.
_EPSILON = 1e-9


class Quota(NamedTuple):
    """A request quota: sustained ``rate`` (requests per second) and ``burst`` size."""

    rate: float
    burst: float


def check_rate_and_burst(rate: object, burst: object, owner: str = "the bucket") -> Quota:
    """Return ``Quota(rate, burst)`` as floats, or raise ``ValueError`` naming ``owner``.

    The one check of a quota's numbers: the rate must be a positive finite number and the
    burst a finite number of at least one token.

    Parameters
    ----------
    rate, burst
        Anything :func:`float` takes (numpy numbers, text).
    owner
        What the numbers belong to, for the message (an operation name).

    Returns
    -------
    Quota
        The checked numbers.

    Examples
    --------
    >>> check_rate_and_burst("25", 50)
    Quota(rate=25.0, burst=50.0)
    """
    try:
        rate_value, burst_value = float(rate), float(burst)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"quota of {owner} must be numbers (rate, burst), got {(rate, burst)!r}"
        ) from None
    if not (math.isfinite(rate_value) and rate_value > 0):
        raise ValueError(f"rate of {owner} must be a positive number, got {rate!r}")
    if not (math.isfinite(burst_value) and burst_value >= 1):
        raise ValueError(f"burst of {owner} must be a number >= 1, got {burst!r}")
    return Quota(rate_value, burst_value)


class TokenBucket:
    """A thread-safe token bucket with adaptive rate, for one operation.

    Parameters
    ----------
    rate
        The quota's sustained rate, requests per second.
    burst
        The quota's burst size (>= 1). The bucket starts full.
    margin
        Fraction of rate and burst left unused (the client's safety margin, see
        :mod:`hi_widgets.limits.ratelimit`); the usable burst never falls below one token.
        0 (the default) is the bucket exactly at the quota, as the service keeps it.
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
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: SleepFunction | None = None,
        decrease: float = DECREASE_FACTOR,
        recovery: float = RECOVERY_PER_SECOND,
        min_fraction: float = MIN_RATE_FRACTION,
    ) -> None:
        rate, burst = check_rate_and_burst(rate, burst)
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
