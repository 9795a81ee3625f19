"""Clocks for the sandbox: the real one, and a manual one that tests advance by hand.

Every time-dependent behaviour of the sandbox (state transitions such as UPDATING ->
UPDATED, token bucket refills, new timestamps) reads one clock, so a test that passes a
:class:`ManualClock` makes all of them deterministic.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the sandbox needs from a clock."""

    def now(self) -> datetime:
        """Return the current time as a tz-aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never go backwards."""
        ...


class SystemClock:
    """The real clock (``datetime.now(timezone.utc)`` and ``time.monotonic()``).

    Examples
    --------
    >>> from hi_widgets import sandbox
    >>> sandbox.SystemClock().now().tzinfo
    datetime.timezone.utc
    """

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when :meth:`advance` is called.

    Parameters
    ----------
    start
        The initial time; a naive datetime is taken as UTC. Default: 2025-01-01 UTC.

    Notes
    -----
    The sandbox's token buckets refill from this clock too, so with a ManualClock a quota
    refills only when the test advances the clock (or start the sandbox with
    ``quotas=False``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from hi_widgets import sandbox
    >>> clock = sandbox.ManualClock(datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> clock.advance(90)
    >>> clock.now()
    datetime.datetime(2025, 1, 1, 0, 1, 30, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2025, 1, 1, tzinfo=timezone.utc)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._start = start.astimezone(timezone.utc)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (seconds={seconds!r})")
        with self._lock:
            self._elapsed += float(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now().isoformat()})"


def to_millis(value: datetime) -> datetime:
    """Truncate a datetime to whole milliseconds (what the wire form carries), in UTC."""
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
