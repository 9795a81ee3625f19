"""The DICOM import pipeline and import jobs, on pydicom's own test files.

Metadata values are checked against what pydicom reads from the same files, frames are
decoded back from HTJ2K, and jobs read and write a real S3 endpoint (moto in server mode,
reached through AWS_ENDPOINT_URL_S3).
"""

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import boto3
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.datadict import keyword_dict  # noqa: E402

from hi_widgets.sandbox.backend.metadata import full_document  # noqa: E402
from hi_widgets.sandbox.dicom import frame_encoding as frames  # noqa: E402
from hi_widgets.sandbox.dicom import levels as dicom_levels  # noqa: E402
from hi_widgets.sandbox.dicom.import_jobs import ImportedImageSet, ImportJob  # noqa: E402
from hi_widgets.sandbox.dicom.pipeline import import_local, merge_documents, run_pipeline  # noqa: E402
from hi_widgets.sandbox.dicom.read import Failure, read_instance  # noqa: E402
from hi_widgets.sandbox.runtime.clock import ManualClock  # noqa: E402

CT = "CT_small.dcm"
MR = "MR_small.dcm"
MR_RLE = "MR_small_RLE.dcm"  # the same SOP instance as MR_small.dcm, RLE encoded
MULTIFRAME = "examples_ybr_color.dcm"  # 30 frames, JPEG baseline YBR
RTDOSE = "rtdose.dcm"  # 15 frames, 32-bit
GOOD_FILES = (CT, MR, MR_RLE, MULTIFRAME, RTDOSE)


