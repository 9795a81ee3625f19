"""fetch_datastore(dataset=ROOT): batches streamed into a Parquet dataset, resumable after kill -9.

Real boto3 over HTTP against the sandbox; the dataset is read back with DuckDB, as a
user's engine would read it.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hi_widgets import export_dataset, fetch_datastore, sandbox
from hi_widgets.api.tables import VERSION_KEY, versions_frame
from hi_widgets.bulk._checkpoint import Checkpoint
from hi_widgets.bulk._stream import DatasetSink
from hi_widgets.export.dataset import DatasetStream

UID_KEY = "stream-tests"
BATCH_ROWS = 100
KEY = ", ".join(VERSION_KEY)


@pytest.fixture(scope="module")
def box():
    with sandbox.start(seed=2, image_sets=80, quotas=False) as started:
        yield started


@pytest.fixture
def sb(box):
    box.set_faults()
    box.clear_requests()
    yield box
    box.set_faults()


@pytest.fixture(scope="module")
def full(box):
    """The whole datastore fetched in memory: what every streamed dataset must hold."""
    ds = box.store.datastore_ids()[0]
    result = fetch_datastore(box.client(), ds)
    assert result.ok
    return ds, result.frame


def _glob(root: Path) -> str:
    return f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"


def _sql(query: str) -> duckdb.DuckDBPyRelation:
    relation = duckdb.sql(query)
    assert relation is not None
    return relation


def _table(root: Path) -> pd.DataFrame:
    return _sql(f"select * from {_glob(root)} order by {KEY}").df()


def _keys(root: Path) -> list[tuple[str, str, int]]:
    rows = _sql(f"select {KEY} from {_glob(root)}").fetchall()
    return [(d, i, int(v)) for d, i, v in rows]


def _frame_keys(df: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(df["datastoreId"], df["imageSetId"], df["versionId"].astype(int), strict=True))


def _parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet")) if root.exists() else []


# ------------------------------------------------------------------------ batches, result


def test_batches_are_written_as_image_sets_complete(sb, full, tmp_path, monkeypatch):
    ds, frame = full
    root = tmp_path / "versions"
    seen = []

    def after_batch(number):  # what the dataset holds right after each batch
        seen.append((number, len(_parquet_files(root)), len(_keys(root))))

    monkeypatch.setattr(DatasetSink, "written_hook", after_batch)
    result = fetch_datastore(
        sb.client(), ds, dataset=f"{root}/", batch_rows=BATCH_ROWS, uid_key=UID_KEY
    )
    assert result.ok and result.frame.empty
    assert result.dataset is not None
    assert result.dataset.batches == len(seen) >= len(frame) // (2 * BATCH_ROWS)
    # one partition: one new file per batch, and each batch adds at least batch_rows rows
    # (whole image sets), but the last
    assert [files for _, files, _ in seen] == list(range(1, len(seen) + 1))
    added = [b[2] - a[2] for a, b in zip([(0, 0, 0), *seen], seen, strict=False)]
    assert all(rows >= BATCH_ROWS for rows in added[:-1]) and added[-1] > 0
    assert seen[-1][2] == len(frame) == result.dataset.rows_written == result.stats.versions
    assert len(result.dataset.files) == len(seen)


def test_the_dataset_equals_a_full_fetch_read_back_with_duckdb(sb, full, tmp_path):
    ds, frame = full
    streamed, exported = tmp_path / "streamed", tmp_path / "exported"
    fetch_datastore(sb.client(), ds, dataset=streamed, batch_rows=BATCH_ROWS, uid_key=UID_KEY)
    export_dataset(frame, exported, uid_key=UID_KEY)
    a, b = _table(streamed), _table(exported)
    assert len(a) == len(frame) and not a.duplicated(list(VERSION_KEY)).any()
    pd.testing.assert_frame_equal(a, b)
    # every stored column's values as the in-memory frame has them
    for column in ("imageSetState", "storageTier", "message", "imageSetArn"):
        want = (
            frame.sort_values(list(VERSION_KEY))[column]
            .astype(object)
            .where(frame.sort_values(list(VERSION_KEY))[column].notna(), None)
        )
        assert list(a[column].astype(object).where(a[column].notna(), None)) == list(want)


def test_cancel_keeps_every_image_set_completed_and_a_rerun_completes(sb, full, tmp_path):
    ds, frame = full
    root, checkpoint = tmp_path / "versions", tmp_path / "run.checkpoint"
    cancel = threading.Event()

    def progress(step):
        if step.done == 30:
            cancel.set()

    options = {"dataset": root, "batch_rows": BATCH_ROWS, "checkpoint": checkpoint}
    first = fetch_datastore(sb.client(), ds, progress=progress, cancel=cancel, **options)
    assert first.stats.cancelled and first.pending and first.frame.empty
    # everything completed is in the dataset, whole, even the last partial batch
    stored = set(_keys(root))
    done = {item[1] for item in first.pending}
    completed = frame[~frame["imageSetId"].isin(done)]
    assert stored == _frame_keys(completed)
    second = fetch_datastore(sb.client(), ds, **options)
    assert second.ok and second.dataset is not None and second.dataset.rows_skipped == 0
    keys = _keys(root)
    assert len(keys) == len(set(keys)) and set(keys) == _frame_keys(frame)


# ----------------------------------------------------------------- refused before any request


def test_dangerous_or_contradictory_options_are_refused_before_any_request(sb, full, tmp_path):
    ds, _ = full
    client = sb.client()
    a_file = tmp_path / "file"
    a_file.write_text("not a dataset")
    other = tmp_path / "other"  # a dataset of other columns
    export_dataset(pd.DataFrame({"datastoreId": [ds], "imageSetId": ["x"]}), other, key=None)
    cases = [
        ({"dataset": tmp_path / "d", "include_phi": True, "uid_key": "k"}, "uid_key"),
        ({"include_phi": True}, "only apply with dataset"),
        ({"uid_key": "k"}, "only apply with dataset"),
        ({"batch_rows": 10}, "only apply with dataset"),
        ({"dataset": tmp_path / "d", "batch_rows": 0}, "batch_rows"),
        ({"dataset": a_file}, "is a file"),
        ({"dataset": other}, "does not match the dataset"),
        ({"dataset": "ftp://host/x/"}, "unsupported scheme"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            fetch_datastore(client, ds, **options)
    assert sb.requests == []
    assert not (tmp_path / "d").exists()


def test_a_checkpoint_is_only_resumed_into_the_same_dataset_the_same_way(sb, full, tmp_path):
    ds, _ = full
    checkpoint = tmp_path / "run.checkpoint"
    cancel = threading.Event()
    cancel.set()
    fetch_datastore(sb.client(), ds, dataset=tmp_path / "a", checkpoint=checkpoint, cancel=cancel)
    sb.clear_requests()
    for options in (
        {"dataset": tmp_path / "b"},  # another dataset
        {"dataset": tmp_path / "a", "include_phi": True},  # another de-identification
        {"dataset": tmp_path / "a", "uid_key": "other"},
        {},  # in memory: its lines carry no records
    ):
        with pytest.raises(ValueError, match="other inputs"):
            fetch_datastore(sb.client(), ds, checkpoint=checkpoint, **options)
    assert sb.requests == []


def test_without_a_uid_key_a_resumed_call_replaces_uids_as_the_first_run(tmp_path):
    """The key comes from the checkpoint's own: the same on every reopen."""
    uid = "1.2.840.113619.2.55.3.604688119.971.1"
    record = {
        "datastoreId": "d" * 32,
        "imageSetId": "e" * 32,
        "versionId": 1,
        "message": f"copied from study {uid}",
    }
    frame = versions_frame([record])
    replaced = []
    for run in ("first", "resumed"):
        root = tmp_path / run
        with Checkpoint(tmp_path / "c", "fetch_datastore", {"x": 1}) as checkpoint:
            stream = DatasetStream(root)
            stream.prepare(frame.iloc[:0])
            sink = DatasetSink(stream, batch_rows=1, derive_uid_key=True)
            sink.open(checkpoint, threading.Event())
            sink.add(("d" * 32, "e" * 32), [record])
            sink.flush()
        (message,) = duckdb.sql(f"select message from {_glob(root)}").fetchall()[0]
        assert uid not in message
        replaced.append(message)
    assert replaced[0] == replaced[1]
    assert len(frame) == 1


