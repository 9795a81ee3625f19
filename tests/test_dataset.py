"""export_dataset: hive-partitioned Parquet that DuckDB and pyarrow read back as written.

Local folders and S3 (moto in server mode over real HTTP, reached through boto3's own
configuration). Every read-back compares rows and engine types with the frame.
"""

from __future__ import annotations

import re
import stat
from datetime import timedelta
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs
import pyarrow.parquet as pq
import pytest
from records_factory import BASE, record_builder

from hi_widgets.api.tables import VERSION_KEY, image_sets_frame, versions_frame
from hi_widgets.export.dataset import HIVE_NULL, export_dataset

duckdb = pytest.importorskip("duckdb")

DS_DIGITS = "0" * 32  # digits only: a reader guessing partition types may see a number
DS_LETTERS = "e" * 32


def image_set_id(n: int) -> str:
    return f"{n:031d}a"


record = record_builder(image_set_id, updated_after=timedelta(minutes=5, microseconds=250))

# What the engines report for each stored column (isLatest and sincePrevious are not stored).
DUCKDB_TYPES = {
    "imageSetId": "VARCHAR",
    "versionId": "BIGINT",
    "imageSetState": "VARCHAR",
    "imageSetWorkflowStatus": "VARCHAR",
    "createdAt": "TIMESTAMP WITH TIME ZONE",
    "updatedAt": "TIMESTAMP WITH TIME ZONE",
    "deletedAt": "TIMESTAMP WITH TIME ZONE",
    "message": "VARCHAR",
    "imageSetArn": "VARCHAR",
    "forced": "BOOLEAN",
    "isPrimary": "BOOLEAN",
    "lastAccessedAt": "TIMESTAMP WITH TIME ZONE",
    "storageTier": "VARCHAR",
    "changedAt": "TIMESTAMP WITH TIME ZONE",
    "datastoreId": "VARCHAR",
}
ARROW_TYPES = {
    name: {
        "VARCHAR": pa.string(),
        "BIGINT": pa.int64(),
        "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
        "BOOLEAN": pa.bool_(),
        "DOUBLE": pa.float64(),
    }[sql]
    for name, sql in DUCKDB_TYPES.items()
}


@pytest.fixture
def versions() -> pd.DataFrame:
    return versions_frame(
        [
            record(1, 1, datastoreId=DS_DIGITS),
            record(1, 2, datastoreId=DS_DIGITS, message="Line one\nünïcode, 'quoted'"),
            record(
                2,
                1,
                datastoreId=DS_DIGITS,
                imageSetState="DELETED",
                deletedAt=BASE + timedelta(days=9),
                forced=True,
                isPrimary=None,
                lastAccessedAt=BASE,
            ),
            # a state the model does not know yet is kept as its text
            record(3, 1, datastoreId=DS_LETTERS, imageSetState="FUTURE_STATE"),
        ]
    )


def stored_rows(frame: pd.DataFrame) -> list[tuple]:
    """The frame as engines should read it: plain values, time differences in seconds."""
    columns = [name for name in DUCKDB_TYPES if name in frame.columns]
    rows = []
    for _, row in frame[columns].iterrows():
        values = []
        for name in columns:
            value = row[name]
            if value is None or value is pd.NA or value is pd.NaT:
                value = None
            elif isinstance(value, pd.Timedelta):
                value = value.total_seconds()
            elif isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            elif hasattr(value, "item"):
                value = value.item()
            values.append(value)
        rows.append(tuple(values))
    return sorted(rows, key=_sort_key(columns))


def _sort_key(columns: list[str]):
    positions = [columns.index(name) for name in VERSION_KEY]
    return lambda row: tuple(row[i] for i in positions)


def read_duckdb(root: Path) -> tuple[dict[str, str], list[tuple]]:
    """Column types and rows, columns in DUCKDB_TYPES order, through DuckDB's hive reader."""
    query = (
        f"select {', '.join(DUCKDB_TYPES)} from read_parquet('{root.as_posix()}/**/*.parquet', "
        "hive_partitioning=true, hive_types={'datastoreId': VARCHAR})"
    )
    relation = duckdb.sql(query)
    types = dict(zip(relation.columns, map(str, relation.types), strict=True))
    return types, sorted(relation.fetchall(), key=_sort_key(list(DUCKDB_TYPES)))


