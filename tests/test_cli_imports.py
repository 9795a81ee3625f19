"""``hi-widgets imports``: a datastore's import jobs, or one job's outcomes, to a file.

Real boto3 over HTTP: the sandbox for HealthImaging (its environment variables, as a user
pastes them) and moto's S3 for the job's input and output (AWS_ENDPOINT_URL_S3).
"""

from __future__ import annotations

import pytest

from hi_widgets.cli.main import main
from hi_widgets.export.files import read_frame

pytest.importorskip("pydicom")


@pytest.fixture
def sb(s3_endpoint, monkeypatch):
    from datetime import datetime, timezone

    from hi_widgets import sandbox

    clock = sandbox.ManualClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))
    with sandbox.start(clock=clock, quotas=False, image_sets=2, update_delay=2.0) as box:
        for key, value in box.env().items():
            monkeypatch.setenv(key, value)
        yield box


@pytest.fixture
def job(sb, s3_bucket):
    from import_job_helpers import new_datastore, pydicom_file, run_job, upload

    upload(
        s3_bucket,
        "in/DOE^JANE/",
        {
            "CT_small.dcm": pydicom_file("CT_small.dcm"),
            "ACC0001.txt": b"not DICOM",
            "ACC0002.txt": b"not DICOM either",
        },
    )
    client = sb.client(max_attempts=1)
    datastore = new_datastore(sb, client)
    job_id = run_job(
        sb, client, datastore, f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/out/", jobName="ACC0001"
    )
    return datastore, job_id


def test_the_jobs_of_a_datastore_de_identified(job, tmp_path, capsys, s3_bucket):
    datastore, job_id = job
    out = tmp_path / "jobs.csv"
    assert main(["imports", "--datastore", datastore, "-o", str(out)]) == 0
    jobs = read_frame(out)
    assert list(jobs["jobId"]) == [job_id] and list(jobs["jobStatus"]) == ["COMPLETED"]
    assert jobs["jobName"].str.startswith("hmac-").all()
    assert jobs["outputS3Uri"].str.startswith("hmac-").all()  # details were fetched
    text = out.read_bytes()
    assert b"ACC0001" not in text and s3_bucket.encode() not in text
    err = capsys.readouterr().err
    assert f"wrote {out}: 1 jobs" in err
    only = tmp_path / "failed.csv"
    argv = ["imports", "--datastore", datastore, "--status", "FAILED", "--no-details"]
    assert main([*argv, "-o", str(only), "--no-progress"]) == 0
    assert "nothing was fetched" in capsys.readouterr().err and not only.exists()


def test_a_jobs_files_and_its_failure_reasons(job, tmp_path, capsys):
    datastore, job_id = job
    out = tmp_path / "files.parquet"
    assert main(["imports", "--datastore", datastore, "--job", job_id, "-o", str(out)]) == 0
    files = read_frame(out)
    assert sorted(files["status"].astype(str)) == ["FAILURE", "FAILURE", "SUCCESS"]
    assert files["inputFile"].str.startswith("hmac-").all()
    assert b"DOE^JANE" not in out.read_bytes() and b"ACC0002" not in out.read_bytes()
    reasons = tmp_path / "reasons.json"
    argv = ["imports", "--datastore", datastore, "--job", job_id, "--reasons", "-o", str(reasons)]
    assert main(argv) == 0
    grouped = read_frame(reasons)
    assert list(grouped["count"]) == [2] and "not DICOM P10" in grouped["reason"].iloc[0]
    kept = tmp_path / "kept.csv"
    argv = ["imports", "--datastore", datastore, "--job", job_id, "--include-phi", "-o", str(kept)]
    assert main(argv) == 0
    assert "in/DOE^JANE/ACC0001.txt" in set(read_frame(kept)["inputFile"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--datastore", "nope"], "--datastore: Invalid datastoreId"),
        (["--datastore", "a" * 32, "--job", "Job!"], "--job: Invalid jobId"),
        (["--datastore", "a" * 32, "--reasons"], "--reasons needs --job"),
        (["--datastore", "a" * 32, "--job", "abc", "--status", "FAILED"], "not with --job"),
    ],
)
def test_bad_arguments_exit_2_before_any_request(sb, tmp_path, capsys, argv, message):
    before = len(sb.requests)
    assert main(["imports", *argv, "-o", str(tmp_path / "x.csv")]) == 2
    assert message in capsys.readouterr().err
    assert len(sb.requests) == before and not (tmp_path / "x.csv").exists()


def test_a_destination_that_is_no_file_exits_2(sb, tmp_path, capsys):
    for output in ("s3://bucket/prefix/", str(tmp_path) + "/", str(tmp_path / "x.unknown")):
        assert main(["imports", "--datastore", "a" * 32, "-o", output]) == 2
        assert "error: -o" in capsys.readouterr().err


def test_a_service_or_s3_failure_exits_1_and_writes_nothing(job, tmp_path, capsys, monkeypatch):
    datastore, job_id = job
    out = tmp_path / "files.csv"
    out.write_text("good data\n")
    argv = ["imports", "--datastore", datastore, "--job", "0" * 32, "-o", str(out)]
    assert main(argv) == 1
    assert "import job 00000000000000000000000000000000" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    assert main(["imports", "--datastore", datastore, "--job", job_id, "-o", str(out)]) == 1
    assert "Cannot" in capsys.readouterr().err
    assert out.read_text() == "good data\n"  # never replaced by less
