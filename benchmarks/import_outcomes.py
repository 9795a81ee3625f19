"""Reading a 1,000,000-line import job output from S3: rows per second and peak memory.

Run: ``python benchmarks/import_outcomes.py [--lines 1000000] [--failures 0.2] [--naive]``

An import job writes one JSON line per input file (``SUCCESS/success.ndjson``,
``FAILURE/failure.ndjson``, "Understanding import jobs" in AWS's developer guide) and a
job may list millions of files. :func:`hi_widgets.fetch_import_outcomes` streams the
lines into typed columns, so its memory should be the frame's, not the text's or a Python
object's per line.

Three processes, so that no one's memory hides in another's: moto's S3 server (holding
the objects), an uploader (generating the lines: file names like
``in/PATIENT^000123/IM0000123.dcm``, a fifth of them failures with ten kinds of message
that quote the file), and a fresh reader that imports everything, builds its S3 client,
reads the job's first block (a warm-up: what is set up once is not per line), then
resets its peak resident set (``/proc/self/clear_refs``) and reads the job.

Target: the reader's peak resident set grows by at most 2x the final frame's own size
(``files.memory_usage(deep=True)``) while reading (ok/MISS). With ``--naive`` a second
reader does what the streaming replaces (the whole body, ``json.loads`` per line,
``pd.DataFrame(records)``) for scale: its rows per second and peak are printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

DS = "0123456789abcdef0123456789abcdef"
JOB = "fedcba9876543210fedcba9876543210"
BUCKET = "hi-widgets-bench"
TARGET = 2.0
MB = 1024 * 1024
MESSAGES = (
    "DICOM attribute TransferSyntaxUID does not exist",
    "DICOM attribute SOPInstanceUID does not exist",
    "The file is not DICOM P10: the 'DICM' prefix is missing",
    "Pixel data verification failed: {file} frame {n} does not decode",
    "DICOM element PatientName of {file} exceeds the length limit (length {n} > 64)",
    "The DICOM file cannot be parsed: {file}: unexpected end of file at byte {n}",
    "Unsupported transfer syntax 1.2.840.10008.1.2.4.{n} in {file}",
    "The file is {n} bytes, more than 4294967296",
    "SOP class 1.2.840.10008.5.1.4.1.1.{n} is not supported",
    "Series of {file} conflicts with the primary image set",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _env(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def upload(lines: int, failures: float) -> None:
    """Write the manifest and the two lists (runs in its own process)."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    folder = f"out/{DS}-DicomImport-{JOB}/"
    every = max(1, round(1 / failures)) if failures > 0 else lines + 1
    success, failure = [], []
    for n in range(lines):
        name = f"in/PATIENT^{n // 10:06d}/IM{n:07d}.dcm"
        if n % every == 0:
            message = MESSAGES[n % len(MESSAGES)].format(file=name, n=n % 997)
            record = {
                "inputFile": name,
                "exception": {"exceptionType": "ValidationException", "message": message},
            }
            failure.append(json.dumps(record))
        else:
            record = {
                "inputFile": name,
                "importResponse": {
                    "imageSetId": f"{n // 50:032x}",
                    "imageSetVersion": 1 + n % 3,
                    "isPrimary": n % 11 != 0,
                },
            }
            success.append(json.dumps(record))
    summary = {
        "jobSummary": {
            "jobId": JOB,
            "datastoreId": DS,
            "numberOfScannedFiles": lines,
            "numberOfImportedFiles": len(success),
            "numberOfFilesWithCustomerError": len(failure),
            "numberOfFilesWithServerError": 0,
            "imageSetsSummary": [],
        }
    }
    objects = {
        "job-output-manifest.json": json.dumps(summary).encode(),
        "SUCCESS/success.ndjson": ("\n".join(success) + "\n").encode(),
        "FAILURE/failure.ndjson": ("\n".join(failure) + "\n").encode(),
    }
    for name, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=folder + name, Body=body)
    print(json.dumps({"bytes": sum(len(b) for b in objects.values())}))


def measure(naive: bool) -> None:
    """Read the job once and report (runs in a fresh process)."""
    import boto3
    import pandas as pd

    import hi_widgets as hw

    s3 = boto3.client("s3")
    # Warm up: read the job's first block and stop, so that what is loaded or set up
    # once (pyarrow's kernels, botocore's parsers, the connection pool) is not counted.
    warm = threading.Event()
    hw.fetch_import_outcomes(
        None,
        DS,
        JOB,
        output_s3_uri=f"s3://{BUCKET}/out/",
        s3_client=s3,
        progress=lambda step: warm.set(),
        cancel=warm,
    )
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    started = time.perf_counter()
    if naive:
        files = []
        for key in ("FAILURE/failure.ndjson", "SUCCESS/success.ndjson"):
            body = s3.get_object(Bucket=BUCKET, Key=f"out/{DS}-DicomImport-{JOB}/{key}")["Body"]
            files.extend(json.loads(line) for line in body.read().splitlines() if line)
        frame = pd.json_normalize(files)
    else:
        outcomes = hw.fetch_import_outcomes(
            None, DS, JOB, output_s3_uri=f"s3://{BUCKET}/out/", s3_client=s3
        )
        frame = outcomes.files
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    print(
        json.dumps(
            {
                "rows": len(frame),
                "seconds": seconds,
                "growth_mb": (peak - before) / 1024,
                "frame_mb": float(frame.memory_usage(deep=True).sum()) / MB,
            }
        )
    )


def _child(role: str, env: dict[str, str], *extra: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--role", role, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--failures", type=float, default=0.2)
    parser.add_argument("--naive", action="store_true", help="also time the naive reader")
    parser.add_argument("--role", choices=("main", "upload", "measure", "naive"), default="main")
    args = parser.parse_args(argv)
    if args.role == "upload":
        upload(args.lines, args.failures)
        return 0
    if args.role in ("measure", "naive"):
        measure(args.role == "naive")
        return 0

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the server's start, bounded
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("moto's S3 server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        env = _env(endpoint)
        sent = _child("upload", env, "--lines", str(args.lines), "--failures", str(args.failures))
        result = _child("measure", env)
        naive = _child("naive", env) if args.naive else None
    finally:
        server.terminate()
        server.wait(timeout=30)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"import outcomes: {args.lines:,} lines, {sent['bytes'] / MB:.0f} MB of ndjson "
        f"(load average {load})"
    )
    rate = result["rows"] / result["seconds"]
    print(
        f"  fetch_import_outcomes: {result['rows']:,} rows in {result['seconds']:.1f} s "
        f"= {rate:,.0f} rows/s"
    )
    ratio = result["growth_mb"] / result["frame_mb"]
    verdict = "ok" if ratio <= TARGET and result["rows"] == args.lines else "MISS"
    print(
        f"  peak RSS growth {result['growth_mb']:.0f} MB vs frame memory_usage(deep=True) "
        f"{result['frame_mb']:.0f} MB: {ratio:.2f}x (target <= {TARGET:g}x) {verdict}"
    )
    if naive is not None:
        naive_rate = naive["rows"] / naive["seconds"]
        print(
            f"  naive reader (whole body, json.loads per line, json_normalize): "
            f"{naive_rate:,.0f} rows/s, peak RSS growth {naive['growth_mb']:.0f} MB; the "
            f"streaming reader runs at {rate / naive_rate:.1f}x its speed with "
            f"{result['growth_mb'] / naive['growth_mb']:.2f}x its peak"
        )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