def read_pyarrow(source, filesystem=None) -> pa.Table:
    partitioning = pads.partitioning(pa.schema([("datastoreId", pa.string())]), flavor="hive")
    dataset = pads.dataset(
        source, format="parquet", partitioning=partitioning, filesystem=filesystem
    )
    return dataset.to_table()


def arrow_rows(table: pa.Table) -> list[tuple]:
    columns = list(DUCKDB_TYPES)
    rows = zip(*(table.column(name).to_pylist() for name in columns), strict=True)
    return sorted(rows, key=_sort_key(columns))


def parquet_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# -------------------------------------------------------------------------------- local


def test_local_dataset_reads_back_with_duckdb_and_pyarrow(versions, tmp_path):
    root = tmp_path / "versions"
    result = export_dataset(versions, root)

    files = parquet_files(root)
    assert len(files) == 2 and result.rows_written == 4 and result.rows_skipped == 0
    assert {f.split("/")[0] for f in files} == {
        f"datastoreId={DS_DIGITS}",
        f"datastoreId={DS_LETTERS}",
    }
    assert all(f.endswith(".parquet") and "/." not in f for f in files)  # no temporary file left
    assert sorted(result.files) == sorted(str(root / f) for f in files)
    assert all(stat.S_IMODE((root / f).stat().st_mode) == 0o600 for f in files)

    types, rows = read_duckdb(root)
    assert types == DUCKDB_TYPES
    assert rows == stored_rows(versions)
    assert "FUTURE_STATE" in {row[2] for row in rows}
    every_column = duckdb.sql(
        f"select * from read_parquet('{root.as_posix()}/**/*.parquet', hive_partitioning=true)"
    ).columns
    assert sorted(every_column) == sorted(DUCKDB_TYPES)  # no isLatest, no sincePrevious

    table = read_pyarrow(root)
    assert {f.name: f.type for f in table.schema} == ARROW_TYPES
    assert arrow_rows(table) == stored_rows(versions)
    # the files carry no pandas metadata (engines would ignore it; pandas would obey it)
    assert b"pandas" not in (pq.read_schema(root / files[0]).metadata or {})


def test_parquet_column_types_are_the_ones_hive_readers_know(versions, tmp_path):
    """Physical and converted types: what Athena's and Spark's Parquet readers map."""
    root = tmp_path / "versions"
    export_dataset(versions, root)
    schema = pq.ParquetFile(next(root.rglob("*.parquet"))).schema
    columns = {schema.column(i).name: schema.column(i) for i in range(len(schema))}
    expected = {
        "VARCHAR": ("BYTE_ARRAY", "UTF8"),
        "BIGINT": ("INT64", "NONE"),
        "TIMESTAMP WITH TIME ZONE": ("INT64", "TIMESTAMP_MICROS"),
        "BOOLEAN": ("BOOLEAN", "NONE"),
        "DOUBLE": ("DOUBLE", "NONE"),
    }
    stored = {name: sql for name, sql in DUCKDB_TYPES.items() if name != "datastoreId"}
    assert set(columns) == set(stored)
    for name, sql in stored.items():
        column = columns[name]
        assert (column.physical_type, column.converted_type) == expected[sql], name
        if sql.startswith("TIMESTAMP"):
            assert column.logical_type.to_json().count('"isAdjustedToUTC":true') == 1


