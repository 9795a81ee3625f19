"""Import jobs and file outcomes frames, built by hand with the data layer's columns and types.

The plots and widget tests use them where no sandbox job is needed. Their columns and
dtypes are the data layer's (:mod:`hi_widgets.api.import_jobs`); the tests of that module
check the real frames, and ``test_frames_match_the_data_layer`` checks these against them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

DS = "d" * 32
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
JOB_STATUSES = ["SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED"]
FILE_STATUSES = ["SUCCESS", "FAILURE"]


def job_id(n: int) -> str:
    return f"{n:04x}" + "b" * 28


def job(n: int, status: str = "COMPLETED", minutes: float | None = 5.0, **fields: Any) -> dict:
    """Job ``n``, submitted ``n`` hours after :data:`T0`, ended ``minutes`` later (None: not)."""
    submitted = T0 + timedelta(hours=n)
    ended = None if minutes is None else submitted + timedelta(minutes=minutes)
    row = {
        "jobId": job_id(n),
        "jobName": f"job-{n}",
        "jobStatus": status,
        "datastoreId": DS,
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/ImportRole",
        "submittedAt": submitted,
        "endedAt": ended,
        "message": None,
        "inputS3Uri": f"s3://bucket/in-{n}/",
        "outputS3Uri": f"s3://bucket/out/{DS}-DicomImport-{job_id(n)}/",
    }
    row.update(fields)
    return row


def jobs_frame(rows: list[dict]) -> pd.DataFrame:
    """The jobs frame of ``rows`` (see :func:`job`), typed as the data layer types it."""
    frame = pd.DataFrame(rows, columns=list(job(0)))
    frame["jobStatus"] = pd.Categorical(frame["jobStatus"], categories=JOB_STATUSES)
    for column in ("submittedAt", "endedAt"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    frame["duration"] = frame["endedAt"] - frame["submittedAt"]
    return frame


def files_frame(successes: int = 3, failures: dict[str, int] | None = None) -> pd.DataFrame:
    """Outcomes of one job: ``successes`` files, then ``failures`` = {reason: count} files."""
    rows = [
        {
            "inputFile": f"in/ok-{i}.dcm",
            "status": "SUCCESS",
            "imageSetId": f"{i:032x}",
            "imageSetVersion": 1,
            "isPrimary": True,
            "exceptionType": None,
            "message": None,
            "reason": None,
        }
        for i in range(successes)
    ]
    for r, (reason, count) in enumerate((failures or {}).items()):
        rows += [
            {
                "inputFile": f"in/bad-{r}-{i}.dcm",
                "status": "FAILURE",
                "imageSetId": None,
                "imageSetVersion": None,
                "isPrimary": None,
                "exceptionType": "ValidationException",
                "message": f"{reason} (file {i})",
                "reason": reason,
            }
            for i in range(count)
        ]
    frame = pd.DataFrame(rows, columns=list(files_frame_columns()))
    frame["status"] = pd.Categorical(frame["status"], categories=FILE_STATUSES)
    frame["imageSetVersion"] = frame["imageSetVersion"].astype("Int64")
    frame["isPrimary"] = frame["isPrimary"].astype("boolean")
    return frame


def files_frame_columns() -> tuple[str, ...]:
    return (
        "inputFile",
        "status",
        "imageSetId",
        "imageSetVersion",
        "isPrimary",
        "exceptionType",
        "message",
        "reason",
    )


def reasons_frame(counts: dict[str, int]) -> pd.DataFrame:
    """A failure reasons frame: ``reason``, ``count``, ``examples`` (a list of files)."""
    return pd.DataFrame(
        {
            "reason": list(counts),
            "count": list(counts.values()),
            "examples": [
                [f"in/bad-{r}-{i}.dcm" for i in range(min(c, 3))]
                for r, c in enumerate(counts.values())
            ],
        }
    )
