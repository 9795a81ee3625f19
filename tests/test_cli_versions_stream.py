"""``hi-widgets versions --all -o ROOT/``: the datastore streamed into a Parquet dataset."""

from __future__ import annotations

import duckdb
import pytest

from hi_widgets import export_dataset, sandbox
from hi_widgets.api.tables import versions_frame
from hi_widgets.cli.main import main


@pytest.fixture(scope="module")
def box():
    with sandbox.start(seed=4, quotas=False) as started:
        yield started


@pytest.fixture
def sb(box, monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for key, value in box.env().items():
        monkeypatch.setenv(key, value)
    box.clear_requests()
    return box


def searched_history(sb, ds):
    client, ids, token = sb.client(), set(), None
    while True:
        page = client.search_image_sets(
            datastoreId=ds, maxResults=50, **({"nextToken": token} if token else {})
        )
        ids |= {s["imageSetId"] for s in page["imageSetsMetadataSummaries"]}
        token = page.get("nextToken")
        if not token:
            break
    return sorted((i, int(v["versionId"])) for i in ids for v in sb.store.versions(ds, i))


def stored(root):
    return duckdb.sql(
        f"select imageSetId, versionId from read_parquet('{root.as_posix()}/**/*.parquet', "
        "hive_partitioning=true) order by all"
    ).fetchall()


def test_all_into_a_folder_streams_every_version_once(sb, tmp_path, capsys):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "dataset"
    argv = ["versions", "--datastore", ds, "--all", "-o", f"{root}/", "--no-progress"]
    assert main(argv) == 0
    history = searched_history(sb, ds)
    err = capsys.readouterr().err
    assert f"1 batch(es), {len(history)} new row(s), 0 already stored" in err
    assert stored(root) == history
    assert main([*argv, "--checkpoint", str(tmp_path / "run.checkpoint")]) == 0
    assert f"0 new row(s), {len(history)} already stored" in capsys.readouterr().err
    assert stored(root) == history  # every version once


def test_all_into_a_dataset_of_other_columns_exits_2_before_any_request(sb, tmp_path, capsys):
    ds = sb.store.datastore_ids()[0]
    root = tmp_path / "dataset"
    other = versions_frame([{"datastoreId": ds, "imageSetId": "x" * 32, "versionId": 1}])
    export_dataset(other.drop(columns=["message"]), root)
    argv = ["versions", "--datastore", ds, "--all", "-o", f"{root}/", "--no-progress"]
    assert main(argv) == 2
    assert "new columns ['message']" in capsys.readouterr().err
    assert sb.requests == []


UID = "1.2.840.113619.2.55.3.604688119.971.1"
KEY = "a project's uid key"


def messages(root):
    return duckdb.sql(
        f"select imageSetId, versionId, message from read_parquet('{root.as_posix()}/**/"
        "*.parquet', hive_partitioning=true) where message is not null order by all"
    ).fetchall()


def test_uid_key_env_keys_the_replacement_uids_as_fetch_datastore_does(
    tmp_path, monkeypatch, capsys
):
    clock = sandbox.ManualClock()
    with sandbox.start(seed=4, image_sets=6, quotas=False, clock=clock) as box:
        clock.advance(60)  # the demo's last operations settle
        for key, value in box.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        ds = box.store.datastore_ids()[0]
        image_set = box.store.image_set_ids(ds)[0]
        client = box.client()
        latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
        box.store.fail_next_write("UPDATE_FAILED", f"cannot update: {UID} is in use")
        client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId=latest,
            updateImageSetMetadataUpdates={"DICOMUpdates": {"removableAttributes": b"{}"}},
        )
        clock.advance(60)  # the update fails, its version's message quotes the UID
        monkeypatch.setenv("HW_UID_KEY", KEY)
        argv = ["versions", "--datastore", ds, "--all", "--no-progress"]
        keyed, unkeyed, expected = tmp_path / "keyed", tmp_path / "unkeyed", tmp_path / "api"
        assert main([*argv, "-o", f"{keyed}/", "--uid-key-env", "HW_UID_KEY"]) == 0
        assert main([*argv, "-o", f"{unkeyed}/"]) == 0
        from hi_widgets import fetch_datastore

        fetch_datastore(client, ds, dataset=expected, uid_key=KEY)
        got = messages(keyed)
        assert any("cannot update:" in message for *_, message in got)
        assert UID not in repr(got)
        assert got == messages(expected)  # the key given, not a random one
        assert messages(unkeyed) != got

        box.clear_requests()
        capsys.readouterr()
        monkeypatch.delenv("HW_UID_KEY")
        assert main([*argv, "-o", f"{keyed}/", "--uid-key-env", "HW_UID_KEY"]) == 2
        assert "--uid-key-env: the environment variable HW_UID_KEY" in capsys.readouterr().err
        monkeypatch.setenv("HW_UID_KEY", KEY)
        phi = [*argv, "-o", f"{keyed}/", "--uid-key-env", "HW_UID_KEY", "--include-phi"]
        assert main(phi) == 2
        assert "--include-phi keeps the UIDs" in capsys.readouterr().err
        assert box.requests == []
