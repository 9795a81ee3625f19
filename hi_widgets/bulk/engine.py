"""One call's shared state: the rate-limited, retrying ``send``, counters, cancellation."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hi_widgets.api.errors import (
    ConnectionFailedError,
    HealthImagingError,
    InternalServerError,
    ThrottlingError,
)
from hi_widgets.api.walk import STRATEGIES, Cancelled, Send, Strategy, direct_send
from hi_widgets.limits.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Attempts per request for retryable errors (throttling, 5xx, dropped connections)."""

BACKOFF_BASE = 0.1
"""Seconds: the n-th retry waits a uniformly random time in [0, base * 2**(n - 1)]."""

BACKOFF_CAP = 10.0
"""Seconds: upper bound of one backoff wait."""


class Counters:
    """Request counters of one call, updated from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.retries = self.throttles = 0
        self.server_errors = self.connection_errors = 0

    def add(self, name: str) -> None:
        """Count one more of ``name`` (``"requests"``, ``"retries"``, ...)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class Engine:
    """Shared state of one call: client, limiter, counters, cancellation, backoff RNG.

    Each attempt goes to ``direct`` (one attempt, HealthImagingErrors): by default
    :func:`~hi_widgets.api.walk.direct_send` over ``client``; the sender of a
    :class:`~hi_widgets.bulk.RequestProcesses` with ``processes=``.
    """

    def __init__(
        self,
        client: HealthImagingClient,
        limiter: RateLimiter,
        strategy: Strategy,
        cancel: threading.Event | None,
        direct: Send | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.strategy = strategy
        self.cancel = cancel
        self.abort = threading.Event()
        self.counters = Counters()
        self._random = random.Random()
        self._direct = direct_send(client) if direct is None else direct

    def stopped(self) -> bool:
        """Return True once the call was cancelled or aborted."""
        return self.abort.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, waking within ~50 ms of a cancel or an abort."""
        deadline = time.monotonic() + seconds
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            (self.cancel or self.abort).wait(min(remaining, 0.05))

    def send(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request through the bucket, retrying retryable failures.

        This is the :data:`hi_widgets.api.walk.Send` of every bulk walk.
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.stopped():
                raise Cancelled
            sent_at = self.limiter.acquire(operation, self.cancel)
            if sent_at is None or self.stopped():  # cancelled while waiting for the token
                raise Cancelled
            self.counters.add("requests")
            try:
                return self._direct(operation, params)
            except HealthImagingError as error:
                if isinstance(error, ThrottlingError):
                    self.counters.add("throttles")
                    self.limiter.on_throttle(operation, sent_at)
                elif isinstance(error, InternalServerError):
                    self.counters.add("server_errors")
                elif isinstance(error, ConnectionFailedError):
                    self.counters.add("connection_errors")
                if not error.retryable or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("%s attempt %d failed (%s); retrying", operation, attempt, error.code)
                self.counters.add("retries")
                delay = self._random.uniform(
                    0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def check_options(strategy: str, max_workers: int) -> None:
    """Raise ValueError for a bad ``strategy`` or ``max_workers``, before any request.

    Every call that sends through an :class:`Engine` (the bulk calls, the change log)
    checks its options here, so they say the same thing about the same mistake.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")


def make_limiter(
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None,
) -> RateLimiter:
    """Return the limiter given, or one with the published quotas and ``quota_rates``."""
    if isinstance(quota_rates, RateLimiter):
        return quota_rates
    return RateLimiter(quota_rates)
