import json
import threading
from datetime import datetime, timezone

import boto3
import pandas as pd
import pytest

from hi_widgets import InvalidIdentifierError, bulk, make_client, sandbox
from hi_widgets.api.single_attempt import _utc_timestamp, single_attempt_client
from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.bulk import ERROR_COLUMNS, FetchResult, fetch_versions, refresh
from hi_widgets.bulk._pool import Pool
from hi_widgets.bulk.engine import Engine
from hi_widgets.limits.ratelimit import RateLimiter

DS = "0123456789abcdef0123456789abcdef"
IS1 = "11111111111111111111111111111111"
IS2 = "22222222222222222222222222222222"
MISSING = "ffffffffffffffffffffffffffffffff"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
UPDATE_DELAY = 1.5  # seconds UPDATING lasts in the sandbox; long enough to see it
FAST = {"ListImageSetVersions": (5000, 5000), "GetImageSet": (5000, 5000)}


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(bulk.engine, "BACKOFF_BASE", 0.001)


# ------------------------------------------------------------------- stubbed client


def listed(image_set_id, *versions):
    return [
        {
            "imageSetId": image_set_id,
            "versionId": str(v),
            "imageSetState": "ACTIVE",
            "ImageSetWorkflowStatus": "UPDATED" if v > 1 else "CREATED",
            "createdAt": T0,
            "updatedAt": T0,
        }
        for v in versions
    ]


def got(image_set_id, version):
    return {
        "datastoreId": DS,
        "imageSetId": image_set_id,
        "versionId": str(version),
        "imageSetState": "ACTIVE",
        "imageSetWorkflowStatus": "CREATED",
        "imageSetArn": f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/{DS}",
        "createdAt": T0,
        "updatedAt": T0,
    }


def list_params(image_set_id, token=None):
    params = {"datastoreId": DS, "imageSetId": image_set_id, "maxResults": 50}
    if token:
        params["nextToken"] = token
    return params


def test_all_pages_are_fetched_and_normalized(stubbed):
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": listed(IS1, *range(60, 10, -1)), "nextToken": "t1"},
        list_params(IS1),
    )
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": listed(IS1, *range(10, 0, -1))},
        list_params(IS1, "t1"),
    )
    result = fetch_versions(client, [(DS, IS1)], max_workers=1, quota_rates=FAST)
    assert isinstance(result, FetchResult)
    assert result.ok
    assert result.frame["versionId"].tolist() == list(range(1, 61))
    assert result.frame["imageSetWorkflowStatus"].iloc[-1] == "UPDATED"
    assert result.frame["datastoreId"].eq(DS).all()
    assert (result.stats.requests, result.stats.retries, result.stats.versions) == (2, 0, 60)
    assert result.errors.empty and list(result.errors.columns) == list(ERROR_COLUMNS)


def test_auto_falls_back_to_get_when_listing_is_denied(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "list_image_set_versions", "AccessDeniedException", "denied", 403, list_params(IS1)
    )
    stub.add_response("get_image_set", got(IS1, 3), {"datastoreId": DS, "imageSetId": IS1})
    for version in (2, 1):
        stub.add_response(
            "get_image_set",
            got(IS1, version),
            {"datastoreId": DS, "imageSetId": IS1, "versionId": str(version)},
        )
    result = fetch_versions(client, [(DS, IS1)], max_workers=1, quota_rates=FAST)
    assert result.ok
    assert result.frame["versionId"].tolist() == [1, 2, 3]
    assert result.frame["imageSetArn"].notna().all()


def test_list_strategy_records_the_denial_and_keeps_other_items(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "list_image_set_versions", "AccessDeniedException", "denied", 403, list_params(IS1)
    )
    stub.add_response(
        "list_image_set_versions", {"imageSetPropertiesList": listed(IS2, 2, 1)}, list_params(IS2)
    )
    result = fetch_versions(client, [(DS, IS1), (DS, IS2)], strategy="list", max_workers=1)
    assert not result.ok
    assert result.frame["imageSetId"].unique().tolist() == [IS2]
    row = result.errors.iloc[0]
    assert (row["imageSetId"], row["error"], bool(row["retryable"])) == (
        IS1,
        "AccessDeniedError",
        False,
    )
    assert "ListImageSetVersions" in row["message"]
    assert result.stats.failed == 1 and result.stats.completed == 1


