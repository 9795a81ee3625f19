"""Following an image set while an operation runs: the durations AWS does not give, observed.

AWS gives each version the image set's ``createdAt`` and its own ``updatedAt``, never when
an operation started, so a settled history cannot say how long an import, update, copy
or delete took. Someone watching can: :func:`iter_observations` polls GetImageSet (the
latest version) while the image set is LOCKED, backing off between polls, and
:func:`observed_frame` turns the polls into one row per state seen, with how long that
state lasted *as observed*: at least from the first to the last poll that saw it, at most
from the poll before it to the poll after it. Both bounds are the client's, measured on
its own clock, and only as precise as the polling.

The clock is a parameter (``now`` and a cancellable ``sleep``), so tests move a fake one
instead of waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from hi_widgets.api.errors import ThrottlingError
from hi_widgets.api.fetch import get_image_set
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id
from hi_widgets.api.tables import TIME_UNIT, apply_schema

__all__ = ["OBSERVED_COLUMNS", "Clock", "SystemClock", "iter_observations", "observed_frame"]

OBSERVED_COLUMNS: tuple[str, ...] = (
    "versionId",
    "imageSetState",
    "imageSetWorkflowStatus",
    "updatedAt",
    "message",
    "firstSeenAt",
    "lastSeenAt",
    "polls",
    "observedAtLeast",
    "observedAtMost",
)
"""Columns of :func:`observed_frame`, in order."""

_STATE_KEYS = ("versionId", "imageSetState", "imageSetWorkflowStatus")


class Clock(Protocol):
    """What :func:`iter_observations` needs of a clock."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...

    def sleep(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Wait ``seconds``; return False at once if ``cancel`` is set meanwhile."""
        ...


class SystemClock:
    """The wall clock; sleeping waits on the cancel event, so Cancel ends it at once."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Wait ``seconds`` on ``cancel``; return False if it was set."""
        event = cancel if cancel is not None else threading.Event()
        return not event.wait(seconds)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def iter_observations(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    *,
    timeout: float = 900.0,
    first_interval: float = 1.0,
    max_interval: float = 30.0,
    backoff: float = 2.0,
    clock: Clock | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Poll an image set's latest version until it is no longer LOCKED; yield every poll.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        The image set; checked before any request.
    timeout
        Seconds (of ``clock``) after which polling stops even if the image set is still
        LOCKED.
    first_interval, max_interval, backoff
        The wait between polls starts at ``first_interval``, grows ``backoff``-fold after
        each poll that saw no change (and after a throttled one), up to ``max_interval``,
        and starts again from ``first_interval`` after a change.
    clock
        ``now()`` and ``sleep(seconds, cancel)``; default the wall clock.
    cancel
        When set, polling stops (a sleep ends at once).

    Yields
    ------
    dict
        One per answered poll: ``seenAt`` (the clock's time after the answer) and the
        record's ``versionId``, ``imageSetState``, ``imageSetWorkflowStatus``,
        ``updatedAt`` and ``message``. The last is the first poll that found the image
        set not LOCKED, unless the timeout or ``cancel`` came first.

    Raises
    ------
    InvalidIdentifierError
        Before any request, for a malformed identifier.
    HealthImagingError
        A failed poll other than throttling (polls already yielded are the caller's).

    Examples
    --------
    >>> polls = list(hw.iter_observations(client, datastore_id, image_set_id, timeout=5))
    >>> polls[-1]["imageSetState"]
    'ACTIVE'
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    timeout = _positive("timeout", timeout)
    first_interval = _positive("first_interval", first_interval)
    max_interval = _positive("max_interval", max_interval)
    if backoff < 1:
        raise ValueError(f"backoff must be >= 1, got {backoff!r}")
    return _polls(
        client,
        datastore_id,
        image_set_id,
        (timeout, first_interval, max_interval, float(backoff)),
        clock or SystemClock(),
        cancel,
    )


def _polls(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    timing: tuple[float, float, float, float],
    clock: Clock,
    cancel: threading.Event | None,
) -> Iterator[dict[str, Any]]:
    timeout, first_interval, max_interval, backoff = timing
    deadline = clock.now().timestamp() + timeout
    interval = first_interval
    last: tuple[Any, ...] | None = None
    while cancel is None or not cancel.is_set():
        try:
            record = get_image_set(client, datastore_id, image_set_id)
        except ThrottlingError:
            record = None
        if record is not None:
            observation = {
                "seenAt": clock.now(),
                **{k: cast("dict[str, Any]", record)[k] for k in _STATE_KEYS},
            }
            observation["updatedAt"] = record["updatedAt"]
            observation["message"] = record["message"]
            yield observation
            if record["imageSetState"] != "LOCKED":
                return
            state = tuple(cast("dict[str, Any]", record)[k] for k in _STATE_KEYS)
            interval = first_interval if state != last else min(interval * backoff, max_interval)
            last = state
        else:
            interval = min(interval * backoff, max_interval)
        remaining = deadline - clock.now().timestamp()
        if remaining <= 0 or not clock.sleep(min(interval, remaining), cancel):
            return


def observed_frame(observations: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per state seen, with how long it lasted as observed by the polls.

    Parameters
    ----------
    observations
        Polls as :func:`iter_observations` yields them, in the order they were made.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OBSERVED_COLUMNS`; a row per run of polls that saw the same
        version, state and workflow status. ``firstSeenAt`` and ``lastSeenAt`` are the
        first and last of those polls (``polls`` counts them); ``updatedAt`` and
        ``message`` are the last poll's. ``observedAtLeast`` is ``lastSeenAt -
        firstSeenAt``; ``observedAtMost`` runs from the poll before the first to the
        poll after the last (NaT for the first and the last row: nobody looked before,
        or the state has not ended while anyone looked). Both are **observed** on the
        client's clock: AWS reports no duration. Empty input gives the full schema.

    Examples
    --------
    >>> polls = hw.iter_observations(client, datastore_id, image_set_id, timeout=5)
    >>> hw.observed_frame(polls).columns[-2:].tolist()
    ['observedAtLeast', 'observedAtMost']
    """
    rows: list[dict[str, Any]] = []
    for poll in observations:
        state = tuple(poll.get(k) for k in _STATE_KEYS)
        if rows and tuple(rows[-1][k] for k in _STATE_KEYS) == state:
            rows[-1].update(
                lastSeenAt=poll["seenAt"],
                polls=rows[-1]["polls"] + 1,
                updatedAt=poll.get("updatedAt"),
                message=poll.get("message"),
            )
        else:
            rows.append(
                {
                    **dict(zip(_STATE_KEYS, state, strict=True)),
                    "updatedAt": poll.get("updatedAt"),
                    "message": poll.get("message"),
                    "firstSeenAt": poll["seenAt"],
                    "lastSeenAt": poll["seenAt"],
                    "polls": 1,
                }
            )
    columns = {name: [row.get(name) for row in rows] for name in OBSERVED_COLUMNS[:8]}
    frame = apply_schema(pd.DataFrame(columns, dtype=object))
    for name in ("firstSeenAt", "lastSeenAt"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit(TIME_UNIT)
    frame["polls"] = pd.array(columns["polls"], dtype="Int64")
    frame["observedAtLeast"] = (frame["lastSeenAt"] - frame["firstSeenAt"]).astype(
        np.dtype(f"timedelta64[{TIME_UNIT}]")
    )
    before = frame["lastSeenAt"].shift(1)
    after = frame["firstSeenAt"].shift(-1)
    frame["observedAtMost"] = (after - before).astype(np.dtype(f"timedelta64[{TIME_UNIT}]"))
    return cast(pd.DataFrame, frame.reset_index(drop=True))
