"""Issue 11's "Done when": a script written from the AWS docs alone runs on the sandbox.

The script (tests/scripts/healthimaging_docs_walkthrough.py) is plain boto3 in its own
process, configured only through the standard environment variables, against the sandbox
over HTTP and moto's S3 server. The sandbox runs on the real clock with a short
``update_delay``; every wait in the script polls with a deadline.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file

from hi_widgets import sandbox

SCRIPT = Path(__file__).parent / "scripts" / "healthimaging_docs_walkthrough.py"
ROLE = "arn:aws:iam::123456789012:role/ImportJobDataAccessRole"


@pytest.mark.slow
def test_the_docs_walkthrough_runs_unchanged_against_the_sandbox(s3_bucket):
    files = [get_testdata_file(name) for name in ("CT_small.dcm", "MR_small.dcm")]
    with sandbox.start(quotas=False, image_sets=1, update_delay=0.2) as sb:
        env = {**os.environ, **sb.env()}  # S3 settings come from the s3_endpoint fixture
        completed = subprocess.run(
            [sys.executable, str(SCRIPT), s3_bucket, ROLE, *files, "--timeout", "60"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["imported_image_sets"] == 2
    assert result["search"] == {"patient": 1, "study_date": 2, "created_at": 2}
    assert result["versions_before"] == ["1", "1"]
    assert result["frame"]["contentType"] == "image/jph"
    assert result["frame"]["shape"] == result["frame"]["rows_columns"]
    assert result["frame"]["shape"] == result["frame"]["file_rows_columns"] == [128, 128]
    assert result["version_count"] == 1
    assert result["update"] == ["2", "UPDATED"]
    assert result["deleted"] == 3  # the two imports and the copy
    assert result["datastore"] == "DELETED"