def test_throttles_and_server_errors_are_retried(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "list_image_set_versions", "ThrottlingException", "slow down", 429, list_params(IS1)
    )
    stub.add_client_error(
        "list_image_set_versions", "InternalServerException", "oops", 500, list_params(IS1)
    )
    stub.add_response(
        "list_image_set_versions", {"imageSetPropertiesList": listed(IS1, 1)}, list_params(IS1)
    )
    limiter = RateLimiter(FAST)
    result = fetch_versions(client, [(DS, IS1)], max_workers=1, quota_rates=limiter)
    assert result.ok
    stats = result.stats
    assert (stats.requests, stats.retries, stats.throttles, stats.server_errors) == (3, 2, 1, 1)
    assert limiter.bucket("ListImageSetVersions").cuts == 1


def test_a_persistent_retryable_error_fails_only_its_item(stubbed, monkeypatch):
    monkeypatch.setattr(bulk.engine, "MAX_ATTEMPTS", 3)
    client, stub = stubbed
    for _ in range(3):
        stub.add_client_error(
            "list_image_set_versions", "InternalServerException", "down", 500, list_params(IS1)
        )
    stub.add_response(
        "list_image_set_versions", {"imageSetPropertiesList": listed(IS2, 1)}, list_params(IS2)
    )
    result = fetch_versions(client, [(DS, IS1), (DS, IS2)], max_workers=1, quota_rates=FAST)
    assert result.errors["error"].tolist() == ["InternalServerError"]
    assert result.errors["retryable"].tolist() == [True]
    assert result.frame["imageSetId"].tolist() == [IS2]


def test_an_item_failing_mid_pagination_keeps_no_partial_history(stubbed):
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": listed(IS1, *range(60, 10, -1)), "nextToken": "t1"},
        list_params(IS1),
    )
    stub.add_client_error(
        "list_image_set_versions", "ValidationException", "bad token", 400, list_params(IS1, "t1")
    )
    result = fetch_versions(client, [(DS, IS1)], max_workers=1, quota_rates=FAST)
    assert result.frame.empty
    assert result.errors["error"].tolist() == ["ValidationError"]
    assert result.stats.versions == 0


def test_cancel_set_while_taking_a_token_sends_nothing(stubbed):
    # The token is granted, but cancel was set meanwhile: the request must not be sent
    # (the stubber has nothing queued, so a sent request would fail the item).
    client, _ = stubbed
    cancel = threading.Event()

    class CancellingLimiter(RateLimiter):
        def acquire(self, operation, cancel_event=None):
            sent_at = super().acquire(operation, cancel_event)
            cancel.set()
            return sent_at

    result = fetch_versions(
        client, [(DS, IS1)], max_workers=1, quota_rates=CancellingLimiter(FAST), cancel=cancel
    )
    assert result.errors.empty
    assert result.pending == ((DS, IS1),)
    assert (result.stats.requests, result.stats.cancelled) == (0, True)


def test_bad_identifiers_are_reported_before_any_request(stubbed):
    client, _ = stubbed  # nothing queued: any request would fail the stubber
    items = [(DS, IS1), (DS, "not-an-id"), ("X" * 32, IS2)]
    with pytest.raises(InvalidIdentifierError) as info:
        fetch_versions(client, items)
    message = str(info.value)
    assert "2 of 3 items" in message
    assert "item 1:" in message and "item 2:" in message
    assert "nothing was fetched" in message
    frame = pd.DataFrame({"datastoreId": [DS, DS], "imageSetId": [IS1, None]}, index=[7, 9])
    with pytest.raises(InvalidIdentifierError, match="row 9"):
        fetch_versions(client, frame)


@pytest.mark.parametrize(
    ("items", "error"),
    [("abc", TypeError), ([DS], TypeError), ([(DS, IS1, "x")], TypeError), (5, TypeError)],
)
def test_bad_item_shapes(stubbed, items, error):
    client, _ = stubbed
    with pytest.raises(error, match="pair"):
        fetch_versions(client, items)


