from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from records_factory import BASE, DS, record_builder

from hi_widgets.api import tables as frames
from hi_widgets.api.model import image_set_states, storage_tiers, workflow_statuses
from hi_widgets.api.records import RECORD_FIELDS
from hi_widgets.api.tables import (
    VERSION_COLUMNS,
    apply_schema,
    empty_versions_frame,
    image_sets_dtypes,
    image_sets_frame,
    versions_dtypes,
    versions_frame,
)
from hi_widgets.export.deid import PHI_COLUMNS

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")

UTC_US = pd.DatetimeTZDtype(unit="us", tz="UTC")


def image_set_id(n: int) -> str:
    return f"{n:032x}"


record = record_builder(
    image_set_id,
    imageSetArn=f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/{DS}",
)


def assert_versions_schema(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(VERSION_COLUMNS)
    string = pd.StringDtype()
    assert df["datastoreId"].dtype == string
    assert df["imageSetId"].dtype == string
    assert df["versionId"].dtype == pd.Int64Dtype()
    assert isinstance(df["imageSetState"].dtype, pd.CategoricalDtype)
    assert isinstance(df["imageSetWorkflowStatus"].dtype, pd.CategoricalDtype)
    for column in ("createdAt", "updatedAt", "deletedAt", "lastAccessedAt"):
        assert df[column].dtype == UTC_US, column
        assert str(getattr(df[column].dtype, "tz", None)) == "UTC"
    assert df["message"].dtype == string
    assert df["imageSetArn"].dtype == string
    assert df["forced"].dtype == pd.BooleanDtype()
    assert df["isPrimary"].dtype == pd.BooleanDtype()
    assert isinstance(df["storageTier"].dtype, pd.CategoricalDtype)
    assert df["changedAt"].dtype == UTC_US
    assert df["sincePrevious"].dtype == "timedelta64[us]"
    assert "duration" not in df.columns  # AWS gives no operation duration
    assert df["isLatest"].dtype == pd.BooleanDtype()
    assert isinstance(df.index, pd.RangeIndex)
    assert df.index.start == 0


def categories(df: pd.DataFrame, column: str) -> list[str]:
    return list(df[column].cat.categories)


def test_empty_input_gives_full_schema():
    df = versions_frame([])
    assert len(df) == 0
    assert_versions_schema(df)
    assert categories(df, "imageSetState") == list(image_set_states())
    assert categories(df, "imageSetWorkflowStatus") == list(workflow_statuses())
    assert categories(df, "storageTier") == list(storage_tiers())
    pd.testing.assert_frame_equal(empty_versions_frame(), df)


def test_empty_generator_too():
    assert_versions_schema(versions_frame(r for r in []))


def test_dtypes_match_declared_schema():
    df = versions_frame([record(1, 1), record(1, 2), record(2, 1)])
    assert_versions_schema(df)
    declared = versions_dtypes()
    assert list(declared) == list(VERSION_COLUMNS)
    for column, dtype in declared.items():
        assert df[column].dtype == dtype, column
    assert declared == frames.VERSIONS_DTYPES


def test_values_are_kept():
    deleted = BASE + timedelta(days=3)
    rec = record(
        7,
        3,
        imageSetState="DELETED",
        imageSetWorkflowStatus="DELETED",
        deletedAt=deleted,
        message="Deleted by user",
        forced=True,
        isPrimary=False,
        lastAccessedAt=deleted,
        storageTier="ARCHIVE_INSTANT_ACCESS",
    )
    df = versions_frame([rec])
    row = df.iloc[0]
    assert row["imageSetId"] == image_set_id(7)
    assert row["versionId"] == 3
    assert row["imageSetState"] == "DELETED"
    assert row["imageSetWorkflowStatus"] == "DELETED"
    assert row["createdAt"] == pd.Timestamp(rec["createdAt"])
    assert row["deletedAt"] == pd.Timestamp(deleted)
    assert row["message"] == "Deleted by user"
    assert bool(row["forced"]) is True
    assert bool(row["isPrimary"]) is False
    assert row["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
    assert row["changedAt"] == pd.Timestamp(rec["updatedAt"])
    assert pd.isna(row["sincePrevious"])  # no previous version in the frame
    assert bool(row["isLatest"]) is True


def test_one_row():
    df = versions_frame([record()])
    assert len(df) == 1
    assert_versions_schema(df)
    assert df["isLatest"].tolist() == [True]
    assert df["changedAt"].tolist() == [pd.Timestamp(record()["updatedAt"])]
    assert df["sincePrevious"].isna().all()


def test_unknown_enum_values_are_kept_as_categories():
    df = versions_frame(
        [
            record(1, 1, imageSetState="FROZEN", imageSetWorkflowStatus="ZAPPING"),
            record(1, 2, imageSetWorkflowStatus="ARCHIVING", storageTier="DEEP_ARCHIVE"),
        ]
    )
    assert df["imageSetState"].tolist() == ["FROZEN", "ACTIVE"]
    assert df["imageSetWorkflowStatus"].tolist() == ["ZAPPING", "ARCHIVING"]
    assert df["storageTier"].tolist() == ["FREQUENT_ACCESS", "DEEP_ARCHIVE"]
    assert df[["imageSetState", "imageSetWorkflowStatus", "storageTier"]].notna().all().all()
    # model enum first, in model order, then the unknown values sorted
    assert categories(df, "imageSetState") == [*image_set_states(), "FROZEN"]
    assert categories(df, "imageSetWorkflowStatus") == [
        *workflow_statuses(),
        "ARCHIVING",
        "ZAPPING",
    ]
    assert categories(df, "storageTier") == [*storage_tiers(), "DEEP_ARCHIVE"]


def test_missing_values_are_na_not_none_strings():
    rec = {"datastoreId": DS, "imageSetId": image_set_id(1), "versionId": 1}
    df = versions_frame([rec])
    assert_versions_schema(df)
    row = df.iloc[0]
    for column in set(RECORD_FIELDS) - {"datastoreId", "imageSetId", "versionId"}:
        assert pd.isna(row[column]), column
    assert pd.isna(row["changedAt"]) and pd.isna(row["sincePrevious"])
    assert bool(row["isLatest"]) is True


def test_sorted_by_image_set_then_numeric_version():
    recs = [record(2, 1), record(1, 10), record(1, 9), record(1, 2), record(2, 3)]
    df = versions_frame(recs)
    assert df["imageSetId"].tolist() == [image_set_id(1)] * 3 + [image_set_id(2)] * 2
    assert df["versionId"].tolist() == [2, 9, 10, 1, 3]
    assert df.index.tolist() == list(range(5))


def test_duplicates_keep_the_last_record():
    first = record(1, 2, imageSetWorkflowStatus="UPDATING", message="old")
    refetch = record(1, 2, imageSetWorkflowStatus="UPDATED", message="new")
    df = versions_frame([record(1, 1), first, refetch])
    assert df["versionId"].tolist() == [1, 2]
    assert df.loc[1, "message"] == "new"
    assert df.loc[1, "imageSetWorkflowStatus"] == "UPDATED"


def test_same_image_set_id_in_two_datastores_are_distinct_rows():
    other = "e" * 32
    df = versions_frame([record(1, 1), record(1, 1, datastoreId=other, message="other")])
    assert len(df) == 2
    assert df["isLatest"].tolist() == [True, True]


def test_is_latest_per_image_set():
    df = versions_frame([record(1, 1), record(1, 3), record(1, 2), record(2, 1)])
    latest = df.set_index(["imageSetId", "versionId"])["isLatest"]
    assert bool(latest[(image_set_id(1), 3)]) is True
    assert bool(latest[(image_set_id(1), 2)]) is False
    assert bool(latest[(image_set_id(1), 1)]) is False
    assert bool(latest[(image_set_id(2), 1)]) is True
    assert df["isLatest"].sum() == 2


def test_changed_at_is_updated_at_and_created_at_only_for_version_one():
    # AWS CLI reference, list-image-set-versions example: version 1 has no updatedAt.
    # https://docs.aws.amazon.com/cli/latest/reference/medical-imaging/list-image-set-versions.html
    df = versions_frame(
        [record(1, 1, updatedAt=None), record(1, 2), record(1, 3, updatedAt=None), record(1, 4)]
    )
    created = pd.Timestamp(record(1, 1)["createdAt"])
    assert df["changedAt"].tolist() == [
        created,
        pd.Timestamp(record(1, 2)["updatedAt"]),
        pd.NaT,  # a later version without updatedAt: createdAt is not its time
        pd.Timestamp(record(1, 4)["updatedAt"]),
    ]


def test_since_previous_is_the_time_between_versions_per_image_set():
    df = versions_frame([record(1, 1), record(1, 2), record(1, 5), record(2, 1), record(2, 2)])
    assert df["sincePrevious"].tolist() == [
        pd.NaT,
        pd.Timedelta(hours=1),
        pd.Timedelta(hours=3),  # the previous version in the frame
        pd.NaT,  # the first version of the next image set
        pd.Timedelta(hours=1),
    ]
    # A version without a time is skipped: the next one counts from the last known time.
    gap = versions_frame([record(1, 1), record(1, 2, updatedAt=None), record(1, 3)])
    assert gap["sincePrevious"].tolist()[2] == pd.Timedelta(hours=2)


def test_no_derived_time_grows_with_the_image_sets_age():
    history = [record(1, v) for v in (1, 2, 3)]
    older = [{**r, "createdAt": r["createdAt"] - timedelta(days=365)} for r in history]
    derived = ["changedAt", "sincePrevious"]
    pd.testing.assert_frame_equal(versions_frame(history)[derived], versions_frame(older)[derived])


def test_timestamps_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)
    df = versions_frame([record(createdAt=created, updatedAt=created)])
    assert df.loc[0, "createdAt"] == pd.Timestamp("2024-05-01T12:00:00Z")
    assert str(df["createdAt"].dt.tz) == "UTC"


def test_input_records_are_not_modified():
    recs = [record(1, 2), record(1, 1)]
    before = [dict(r) for r in recs]
    versions_frame(recs)
    assert recs == before


def test_dataframe_input_is_retyped_and_round_trips():
    df = versions_frame([record(1, 1), record(1, 2, imageSetState="FROZEN"), record(2, 1)])
    again = versions_frame(df.astype(object))
    pd.testing.assert_frame_equal(df, again)
    pd.testing.assert_frame_equal(df, versions_frame(df))


def test_apply_schema_converts_text_columns():
    text = pd.DataFrame(
        {
            "imageSetId": ["0123"],
            "versionId": ["2"],
            "createdAt": ["2024-05-01T12:00:00.000000Z"],
            "sincePrevious": ["1.5"],
            "isPrimary": ["False"],
            "imageSetWorkflowStatus": ["NEW_STATUS"],
            "other": ["x"],
        },
        dtype=object,
    )
    df = apply_schema(text)
    assert df["imageSetId"].dtype == pd.StringDtype()
    assert df.loc[0, "imageSetId"] == "0123"
    assert df["versionId"].dtype == pd.Int64Dtype()
    assert df.loc[0, "createdAt"] == pd.Timestamp("2024-05-01T12:00:00Z")
    assert df["createdAt"].dtype == UTC_US
    assert df.loc[0, "sincePrevious"] == pd.Timedelta(seconds=1.5)
    assert df["isPrimary"].dtype == pd.BooleanDtype()
    assert bool(df.loc[0, "isPrimary"]) is False
    assert "NEW_STATUS" in categories(df, "imageSetWorkflowStatus")
    assert df["other"].tolist() == ["x"]


def summary(n: int = 1, **tags):
    created = BASE + timedelta(days=n)
    dicom = {
        "DICOMPatientId": f"PID{n}",
        "DICOMPatientName": "Doe^Jane",
        "DICOMPatientBirthDate": "19700101",
        "DICOMPatientSex": "F",
        "DICOMStudyInstanceUID": "1.2.3",
        "DICOMNumberOfStudyRelatedSeries": 2,
        "DICOMAccessionNumber": "ACC1",
        "DICOMSeriesModality": "CT",
        "DICOMSeriesNumber": 5,
        "DICOMStudyDate": "20240501",
    }
    dicom.update(tags)
    return {
        "imageSetId": image_set_id(n),
        "version": 3,
        "createdAt": created,
        "updatedAt": created + timedelta(hours=1),
        "storageTier": "FREQUENT_ACCESS",
        "isPrimary": True,
        "DICOMTags": dicom,
    }


def test_image_sets_frame_flattens_dicom_tags():
    df = image_sets_frame([summary(1), summary(2, DICOMFutureTag="x")], datastore_id=DS)
    assert len(df) == 2
    assert df["datastoreId"].tolist() == [DS, DS]
    assert df["versionId"].tolist() == [3, 3]
    assert df["versionId"].dtype == pd.Int64Dtype()
    assert df["createdAt"].dtype == UTC_US
    assert df["DICOMPatientName"].tolist() == ["Doe^Jane", "Doe^Jane"]
    assert df["DICOMSeriesNumber"].dtype == pd.Int64Dtype()
    assert df["DICOMNumberOfStudyRelatedSeries"].tolist() == [2, 2]
    assert df["DICOMSeriesModality"].dtype == pd.StringDtype()
    assert df["DICOMFutureTag"].tolist()[1] == "x"
    assert pd.isna(df["DICOMFutureTag"].tolist()[0])
    assert pd.isna(df.loc[0, "DICOMStudyDescription"])
    assert set(PHI_COLUMNS) <= set(df.columns)
    assert isinstance(df["storageTier"].dtype, pd.CategoricalDtype)
    assert df["isPrimary"].dtype == pd.BooleanDtype()


def test_image_sets_frame_empty_has_schema():
    df = image_sets_frame([])
    assert len(df) == 0
    declared = image_sets_dtypes()
    assert list(df.columns) == list(declared)
    for column, dtype in declared.items():
        assert df[column].dtype == dtype, column
    assert set(PHI_COLUMNS) <= set(df.columns)


def test_phi_columns_follow_the_basic_profile():
    # PS3.15 Annex E: the patient tags, and the study's accession number, id, description,
    # date and time; the UIDs are replaced, not removed.
    assert set(PHI_COLUMNS) == {
        "DICOMPatientId",
        "DICOMPatientName",
        "DICOMPatientBirthDate",
        "DICOMPatientSex",
        "DICOMAccessionNumber",
        "DICOMStudyId",
        "DICOMStudyDescription",
        "DICOMStudyDate",
        "DICOMStudyTime",
    }


def test_many_records_build():
    recs = [record(i // 10, i % 10 + 1) for i in range(20_000)]
    df = versions_frame(recs)
    assert len(df) == 20_000
    assert df["isLatest"].sum() == 2_000
    assert df["versionId"].is_monotonic_increasing is False
    assert df.groupby("imageSetId")["versionId"].is_monotonic_increasing.all()


def test_version_id_as_text_is_converted():
    df = versions_frame([record(1, 10, versionId="10"), record(1, 9, versionId="9")])
    assert df["versionId"].dtype == pd.Int64Dtype()
    assert df["versionId"].tolist() == [9, 10]


def test_text_timestamps_after_missing_ones_are_parsed():
    df = apply_schema(
        pd.DataFrame({"createdAt": [None] * 1500 + ["2024-05-01T12:00:00.5Z"]}, dtype=object)
    )
    assert df["createdAt"].iloc[-1] == pd.Timestamp("2024-05-01T12:00:00.5Z")
    assert df["createdAt"].dtype == UTC_US
