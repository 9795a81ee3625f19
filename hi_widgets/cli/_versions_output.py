"""``hi-widgets versions``: saving what was fetched, and the exit status.

A run never replaces good data with less: an incomplete run writes beside an existing
file, a failed dataset write is rescued to a local Parquet file, and every failure is
listed in full on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pandas as pd

from hi_widgets.api.errors import CREDENTIALS_HINT
from hi_widgets.api.tables import empty_versions_frame
from hi_widgets.bulk import FetchResult
from hi_widgets.cli._versions_inputs import CREDENTIALS_HELP
from hi_widgets.export.dataset import export_dataset
from hi_widgets.export.dataset_store import parse_root
from hi_widgets.export.files import export_frame

DatasetWriter = Callable[[pd.DataFrame], str]
"""Writes the fetched versions to a dataset; returns what was written, for the summary."""


@dataclass(frozen=True)
class DatasetTarget:
    """Where ``-o`` names a dataset: its root, its S3 client (if on S3), and the writer."""

    root: str
    s3_client: Any
    write: DatasetWriter


def dataset_writer(
    args: argparse.Namespace, *, uid_key: str | None = None
) -> DatasetTarget | None:
    """Return how to write a dataset when ``-o`` names one, else None (``-o`` is a file).

    ``-o s3://bucket/prefix/``, a path ending in ``/`` or an existing folder is a
    hive-partitioned Parquet dataset (:func:`hi_widgets.export.dataset.export_dataset`,
    partitioned by datastoreId), appended to without duplicating stored versions. The
    writer takes the frame and returns what was written, for the summary line.

    Raises ValueError before any HealthImaging request: for options a dataset cannot
    take, and for an S3 location that cannot be listed with ``--profile``/``--region``
    (the endpoint comes from boto3's configuration, e.g. ``AWS_ENDPOINT_URL_S3``), so an
    hour of fetching does not end at a wrong bucket. If the dataset write still fails, the
    fetched versions are saved to a Parquet file in the current folder first. ``uid_key``
    (``--uid-key-env``) keys the replacement UIDs of the dataset and of that file.
    """
    output = args.output
    if not ("://" in output or output.endswith(("/", os.sep)) or os.path.isdir(output)):
        return None
    if args.format not in (None, "parquet"):
        raise ValueError(f"--format {args.format}: a dataset (-o {output}) is always Parquet")
    export_dataset(empty_versions_frame(), output)  # checks the arguments; no I/O when empty
    s3_client = None
    kind, bucket, prefix = parse_root(output)
    if kind == "s3":
        try:
            session = boto3.Session(profile_name=args.profile, region_name=args.region)
            s3_client = session.client("s3")
            s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise ValueError(f"cannot use -o {output}: {error}") from error

    def write(frame: pd.DataFrame) -> str:
        try:
            done = export_dataset(
                frame, output, include_phi=args.include_phi, uid_key=uid_key, s3_client=s3_client
            )
        except Exception:
            stamp = time.strftime("%Y%m%dT%H%M%S")
            rescue = os.path.abspath(f"hi-widgets-versions-{stamp}.parquet")
            export_frame(frame, rescue, include_phi=args.include_phi, uid_key=uid_key)
            print(f"error: writing {output} failed; the versions are in {rescue}", file=sys.stderr)
            raise
        return (
            f"{output} ({len(done.files)} new file(s), {done.rows_written} new row(s), "
            f"{done.rows_skipped} already stored)"
        )

    return DatasetTarget(output, s3_client, write)


def save_dataset(result: FetchResult, write_dataset: DatasetWriter) -> bool:
    """Append the fetched versions to the dataset (never removes stored versions).

    Returns whether they are in the dataset (or nothing was fetched). After a streaming
    fetch (``--all``, :attr:`FetchResult.dataset` set), the dataset has what was
    streamed; the frame holds only what a failed batch write left in memory.
    """
    streamed = result.dataset
    if streamed is not None and result.frame.empty:
        print(
            f"wrote {streamed.root} ({len(streamed.files)} new file(s) in {streamed.batches} "
            f"batch(es), {streamed.rows_written} new row(s), {streamed.rows_skipped} already "
            f"stored): {result.summary()}",
            file=sys.stderr,
        )
        return True
    if result.frame.empty:
        print("nothing was fetched: the dataset is left as it was", file=sys.stderr)
        return True
    try:
        written = write_dataset(result.frame)
    except Exception as error:  # the writer saved the versions to a file and said where
        print(f"error: {error}", file=sys.stderr)
        return False
    print(f"wrote {written}: {result.summary()}", file=sys.stderr)
    return True


def _beside(target: Path, when: datetime | None = None) -> Path:
    """``prev.parquet`` -> ``prev.partial-20240501T120000Z.parquet`` in the same folder."""
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return target.with_name(f"{target.stem}.partial-{stamp}{target.suffix}")


def save_versions(
    result: FetchResult,
    target: Path,
    fmt: str,
    args: argparse.Namespace,
    *,
    uid_key: str | None = None,
) -> bool:
    """Write the fetched versions without ever replacing good data with less.

    Returns whether they went where they were meant to (see :func:`save_frame`).
    """
    complete = result.errors.empty and not result.stats.cancelled
    return save_frame(
        result.frame,
        target,
        fmt,
        args,
        complete=complete,
        summary=result.summary,
        uid_key=uid_key,
    )


def save_frame(
    frame: pd.DataFrame,
    target: Path,
    fmt: str,
    args: argparse.Namespace,
    *,
    complete: bool,
    summary: Callable[[], str],
    noun: str = "versions",
    uid_key: str | None = None,
) -> bool:
    """Write a fetched frame (``-o``) without ever replacing good data with less.

    Returns whether it went where it was meant to (``target``, or beside it for an
    incomplete run: ``complete`` false), or nothing was fetched. If that file cannot be
    written (a full disk, a vanished folder), the rows go to the first fallback that can
    be written, beside ``target`` or in the temporary folder, and this returns False.
    Says where on stderr, with ``summary()`` and the ``noun`` of what the rows are. The
    file is de-identified unless ``args.include_phi``, its UIDs replaced under ``uid_key``
    (a random key when None).
    """
    fetched = len(frame)
    if fetched == 0:
        left = f"{target} left as it was" if target.exists() else "no file written"
        print(f"nothing was fetched: {left}", file=sys.stderr)
        return True
    destination = target
    if not complete and target.exists() and not args.force:
        destination = _beside(target)
        print(
            f"this run is incomplete, so {target} is not replaced: writing the {fetched} "
            f"{noun} fetched to {destination} (pass --force to replace {target})",
            file=sys.stderr,
        )
    fallbacks = [destination, _beside(target), Path(tempfile.gettempdir()) / _beside(target).name]
    for path in dict.fromkeys(fallbacks):
        try:
            export_frame(frame, path, format=fmt, include_phi=args.include_phi, uid_key=uid_key)
        except OSError as error:
            print(f"error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
            continue
        if path != destination:
            print(
                f"saved the fetched {noun} to {path} instead: {destination} was not written",
                file=sys.stderr,
            )
        print(f"wrote {path}: {summary()}", file=sys.stderr)
        return path == destination
    print(f"error: the fetched {noun} could not be saved anywhere", file=sys.stderr)
    return False


NOT_WRITTEN = 3
"""Exit status when the fetched versions could not be written where ``-o`` asked."""


def report(result: FetchResult, saved: bool) -> int:
    """Print what went wrong, in full; return the exit status.

    ``saved``: whether the versions are where ``-o`` asked. When they are not, the exit
    status is :data:`NOT_WRITTEN` whatever else happened (a script must not take the
    file for the result), after the interruption or the failures are reported.
    """
    status = 0
    if result.stats.cancelled:
        where = "the file holds" if saved else "saved as said above:"
        print(
            f"interrupted: {len(result.pending)} image set(s) were not fetched; {where} "
            "the complete histories fetched before Ctrl-C",
            file=sys.stderr,
        )
        status = 130
    elif not result.errors.empty:
        lines = [f"{len(result.errors)} image set(s) failed:"]
        for row in result.errors.itertuples(index=False):
            message = str(row.message).replace(CREDENTIALS_HINT, CREDENTIALS_HELP + ".")
            lines.append(f"  {row.datastoreId} {row.imageSetId} {row.error}: {message}")
        print("\n".join(lines), file=sys.stderr)
        status = 1
    return status if saved else NOT_WRITTEN
