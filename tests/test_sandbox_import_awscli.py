"""Issue 11's "Done when", AWS CLI half: the same walkthrough with ``aws medical-imaging``.

The AWS CLI is not a project dependency (awscli pins its own botocore), and each of its
~40 invocations starts a Python process (about a minute in all), so this test is opt-in:
set ``HI_WIDGETS_AWS_CLI`` to the ``aws`` executable (``aws`` for the one on PATH, or a
throwaway venv's: ``python -m venv /tmp/cli && /tmp/cli/bin/pip install awscli``). The
sandbox runs on a :class:`~hi_widgets.sandbox.ManualClock`: between two polls the test moves
the clock on by a second instead of sleeping, so states change after a known number of polls
however loaded the machine is (an import job's files are read on a thread; its job ends
once that thread has and the clock has passed its delay).
"""

import gzip
import json
import os
import shutil
import subprocess

import pytest

pytest.importorskip("pydicom")
imagecodecs = pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402

from hi_widgets import sandbox  # noqa: E402

AWS = shutil.which(os.environ.get("HI_WIDGETS_AWS_CLI") or "")
pytestmark = pytest.mark.skipif(not AWS, reason="opt-in: set HI_WIDGETS_AWS_CLI to aws")
ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
POLLS = 60  # of one `aws ... get-*` each, a second of the sandbox's clock apart


def test_the_aws_cli_walkthrough_runs_against_the_sandbox(s3_bucket, tmp_path):
    clock = sandbox.ManualClock()
    with sandbox.start(quotas=False, image_sets=1, clock=clock) as sb:
        env = {**os.environ, **sb.env()}

        def aws(*args):
            done = subprocess.run(
                [AWS, "medical-imaging", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (args, done.stderr)
            return json.loads(done.stdout) if done.stdout.strip() else {}

        def wait(args, ok):
            for _ in range(POLLS):
                if ok(value := aws(*args)):
                    return value
                clock.advance(1)  # the sandbox's time, not the machine's
            raise AssertionError(f"{args}: still {value} after {POLLS} polls")

        ds = aws("create-datastore", "--datastore-name", "cli")["datastoreId"]
        store = ("get-datastore", "--datastore-id", ds)
        wait(store, lambda v: v["datastoreProperties"]["datastoreStatus"] == "ACTIVE")
        for name in ("CT_small.dcm", "MR_small.dcm"):
            subprocess.run(
                [AWS, "s3", "cp", get_testdata_file(name), f"s3://{s3_bucket}/in/{name}"],
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
        job = aws(
            "start-dicom-import-job",
            "--datastore-id",
            ds,
            "--data-access-role-arn",
            ROLE,
            "--input-s3-uri",
            f"s3://{s3_bucket}/in/",
            "--output-s3-uri",
            f"s3://{s3_bucket}/out/",
        )["jobId"]
        job_args = ("get-dicom-import-job", "--datastore-id", ds, "--job-id", job)
        wait(job_args, lambda v: v["jobProperties"]["jobStatus"] == "COMPLETED")
        jobs = aws("list-dicom-import-jobs", "--datastore-id", ds)["jobSummaries"]
        assert [j["jobId"] for j in jobs] == [job]

        def search(criteria):
            return aws(
                "search-image-sets",
                "--datastore-id",
                ds,
                "--search-criteria",
                json.dumps(criteria),
            )["imageSetsMetadataSummaries"]

        (found,) = search(
            {"filters": [{"values": [{"DICOMPatientId": "1CT1"}], "operator": "EQUAL"}]}
        )
        dates = [
            {"DICOMStudyDateAndTime": {"DICOMStudyDate": d}} for d in ("19900101", "20991231")
        ]
        assert len(search({"filters": [{"values": dates, "operator": "BETWEEN"}]})) == 2
        created = [{"createdAt": t} for t in ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")]
        assert len(search({"filters": [{"values": created, "operator": "BETWEEN"}]})) == 2
        image_set = ("--datastore-id", ds, "--image-set-id", found["imageSetId"])
        assert aws("get-image-set", *image_set)["versionId"] == "1"
        assert aws("get-image-set", *image_set, "--version-id", "1")["versionId"] == "1"
        aws("get-image-set-metadata", *image_set, str(tmp_path / "metadata.json.gz"))
        metadata = json.loads(gzip.decompress((tmp_path / "metadata.json.gz").read_bytes()))
        (series,) = metadata["Study"]["Series"].values()
        (instance,) = series["Instances"].values()
        frame = aws(
            "get-image-frame",
            *image_set,
            "--image-frame-information",
            "imageFrameId=" + instance["ImageFrames"][0]["ID"],
            str(tmp_path / "frame.jph"),
        )
        assert frame["contentType"] == "image/jph"
        pixels = imagecodecs.htj2k_decode((tmp_path / "frame.jph").read_bytes())
        assert pixels.shape == (instance["DICOM"]["Rows"], instance["DICOM"]["Columns"])
        assert len(aws("list-image-set-versions", *image_set)["imageSetPropertiesList"]) == 1
        copy = aws(
            "copy-image-set",
            "--datastore-id",
            ds,
            "--source-image-set-id",
            found["imageSetId"],
            "--copy-image-set-information",
            json.dumps({"sourceImageSet": {"latestVersionId": "1"}}),
        )
        copy_id = copy["destinationImageSetProperties"]["imageSetId"]
        for target in (found["imageSetId"], copy_id):
            wait(
                ("get-image-set", "--datastore-id", ds, "--image-set-id", target),
                lambda v: v["imageSetState"] != "LOCKED",
            )
        updates = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "CLI"}}}
        aws(
            "update-image-set-metadata",
            *image_set,
            "--latest-version-id",
            "1",
            "--update-image-set-metadata-updates",
            json.dumps({"DICOMUpdates": {"updatableAttributes": json.dumps(updates)}}),
        )
        updated = wait(("get-image-set", *image_set), lambda v: v["imageSetState"] != "LOCKED")
        assert (updated["versionId"], updated["imageSetWorkflowStatus"]) == ("2", "UPDATED")
        ids = [s["imageSetId"] for s in search({})]
        for target in ids:
            aws("delete-image-set", "--datastore-id", ds, "--image-set-id", target)
        for target in ids:
            wait(
                ("get-image-set", "--datastore-id", ds, "--image-set-id", target),
                lambda v: v["imageSetState"] == "DELETED",
            )
        aws("delete-datastore", "--datastore-id", ds)
        wait(store, lambda v: v["datastoreProperties"]["datastoreStatus"] == "DELETED")
