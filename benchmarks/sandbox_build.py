"""Building the sandbox's demo datastore: time and memory against its size, in one run.

Run: ``.venv/bin/python benchmarks/sandbox_build.py [--sizes 2000 10000 100000]``

Each size is built in a fresh process (so its peak RSS is its own). Targets (issue 23):
building N image sets is linear in N (seconds per image set at the largest size within
1.3x of the smallest), and 100,000 image sets build in under a minute and under 2 GB.
"""

from __future__ import annotations

import argparse
import json
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
started = time.perf_counter()
populate(store, seed=0, image_sets=int(sys.argv[1]))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": peak}))
"""


def _build(size: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(size)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10_000])
    sizes = sorted(parser.parse_args().sizes)
    results = {size: _build(size) for size in sizes}
    for size, result in results.items():
        print(
            f"{size:>7} image sets: {result['seconds']:7.1f} s "
            f"({1000 * result['seconds'] / size:.2f} ms each), peak RSS "
            f"{result['peak'] / 2**20:,.0f} MB"
        )
    small, large = sizes[0], sizes[-1]
    ratio = (results[large]["seconds"] / large) / (results[small]["seconds"] / small)
    verdict = "ok" if ratio <= LINEARITY_TARGET else "MISS"
    print(f"time per image set, {large} vs {small}: {ratio:.2f}x (target <= 1.3x) {verdict}")
    if LARGE in results:
        result = results[LARGE]
        fits = result["seconds"] < LARGE_SECONDS and result["peak"] < LARGE_BYTES
        print(f"{LARGE} image sets within 60 s and 2 GB: {'ok' if fits else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
