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
            "kernel starts the local sandbox with demo data, so no AWS account is needed. "
            "Exit status: 0 after Ctrl-C, 143 after SIGTERM, 2 if refused (--aws on an "
            "address other machines can reach, without --allow-remote-aws) or Voila is not "
            "installed, otherwise Voila's own status if it stops or does not start."
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
            "JSON file (de-identified unless --include-phi). An incomplete run (failures, "
            "Ctrl-C) never replaces an existing file: it writes beside it "
            "(NAME.partial-<time>.EXT) unless --force. Exit status: 0 all fetched, 1 some "
            "image sets failed (the file holds the others; the errors are listed), 2 bad "
            "arguments, identifiers, destination or AWS configuration (nothing is "
            "requested), 130 interrupted (the complete histories fetched are saved)."
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
    source.add_argument(
        "--all",
        action="store_true",
        help="every image set of --datastore (SearchImageSets; fetched over the GetImageSet "
        "and ListImageSetVersions quotas at once; --strategy does not apply)",
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
        "--include-phi",
        action="store_true",
        help="keep PHI in the file (owner-only); by default it is de-identified (DICOM PS3.15)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="let an incomplete run (failures, Ctrl-C) replace an existing output file",
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
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="record each completed image set in PATH; rerunning the same command with "
        "it (after Ctrl-C or a crash) fetches only what is missing",
    )
    parser.set_defaults(func=_run_versions)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _check_output(args: argparse.Namespace):
    """Return (destination, format) or an error message, before any request."""
    from .export import check_destination

    try:
        return check_destination(args.output, args.format)
    except ValueError:
        return (
            f"-o {args.output}: cannot tell the file format; use --format "
            f"({', '.join(EXPORT_FORMATS)}) or a suffix such as .csv, .parquet, .json"
        )
    except OSError as error:
        return f"-o {args.output}: {error.strerror or error}"


_CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile NAME (or set "
    "AWS_PROFILE), or run 'aws configure' / 'aws sso login --profile NAME'; for the local "
    "sandbox, run 'hi-widgets sandbox' and paste the lines it prints"
)


