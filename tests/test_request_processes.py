"""RequestProcesses: a bulk call's requests sent from child processes (issue 23).

Real children (``python -m hi_widgets.api.send_process``) sending with real boto3 clients
over HTTP to the sandbox, which verifies every signature.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import boto3
import botocore.session
import pandas as pd
import psutil
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials

import hi_widgets as hw

SANDBOX_OPTIONS = {"seed": 0, "image_sets": 40, "quotas": False}


@pytest.fixture(scope="module")
def processes():
    with hw.RequestProcesses(2) as started:
        yield started


@pytest.fixture
def pairs(sb):
    ds = sb.store.datastore_ids()[0]
    return [(ds, i) for i in sb.store.image_set_ids(ds)]


def test_a_fetch_through_processes_returns_what_one_process_returns(sb, pairs, processes):
    client = sb.client()
    alone = hw.fetch_versions(client, pairs)
    sb.clear_requests()
    children = [psutil.Process(pid) for pid in processes.pids]
    cpu_before = [sum(child.cpu_times()[:2]) for child in children]
    spread = hw.fetch_versions(client, pairs, processes=processes)
    pd.testing.assert_frame_equal(spread.frame, alone.frame)
    # the children did the sending (42 requests cost each of them tens of ms of CPU)
    cpu_after = [sum(child.cpu_times()[:2]) for child in children]
    assert all(after > before for before, after in zip(cpu_before, cpu_after, strict=True))
    assert spread.errors.empty and spread.stats.requests == alone.stats.requests
    # the server saw them, signed and answered (its log counts HTTP requests)
    assert len(sb.requests) == spread.stats.requests


def test_fetch_datastore_through_processes_equals_the_frame_of_one_process(sb, processes):
    ds = sb.store.datastore_ids()[0]
    alone = hw.fetch_datastore(sb.client(), ds)
    spread = hw.fetch_datastore(sb.client(), ds, processes=processes)
    pd.testing.assert_frame_equal(spread.frame, alone.frame)


def test_requests_take_turns_over_the_children(sb, pairs, processes):
    # One request at a time: each goes to the child used longest ago, so by the second
    # image set both children hold a connection to the sandbox (kept alive in their pools).
    connected = []

    def progress(step):
        if step.done == 2:
            connected.extend(
                pid
                for pid in processes.pids
                if any(
                    c.status == psutil.CONN_ESTABLISHED
                    for c in psutil.Process(pid).net_connections("tcp")
                )
            )

    result = hw.fetch_versions(
        sb.client(), pairs, processes=processes, max_workers=1, progress=progress
    )
    assert result.errors.empty
    assert connected == processes.pids


def test_service_errors_come_back_as_the_same_errors_with_their_details(sb, pairs, processes):
    ds = pairs[0][0]
    missing = (ds, "0" * 32)
    result = hw.fetch_versions(sb.client(), [missing, pairs[0]], processes=processes)
    row = result.errors.iloc[0]
    assert (row["imageSetId"], row["error"], row["retryable"]) == (
        "0" * 32,
        "ResourceNotFoundError",
        False,
    )
    assert "Check the image set id" in row["message"]
    assert len(result.frame) == sb.store.version_count(*pairs[0])


def test_a_denied_listing_falls_back_to_get_image_set_as_in_one_process(sb, pairs, processes):
    sb.deny("ListImageSetVersions")
    result = hw.fetch_versions(sb.client(), pairs[:3], processes=processes)
    assert result.errors.empty
    assert len(result.frame) == sum(sb.store.version_count(*p) for p in pairs[:3])
    assert {r.operation for r in sb.requests} == {"ListImageSetVersions", "GetImageSet"}


def test_throttles_are_retried_and_counted_by_the_calling_process(sb, pairs, processes):
    sb.set_faults(throttle_rate=0.3, seed=7)
    result = hw.fetch_versions(sb.client(), pairs, processes=processes)
    assert result.errors.empty
    assert len(result.frame) == sum(sb.store.version_count(*p) for p in pairs)
    assert result.stats.throttles > 0
    assert result.stats.retries == result.stats.throttles


def test_a_child_killed_mid_call_loses_nothing(sb, pairs, caplog):
    # Kill one child after the first image set completes: its requests in flight fail as
    # dropped connections, are retried on the other child, and the call completes.
    sb.set_faults(latency_ms=20)
    expected = hw.fetch_versions(sb.client(), pairs).frame
    with hw.RequestProcesses(2) as spread:
        victim = spread.pids[0]
        killed = threading.Event()

        def progress(step):
            if not killed.is_set():
                killed.set()
                os.kill(victim, signal.SIGKILL)

        result = hw.fetch_versions(
            sb.client(), pairs, processes=spread, progress=progress, max_workers=8
        )
        assert killed.is_set()
        assert "1 of 2 running" in repr(spread)
    pd.testing.assert_frame_equal(result.frame, expected)
    assert result.errors.empty
    said = [r.getMessage() for r in caplog.records if r.name == "hi_widgets.bulk.processes"]
    assert said and said[0].startswith(f"request process 0 (pid {victim}) exited")


def test_a_pool_whose_children_are_gone_is_refused_before_any_request(sb, pairs):
    spread = hw.RequestProcesses(1)
    os.kill(spread.pids[0], signal.SIGKILL)
    psutil.Process(spread.pids[0]).wait()
    try:
        with pytest.raises(RuntimeError, match="every request process has exited"):
            hw.fetch_versions(sb.client(), pairs[:2], processes=spread)
    finally:
        spread.close()
    assert sb.requests == []


def test_cancel_and_resume_from_a_checkpoint_give_the_uninterrupted_frame(
    sb, pairs, processes, tmp_path
):
    checkpoint = tmp_path / "fetch.jsonl"
    cancel = threading.Event()

    def progress(step):
        if step.done == 10:
            cancel.set()

    first = hw.fetch_versions(
        sb.client(),
        pairs,
        processes=processes,
        checkpoint=checkpoint,
        cancel=cancel,
        progress=progress,
        max_workers=2,
    )
    assert first.stats.cancelled and first.pending
    resumed = hw.fetch_versions(sb.client(), pairs, processes=processes, checkpoint=checkpoint)
    assert resumed.stats.completed == len(pairs)
    assert resumed.stats.requests < hw.fetch_versions(sb.client(), pairs).stats.requests
    pd.testing.assert_frame_equal(resumed.frame, hw.fetch_versions(sb.client(), pairs).frame)


def test_refreshed_credentials_are_handed_to_the_children(sb, pairs, processes):
    # The sandbox checks every signature: a child signing with stale credentials fails.
    good = sb.credentials()
    handed = {"secret": good["aws_secret_access_key"]}
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()

    def metadata():
        return {
            "access_key": good["aws_access_key_id"],
            "secret_key": handed["secret"],
            "token": None,
            "expiry_time": future,
        }

    credentials = RefreshableCredentials.create_from_metadata(metadata(), metadata, "test")

    class Given(CredentialProvider):
        METHOD = "test"

        def load(self):
            return credentials

    botocore_session = botocore.session.Session()
    botocore_session.get_component("credential_provider").insert_before("env", Given())
    session = boto3.Session(botocore_session=botocore_session, region_name=sb.region)
    client = sb.client(session=session)
    assert hw.fetch_versions(client, pairs[:2], processes=processes).errors.empty

    handed["secret"] = "not-the-secret"
    credentials._expiry_time = dt.datetime.now(dt.timezone.utc)  # due: refreshed on next use
    stale = hw.fetch_versions(client, pairs[:2], processes=processes)
    assert stale.frame.empty and (stale.errors["error"] == "AccessDeniedError").all()
    assert stale.errors["message"].str.contains("credentials were refused").all()

    handed["secret"] = good["aws_secret_access_key"]
    credentials._expiry_time = dt.datetime.now(dt.timezone.utc)
    assert hw.fetch_versions(client, pairs[:2], processes=processes).errors.empty


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_processes_are_refused_before_any_request_or_child(sb, pairs, bad):
    before = len(psutil.Process().children())
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        hw.fetch_versions(sb.client(), pairs, processes=bad)
    assert sb.requests == [] and len(psutil.Process().children()) == before


def test_a_client_that_is_not_boto3_is_refused(processes, pairs, tmp_path):
    class NotAClient:
        pass

    checkpoint = tmp_path / "fetch.jsonl"
    with pytest.raises(TypeError, match="processes= needs a boto3 client"):
        hw.fetch_versions(NotAClient(), pairs, processes=processes, checkpoint=checkpoint)
    assert not checkpoint.exists()


def test_children_run_in_their_own_session_and_hold_no_credentials_in_reprs(sb, processes):
    for pid in processes.pids:
        assert os.getsid(pid) == pid != os.getsid(0)  # Ctrl-C reaches the caller only
    text = repr(processes)
    assert text == "RequestProcesses(2: 2 of 2 running)"
    assert sb.credentials()["aws_secret_access_key"] not in text


def test_a_closed_pool_stops_its_children_and_refuses_calls(sb, pairs):
    spread = hw.RequestProcesses(1)
    children = [psutil.Process(pid) for pid in spread.pids]
    spread.close()
    spread.close()  # idempotent
    assert all(not child.is_running() or child.status() == "zombie" for child in children)
    with pytest.raises(ValueError, match="closed"):
        hw.fetch_versions(sb.client(), pairs, processes=spread)


def test_a_pool_left_to_the_garbage_collector_stops_its_children():
    spread = hw.RequestProcesses(1)
    child = psutil.Process(spread.pids[0])
    del spread
    gc.collect()
    child.wait(timeout=60)  # raises TimeoutExpired if it is still running by then
    assert not child.is_running()


def test_an_integer_starts_and_stops_children_for_one_call(sb, pairs):
    def senders():
        return {
            p.pid
            for p in psutil.Process().children()
            if "hi_widgets.api.send_process" in p.cmdline()
        }

    before = senders()
    during = []
    result = hw.fetch_versions(
        sb.client(), pairs[:3], processes=1, progress=lambda _: during.append(senders() - before)
    )
    assert result.errors.empty and len(result.frame) > 0
    assert [len(started) for started in during] == [1, 1, 1]  # one child, for this call
    assert senders() == before


def test_children_exit_when_their_parent_is_killed(tmp_path):
    script = textwrap.dedent(
        """
        import sys, hi_widgets as hw
        spread = hw.RequestProcesses(2)
        print(*spread.pids, flush=True)
        sys.stdin.read()  # until the test kills this process
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        children = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        assert len(children) == 2
        parent.kill()
        parent.wait()
        # Their end of the socket pair closes with the parent: each reads EOF and exits.
        _, alive = psutil.wait_procs(children, timeout=60)
        assert alive == []
    finally:
        parent.kill()
        parent.stdin.close()
        parent.stdout.close()


