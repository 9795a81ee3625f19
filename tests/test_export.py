from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pandas as pd
import pytest
from records_factory import BASE, DS, record_builder

from hi_widgets.api.tables import image_sets_frame, versions_frame
from hi_widgets.export import _formats as _export_formats
from hi_widgets.export import files as export
from hi_widgets.export.deid import PHI_COLUMNS
from hi_widgets.export.files import FORMATS, export_frame, read_frame, to_bytes

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")


def image_set_id(n: int) -> str:
    # all digits: a CSV reader that guessed types would turn it into a number
    return f"{n:032d}"


record = record_builder(image_set_id, updated_after=timedelta(minutes=5, microseconds=250))


@pytest.fixture
def versions() -> pd.DataFrame:
    return versions_frame(
        [
            record(1, 1),
            record(1, 2, message='Line one, "quoted"\nline two, ünïcode', forced=True),
            record(
                1,
                3,
                imageSetState="DELETED",
                imageSetWorkflowStatus="DELETED",
                deletedAt=BASE + timedelta(days=9),
                isPrimary=None,
            ),
            record(2, 1, imageSetState="FUTURE_STATE", imageSetWorkflowStatus="UPDATE_FAILED"),
        ]
    )


@pytest.fixture
def image_sets() -> pd.DataFrame:
    tags = {
        "DICOMPatientId": "PID-1",
        "DICOMPatientName": "Doe^Jane",
        "DICOMPatientBirthDate": "19700101",
        "DICOMPatientSex": "F",
        "DICOMStudyInstanceUID": "1.2.3",
        "DICOMSeriesNumber": 4,
        "DICOMAccessionNumber": "ACC-77",
        "DICOMStudyDate": "20240108",
        "DICOMStudyDescription": "CT HEAD",
    }
    summary = {
        "imageSetId": image_set_id(1),
        "version": 1,
        "createdAt": BASE,
        "updatedAt": BASE,
        "DICOMTags": tags,
    }
    return image_sets_frame([summary], datastore_id=DS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_each_format(tmp_path, versions, fmt):
    path = export_frame(versions, tmp_path / f"versions.{fmt}")
    assert path == tmp_path / f"versions.{fmt}"
    back = read_frame(path)
    pd.testing.assert_frame_equal(versions, back)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_empty_frame_keeps_schema(tmp_path, fmt):
    empty = versions_frame([])
    back = read_frame(export_frame(empty, tmp_path / f"empty.{fmt}"))
    pd.testing.assert_frame_equal(empty, back)


def test_empty_json_is_an_empty_array(tmp_path):
    path = export_frame(versions_frame([]), tmp_path / "empty.json")
    assert json.loads(path.read_text()) == []


def test_parquet_read_by_pandas_keeps_values_and_dtypes(tmp_path, versions):
    path = export_frame(versions, tmp_path / "v.parquet")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(versions, back)
    for column in versions.columns:
        assert back[column].dtype == versions[column].dtype, column
    # unused model categories survive too
    assert list(back["imageSetWorkflowStatus"].cat.categories) == list(
        versions["imageSetWorkflowStatus"].cat.categories
    )
    assert str(back["createdAt"].dt.tz) == "UTC"


def test_pq_suffix_is_parquet(tmp_path, versions):
    path = export_frame(versions, tmp_path / "v.PQ")
    assert path.read_bytes()[:4] == b"PAR1"


def test_format_argument_wins_over_suffix(tmp_path, versions):
    path = export_frame(versions, tmp_path / "v.txt", format="JSON")
    assert isinstance(json.loads(path.read_text()), list)


def test_json_is_records_with_iso_utc_and_seconds(tmp_path, versions):
    rows = json.loads(to_bytes(versions, "json"))
    assert len(rows) == len(versions)
    first = rows[0]
    assert list(first) == list(versions.columns)
    assert first["createdAt"] == "2024-05-02T12:00:00.000000Z"
    assert first["updatedAt"] == first["changedAt"] == "2024-05-02T13:05:00.000250Z"
    assert first["sincePrevious"] is None  # version 1
    assert rows[1]["sincePrevious"] == pytest.approx(3600.0)  # seconds since version 1
    assert first["deletedAt"] is None
    assert first["versionId"] == 1
    assert first["isPrimary"] is True
    assert first["forced"] is None
    assert rows[1]["message"] == 'Line one, "quoted"\nline two, ünïcode'


def test_csv_text_uses_iso_utc(versions):
    text = to_bytes(versions, "csv").decode("utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",") == list(versions.columns)
    assert "2024-05-02T12:00:00.000000Z" in first
    assert image_set_id(1) in first


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_bytes_equals_file_content(tmp_path, versions, fmt):
    path = export_frame(versions, tmp_path / f"v.{fmt}")
    assert to_bytes(versions, fmt) == path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_phi_dropped_by_default(tmp_path, image_sets, fmt):
    path = export_frame(image_sets, tmp_path / f"sets.{fmt}")
    back = read_frame(path)
    assert not set(PHI_COLUMNS) & set(back.columns)
    raw = path.read_bytes()
    for secret in (b"Doe^Jane", b"PID-1", b"19700101", b"ACC-77", b"20240108", b"HEAD"):
        assert secret not in raw
    assert back.loc[0, "DICOMSeriesNumber"] == 4  # not in the profile: kept
    # UIDs are replaced, not dropped: a valid UID, not the original.
    uid = back.loc[0, "DICOMStudyInstanceUID"]
    assert uid.startswith("2.25.") and uid != "1.2.3" and len(uid) <= 64
    assert b"1.2.3," not in raw and b'"1.2.3"' not in raw
    assert set(PHI_COLUMNS) <= set(image_sets.columns)  # input untouched
    assert image_sets.loc[0, "DICOMStudyInstanceUID"] == "1.2.3"


def test_uids_join_across_exports_given_one_key(image_sets):
    def uid(key):
        csv = to_bytes(image_sets, "csv", uid_key=key).decode()
        row = dict(zip(*[line.split(",") for line in csv.splitlines()[:2]], strict=True))
        return row["DICOMStudyInstanceUID"]

    assert uid("project-key") == uid("project-key") != uid("other-key")
    assert uid(None) != uid(None)  # a fresh random key per export by default


def test_keep_dates_keeps_the_study_date_not_the_birth_date(image_sets):
    raw = to_bytes(image_sets, "csv", keep_dates=True)
    assert b"20240108" in raw
    assert b"19700101" not in raw and b"Doe^Jane" not in raw


@pytest.mark.parametrize("fmt", FORMATS)
def test_phi_kept_on_request(tmp_path, image_sets, fmt):
    path = export_frame(image_sets, tmp_path / f"sets.{fmt}", include_phi=True)
    back = read_frame(path)
    assert set(PHI_COLUMNS) <= set(back.columns)
    assert back.loc[0, "DICOMPatientName"] == "Doe^Jane"
    assert b"Doe^Jane" in to_bytes(image_sets, fmt, include_phi=True)
    assert b"Doe^Jane" not in to_bytes(image_sets, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_patient_tags_unknown_to_the_model_are_phi_too(fmt):
    summary = {"imageSetId": image_set_id(1), "DICOMTags": {"DICOMPatientAge": "042Y"}}
    newer = image_sets_frame([summary], datastore_id=DS)
    assert "DICOMPatientAge" in newer.columns  # kept by the frame, as unknown tags are
    assert b"042Y" not in to_bytes(newer, fmt)
    assert b"042Y" in to_bytes(newer, fmt, include_phi=True)


def test_unknown_format_argument(tmp_path, versions):
    with pytest.raises(ValueError, match=r"format must be one of 'csv', 'parquet', 'json'"):
        export_frame(versions, tmp_path / "v.csv", format="xlsx")
    with pytest.raises(ValueError, match="xlsx"):
        to_bytes(versions, "xlsx")
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix(tmp_path, versions):
    with pytest.raises(ValueError, match=r"suffix '\.xlsx'.*format="):
        export_frame(versions, tmp_path / "v.xlsx")
    with pytest.raises(ValueError, match="none"):
        export_frame(versions, tmp_path / "noext")
    assert list(tmp_path.iterdir()) == []


def test_not_a_dataframe(tmp_path):
    with pytest.raises(TypeError, match="DataFrame"):
        export_frame([{"a": 1}], tmp_path / "v.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_mid_write_leaves_previous_file_and_no_temp(tmp_path, versions, monkeypatch, fmt):
    path = tmp_path / f"v.{fmt}"
    export_frame(versions.iloc[:1], path)
    before = path.read_bytes()

    def broken_writer(df, fh):
        fh.write(b"half a file")
        fh.flush()
        raise OSError("disk full")

    monkeypatch.setitem(export._WRITERS, fmt, broken_writer)
    with pytest.raises(OSError, match="disk full"):
        export_frame(versions, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_failure_at_rename_removes_temp(tmp_path, versions, monkeypatch):
    path = tmp_path / "v.csv"
    path.write_bytes(b"earlier")

    def failing_replace(src, dst):
        raise PermissionError("no")

    monkeypatch.setattr(export.os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        export_frame(versions, path)
    assert path.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["v.csv"]


def test_interrupt_also_cleans_up(tmp_path, versions, monkeypatch):
    def interrupted(df, fh):
        fh.write(b"x")
        raise KeyboardInterrupt

    monkeypatch.setitem(export._WRITERS, "json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_frame(versions, tmp_path / "v.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_raises_and_writes_nothing(tmp_path, versions):
    with pytest.raises(FileNotFoundError):
        export_frame(versions, tmp_path / "nope" / "v.csv")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_content_and_keeps_mode(tmp_path, versions):
    path = tmp_path / "v.csv"
    path.write_text("old")
    os.chmod(path, 0o640)
    export_frame(versions, path)
    assert path.read_text().startswith("datastoreId,")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_deidentified_file_follows_the_umask(tmp_path, versions):
    previous = os.umask(0o022)
    try:
        path = export_frame(versions, tmp_path / "v.csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_file_keeping_phi_is_owner_only_even_over_a_shared_file(tmp_path, image_sets):
    path = tmp_path / "sets.csv"
    path.write_text("old")
    os.chmod(path, 0o644)
    export_frame(image_sets, path, include_phi=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_export_accepts_str_path(tmp_path, versions):
    path = export_frame(versions, str(tmp_path / "v.json"))
    assert path.exists()


# ----------------------------------------------------------------- files on a real disk


def test_errors_name_the_destination_not_the_temp_file(tmp_path, versions, monkeypatch):
    path = tmp_path / "v.csv"

    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied", src)

    monkeypatch.setattr(export.os, "replace", failing_replace)
    with pytest.raises(PermissionError) as info:
        export_frame(versions, path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)


def test_destination_problems_are_named(tmp_path, versions):
    with pytest.raises(IsADirectoryError, match="is a folder") as info:
        export_frame(versions, tmp_path)
    assert info.value.filename == str(tmp_path)
    with pytest.raises(OSError, match="cannot create a file in /proc"):
        export_frame(versions, "/proc/hi-widgets-test.csv")


def test_tilde_is_expanded_on_write_and_read(tmp_path, versions, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert export_frame(versions, "~/v.parquet") == tmp_path / "v.parquet"
    assert len(read_frame("~/v.parquet")) == len(versions)


def dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_of_dead_exports_are_removed_by_the_next_export(tmp_path, versions):
    stale = tmp_path / f".v.csv.hi-widgets-{dead_pid()}-0a1b2c3d.tmp"
    stale.write_text("Doe^Jane half written")
    live = tmp_path / f".w.csv.hi-widgets-{os.getppid()}-0a1b2c3d.tmp"  # a live process
    live.write_text("in progress elsewhere")
    foreign = tmp_path / ".v.csv.tmp"  # not ours
    foreign.write_text("someone else's")
    export_frame(versions, tmp_path / "other.json")
    assert not stale.exists()
    assert live.exists() and foreign.exists()


WRITER_KILLED_MID_WRITE = """
import sys
import pandas as pd
from hi_widgets.export import files as export

def slow_writer(df, fh):
    fh.write(b"Doe^Jane, half of a file")
    fh.flush()
    print("writing", flush=True)
    sys.stdin.readline()  # blocks until the parent kills this process

export._WRITERS["csv"] = slow_writer
export.export_frame(pd.DataFrame({"a": [1]}), sys.argv[1])
"""


def test_kill_9_during_a_write_leaves_the_previous_file_and_the_next_export_cleans_up(
    tmp_path, versions
):
    import signal
    import subprocess
    import sys

    path = export_frame(versions.iloc[:1], tmp_path / "v.csv")
    before = path.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_KILLED_MID_WRITE, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "writing\n"  # a known point: mid-write
        (temp,) = [p for p in tmp_path.iterdir() if p.name != "v.csv"]
        assert temp.name.startswith(".v.csv.hi-widgets-") and temp.name.endswith(".tmp")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    assert path.read_bytes() == before
    assert temp.exists()  # what kill -9 leaves behind...
    export_frame(versions, tmp_path / "w.csv")
    assert not temp.exists()  # ...is gone after the next export to that folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.csv", "w.csv"]


# ---------------------------------------------------------------------- reading back


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("n.json", b"5", "expected a JSON array of objects"),
        ("l.json", b"[1, 2]", "expected a JSON array of objects"),
        ("d.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("t.json", b'[{"a": ', "cannot read"),
        ("b.csv", b"\xff\xfe\x00garbage", "cannot read"),
        ("x.parquet", b"PAR1 not really", "cannot read"),
        ("e.parquet", b"", "cannot read"),
    ],
)
def test_read_frame_on_a_corrupt_file_names_the_file_and_the_problem(
    tmp_path, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_frame(path)
    assert str(path) in str(info.value)


def test_read_frame_missing_file_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        read_frame(tmp_path / "missing.csv")
    assert str(tmp_path / "missing.csv") in str(info.value)
    with pytest.raises(IsADirectoryError):
        read_frame(tmp_path, format="csv")


def test_parquet_with_other_stored_categories_keeps_every_value(tmp_path, versions):
    import pyarrow.parquet as pq

    path = export_frame(versions, tmp_path / "v.parquet")
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    stored = json.loads(metadata[b"hi_widgets"])
    stored["categories"]["imageSetState"] = ["ACTIVE"]  # an older writer's list
    metadata[b"hi_widgets"] = json.dumps(stored).encode()
    pq.write_table(table.replace_schema_metadata(metadata), path)
    back = read_frame(path)
    assert back["imageSetState"].tolist() == versions["imageSetState"].tolist()
    assert not back["imageSetState"].isna().any()
    assert back["imageSetState"].cat.categories[0] == "ACTIVE"


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunked_writing_gives_the_same_file(tmp_path, versions, monkeypatch, fmt):
    whole = export_frame(versions, tmp_path / f"whole.{fmt}")
    monkeypatch.setattr(_export_formats, "_CHUNK_ROWS", 1)  # one row per chunk
    chunked = export_frame(versions, tmp_path / f"chunked.{fmt}")
    pd.testing.assert_frame_equal(read_frame(chunked), read_frame(whole))
    if fmt != "parquet":  # parquet row groups differ; the values are compared above
        assert chunked.read_bytes() == whole.read_bytes()