def _bytes(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _dataset(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


def _truncated_in_header() -> bytes:
    return _bytes(CT)[:1000]  # the preamble and file meta survive, the UIDs do not


def _truncated_in_pixels() -> bytes:
    return _bytes(CT)[:-5000]


def _draft_of(result, sop_instance_uid):
    (draft,) = [d for d in result.image_sets if sop_instance_uid in d.instances]
    return draft


def test_every_level_keyword_is_a_dicom_keyword():
    tables = dicom_levels.PATIENT_KEYWORDS | dicom_levels.STUDY_KEYWORDS
    tables |= dicom_levels.SERIES_KEYWORDS | set(dicom_levels.LENGTH_LIMITS)
    assert sorted(k for k in tables if k not in keyword_dict) == []
    assert not dicom_levels.PATIENT_KEYWORDS & dicom_levels.STUDY_KEYWORDS
    assert not dicom_levels.STUDY_KEYWORDS & dicom_levels.SERIES_KEYWORDS


def test_metadata_values_are_the_files_attributes_at_their_levels():
    ds = _dataset(CT)
    result = run_pipeline([("in/ct.dcm", _bytes(CT))])
    assert result.failures == []
    (draft,) = result.image_sets
    document = full_document(draft.document(), "d" * 32, "i" * 32)
    assert document["SchemaVersion"] and document["DatastoreID"] == "d" * 32
    patient = document["Patient"]["DICOM"]
    study = document["Study"]["DICOM"]
    series = document["Study"]["Series"][ds.SeriesInstanceUID]
    instance = series["Instances"][ds.SOPInstanceUID]
    # Patient, Study and Series levels as "Metadata normalization" assigns them.
    assert patient["PatientName"] == str(ds.PatientName)
    assert patient["PatientID"] == ds.PatientID
    assert patient["PatientSex"] == ds.PatientSex
    assert study["StudyInstanceUID"] == ds.StudyInstanceUID
    assert study["StudyDate"] == ds.StudyDate and study["StudyTime"] == ds.StudyTime
    assert study["StudyID"] == ds.StudyID and study["PatientAge"] == ds.PatientAge
    assert study["PatientWeight"] == float(ds.PatientWeight)
    assert study["AccessionNumber"] is None  # empty in the file
    assert series["DICOM"]["Modality"] == ds.Modality == "CT"
    assert series["DICOM"]["SeriesNumber"] == int(ds.SeriesNumber)
    assert series["DICOM"]["SeriesInstanceUID"] == ds.SeriesInstanceUID
    # Everything else stays with the instance, in the DICOM JSON value model.
    attributes = instance["DICOM"]
    assert attributes["SOPClassUID"] == ds.SOPClassUID
    assert attributes["Rows"] == ds.Rows == 128 and attributes["Columns"] == ds.Columns
    assert attributes["InstanceNumber"] == int(ds.InstanceNumber)
    assert attributes["ImageType"] == list(ds.ImageType)
    assert attributes["ImagePositionPatient"] == [float(v) for v in ds.ImagePositionPatient]
    assert attributes["RescaleIntercept"] == float(ds.RescaleIntercept)
    assert attributes["PixelPaddingValue"] == ds.PixelPaddingValue
    assert "PixelData" not in attributes and "TransferSyntaxUID" not in attributes
    assert not {"PatientName", "StudyDate", "Modality"} & set(attributes)
    other_ids = attributes.get("OtherPatientIDsSequence") or patient["OtherPatientIDsSequence"]
    assert [item["PatientID"] for item in other_ids] == [
        item.PatientID for item in ds.OtherPatientIDsSequence
    ]
    assert instance["StoredTransferSyntaxUID"] == frames.HTJ2K_TRANSFER_SYNTAX_UID
    json.dumps(document)  # the whole document is JSON


def test_frames_decode_to_the_dicom_rows_and_columns_and_pixels():
    for name in (CT, MULTIFRAME, RTDOSE):
        ds = _dataset(name)
        result = run_pipeline([(name, _bytes(name))])
        (draft,) = result.image_sets
        image_frames = list(draft.frames())
        assert len(image_frames) == int(ds.get("NumberOfFrames") or 1)
        expected = ds.pixel_array if len(image_frames) > 1 else ds.pixel_array[None]
        for frame, pixels in zip(image_frames, expected, strict=True):
            decoded = frames.decode(frame.htj2k)
            assert decoded.shape[:2] == (ds.Rows, ds.Columns)
            assert np.array_equal(decoded, pixels.astype(pixels.dtype.newbyteorder("=")))
            entry = frame.metadata()
            assert entry["MinPixelValue"] == pixels.min()
            assert entry["MaxPixelValue"] == pixels.max()
            assert entry["FrameSizeInBytes"] == len(frame.htj2k)
            assert len(entry["ID"]) == 32 and int(entry["ID"], 16) >= 0
    # Frame ids are deterministic: the same data gives the same ids.
    again = run_pipeline([(MULTIFRAME, _bytes(MULTIFRAME))]).image_sets[0]
    first = run_pipeline([(MULTIFRAME, _bytes(MULTIFRAME))]).image_sets[0]
    assert [f.frame_id for f in again.frames()] == [f.frame_id for f in first.frames()]
    assert len({f.frame_id for f in first.frames()}) == 30


def test_instances_group_by_series_and_a_reimported_instance_replaces_the_earlier_one():
    mr = _dataset(MR)
    files = [(name, _bytes(name)) for name in GOOD_FILES]
    result = run_pipeline(files)
    assert result.failures == [] and result.scanned_files == 5 and result.imported_files == 5
    series = {draft.series_instance_uid for draft in result.image_sets}
    assert len(result.image_sets) == len(series) == 4  # MR and MR_RLE: one series
    draft = _draft_of(result, mr.SOPInstanceUID)
    assert draft.is_primary and list(draft.instances) == [mr.SOPInstanceUID]
    assert draft.input_files == [MR, MR_RLE]
    assert draft.instances[mr.SOPInstanceUID].input_file == MR_RLE  # the later file wins


def test_an_instance_that_conflicts_with_its_series_lands_in_a_non_primary_image_set(tmp_path):
    ds = _dataset(CT)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".2"
    ds.PatientID = "ANOTHER-PATIENT"  # a grouping element differs within one series
    conflicting = tmp_path / "b.dcm"
    ds.save_as(conflicting)
    (tmp_path / "a.dcm").write_bytes(_bytes(CT))
    result = import_local([tmp_path])
    primary, other = result.image_sets
    assert primary.is_primary and not other.is_primary
    assert primary.series_instance_uid == other.series_instance_uid
    assert other.document()["Patient"]["DICOM"]["PatientID"] == "ANOTHER-PATIENT"


def test_bad_files_become_failures_with_reasons_and_never_raise():
    cases = {
        "notes.txt": (b"this is not DICOM", "not DICOM P10"),
        "header-cut.dcm": (_truncated_in_header(), "The DICOM file cannot be parsed"),
        "pixels-cut.dcm": (_truncated_in_pixels(), "Pixel data verification failed"),
        "no-tsyntax.dcm": (_bytes("meta_missing_tsyntax.dcm"), "TransferSyntaxUID does not"),
        "empty.dcm": (b"", "not DICOM P10"),
    }
    result = run_pipeline([(name, data) for name, (data, _) in cases.items()])
    assert result.image_sets == [] and result.scanned_files == len(cases)
    reasons = {failure.input_file: failure.message for failure in result.failures}
    for name, (_, expected) in cases.items():
        assert expected in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name]
    record = result.failures[0].record()
    assert record == {
        "inputFile": "notes.txt",
        "exception": {"exceptionType": "ValidationException", "message": reasons["notes.txt"]},
    }


def test_an_element_longer_than_its_constraint_is_refused(tmp_path):
    ds = _dataset(CT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns too: LO holds 64 characters
        ds.StudyDescription = "X" * 65  # "DICOM element constraints": at most 64
    path = tmp_path / "long.dcm"
    ds.save_as(path)
    failure = read_instance("long.dcm", path.read_bytes())
    assert isinstance(failure, Failure)
    assert failure.message == "DICOM attribute StudyDescription is longer than 64 characters"


def test_merge_documents_adds_instances_and_replaces_a_reimported_one():
    first = run_pipeline([(MR, _bytes(MR))]).image_sets[0].document()
    second_draft = run_pipeline([(MR_RLE, _bytes(MR_RLE))]).image_sets[0]
    merged = merge_documents(first, second_draft.document())
    (series,) = merged["Study"]["Series"].values()
    assert list(series["Instances"]) == list(second_draft.instances)
    assert (
        series["Instances"]
        == second_draft.document()["Study"]["Series"][second_draft.series_instance_uid][
            "Instances"
        ]
    )


# ------------------------------------------------------------------- import jobs


def _upload(bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    uploads = {f"{prefix}{name}": _bytes(name) for name in GOOD_FILES}
    uploads[f"{prefix}readme.txt"] = b"not a DICOM file"
    uploads[f"{prefix}nested/cut.dcm"] = _truncated_in_pixels()
    for key, body in uploads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    s3.put_object(Bucket=bucket, Key="elsewhere/x.dcm", Body=_bytes(CT))  # not under input
    return uploads


def _commit(job, result):
    return [
        ImportedImageSet.of_draft(draft, image_set_id=f"{index:032x}", version=1, is_primary=True)
        for index, draft in enumerate(result.image_sets)
    ]


def _job(bucket: str, clock: ManualClock, prefix: str = "input/") -> ImportJob:
    return ImportJob(
        job_id="0123456789abcdef0123456789abcdef",
        job_name="pydicom-test-files",
        datastore_id="d" * 32,
        data_access_role_arn="arn:aws:iam::123456789012:role/ImportRole",
        input_s3_uri=f"s3://{bucket}/{prefix}",
        requested_output_s3_uri=f"s3://{bucket}/output",
        submitted_at=clock.now(),
        delay=2.0,
        clock=clock.now,
    )


def _read_json_lines(s3, bucket, key):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_import_job_moves_on_the_clock_and_writes_the_documented_output(s3_bucket):
    _upload(s3_bucket, "input/")
    clock = ManualClock(datetime(2025, 3, 1, tzinfo=timezone.utc))
    job = _job(s3_bucket, clock)
    started = []

    def start(j):
        started.append(j)
        j.run(_commit)  # the backend runs it on a thread; inline here

    job.advance(clock.now(), start)
    assert job.status == "SUBMITTED" and not started
    clock.advance(2)
    job.advance(clock.now(), start)
    assert job.status == "IN_PROGRESS" and started == [job] and job.done.is_set()
    clock.advance(1.5)
    job.advance(clock.now(), start)
    assert job.status == "IN_PROGRESS"  # done, but the job lasts at least `delay`
    clock.advance(0.5)
    job.advance(clock.now(), start)
    assert job.status == "COMPLETED" and job.message is None
    assert job.ended_at == datetime(2025, 3, 1, 0, 0, 4, tzinfo=timezone.utc)
    assert len(started) == 1


def test_a_job_whose_work_outlasts_its_delay_ends_when_the_work_ended(s3_bucket):
    _upload(s3_bucket, "input/")
    clock = ManualClock(datetime(2025, 3, 1, tzinfo=timezone.utc))
    job = _job(s3_bucket, clock)
    clock.advance(2)

    def slow_start(j):
        clock.advance(10)  # the work takes 10 s of the clock, more than `delay`
        j.run(_commit)

    job.advance(clock.now(), slow_start)
    job.advance(clock.now(), slow_start)
    assert job.status == "COMPLETED"
    assert job.ended_at == datetime(2025, 3, 1, 0, 0, 12, tzinfo=timezone.utc)

    folder = f"output/{'d' * 32}-DicomImport-{job.job_id}/"
    assert job.output_s3_uri == f"s3://{s3_bucket}/{folder}"
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=s3_bucket, Prefix="output/")
    keys = sorted(item["Key"] for item in listing["Contents"])
    assert keys == [
        folder + "FAILURE/failure.ndjson",
        folder + "SUCCESS/success.ndjson",
        folder + "WARNING/warning.ndjson",
        folder + "job-output-manifest.json",
    ]
    manifest = s3.get_object(Bucket=s3_bucket, Key=folder + "job-output-manifest.json")
    summary = json.loads(manifest["Body"].read())["jobSummary"]
    assert summary["numberOfScannedFiles"] == 7
    assert summary["numberOfImportedFiles"] == 5
    assert summary["numberOfFilesWithCustomerError"] == 2
    assert summary["numberOfGeneratedImageSets"] == 4 == len(summary["imageSetsSummary"])
    assert summary["successOutputS3Uri"] == job.output_s3_uri + "SUCCESS/"
    assert sum(s["numberOfMatchedSOPInstances"] for s in summary["imageSetsSummary"]) == 4
    successes = _read_json_lines(s3, s3_bucket, folder + "SUCCESS/success.ndjson")
    assert sorted(r["inputFile"] for r in successes) == sorted(f"input/{n}" for n in GOOD_FILES)
    assert all(r["importResponse"]["isPrimary"] is True for r in successes)
    failures = _read_json_lines(s3, s3_bucket, folder + "FAILURE/failure.ndjson")
    reasons = {r["inputFile"]: r["exception"]["message"] for r in failures}
    assert set(reasons) == {"input/readme.txt", "input/nested/cut.dcm"}
    assert "not DICOM P10" in reasons["input/readme.txt"]
    assert reasons["input/nested/cut.dcm"].startswith("Pixel data verification failed")
    properties = job.properties()
    assert properties["jobStatus"] == "COMPLETED"
    assert properties["outputS3Uri"] == job.output_s3_uri
    assert set(job.summary()) <= set(properties)


def test_import_job_fails_with_a_message_when_the_input_cannot_be_read(s3_endpoint):
    clock = ManualClock()
    job = _job("no-such-bucket-here", clock)
    job.run(_commit)
    clock.advance(4)
    job.advance(clock.now(), lambda j: None)
    job.advance(clock.now(), lambda j: None)
    assert job.status == "FAILED"
    assert "no-such-bucket-here" in job.message and "NoSuchBucket" in job.message
    assert job.imported == []


def test_a_commit_error_fails_the_job_without_raising(s3_bucket):
    _upload(s3_bucket, "input/")
    clock = ManualClock()
    job = _job(s3_bucket, clock)

    def broken_commit(job, result):
        raise RuntimeError("datastore went away")

    job.run(broken_commit)
    assert job.done.is_set() and "datastore went away" in job._error
