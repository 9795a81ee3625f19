"""Benchmark: the ceiling of one process, the client CPU per request and the rate it allows.

A sandbox child process (as in ``benchmarks/fetch_versions.py``) serves ``--image-sets``
image sets (default 300) with **no quotas and no latency**, so nothing but the two
processes' CPU limits the rate. In this process, interleaved over ``--rounds`` rounds
(the medians are printed), the same requests are sent by:

1. ``fetch_versions`` (1 worker: its CPU per request, everything included: pacing,
   retries' bookkeeping, the walk, records, the frame, the result);
2. botocore alone: the same ListImageSetVersions pages, in a plain loop, from the very
   client ``fetch_versions`` sends from (its single-attempt twin);
3. a plain boto3 client as a user makes one (botocore's default retries and parser);
4. a reference floor: the same signed requests with ``http.client``, botocore's SigV4
   signer and ``json.loads`` and nothing else (no error handling, no proxies, no TLS
   options: not a client, a measure of what botocore's layers cost);
5. ``fetch_versions`` with ``processes=`` a :class:`~hi_widgets.RequestProcesses` of one
   child: the CPU left in the calling process when botocore runs elsewhere (its
   ceiling with request processes);

then GetImageSet requests (``strategy="get"``) for the first image sets, by (1) and (2);
then the rate one process sustains: ``fetch_versions`` with ``--workers`` threads
(default 16) over every image set, ``quota_rates=`` far above the requests.

CPU is ``time.process_time`` of this process (all its threads, not the sandbox child):
it survives a loaded machine far better than wall time. The sustained rate is wall time;
it is printed with the client's CPU use (busy fraction of one core) and the child's, so
which process bounded it shows, and with the CPU-bound ceiling ``1 / (CPU per request)``
of those runs (what one process reaches with a core of its own). Every figure is printed
with the load average. Targets (ok/MISS, not part of the exit status):

- ``fetch_versions`` spends at most 1.25x the CPU per request of botocore alone (2);
- one process sustains at least 10x the published ListImageSetVersions and GetImageSet
  quotas (25/s each, :mod:`hi_widgets.limits.quotas`), and, stated separately, 40x.

Run: ``python benchmarks/client_ceiling.py [--image-sets 300] [--workers 16]
[--rounds 3] [--get-image-sets 40]``, preferably under ``nice``. Exit status 0 when
every fetch returned every version.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from fetch_versions import ChildSandbox, sandbox_client

from hi_widgets import sandbox
from hi_widgets.api.single_attempt import single_attempt_client
from hi_widgets.bulk import Item, RequestProcesses, fetch_versions
from hi_widgets.limits.quotas import PUBLISHED_QUOTAS

UNLIMITED = {"ListImageSetVersions": (1e6, 1e6), "GetImageSet": (1e6, 1e6)}
OVERHEAD_TARGET = 1.25  # fetch_versions' CPU per request / botocore alone's
RATE_TARGETS = (10, 40)  # multiples of the published quota


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def list_pages(client: Any, ds: str, image_set: str) -> int:
    """Every ListImageSetVersions page of one image set, as fetch_versions asks for them."""
    requests, token = 0, None
    while True:
        params = {"datastoreId": ds, "imageSetId": image_set, "maxResults": 50}
        if token:
            params["nextToken"] = token
        page = client.list_image_set_versions(**params)
        requests += 1
        token = page.get("nextToken")
        if not token:
            return requests


def get_versions(client: Any, ds: str, image_set: str, count: int) -> int:
    """GetImageSet for every version of one image set (the ``strategy="get"`` requests)."""
    for version in range(count, 0, -1):
        client.get_image_set(datastoreId=ds, imageSetId=image_set, versionId=str(version))
    return count


class SignedHTTP:
    """The reference floor (4): signed requests over one ``http.client`` connection."""

    def __init__(self, client: Any) -> None:
        self._credentials = client._get_credentials().get_frozen_credentials()
        self._region = client.meta.region_name
        self._url = client.meta.endpoint_url
        parts = urlsplit(self._url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port)

    def _post(self, path: str) -> dict[str, Any]:
        request = AWSRequest("POST", self._url + path, data=b"")
        SigV4Auth(self._credentials, "medical-imaging", self._region).add_auth(request)
        self._connection.request("POST", path, body=b"", headers=dict(request.headers.items()))
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)

    def list_image_set_versions(
        self, datastoreId: str, imageSetId: str, maxResults: int, nextToken: str = ""
    ) -> dict[str, Any]:
        query = f"maxResults={maxResults}"
        if nextToken:
            query += f"&nextToken={quote(nextToken, safe='')}"
        path = f"/datastore/{datastoreId}/imageSet/{imageSetId}/listImageSetVersions"
        return self._post(f"{path}?{query}")

    def get_image_set(self, datastoreId: str, imageSetId: str, versionId: str) -> dict[str, Any]:
        path = f"/datastore/{datastoreId}/imageSet/{imageSetId}/getImageSet"
        return self._post(f"{path}?version={versionId}")


def child_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a child process so far, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(fn: Callable[[], int]) -> dict[str, float]:
    """Run ``fn`` (it returns its request count); CPU and wall per request."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    requests = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"requests": requests, "wall": wall, "cpu": cpu, "cpu_ms": cpu / requests * 1000}


