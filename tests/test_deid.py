"""The de-identification table (DICOM PS3.15 Annex E, basic profile) and its rules."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydicom.datadict import keyword_for_tag

from hi_widgets.export import deid
from hi_widgets.export.deid import PROFILE, SOURCE, Deidentifier, action_for, deidentify

BASIC_ACTIONS = {"X", "Z", "D", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}


def test_the_table_cites_its_source_and_uses_the_standards_actions():
    assert "PS3.15" in SOURCE and "E.1-1" in SOURCE and "2024b" in SOURCE
    assert len(PROFILE) >= 600  # every row of the 2024b table
    assert {row.action for row in PROFILE.values()} <= BASIC_ACTIONS


def test_every_keyword_and_tag_matches_the_dicom_dictionary():
    # Cross-check against pydicom's data dictionary (PS3.6), a separate source.
    for keyword, row in PROFILE.items():
        group, element = row.tag.strip("()").split(",")
        assert keyword_for_tag(int(group + element, 16)) == keyword, row


@pytest.mark.parametrize(
    ("keyword", "action"),
    [
        ("PatientName", "Z"),
        ("PatientID", "Z/D"),
        ("PatientBirthDate", "Z"),
        ("PatientSex", "Z"),
        ("PatientAge", "X"),
        ("PatientWeight", "X"),
        ("PatientSize", "X"),
        ("AccessionNumber", "Z"),
        ("StudyDate", "Z"),
        ("StudyTime", "Z"),
        ("StudyID", "Z"),
        ("StudyDescription", "X"),
        ("SeriesDescription", "X"),
        ("ReferringPhysicianName", "Z"),
        ("InstitutionName", "X/Z/D"),
        ("OperatorsName", "X/Z/D"),
        ("StudyInstanceUID", "U"),
        ("SeriesInstanceUID", "U"),
        ("SOPInstanceUID", "U"),
        ("FrameOfReferenceUID", "U"),
        ("SeriesDate", "X/D"),
        ("AcquisitionDateTime", "X/Z/D"),
        ("ContentDate", "Z/D"),
    ],
)
def test_healthimaging_attributes_have_the_tables_action(keyword, action):
    assert PROFILE[keyword].action == action
    assert action_for(keyword) == action


def test_columns_tags_and_unknown_names():
    assert action_for("DICOMPatientId") == "Z/D"
    assert action_for("DICOMStudyId") == "Z"
    assert action_for("DICOMAccessionNumber") == "Z"
    assert action_for("00080050") == "Z"  # a tag in hex
    assert action_for("00091001") == "X"  # private (odd group)
    assert action_for("DICOMPatientFutureTag") == "X"  # a patient column we do not know
    for kept in ("DICOMSeriesModality", "DICOMSeriesNumber", "Modality", "SOPClassUID"):
        assert action_for(kept) == "K"
    for unknown in ("notes", "label", "00080000", "Study"):  # no attribute the tables know
        assert action_for(unknown) is None


@pytest.mark.parametrize(
    "spelling",
    [
        "PatientName",
        "patientName",
        "Patient Name",
        "patient name",
        "PATIENT_NAME",
        "patient-name",
        "dicomPatientName",
        "DICOMPatientName",
        "DICOM_PATIENT_NAME",
        "(0010,0010)",
        "(0010, 0010)",
        "0010,0010",
        "00100010",
        "0x00100010",
    ],
)
def test_a_dicom_attribute_is_recognised_in_any_spelling(spelling):
    assert action_for(spelling) == "Z"
    assert Deidentifier().removes(spelling)
    assert Deidentifier().removes(f"Study.Series.1.2.3.Instances.4.5.6.DICOM.{spelling}")


def test_the_kept_attributes_are_real_attributes_the_table_does_not_name():
    from pydicom.datadict import keyword_for_tag

    from hi_widgets.export._deid_table import KEPT

    rows = [line.split() for line in KEPT.strip().splitlines()]
    assert len(rows) == len(deid.KEPT_ATTRIBUTES) >= 100
    for tag, keyword in rows:
        assert keyword_for_tag(int(tag.strip("()").replace(",", ""), 16)) == keyword
        assert keyword not in PROFILE
    # A normalised spelling names one attribute only.
    normal = [k.lower() for k in [*PROFILE, *deid.KEPT_ATTRIBUTES]]
    assert len(normal) == len(set(normal))


def test_every_frame_the_package_builds_is_read_without_unknown_columns():
    from hi_widgets.api.records import RECORD_FIELDS
    from hi_widgets.api.tables import VERSION_COLUMNS, image_sets_dtypes
    from hi_widgets.bulk import ERROR_COLUMNS
    from hi_widgets.changes.diff import DIFF_COLUMNS
    from hi_widgets.changes.log import CHANGES_COLUMNS

    plain = Deidentifier()
    for name in (*RECORD_FIELDS, *VERSION_COLUMNS, *ERROR_COLUMNS):
        assert plain.read(name)[0] == "keep", name
    for name in image_sets_dtypes():
        assert plain.read(name)[0] != "unknown", name
    # The row columns are known in a diff or change log, and only there.
    for columns in (DIFF_COLUMNS, CHANGES_COLUMNS):
        df = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        assert list(deidentify(df).columns) == list(columns)
    assert plain.read("old")[0] == plain.read("series")[0] == "unknown"


def test_unknown_columns_are_left_out_and_named():
    df = pd.DataFrame(
        {
            "versionId": [1],
            "notes": ["DOE^JANE called"],
            "Study.Series.1.2.840.99.DICOM.Whatever": ["x"],
            "Modality": ["CT"],
        }
    )
    with pytest.warns(deid.DeidentificationWarning) as caught:
        out = deidentify(df, uid_key="k")
    assert list(out.columns) == ["versionId", "Modality"]
    (names,) = [w.message.names for w in caught]
    assert names[0] == "notes"
    assert names[1].startswith("Study.Series.2.25.")  # named with its UID replaced
    assert "1.2.840.99" not in str(caught[0].message)


def test_nested_cells_are_deidentified_key_by_key():
    tags = {
        "DICOMPatientName": "DOE^JANE",
        "DICOMStudyInstanceUID": "1.2.840.5",
        "DICOMSeriesModality": "CT",
        "DICOMFutureThing": "?",
    }
    document = {
        "Patient": {"DICOM": {"PatientName": "DOE^JANE"}},
        "Study": {
            "DICOM": {"AccessionNumber": "A1"},
            "Series": {"1.2.840.6": {"DICOM": {"SeriesInstanceUID": "1.2.840.6", "Rows": 2}}},
        },
    }
    df = pd.DataFrame(
        {
            "DICOMTags": [tags],
            "document": [document],  # unknown name: left out whatever it holds
            "Study": [document["Study"]],
            "DICOM": [json.dumps({"PatientID": "P1", "Modality": "MR"})],  # JSON text
        }
    )
    with pytest.warns(deid.DeidentificationWarning, match="DICOMTags.DICOMFutureThing"):
        out = deidentify(df, uid_key="k")
    d = Deidentifier(uid_key="k")
    assert out["DICOMTags"][0] == {
        "DICOMStudyInstanceUID": d.uid("1.2.840.5"),
        "DICOMSeriesModality": "CT",
    }
    assert out["Study"][0] == {
        "Series": {
            d.uid("1.2.840.6"): {"DICOM": {"SeriesInstanceUID": d.uid("1.2.840.6"), "Rows": 2}}
        }
    }
    assert json.loads(out["DICOM"][0]) == {"Modality": "MR"}
    assert "document" not in out.columns


def test_uid_columns_of_any_dtype_lose_their_uids():
    df = pd.DataFrame(
        {
            "studyInstanceUID": pd.Categorical(["1.2.3", "1.2.3", "1.2.4"]),
            "Series Instance UID": [[" 1.2.5", "1.2.6"], None, []],
            "SOPInstanceUID": pd.array([11, 12, None], dtype="Int64"),
        }
    )
    out = deidentify(df)
    values = {str(v) for column in out for cell in out[column] for v in np.ravel([cell])}
    assert not values & {"1.2.3", "1.2.4", " 1.2.5", "1.2.6", "11", "12"}
    assert all(v.startswith("2.25.") for v in values - {"None", "<NA>", "nan"})
    assert out["studyInstanceUID"].nunique() == 2  # still joins


def test_uid_replacement_is_a_valid_uid_keyed_and_consistent():
    a, b = Deidentifier(uid_key="key"), Deidentifier(uid_key="key")
    uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    assert a.uid(uid) == b.uid(uid) != Deidentifier(uid_key="other").uid(uid)
    replaced = a.uid(uid)
    assert replaced.startswith("2.25.") and len(replaced) <= 64
    assert int(replaced[5:]) < 2**128 and not replaced[5:].startswith("0")
    assert "key" not in repr(a)
    with pytest.raises(ValueError, match="uid_key"):
        Deidentifier(uid_key=b"")


def test_deidentify_frame_by_keyword_columns_keeps_input():
    frame = pd.DataFrame(
        {
            "PatientName": ["A^B", "C^D"],
            "SeriesInstanceUID": pd.array(["1.2.3", "1.2.3"], dtype="string"),
            "InstitutionName": ["H1", "H2"],
            "SeriesDate": ["20240101", None],
            "Rows": [512, 512],
        }
    )
    out = deidentify(frame, uid_key="k")
    assert list(out.columns) == ["SeriesInstanceUID", "Rows"]
    assert out["SeriesInstanceUID"].dtype == pd.StringDtype()
    assert out["SeriesInstanceUID"].nunique() == 1  # still joins
    assert out["SeriesInstanceUID"][0] != "1.2.3"
    assert list(deidentify(frame, keep_dates=True).columns) == [
        "SeriesInstanceUID",
        "SeriesDate",
        "Rows",
    ]
    assert frame["SeriesInstanceUID"][0] == "1.2.3"
    with pytest.raises(TypeError, match="DataFrame"):
        deidentify([1])


def test_phi_and_uid_columns_are_derived_from_the_table():
    assert all(action_for(c) not in ("U", "K") for c in deid.PHI_COLUMNS)
    assert deid.UID_COLUMNS == ("DICOMStudyInstanceUID", "DICOMSeriesInstanceUID")


def test_a_diff_with_extra_columns_is_still_deidentified():
    from hi_widgets.changes.diff import diff_metadata

    old = {"Study": {"DICOM": {"AccessionNumber": "A1", "Modality": "CT"}}}
    new = {"Study": {"DICOM": {"AccessionNumber": "A2", "Modality": "MR"}}}
    diff = diff_metadata(old, new)
    diff["attribute"] = diff["path"].str.rsplit(".", n=1).str[-1]  # a front end's column
    out = deidentify(diff)
    assert out["attribute"].tolist() == ["Modality"]
    assert "A1" not in out.to_csv() and "A2" not in out.to_csv()


def test_a_change_log_is_deidentified_row_by_row_and_keeps_every_version():
    from hi_widgets.changes.log import changes_from_documents

    series, sop = "1.2.826.0.1.3680043.8.498.111111", "1.2.826.0.1.3680043.8.498.222222"
    first = {
        "Patient": {"DICOM": {"PatientName": "DOE^JANE"}},
        "Study": {"DICOM": {"StudyDescription": "HEAD"}, "Series": {}},
    }
    second = {
        "Patient": {"DICOM": {"PatientName": "DOE^JOHN"}},
        "Study": {
            "DICOM": {"StudyDescription": "HEAD"},
            "Series": {series: {"DICOM": {"Modality": "CT"}, "Instances": {sop: {"DICOM": {}}}}},
        },
    }
    third = {**second, "Study": {**second["Study"], "DICOM": {"StudyDescription": "NECK"}}}
    log = changes_from_documents({1: first, 2: second, 3: third})
    out = deidentify(log, uid_key="test")  # a fixed key: the same replacements every run
    text = out.to_csv()
    assert not [s for s in ("DOE^", "HEAD", "NECK", series, sop, series[-6:]) if s in text]
    assert list(out.columns) == list(log.columns)
    assert sorted(set(out["versionId"])) == [1, 2, 3]  # version 3 changed only PHI
    (whole,) = out[out["attribute"] == "SeriesInstanceUID"].itertuples()
    assert whole.path == f"Study.Series.{whole.new}" == f"Study.Series.{whole.seriesInstanceUID}"
    assert whole.series.endswith(f"(…{whole.new.replace('.', '')[-6:]})")
    assert pd.isna(out.loc[out["versionId"] == 3, "attribute"]).all()


def test_a_uid_quoted_in_a_message_is_replaced_as_its_attribute_would_be():
    uid = "1.2.840.113619.2.55.3.604688119"
    df = pd.DataFrame(
        {
            "StudyInstanceUID": [uid, None],
            "message": [f"INVALID_REQUEST: study {uid}. Retry.", "cannot reach 127.0.0.1:8080"],
        }
    )
    out = deidentify(df, uid_key="k")
    replaced = out["StudyInstanceUID"][0]
    assert out["message"][0] == f"INVALID_REQUEST: study {replaced}. Retry."
    assert out["message"][1] == "cannot reach 127.0.0.1:8080"  # an address is no UID