def test_bad_options(stubbed):
    client, _ = stubbed
    with pytest.raises(ValueError, match="strategy"):
        fetch_versions(client, [], strategy="fast")
    with pytest.raises(ValueError, match="max_workers"):
        fetch_versions(client, [], max_workers=0)
    with pytest.raises(ValueError, match="columns"):
        fetch_versions(client, pd.DataFrame({"imageSetId": [IS1]}))


def test_empty_input_gives_full_schemas(stubbed):
    client, _ = stubbed
    result = fetch_versions(client, [])
    assert result.frame.empty and "versionId" in result.frame.columns
    assert list(result.errors.columns) == list(ERROR_COLUMNS)
    assert str(result.errors["retryable"].dtype) == "boolean"
    assert all(str(result.errors[c].dtype) == "string" for c in ERROR_COLUMNS[:-1])
    assert result.stats.items == 0 and result.ok
    assert "0 versions of 0/0 image sets" in repr(result)


def test_dataframe_items_are_deduplicated(stubbed):
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions", {"imageSetPropertiesList": listed(IS1, 2, 1)}, list_params(IS1)
    )
    frame = pd.DataFrame({"datastoreId": [DS, DS, DS], "imageSetId": [IS1, IS1, f" {IS1} "]})
    result = fetch_versions(client, frame, max_workers=4, quota_rates=FAST)
    assert result.stats.items == 1 and len(result.frame) == 2


@pytest.mark.parametrize("verify", [False, "/etc/hospital/ca-bundle.pem"])
def test_the_twin_verifies_tls_as_the_client_given(verify):
    client = boto3.client(
        "medical-imaging",
        region_name="us-east-1",
        verify=verify,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    twin = single_attempt_client(client, 4)
    assert twin is not client
    assert twin._endpoint.http_session._verify == verify


def test_a_retrying_client_is_replaced_by_a_single_attempt_twin():
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    single = make_client(session=session, max_attempts=1)
    assert single_attempt_client(single, 8) is single
    retrying = make_client(session=session, endpoint_url="http://127.0.0.1:9", max_attempts=5)
    twin = single_attempt_client(retrying, 32)
    assert twin is not retrying
    assert twin.meta.config.retries["total_max_attempts"] == 1
    assert twin.meta.config.max_pool_connections == 32
    assert twin.meta.region_name == "eu-west-1"
    assert twin.meta.endpoint_url == "http://127.0.0.1:9"
    assert twin.meta.config.inject_host_prefix is False
    assert twin._get_credentials() is retrying._get_credentials()


# ------------------------------------------------------------------------- sandbox


@pytest.fixture
def sb():
    with sandbox.start(seed=3, image_sets=100, quotas=False, update_delay=UPDATE_DELAY) as box:
        yield box


def truth(sb, ds, image_sets):
    rows = []
    for image_set in image_sets:
        for v in sb.store.versions(ds, image_set):
            rows.append((image_set, int(v["versionId"]), v["imageSetWorkflowStatus"]))
    return sorted(rows)


def fetched(frame):
    return sorted(
        (r.imageSetId, int(r.versionId), r.imageSetWorkflowStatus)
        for r in frame.itertuples(index=False)
    )


def test_every_version_exactly_once_despite_faults(sb):
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)
    denied = image_sets[5]
    sb.deny("ListImageSetVersions", image_set_ids=[denied])
    sb.deny("GetImageSet", image_set_ids=[denied])
    sb.set_quotas(True, {"ListImageSetVersions": (400, 400), "GetImageSet": (400, 400)})
    sb.set_faults(throttle_rate=0.10, error_rate=0.05, drop_rate=0.03, seed=11)
    items = [(ds, i) for i in image_sets] + [(ds, MISSING)]
    calls = []
    result = fetch_versions(
        sb.client(),
        items,
        max_workers=8,
        quota_rates={"ListImageSetVersions": (400, 400), "GetImageSet": (400, 400)},
        progress=lambda p: calls.append((p.done, p.total, p.item)),
    )
    good = [i for i in image_sets if i != denied]
    assert fetched(result.frame) == truth(sb, ds, good)
    assert not result.frame.duplicated(list(VERSION_KEY)).any()
    errors = result.errors.set_index("imageSetId")
    assert sorted(errors.index) == sorted([denied, MISSING])
    assert errors.loc[denied, "error"] == "AccessDeniedError"
    assert "GetImageSet" in errors.loc[denied, "message"]
    assert errors.loc[MISSING, "error"] == "ResourceNotFoundError"
    assert not errors["retryable"].any()
    stats = result.stats
    assert stats.throttles > 0 and stats.server_errors > 0 and stats.connection_errors > 0
    assert stats.retries == stats.throttles + stats.server_errors + stats.connection_errors
    assert stats.requests == len(sb.requests)
    assert (stats.items, stats.completed, stats.failed, stats.pending) == (101, 99, 2, 0)
    assert [c[0] for c in calls] == list(range(1, 102))
    assert {c[1] for c in calls} == {101}
    assert {c[2] for c in calls} == set(items)


