"""Import jobs are bounded and never reach AWS unless told to (issue 21, "The sandbox").

Real parts: boto3 over HTTP against the sandbox, moto's S3 server for the input and output
(``AWS_ENDPOINT_URL_S3``), a real deflate bomb built here (a DICOM P10 file of about 1 MB
whose dataset inflates to 1 GiB), and an HTTPS proxy socket of the test's own that shows
whether anything tried to reach AWS. Waits move the sandbox's ManualClock or join the
job's thread (``wait_for_imports``), never sleep.
"""

from __future__ import annotations

import io
import json
import resource
import socket
import struct
import subprocess
import sys
import warnings
import zlib
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid  # noqa: E402

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.sandbox.dicom.import_jobs import reaches_aws  # noqa: E402
from hi_widgets.sandbox.dicom.limits import ImportLimits  # noqa: E402
from hi_widgets.sandbox.dicom.read import Failure, read_instance  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
DELAY = 2.0
GIB = 1 << 30


def _ct(**changes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def _dataset_offset(data: bytes) -> int:
    """Where the file meta group (0002, explicit VR little endian) ends."""
    offset = data.index(b"DICM") + 4
    while struct.unpack_from("<H", data, offset)[0] == 0x0002:
        if data[offset + 4 : offset + 6] in (b"OB", b"UN", b"SQ", b"UT"):
            offset += 12 + struct.unpack_from("<I", data, offset + 8)[0]
        else:
            offset += 8 + struct.unpack_from("<H", data, offset + 6)[0]
    return offset


def deflate_bomb(inflated_bytes: int = GIB) -> bytes:
    """A valid deflated P10 file whose dataset ends in ``inflated_bytes`` of padding.

    The padding is DataSetTrailingPadding (FFFC,FFFC), OB, all zeros. Each MiB of zeros
    is compressed once with a full flush (no history), so the same ~1 kB block repeats.
    """
    dataset = Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientID = "DEFLATE-BOMB"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    small = buffer.getvalue()
    offset = _dataset_offset(small)
    elements = zlib.decompress(small[offset:], -zlib.MAX_WBITS)
    padding = struct.pack("<HH2sHI", 0xFFFC, 0xFFFC, b"OB", 0, inflated_bytes)
    head = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = head.compress(elements + padding) + head.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = zeros.compress(bytes(1 << 20)) + zeros.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # the final block
    return small[:offset] + start + block * (inflated_bytes >> 20) + end


def test_the_bomb_is_real():
    bomb = deflate_bomb(64 << 20)
    assert len(bomb) < 100_000
    inflated = zlib.decompress(bomb[_dataset_offset(bomb) :], -zlib.MAX_WBITS)
    assert len(inflated) > 64 << 20  # what pydicom inflates in one call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(io.BytesIO(bomb))
    assert dataset.PatientID == "DEFLATE-BOMB"
    assert len(dataset.DataSetTrailingPadding) == 64 << 20


@pytest.fixture
def sb(request):
    clock = sandbox.ManualClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))
    options = getattr(request, "param", {})
    with sandbox.start(
        clock=clock, quotas=False, image_sets=1, update_delay=DELAY, **options
    ) as box:
        yield box


def _import(sb, bucket, files: dict[str, bytes]):
    """Upload ``files`` under in/, run a job to COMPLETED; return (job, successes, failures)."""
    s3 = boto3.client("s3")
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"in/{name}", Body=body)
    client = sb.client(max_attempts=1)
    datastore = client.create_datastore(datastoreName="limits")["datastoreId"]
    sb.clock.advance(DELAY)
    job_id = client.start_dicom_import_job(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{bucket}/in/",
        outputS3Uri=f"s3://{bucket}/out/",
    )["jobId"]
    sb.clock.advance(DELAY)
    client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)  # IN_PROGRESS: starts
    assert sb.store.wait_for_imports(timeout=300)
    sb.clock.advance(DELAY)
    job = client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]
    key = job["outputS3Uri"].split("/", 3)[3]

    def lines(name):
        text = s3.get_object(Bucket=bucket, Key=key + name)["Body"].read().decode()
        return [json.loads(line) for line in text.splitlines()]

    return job, lines("SUCCESS/success.ndjson"), lines("FAILURE/failure.ndjson")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def test_a_deflate_bomb_is_a_failure_line_and_is_never_inflated_whole(sb, s3_bucket):
    bomb = deflate_bomb(GIB)
    assert len(bomb) < 2 << 20  # about 1 MB on disk
    peak_before = _peak_rss_bytes()
    job, successes, failures = _import(sb, s3_bucket, {"bomb.dcm": bomb, "ct.dcm": _ct()})
    grew = _peak_rss_bytes() - peak_before
    assert job["jobStatus"] == "COMPLETED"
    assert [line["inputFile"] for line in successes] == ["in/ct.dcm"]
    [failure] = failures
    assert failure["inputFile"] == "in/bomb.dcm"
    message = failure["exception"]["message"]
    assert f"inflates to more than {ImportLimits().max_inflated_bytes} bytes" in message
    # Inflated whole, the bomb alone would add 1 GiB (twice: pydicom's copy and the value).
    assert grew < 200 << 20, f"peak memory grew by {grew >> 20} MiB"


def test_pixel_data_claiming_more_than_the_limit_is_never_decoded(sb, s3_bucket):
    huge = _ct(NumberOfFrames=100_000, SOPInstanceUID=generate_uid())  # 128x128x2 each
    _, successes, failures = _import(sb, s3_bucket, {"huge.dcm": huge, "ct.dcm": _ct()})
    assert [line["inputFile"] for line in successes] == ["in/ct.dcm"]
    [failure] = failures
    assert failure["inputFile"] == "in/huge.dcm"
    assert "pixel data decodes to 3276800000 bytes" in failure["exception"]["message"]


