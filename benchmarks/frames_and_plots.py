"""Time versions_frame against the bare DataFrame constructor, and the timeline plot.

Run: ``.venv/bin/python benchmarks/frames_and_plots.py [--records N] [--versions M]``

Targets (issue 4): building the typed frame within 3x of ``pd.DataFrame(records)`` for
100,000 records; drawing the timeline of 10,000 versions (Agg, ``canvas.draw()``
included) under 2 s. Each figure is the best of ``--repeat`` runs (``time.perf_counter``,
garbage collector paused as ``timeit`` does, the two constructors interleaved).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import matplotlib
import pandas as pd

from hi_widgets.api.model import workflow_statuses
from hi_widgets.api.records import RECORD_FIELDS
from hi_widgets.api.tables import versions_frame
from hi_widgets.plots.timeline import plot_version_timeline

DATASTORE = "0123456789abcdef0123456789abcdef"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def synthetic_records(n: int, versions_per_set: int = 10) -> list[dict[str, Any]]:
    """Normalized records: n versions, ``versions_per_set`` per image set, mixed statuses."""
    statuses = workflow_statuses()
    records = []
    for i in range(n):
        image_set, version = divmod(i, versions_per_set)
        made = START + timedelta(minutes=7 * i)
        created = made - timedelta(minutes=7 * version)  # the image set's, on every version
        status = statuses[(i * 7) % len(statuses)]
        deleted = made + timedelta(minutes=3) if status == "DELETED" else None
        records.append(
            {
                "datastoreId": DATASTORE,
                "imageSetId": f"{image_set:032x}",
                "versionId": version + 1,
                "imageSetState": "DELETED" if deleted else "ACTIVE",
                "imageSetWorkflowStatus": status,
                "createdAt": created,
                "updatedAt": made + timedelta(minutes=2, seconds=i % 60),
                "deletedAt": deleted,
                "message": "failed: bad tag" if status.endswith("_FAILED") else None,
                "imageSetArn": f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/"
                f"{DATASTORE}/imageset/{image_set:032x}",
                "forced": (i % 3 == 0) or None,
                "isPrimary": i % 5 != 0,
                "lastAccessedAt": None,
                "storageTier": "FREQUENT_ACCESS",
            }
        )
    assert all(list(r) == list(RECORD_FIELDS) for r in records[:1])
    return records


def timed(func: Callable[[], object]) -> float:
    """One run, garbage collector paused as in ``timeit``."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        func()
        return time.perf_counter() - started
    finally:
        gc.enable()


def best_of(repeat: int, *funcs: Callable[[], object]) -> list[float]:
    """Best time of each function; runs are interleaved so load spikes hit all alike."""
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            best[i] = min(best[i], timed(func))
    return best


def draw_timeline(df: pd.DataFrame) -> None:
    ax = plot_version_timeline(df)
    ax.figure.canvas.draw()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print(
        f"python {platform.python_version()}, pandas {pd.__version__}, "
        f"matplotlib {matplotlib.__version__}, best of {args.repeat}"
    )
    records = synthetic_records(args.records)
    bare, typed = best_of(
        args.repeat, lambda: pd.DataFrame(records), lambda: versions_frame(records)
    )
    ratio = typed / bare
    print(f"pd.DataFrame(records), {args.records:,} records: {bare:8.3f} s")
    print(f"versions_frame(records), {args.records:,} records: {typed:8.3f} s")
    verdict = "ok" if ratio <= 3 else "SLOW (target <= 3x)"
    print(f"ratio versions_frame / DataFrame: {ratio:.2f}x  {verdict}")

    frame = versions_frame(synthetic_records(args.versions))
    (timeline,) = best_of(args.repeat, lambda: draw_timeline(frame))
    verdict = "ok" if timeline < 2 else "SLOW (target < 2 s)"
    print(
        f"plot_version_timeline + canvas.draw (Agg), {len(frame):,} versions: "
        f"{timeline:8.3f} s  {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
