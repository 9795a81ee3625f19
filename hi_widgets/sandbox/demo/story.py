"""The demo's layout: its sizes, the fixed histories, the odds and durations of operations.

Shared by the builder that writes the demo through the backend's operations
(:mod:`hi_widgets.sandbox.demo.data`) and the pass that knows each deferred image set's
latest version without writing its history (:mod:`hi_widgets.sandbox.demo.deferred`).
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

DEMO_EPOCH = datetime(2024, 1, 8, 9, 0, tzinfo=timezone.utc)
"""The earliest createdAt of the demo data."""

SECOND_DATASTORE_SIZE = 14
LONG_HISTORY = (0, 1)
"""(datastore index, image set index) of the demo image set with 73 versions."""

FIXED_LENGTHS: dict[tuple[int, int], int] = {(0, 0): 1, (0, 1): 73, (0, 3): 57}
FIXED_LENGTHS.update({(1, 0): 51, (1, 1): 50})
FIXED_ACTIONS = {5: "fail-update", 7: "force", 9: "copy", 13: "fail-copy"}
"""Actions at fixed version numbers of the long histories (so each shows every outcome)."""

ACTION_ODDS = (
    (0.6, "update"),
    (0.66, "force"),
    (0.76, "revert"),
    (0.9, "copy"),
    (0.95, "fail-update"),
    (1.0, "fail-copy"),
)
"""Cumulative odds of the operation that writes each version of the other histories."""

OPERATION_SECONDS = {
    "import": (60.0, 300.0),
    "update": (15.0, 150.0),
    "force": (15.0, 150.0),
    "revert": (10.0, 60.0),
    "copy": (120.0, 720.0),
    "fail-update": (5.0, 40.0),
    "fail-copy": (30.0, 240.0),
}
"""How long each kind of demo operation takes on the demo clock: a range, seconds."""

SETTLE_SECONDS = 1.5 * max(high for _low, high in OPERATION_SECONDS.values())

FAILURE_MESSAGES = {
    "UPDATE_FAILED": "Update failed: StudyDate in updatableAttributes is not a DICOM DA value",
    "COPY_FAILED": "Copy failed: the destination image set changed while the copy was running",
    "IMPORT_FAILED": "Import failed: 3 of 12 DICOM instances could not be parsed",
}
"""How long the builder waits after each operation: every operation has ended by then."""


def history_length(seed: int, ds_index: int, index: int) -> int:
    """Return the number of versions of an image set without a fixed length or ending."""
    rng = random.Random(f"hi-widgets-demo-length:{index}:{seed}:{ds_index}")
    roll = rng.random()
    if roll < 0.2:
        return 1
    if roll < 0.75:
        return rng.randint(2, 10)
    if roll < 0.95:
        return rng.randint(11, 25)
    return rng.randint(26, 40)
