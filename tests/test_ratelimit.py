import itertools
import random
import threading

import pytest

from hi_widgets.limits.bucket import TokenBucket
from hi_widgets.limits.ratelimit import (
    PUBLISHED_QUOTAS,
    SAFETY_MARGIN,
    Quota,
    RateLimiter,
)


class FakeClock:
    """Monotonic seconds that only move when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


class ServerBucket:
    """The service's view: a bucket with the published quota, no margin, starts full."""

    def __init__(self, rate: float, burst: float, start: float = 0.0) -> None:
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, start

    def admit(self, at: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (at - self.last) * self.rate)
        self.last = at
        if self.tokens >= 1.0 - 1e-9:  # float sums of 1/rate steps can fall short by 1 ulp
            self.tokens -= 1.0
            return True
        return False


def test_published_quotas():
    assert PUBLISHED_QUOTAS["GetImageSet"] == Quota(25, 50)
    assert PUBLISHED_QUOTAS["ListImageSetVersions"] == Quota(25, 50)
    assert PUBLISHED_QUOTAS["SearchImageSets"] == Quota(25, 50)
    assert PUBLISHED_QUOTAS["GetImageSetMetadata"] == Quota(50, 100)
    assert PUBLISHED_QUOTAS["GetDatastore"] == Quota(10, 20)
    assert PUBLISHED_QUOTAS["ListDatastores"] == Quota(5, 10)
    # The newest copy of the throttling limits page
    # (https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.md);
    # older copies list 1/2 (or 0.25/1) and 0.25/1.
    assert PUBLISHED_QUOTAS["StartDICOMImportJob"] == Quota(40, 80)
    assert PUBLISHED_QUOTAS["UpdateImageSetMetadata"] == Quota(10, 40)
    for op in ("CopyImageSet", "DeleteImageSet"):
        assert PUBLISHED_QUOTAS[op] == Quota(0.25, 1)


def test_starts_with_burst_minus_margin_then_paces():
    clock = FakeClock()
    bucket = TokenBucket(25, 50, margin=SAFETY_MARGIN, clock=clock, sleep=clock.sleep)
    assert bucket.burst == pytest.approx(50 * (1 - SAFETY_MARGIN))
    immediate = 0
    while bucket.try_acquire() is not None:
        immediate += 1
    assert immediate == 48
    assert bucket.delay() == pytest.approx((1 - 0.5) / (25 * (1 - SAFETY_MARGIN)))
    times = [bucket.acquire() for _ in range(100)]
    assert clock.now == pytest.approx((100 - 0.5) / (25 * (1 - SAFETY_MARGIN)))
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert min(gaps) == pytest.approx(1 / (25 * (1 - SAFETY_MARGIN)))


def test_burst_of_one_is_never_below_one_token():
    clock = FakeClock()
    bucket = TokenBucket(0.25, 1, margin=SAFETY_MARGIN, clock=clock, sleep=clock.sleep)
    assert bucket.burst == 1.0
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(1 / (0.25 * (1 - SAFETY_MARGIN)))


