"""sync_datastore: a dataset kept up to date by SearchImageSets on updatedAt.

Facts about AWS the sync relies on, from AWS's pages:

* SearchImageSets filters on ``updatedAt`` with the BETWEEN operator, "All date range
  queries must be input as (lowerBound, upperBound)", at most two filters, and "By
  default, SearchImageSets uses the updatedAt field for sorting in descending order"
  (API reference, https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html).
* The sort fields are ``updatedAt | createdAt | DICOMStudyDateAndTime``, orders
  ``ASC | DESC`` (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_Sort.html).
* Each summary carries the image set's latest ``version`` and its ``updatedAt``
  (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ImageSetsMetadataSummary.html).
* A deleted image set's history reports ``imageSetState`` DELETED and ``deletedAt`` per
  version (ListImageSetVersions, https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ListImageSetVersions.html;
  DeleteImageSet answers LOCKED / DELETING first, https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DeleteImageSet.html).
* No page says whether SearchImageSets returns deleted image sets, and none offers a
  feed of deletions: the sandbox leaves them out of searches (the cautious reading), so
  these tests check that a sync finds deletions without relying on the search.
"""

from __future__ import annotations

import collections
import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hi_widgets import export_dataset, fetch_datastore, sandbox, sync_datastore
from hi_widgets.bulk import sync as sync_module
from hi_widgets.bulk._sync_state import STATE_NAME
from hi_widgets.export.dataset_store import LocalStore

FAST = {
    "ListImageSetVersions": (5000, 5000),
    "GetImageSet": (5000, 5000),
    "SearchImageSets": (5000, 5000),
}
UPDATE_DELAY = 2.0
# Volatile: the service sets it on every read, so two fetches never agree on it.
VOLATILE = ("lastAccessedAt",)
# Only GetImageSet answers these; whether an image set is read by GetImageSet or listed
# depends on the routing of the whole fetch (bulk/_routing.py), so after changes two
# fetches may differ in them. The history itself (every other column) may not.
GET_ONLY = ("imageSetArn", "storageTier", "lastAccessedAt")


@pytest.fixture
def sb():
    clock = sandbox.ManualClock()
    with sandbox.start(
        seed=2, image_sets=80, quotas=False, clock=clock, update_delay=UPDATE_DELAY
    ) as box:
        clock.advance(60)  # the demo's last operations settle
        yield box


@pytest.fixture
def client(sb):
    client = sb.client(max_attempts=1)
    yield client
    client.close()


def read(root, exclude=VOLATILE) -> list[tuple]:
    """Every row of a dataset, sorted, without the ``exclude`` columns (DuckDB)."""
    relation = duckdb.sql(
        f"select * exclude ({', '.join(exclude)}) from read_parquet("
        f"'{root}/**/*.parquet', hive_partitioning = true, "
        "hive_types = {'datastoreId': VARCHAR}, union_by_name = true)"
    )
    assert relation is not None
    return sorted(relation.fetchall(), key=repr)


def full_fetch_rows(client, ds, tmp_path: Path, name: str, exclude=VOLATILE) -> list[tuple]:
    result = fetch_datastore(client, ds, quota_rates=FAST)
    assert result.ok
    root = tmp_path / name
    export_dataset(result.frame, root)
    return read(root, exclude)


def update(sb, client, ds, image_set, text):
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    payload = {"Study": {"DICOM": {"StudyDescription": text}}}
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(payload).encode()}
        },
    )


def settle(sb):
    sb.clock.advance(UPDATE_DELAY + 1)


def operations(sb):
    return collections.Counter(entry.operation for entry in sb.requests)


def active_image_sets(sb, ds):
    return [
        i
        for i in sb.store.image_set_ids(ds)
        if sb.store.versions(ds, i)[-1]["imageSetState"] == "ACTIVE"
    ]


