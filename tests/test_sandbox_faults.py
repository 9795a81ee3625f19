"""Sandbox quotas, injected faults, latency, dropped connections, shutdown and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import boto3
import botocore.exceptions
import pytest

from hi_widgets import sandbox
from hi_widgets.sandbox.runtime.faults import FaultInjector

START = datetime(2025, 3, 1, tzinfo=timezone.utc)


def first_image_set(sb):
    ds = sb.store.datastore_ids()[0]
    return ds, sb.store.image_set_ids(ds)[1]


def outcome(call) -> str:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return "OK"


# -------------------------------------------------------------------------------- quotas


def test_burst_above_the_bucket_is_throttled_exactly_with_a_frozen_clock():
    with sandbox.start(clock=sandbox.ManualClock(START)) as sb:
        client = sb.client(max_attempts=1)
        ds, image_set = first_image_set(sb)
        results = [
            outcome(lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set))
            for _ in range(60)
        ]
        assert results == ["OK"] * 50 + ["ThrottlingException"] * 10
        assert [e.status for e in sb.requests[-10:]] == [429] * 10
        client.close()


def test_concurrent_burst_with_the_real_clock_is_throttled_exactly():
    # The real clock, 6 threads at once; the rate is so low that no token comes back
    # during the test, however slow the machine, so exactly the burst gets through.
    with sandbox.start(quota_rates={"GetImageSet": (0.001, 50)}) as sb:
        client = sb.client(max_attempts=1)
        ds, image_set = first_image_set(sb)
        with ThreadPoolExecutor(6) as pool:
            results = list(
                pool.map(
                    lambda _: outcome(
                        lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set)
                    ),
                    range(60),
                )
            )
        assert Counter(results) == {"OK": 50, "ThrottlingException": 10}
        assert Counter(e.status for e in sb.requests) == {200: 50, 429: 10}
        client.close()


def test_the_published_rate_is_never_throttled():
    clock = sandbox.ManualClock(START)
    with sandbox.start(clock=clock) as sb:
        client = sb.client(max_attempts=1)
        ds, image_set = first_image_set(sb)
        for _ in range(50):  # empty the bucket first
            client.get_image_set(datastoreId=ds, imageSetId=image_set)
        for _ in range(75):  # three more seconds at exactly 25 requests per second
            clock.advance(1 / 25)
            client.get_image_set(datastoreId=ds, imageSetId=image_set)
        assert all(e.status == 200 for e in sb.requests)
        assert outcome(lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set)) == (
            "ThrottlingException"
        )
        client.close()


def test_update_quota_and_runtime_changes():
    clock = sandbox.ManualClock(START)
    with sandbox.start(clock=clock, update_delay=0) as sb:
        client = sb.client(max_attempts=1)
        ds, image_set = first_image_set(sb)

        def update():
            latest = sb.store.versions(ds, image_set)[-1]["versionId"]
            client.update_image_set_metadata(
                datastoreId=ds,
                imageSetId=image_set,
                latestVersionId=latest,
                updateImageSetMetadataUpdates={"revertToVersionId": "1"},
            )

        # 10 per second, burst 40 (the newest copy of the throttling limits page,
        # https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.md)
        assert [outcome(update) for _ in range(41)] == ["OK"] * 40 + ["ThrottlingException"]
        clock.advance(0.1)
        assert outcome(update) == "OK"

        sb.set_quotas(False)
        assert all(outcome(update) == "OK" for _ in range(5))
        sb.set_quotas(True, quota_rates={"ListDatastores": (1, 2)})
        results = [outcome(client.list_datastores) for _ in range(3)]
        assert results == ["OK", "OK", "ThrottlingException"]
        client.close()


def test_retries_are_visible_in_the_request_log():
    with sandbox.start(clock=sandbox.ManualClock(START)) as sb:
        sb.set_quotas(True, quota_rates={"GetDatastore": (1, 1)})
        client = sb.client(max_attempts=2)
        ds = sb.store.datastore_ids()[0]
        client.get_datastore(datastoreId=ds)
        sb.clear_requests()
        with pytest.raises(client.exceptions.ThrottlingException):
            client.get_datastore(datastoreId=ds)
        assert [(e.operation, e.status) for e in sb.requests] == [("GetDatastore", 429)] * 2
        client.close()


# -------------------------------------------------------------------------------- faults


def fault_run(seed: int) -> list[str]:
    with sandbox.start(quotas=False) as sb:
        sb.set_faults(error_rate=0.3, throttle_rate=0.2, seed=seed)
        client = sb.client(max_attempts=1)
        ds = sb.store.datastore_ids()[0]
        results = [outcome(lambda: client.get_datastore(datastoreId=ds)) for _ in range(40)]
        client.close()
        assert [e.error or "OK" for e in sb.requests] == results
        return results


def test_faults_are_reproducible_from_the_seed():
    first, again, other = fault_run(7), fault_run(7), fault_run(8)
    assert first == again
    assert first != other
    assert {"OK", "InternalServerException", "ThrottlingException"} == set(first)


def test_fault_injector_sequence_is_seeded():
    faults = sandbox.Faults(jitter_ms=10, error_rate=0.2, drop_rate=0.1, seed=3)
    a, b = FaultInjector(faults), FaultInjector(faults)
    assert [a.decide("GetImageSet") for _ in range(100)] == [
        b.decide("GetImageSet") for _ in range(100)
    ]
    restricted = FaultInjector(sandbox.Faults(error_rate=1.0, operations={"GetImageSet"}))
    assert restricted.decide("ListDatastores").action == "none"
    assert restricted.decide("GetImageSet").action == "error"


@pytest.mark.parametrize(
    "kwargs",
    [{"error_rate": 1.5}, {"latency_ms": -1}, {"error_rate": 0.6, "throttle_rate": 0.6}],
)
def test_bad_fault_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        sandbox.Faults(**kwargs)


def test_faults_passed_to_start_and_latency():
    with sandbox.start(faults=sandbox.Faults(error_rate=1.0), quotas=False) as sb:
        client = sb.client(max_attempts=1)
        with pytest.raises(client.exceptions.InternalServerException):
            client.list_datastores()
        sb.set_faults(latency_ms=120, jitter_ms=30)
        assert sb.faults == sandbox.Faults(latency_ms=120, jitter_ms=30)
        began = time.perf_counter()
        client.list_datastores()
        assert time.perf_counter() - began >= 0.12  # a sleep never ends early
        client.close()
    with sandbox.start(latency_ms=80, quotas=False) as sb:
        assert sb.faults.latency_ms == 80
        client = sb.client(max_attempts=1)
        began = time.perf_counter()
        client.list_datastores()
        assert time.perf_counter() - began >= 0.08
        client.close()


def test_latency_plus_jitter_stays_within_its_bounds():
    injector = FaultInjector(sandbox.Faults(latency_ms=120, jitter_ms=30, seed=5))
    delays = [injector.decide("ListDatastores").delay_s for _ in range(500)]
    assert all(0.120 <= d <= 0.150 for d in delays)
    assert min(delays) < 0.123 and max(delays) > 0.147  # the jitter spans its range


def test_dropped_connections_close_without_a_response():
    with sandbox.start(quotas=False) as sb:
        sb.set_faults(drop_rate=1.0)
        client = sb.client(max_attempts=1)
        with pytest.raises(
            (
                botocore.exceptions.ConnectionClosedError,
                botocore.exceptions.EndpointConnectionError,
            )
        ):
            client.list_datastores()
        assert sb.requests[-1] == sandbox.RequestLogEntry(
            "ListDatastores", {}, 0, "ConnectionDropped"
        )
        sb.set_faults()
        assert client.list_datastores()["datastoreSummaries"]
        client.close()


# ------------------------------------------------------------------------------ lifecycle


def test_stop_closes_keep_alive_connections_and_joins_threads():
    sb = sandbox.start(quotas=False)
    client = sb.client(max_attempts=1)
    client.list_datastores()  # leaves a keep-alive connection open
    port = sb.port
    assert sb.endpoint_url == f"http://127.0.0.1:{port}"
    sb.stop()  # the idle keep-alive connection would block its thread for 60 s
    assert not sb.running
    assert not [t for t in threading.enumerate() if t.name.startswith("hi-widgets-sandbox")]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    sb.stop()  # idempotent
    client.close()


@pytest.mark.slow
def test_many_concurrent_clients():
    with sandbox.start(quotas=False) as sb:
        ds, image_set = first_image_set(sb)
        errors = []

        def work():
            client = sb.client(max_attempts=1)
            try:
                for _ in range(10):
                    pages = client.get_paginator("list_image_set_versions").paginate(
                        datastoreId=ds, imageSetId=image_set
                    )
                    assert sum(len(p["imageSetPropertiesList"]) for p in pages) == 73
            except Exception as error:  # collected for the assertion below
                errors.append(error)
            finally:
                client.close()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert len(sb.requests) == 8 * 10 * 2


# ------------------------------------------------------------------------------------ CLI


def test_cli_serves_until_interrupted(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hi_widgets.sandbox", "--port", "0", "--seed", "0", "--no-quotas"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # One line per variable of Sandbox.env(): endpoint, host prefix, keys, both regions.
        lines = [process.stdout.readline().strip() for _ in range(6)]
        assert all(line.startswith("export ") for line in lines)
        exported = dict(line[len("export ") :].split("=", 1) for line in lines)
        assert exported["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"
        assert exported["AWS_ENDPOINT_URL_MEDICAL_IMAGING"].startswith("http://127.0.0.1:")
        session = boto3.Session(
            aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
            region_name=exported["AWS_DEFAULT_REGION"],
        )
        client = session.client(
            "medical-imaging",
            endpoint_url=exported["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
            config=botocore.config.Config(inject_host_prefix=False),
        )
        names = [d["datastoreName"] for d in client.list_datastores()["datastoreSummaries"]]
        assert names[0] == "demo-radiology"
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "sandbox stopped" in stderr


def test_cli_env_lines_quote_for_each_shell():
    from hi_widgets.sandbox.command import env_lines

    env = {"A": "x y", "B": "z"}
    assert env_lines(env) == ["export A='x y'", "export B=z"]
    assert env_lines(env, "powershell")[0] == "$env:A = 'x y'"
    assert env_lines(env, "cmd")[1] == "set B=z"
