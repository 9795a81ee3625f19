"""Benchmark: peak memory of fetch_datastore(..., dataset=ROOT) does not grow with the datastore.

For each size in ``--sizes`` (default 2,000 and 10,000 image sets; the issue's figure is
20,000 and 100,000), a sandbox child process (``python -m hi_widgets.sandbox --no-quotas
--latency-ms 0``) serves a datastore of that many image sets, and a fresh fetcher child
process streams the whole datastore into a temporary Parquet dataset, then reports its
peak resident set (``ru_maxrss``), its resident set after the imports (before any
request), the time taken and the counters. The dataset is read back with DuckDB: every
version once (no duplicated key), every image set searched present.

With ``--memory-too`` the same fetch without ``dataset=`` (everything in one frame, as
before streaming) runs too, for contrast.

Target (issue 23): the streaming fetcher's peak RSS at the largest size within 1.25x of
its peak at the smallest; printed as ok/MISS. Exit status 0 when every dataset was exact
and the target met.

Measured here (2 CPUs shared, load average 8-21, ``nice -n 10``): 2,000 -> 10,000 image
sets 201.1 -> 206.0 MB (1.02x; before the sink had its own writer thread, 200.3 -> 336.6
MB, 1.68x: each worker that wrote a batch kept a batch-sized malloc arena); 20,000 ->
100,000 image sets (sandbox from the ``lazy`` branch's fast build) 205.7 -> 234.7 MB
(1.14x; 849,494 versions, 142,549 requests, 85 batches, in 1008 s). What still grows is
the per-image-set bookkeeping of the call (the image sets walked and their outcomes,
about 300 bytes each).

Run: ``nice -n 10 python benchmarks/fetch_datastore_stream.py [--sizes 2000 10000]
[--workers 8] [--batch-rows 10000] [--memory-too] [--start-timeout 600]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import fetch_versions
from fetch_versions import ChildSandbox

MB = 1024 * 1024
TARGET = 1.25
UNLIMITED = (1e6, 1e6)  # quota_rates: the client's buckets never wait either


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fetcher(ds: str, root: str, mode: str, workers: int, batch_rows: int) -> None:
    """The fetcher child: stream (or fetch into memory), print one JSON line of figures."""
    import boto3

    from hi_widgets.api.client import make_client
    from hi_widgets.bulk import fetch_datastore

    env = os.environ
    client = make_client(
        session=boto3.Session(
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        ),
        endpoint_url=env["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
    )
    rates = {op: UNLIMITED for op in ("ListImageSetVersions", "GetImageSet", "SearchImageSets")}
    base = _rss()
    started = time.perf_counter()
    if mode == "dataset":
        result = fetch_datastore(
            client,
            ds,
            dataset=root,
            batch_rows=batch_rows,
            uid_key="benchmark",
            quota_rates=rates,
            max_workers=workers,
        )
        rows = result.dataset.rows_written if result.dataset else 0
    else:
        result = fetch_datastore(client, ds, quota_rates=rates, max_workers=workers)
        rows = len(result.frame)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    figures = {
        "base": base,
        "peak": peak,
        "seconds": seconds,
        "items": result.stats.items,
        "versions": result.stats.versions,
        "rows": rows,
        "requests": result.stats.requests,
        "ok": result.ok,
        "batches": result.dataset.batches if result.dataset else 0,
    }
    print(json.dumps(figures), flush=True)


def run_fetcher(server: ChildSandbox, ds: str, root: Path, mode: str, args: Any) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(server.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    argv = [sys.executable, __file__, "--fetcher", ds, str(root), mode]
    argv += ["--workers", str(args.workers), "--batch-rows", str(args.batch_rows)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the fetcher failed ({done.returncode}): {done.stderr[-3000:]}")
    figures: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def check_dataset(root: Path, figures: dict) -> str | None:
    """Return what is wrong with the streamed dataset, or None."""
    glob = f"read_parquet('{root.as_posix()}/**/*.parquet', hive_partitioning = true)"
    relation = duckdb.sql(
        "select count(*), count(distinct (datastoreId, imageSetId, versionId)), "
        f"count(distinct imageSetId) from {glob}"
    )
    assert relation is not None
    rows, keys, image_sets = relation.fetchall()[0]
    if rows != keys:
        return f"{rows - keys} duplicated rows"
    if rows != figures["versions"] or image_sets != figures["items"]:
        return (
            f"{rows} rows of {image_sets} image sets stored; fetched {figures['versions']} "
            f"versions of {figures['items']}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8, help="threads per operation")
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--memory-too", action="store_true", help="also fetch into memory")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="sandbox start, s")
    parser.add_argument(
        "--fetcher", nargs=3, metavar=("DS", "ROOT", "MODE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.fetcher:
        ds, root, mode = args.fetcher
        fetcher(ds, root, mode, workers=args.workers, batch_rows=args.batch_rows)
        return 0
    fetch_versions.START_TIMEOUT = args.start_timeout
    modes = ["dataset", "memory"] if args.memory_too else ["dataset"]
    print(
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} "
        f"cores; sandbox in its own process, no quotas, no latency; {args.workers} workers "
        f"per operation; batch_rows {args.batch_rows}"
    )
    peaks: dict[str, dict[int, int]] = {mode: {} for mode in modes}
    exact = True
    for size in sorted(args.sizes):
        started = time.perf_counter()
        server = ChildSandbox(seed=args.seed, image_sets=size, latency_ms=0, quotas=False)
        with server:
            built = time.perf_counter() - started
            client = fetch_versions.sandbox_client(server)
            ds = client.list_datastores()["datastoreSummaries"][0]["datastoreId"]
            for mode in modes:
                with tempfile.TemporaryDirectory(prefix="hi-stream-") as folder:
                    root = Path(folder) / "versions"
                    figures = run_fetcher(server, ds, root, mode, args)
                    problem = check_dataset(root, figures) if mode == "dataset" else None
                exact = exact and figures["ok"] and problem is None
                peaks[mode][size] = figures["peak"]
                print(
                    f"{size:>7} image sets ({mode:>7}): peak RSS {figures['peak'] / MB:7.1f} MB "
                    f"(after imports {figures['base'] / MB:6.1f} MB); {figures['versions']} "
                    f"versions, {figures['requests']} requests in {figures['seconds']:.1f} s"
                    + (f", {figures['batches']} batches" if mode == "dataset" else "")
                    + f"; sandbox built in {built:.1f} s"
                    + (f"; WRONG: {problem}" if problem else "")
                )
    small, large = min(args.sizes), max(args.sizes)
    met = True
    for mode in modes:
        ratio = peaks[mode][large] / peaks[mode][small]
        if mode == "dataset":
            met = ratio <= TARGET
            print(
                f"  {'ok  ' if met else 'MISS'} streaming peak RSS at {large} within "
                f"{TARGET}x of {small}: {ratio:.2f}x"
            )
        else:
            print(f"  (contrast) in-memory peak RSS at {large} / at {small}: {ratio:.2f}x")
    print(f"  {'ok  ' if exact else 'MISS'} every dataset holds every version exactly once")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if exact and met else 1


if __name__ == "__main__":
    sys.exit(main())