def test_a_batch_that_cannot_be_written_stops_the_call_and_is_returned(sb, full, tmp_path):
    ds, frame = full
    root = tmp_path / "versions"
    partition = root / f"datastoreId={ds}"
    aside = tmp_path / "aside"
    written = []

    def block_the_partition(number):  # a file where the partition folder was: no write
        written.append(number)
        partition.rename(aside)
        partition.write_text("in the way")

    hook = DatasetSink.written_hook
    DatasetSink.written_hook = block_the_partition
    try:
        result = fetch_datastore(sb.client(), ds, dataset=root, batch_rows=BATCH_ROWS)
    finally:
        DatasetSink.written_hook = hook
    partition.unlink()
    aside.rename(partition)
    assert written == [1]
    assert any("cannot write batch 2" in w for w in result.warnings)
    # the call stopped (those not yet fetched are pending, if any were left)
    assert len(result.frame) > 0 and result.stats.cancelled == bool(result.pending)
    kept = _frame_keys(result.frame)
    stored = set(_keys(root))
    assert stored and not kept & stored
    pending = {item[1] for item in result.pending}
    assert kept | stored == _frame_keys(frame[~frame["imageSetId"].isin(pending)])


# -------------------------------------------------------------------------------- kill -9

CHILD = textwrap.dedent(
    """
    import sys

    import boto3

    from hi_widgets import fetch_datastore
    from hi_widgets.bulk._stream import DatasetSink

    datastore_id, root, checkpoint, point, at = sys.argv[1:6]

    def hook(number):
        if number == int(at):
            print(f"{point} {number}", flush=True)
            sys.stdin.read()  # hold here until the test kills this process

    setattr(DatasetSink, f"{point}_hook", hook)
    client = boto3.client("medical-imaging")
    fetch_datastore(
        client, datastore_id, dataset=root, checkpoint=checkpoint, batch_rows=int(sys.argv[6]),
        uid_key="stream-tests", max_workers=4,
    )
    print("finished", flush=True)
    """
)


