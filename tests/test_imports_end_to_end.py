"""Issue 24's "Done when": pydicom's files plus broken ones, followed in the explorer.

Against the sandbox over HTTP with moto's S3 (the job reads its input from S3 and writes
its output there, as AWS documents): two import jobs run; the explorer's Imports tab lists
them, opens the second, shows its failed files first with their reasons, follows a
successful file to its image set's version history, and exports the files with no S3 key
or file name in clear. Every wait moves the sandbox's ManualClock or joins a thread with a
timeout; nothing sleeps.

AWS pages: "Understanding import jobs" (https://docs.aws.amazon.com/healthimaging/latest/devguide/understand-import-jobs.html)
for the output folder and its SUCCESS/FAILURE lists; "Starting an import job"
(https://docs.aws.amazon.com/healthimaging/latest/devguide/start-dicom-import-job.html).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from widget_helpers import WAIT, downloaded

pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file

from hi_widgets import sandbox
from hi_widgets.widgets import ImageSetExplorer
from hi_widgets.widgets.explorer import TAB_VERSIONS

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")

ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"
DELAY = 2.0
GOOD = ("CT_small.dcm", "MR_small_RLE.dcm", "examples_ybr_color.dcm", "rtdose.dcm")
NAME = "DOE^JANE-ACC12345"  # a file name carrying a patient's name and an accession number


def _bytes(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


@pytest.fixture
def sb():
    clock = sandbox.ManualClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))
    with sandbox.start(clock=clock, quotas=False, image_sets=2, update_delay=DELAY) as box:
        yield box


def _run_job(sb, client, datastore, bucket, prefix, files, name):
    s3 = boto3.client("s3")
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)
    job_id = client.start_dicom_import_job(
        datastoreId=datastore,
        dataAccessRoleArn=ROLE,
        inputS3Uri=f"s3://{bucket}/{prefix}",
        outputS3Uri=f"s3://{bucket}/output/",
        jobName=name,
    )["jobId"]
    sb.clock.advance(DELAY)  # the next request finds it IN_PROGRESS, its work on a thread
    job = client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]
    assert job["jobStatus"] == "IN_PROGRESS"
    assert sb.store.wait_for_imports(timeout=WAIT)
    sb.clock.advance(DELAY)  # the job lasts at least DELAY: now COMPLETED
    job = client.get_dicom_import_job(datastoreId=datastore, jobId=job_id)["jobProperties"]
    assert job["jobStatus"] == "COMPLETED"
    return job_id


@pytest.fixture
def imported(sb, s3_bucket):
    client = sb.client(max_attempts=1)
    datastore = client.create_datastore(datastoreName="imports")["datastoreId"]
    sb.clock.advance(DELAY)
    first = _run_job(
        sb, client, datastore, s3_bucket, "first/", {"MR_small.dcm": _bytes("MR_small.dcm")}, "mr"
    )
    ct = _bytes("CT_small.dcm")
    files = {f"{NAME}/{name}": _bytes(name) for name in GOOD}
    files[f"{NAME}/readme.txt"] = b"not a DICOM file"
    files[f"{NAME}/cut-1.dcm"] = ct[:-5000]  # pixel data cut short
    files[f"{NAME}/cut-2.dcm"] = ct[:-7000]
    second = _run_job(sb, client, datastore, s3_bucket, "second/", files, "pydicom-and-broken")
    return client, datastore, first, second, {f"second/{k}" for k in files}


def test_the_imports_tab_finds_failures_follows_a_file_to_its_history_and_exports_hashed(
    imported, s3_bucket
):
    client, datastore, first, second, keys = imported
    explorer = ImageSetExplorer(client=client, datastore_id=datastore)
    assert explorer.wait(WAIT), explorer.status.text
    view = explorer.imports
    assert explorer.tabs.children[explorer.tabs.titles.index("Imports")] is view

    # The datastore's jobs, in the grid and the picker (newest first).
    assert not view.list_button.disabled
    assert view.list_jobs()
    assert explorer.wait(WAIT), explorer.status.text
    assert set(view.jobs["jobId"]) == {first, second}
    assert view.jobs_grid.count.value == "2 import jobs"
    assert view.job_picker.value == second
    assert "2 COMPLETED" in view.summary.value
    assert view.jobs_plot.alt.startswith("Import jobs on a time axis by status")

    # Selecting the job's row opens it: its files, failures first with their reasons.
    row = list(view.jobs_grid.frame["jobId"]).index(second)
    view.jobs_grid.grid.selected_rows = [row]
    assert explorer.wait(WAIT), explorer.status.text
    assert view.job_id == second
    files = view.files_grid.frame
    assert len(files) == len(keys) == 7
    assert list(files["status"][:3]) == ["FAILURE"] * 3
    assert list(files["status"][3:]) == ["SUCCESS"] * 4
    failed = files[files["status"] == "FAILURE"]
    assert set(failed["inputFile"]) == {
        f"second/{NAME}/readme.txt",
        f"second/{NAME}/cut-1.dcm",
        f"second/{NAME}/cut-2.dcm",
    }
    assert failed["reason"].notna().all() and failed["imageSetId"].isna().all()
    # The two cut files share one reason: one group, first (the most frequent).
    assert failed["reason"].iloc[0] == failed["reason"].iloc[1] != failed["reason"].iloc[2]
    assert set(failed["inputFile"].iloc[:2]) == {
        f"second/{NAME}/cut-1.dcm",
        f"second/{NAME}/cut-2.dcm",
    }
    assert "Pixel data" in failed["message"].iloc[0]
    assert "3 failed (2 reasons)" in view.job_summary.value
    assert view.reasons_plot.alt.startswith(f"Failure reasons of job {second}, counted:")

    # A successful file leads to its image set: MR_small_RLE is the series the first job
    # imported, so its image set has two versions.
    position = list(files["inputFile"]).index(f"second/{NAME}/MR_small_RLE.dcm")
    view.files_grid.grid.selected_rows = [position]
    image_set = files["imageSetId"].iloc[position]
    assert view.image_set_picker.value == image_set
    assert not view.history_button.disabled
    view.history_button.click()
    assert explorer.wait(WAIT), explorer.status.text
    assert explorer.form.image_set.value == image_set
    assert explorer.tabs.selected_index == TAB_VERSIONS
    history = explorer.versions
    assert set(history["imageSetId"]) == {image_set}
    assert list(history["versionId"]) == [1, 2]
    assert set(history["imageSetWorkflowStatus"].astype(str)) <= {"IMPORTED", "CREATED", "UPDATED"}

    # The export: one row per file, statuses and reasons kept, no key or file name in clear.
    export = view.export
    assert export.format.value == "csv" and not export.include_phi.value
    data = downloaded(export)
    text = data.decode()
    for key in keys:
        for part in (key, Path(key).name, NAME):
            assert part not in text, part
    assert s3_bucket not in text
    table = pd.read_csv(io.BytesIO(data))
    assert len(table) == 7
    assert sorted(table["status"]) == ["FAILURE"] * 3 + ["SUCCESS"] * 4
    assert table["inputFile"].nunique() == 7  # hashed, still one value per file
    # The same export with PHI asked for carries the keys: the check above can fail.
    export.include_phi.value = True
    assert f"second/{NAME}/readme.txt" in downloaded(export).decode()
