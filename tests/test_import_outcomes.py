"""What an import job did with each file, read from its output in S3 (moto, over HTTP).

The output's layout and field names are AWS's ("Understanding import jobs",
https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html):
under ``outputS3Uri``, the job folder ``<datastoreId>-DicomImport-<jobId>/`` holds
``job-output-manifest.json`` (``jobSummary``: ``numberOfScannedFiles``,
``numberOfImportedFiles``, ``numberOfFilesWithCustomerError``,
``numberOfFilesWithServerError``, ``numberOfGeneratedImageSets``, ``imageSetsSummary``),
``SUCCESS/success.ndjson`` (``inputFile``, ``importResponse``: ``imageSetId``,
``isPrimary``), ``FAILURE/failure.ndjson`` (``inputFile``, ``exception``:
``exceptionType``, ``message``) and ``WARNING/warning.ndjson`` (``importResponse`` with
``imageSetVersion`` and ``warnings``: ``warning_reason_code``, ``type``, ``message``).
"""

from __future__ import annotations

import json
import threading

import boto3
import pandas as pd
import pytest

import hi_widgets as hw
from hi_widgets.api import import_outcomes

DS = "1" * 32
JOB = "2" * 32
GUIDE = "https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html"

# The developer guide's own examples (GUIDE), verbatim: its success lines write Python's
# ``True`` (not JSON); the service writes JSON, and the reader takes both.
GUIDE_SUCCESS = (
    '{"inputFile":"dicomInputFolder/1.3.51.5145.5142.20010109.1105620.1.0.1.dcm",'
    '"importResponse":{"imageSetId":"12345612345612345678907890789012", "isPrimary": True}}\n'
    '{"inputFile":"dicomInputFolder/1.3.51.5145.5142.20010109.1105630.1.0.1.dcm",'
    '"importResponse":{"imageSetId":"12345612345612345678917891789012", "isPrimary": True}}\n'
)
GUIDE_FAILURE = (
    '{"inputFile":"dicom_input/invalidDicomFile1.dcm","exception":{"exceptionType":'
    '"ValidationException","message":"DICOM attribute TransferSyntaxUID does not exist"}}\n'
    '{"inputFile":"dicom_input/invalidDicomFile2.dcm","exception":{"exceptionType":'
    '"ValidationException","message":"DICOM attributes does not exist"}}\n'
)
GUIDE_WARNING = (
    '{"inputFile":"dicom_input/warningDicomFile1.dcm","importResponse":{"imageSetId":'
    '"12345612345612345678907890789012","imageSetVersion":1,"isPrimary":true,"warnings":'
    '[{"warning_reason_code":45330,"type":"InvalidOffsetTable","message":"The file was '
    "imported but contains an invalid offset table, may see issues when retrieving certain "
    'frames."}]}}\n'
)
GUIDE_MANIFEST = {
    "jobSummary": {
        "jobId": JOB,
        "datastoreId": DS,
        "numberOfScannedFiles": 5,
        "numberOfImportedFiles": 3,
        "numberOfFilesWithCustomerError": 2,
        "numberOfFilesWithServerError": 0,
        "numberOfGeneratedImageSets": 2,
        "imageSetsSummary": [
            {"imageSetId": "12345612345612345678907890789012", "numberOfMatchedSOPInstances": 2},
            {"imageSetId": "12345612345612345678917891789012", "numberOfMatchedSOPInstances": 1},
        ],
    }
}


def _put_output(bucket: str, objects: dict[str, bytes | str], prefix: str = "out/") -> str:
    s3 = boto3.client("s3")
    folder = f"{prefix}{DS}-DicomImport-{JOB}/"
    for name, body in objects.items():
        s3.put_object(Bucket=bucket, Key=folder + name, Body=body)
    return f"s3://{bucket}/{prefix}"


def _read(uri: str, **kwargs) -> hw.ImportOutcomes:
    return hw.fetch_import_outcomes(None, DS, JOB, output_s3_uri=uri, **kwargs)


