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