def test_appending_again_and_a_refresh_adds_only_new_versions(versions, tmp_path):
    root = tmp_path / "ds"
    export_dataset(versions, root)
    first_files = parquet_files(root)

    again = export_dataset(versions, root)
    assert again.files == () and again.rows_written == 0 and again.rows_skipped == 4
    assert parquet_files(root) == first_files  # nothing rewritten, nothing added

    # A later refresh: the same versions (one now reported differently) plus a new one.
    refreshed = versions_frame(
        [
            *versions.to_dict("records"),
            record(1, 2, datastoreId=DS_DIGITS, storageTier="ARCHIVE_INSTANT_ACCESS"),
            record(1, 3, datastoreId=DS_DIGITS, imageSetWorkflowStatus="UPDATED"),
        ]
    )
    appended = export_dataset(refreshed, root)
    assert appended.rows_written == 1 and appended.rows_skipped == 4
    assert appended.partitions == (f"datastoreId={DS_DIGITS}",)
    assert set(parquet_files(root)) > set(first_files)  # old files untouched, one new

    _, rows = read_duckdb(root)
    keys = [(r[-1], r[0], r[1]) for r in rows]
    assert len(keys) == len(set(keys)) == 5
    stored_tier = {(r[0], r[1]): r[12] for r in rows}
    assert stored_tier[(image_set_id(1), 2)] == "FREQUENT_ACCESS"  # the first stored row wins
    # isLatest is not stored; the query of docs/datasets.md gives the frame's values
    latest = duckdb.sql(
        "select imageSetId, versionId, versionId = max(versionId) over "
        "(partition by datastoreId, imageSetId) as isLatest "
        f"from read_parquet('{root.as_posix()}/**/*.parquet', hive_partitioning=true, "
        "hive_types={'datastoreId': VARCHAR}) order by all"
    ).fetchall()
    expected = refreshed.sort_values(["imageSetId", "versionId"])
    assert latest == [
        (i, int(v), bool(flag))
        for i, v, flag in zip(
            expected["imageSetId"], expected["versionId"], expected["isLatest"], strict=True
        )
    ]
    # Nor is sincePrevious (a refresh of new versions only has no previous one to count
    # from); the lag() query of docs/datasets.md gives the whole history's values.
    since = duckdb.sql(
        "select imageSetId, versionId, epoch(changedAt - lag(changedAt) over "
        "(partition by datastoreId, imageSetId order by versionId)) as sincePrevious "
        f"from read_parquet('{root.as_posix()}/**/*.parquet', hive_partitioning=true, "
        "hive_types={'datastoreId': VARCHAR}) order by all"
    ).fetchall()
    assert since == [
        (i, int(v), None if pd.isna(d) else pytest.approx(d.total_seconds()))
        for i, v, d in zip(
            expected["imageSetId"], expected["versionId"], expected["sincePrevious"], strict=True
        )
    ]
    assert any(row[2] is not None for row in since)


def test_an_empty_frame_writes_nothing(versions, tmp_path):
    root = tmp_path / "never"
    result = export_dataset(versions.iloc[:0], root)
    assert result.files == () and result.rows_written == 0
    assert not root.exists()


def test_phi_is_dropped_unless_asked(tmp_path):
    summary = {
        "imageSetId": image_set_id(1),
        "version": 1,
        "createdAt": BASE,
        "updatedAt": BASE,
        "DICOMTags": {"DICOMPatientName": "Doe^Jane", "DICOMPatientId": "PID-1"},
    }
    frame = image_sets_frame([summary], datastore_id=DS_LETTERS)
    export_dataset(frame, tmp_path / "plain")
    export_dataset(frame, tmp_path / "phi", include_phi=True)
    plain = read_pyarrow(tmp_path / "plain")
    phi = read_pyarrow(tmp_path / "phi")
    assert "DICOMPatientName" not in plain.column_names
    assert phi.column("DICOMPatientName").to_pylist() == ["Doe^Jane"]
    with pytest.raises(ValueError, match="partition_cols: 'DICOMPatientId' is a PHI column"):
        export_dataset(frame, tmp_path / "x", partition_cols=("DICOMPatientId",))


def test_appends_keep_uids_joinable_given_one_uid_key(tmp_path):
    def frame(n, study):
        summary = {
            "imageSetId": image_set_id(n),
            "version": 1,
            "createdAt": BASE,
            "updatedAt": BASE,
            "DICOMTags": {"DICOMStudyInstanceUID": study, "DICOMPatientName": "Doe^Jane"},
        }
        return image_sets_frame([summary], datastore_id=DS_LETTERS)

    for root, uid_key in (("keyed", "site-key"), ("random", None)):
        for n in (1, 2):  # two appends, two image sets of one study
            export_dataset(frame(n, "1.2.840.1"), tmp_path / root, key=None, uid_key=uid_key)
    keyed = read_pyarrow(tmp_path / "keyed").column("DICOMStudyInstanceUID").to_pylist()
    random = read_pyarrow(tmp_path / "random").column("DICOMStudyInstanceUID").to_pylist()
    assert len(set(keyed)) == 1 and keyed[0] != "1.2.840.1"
    assert len(set(random)) == 2  # a random key per append: the study no longer joins
    assert "DICOMPatientName" not in read_pyarrow(tmp_path / "keyed").column_names


