"""Seeded fault injection: latency, jitter, server errors, forced throttling, dropped sockets.

Each request draws the same number of random numbers from one ``random.Random(seed)``,
whatever the settings, so the n-th request of a run always gets the same decision for a
given seed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

FAULT_NONE = "none"
FAULT_ERROR = "error"
FAULT_THROTTLE = "throttle"
FAULT_DROP = "drop"


@dataclass(frozen=True)
class Faults:
    """Fault settings of a sandbox.

    Parameters
    ----------
    latency_ms
        Fixed delay added to every response, in milliseconds.
    jitter_ms
        Extra delay drawn uniformly from ``[0, jitter_ms]`` per request.
    error_rate
        Probability of answering InternalServerException (500).
    throttle_rate
        Probability of answering ThrottlingException (429) regardless of quotas.
    drop_rate
        Probability of closing the connection without any response.
    seed
        Seed of the random sequence; the same seed gives the same sequence of decisions.
    operations
        Restrict faults (not latency) to these operation names; ``None`` means all.

    Examples
    --------
    >>> from hi_widgets import sandbox
    >>> sandbox.Faults(latency_ms=50, throttle_rate=0.1, seed=7).throttle_rate
    0.1
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0
    # Any iterable of operation names is accepted; __post_init__ freezes it.
    operations: frozenset[str] | Iterable[str] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("error_rate", "throttle_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.error_rate + self.throttle_rate + self.drop_rate > 1.0:
            raise ValueError("error_rate + throttle_rate + drop_rate must not exceed 1")
        if self.operations is not None and not isinstance(self.operations, frozenset):
            object.__setattr__(self, "operations", frozenset(self.operations))


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: sleep ``delay_s`` then apply ``action``."""

    delay_s: float
    action: str = FAULT_NONE


class FaultInjector:
    """Thread-safe source of :class:`FaultDecision` values for a :class:`Faults` setting."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(faults or Faults())

    @property
    def faults(self) -> Faults:
        """The current settings."""
        return self._faults

    def configure(self, faults: Faults) -> None:
        """Replace the settings and restart the random sequence from ``faults.seed``."""
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)

    def decide(self, operation: str) -> FaultDecision:
        """Draw the decision for the next request (four draws per request, always)."""
        with self._lock:
            faults = self._faults
            jitter, roll = self._random.random(), self._random.random()
            self._random.random()  # reserved, keeps the sequence stable if features grow
            self._random.random()
        delay_ms = faults.latency_ms + jitter * faults.jitter_ms
        action = FAULT_NONE
        if faults.operations is None or operation in faults.operations:
            action = _pick(
                roll,
                (
                    (FAULT_DROP, faults.drop_rate),
                    (FAULT_ERROR, faults.error_rate),
                    (FAULT_THROTTLE, faults.throttle_rate),
                ),
            )
        return FaultDecision(delay_s=delay_ms / 1000.0, action=action)


def _pick(roll: float, choices: Iterable[tuple[str, float]]) -> str:
    upper = 0.0
    for action, rate in choices:
        upper += rate
        if roll < upper:
            return action
    return FAULT_NONE
