"""Benchmark: the change log of the 73-version demo image set, against the quota ideal.

The sandbox runs in a child process (``python -m hi_widgets.sandbox``, published quotas
on, fixed added latency), as in ``benchmarks/fetch_versions.py``. Measured:

1. a sequential loop of ``get_image_set_metadata`` over every version, for scale;
2. ``hi_widgets.fetch_changes`` (its default pool of 8 workers, and 16).

The ideal is what the quota and the latency allow a client with ``W`` workers:
ListImageSetVersions' first page (one round trip, ``L``) must arrive before the first
metadata request can be sent, then ``M`` GetImageSetMetadata requests go out ``W`` at a
time (``ceil(M / W) * L``), unless the quota is the tighter bound (rate ``R``, burst
``B``: ``(M - B) / R``). The second listing page overlaps with the metadata requests. So
``ideal = L + max(ceil(M / W) * L, (M - B) / R)``; with 73 requests and a burst of 100
the quota never binds and the ideal is latency-bound.

Run: ``python benchmarks/changes.py [--latency-ms 50] [--seed 0] [--repeat 3]``. The best
of ``--repeat`` runs is compared with the ideal: ok when within 1.3x, else MISS. The exit
status is 0 when every run returned the 73 versions.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_versions import ChildSandbox  # a sibling script, not a package

from hi_widgets import sandbox
from hi_widgets.api.client import make_client
from hi_widgets.api.fetch import get_image_set_metadata
from hi_widgets.changes.log import fetch_changes
from hi_widgets.limits.quotas import quota_for
from hi_widgets.sandbox.demo.data import LONG_HISTORY

TARGET = 1.3


def ideal_seconds(requests: int, workers: int, latency: float, rate: float, burst: float) -> float:
    """The least time the change log can take (see the module notes)."""
    return latency + max(math.ceil(requests / workers) * latency, (requests - burst) / rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    store = sandbox.Sandbox(seed=args.seed).store
    ds = store.datastore_ids()[LONG_HISTORY[0]]
    image_set = store.image_set_ids(ds)[LONG_HISTORY[1]]
    count = store.version_count(ds, image_set)
    rate, burst = quota_for("GetImageSetMetadata")
    latency = args.latency_ms / 1000
    refill = burst / rate + 0.1  # every server bucket full again before each run
    print(
        f"change log of {count} versions; latency {args.latency_ms:g} ms; GetImageSetMetadata "
        f"quota {rate:g}/s burst {burst:g}; sandbox in a child process"
    )
    ok = True
    with ChildSandbox(seed=args.seed, image_sets=30, latency_ms=args.latency_ms) as server:
        client = make_client(
            session=boto3.Session(region_name=server.region, **server.credentials()),
            endpoint_url=server.endpoint_url,
            max_attempts=1,
            config=Config(max_pool_connections=16),  # a connection per worker
        )
        time.sleep(refill)
        start = time.perf_counter()
        for version in range(1, count + 1):
            get_image_set_metadata(client, ds, image_set, version)
        sequential = time.perf_counter() - start
        print(f"\n{'scenario':<36}{'best s':>8}{'ideal s':>9}{'ratio':>8}  target {TARGET}x")
        print(f"{'(1) sequential GetImageSetMetadata':<36}{sequential:>8.2f}")
        for workers in (8, 16):
            times = []
            for _ in range(args.repeat):
                time.sleep(refill)
                start = time.perf_counter()
                frame = fetch_changes(client, ds, image_set, max_workers=workers)
                times.append(time.perf_counter() - start)
                ok = ok and frame["versionId"].nunique() == count
            best = min(times)
            ideal = ideal_seconds(count, workers, latency, rate, burst)
            verdict = "ok  " if best <= TARGET * ideal else "MISS"
            print(
                f"{f'(2) fetch_changes, {workers} workers':<36}{best:>8.2f}{ideal:>9.2f}"
                f"{best / ideal:>7.2f}x  {verdict} (runs: "
                + ", ".join(f"{t:.2f}" for t in times)
                + ")"
            )
        client.close()
    print(
        "note: the ideal counts round trips only; the CPU each request costs (SigV4 signing, "
        "gzip and JSON, the Python server) is not in it, and shows most with many workers. "
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs."
    )
    print("\nall versions in every change log" if ok else "FAILED: versions missing")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
