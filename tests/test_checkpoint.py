"""Checkpoints: a real child process killed with SIGKILL mid-fetch, then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from hi_widgets import fetch_datastore, fetch_versions, refresh, sandbox

CHILD = r"""
import sys, threading
from hi_widgets import fetch_versions, make_client

ds, path, stop_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = sys.stdin.read().split()
blocked, told = threading.Event(), threading.Lock()

def progress(step):
    if step.done >= stop_after:  # every worker parks here from the N-th image set on
        if told.acquire(blocking=False):  # tell the parent once
            print("STOPPED", flush=True)
        blocked.wait()

fetch_versions(make_client(max_attempts=1), [(ds, i) for i in ids], checkpoint=path,
               progress=progress, max_workers=4)
print("FINISHED", flush=True)
"""


@pytest.fixture
def sb():
    with sandbox.start(seed=5, image_sets=60, quotas=False) as box:
        yield box


def truth(sb, ds, image_sets):
    return sorted((i, int(v["versionId"])) for i in image_sets for v in sb.store.versions(ds, i))


def rows(frame):
    return sorted(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True))


def checkpointed(path):
    """Image sets in a checkpoint; a torn last line (killed mid-write) does not count."""
    done = set()
    for line in path.read_text().splitlines()[1:]:
        try:
            done.add(json.loads(line)["item"][1])
        except ValueError:
            break
    return done


def run_child_until_killed(sb, ds, image_sets, path, stop_after):
    env = {**os.environ, **sb.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, ds, str(path), str(stop_after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    child.stdin.write("\n".join(image_sets))
    child.stdin.close()
    try:
        assert child.stdout.readline().strip() == "STOPPED"  # the N-th image set is done
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("stop_after", [1, 23, 52])
def test_resume_after_sigkill_fetches_only_what_is_missing(sb, tmp_path, stop_after):
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)
    path = tmp_path / "versions.checkpoint"
    run_child_until_killed(sb, ds, image_sets, path, stop_after)
    done_before = checkpointed(path)
    assert stop_after <= len(done_before) < len(image_sets)
    sent_before = len(sb.requests)

    result = fetch_versions(sb.client(), [(ds, i) for i in image_sets], checkpoint=path)
    assert result.ok
    assert rows(result.frame) == truth(sb, ds, image_sets)  # every version exactly once
    refetched = {r.params["imageSetId"] for r in sb.requests[sent_before:]}
    assert refetched == set(image_sets) - done_before
    assert result.stats.completed == len(image_sets)
    assert checkpointed(path) == set(image_sets)


def test_resume_after_a_clean_cancel_and_a_torn_last_line(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)]
    path = tmp_path / "versions.checkpoint"
    cancel = threading.Event()

    def progress(step):
        if step.done == 10:
            cancel.set()

    first = fetch_versions(sb.client(), items, checkpoint=path, progress=progress, cancel=cancel)
    assert first.stats.cancelled and first.pending
    with open(path, "a") as file:  # as if killed while writing the next line
        file.write('{"item": ["' + ds)
    second = fetch_versions(sb.client(), items, checkpoint=path)
    assert second.ok and not second.pending
    assert rows(second.frame) == truth(sb, ds, [i for _, i in items])
    assert all(line.endswith("}") for line in path.read_text().splitlines())


def test_a_checkpoint_for_other_inputs_is_refused(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)]
    path = tmp_path / "versions.checkpoint"
    fetch_versions(sb.client(), items[:3], checkpoint=path)
    sent = len(sb.requests)
    with pytest.raises(ValueError, match="other inputs"):
        fetch_versions(sb.client(), items[:4], checkpoint=path)
    with pytest.raises(ValueError, match="other inputs"):
        fetch_versions(sb.client(), items[:3], checkpoint=path, strategy="get")
    with pytest.raises(ValueError, match="other inputs"):
        fetch_datastore(sb.client(), ds, checkpoint=path)
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="not a hi_widgets checkpoint"):
        fetch_versions(sb.client(), items[:3], checkpoint=tmp_path / "notes.txt")
    assert len(sb.requests) == sent


def test_fetch_datastore_resumes_from_its_checkpoint(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    path = tmp_path / "datastore.checkpoint"
    cancel = threading.Event()

    def progress(step):
        if step.done == 5:
            cancel.set()

    first = fetch_datastore(sb.client(), ds, checkpoint=path, progress=progress, cancel=cancel)
    assert first.stats.cancelled
    done_before = checkpointed(path)
    sent = len(sb.requests)
    full = fetch_datastore(sb.client(), ds, checkpoint=path)
    assert full.ok and len(checkpointed(path)) == full.stats.items
    fetched = {r.params.get("imageSetId") for r in sb.requests[sent:]} - {None}
    assert not fetched & done_before


def test_refresh_resumes_after_a_cancel_listing_only_the_rest(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    full = fetch_versions(sb.client(), [(ds, i) for i in sb.store.image_set_ids(ds)])
    path = tmp_path / "refresh.checkpoint"
    cancel = threading.Event()

    def progress(step):
        if step.done == 5:
            cancel.set()

    first = refresh(
        sb.client(), full.frame, search=False, checkpoint=path, progress=progress, cancel=cancel
    )
    assert first.stats.cancelled and first.pending
    done_before = checkpointed(path)
    sent = len(sb.requests)
    second = refresh(sb.client(), full.frame, search=False, checkpoint=path)
    assert second.ok and rows(second.frame) == rows(full.frame)
    relisted = {r.params["imageSetId"] for r in sb.requests[sent:]}
    assert relisted == set(full.frame["imageSetId"]) - done_before
    with pytest.raises(ValueError, match="other inputs"):
        refresh(sb.client(), full.frame.iloc[1:], search=False, checkpoint=path)