def test_other_partitions_are_escaped_and_keys_found_in_any_partition(tmp_path):
    root = tmp_path / "by-state"
    frame = versions_frame(
        [
            record(1, 1, datastoreId=DS_LETTERS, imageSetState=None),
            record(2, 1, datastoreId=DS_LETTERS, imageSetState="A/B:C"),
        ]
    )
    parts = ("datastoreId", "imageSetState")
    export_dataset(frame, root, partition_cols=parts)
    folders = {f.rsplit("/", 1)[0] for f in parquet_files(root)}
    assert folders == {
        f"datastoreId={DS_LETTERS}/imageSetState={HIVE_NULL}",
        f"datastoreId={DS_LETTERS}/imageSetState=A%2FB%3AC",
    }
    table = pads.dataset(root, format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("imageSetState").to_pylist(), key=str) == ["A/B:C", None]

    # The state changed: the same version is now in another folder's rows; not repeated.
    moved = versions_frame([record(1, 1, datastoreId=DS_LETTERS, imageSetState="ACTIVE")])
    result = export_dataset(moved, root, partition_cols=parts)
    assert result.rows_written == 0 and result.rows_skipped == 1


def test_without_partitions_or_key_files_sit_at_the_root_and_every_row_is_appended(
    versions, tmp_path
):
    root = tmp_path / "flat"
    first = export_dataset(versions, root, partition_cols=(), key=None)
    second = export_dataset(versions, root, partition_cols=(), key=None)
    assert first.partitions == second.partitions == ("",)
    assert all("/" not in f for f in parquet_files(root)) and len(parquet_files(root)) == 2
    count = duckdb.sql(f"select count(*) from read_parquet('{root.as_posix()}/*.parquet')")
    assert count.fetchall() == [(2 * len(versions),)]


def test_a_frame_that_does_not_match_the_dataset_is_refused_before_writing(versions, tmp_path):
    root = tmp_path / "ds"
    export_dataset(versions, root)
    before = parquet_files(root)
    wider = versions.assign(Modality=pd.array(["CT"] * len(versions), dtype="string"))
    with pytest.raises(ValueError, match=r"does not match.*new columns \['Modality'\]"):
        export_dataset(wider, root)
    narrower = versions.drop(columns=["message"])
    with pytest.raises(ValueError, match=r"missing columns \['message'\]"):
        export_dataset(narrower, root)
    with pytest.raises(ValueError, match="partitioned by \\['datastoreId'\\]"):
        export_dataset(versions, root, partition_cols=("imageSetState",))
    assert parquet_files(root) == before


@pytest.mark.parametrize(
    ("root", "options", "error", "match"),
    [
        ("", {}, ValueError, "root must be"),
        ("  ", {}, ValueError, "root must be .*; got '  '"),
        ("gs://bucket/prefix/", {}, ValueError, "root: unsupported scheme 'gs'"),
        ("s3://", {}, ValueError, "root: .* valid S3 bucket"),
        ("s3://Bad_Bucket/x/", {}, ValueError, "valid S3 bucket"),
        (None, {}, TypeError, "root must be"),
        ("{tmp}/x", {"partition_cols": ("nope",)}, ValueError, "partition_cols: unknown column"),
        ("{tmp}/x", {"key": ("nope",)}, ValueError, "key: unknown column 'nope'"),
        ("{tmp}/x", {"partition_cols": ("createdAt",)}, ValueError, "partition_cols: .*dtype"),
        ("{tmp}/x", {"partition_cols": ("a", "a")}, ValueError, "partition_cols names a column"),
        ("s3://bucket/p/", {"partition_cols": ("nope",)}, ValueError, "partition_cols"),
    ],
)
def test_bad_arguments_fail_before_any_io(versions, tmp_path, root, options, error, match):
    sent = []
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    s3.meta.events.register("before-send", lambda request, **_: sent.append(request))
    if isinstance(root, str):
        root = root.format(tmp=tmp_path)
    with pytest.raises(error, match=match):
        export_dataset(versions, root, s3_client=s3, **options)
    assert sent == []
    assert not (tmp_path / "x").exists()