def fetched(client: Any, items: list[Item], truth: int, **options: Any) -> int:
    """fetch_versions; its request count, after checking every version came back."""
    result = fetch_versions(client, items, quota_rates=UNLIMITED, **options)
    if len(result.frame) != truth or len(result.errors):
        raise SystemExit(f"FAILED: {len(result.frame)} of {truth} versions, {result.errors}")
    return result.stats.requests


def cpu_table(scenarios: dict[str, Callable[[], int]], rounds: int) -> dict[str, float]:
    """Each scenario ``rounds`` times, interleaved; print and return median ms per request."""
    runs: dict[str, list[float]] = {name: [] for name in scenarios}
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for name, fn in scenarios.items():
            out = measure(fn)
            runs[name].append(out["cpu_ms"])
            counts[name] = int(out["requests"])
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        spread = " ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<44}{medians[name]:>6.2f} ms  ({counts[name]} requests; runs {spread})")
    print(f"  ({load()} on {os.cpu_count()} CPUs)")
    return medians


def verdict(met: bool) -> str:
    return "ok  " if met else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-sets", type=int, default=300)
    parser.add_argument("--get-image-sets", type=int, default=40)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    store = sandbox.Sandbox(seed=args.seed, image_sets=args.image_sets).store
    ds = store.datastore_ids()[0]
    items = [(ds, i) for i in store.image_set_ids(ds)]
    counts = {item: store.version_count(*item) for item in items}
    truth = sum(counts.values())
    get_items = items[: args.get_image_sets]
    get_truth = sum(counts[item] for item in get_items)
    print(
        f"{len(items)} image sets, {truth} versions; sandbox child without quotas or "
        f"latency; {load()} on {os.cpu_count()} CPUs"
    )
    child = {"seed": args.seed, "image_sets": args.image_sets, "latency_ms": 0}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(ChildSandbox(**child, quotas=False))
        client = sandbox_client(server)
        twin = single_attempt_client(client, args.workers)
        plain = boto3.client(
            "medical-imaging",
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            config=Config(inject_host_prefix=False),
            **server.credentials(),
        )
        floor = SignedHTTP(client)
        helpers = stack.enter_context(RequestProcesses(1))
        fetched(client, items[:3], sum(counts[i] for i in items[:3]))  # warm: twin, pools
        for warm in (twin, plain, floor):
            list_pages(warm, *items[0])

        print("\nclient CPU per ListImageSetVersions request (median):")
        listing = cpu_table(
            {
                "(1) fetch_versions, 1 worker": lambda: fetched(
                    client, items, truth, max_workers=1
                ),
                "(2) botocore alone (fetch_versions' client)": lambda: sum(
                    list_pages(twin, *item) for item in items
                ),
                "(3) plain boto3 client": lambda: sum(list_pages(plain, *i) for i in items),
                "(4) floor: http.client + SigV4 + json": lambda: sum(
                    list_pages(floor, *item) for item in items
                ),
                "(5) fetch_versions, processes=1 (this process)": lambda: fetched(
                    client, items, truth, max_workers=1, processes=helpers
                ),
            },
            args.rounds,
        )
        print("\nclient CPU per GetImageSet request (median):")
        getting = cpu_table(
            {
                "(1) fetch_versions, 1 worker, get": lambda: fetched(
                    client, get_items, get_truth, max_workers=1, strategy="get"
                ),
                "(2) botocore alone (fetch_versions' client)": lambda: sum(
                    get_versions(twin, *item, counts[item]) for item in get_items
                ),
                "(4) floor: http.client + SigV4 + json": lambda: sum(
                    get_versions(floor, *item, counts[item]) for item in get_items
                ),
            },
            max(1, args.rounds - 1),
        )

        print(
            f"\nthe rate of one process: fetch_versions, {args.workers} workers, every image set"
        )
        rates, sustained_cpu = [], []
        for _ in range(args.rounds):
            before = child_cpu(server.process.pid) if server.process else float("nan")
            out = measure(lambda: fetched(client, items, truth, max_workers=args.workers))
            server_cpu = child_cpu(server.process.pid) - before if server.process else 0.0
            rate = out["requests"] / out["wall"]
            rates.append(rate)
            sustained_cpu.append(out["cpu_ms"])
            print(
                f"  {out['requests']} requests in {out['wall']:.2f} s: {rate:.0f} requests/s; "
                f"client CPU {out['cpu_ms']:.2f} ms/request, busy {out['cpu'] / out['wall']:.0%} "
                f"of a core; sandbox busy {server_cpu / out['wall']:.0%}; {load()}"
            )
        floor.__dict__["_connection"].close()

    ratio = (
        listing["(1) fetch_versions, 1 worker"]
        / listing["(2) botocore alone (fetch_versions' client)"]
    )
    get_ratio = (
        getting["(1) fetch_versions, 1 worker, get"]
        / getting["(2) botocore alone (fetch_versions' client)"]
    )
    sustained = statistics.median(rates)
    ceiling = 1000 / statistics.median(sustained_cpu)  # CPU per request with every worker
    published = {op: PUBLISHED_QUOTAS[op].rate for op in ("ListImageSetVersions", "GetImageSet")}
    print("\nsummary")
    for op, quota in published.items():
        print(
            f"  {op} quota {quota:g}/s: one process sustained {sustained:.0f}/s = "
            f"{sustained / quota:.1f}x the quota; CPU-bound ceiling with a core of its own "
            f"{ceiling:.0f}/s = {ceiling / quota:.1f}x"
        )
    caller = listing["(5) fetch_versions, processes=1 (this process)"]
    print(
        f"  with processes=, the calling process spends {caller:.2f} ms per request "
        f"(the rest is in its request processes): its own ceiling is {1000 / caller:.0f}/s = "
        f"{1000 / caller / min(published.values()):.0f}x the quota, given a core per "
        "request process"
    )
    print(f"  targets ({load()} on {os.cpu_count()} CPUs):")
    print(
        f"  {verdict(ratio <= OVERHEAD_TARGET)} fetch_versions CPU per request within "
        f"{OVERHEAD_TARGET}x of botocore alone: list {ratio:.2f}x, get {get_ratio:.2f}x"
    )
    quota = min(published.values())
    for multiple in RATE_TARGETS:
        print(
            f"  {verdict(sustained >= multiple * quota)} one process sustains {multiple}x the "
            f"published quota ({multiple * quota:g}/s): {sustained:.0f}/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