class SandboxTime:
    """A sandbox's ManualClock as a rate limiter's clock: the limiter's sleeps move it.

    Client and server buckets then refill from one clock, whatever the machine's load.
    Concurrent sleeps overlap as in real time: a thread's sleep ends at the time that
    thread last read the clock plus the seconds asked for, and the clock moves to the
    latest such end.
    """

    def __init__(self) -> None:
        self.clock = sandbox.ManualClock()
        self._lock = threading.Lock()
        self._read = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self._read.at = self.clock.monotonic()
            return self._read.at

    def sleep(self, seconds: float) -> None:
        with self._lock:
            behind = self._read.at + seconds - self.clock.monotonic()
            if behind > 0:
                self.clock.advance(behind)


def test_runs_at_the_published_quota_without_being_throttled():
    timing = SandboxTime()
    with sandbox.start(seed=1, image_sets=100, clock=timing.clock) as box:
        ds = box.store.datastore_ids()[0]
        items = [(ds, i) for i in box.store.image_set_ids(ds)]
        limiter = RateLimiter(clock=timing, sleep=timing.sleep)
        began = timing()
        result = fetch_versions(box.client(), items, max_workers=8, quota_rates=limiter)
        elapsed = timing() - began
        log = box.requests
    assert result.ok and result.stats.throttles == 0
    assert not [e for e in log if e.status == 429]
    # The whole client burst at once, then one request per token: as fast as the quota
    # (less the safety margin) allows, and no faster.
    bucket = limiter.bucket("ListImageSetVersions")
    assert bucket.quota == (25, 50)
    assert result.stats.requests > 2 * bucket.burst
    assert elapsed == pytest.approx((result.stats.requests - bucket.burst) / bucket.max_rate)


def test_a_limiter_shared_between_calls_keeps_the_quota():
    # Two calls in a row: a fresh limiter would assume a full bucket the server no longer
    # has; a shared one knows it spent it.
    timing = SandboxTime()
    with sandbox.start(seed=1, image_sets=60, clock=timing.clock) as box:
        ds = box.store.datastore_ids()[0]
        items = [(ds, i) for i in box.store.image_set_ids(ds)]
        limiter = RateLimiter(clock=timing, sleep=timing.sleep)
        first = fetch_versions(box.client(), items, quota_rates=limiter)
        second = fetch_versions(box.client(), items, quota_rates=limiter)
        log = box.requests
    assert first.stats.throttles == second.stats.throttles == 0
    assert not [e for e in log if e.status == 429]
    assert first.frame.equals(second.frame)
    # Without the shared limiter, the second call would start with a full burst and trip
    # the server: the same two calls with a fresh limiter each are throttled.
    timing = SandboxTime()
    with sandbox.start(seed=1, image_sets=60, clock=timing.clock) as box:
        for _ in range(2):
            fetch_versions(
                box.client(max_attempts=1),
                items,
                quota_rates=RateLimiter(clock=timing, sleep=timing.sleep),
            )
        assert [e for e in box.requests if e.status == 429]