def test_a_frame_must_be_a_dataframe(tmp_path):
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        export_dataset([{"a": 1}], tmp_path)


# ----------------------------------------------------------------------------------- S3


def download(bucket: str, prefix: str, into: Path) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            target = into / item["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def test_s3_dataset_reads_back_and_appends_without_duplicates(
    versions, s3_bucket, s3_endpoint, tmp_path
):
    root = f"s3://{s3_bucket}/healthimaging/versions/"
    first = export_dataset(versions, root)  # boto3's own configuration: AWS_ENDPOINT_URL_S3
    assert len(first.files) == 2
    assert all(f.startswith(f"{root}datastoreId=") for f in first.files)

    # Appending reads the stored keys with ranged GETs, not whole objects.
    s3 = boto3.client("s3")
    gets = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: gets.append(params)
    )
    updated = versions_frame([*versions.to_dict("records"), record(4, 1, datastoreId=DS_LETTERS)])
    second = export_dataset(updated, root, s3_client=s3)
    assert second.rows_written == 1 and second.rows_skipped == 4
    assert gets and all(get["Range"].startswith("bytes=") for get in gets)

    filesystem = pyarrow.fs.S3FileSystem(
        endpoint_override=s3_endpoint,
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
    )
    table = read_pyarrow(f"{s3_bucket}/healthimaging/versions", filesystem)
    assert {f.name: f.type for f in table.schema} == ARROW_TYPES
    assert arrow_rows(table) == stored_rows(updated)

    local = tmp_path / "copy"
    download(s3_bucket, "healthimaging/versions/", local)
    types, rows = read_duckdb(local)
    assert types == DUCKDB_TYPES
    assert rows == stored_rows(updated)


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture
def box(monkeypatch):
    """A sandbox the CLI reaches through the environment (after any S3 settings)."""
    from hi_widgets import sandbox

    with sandbox.start(seed=4, quotas=False) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


def cli_versions(box, count: int, output: str) -> tuple[int, list[tuple[str, int]]]:
    from hi_widgets.cli.main import main

    datastore = box.store.datastore_ids()[0]
    image_sets = box.store.image_set_ids(datastore)[:count]
    argv = ["versions", "--datastore", datastore, "--image-set", *image_sets]
    status = main([*argv, "-o", output, "--no-progress"])
    history = sorted(
        (image_set, int(v["versionId"]))
        for image_set in image_sets
        for v in box.store.versions(datastore, image_set)
    )
    return status, history


def test_cli_writes_a_folder_dataset_and_appends_to_it(box, tmp_path, capsys):
    root = tmp_path / "dataset"
    status, first = cli_versions(box, 2, f"{root}/")
    assert status == 0
    assert f"1 new file(s), {len(first)} new row(s), 0 already stored" in capsys.readouterr().err
    status, history = cli_versions(box, 4, f"{root}/")  # two more image sets, two again
    assert status == 0
    new = len(history) - len(first)
    assert f"{new} new row(s), {len(first)} already stored" in capsys.readouterr().err
    rows = duckdb.sql(
        f"select imageSetId, versionId from read_parquet('{root.as_posix()}/**/*.parquet', "
        "hive_partitioning=true) order by all"
    ).fetchall()
    assert rows == history  # every version once