def _frame_bytes() -> int:
    instance = read_instance("ct.dcm", _ct())
    assert not isinstance(instance, Failure), instance
    return sum(len(frame.htj2k) for frame in instance.frames)


@pytest.mark.parametrize(
    "sb",
    [{"import_limits": ImportLimits(max_job_held_bytes=_frame_bytes() * 3 // 2)}],
    indirect=True,
)
def test_a_job_over_its_budget_lists_the_remaining_files_as_failures(sb, s3_bucket):
    files = {f"ct{i}.dcm": _ct(SOPInstanceUID=generate_uid()) for i in range(3)}
    job, successes, failures = _import(sb, s3_bucket, files)
    assert job["jobStatus"] == "COMPLETED"
    assert [line["inputFile"] for line in successes] == ["in/ct0.dcm"]
    assert [line["inputFile"] for line in failures] == ["in/ct1.dcm", "in/ct2.dcm"]
    assert all("job reached its limit" in line["exception"]["message"] for line in failures)


@pytest.mark.parametrize(
    "sb", [{"import_limits": ImportLimits(max_object_bytes=1000)}], indirect=True
)
def test_an_object_over_the_size_limit_is_not_read(sb, s3_bucket):
    _, successes, failures = _import(sb, s3_bucket, {"ct.dcm": _ct()})
    assert successes == []
    [failure] = failures
    assert "more than 1000 (the sandbox's max_object_bytes)" in failure["exception"]["message"]


# ------------------------------------------------------------------ never AWS


@pytest.fixture
def aws_environment(monkeypatch, tmp_path):
    """Credentials in the environment and no S3 endpoint: boto3 would go to AWS.

    HTTPS goes through a proxy socket of the test's own, so a connection to AWS is seen
    (and goes no further): yields that listening socket.
    """
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-looking-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with socket.create_server(("127.0.0.1", 0)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        yield proxy


def _start_job(sb):
    client = sb.client(max_attempts=1)
    datastore = sb.store.datastore_ids()[0]
    return (
        client,
        datastore,
        dict(
            datastoreId=datastore,
            dataAccessRoleArn=ROLE,
            inputS3Uri="s3://someones-bucket/in/",
            outputS3Uri="s3://someones-bucket/out/",
        ),
    )


def test_an_import_that_would_reach_aws_is_refused(sb, aws_environment):
    client, datastore, request = _start_job(sb)
    demo_jobs = client.list_dicom_import_jobs(datastoreId=datastore)["jobSummaries"]
    with pytest.raises(client.exceptions.AccessDeniedException) as excinfo:
        client.start_dicom_import_job(**request)
    message = excinfo.value.response["Error"]["Message"]
    assert "does not reach AWS" in message and "amazonaws.com" in message
    assert "AWS_ENDPOINT_URL_S3" in message and "--allow-aws-s3" in message
    # The demo's jobs, and no new one.
    assert client.list_dicom_import_jobs(datastoreId=datastore)["jobSummaries"] == demo_jobs
    aws_environment.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing tried to connect to AWS
        aws_environment.accept()


@pytest.mark.parametrize("sb", [{"allow_aws_s3": True}], indirect=True)
def test_allow_aws_s3_lets_an_import_go_to_aws(sb, aws_environment):
    client, datastore, request = _start_job(sb)
    job_id = client.start_dicom_import_job(**request)["jobId"]
    sb.clock.advance(DELAY)
    client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)  # the work starts
    aws_environment.settimeout(60)
    connection, _ = aws_environment.accept()
    with connection:
        connect_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert connect_line.startswith(b"CONNECT ") and b".amazonaws.com:443" in connect_line
    aws_environment.close()  # any retry is refused at once
    assert sb.store.wait_for_imports(timeout=120)
    sb.clock.advance(DELAY)
    job = client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]
    assert job["jobStatus"] == "FAILED"


def test_the_command_refuses_to_import_from_aws_at_start_up(aws_environment):
    done = subprocess.run(
        [sys.executable, "-m", "hi_widgets.sandbox", "--port", "0", "--import", "s3://b/in/"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "does not reach AWS" in done.stderr and "--allow-aws-s3" in done.stderr


@pytest.mark.parametrize(
    ("url", "aws"),
    [
        ("https://s3.amazonaws.com", True),
        ("https://bucket.s3.us-west-2.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("https://s3.dualstack.us-east-1.api.aws", True),
        ("http://127.0.0.1:9000", False),
        ("http://minio.lan:9000", False),
        ("http://amazonaws.com.evil.example", False),
    ],
)
def test_aws_endpoints_are_recognised_by_host_name(url, aws):
    assert reaches_aws(url) is aws


def test_local_paths_stay_within_the_limits(tmp_path):
    (tmp_path / "bomb.dcm").write_bytes(deflate_bomb(512 << 20))
    (tmp_path / "ct.dcm").write_bytes(_ct())
    with sandbox.start(import_from=[str(tmp_path)], image_sets=1, quotas=False) as box:
        imported = box.store.datastore_ids()[-1]
        assert len(box.store.image_set_ids(imported)) == 1  # the CT only
    assert Path(tmp_path / "bomb.dcm").stat().st_size < 1 << 20
    small = ImportLimits(max_object_bytes=1000)  # smaller than either file: none is read
    with sandbox.Sandbox(import_from=[str(tmp_path)], image_sets=1, import_limits=small) as box:
        assert box.store.image_set_ids(box.store.datastore_ids()[-1]) == []
