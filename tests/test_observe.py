"""Following a LOCKED image set: polls with backoff on a fake clock, observed durations.

The sandbox runs on a ManualClock; the poller's clock is the same one, and its ``sleep``
moves it, so an update that takes 10 s of sandbox time is followed without waiting.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import hi_widgets
from hi_widgets import sandbox
from hi_widgets.api.observe import OBSERVED_COLUMNS, iter_observations, observed_frame

START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
UPDATE_DELAY = 10.0


class SandboxClock:
    """The poller's clock: the sandbox's ManualClock, moved by every sleep."""

    def __init__(self, manual: sandbox.ManualClock) -> None:
        self.manual = manual
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.manual.now()

    def sleep(self, seconds: float, cancel: threading.Event | None) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        self.sleeps.append(seconds)
        self.manual.advance(seconds)
        return True


@pytest.fixture(scope="module")
def sb():
    clock = sandbox.ManualClock(START)
    with sandbox.start(seed=0, clock=clock, update_delay=UPDATE_DELAY, quotas=False) as box:
        yield box


@pytest.fixture
def client(sb):
    sb.clock.advance(3 * UPDATE_DELAY)  # what earlier tests (and the demo) started settles
    client = sb.client(max_attempts=1)
    yield client
    client.close()


def start_update(sb, client) -> tuple[str, str, str]:
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[0]
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert latest["imageSetState"] == "ACTIVE"
    edit = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "FOLLOWED"}}}
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest["versionId"],
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": json.dumps(edit)}},
    )
    return ds, image_set, latest["versionId"]


def test_follows_a_locked_image_set_until_it_settles(sb, client):
    ds, image_set, before = start_update(sb, client)
    clock = SandboxClock(sb.clock)
    polls = list(
        iter_observations(client, ds, image_set, clock=clock, first_interval=1, max_interval=4)
    )
    states = [(p["imageSetState"], p["imageSetWorkflowStatus"]) for p in polls]
    assert states[0] == ("LOCKED", "UPDATING") and states[-1] == ("ACTIVE", "UPDATED")
    assert all(s == ("LOCKED", "UPDATING") for s in states[:-1])
    assert polls[-1]["versionId"] == int(before) + 1
    # Backoff while nothing changes: 1, 2, 4, 4, ... seconds, never beyond max_interval.
    assert clock.sleeps[:3] == [1.0, 2.0, 4.0] and max(clock.sleeps) == 4.0
    frame = observed_frame(polls)
    assert list(frame.columns) == list(OBSERVED_COLUMNS)
    assert frame["imageSetState"].astype(str).tolist() == ["LOCKED", "ACTIVE"]
    locked = frame.iloc[0]
    # The update took UPDATE_DELAY of sandbox time: the observed bounds enclose it.
    assert locked["observedAtLeast"] <= timedelta(seconds=UPDATE_DELAY)
    assert pd.isna(locked["observedAtMost"])  # nobody looked before the update started
    assert frame.iloc[1]["firstSeenAt"] - locked["firstSeenAt"] >= timedelta(seconds=UPDATE_DELAY)
    assert frame.iloc[1]["firstSeenAt"] - locked["lastSeenAt"] <= timedelta(seconds=4)
    assert int(frame["polls"].sum()) == len(polls)


def test_an_image_set_that_is_not_locked_is_one_poll(sb, client):
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[0]
    clock = SandboxClock(sb.clock)
    polls = list(iter_observations(client, ds, image_set, clock=clock))
    assert len(polls) == 1 and polls[0]["imageSetState"] == "ACTIVE" and clock.sleeps == []
    frame = observed_frame(polls)
    assert len(frame) == 1 and frame.loc[0, "observedAtLeast"] == timedelta(0)


def test_the_timeout_ends_polling_on_the_clock(sb, client):
    ds, image_set, _before = start_update(sb, client)
    clock = SandboxClock(sb.clock)
    polls = list(iter_observations(client, ds, image_set, clock=clock, timeout=3))
    assert {p["imageSetState"] for p in polls} == {"LOCKED"}  # still running when it ended
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_cancel_stops_between_polls(sb, client):
    ds, image_set, _before = start_update(sb, client)
    cancel = threading.Event()
    clock = SandboxClock(sb.clock)
    seen = []
    for poll in iter_observations(client, ds, image_set, clock=clock, cancel=cancel):
        seen.append(poll)
        cancel.set()
    assert len(seen) == 1 and clock.sleeps == []


def test_throttled_polls_back_off_and_go_on(sb, client):
    ds, image_set, _before = start_update(sb, client)
    sb.set_faults(throttle_rate=1.0, operations=["GetImageSet"])
    clock = SandboxClock(sb.clock)
    polls = iter_observations(client, ds, image_set, clock=clock, max_interval=8, timeout=20)
    try:
        assert list(polls) == []  # every poll throttled until the timeout: nothing invented
    finally:
        sb.set_faults()
    assert clock.sleeps == [2.0, 4.0, 8.0, 6.0]  # backing off, the last cut at the timeout


def test_bad_input_is_refused_before_any_request(sb, client):
    sb.clear_requests()
    with pytest.raises(hi_widgets.InvalidIdentifierError):
        iter_observations(client, "nope", "0" * 32)
    with pytest.raises(ValueError, match="timeout"):
        iter_observations(client, "a" * 32, "0" * 32, timeout=0)
    with pytest.raises(ValueError, match="backoff"):
        iter_observations(client, "a" * 32, "0" * 32, backoff=0.5)
    assert sb.requests == []


def test_empty_observations_have_the_full_schema():
    frame = observed_frame([])
    assert list(frame.columns) == list(OBSERVED_COLUMNS) and len(frame) == 0
    assert str(frame["observedAtLeast"].dtype) == "timedelta64[us]"
    assert str(frame["firstSeenAt"].dtype) == "datetime64[us, UTC]"


def test_public_names():
    assert hi_widgets.iter_observations is iter_observations
    assert hi_widgets.observed_frame is observed_frame


def test_the_explorer_follows_and_labels_durations_as_observed(sb, client):
    ds, image_set, before = start_update(sb, client)
    explorer = hi_widgets.ImageSetExplorer(client=client, datastore_id=ds, image_set_id=image_set)
    assert explorer.wait(60)
    clock = SandboxClock(sb.clock)
    assert not explorer.follow_button.disabled
    assert explorer.follow(clock=clock, first_interval=1, max_interval=4)
    assert explorer.wait(120) and explorer.runner.last_error is None
    observed = explorer.observed
    assert observed["imageSetState"].astype(str).tolist() == ["LOCKED", "ACTIVE"]
    assert observed["versionId"].tolist() == [int(before) + 1] * 2
    assert explorer.tabs.selected_index == 5 and explorer.tabs.titles[5] == "Live"
    assert "as observed" in explorer.live.note.value and "no operation durations" in (
        explorer.live.note.value
    )
    shown = explorer.live.table.shown
    assert list(shown.columns[:3]) == ["versionId", "imageSetState", "imageSetWorkflowStatus"]
    assert shown["observedAtLeast"].notna().all()  # e.g. "8.0 s", sortable by length
    assert "observed" in explorer.status.message.value and "ACTIVE / UPDATED" in (
        explorer.status.message.value
    )