def test_the_developer_guides_examples_read_as_documented(s3_bucket):
    uri = _put_output(
        s3_bucket,
        {
            "job-output-manifest.json": json.dumps(GUIDE_MANIFEST),
            "SUCCESS/success.ndjson": GUIDE_SUCCESS,
            "FAILURE/failure.ndjson": GUIDE_FAILURE,
            "WARNING/warning.ndjson": GUIDE_WARNING,
        },
    )
    outcomes = _read(uri)
    files = outcomes.files
    assert list(files.columns) == list(import_outcomes.FILE_COLUMNS)
    assert list(files["status"]) == ["FAILURE", "FAILURE", "WARNING", "SUCCESS", "SUCCESS"]
    assert list(files["inputFile"][:2]) == [
        "dicom_input/invalidDicomFile1.dcm",
        "dicom_input/invalidDicomFile2.dcm",
    ]
    failure = files.iloc[0]
    assert failure["exceptionType"] == "ValidationException"
    assert failure["message"] == "DICOM attribute TransferSyntaxUID does not exist"
    assert pd.isna(failure["imageSetId"]) and pd.isna(failure["isPrimary"])
    warned = files.iloc[2]
    assert warned["imageSetVersion"] == 1 and warned["isPrimary"]
    assert warned["exceptionType"] == "InvalidOffsetTable"
    assert warned["message"].startswith("The file was imported but contains an invalid offset")
    success = files.iloc[3]
    assert success["imageSetId"] == "12345612345612345678907890789012"
    assert success["isPrimary"] and pd.isna(success["imageSetVersion"])  # not in the example
    assert str(files["status"].dtype) == "category"
    assert str(files["imageSetVersion"].dtype) == "Int64"
    assert str(files["isPrimary"].dtype) == "boolean"
    assert outcomes.summary["numberOfFilesWithCustomerError"] == 2
    assert "imageSetsSummary" not in outcomes.summary and outcomes.unreadable == 0
    assert list(outcomes.image_sets["numberOfMatchedSOPInstances"]) == [2, 1]
    assert outcomes.image_sets["imageSetVersion"].isna().all()
    assert outcomes.complete and outcomes.job["outputS3Uri"] == uri


def test_a_file_in_both_the_success_and_the_warning_list_is_one_row(s3_bucket):
    same = GUIDE_WARNING.replace("dicom_input/warningDicomFile1.dcm", "a/x.dcm")
    plain = '{"inputFile":"a/x.dcm","importResponse":{"imageSetId":"' + "9" * 32 + '"}}\n'
    uri = _put_output(s3_bucket, {"SUCCESS/success.ndjson": plain, "WARNING/warning.ndjson": same})
    files = _read(uri).files
    assert list(files["status"]) == ["WARNING"] and list(files["inputFile"]) == ["a/x.dcm"]


