"""The request log: one entry per request the sandbox answered (or dropped)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

DROPPED = "ConnectionDropped"
"""``error`` of an entry whose connection the fault injector closed (``status`` is 0)."""


@dataclass(frozen=True)
class RequestLogEntry:
    """One request as the sandbox saw it.

    Attributes
    ----------
    operation
        The operation name (``"GetImageSet"``), or ``""`` when no route matched.
    params
        The parsed input parameters (URI labels only when parsing never happened).
    status
        The HTTP status sent, or 0 for a dropped connection.
    error
        The error code (``"ThrottlingException"``...) or None on success.

    Examples
    --------
    >>> sb.clear_requests()
    >>> _ = hw.get_image_set(client, datastore_id, image_set_id)
    >>> [(entry.operation, entry.status) for entry in sb.requests]
    [('GetImageSet', 200)]
    """

    operation: str
    params: dict[str, Any]
    status: int
    error: str | None


class RequestLog:
    """A thread-safe, append-only list of :class:`RequestLogEntry`."""

    def __init__(self) -> None:
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()

    def append(self, entry: RequestLogEntry) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RequestLogEntry]:
        """Return a copy of the entries so far."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