@pytest.mark.parametrize("jitter_s", [0.0, 0.02, 0.05])
def test_server_with_the_same_quota_never_throttles_even_with_arrival_jitter(jitter_s):
    # Requests leave the client when the bucket allows and arrive after a random delay;
    # the server's own bucket (published quota, no margin) must admit every one of them.
    clock = FakeClock()
    bucket = TokenBucket(25, 50, margin=SAFETY_MARGIN, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    arrivals = sorted(bucket.acquire() + rng.uniform(0, jitter_s) for _ in range(600))
    server = ServerBucket(25, 50)
    assert all(server.admit(at) for at in arrivals)


def test_without_margin_jitter_would_be_throttled():
    # The reason for the margin: the same experiment with margin=0 trips the server.
    clock = FakeClock()
    bucket = TokenBucket(25, 50, margin=0.0, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    arrivals = sorted(bucket.acquire() + rng.uniform(0, 0.05) for _ in range(600))
    server = ServerBucket(25, 50)
    assert not all(server.admit(at) for at in arrivals)


def test_throttle_empties_cuts_once_per_window_and_recovers():
    clock = FakeClock()
    bucket = TokenBucket(100, 10, margin=0.0, clock=clock, sleep=clock.sleep)
    sent = [bucket.acquire() for _ in range(5)]
    assert bucket.tokens == pytest.approx(5)
    clock.now = 0.001
    assert bucket.on_throttle(sent[0]) is True
    assert bucket.tokens <= 0.0
    assert bucket.rate == pytest.approx(70)
    # Other requests sent before the cut were already in flight: no second cut.
    assert bucket.on_throttle(sent[1]) is False
    assert bucket.rate == pytest.approx(70)
    assert (bucket.throttles, bucket.cuts) == (2, 1)
    # A request sent after the cut cuts again.
    after = bucket.acquire()
    assert bucket.on_throttle(after) is True
    assert bucket.rate == pytest.approx(49, rel=0.01)
    # Linear recovery: 5% of the configured rate per second, capped at the rate.
    clock.now += 2.0
    assert bucket.rate == pytest.approx(49 + 10, rel=0.01)
    clock.now += 100.0
    assert bucket.rate == pytest.approx(100)
    assert bucket.tokens == pytest.approx(10)


def test_rate_has_a_floor():
    clock = FakeClock()
    bucket = TokenBucket(100, 10, margin=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        bucket.on_throttle()
    assert bucket.rate == pytest.approx(5)


def test_acquire_returns_none_when_cancelled_and_keeps_the_token():
    clock = FakeClock()
    bucket = TokenBucket(10, 1, margin=0.0, clock=clock, sleep=clock.sleep)
    cancel = threading.Event()
    cancel.set()
    assert bucket.acquire(cancel) is None
    assert bucket.tokens == 1.0


class WatchedEvent(threading.Event):
    """An Event that records each ``wait`` timeout and signals when someone waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.timeouts: list[float | None] = []

    def wait(self, timeout=None):
        self.timeouts.append(timeout)
        self.waiting.set()
        return super().wait(timeout)


def test_cancel_wakes_a_waiting_thread():
    bucket = TokenBucket(0.001, 1, margin=0.0)  # the next token is ~1000 s away
    assert bucket.try_acquire() is not None
    cancel = WatchedEvent()
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(bucket.acquire(cancel)), daemon=True)
    worker.start()
    assert cancel.waiting.wait(10)  # the worker is blocked in cancel.wait, not time.sleep
    assert cancel.timeouts[0] == pytest.approx(1000, rel=0.01)
    cancel.set()
    worker.join(10)
    assert not worker.is_alive()
    assert result == [None]


class VirtualTime:
    """Monotonic seconds shared by threads; the clock moves only when they sleep.

    Concurrent sleeps overlap as in real time: a thread's sleep ends at the time that
    thread last read the clock plus the seconds asked for, and the clock moves to the
    latest such end (never backwards).
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._read = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self._read.at = self._now
            return self._now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        with self._lock:
            self._now = max(self._now, self._read.at + seconds)


def test_threads_share_a_bucket_without_exceeding_it():
    clock = VirtualTime()
    bucket = TokenBucket(200, 10, margin=0.0, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(15):
            at = bucket.acquire()
            with lock:
                stamps.append(at)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 120
    stamps.sort()
    server = ServerBucket(200, 10)
    assert all(server.admit(at) for at in stamps)
    # 10 at once, then one every 1/200 s: no token is lost and none comes early.
    assert stamps[:10] == [0.0] * 10
    assert stamps[-1] == pytest.approx((120 - 10) / 200)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (-1, 5), (1, 0.5), (float("inf"), 1), (float("nan"), 1), ("x", 1)],
)
def test_bad_quotas_are_rejected(rate, burst):
    with pytest.raises(ValueError, match=r"rate|burst|numbers"):
        TokenBucket(rate, burst)
    with pytest.raises(ValueError, match="GetImageSet"):
        RateLimiter({"GetImageSet": (rate, burst)})


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="margin"):
        TokenBucket(1, 1, margin=1.0)
    with pytest.raises(ValueError, match="decrease"):
        TokenBucket(1, 1, decrease=1.0)
    with pytest.raises(ValueError, match="pair"):
        RateLimiter({"GetImageSet": 5})
    with pytest.raises(TypeError, match="mapping"):
        RateLimiter([("GetImageSet", (1, 1))])


def test_limiter_has_one_bucket_per_operation_with_overrides():
    clock = FakeClock()
    limiter = RateLimiter({"GetImageSet": (100, 200)}, clock=clock, sleep=clock.sleep)
    assert limiter.quota("GetImageSet") == Quota(100, 200)
    assert limiter.quota("ListImageSetVersions") == Quota(25, 50)
    with pytest.raises(ValueError, match="'SomethingNew'"):
        limiter.quota("SomethingNew")
    assert limiter.bucket("GetImageSet") is limiter.bucket("GetImageSet")
    assert limiter.acquire("GetImageSet") == 0.0
    assert limiter.on_throttle("ListImageSetVersions") is True
    rates = limiter.rates()
    assert rates["GetImageSet"] == pytest.approx(100 * (1 - SAFETY_MARGIN))
    assert rates["ListImageSetVersions"] == pytest.approx(25 * (1 - SAFETY_MARGIN) * 0.7)
    assert "quota=100/s burst 200" in repr(limiter.bucket("GetImageSet"))


def test_a_misspelt_operation_in_rates_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown HealthImaging operation 'ListImageSetVersion'"):
        RateLimiter({"ListImageSetVersion": (100, 200)})


def test_the_limiter_uses_the_one_published_quota_table():
    from hi_widgets.limits import quotas

    assert PUBLISHED_QUOTAS is quotas.PUBLISHED_QUOTAS and Quota is quotas.Quota
    limiter = RateLimiter()
    assert all(limiter.quota(op) == quota for op, quota in quotas.PUBLISHED_QUOTAS.items())