def test_the_reasons_group_files_with_the_same_problem(s3_bucket):
    lines = [
        {
            "inputFile": f"in/PATIENT^{n}/IM{n:04d}.dcm",
            "exception": {
                "exceptionType": "ValidationException",
                "message": f"DICOM element PatientName of in/PATIENT^{n}/IM{n:04d}.dcm exceeds "
                f"the length limit (length {60 + n} > 64)",
            },
        }
        for n in range(5)
    ] + [
        {
            "inputFile": "in/readme.txt",
            "exception": {
                "exceptionType": "ValidationException",
                "message": "Not a DICOM P10 file",
            },
        }
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    files = _read(_put_output(s3_bucket, {"FAILURE/failure.ndjson": body})).files
    reasons = hw.failure_reasons(files, examples=2)
    assert list(reasons["count"]) == [5, 1]
    assert reasons.loc[0, "reason"] == (
        "ValidationException: DICOM element PatientName of <path> exceeds the length limit "
        "(length <n> > <n>)"
    )
    assert reasons.loc[0, "examples"] == ["in/PATIENT^0/IM0000.dcm", "in/PATIENT^1/IM0001.dcm"]
    assert list(reasons["status"]) == ["FAILURE", "FAILURE"]
    assert hw.failure_reasons(files[files["status"] == "SUCCESS"]).empty


def test_streaming_in_small_blocks_gives_the_same_frame_as_one_read(s3_bucket, monkeypatch):
    lines = [
        json.dumps(
            {
                "inputFile": f"in/{n}.dcm",
                "importResponse": {
                    "imageSetId": f"{n % 7:032d}",
                    "imageSetVersion": n % 3 + 1,
                    "isPrimary": n % 2 == 0,
                },
            }
        )
        if n % 4
        else json.dumps(
            {
                "inputFile": f"in/{n}.dcm",
                "exception": {"exceptionType": "ValidationException", "message": f"bad file {n}"},
            }
        )
        for n in range(400)
    ]
    half = len(lines) // 2
    uri = _put_output(
        s3_bucket,
        {  # an output split into two objects, the last line without its newline
            "SUCCESS/success.ndjson": "\n".join(lines[:half]) + "\n",
            "SUCCESS/success-2.ndjson": "\n".join(lines[half:]),
        },
    )
    whole = _read(uri).files
    monkeypatch.setattr(import_outcomes, "READ_CHUNK", 37)
    monkeypatch.setattr(import_outcomes, "BLOCK_BYTES", 300)
    seen = []
    streamed = _read(uri, progress=seen.append).files
    assert len(seen) > 20  # one report per block of whole lines
    pd.testing.assert_frame_equal(streamed, whole)
    assert len(whole) == 400 and (whole["status"] == "FAILURE").sum() == 100
    assert sorted(whole["inputFile"]) == sorted(f"in/{n}.dcm" for n in range(400))


def test_a_bad_line_is_counted_and_the_others_are_kept(s3_bucket):
    body = GUIDE_FAILURE + "this is not JSON\n" + '["a list"]\n' + GUIDE_FAILURE
    outcomes = _read(_put_output(s3_bucket, {"FAILURE/failure.ndjson": body}))
    assert len(outcomes.files) == 4 and outcomes.unreadable == 2


def test_cancel_stops_reading_and_keeps_whole_lines(s3_bucket, monkeypatch):
    lines = "".join(
        json.dumps({"inputFile": f"in/{n}.dcm", "importResponse": {"imageSetId": "7" * 32}}) + "\n"
        for n in range(300)
    )
    uri = _put_output(s3_bucket, {"SUCCESS/success.ndjson": lines})
    monkeypatch.setattr(import_outcomes, "READ_CHUNK", 100)
    monkeypatch.setattr(import_outcomes, "BLOCK_BYTES", 1000)
    cancel = threading.Event()

    def progress(step):
        if step.done >= 50:
            cancel.set()

    outcomes = _read(uri, progress=progress, cancel=cancel)
    assert not outcomes.complete and "incomplete" in repr(outcomes)
    assert 50 <= len(outcomes.files) < 300 and outcomes.unreadable == 0
    assert list(outcomes.files["inputFile"]) == [f"in/{n}.dcm" for n in range(len(outcomes.files))]


def test_an_output_without_a_manifest_reads_as_empty_counts(s3_bucket):
    outcomes = _read(_put_output(s3_bucket, {"FAILURE/failure.ndjson": GUIDE_FAILURE}))
    assert outcomes.summary == {} and outcomes.image_sets.empty
    assert list(outcomes.image_sets.columns) == list(import_outcomes.IMAGE_SET_COLUMNS)
    assert len(outcomes.files) == 2


def test_an_unreadable_output_names_its_uri(s3_endpoint):
    with pytest.raises(hw.ImportOutputError, match="s3://no-such-bucket-x/out/"):
        _read("s3://no-such-bucket-x/out/")


def test_the_job_folder_is_added_to_a_prefix_and_kept_on_a_job_folder():
    folder = f"s3://b/out/{DS}-DicomImport-{JOB}/"
    assert import_outcomes.job_output_folder("s3://b/out", DS, JOB) == folder
    assert import_outcomes.job_output_folder("s3://b/out/", DS, JOB) == folder
    assert import_outcomes.job_output_folder(folder, DS, JOB) == folder
    with pytest.raises(ValueError, match="s3://"):
        import_outcomes.job_output_folder("out/", DS, JOB)


# ------------------------------------------------------- a real job in the sandbox, over HTTP


@pytest.fixture
def sb():
    from hi_widgets import sandbox

    clock = sandbox.ManualClock(pd.Timestamp("2025-06-02T09:00Z").to_pydatetime())
    with sandbox.start(clock=clock, quotas=False, image_sets=2, update_delay=2.0) as box:
        yield box


def test_a_sandbox_job_of_pydicom_files_and_broken_ones(sb, s3_bucket, tmp_path):
    pytest.importorskip("pydicom")
    from import_job_helpers import new_datastore, pydicom_file, run_job, upload

    ct = pydicom_file("CT_small.dcm")
    upload(
        s3_bucket,
        "in/SMITH^JOHN/",
        {
            "CT_small.dcm": ct,
            "MR_small.dcm": pydicom_file("MR_small.dcm"),
            "ACC4711/notes.txt": b"not DICOM at all",
            "ACC4712/notes.txt": b"not DICOM either",
            "cut.dcm": ct[:-5000],
        },
    )
    client = sb.client(max_attempts=1)
    datastore = new_datastore(sb, client)
    job = run_job(sb, client, datastore, f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/")
    seen = []
    outcomes = hw.fetch_import_outcomes(client, datastore, job, progress=seen.append)
    files, summary = outcomes.files, outcomes.summary
    assert outcomes.job["jobStatus"] == "COMPLETED" and seen[-1].total == 5
    # The counts of the manifest are the rows of the lists.
    assert len(files) == summary["numberOfScannedFiles"] == 5
    assert (files["status"] == "SUCCESS").sum() == summary["numberOfImportedFiles"] == 2
    assert (files["status"] == "FAILURE").sum() == summary["numberOfFilesWithCustomerError"] == 3
    imported = files[files["status"] == "SUCCESS"]
    assert set(imported["imageSetId"]) == set(outcomes.image_sets["imageSetId"])
    for row in imported.itertuples():
        image_set = client.get_image_set(datastoreId=datastore, imageSetId=row.imageSetId)
        assert int(image_set["versionId"]) == row.imageSetVersion
        assert image_set["isPrimary"] == row.isPrimary
    reasons = hw.failure_reasons(files)
    not_dicom = reasons[reasons["reason"].str.contains("not DICOM")]
    assert list(not_dicom["count"]) == [2]  # the same reason across two files: one row
    assert reasons["count"].sum() == 3
    # A default export has no key, file or folder name in clear, and no S3 URI.
    csv = tmp_path / "files.csv"
    hw.export_frame(files, csv)
    reasons_csv = tmp_path / "reasons.parquet"
    hw.export_frame(reasons, reasons_csv)
    jobs_csv = tmp_path / "jobs.json"
    hw.export_frame(hw.fetch_import_jobs(client, datastore, details=True), jobs_csv)
    written = csv.read_bytes() + reasons_csv.read_bytes() + jobs_csv.read_bytes()
    for secret in (
        "SMITH",
        "JOHN",
        "ACC4711",
        "ACC4712",
        "notes.txt",
        "CT_small",
        "cut.dcm",
        "s3://",
        s3_bucket,
    ):
        assert secret.encode() not in written, secret
    back = hw.read_frame(csv)
    assert back["inputFile"].str.startswith("hmac-").all()
    assert list(back["status"]) == list(files["status"].astype(str))
    assert set(back["imageSetId"].dropna()) == set(imported["imageSetId"])  # ids are kept
    # The same key gives the same hashes: the reasons' examples join the files.
    keyed = hw.deidentify(files, uid_key="k")
    keyed_reasons = hw.deidentify(reasons, uid_key="k")
    examples = {e for row in keyed_reasons["examples"] for e in row}
    assert examples <= set(keyed["inputFile"])
    # Asked for, the names are kept.
    kept = tmp_path / "kept.csv"
    hw.export_frame(files, kept, include_phi=True)
    assert b"in/SMITH^JOHN/CT_small.dcm" in kept.read_bytes()