def test_get_strategy_matches_the_history(sb):
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)[:12]
    result = fetch_versions(
        sb.client(), [(ds, i) for i in image_sets], strategy="get", quota_rates=FAST
    )
    assert result.ok
    assert fetched(result.frame) == truth(sb, ds, image_sets)
    assert {e.operation for e in sb.requests} == {"GetImageSet"}
    assert result.frame["imageSetArn"].notna().all()


def test_cancel_stops_sending_and_keeps_complete_items():
    with sandbox.start(seed=2, image_sets=100, latency_ms=20) as box:
        ds = box.store.datastore_ids()[0]
        image_sets = box.store.image_set_ids(ds)
        cancel = threading.Event()
        logged_at_cancel = []

        def progress(step):
            if step.done == 30 and not cancel.is_set():
                cancel.set()
                logged_at_cancel.append(len(box.requests))

        result = fetch_versions(
            box.client(),
            [(ds, i) for i in image_sets],
            max_workers=8,
            progress=progress,
            cancel=cancel,
        )
        # Nothing is sent after the cancel: only requests already on the wire (at most
        # one per other worker) are answered after it.
        assert len(box.requests) - logged_at_cancel[0] <= 8 - 1
        stats = result.stats
        assert stats.cancelled and not result.ok
        assert stats.pending > 0 and stats.completed >= 30
        assert stats.completed + stats.pending == 100
        assert "cancelled" in result.summary()
        done = sorted(set(result.frame["imageSetId"]))
        assert not set(done) & {i for _, i in result.pending}
        assert fetched(result.frame) == truth(box, ds, done)  # complete histories only
        # Resuming with the pending items completes the job.
        rest = fetch_versions(box.client(), result.pending)
        assert rest.ok and rest.stats.items == stats.pending
        assert fetched(rest.frame) == truth(box, ds, [i for _, i in result.pending])


def test_progress_exceptions_propagate_and_stop_the_workers(sb):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)]

    def progress(step):
        if step.done == 3:
            raise RuntimeError("progress broke")

    with pytest.raises(RuntimeError, match="progress broke"):
        fetch_versions(sb.client(), items, progress=progress, quota_rates=FAST)
    assert len(sb.requests) < len(items)


def test_a_raising_progress_stops_other_workers_at_once():
    # Two workers: X is still being fetched when progress raises for Y. The worker that
    # raised must stop the run itself: Z must not be started while the caller's thread
    # is still waiting on X's future.
    x, y, z = [(DS, str(n) * 32) for n in (1, 2, 3)]
    engine = Engine(None, RateLimiter(FAST), "list", None)
    started = []

    def versions(item):
        started.append(item[1])
        if item == x:  # finish once the run stopped; if it never does, Z starts meanwhile
            engine.abort.wait(10)
        return []

    def progress(step):
        if step.item == y:
            raise RuntimeError("progress broke")

    with pytest.raises(RuntimeError, match="progress broke"), Pool(engine, 2, progress) as pool:
        for item in (x, y, z):
            pool.submit(item, versions)
    assert z[1] not in started


def update(client, ds, image_set, latest):
    payload = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "REFRESHED"}}}
    return client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=str(latest),
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(payload).encode()}
        },
    )


def settled_image_sets(sb, ds):
    out = []
    for image_set in sb.store.image_set_ids(ds):
        latest = sb.store.versions(ds, image_set)[-1]
        if latest["imageSetState"] == "ACTIVE" and not latest.get(
            "imageSetWorkflowStatus", ""
        ).endswith("ING"):
            out.append((image_set, int(latest["versionId"])))
    return out


@pytest.fixture
def sb_manual_clock():
    clock = sandbox.ManualClock()
    with sandbox.start(
        seed=3, image_sets=100, quotas=False, update_delay=UPDATE_DELAY, clock=clock
    ) as box:
        yield box


