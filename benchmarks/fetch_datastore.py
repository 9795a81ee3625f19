"""Benchmark: a whole datastore over two operations' quotas (``fetch_datastore``).

A sandbox child process (as in ``benchmarks/fetch_versions.py``) serves a datastore of
``--image-sets`` image sets (default 2,000) with the demo's mix of history lengths and
``--latency-ms`` added latency, with every published quota multiplied by
``--quota-scale`` (the same factor is passed as ``quota_rates=``; 1 is the published 25/s,
burst 50). The run prints:

1. the ListImageSetVersions-only ideal: ``(sum(ceil(v / 50)) - burst) / rate``, the best
   any client limited to one operation can do;
2. the two-operation ideal from the actual version counts: the image sets split between
   ListImageSetVersions (``ceil(v / 50)`` requests each) and GetImageSet (``v`` each) so
   the larger of the two request counts is smallest, then ``(that - burst) / rate``;
3. ``fetch_datastore``'s wall time (its SearchImageSets pages included: they overlap
   the fetching, in their own bucket), and its throttles.

Targets: (3) within 1.15x of (2) and (3) at most 0.75x of (1), with zero
throttling errors reaching the caller; each printed as ok/MISS with its value.

Run: ``python benchmarks/fetch_datastore.py [--image-sets 2000] [--quota-scale 2]
[--latency-ms 50] [--seed 0] [--workers 8]``. Exit status 0 when every version of every
searchable image set came back exactly once and no throttle reached the caller.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from fetch_versions import ChildSandbox, sandbox_client

from hi_widgets import sandbox
from hi_widgets.bulk import fetch_datastore
from hi_widgets.limits.quotas import PUBLISHED_QUOTAS

PAGE = 50


def two_operation_split(counts: list[int]) -> tuple[int, int]:
    """(ListImageSetVersions, GetImageSet) requests of the best split of ``counts``.

    Moving an image set of v versions from listing to getting saves ceil(v/50) listing
    requests for v getting requests; the smallest v save the most per request spent, so
    they move first, while the larger of the two counts still shrinks.
    """
    listing, getting = sum(math.ceil(v / PAGE) for v in counts), 0
    for v in sorted(counts):
        after = (listing - math.ceil(v / PAGE), getting + v)
        if max(after) >= max(listing, getting):
            break
        listing, getting = after
    return listing, getting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-sets", type=int, default=2000)
    parser.add_argument("--quota-scale", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8, help="threads per operation")
    args = parser.parse_args(argv)
    if args.image_sets < 2000:
        print(f"note: {args.image_sets} image sets; the issue's benchmark asks for >= 2,000")

    # The child's data, built here from the same seed without serving it: the truth.
    store = sandbox.Sandbox(seed=args.seed, image_sets=args.image_sets).store
    ds = store.datastore_ids()[0]
    scale = args.quota_scale
    operations = ("ListImageSetVersions", "GetImageSet", "SearchImageSets")
    rates = {
        op: (PUBLISHED_QUOTAS[op].rate * scale, PUBLISHED_QUOTAS[op].burst * scale)
        for op in operations
    }
    rate, burst = rates["ListImageSetVersions"]
    assert rates["GetImageSet"] == (rate, burst), "the ideals assume equal quotas"

    with ChildSandbox(
        seed=args.seed,
        image_sets=args.image_sets,
        latency_ms=args.latency_ms,
        quota_scale=scale,
    ) as server:
        client = sandbox_client(server)
        time.sleep(burst / rate + 0.1)  # every server bucket full
        started = time.perf_counter()
        result = fetch_datastore(client, ds, quota_rates=rates, max_workers=args.workers)
        seconds = time.perf_counter() - started

    frame = result.frame
    counts = frame.groupby("imageSetId", observed=True).size().tolist()
    # SearchImageSets does not return deleted image sets.
    searchable = [
        i
        for i in store.image_set_ids(ds)
        if store.versions(ds, i)[-1]["imageSetState"] != "DELETED"
    ]
    truth = {(i, int(v["versionId"])) for i in searchable for v in store.versions(ds, i)}
    got = set(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True))
    exact = got == truth and len(frame) == len(truth)
    one_op = sum(math.ceil(v / PAGE) for v in counts)
    listing, getting = two_operation_split(counts)
    ideal_one = max(0.0, (one_op - burst) / rate)
    ideal_two = max(0.0, (max(listing, getting) - burst) / rate)
    throttled = int((result.errors["error"] == "ThrottlingError").sum())

    print(
        f"{len(counts)} image sets ({sum(v == 1 for v in counts)} with one version), "
        f"{len(frame)} versions; quota {rate:g}/s burst {burst:g} per operation "
        f"(--quota-scale {scale:g}); latency {args.latency_ms:g} ms; sandbox in a child process"
    )
    print(f"(1) ListImageSetVersions-only ideal: {ideal_one:8.2f} s  ({one_op} requests)")
    print(
        f"(2) two-operation ideal:             {ideal_two:8.2f} s  ({listing} list + "
        f"{getting} get requests)"
    )
    print(f"(3) fetch_datastore:                 {seconds:8.2f} s  {result.summary()}")
    targets = [
        ("(3) within 1.15x of (2)", seconds <= 1.15 * ideal_two, f"{seconds / ideal_two:.2f}x"),
        ("(3) at most 0.75x of (1)", seconds <= 0.75 * ideal_one, f"{seconds / ideal_one:.2f}x"),
        ("no throttle reached the caller", throttled == 0, f"{throttled}"),
        ("every version exactly once", exact, f"{len(got)} of {len(truth)}"),
    ]
    for name, met, value in targets:
        print(f"  {'ok  ' if met else 'MISS'} {name}: {value}")
    return 0 if exact and throttled == 0 and result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
