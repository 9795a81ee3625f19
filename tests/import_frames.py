"""Import jobs and file outcomes frames of a chosen shape, for plots and widget tests.

Built from records by the data layer's own constructors (``import_jobs_frame``,
``import_files_frame``), so their columns and types are the real ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from hi_widgets.api.import_jobs import import_jobs_frame
from hi_widgets.api.import_outcomes import import_files_frame

DS = "d" * 32
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


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
    """The jobs frame of ``rows`` (see :func:`job`), built by the data layer's constructor."""
    return import_jobs_frame(rows)


def files_frame(successes: int = 3, failures: dict[str, int] | None = None) -> pd.DataFrame:
    """Outcomes of one job: ``successes`` files, then ``failures`` = {message: count} files.

    Built from output lines as AWS writes them, by the data layer's constructor.
    """
    records: list[dict[str, Any]] = [
        {
            "inputFile": f"in/ok-{i}.dcm",
            "importResponse": {
                "imageSetId": f"{i:032x}",
                "imageSetVersion": 1,
                "isPrimary": True,
            },
        }
        for i in range(successes)
    ]
    for r, (message, count) in enumerate((failures or {}).items()):
        records += [
            {
                "inputFile": f"in/bad-{r}-{i}.dcm",
                "exception": {"exceptionType": "ValidationException", "message": message},
            }
            for i in range(count)
        ]
    return import_files_frame(records)


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
