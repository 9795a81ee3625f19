"""An AWS HealthImaging walkthrough written from the AWS documentation alone.

Nothing here knows about hi_widgets: it is plain boto3 as the developer guide's examples
use it ("Getting started", "Importing imaging data", "Searching image sets", "Getting
image set pixel data", "Modifying image sets"). Endpoints and credentials come from the
standard boto3 configuration (AWS_ENDPOINT_URL_MEDICAL_IMAGING, AWS_ENDPOINT_URL_S3,
AWS_DISABLE_HOST_PREFIX_INJECTION, ...), so the same script runs against AWS.

Usage: python healthimaging_docs_walkthrough.py BUCKET ROLE_ARN DICOM_FILE [DICOM_FILE ...]

Every wait polls with a deadline (--timeout seconds, default 600) and fails with
TimeoutError when it passes. Prints one JSON object of results on success.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import imagecodecs
import pydicom


def wait_for(describe, done, what: str, timeout: float, interval: float = 0.2):
    """Poll ``describe()`` until ``done(result)``; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = describe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout} s: {result}")
        time.sleep(interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bucket")
    parser.add_argument("role_arn")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    mi = boto3.client("medical-imaging")
    s3 = boto3.client("s3")
    out = {}

    # Create a data store and wait until it is ACTIVE.
    started_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    datastore_id = mi.create_datastore(datastoreName=f"walkthrough-{uuid.uuid4().hex[:8]}")[
        "datastoreId"
    ]
    wait_for(
        lambda: mi.get_datastore(datastoreId=datastore_id)["datastoreProperties"],
        lambda p: p["datastoreStatus"] == "ACTIVE",
        "CreateDatastore",
        args.timeout,
    )

    # Upload DICOM P10 files and import them.
    prefix = f"input-{uuid.uuid4().hex[:8]}/"
    for path in args.files:
        s3.upload_file(path, args.bucket, prefix + Path(path).name)
    job = mi.start_dicom_import_job(
        jobName="walkthrough",
        datastoreId=datastore_id,
        dataAccessRoleArn=args.role_arn,
        inputS3Uri=f"s3://{args.bucket}/{prefix}",
        outputS3Uri=f"s3://{args.bucket}/output/",
    )
    job_properties = wait_for(
        lambda: mi.get_dicom_import_job(datastoreId=datastore_id, jobId=job["jobId"])[
            "jobProperties"
        ],
        lambda p: p["jobStatus"] in ("COMPLETED", "FAILED"),
        "StartDICOMImportJob",
        args.timeout,
    )
    assert job_properties["jobStatus"] == "COMPLETED", job_properties
    jobs = mi.list_dicom_import_jobs(datastoreId=datastore_id)["jobSummaries"]
    assert job["jobId"] in [j["jobId"] for j in jobs]
    manifest_uri = job_properties["outputS3Uri"] + "job-output-manifest.json"
    bucket, key = manifest_uri[len("s3://") :].split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    image_set_ids = [s["imageSetId"] for s in manifest["jobSummary"]["imageSetsSummary"]]
    out["imported_image_sets"] = len(image_set_ids)

    # Search: by patient id (EQUAL), study date (BETWEEN), createdAt (BETWEEN).
    first = pydicom.dcmread(args.files[0])
    paginator = mi.get_paginator("search_image_sets")

    def search(criteria):
        pages = paginator.paginate(datastoreId=datastore_id, searchCriteria=criteria)
        return [s for page in pages for s in page["imageSetsMetadataSummaries"]]

    by_patient = search(
        {"filters": [{"values": [{"DICOMPatientId": first.PatientID}], "operator": "EQUAL"}]}
    )
    by_study_date = search(
        {
            "filters": [
                {
                    "values": [
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "19900101"}},
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20991231"}},
                    ],
                    "operator": "BETWEEN",
                }
            ]
        }
    )
    by_created = search(
        {
            "filters": [
                {
                    "values": [
                        {"createdAt": started_at},
                        {"createdAt": datetime.now(timezone.utc) + timedelta(days=1)},
                    ],
                    "operator": "BETWEEN",
                }
            ]
        }
    )
    out["search"] = {
        "patient": len(by_patient),
        "study_date": len(by_study_date),
        "created_at": len(by_created),
    }
    image_set_id = by_patient[0]["imageSetId"]

    # Get the image set, with and without a version; read its metadata.
    latest = mi.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    version_1 = mi.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id, versionId="1")
    out["versions_before"] = [latest["versionId"], version_1["versionId"]]
    blob = mi.get_image_set_metadata(datastoreId=datastore_id, imageSetId=image_set_id)[
        "imageSetMetadataBlob"
    ].read()
    metadata = json.loads(gzip.decompress(blob))

    # Fetch one frame and decode it (HTJ2K).
    (series,) = metadata["Study"]["Series"].values()
    instance = next(iter(series["Instances"].values()))
    frame_id = instance["ImageFrames"][0]["ID"]
    frame = mi.get_image_frame(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        imageFrameInformation={"imageFrameId": frame_id},
    )
    pixels = imagecodecs.htj2k_decode(frame["imageFrameBlob"].read())
    out["frame"] = {
        "contentType": frame["contentType"],
        "shape": list(pixels.shape[:2]),
        "rows_columns": [instance["DICOM"]["Rows"], instance["DICOM"]["Columns"]],
        "file_rows_columns": [int(first.Rows), int(first.Columns)],
    }

    # List versions; copy to a new image set; wait until neither is LOCKED.
    versions = mi.get_paginator("list_image_set_versions").paginate(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    out["version_count"] = sum(len(p["imageSetPropertiesList"]) for p in versions)
    copy = mi.copy_image_set(
        datastoreId=datastore_id,
        sourceImageSetId=image_set_id,
        copyImageSetInformation={"sourceImageSet": {"latestVersionId": latest["versionId"]}},
    )
    copy_id = copy["destinationImageSetProperties"]["imageSetId"]
    for target in (image_set_id, copy_id):
        wait_for(
            lambda target=target: mi.get_image_set(datastoreId=datastore_id, imageSetId=target),
            lambda p: p["imageSetState"] != "LOCKED",
            "CopyImageSet",
            args.timeout,
        )

    # Update metadata (a Study level attribute) and wait for the new version.
    current = mi.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)["versionId"]
    updates = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "WALKTHROUGH"}}}
    mi.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        latestVersionId=current,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(updates).encode()}
        },
    )
    updated = wait_for(
        lambda: mi.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id),
        lambda p: p["imageSetState"] != "LOCKED",
        "UpdateImageSetMetadata",
        args.timeout,
    )
    out["update"] = [updated["versionId"], updated["imageSetWorkflowStatus"]]

    # Delete every image set, wait for DELETED, delete the data store.
    all_ids = {s["imageSetId"] for s in search({})}
    for target in all_ids:
        mi.delete_image_set(datastoreId=datastore_id, imageSetId=target)
    for target in all_ids:
        wait_for(
            lambda target=target: mi.get_image_set(datastoreId=datastore_id, imageSetId=target),
            lambda p: p["imageSetState"] == "DELETED",
            "DeleteImageSet",
            args.timeout,
        )
    out["deleted"] = len(all_ids)
    mi.delete_datastore(datastoreId=datastore_id)
    out["datastore"] = wait_for(
        lambda: mi.get_datastore(datastoreId=datastore_id)["datastoreProperties"],
        lambda p: p["datastoreStatus"] == "DELETED",
        "DeleteDatastore",
        args.timeout,
    )["datastoreStatus"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