def test_cli_writes_an_s3_dataset(s3_bucket, s3_endpoint, box, tmp_path):
    status, history = cli_versions(box, 3, f"s3://{s3_bucket}/versions/")
    assert status == 0
    download(s3_bucket, "versions/", tmp_path)
    types, _ = read_duckdb(tmp_path)
    assert types == DUCKDB_TYPES
    rows = duckdb.sql(
        f"select imageSetId, versionId from read_parquet('{tmp_path.as_posix()}/**/*.parquet', "
        "hive_partitioning=true) order by all"
    ).fetchall()
    assert rows == history


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["-o", "gs://bucket/prefix/"], "unsupported scheme 'gs'"),
        (["-o", "{tmp}/ds/", "--format", "csv"], "a dataset .* is always Parquet"),
        (
            ["-o", "s3://bucket/x/", "--profile", "no-such-profile"],
            r"--profile: no profile no-such-profile",  # found before the dataset check
        ),
    ],
)
def test_cli_refuses_bad_dataset_options_before_any_request(box, tmp_path, capsys, extra, match):
    from hi_widgets.cli.main import main

    datastore = box.store.datastore_ids()[0]
    image_set = box.store.image_set_ids(datastore)[0]
    box.clear_requests()
    argv = ["versions", "--datastore", datastore, "--image-set", image_set, "--no-progress"]
    assert main([*argv, *(arg.format(tmp=tmp_path) for arg in extra)]) == 2
    assert re.search(match, capsys.readouterr().err)
    assert box.requests == []


def test_cli_refuses_a_bucket_it_cannot_list_before_any_request(s3_endpoint, box, capsys):
    status, _ = cli_versions(box, 1, "s3://no-such-bucket-here/versions/")
    assert status == 2
    assert "cannot use -o s3://no-such-bucket-here/versions/" in capsys.readouterr().err
    assert box.requests == []


def test_cli_saves_the_fetched_versions_when_the_dataset_write_fails(
    box, tmp_path, monkeypatch, capsys
):
    root = tmp_path / "dataset"
    other = versions_frame([record(1, 1)]).assign(Rows=1)  # a dataset of other columns
    export_dataset(other, root)
    monkeypatch.chdir(tmp_path)
    status, _ = cli_versions(box, 2, f"{root}/")
    assert status == 3  # -o was not written: a message naming the rescue file, no traceback
    err = capsys.readouterr().err
    assert re.search(r"new columns|missing columns", err)
    rescued = sorted(tmp_path.glob("hi-widgets-versions-*.parquet"))
    assert len(rescued) == 1 and str(rescued[0]) in err
    from hi_widgets.export.files import read_frame

    datastore = box.store.datastore_ids()[0]
    image_sets = box.store.image_set_ids(datastore)[:2]
    expected = sum(len(box.store.versions(datastore, i)) for i in image_sets)
    assert len(read_frame(rescued[0])) == expected


def test_a_real_refresh_result_appends_only_the_new_version(tmp_path):
    """fetch_versions -> dataset; an update makes a version; refresh -> dataset adds it."""
    import json
    from datetime import datetime, timezone

    from hi_widgets import fetch_versions, refresh, sandbox

    clock = sandbox.ManualClock(datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc))
    with sandbox.start(seed=0, clock=clock, update_delay=2.0, quotas=False) as box:
        client = box.client(max_attempts=1)
        datastore = box.store.datastore_ids()[0]
        image_sets = box.store.image_set_ids(datastore)[:5]
        fetched = fetch_versions(client, [(datastore, i) for i in image_sets])
        root = tmp_path / "versions"
        assert export_dataset(fetched.frame, root).rows_written == len(fetched.frame)

        target = next(
            i
            for i in image_sets
            if box.store.versions(datastore, i)[-1]["imageSetState"] == "ACTIVE"
        )
        latest = client.get_image_set(datastoreId=datastore, imageSetId=target)["versionId"]
        edit = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "EDITED"}}}
        client.update_image_set_metadata(
            datastoreId=datastore,
            imageSetId=target,
            latestVersionId=latest,
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"updatableAttributes": json.dumps(edit).encode()}
            },
        )
        clock.advance(2)  # the update settles
        later = refresh(client, fetched.frame)
        client.close()

    appended = export_dataset(later.frame, root)
    assert appended.rows_written == 1 and appended.rows_skipped == len(fetched.frame)
    stored = duckdb.sql(
        f"select imageSetId, versionId from read_parquet('{root.as_posix()}/**/*.parquet', "
        "hive_partitioning=true) order by all"
    ).fetchall()
    frame_keys = sorted(zip(later.frame["imageSetId"], later.frame["versionId"], strict=True))
    assert stored == [(i, int(v)) for i, v in frame_keys]
    assert (target, int(latest) + 1) in stored
