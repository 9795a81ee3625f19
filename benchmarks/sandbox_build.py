"""Building the sandbox's demo datastore: time and memory against its size, in one run.

Run: ``nice -n 10 .venv/bin/python benchmarks/sandbox_build.py [--sizes 10000 100000]``

Each size is built in a fresh process (so its peak RSS is its own), as
``sandbox.start(image_sets=N)`` builds it (:func:`hi_widgets.sandbox.demo.data.populate`:
the deferred ``demo-radiology``, see :mod:`hi_widgets.sandbox.demo.deferred`, and the eager
``demo-oncology``). Targets (issue 23): building N image sets is linear in N (seconds per
image set at the largest size within 1.3x of the smallest), and 100,000 image sets build
in under a minute and under 2 GB. Wall time depends on the machine's load (it is printed,
with the process's own CPU time, which depends on it much less). For information, each
child also times what the deferral moves to later: the first read of one image set (its
group's history written), a search's first page over the whole datastore (its matches
sorted) and its next page (sorted already), and reading every version of 200 image sets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LINEARITY_TARGET = 1.3
LARGE, LARGE_SECONDS, LARGE_BYTES = 100_000, 60.0, 2 * 2**30

CHILD = """
import json, resource, sys, time
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.demo.data import populate
from hi_widgets.sandbox.runtime.clock import ManualClock

store = Backend(ManualClock())
started, cpu = time.perf_counter(), time.process_time()
populate(store, seed=0, image_sets=int(sys.argv[1]))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
ds = store.datastore_ids()[0]
ids = store.image_set_ids(ds)
started = time.perf_counter()
store.get_image_set(datastore_id=ds, image_set_id=ids[len(ids) // 2 + 1])
first_read = time.perf_counter() - started
started = time.perf_counter()
page = store.search_image_sets(datastore_id=ds, search_criteria={}, max_results=50)
search_page = time.perf_counter() - started
started = time.perf_counter()
store.search_image_sets(datastore_id=ds, search_criteria={}, next_token=page["nextToken"])
next_page = time.perf_counter() - started
started = time.perf_counter()
for image_set_id in ids[:200]:
    store.list_image_set_versions(datastore_id=ds, image_set_id=image_set_id)
reads = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak, "first_read": first_read,
                  "search_page": search_page, "next_page": next_page, "reads_200": reads}))
"""


def _build(size: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(size)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, LARGE])
    sizes = sorted(parser.parse_args().sizes)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {size: _build(size) for size in sizes}
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size, result in results.items():
        print(
            f"{size:>7} image sets: {result['seconds']:7.1f} s "
            f"({1000 * result['seconds'] / size:.3f} ms each; CPU {result['cpu']:.1f} s), "
            f"peak RSS {result['peak'] / 2**20:,.0f} MB; then: first read of a deferred "
            f"image set {1000 * result['first_read']:.0f} ms, a search's first page "
            f"{1000 * result['search_page']:.0f} ms and its next "
            f"{1000 * result['next_page']:.1f} ms, every version of 200 image sets "
            f"{result['reads_200']:.1f} s"
        )
    small, large = sizes[0], sizes[-1]
    if small != large:
        ratio = (results[large]["seconds"] / large) / (results[small]["seconds"] / small)
        verdict = "ok" if ratio <= LINEARITY_TARGET else "MISS"
        print(
            f"time per image set, {large} vs {small}: {ratio:.2f}x "
            f"(target <= {LINEARITY_TARGET}x) {verdict}"
        )
    if LARGE in results:
        result = results[LARGE]
        fast = result["seconds"] < LARGE_SECONDS
        small_enough = result["peak"] < LARGE_BYTES
        print(
            f"{LARGE} image sets within 60 s: {'ok' if fast else 'MISS'} "
            f"({result['seconds']:.1f} s); within 2 GB: {'ok' if small_enough else 'MISS'} "
            f"({result['peak'] / 2**30:.2f} GB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
