"""The ``hi-widgets`` command line.

Each subcommand registers itself in :func:`build_parser` through an ``_add_<name>``
function and runs through the ``func`` default it sets, so subcommands stay independent.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from ._version import __version__

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
EXPORT_FORMATS = ("csv", "parquet", "json")  # hi_widgets.export.FORMATS, without the import


# ----------------------------------------------------------------------- sandbox command


def _add_sandbox(subparsers: argparse._SubParsersAction) -> None:
    # The sandbox owns its options (it also runs alone: python -m hi_widgets.sandbox).
    from .sandbox import command

    parser = subparsers.add_parser("sandbox", help=command.HELP, description=command.DESCRIPTION)
    command.add_arguments(parser)


# -------------------------------------------------------------------------- demo command


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    from . import app

    parser = subparsers.add_parser(
        "demo",
        help="serve the explorer as a Voila app on the local sandbox until Ctrl-C",
        description=(
            "Serve the ImageSetExplorer as a Voila web app on this machine. The app's "
            "kernel starts the local sandbox with demo data, so no AWS account is needed."
        ),
    )
    app.add_arguments(parser)
    parser.set_defaults(func=app.run)


# ---------------------------------------------------------------------- versions command


def _add_versions(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "versions",
        help="export the version histories of image sets to a file",
        description=(
            "Fetch every version of the given image sets at the account's request quota "
            "(retrying throttles and transient errors) and write them to a CSV, Parquet or "
            "JSON file. Exit status: 0 all fetched, 1 some image sets failed (the file "
            "holds the others; the error table is printed), 2 bad arguments or identifiers "
            "(nothing is requested)."
        ),
    )
    parser.add_argument("--datastore", metavar="ID", help="datastore id (32 characters)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--image-set",
        metavar="ID",
        nargs="+",
        action="extend",
        dest="image_sets",
        help="image set ids (repeatable)",
    )
    source.add_argument(
        "--from-file",
        metavar="PATH",
        help="CSV with an imageSetId column (and optionally datastoreId), or one id per line",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="file to write; a folder (ending in /) or s3://bucket/prefix/: append to a "
        "Parquet dataset partitioned by datastoreId",
    )
    parser.add_argument(
        "--format", choices=EXPORT_FORMATS, help="file format (default: from the suffix)"
    )
    parser.add_argument("--profile", help="AWS profile name")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument(
        "--endpoint-url", help="custom endpoint, e.g. the local sandbox (http://127.0.0.1:8080)"
    )
    parser.add_argument(
        "--include-phi", action="store_true", help="keep patient (PHI) columns in the file"
    )
    parser.add_argument(
        "--strategy",
        choices=("auto", "list", "get"),
        default="auto",
        help="list versions, get them one by one, or list with get fallback (default: auto)",
    )
    parser.add_argument(
        "--max-workers", type=int, default=8, help="concurrent requests (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run_versions)


def read_id_file(path: str, datastore: str | None) -> list[tuple[str | None, str]]:
    """Read (datastoreId, imageSetId) pairs from a CSV with a header or a plain id list.

    A first line naming an ``imageSetId`` column makes the file a CSV (an optional
    ``datastoreId`` column overrides ``datastore`` per row); otherwise every non-blank line
    not starting with ``#`` is one image set id. Identifiers are not validated here.
    """
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), "")
    if "imageSetId" in [cell.strip() for cell in header.split(",")]:
        rows = csv.DictReader(line for line in lines if line.strip())
        return [
            (
                (row.get("datastoreId") or "").strip() or datastore,
                (row["imageSetId"] or "").strip(),
            )
            for row in rows
        ]
    return [
        (datastore, line.strip())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _run_versions(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from .bulk import fetch_versions
    from .client import make_client
    from .errors import CredentialsError, InvalidIdentifierError
    from .export import SUFFIXES, export_frame
    from .ids import validate_datastore_id

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:
        datastore = None if args.datastore is None else validate_datastore_id(args.datastore)
    except InvalidIdentifierError as error:
        return fail(f"--datastore: {error}")
    if args.from_file is not None:
        try:
            pairs = read_id_file(args.from_file, datastore)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            return fail(f"cannot read --from-file {args.from_file}: {error}")
        if not pairs:
            return fail(f"--from-file {args.from_file} holds no image set ids")
    else:
        pairs = [(datastore, image_set) for image_set in args.image_sets]
    if any(ds is None for ds, _ in pairs):
        return fail("give --datastore (or a datastoreId column in --from-file)")
    try:  # -o is an s3:// URI or a folder: append to a Parquet dataset instead of a file
        write_dataset = _dataset_writer(args)
    except ValueError as error:
        return fail(str(error))
    output = Path(args.output)
    if write_dataset is None and args.format is None and output.suffix.lower() not in SUFFIXES:
        return fail(
            f"cannot tell the format of {args.output}: use --format or a suffix among "
            f"{', '.join(SUFFIXES)}"
        )
    if write_dataset is None and not output.parent.is_dir():
        return fail(f"the folder of {args.output} does not exist")
    if args.max_workers < 1:
        return fail("--max-workers must be at least 1")
    try:
        client = make_client(
            profile=args.profile,
            region=args.region,
            endpoint_url=args.endpoint_url,
            max_attempts=1,  # fetch_versions retries itself, paced by its rate limiter
        )
    except (CredentialsError, ValueError) as error:
        return fail(str(error))

    from tqdm import tqdm

    bar = tqdm(
        total=len(dict.fromkeys(pairs)),
        unit="image set",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )
    try:
        with bar:
            result = _fetch_until_interrupted(
                lambda cancel: fetch_versions(
                    client,
                    pairs,
                    strategy=args.strategy,
                    max_workers=args.max_workers,
                    progress=lambda done, total, item: bar.update(1),
                    cancel=cancel,
                )
            )
    except InvalidIdentifierError as error:
        return fail(str(error))
    if write_dataset is not None:
        written = write_dataset(result.frame)
    else:
        export_frame(result.frame, output, format=args.format, include_phi=args.include_phi)
        written = str(output)
    print(f"wrote {written}: {result.summary()}", file=sys.stderr)
    if result.stats.cancelled:
        print(
            f"interrupted: {len(result.pending)} image set(s) were not fetched; the file "
            "holds the complete histories fetched before Ctrl-C",
            file=sys.stderr,
        )
        return 130
    if not result.errors.empty:
        print(
            f"{len(result.errors)} image set(s) failed:\n"
            + result.errors.to_string(index=False, max_colwidth=120),
            file=sys.stderr,
        )
        return 1
    return 0


def _dataset_writer(args: argparse.Namespace):
    """Return how to write a dataset when ``-o`` names one, else None (``-o`` is a file).

    ``-o s3://bucket/prefix/``, a path ending in ``/`` or an existing folder is a
    hive-partitioned Parquet dataset (:func:`hi_widgets.dataset.export_dataset`,
    partitioned by datastoreId), appended to without duplicating stored versions. The
    writer takes the frame and returns what was written, for the summary line.

    Raises ValueError before any HealthImaging request: for options a dataset cannot
    take, and for an S3 location that cannot be listed with ``--profile``/``--region``
    (the endpoint comes from boto3's configuration, e.g. ``AWS_ENDPOINT_URL_S3``), so an
    hour of fetching does not end at a wrong bucket. If the dataset write still fails, the
    fetched versions are saved to a Parquet file in the current folder first.
    """
    import os

    output = args.output
    if not ("://" in output or output.endswith(("/", os.sep)) or os.path.isdir(output)):
        return None
    if args.format not in (None, "parquet"):
        raise ValueError(f"--format {args.format}: a dataset (-o {output}) is always Parquet")
    from ._dataset_store import parse_root
    from .dataset import export_dataset
    from .export import export_frame
    from .frames import empty_versions_frame

    export_dataset(empty_versions_frame(), output)  # checks the arguments; no I/O when empty
    s3_client = None
    kind, bucket, prefix = parse_root(output)
    if kind == "s3":
        import boto3
        import botocore.exceptions

        try:
            session = boto3.Session(profile_name=args.profile, region_name=args.region)
            s3_client = session.client("s3")
            s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise ValueError(f"cannot use -o {output}: {error}") from error

    def write(frame) -> str:
        try:
            done = export_dataset(frame, output, include_phi=args.include_phi, s3_client=s3_client)
        except Exception:
            import time

            stamp = time.strftime("%Y%m%dT%H%M%S")
            rescue = os.path.abspath(f"hi-widgets-versions-{stamp}.parquet")
            export_frame(frame, rescue, include_phi=args.include_phi)
            print(f"error: writing {output} failed; the versions are in {rescue}", file=sys.stderr)
            raise
        return (
            f"{output} ({len(done.files)} new file(s), {done.rows_written} new row(s), "
            f"{done.rows_skipped} already stored)"
        )

    return write


def _fetch_until_interrupted(fetch):
    """Run ``fetch(cancel)`` in a thread; Ctrl-C sets ``cancel`` and keeps what was fetched."""
    cancel, finished = threading.Event(), threading.Event()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["result"] = fetch(cancel)
        except BaseException as error:  # re-raised in the calling thread below
            outcome["error"] = error
        finally:
            finished.set()

    # Not Thread.join: a KeyboardInterrupt inside join can make is_alive() lie.
    threading.Thread(target=work, name="hi-widgets-versions", daemon=True).start()
    while True:
        try:
            if finished.wait(0.2):
                break
        except KeyboardInterrupt:
            cancel.set()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


# ---------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hi-widgets`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hi-widgets",
        description="AWS HealthImaging version histories: local sandbox, demo, exports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sandbox(subparsers)
    _add_demo(subparsers)
    _add_versions(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hi-widgets`` command; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name; default: ``sys.argv[1:]``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
