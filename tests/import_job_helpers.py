"""Run DICOM import jobs in a sandbox on a ManualClock, reading and writing moto's S3.

Every wait moves the sandbox clock, or joins the job's thread with a timeout
(``wait_for_imports``): no sleeps.
"""

from __future__ import annotations

from pathlib import Path

import boto3

ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
DELAY = 2.0


def pydicom_file(name: str) -> bytes:
    """The bytes of one of pydicom's own test files."""
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file(name))).read_bytes()


def upload(bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    s3 = boto3.client("s3")
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def new_datastore(sb, client, name: str = "imports") -> str:
    datastore_id = client.create_datastore(datastoreName=name)["datastoreId"]
    sb.clock.advance(DELAY)
    return datastore_id


def run_job(sb, client, datastore_id: str, input_uri: str, output_uri: str, **extra) -> str:
    """Start a job and move the clock until it has ended; return its id."""
    job_id = client.start_dicom_import_job(
        datastoreId=datastore_id,
        dataAccessRoleArn=ROLE,
        inputS3Uri=input_uri,
        outputS3Uri=output_uri,
        **extra,
    )["jobId"]
    sb.clock.advance(DELAY)
    client.get_dicom_import_job(datastoreId=datastore_id, jobId=job_id)  # settles: starts it
    assert sb.store.wait_for_imports(timeout=120)
    sb.clock.advance(DELAY)
    status = client.get_dicom_import_job(datastoreId=datastore_id, jobId=job_id)
    assert status["jobProperties"]["jobStatus"] in ("COMPLETED", "FAILED")
    return job_id
