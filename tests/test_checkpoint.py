"""Checkpoints: a real child process killed with SIGKILL mid-fetch, then resumed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading

import pandas as pd
import pytest

from hi_widgets import fetch_datastore, fetch_versions, refresh, sandbox
from hi_widgets.bulk._checkpoint import FORMAT

CHILD = r"""
import sys, threading
from hi_widgets import fetch_datastore, fetch_versions, make_client

ds, path, stop_after, call = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ids = sys.stdin.read().split()
blocked, told = threading.Event(), threading.Lock()

def progress(step):
    # The pool calls progress after the checkpoint holds the image set: every worker
    # parks here from the N-th image set on, so at least N are in the file.
    if step.done >= stop_after:
        if told.acquire(blocking=False):  # tell the parent once
            print("STOPPED", flush=True)
        blocked.wait()

options = dict(checkpoint=path, progress=progress, max_workers=4)
client = make_client(max_attempts=1)
if call == "fetch_datastore":
    fetch_datastore(client, ds, **options)
else:
    fetch_versions(client, [(ds, i) for i in ids], **options)
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


def run_child_until_killed(sb, ds, image_sets, path, stop_after, call="fetch_versions"):
    env = {**os.environ, **sb.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, ds, str(path), str(stop_after), call],
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


def test_a_resumed_datastore_fetch_gives_the_frame_of_an_uninterrupted_one(sb, tmp_path):
    # Issue 21: after kill -9, resuming with the checkpoint re-read single-version image
    # sets with ListImageSetVersions instead of GetImageSet, so their rows lost
    # imageSetArn, lastAccessedAt and storageTier. The resumed call must plan (route)
    # every image set as the uninterrupted call did.
    ds = sb.store.datastore_ids()[0]
    uninterrupted = fetch_datastore(sb.client(), ds).frame
    path = tmp_path / "datastore.checkpoint"
    run_child_until_killed(sb, ds, [], path, stop_after=20, call="fetch_datastore")
    done_before = checkpointed(path)
    assert 20 <= len(done_before) < uninterrupted["imageSetId"].nunique()
    sent = len(sb.requests)

    resumed = fetch_datastore(sb.client(), ds, checkpoint=path)
    assert resumed.ok and not resumed.warnings
    refetched = {r.params.get("imageSetId") for r in sb.requests[sent:]} - {None}
    assert not refetched & done_before  # the checkpointed image sets were not fetched again
    pd.testing.assert_frame_equal(resumed.frame, uninterrupted)
    assert uninterrupted["imageSetArn"].notna().any()  # the GetImageSet fields are compared


def record_lines(path):
    return path.read_text().splitlines()[1:]


def test_a_damaged_or_edited_line_is_skipped_with_a_warning_naming_it(sb, tmp_path, caplog):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)[:6]]
    path = tmp_path / "versions.checkpoint"
    assert fetch_versions(sb.client(), items, checkpoint=path).ok
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == FORMAT and len(bytes.fromhex(header["key"])) == 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # owner-only: it holds the key
    edited = json.loads(lines[2])  # line 3: an image set's state changed by hand
    assert edited["records"][0]["imageSetState"] == "ACTIVE"
    lines[2] = lines[2].replace('"imageSetState": "ACTIVE"', '"imageSetState": "DELETED"', 1)
    lines[4] = lines[4][:40] + "X" + lines[4][41:]  # line 5: one byte damaged
    path.write_text("\n".join(lines) + "\n")
    tampered = {json.loads(lines[2])["item"][1]}
    sent = len(sb.requests)

    with caplog.at_level(logging.WARNING, logger="hi_widgets.bulk._checkpoint"):
        again = fetch_versions(sb.client(), items, checkpoint=path)
    (warning,) = again.warnings
    assert f"checkpoint {path}: line(s) 3, 5 do not verify" in warning
    assert warning in caplog.text
    refetched = {r.params["imageSetId"] for r in sb.requests[sent:]}
    assert tampered < refetched and len(refetched) == 2  # exactly the two bad lines
    assert again.ok and rows(again.frame) == truth(sb, ds, [i for _, i in items])
    assert "DELETED" not in set(again.frame["imageSetState"].astype(str))


def test_a_line_from_another_checkpoint_does_not_verify(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)[:3]]
    first, second = tmp_path / "first.checkpoint", tmp_path / "second.checkpoint"
    fetch_versions(sb.client(), items[:2], checkpoint=first)
    fetch_versions(sb.client(), items[1:], checkpoint=second)  # another key
    foreign = next(line for line in record_lines(second) if items[2][1] in line)
    with open(first, "a") as file:  # the line is well formed, signed with second's key
        file.write(foreign + "\n")
    with pytest.raises(ValueError, match="other inputs"):  # first was for items[:2]
        fetch_versions(sb.client(), items, checkpoint=first)
    sent = len(sb.requests)
    result = fetch_versions(sb.client(), items[:2], checkpoint=first)
    assert len(sb.requests) == sent  # items[:2] verified; the foreign line is not used
    assert "line(s) 4 do not verify" in result.warnings[0]


def test_an_unprotected_checkpoint_of_an_older_version_is_refused(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)[:2]]
    path = tmp_path / "old.checkpoint"
    fetch_versions(sb.client(), items, checkpoint=path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    old = {"format": "hi_widgets.checkpoint/1", "call": header["call"], "inputs": header["inputs"]}
    unsigned = [
        json.dumps({k: v for k, v in json.loads(line).items() if k != "hmac"})
        for line in lines[1:]
    ]
    path.write_text("\n".join([json.dumps(old), *unsigned]) + "\n")
    sent = len(sb.requests)
    with pytest.raises(ValueError, match="no valid integrity key"):
        fetch_versions(sb.client(), items, checkpoint=path)
    assert len(sb.requests) == sent