def test_children_import_the_callers_hi_widgets_from_a_checkout_on_sys_path(tmp_path):
    # A notebook that put a checkout on sys.path itself: its children must run that code,
    # not the installed copy. A copy of the package stands in for the checkout.
    checkout = tmp_path / "checkout"
    shutil.copytree(
        Path(hw.__file__).parent,
        checkout / "hi_widgets",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(checkout)!r})
        import psutil
        import hi_widgets as hw
        with hw.RequestProcesses(1) as spread:
            child = psutil.Process(spread.pids[0])
            print(hw.__file__)
            print(child.environ()["PYTHONPATH"].split(":")[0])
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    imported, child_path = done.stdout.split()
    assert imported.startswith(str(checkout))
    assert child_path == str(checkout)


def test_a_child_verifies_tls_as_the_callers_client_does():
    # verify= (False, or a CA bundle such as a hospital's TLS-inspecting proxy needs) is an
    # argument of client creation, not of its Config: the recipe must carry it.
    from botocore.config import Config

    from hi_widgets.api.send_process import ClientRecipe, _Clients
    from hi_widgets.api.single_attempt import client_verify

    caller = boto3.client(
        "medical-imaging",
        region_name="us-east-1",
        endpoint_url="https://127.0.0.1:9",
        verify="/nonexistent/ca-bundle.pem",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    assert client_verify(caller) == "/nonexistent/ca-bundle.pem"
    config = Config(inject_host_prefix=False)
    recipe = ClientRecipe("us-east-1", "https://127.0.0.1:9", config, 1, client_verify(caller))
    clients = _Clients()
    clients.add(0, recipe, caller._get_credentials().get_frozen_credentials())
    try:
        assert clients._clients[0]._endpoint.http_session._verify == "/nonexistent/ca-bundle.pem"
    finally:
        clients.forget(0)