def _run_until_killed(sb, ds, root, checkpoint, point, at):
    env = {**os.environ, **sb.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            ds,
            str(root),
            str(checkpoint),
            point,
            str(at),
            str(BATCH_ROWS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 300)
        assert ready, "the child never reached the kill point"
        assert child.stdout.readline().strip() == f"{point} {at}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)


@pytest.mark.parametrize("point", ["written", "recorded"])
def test_kill_9_then_resume_neither_duplicates_nor_loses(sb, full, tmp_path, point):
    """Killed after batch 3 is in the dataset: before, or after, the checkpoint records it."""
    ds, frame = full
    root, checkpoint = tmp_path / "versions", tmp_path / "run.checkpoint"
    _run_until_killed(sb, ds, root, checkpoint, point, at=3)
    assert len(_parquet_files(root)) == 3  # nothing written after the kill point
    lines = checkpoint.read_bytes().count(b"\n") - 1  # image sets the checkpoint holds
    stored = {key[1] for key in _keys(root)}
    if point == "written":
        assert lines < len(stored)  # batch 3 is in the dataset, not in the checkpoint
    else:
        assert lines == len(stored)
    sb.clear_requests()
    resumed = fetch_datastore(
        sb.client(),
        ds,
        dataset=root,
        checkpoint=checkpoint,
        batch_rows=BATCH_ROWS,
        uid_key=UID_KEY,
    )
    assert resumed.ok and resumed.dataset is not None
    # the unrecorded batch was fetched again and its rows skipped; a recorded one was not
    assert (resumed.dataset.rows_skipped > 0) == (point == "written")
    assert resumed.stats.completed == frame["imageSetId"].nunique()
    keys = _keys(root)
    assert len(keys) == len(set(keys)) == len(frame)
    assert set(keys) == _frame_keys(frame)
    exported = tmp_path / "exported"
    export_dataset(frame, exported, uid_key=UID_KEY)
    pd.testing.assert_frame_equal(_table(root), _table(exported))


# --------------------------------------------------------------------------------- memory


def test_the_pool_queues_at_most_max_queued_tasks_and_keeps_no_finished_future(sb):
    """The search cannot run ahead of the fetches: submit waits for a free slot."""
    from hi_widgets.bulk._pool import Pool
    from hi_widgets.bulk.engine import Engine, make_limiter

    tasks, bound = 12, 3
    started = [threading.Event() for _ in range(tasks)]
    release = [threading.Event() for _ in range(tasks)]
    submitted = 0
    seen = []

    def work(item):
        index = int(item[1])
        started[index].set()
        assert release[index].wait(60)
        return []

    def releaser():  # lets the tasks end one by one, noting how many were submitted then
        for index in range(tasks):
            assert started[index].wait(60)
            seen.append(submitted)
            release[index].set()

    engine = Engine(sb.client(), make_limiter(None), "auto", None)
    thread = threading.Thread(target=releaser)
    thread.start()
    with Pool(engine, 1, None, max_queued=bound) as pool:
        for index in range(tasks):
            pool.submit(("d", str(index)), work)
            submitted += 1
    thread.join(60)
    # while task i ran, at most `bound` tasks had been submitted and not finished
    assert all(count <= index + bound for index, count in enumerate(seen))
    assert len(pool.outcomes) == tasks and not pool._futures