def test_refresh_fetches_only_what_changed(sb_manual_clock):
    sb = sb_manual_clock
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)
    client = sb.client()
    full = fetch_versions(client, [(ds, i) for i in image_sets], quota_rates=FAST)
    assert full.ok
    full_requests = len(sb.requests)

    changed = settled_image_sets(sb, ds)[10:13]
    for image_set, latest in changed:
        update(client, ds, image_set, latest)
    sb.clear_requests()
    result = refresh(client, full.frame, quota_rates=FAST)
    log = sb.requests
    assert result.ok
    assert result.stats.requests == len(log)
    assert len(log) <= full_requests // 5
    listed = {e.params["imageSetId"] for e in log if e.operation == "ListImageSetVersions"}
    assert {i for i, _ in changed} <= listed
    assert fetched(result.frame) == truth(sb, ds, image_sets)
    for image_set, latest in changed:
        rows = result.frame[result.frame["imageSetId"] == image_set]
        new = rows[rows["versionId"] == latest + 1].iloc[0]
        assert new["imageSetWorkflowStatus"] == "UPDATING"
        assert new["imageSetState"] == "LOCKED"
        assert bool(new["isLatest"])
    assert result.stats.versions >= len(changed)
    assert result.stats.items == 100

    # The UPDATING versions settle; the next refresh picks up their final state.
    sb.clock.advance(UPDATE_DELAY + 0.1)
    again = refresh(client, result.frame, quota_rates=FAST)
    assert fetched(again.frame) == truth(sb, ds, image_sets)
    for image_set, latest in changed:
        rows = again.frame[again.frame["imageSetId"] == image_set]
        assert rows.loc[rows["versionId"] == latest + 1, "imageSetWorkflowStatus"].iloc[0] == (
            "UPDATED"
        )


def test_refresh_without_changes_and_without_search(sb_manual_clock):
    # A frozen clock: on the wall clock the demo's last operations could settle between
    # the two fetches (the machine's load decides), and the frames would differ.
    sb = sb_manual_clock
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)[:20]
    client = sb.client()
    full = fetch_versions(client, [(ds, i) for i in image_sets], quota_rates=FAST)
    sb.clear_requests()
    quiet = refresh(client, full.frame, quota_rates=FAST)
    assert fetched(quiet.frame) == fetched(full.frame)
    assert len(sb.requests) < 10
    # Listing everything (no search): one page per image set, stops at known versions.
    sb.clear_requests()
    listed = refresh(client, full.frame, quota_rates=FAST, search=False)
    assert fetched(listed.frame) == fetched(full.frame)
    assert {e.operation for e in sb.requests} == {"ListImageSetVersions"}
    assert len(sb.requests) == 20


def test_refresh_falls_back_to_listing_when_search_is_denied(sb_manual_clock):
    # A frozen clock: the update must not settle between the refresh and the truth.
    sb = sb_manual_clock
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)[:15]
    client = sb.client()
    full = fetch_versions(client, [(ds, i) for i in image_sets], quota_rates=FAST)
    (image_set, latest), *_ = [c for c in settled_image_sets(sb, ds) if c[0] in image_sets]
    update(client, ds, image_set, latest)
    sb.deny("SearchImageSets")
    result = refresh(client, full.frame, quota_rates=FAST)
    assert result.ok
    assert fetched(result.frame) == truth(sb, ds, image_sets)


def test_refresh_rejects_a_non_frame(sb):
    with pytest.raises(TypeError, match="DataFrame"):
        refresh(sb.client(), [("a", "b")])


def test_backoff_wakes_on_abort_even_when_a_cancel_event_is_given():
    engine = Engine(object(), RateLimiter(), "list", threading.Event())
    sleeper = threading.Thread(target=engine._sleep, args=(600,))
    sleeper.start()
    engine.abort.set()  # e.g. another worker's progress callback raised
    sleeper.join(timeout=30)
    assert not sleeper.is_alive()


def test_the_twin_is_built_once_per_client_and_parses_timestamps_to_utc():
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    retrying = make_client(session=session, endpoint_url="http://127.0.0.1:9", max_attempts=5)
    twin = single_attempt_client(retrying, 8)
    assert single_attempt_client(retrying, 4) is twin  # kept, with its warm connections
    noon = datetime(2025, 1, 1, 12, tzinfo=timezone.utc)
    assert _utc_timestamp(noon.timestamp()) == noon
    assert _utc_timestamp(noon.timestamp()).tzinfo is timezone.utc
    assert _utc_timestamp("2025-01-01T13:00:00+01:00") == noon
    assert single_attempt_client(retrying, 64) is not twin  # a larger pool is rebuilt