def test_first_sync_equals_a_full_fetch(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sb.clear_requests()
    first = sync_datastore(client, ds, root, quota_rates=FAST)
    assert first.complete and first.errors.empty and first.retry == ()
    assert first.requests == len(sb.requests)
    assert first.fetched == first.searched == len(active_image_sets(sb, ds))
    synced = read(root)
    assert synced == full_fetch_rows(client, ds, tmp_path, "fetched")
    assert first.rows_written == len(synced)
    # The mark is the newest updatedAt the search returned (the service's clock).
    newest = max(
        v["updatedAt"] for i in sb.store.image_set_ids(ds) for v in sb.store.versions(ds, i)
    )
    assert first.high_water_mark == newest


@pytest.mark.parametrize("changes", [2, 8])
def test_a_second_sync_adds_exactly_the_new_versions_at_requests_proportional_to_changes(
    sb, client, tmp_path, changes
):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sync_datastore(client, ds, root, quota_rates=FAST)
    before = read(root)
    changed = active_image_sets(sb, ds)[:changes]
    for n, image_set in enumerate(changed):
        update(sb, client, ds, image_set, f"sync test {n}")
    settle(sb)
    sb.clear_requests()

    second = sync_datastore(client, ds, root, quota_rates=FAST)

    sent = operations(sb)
    assert second.complete and second.errors.empty
    assert second.rows_written == changes  # one new version each, nothing else
    assert second.fetched == changes
    assert second.requests == sum(sent.values())
    # One search page (the changes and the overlap's few), then one listing or one
    # GetImageSet per version for each changed image set; none for the unchanged 70-odd.
    assert sent["SearchImageSets"] == 1
    fetches = sent["ListImageSetVersions"] + sent["GetImageSet"]
    assert changes <= fetches <= 2 * changes
    after = read(root)
    assert len(after) == len(before) + changes and set(before) <= set(after)
    assert read(root, GET_ONLY) == full_fetch_rows(client, ds, tmp_path, "fetched", GET_ONLY)


def test_a_sync_with_no_change_writes_nothing_and_sends_one_request(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sync_datastore(client, ds, root, quota_rates=FAST)
    update(sb, client, ds, active_image_sets(sb, ds)[0], "once")
    settle(sb)
    sync_datastore(client, ds, root, quota_rates=FAST)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    contents = {p: p.read_bytes() for p in files}
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    sb.clear_requests()

    again = sync_datastore(client, ds, root, quota_rates=FAST)

    assert (again.fetched, again.rows_written, again.files) == (0, 0, ())
    assert again.requests == 1 and operations(sb) == {"SearchImageSets": 1}
    assert sorted(p for p in root.rglob("*") if p.is_file()) == files
    assert {p: p.read_bytes() for p in files} == contents
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes


def test_a_deletion_is_marked_by_a_deleted_row(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    recent, old = active_image_sets(sb, ds)[:2]
    update(sb, client, ds, recent, "recent")
    settle(sb)
    sync_datastore(client, ds, root, quota_rates=FAST)
    for image_set in (recent, old):
        client.delete_image_set(datastoreId=ds, imageSetId=image_set)
    settle(sb)
    sb.clear_requests()

    # `recent` was in the overlap window: the search no longer returning it is the hint.
    second = sync_datastore(client, ds, root, quota_rates=FAST)
    assert second.deleted == (recent,) and second.rows_written == 1
    assert operations(sb)["SearchImageSets"] == 1

    # `old` needs a reconciliation: a full listing, then its history.
    sb.clear_requests()
    pages = -(-len(active_image_sets(sb, ds)) // 50)
    full = sync_datastore(client, ds, root, full=True, quota_rates=FAST)
    assert full.deleted == (old,) and full.rows_written == 1
    sent = operations(sb)
    assert sent["SearchImageSets"] == pages
    assert sent["ListImageSetVersions"] + sent["GetImageSet"] <= 2

    rows = duckdb.sql(
        "select imageSetId, versionId, deletedAt is not null "
        f"from read_parquet('{root}/**/*.parquet') where imageSetState = 'DELETED'"
    ).fetchall()
    latest = {i: int(sb.store.versions(ds, i)[-1]["versionId"]) for i in (recent, old)}
    assert sorted(rows) == sorted((i, latest[i], True) for i in (recent, old))
    # Each version is stored once per state: its ACTIVE row stays beside the DELETED one.
    keys = duckdb.sql(
        "select imageSetId, versionId, imageSetState, count(*) "
        f"from read_parquet('{root}/**/*.parquet') group by all having count(*) > 1"
    ).fetchall()
    assert keys == []
    # Nothing more to reconcile: a second full pass finds no deletion and writes nothing.
    assert sync_datastore(client, ds, root, full=True, quota_rates=FAST).rows_written == 0


class Killed(Exception):
    pass


def sync_killed_before_the_mark_moves(monkeypatch, client, ds, root):
    """Run a sync killed after its rows are written, as it saves the moved mark."""
    saves = []
    real_save = sync_module.save_state

    def save_then_die(folder, state):
        saves.append(state)
        if len(saves) == 2:  # the first save records the window; the second moves the mark
            raise Killed
        real_save(folder, state)

    monkeypatch.setattr(sync_module, "save_state", save_then_die)
    with pytest.raises(Killed):
        sync_datastore(client, ds, root, quota_rates=FAST)
    monkeypatch.setattr(sync_module, "save_state", real_save)


def test_a_sync_killed_while_fetching_resumes_without_loss_or_duplicates(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    seen = []

    def kill_after_30(step):
        seen.append(step)
        if len(seen) == 30:
            raise Killed

    sb.clear_requests()
    with pytest.raises(Killed):
        sync_datastore(client, ds, root, quota_rates=FAST, batch_rows=40, max_workers=2,
                       progress=kill_after_30)  # fmt: skip
    killed_requests = len(sb.requests)
    state = json.loads((root / STATE_NAME).read_text())["datastores"][ds]
    assert state["highWaterMark"] is None and state["run"] is not None  # the mark did not move
    assert read(root)  # some batches were written before the kill

    sb.clear_requests()
    resumed = sync_datastore(client, ds, root, quota_rates=FAST, batch_rows=40)
    assert resumed.complete and resumed.errors.empty
    # What the killed sync fetched came back from its checkpoint, not the service.
    fetches = operations(sb)["ListImageSetVersions"] + operations(sb)["GetImageSet"]
    uninterrupted = sync_datastore(client, ds, tmp_path / "clean", quota_rates=FAST).requests
    assert fetches + killed_requests < uninterrupted + 2 * 30
    assert fetches < uninterrupted - 20
    rows = read(root)
    assert rows == read(tmp_path / "clean") == full_fetch_rows(client, ds, tmp_path, "fetched")
    assert len(rows) == len(set(rows))
    assert not list(root.glob("_hi_widgets_sync-*.checkpoint"))  # done: checkpoint removed


def test_a_reconciliation_after_a_killed_sync_starts_afresh(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"

    def kill(step):
        raise Killed

    with pytest.raises(Killed):
        sync_datastore(client, ds, root, quota_rates=FAST, max_workers=1, progress=kill)
    assert list(root.glob("_hi_widgets_sync-*.checkpoint"))
    # Another window (full=True): the checkpoint of the killed one is not used, nor refused.
    full = sync_datastore(client, ds, root, full=True, quota_rates=FAST)
    assert full.complete and full.errors.empty
    # What the killed sync had fetched was written as it stopped and is kept: fetched in
    # another window, it may have been routed otherwise (GET_ONLY columns).
    assert read(root, GET_ONLY) == full_fetch_rows(client, ds, tmp_path, "fetched", GET_ONLY)
    # The full sync compares the search with the dataset: the kept ones cost no fetch.
    assert full.rows_skipped == 0 and full.rows_written < len(read(root))
    assert not list(root.glob("_hi_widgets_sync-*.checkpoint"))


def test_a_sync_killed_after_writing_but_before_moving_the_mark_resumes(
    sb, client, tmp_path, monkeypatch
):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sync_datastore(client, ds, root, quota_rates=FAST)
    for n, image_set in enumerate(active_image_sets(sb, ds)[:3]):
        update(sb, client, ds, image_set, f"kill {n}")
    settle(sb)
    sync_killed_before_the_mark_moves(monkeypatch, client, ds, root)
    assert len(read(root)) == len(full_fetch_rows(client, ds, tmp_path, "fetched"))

    sb.clear_requests()
    resumed = sync_datastore(client, ds, root, quota_rates=FAST)
    assert resumed.complete and resumed.fetched == 3
    # The checkpoint records an image set once its rows are in the dataset: read back from
    # it, the three are neither written again nor read from the dataset to be skipped.
    assert (resumed.rows_written, resumed.rows_skipped) == (0, 0)
    assert operations(sb) == {"SearchImageSets": 1}  # the histories came from the checkpoint
    assert read(root, GET_ONLY) == full_fetch_rows(client, ds, tmp_path, "fetched2", GET_ONLY)
    assert sync_datastore(client, ds, root, quota_rates=FAST).requests == 1


def test_versions_still_settling_are_fetched_again_by_the_next_sync(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sync_datastore(client, ds, root, quota_rates=FAST)
    image_set = active_image_sets(sb, ds)[0]
    update(sb, client, ds, image_set, "settling")  # LOCKED / UPDATING until settled
    second = sync_datastore(client, ds, root, quota_rates=FAST)
    assert second.retry == (image_set,) and second.rows_written == 0
    settle(sb)
    third = sync_datastore(client, ds, root, quota_rates=FAST)
    assert third.retry == () and third.rows_written == 1
    statuses = duckdb.sql(
        f"select distinct imageSetWorkflowStatus from read_parquet('{root}/**/*.parquet')"
    ).fetchall()
    assert not [s for (s,) in statuses if s.endswith("ING")]


def test_batches_look_for_their_keys_only_in_the_files_there_before_the_sync(
    sb, client, tmp_path, monkeypatch
):
    """Reads follow the dataset as it was, not what the sync wrote (not quadratic)."""
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    opened = []
    real_open = LocalStore.open

    def counted(store, relative, size):
        opened.append(relative)
        return real_open(store, relative, size)

    monkeypatch.setattr(LocalStore, "open", counted)
    first = sync_datastore(client, ds, root, quota_rates=FAST, batch_rows=40)
    assert len(first.files) > 3 and opened == []  # an empty dataset: nothing to read
    image_set = active_image_sets(sb, ds)[0]
    update(sb, client, ds, image_set, "one change")
    settle(sb)
    second = sync_datastore(client, ds, root, quota_rates=FAST, batch_rows=40)
    assert second.rows_written == 1
    # One batch: one file's schema, then each file of the first sync once at most.
    assert len(opened) <= 1 + len(first.files)


def test_a_resumed_sync_still_retries_what_was_settling(sb, client, tmp_path, monkeypatch):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "synced"
    sync_datastore(client, ds, root, quota_rates=FAST)
    settling, changed = active_image_sets(sb, ds)[:2]
    update(sb, client, ds, changed, "settled")
    settle(sb)
    update(sb, client, ds, settling, "settling")  # LOCKED / UPDATING until settled
    sync_killed_before_the_mark_moves(monkeypatch, client, ds, root)
    sb.clear_requests()
    resumed = sync_datastore(client, ds, root, quota_rates=FAST)
    # The settled one came from the checkpoint; the settling one is fetched again, and
    # is still to retry.
    assert resumed.complete and resumed.retry == (settling,)
    assert operations(sb)["ListImageSetVersions"] + operations(sb)["GetImageSet"] >= 1
    settle(sb)
    third = sync_datastore(client, ds, root, quota_rates=FAST)
    assert third.retry == () and third.rows_written == 1


def test_bad_arguments_fail_before_any_request(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    sb.clear_requests()
    with pytest.raises(ValueError, match="root"):
        sync_datastore(client, ds, "s3://bucket/prefix/")
    with pytest.raises(ValueError, match="overlap"):
        sync_datastore(client, ds, tmp_path, overlap=timedelta(minutes=-1))
    with pytest.raises(ValueError, match="datastore"):
        sync_datastore(client, "nope", tmp_path)
    assert sb.requests == []


def test_later_syncs_must_de_identify_as_the_first(sb, client, tmp_path):
    ds = sb.store.datastore_ids()[0]
    sync_datastore(client, ds, tmp_path, quota_rates=FAST, uid_key=b"first secret")
    text = (tmp_path / STATE_NAME).read_text()
    assert "first secret" not in text and "uidKeyId" in text  # a digest, never the key
    sb.clear_requests()
    with pytest.raises(ValueError, match="uid_key"):
        sync_datastore(client, ds, tmp_path, uid_key=b"another secret")
    with pytest.raises(ValueError, match="include_phi"):
        sync_datastore(client, ds, tmp_path, include_phi=True)
    assert sb.requests == []
    assert sync_datastore(client, ds, tmp_path, uid_key="first secret").requests == 1


def test_the_command_syncs_and_resyncs(sb, tmp_path, monkeypatch, capsys):
    from hi_widgets.cli.main import main

    for key, value in sb.env().items():
        monkeypatch.setenv(key, value)
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "versions"
    first = ["sync", "--datastore", ds, str(root), "--no-progress", "--processes", "1"]
    assert main([*first, "--quota", "GetImageSet=100/200"]) == 0
    assert "searched" in capsys.readouterr().out
    assert pd.read_parquet(root)["imageSetId"].nunique() == len(sb.store.image_set_ids(ds))
    sb.clear_requests()
    assert main(["sync", "--datastore", ds, str(root), "--no-progress"]) == 0
    assert "wrote 0 rows" in capsys.readouterr().out and len(sb.requests) == 1
    assert main(["sync", "--datastore", "nope", str(root)]) == 2
    assert main(["sync", "--datastore", ds, str(root), "--overlap-minutes", "-1"]) == 2
    assert main(["sync", "--datastore", ds, str(root), "--quota", "GetImageSet"]) == 2
    monkeypatch.delenv("HW_UNSET_KEY", raising=False)
    assert main(["sync", "--datastore", ds, str(root), "--uid-key-env", "HW_UNSET_KEY"]) == 2
    assert "--uid-key-env: the environment variable HW_UNSET_KEY" in capsys.readouterr().err
    assert len(sb.requests) == 1


def test_summaries_without_version_or_updated_at_are_fetched(stubbed, tmp_path):
    # ImageSetsMetadataSummary: only imageSetId is required; version and updatedAt are
    # optional (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ImageSetsMetadataSummary.html).
    from records_factory import STUB_DS, STUB_IS, listed_version

    client, stub = stubbed
    stub.add_response(
        "search_image_sets", {"imageSetsMetadataSummaries": [{"imageSetId": STUB_IS}]}
    )
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(2), listed_version(1)]},
        {"datastoreId": STUB_DS, "imageSetId": STUB_IS, "maxResults": 50},
    )
    result = sync_datastore(client, STUB_DS, tmp_path)
    assert result.complete and result.rows_written == 2 and result.high_water_mark is None
    state = json.loads((tmp_path / STATE_NAME).read_text())["datastores"][STUB_DS]
    assert state["frontier"] == {} and state["run"] is None
