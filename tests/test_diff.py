"""Metadata flattening and diffing (pure), and diff_versions against the sandbox."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from hi_widgets import sandbox
from hi_widgets.api.errors import InvalidIdentifierError, ResourceNotFoundError
from hi_widgets.changes.diff import (
    CHANGE_KINDS,
    DIFF_COLUMNS,
    diff_metadata,
    diff_versions,
    drop_phi_paths,
    empty_diff_frame,
    flatten_metadata,
)

SERIES = "1.2.840.113619.2.55.3.1"
INSTANCE = "1.2.840.113619.2.55.3.1.7"
DOC = {
    "SchemaVersion": "1.1",
    "Patient": {"DICOM": {"PatientName": "DEMO^PATIENT^001", "PatientID": "DEMO-0001"}},
    "Study": {
        "DICOM": {"StudyDescription": "CT HEAD", "StudyDate": "20240108"},
        "Series": {
            SERIES: {
                "DICOM": {"Modality": "CT", "SeriesNumber": 1},
                "Instances": {
                    INSTANCE: {
                        "DICOM": {
                            "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
                            "ImageType": ["ORIGINAL", "PRIMARY"],
                        },
                        "ImageFrames": [{"ID": "frame-1", "FrameSizeInBytes": 1024}],
                    }
                },
            }
        },
    },
}


def test_flatten_paths():
    flat = flatten_metadata(DOC)
    assert flat["Study.DICOM.StudyDescription"] == "CT HEAD"
    assert flat["Patient.DICOM.PatientID"] == "DEMO-0001"
    path = f"Study.Series.{SERIES}.Instances.{INSTANCE}.DICOM.SOPClassUID"
    assert flat[path] == "1.2.840.10008.5.1.4.1.1.2"
    # A multi-valued attribute is one value; a list of objects is indexed.
    assert flat[f"Study.Series.{SERIES}.Instances.{INSTANCE}.DICOM.ImageType"] == [
        "ORIGINAL",
        "PRIMARY",
    ]
    assert flat[f"Study.Series.{SERIES}.Instances.{INSTANCE}.ImageFrames[0].ID"] == "frame-1"
    assert flat[f"Study.Series.{SERIES}.DICOM.SeriesNumber"] == 1
    assert flat["SchemaVersion"] == "1.1"


def test_flatten_is_idempotent_and_keeps_empty_containers():
    flat = flatten_metadata(DOC)
    assert flatten_metadata(flat) == flat
    assert flatten_metadata({"Study": {"Series": {}}, "Tags": []}) == {
        "Study.Series": {},
        "Tags": [],
    }
    with pytest.raises(TypeError):
        flatten_metadata(["not", "a", "document"])


def test_diff_added_removed_changed_sorted_and_typed():
    new = copy.deepcopy(DOC)
    new["Study"]["DICOM"]["StudyDescription"] = "CT HEAD REV 2"
    del new["Patient"]["DICOM"]["PatientName"]
    new["Study"]["DICOM"]["AccessionNumber"] = "A-1"
    instance = new["Study"]["Series"][SERIES]["Instances"][INSTANCE]
    instance["DICOM"]["ImageType"] = ["DERIVED", "PRIMARY"]
    new["Study"]["Series"][SERIES]["DICOM"]["SeriesNumber"] = "1"  # type change
    diff = diff_metadata(DOC, new)
    assert list(diff.columns) == list(DIFF_COLUMNS)
    assert list(diff["path"]) == sorted(diff["path"])
    by_path = {row.path: row for row in diff.itertuples(index=False)}
    assert by_path["Study.DICOM.StudyDescription"].change == "changed"
    assert by_path["Study.DICOM.StudyDescription"].old == "CT HEAD"
    assert by_path["Study.DICOM.StudyDescription"].new == "CT HEAD REV 2"
    removed = by_path["Patient.DICOM.PatientName"]
    assert removed.change == "removed" and removed.old == "DEMO^PATIENT^001"
    assert pd.isna(removed.new)
    added = by_path["Study.DICOM.AccessionNumber"]
    assert added.change == "added" and pd.isna(added.old) and added.new == "A-1"
    image_type = by_path[f"Study.Series.{SERIES}.Instances.{INSTANCE}.DICOM.ImageType"]
    assert json.loads(image_type.old) == ["ORIGINAL", "PRIMARY"]
    assert json.loads(image_type.new) == ["DERIVED", "PRIMARY"]
    number = by_path[f"Study.Series.{SERIES}.DICOM.SeriesNumber"]
    assert (number.change, number.old, number.new) == ("changed", "1", "1")
    assert len(diff) == 5
    assert diff["path"].dtype == pd.StringDtype()
    assert list(diff["change"].cat.categories) == list(CHANGE_KINDS)
    assert diff["old"].dtype == pd.StringDtype() and diff["new"].dtype == pd.StringDtype()


def test_equal_documents_give_an_empty_frame_with_the_schema():
    diff = diff_metadata(DOC, copy.deepcopy(DOC))
    assert diff.empty
    expected = empty_diff_frame()
    assert list(diff.columns) == list(expected.columns) == list(DIFF_COLUMNS)
    assert (diff.dtypes == expected.dtypes).all()
    assert list(diff["change"].cat.categories) == list(CHANGE_KINDS)


def test_bool_and_int_are_different_values():
    diff = diff_metadata({"A": {"B": 1}}, {"A": {"B": True}})
    assert list(diff["change"]) == ["changed"]
    assert (diff["old"][0], diff["new"][0]) == ("1", "true")


# --------------------------------------------------------------------------- sandbox


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(seed=0, quotas=False, update_delay=0.0) as box:
        yield box


def test_diff_versions_after_an_update(sb):
    client = sb.client(max_attempts=1)
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[4]
    latest = sb.store.versions(ds, image_set)[-1]["versionId"]
    updates = {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "EDITED BY TEST"}}}
    response = client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(updates).encode()}
        },
    )
    new = response["latestVersionId"]
    assert int(new) == int(latest) + 1
    sb.clear_requests()
    diff = diff_versions(client, ds, image_set, latest, new)
    row = diff[diff["path"] == "Study.DICOM.StudyDescription"]
    assert len(row) == 1
    assert row["change"].iloc[0] == "changed"
    assert row["new"].iloc[0] == "EDITED BY TEST"
    assert row["old"].iloc[0] != "EDITED BY TEST"
    assert [r.operation for r in sb.requests] == ["GetImageSetMetadata"] * 2
    assert [str(r.params.get("versionId")) for r in sb.requests] == [str(latest), str(new)]
    # The same version against itself: nothing changed.
    assert diff_versions(client, ds, image_set, new, new).empty


def test_diff_versions_checks_ids_before_any_request(sb):
    client = sb.client(max_attempts=1)
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[1]
    sb.clear_requests()
    for args in (("BAD", image_set, 1, 2), (ds, "x" * 31, 1, 2), (ds, image_set, 0, 2)):
        with pytest.raises(InvalidIdentifierError):
            diff_versions(client, *args)
    with pytest.raises(InvalidIdentifierError):
        diff_versions(client, ds, image_set, 1, "1.5")
    assert sb.requests == []
    with pytest.raises(ResourceNotFoundError):
        diff_versions(client, ds, image_set, 1, 999)


def test_drop_phi_paths_follows_the_basic_profile():
    new = copy.deepcopy(DOC)
    new["Patient"]["DICOM"]["PatientName"] = "DEMO^OTHER"
    new["Study"]["DICOM"]["StudyDescription"] = "CT HEAD REV 2"  # X: removed
    new["Study"]["DICOM"]["AccessionNumber"] = "ACC-9"  # Z: removed
    new["Study"]["DICOM"]["InstitutionName"] = "General Hospital"  # X/Z/D: removed
    new["Study"]["DICOM"]["StudyDate"] = "20240109"  # a date: removed unless kept
    new["Study"]["Series"][SERIES]["DICOM"]["Modality"] = "MR"  # not in the table: kept
    diff = diff_metadata(DOC, new)
    shared = drop_phi_paths(diff)
    assert list(shared["path"].str.rsplit(".", n=1).str[-1]) == ["Modality"]
    assert (shared.dtypes == diff.dtypes).all()
    assert list(shared.index) == [0]
    text = shared.to_csv()
    for secret in ("DEMO", "CT HEAD", "ACC-9", "General", "2024", SERIES):
        assert secret not in text
    dated = drop_phi_paths(diff, keep_dates=True)
    assert "Study.DICOM.StudyDate" in set(dated["path"])
    assert drop_phi_paths(empty_diff_frame()).empty


def test_drop_phi_paths_replaces_uids_consistently_so_rows_still_line_up():
    new = copy.deepcopy(DOC)
    instance = new["Study"]["Series"][SERIES]["Instances"][INSTANCE]
    instance["DICOM"]["InstanceNumber"] = 7
    instance["DICOM"]["SOPInstanceUID"] = INSTANCE  # U: value replaced
    new["Study"]["Series"][SERIES]["DICOM"]["SeriesNumber"] = 2
    diff = diff_metadata(DOC, new)
    first = drop_phi_paths(diff, uid_key="shared key")
    again = drop_phi_paths(diff, uid_key="shared key")
    other = drop_phi_paths(diff, uid_key="another key")
    assert first.equals(again)
    assert not first["path"].equals(other["path"])
    paths = list(first["path"])
    assert len(paths) == 3
    assert all(SERIES not in p and "113619" not in p for p in paths)
    series = {p.split(".DICOM.")[0].split(".Instances.")[0] for p in paths}
    assert len(series) == 1  # the same series key on every row
    (uid_row,) = first[first["path"].str.endswith("SOPInstanceUID")].itertuples()
    assert uid_row.new.startswith("2.25.") and uid_row.new.split(".")[2].isdigit()
    assert len(uid_row.new) <= 64  # a valid UID
    assert uid_row.new in uid_row.path  # the value and the instance key stay joined


def test_drop_phi_paths_removes_private_tags_and_whole_removed_sequences():
    old = {"Study": {"DICOM": {"00091001": "secret", "OperatorsName": "X^Y", "Rows": 1}}}
    new = {"Study": {"DICOM": {"00091001": "other", "OperatorsName": "Z^W", "Rows": 2}}}
    new["Study"]["DICOM"]["ReferencedImageSequence"] = [{"ReferencedSOPInstanceUID": "1.2"}]
    shared = drop_phi_paths(diff_metadata(old, new))
    assert list(shared["path"]) == ["Study.DICOM.Rows"]


def test_drop_phi_paths_also_drops_the_patient_root_and_lists_under_it():
    old = {"Patient": ["DOE^JOHN"], "PatientsLikeMe": {"x": 1}, "Study": {"Rows": 1}}
    new = {"Patient": [{"PatientName": "DOE^JANE"}], "Study": {"Rows": 2}}
    diff = diff_metadata(old, new)
    assert {"Patient", "Patient[0].PatientName"} <= set(diff["path"])
    shared = drop_phi_paths(diff)
    # A name that reads as a patient attribute the tables do not know goes too.
    assert list(shared["path"]) == ["Study.Rows"]
    assert "DOE" not in shared.to_csv()


def test_a_diff_exported_without_phi_follows_the_profile_too(sb, tmp_path):
    from hi_widgets.export.files import export_frame, read_frame

    client = sb.client(max_attempts=1)
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[5]
    latest = sb.store.versions(ds, image_set)[-1]["versionId"]
    updates = {
        "SchemaVersion": 1.1,
        "Study": {"DICOM": {"StudyDescription": "EDITED", "AccessionNumber": "ACC-EDIT"}},
    }
    new = client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(updates).encode()}
        },
    )["latestVersionId"]
    diff = diff_versions(client, ds, image_set, latest, new)
    assert {"Study.DICOM.StudyDescription", "Study.DICOM.AccessionNumber"} <= set(diff["path"])
    path = export_frame(diff, tmp_path / "diff.csv")
    assert b"EDITED" not in path.read_bytes() and b"ACC-EDIT" not in path.read_bytes()
    assert read_frame(path).empty or "Study.DICOM" not in set(read_frame(path)["path"])
    kept = export_frame(diff, tmp_path / "diff-phi.csv", include_phi=True)
    assert b"ACC-EDIT" in kept.read_bytes()
