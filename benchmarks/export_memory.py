"""Peak memory of exporting a large versions frame, per format, each in its own process.

Run: ``.venv/bin/python benchmarks/export_memory.py [--rows N] [--formats csv json parquet]``

Target (issue 15): writing a frame costs at most the frame's own size on top of it
(``DataFrame.memory_usage(deep=True)``), whatever the format; before chunked writing,
1e6 rows peaked at 1.84 GB (JSON) and 1.13 GB (CSV). Each format runs in a fresh child
process (so one format's freed memory cannot hide another's), which builds the frame,
then measures :func:`hi_widgets.export_frame` to a temporary folder in two ways:

* ``traced``: the peak of :mod:`tracemalloc` during the export, i.e. what Python, numpy
  and pandas allocate for it (pyarrow's own allocator is not traced);
* ``rss``: the growth of the process's peak resident set over its resident set before
  the export, which includes pyarrow. On Linux the peak (``VmHWM``) is reset just before
  the export (``/proc/self/clear_refs``), so building the frame does not count.

The larger of the two is compared with the frame's size; ok/MISS is printed per format.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np
import pandas as pd

FORMATS = ("csv", "json", "parquet")
MB = 1024 * 1024


def synthetic_frame(rows: int) -> pd.DataFrame:
    """A typed versions frame (the hi_widgets schema) of ``rows`` rows, built vectorised."""
    from hi_widgets.api.tables import versions_dtypes

    dtypes = versions_dtypes()
    index = np.arange(rows)
    image_set = index // 10
    # As AWS gives them: createdAt is the image set's (the same on every version),
    # updatedAt each version's own.
    made = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(index * 7, unit="min")
    created = made - pd.to_timedelta((index % 10) * 7, unit="min")
    updated = made + pd.to_timedelta(120 + index % 60, unit="s")
    ids = pd.Series(image_set).map("{:032x}".format)
    states = dtypes["imageSetWorkflowStatus"].categories
    columns = {
        "datastoreId": "0123456789abcdef0123456789abcdef",
        "imageSetId": ids,
        "versionId": index % 10 + 1,
        "imageSetState": "ACTIVE",
        "imageSetWorkflowStatus": np.asarray(states)[index % len(states)],
        "createdAt": created,
        "updatedAt": updated,
        "deletedAt": pd.Series(pd.NaT, index=index, dtype=dtypes["deletedAt"]),
        "message": np.where(index % 7 == 0, "failed: bad tag", None),
        "imageSetArn": "arn:aws:medical-imaging:us-east-1:123456789012:datastore/0123/imageset/"
        + ids,
        "forced": index % 3 == 0,
        "isPrimary": index % 5 != 0,
        "lastAccessedAt": pd.Series(pd.NaT, index=index, dtype=dtypes["lastAccessedAt"]),
        "storageTier": "FREQUENT_ACCESS",
        "changedAt": updated,
        "sincePrevious": pd.Series(updated).diff().where(index % 10 != 0),
        "isLatest": index % 10 == 9,
    }
    frame = pd.DataFrame({name: columns[name] for name in dtypes}, index=pd.RangeIndex(rows))
    return frame.astype(dtypes)


def _current_rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current resident set (Linux >= 4.0)
    except OSError:
        pass


def _peak_rss() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def measure(fmt: str, rows: int) -> dict[str, float]:
    """Child process: build the frame, export it once, return sizes in bytes."""
    from hi_widgets.export.files import export_frame

    frame = synthetic_frame(rows)
    size = int(frame.memory_usage(deep=True).sum())
    with tempfile.TemporaryDirectory() as folder:
        _reset_peak_rss()
        before = _current_rss()
        tracemalloc.start()
        path = export_frame(frame, os.path.join(folder, f"versions.{fmt}"))
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = max(0, _peak_rss() - before)
        file_size = path.stat().st_size
    return {"frame": size, "traced": traced, "rss": rss, "file": file_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--child", choices=FORMATS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rows)))
        return 0
    print(
        f"export peak memory, {args.rows:,} rows ({platform.python_implementation()} "
        f"{platform.python_version()}, pandas {pd.__version__})"
    )
    misses = 0
    for fmt in args.formats:
        done = subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--child", fmt],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{fmt:8} failed: {done.stderr.strip().splitlines()[-1:]}")
            misses += 1
            continue
        m = json.loads(done.stdout)
        extra = max(m["traced"], m["rss"])
        ratio = extra / m["frame"]
        verdict = "ok" if ratio <= 1.0 else "MISS"
        misses += verdict == "MISS"
        print(
            f"{fmt:8} frame {m['frame'] / MB:7.0f} MB  export peak +{extra / MB:6.0f} MB "
            f"(traced {m['traced'] / MB:.0f}, rss {m['rss'] / MB:.0f})  "
            f"= {ratio:4.2f}x frame (target <= 1.00x)  file {m['file'] / MB:.0f} MB  {verdict}"
        )
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
