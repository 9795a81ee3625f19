"""Benchmark: what an incremental ``sync_datastore`` costs after K changes, next to a full one.

A sandbox (in this process, no quotas, a ManualClock) serves a datastore of
``--image-sets`` image sets (default 5,000; the issue's figure is 100,000). The run:

1. syncs the whole datastore into an empty folder (the first sync: a full listing and
   every history);
2. updates ``--changes`` image sets (default 50) and lets them settle;
3. syncs again, then a third time with nothing changed.

It prints the requests of each sync, counted by the sandbox's request log (per
operation), the rows written, and the time each took (informative only: the machine is
shared). Targets, each printed with ok/MISS: the second sync sends at most
``3 * changes + ceil((changes + 1) / 50) + 1`` requests whatever the datastore's size
(one SearchImageSets page per 50 changed image sets, and one listing, or one GetImageSet
per version, for each changed one), and writes exactly ``changes`` rows; the third sync
sends one request and writes nothing.

Run: ``python benchmarks/sync.py [--image-sets 5000] [--changes 50] [--seed 0]``. Exit
status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import tempfile
import time

from hi_widgets import sandbox, sync_datastore

UNLIMITED = {
    "ListImageSetVersions": (100_000, 100_000),
    "GetImageSet": (100_000, 100_000),
    "SearchImageSets": (100_000, 100_000),
}


def _update(client, ds: str, image_set: str, n: int) -> None:
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    payload = {"Study": {"DICOM": {"StudyDescription": f"benchmark change {n}"}}}
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(payload).encode()}
        },
    )


def _sync(sb, client, ds: str, root: str, label: str) -> tuple[int, int]:
    sb.clear_requests()
    started = time.perf_counter()
    result = sync_datastore(client, ds, root, quota_rates=UNLIMITED, max_workers=8)
    elapsed = time.perf_counter() - started
    sent = collections.Counter(entry.operation for entry in sb.requests)
    print(
        f"{label:<14} requests {sum(sent.values()):>6} ({dict(sorted(sent.items()))}); "
        f"reported {result.requests}; rows written {result.rows_written}; "
        f"image sets fetched {result.fetched}; {elapsed:.1f} s"
    )
    if not (result.complete and result.errors.empty):
        print(f"  incomplete sync or errors: {result.errors.head()}")
    return sum(sent.values()), result.rows_written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-sets", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"load average at start: {os.getloadavg()}")
    clock = sandbox.ManualClock()
    started = time.perf_counter()
    with sandbox.start(
        seed=args.seed, image_sets=args.image_sets, quotas=False, clock=clock
    ) as sb:
        built = time.perf_counter() - started
        print(f"sandbox of {args.image_sets} image sets built in {built:.1f} s")
        clock.advance(60)
        client = sb.client(max_attempts=1)
        ds = sb.store.datastore_ids()[0]
        root = tempfile.mkdtemp(prefix="hi-widgets-sync-bench-")
        first, _ = _sync(sb, client, ds, root, "first sync")

        active = [
            i
            for i in sb.store.image_set_ids(ds)
            if sb.store.versions(ds, i)[-1]["imageSetState"] == "ACTIVE"
        ]
        step = max(1, len(active) // args.changes)
        for n, image_set in enumerate(active[::step][: args.changes]):
            _update(client, ds, image_set, n)
        clock.advance(sb.store.update_delay + 1)

        second, second_rows = _sync(sb, client, ds, root, "second sync")
        third, third_rows = _sync(sb, client, ds, root, "third sync")
    print(f"load average at end: {os.getloadavg()}")

    bound = 3 * args.changes + math.ceil((args.changes + 1) / 50) + 1
    checks = [
        (
            f"second sync: {second} requests <= {bound} (3 x {args.changes} changes + "
            f"search pages), vs {first} for the full sync ({second / first:.4f}x)",
            second <= bound,
        ),
        (
            f"second sync wrote {second_rows} rows == {args.changes} changes",
            second_rows == args.changes,
        ),
        (
            f"third sync (no change): {third} request(s) == 1, {third_rows} rows",
            third == 1 and third_rows == 0,
        ),
    ]
    for text, passed in checks:
        print(f"{'ok  ' if passed else 'MISS'} {text}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