def _checked_client(args: argparse.Namespace):
    """Return a client, or an error message naming the flag or variable to set.

    Profile, region and credentials are resolved here, before the first request, so a
    configuration problem is reported once instead of failing every image set.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    from .client import make_client
    from .errors import CredentialsError

    try:
        session = boto3.Session(profile_name=args.profile)
    except ProfileNotFound:
        source = "--profile" if args.profile else "AWS_PROFILE"
        name = args.profile or "(from AWS_PROFILE)"
        return (
            f"{source}: no profile {name} in the AWS config files (~/.aws/config, "
            "~/.aws/credentials); list them with 'aws configure list-profiles'"
        )
    region = args.region or session.region_name
    if not region:
        return (
            "no AWS region: pass --region (for example --region us-east-1), or set "
            "AWS_REGION or AWS_DEFAULT_REGION, or add a region to the profile"
        )
    profile = f"profile {session.profile_name}" if args.profile else "AWS credentials"
    try:
        credentials = session.get_credentials()
        frozen = None if credentials is None else credentials.get_frozen_credentials()
    except BotoCoreError as error:
        return f"cannot load the {profile}: {error}; {_CREDENTIALS_HELP}"
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        if args.profile:
            return (
                f"--profile {args.profile}: the profile holds no credentials; add them "
                "('aws configure --profile NAME'), log in ('aws sso login --profile NAME'), "
                "or pick another --profile"
            )
        return f"no AWS credentials found: {_CREDENTIALS_HELP}"
    try:
        return make_client(
            session=session,
            region=region,
            endpoint_url=args.endpoint_url,
            max_attempts=1,  # fetch_versions retries itself, paced by its rate limiter
        )
    except (CredentialsError, ValueError) as error:
        return str(error).replace("endpoint_url", "--endpoint-url")


def _read_pairs(args: argparse.Namespace):
    """Return validated (datastoreId, imageSetId) pairs, or an error message.

    With ``--all`` the pairs are empty: the datastore's image sets are found by search.
    """
    from .errors import InvalidIdentifierError
    from .ids import validate_datastore_id, validate_image_set_id
    from .items import read_id_file

    try:
        datastore = None if args.datastore is None else validate_datastore_id(args.datastore)
    except InvalidIdentifierError as error:
        return f"--datastore: {error}"
    if args.all:
        return [] if datastore is not None else "give --datastore for --all"
    if args.from_file is not None:
        try:
            pairs, problems = read_id_file(args.from_file, datastore)
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read --from-file {args.from_file}: {error}"
        if problems:
            shown = "\n".join(f"  line {p.line}: {p.message}" for p in problems[:10])
            more = f"\n  and {len(problems) - 10} more" if len(problems) > 10 else ""
            return f"--from-file {args.from_file} has bad lines:\n{shown}{more}"
        if not pairs:
            return f"--from-file {args.from_file} holds no image set ids"
    else:
        pairs = [(datastore, image_set) for image_set in args.image_sets]
    if any(ds is None for ds, _ in pairs):
        return "give --datastore (or a datastoreId column in --from-file)"
    try:
        return [(validate_datastore_id(ds), validate_image_set_id(i)) for ds, i in pairs]
    except InvalidIdentifierError as error:
        return str(error)


def _run_versions(args: argparse.Namespace) -> int:
    from .bulk import fetch_datastore, fetch_versions
    from .errors import HealthImagingError

    pairs = _read_pairs(args)
    if isinstance(pairs, str):
        return _fail(pairs)
    if args.max_workers < 1:
        return _fail("--max-workers must be at least 1")
    client = _checked_client(args)
    if isinstance(client, str):
        return _fail(client)
    try:  # -o is an s3:// URI or a folder: append to a Parquet dataset instead of a file
        write_dataset = _dataset_writer(args)
    except ValueError as error:
        return _fail(str(error))
    destination = None if write_dataset is not None else _check_output(args)
    if isinstance(destination, str):
        return _fail(destination)

    from tqdm import tqdm

    bar = tqdm(
        total=None if args.all else len(dict.fromkeys(pairs)),
        unit="image set",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def progress(done: int, total: int | None, _item: object) -> None:
        if total is not None and bar.total != total:  # --all: known once the search ends
            bar.total = total
        bar.update(1)

    def fetch(cancel: threading.Event):
        if args.all:
            return fetch_datastore(
                client,
                args.datastore,
                max_workers=args.max_workers,
                progress=progress,
                cancel=cancel,
                checkpoint=args.checkpoint,
            )
        return fetch_versions(
            client,
            pairs,
            strategy=args.strategy,
            max_workers=args.max_workers,
            progress=progress,
            cancel=cancel,
            checkpoint=args.checkpoint,
        )

    try:
        with bar:
            result = _fetch_until_interrupted(fetch)
    except ValueError as error:  # a checkpoint written for other inputs
        return _fail(str(error))
    except HealthImagingError as error:  # --all: the datastore's first search page failed
        print(f"error: {error}", file=sys.stderr)
        return 1
    if destination is None:
        saved = _save_dataset(result, write_dataset)
    else:
        target, fmt = destination
        saved = _save_versions(result, target, fmt, args)
    return _report(result, saved)


def _save_dataset(result, write_dataset) -> bool:
    """Append the fetched versions to the dataset (never removes stored versions)."""
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


def _beside(target, when=None):
    """``prev.parquet`` -> ``prev.partial-20240501T120000Z.parquet`` in the same folder."""
    from datetime import datetime, timezone

    stamp = (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return target.with_name(f"{target.stem}.partial-{stamp}{target.suffix}")


def _save_versions(result, target, fmt: str, args: argparse.Namespace) -> bool:
    """Write the fetched versions without ever replacing good data with less.

    Returns whether the data fetched (if any) is on disk; says where on stderr.
    """
    import tempfile
    from pathlib import Path

    from .export import export_frame

    fetched = len(result.frame)
    if fetched == 0:
        left = f"{target} left as it was" if target.exists() else "no file written"
        print(f"nothing was fetched: {left}", file=sys.stderr)
        return True
    complete = result.errors.empty and not result.stats.cancelled
    destination = target
    if not complete and target.exists() and not args.force:
        destination = _beside(target)
        print(
            f"this run is incomplete, so {target} is not replaced: writing the {fetched} "
            f"versions fetched to {destination} (pass --force to replace {target})",
            file=sys.stderr,
        )
    fallbacks = [destination, _beside(target), Path(tempfile.gettempdir()) / _beside(target).name]
    for path in dict.fromkeys(fallbacks):
        try:
            export_frame(result.frame, path, format=fmt, include_phi=args.include_phi)
        except OSError as error:
            print(f"error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
            continue
        if path != destination:
            print(f"saved the fetched versions to {path} instead", file=sys.stderr)
        print(f"wrote {path}: {result.summary()}", file=sys.stderr)
        return True
    print("error: the fetched versions could not be saved anywhere", file=sys.stderr)
    return False


def _report(result, saved: bool) -> int:
    """Print what went wrong, in full; return the exit status."""
    from .errors import CREDENTIALS_HINT

    if result.stats.cancelled:
        print(
            f"interrupted: {len(result.pending)} image set(s) were not fetched; the file "
            "holds the complete histories fetched before Ctrl-C",
            file=sys.stderr,
        )
        return 130
    if not result.errors.empty:
        lines = [f"{len(result.errors)} image set(s) failed:"]
        for row in result.errors.itertuples(index=False):
            message = str(row.message).replace(CREDENTIALS_HINT, _CREDENTIALS_HELP + ".")
            lines.append(f"  {row.datastoreId} {row.imageSetId} {row.error}: {message}")
        print("\n".join(lines), file=sys.stderr)
        return 1
    return 0 if saved else 1


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
            if not cancel.is_set():
                print(
                    "\ninterrupted: finishing the requests in flight, then saving the "
                    "complete histories fetched so far",
                    file=sys.stderr,
                    flush=True,
                )
            cancel.set()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


# ---------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hi-widgets`` argument parser with every subcommand.

    Examples
    --------
    >>> from hi_widgets.cli import build_parser
    >>> args = build_parser().parse_args(["versions", "--datastore", datastore_id,
    ...                                   "--image-set", image_set_id, "-o", "versions.csv"])
    >>> args.command, args.image_sets == [image_set_id]
    ('versions', True)
    """
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

    Examples
    --------
    >>> from hi_widgets.cli import main
    >>> main(["versions", "--datastore", "not-an-id", "--image-set", image_set_id,
    ...       "-o", "versions.csv"])  # bad arguments: exit status 2, nothing requested
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
