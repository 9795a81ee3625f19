from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pandas as pd
import pytest
from records_factory import BASE, DS, record_builder

from hi_widgets import export
from hi_widgets.export import FORMATS, export_frame, read_frame, to_bytes
from hi_widgets.frames import PHI_COLUMNS, image_sets_frame, versions_frame

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
    assert first["createdAt"] == "2024-05-02T13:00:00.000000Z"
    assert first["updatedAt"] == "2024-05-02T13:05:00.000250Z"
    assert first["duration"] == pytest.approx(300.00025)
    assert first["deletedAt"] is None
    assert first["versionId"] == 1
    assert first["isPrimary"] is True
    assert first["forced"] is None
    assert rows[1]["message"] == 'Line one, "quoted"\nline two, ünïcode'


def test_csv_text_uses_iso_utc(versions):
    text = to_bytes(versions, "csv").decode("utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",") == list(versions.columns)
    assert "2024-05-02T13:00:00.000000Z" in first
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
