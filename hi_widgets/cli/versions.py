"""``hi-widgets versions``: export the version histories of image sets to a file.

:func:`add_arguments` imports nothing heavy (the CLI's ``--help`` stays fast); :func:`run`
imports the data layer when the command runs. Registered in
:data:`hi_widgets.cli.main.COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hi_widgets.cli._connection_options import add_connection_arguments
from hi_widgets.cli._speed_options import add_speed_arguments, speed_options
from hi_widgets.cli._uid_key import add_uid_key_argument, uid_key_from_env

if TYPE_CHECKING:
    from hi_widgets.api.progress import Progress
    from hi_widgets.bulk import FetchResult

Fetched = TypeVar("Fetched")

EXPORT_FORMATS = ("csv", "parquet", "json")  # hi_widgets.export.files.FORMATS, without the import


HELP = "export the version histories of image sets to a file"
DESCRIPTION = (
    "Fetch every version of the given image sets at the account's request quota "
    "(retrying throttles and transient errors) and write them to a CSV, Parquet or "
    "JSON file (de-identified unless --include-phi). With --all and a dataset for -o "
    "(a folder ending in /, an existing folder, or s3://bucket/prefix/), the versions "
    "are appended in batches as image sets complete, in bounded memory; with "
    "--checkpoint a rerun after a crash fetches only what the dataset lacks. An "
    "incomplete run (failures, "
    "Ctrl-C) never replaces an existing file: it writes beside it "
    "(NAME.partial-<time>.EXT) unless --force. If -o cannot be written (a full "
    "disk), the versions go to a fallback file named on stderr. A --checkpoint that "
    "cannot be written is a warning: the run goes on in memory and -o gets "
    "everything. Exit status: 0 all fetched and written, 1 some image sets failed "
    "(the file holds the others; the errors are listed), 2 bad arguments, "
    "identifiers, destination, checkpoint or AWS configuration (nothing is "
    "requested), 3 the fetched versions could not be written to -o (the fallback "
    "file they went to, if any, is named), 130 interrupted (the complete histories "
    "fetched are saved)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``versions`` command's options to ``parser``."""
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
    add_connection_arguments(parser)
    parser.add_argument(
        "--include-phi",
        action="store_true",
        help="keep PHI in the file (owner-only); by default it is de-identified (DICOM PS3.15)",
    )
    add_uid_key_argument(parser)
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
    add_speed_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="record each completed image set in PATH; rerunning the same command with "
        "it (after Ctrl-C or a crash) fetches only what is missing",
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``hi-widgets versions``; return the exit status (see the command's help)."""
    # Deferred: the data layer (pandas, pyarrow, tqdm) loads only when the command runs.
    from tqdm import tqdm

    from hi_widgets.api.errors import HealthImagingError
    from hi_widgets.bulk import fetch_datastore, fetch_versions
    from hi_widgets.cli._versions_inputs import check_output, checked_client, read_pairs
    from hi_widgets.cli._versions_output import dataset_writer, report, save_dataset, save_versions

    pairs = read_pairs(args)
    if isinstance(pairs, str):
        return _fail(pairs)
    speed = speed_options(args)
    if isinstance(speed, str):
        return _fail(speed)
    try:
        uid_key = uid_key_from_env(args)
    except ValueError as error:
        return _fail(str(error))
    client = checked_client(args)
    if isinstance(client, str):
        return _fail(client)
    try:  # -o is an s3:// URI or a folder: append to a Parquet dataset instead of a file
        target = dataset_writer(args, uid_key=uid_key)
    except ValueError as error:
        return _fail(str(error))
    destination = None if target is not None else check_output(args)
    if isinstance(destination, str):
        return _fail(destination)

    bar = tqdm(
        total=None if args.all else len(dict.fromkeys(pairs)),
        unit="image set",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def progress(step: Progress) -> None:
        if step.total is not None and bar.total != step.total:  # --all: known once searched
            bar.total = step.total
        bar.update(1)

    # Every warning the bulk layer logs is also in the result, and printed below after
    # the progress bar: without a handler, Python's last resort would print it twice.
    bulk_log = logging.getLogger("hi_widgets.bulk")
    if not bulk_log.handlers:
        bulk_log.addHandler(logging.NullHandler())

    def fetch(cancel: threading.Event) -> FetchResult:
        if args.all:
            # --all into a dataset streams: batches are appended as they complete.
            streaming: dict[str, Any] = {}
            if target is not None:
                streaming = {"dataset": target.root, "include_phi": args.include_phi}
                streaming |= {"uid_key": uid_key, "s3_client": target.s3_client}
            return fetch_datastore(
                client,
                args.datastore,
                **speed,
                progress=progress,
                cancel=cancel,
                checkpoint=args.checkpoint,
                **streaming,
            )
        return fetch_versions(
            client,
            pairs,
            strategy=args.strategy,
            **speed,
            progress=progress,
            cancel=cancel,
            checkpoint=args.checkpoint,
        )

    try:
        with bar:
            result = _fetch_until_interrupted(fetch)
    except ValueError as error:  # a checkpoint for other inputs, a dataset of other columns
        return _fail(str(error))
    except OSError as error:  # the checkpoint cannot be created or read; nothing was sent
        if args.checkpoint is None:
            raise
        reason = error.strerror or str(error)
        return _fail(f"--checkpoint {args.checkpoint}: {reason}; nothing was requested")
    except HealthImagingError as error:  # --all: the datastore's first search page failed
        print(f"error: {error}", file=sys.stderr)
        return 1
    for warning in result.warnings:  # e.g. the checkpoint could not be written
        print(f"warning: {warning}", file=sys.stderr)
    if destination is not None:
        path, fmt = destination
        saved = save_versions(result, path, fmt, args, uid_key=uid_key)
    elif target is not None:
        saved = save_dataset(result, target.write)
    return report(result, saved)


def _fetch_until_interrupted(
    fetch: Callable[[threading.Event], Fetched],
    interrupted: str = "finishing the requests in flight, then saving the complete "
    "histories fetched so far",
) -> Fetched:
    """Run ``fetch(cancel)`` in a thread; Ctrl-C sets ``cancel`` and keeps what was fetched.

    ``interrupted`` is what the first Ctrl-C prints (what happens next).
    """
    cancel, finished = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

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
                print(f"\ninterrupted: {interrupted}", file=sys.stderr, flush=True)
            cancel.set()
    if "error" in outcome:
        raise outcome["error"]
    result: Fetched = outcome["result"]
    return result
