"""``hi-widgets sync``: bring a Parquet dataset of a datastore's versions up to date.

:func:`add_arguments` imports nothing heavy; :func:`run` imports the data layer when the
command runs. Registered in :data:`hi_widgets.cli.main.COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta

from hi_widgets.cli._connection_options import add_connection_arguments
from hi_widgets.cli._speed_options import add_speed_arguments, speed_options
from hi_widgets.cli._uid_key import add_uid_key_argument, uid_key_from_env

HELP = "bring a Parquet dataset of a datastore's versions up to date"
DESCRIPTION = (
    "Append to the dataset in ROOT (a local folder, partitioned by datastoreId) the "
    "versions of the image sets created or updated since its last sync: SearchImageSets "
    "on updatedAt from the dataset's high-water mark, less --overlap-minutes, then the "
    "histories of the image sets that changed, at the account's request quotas. The "
    "first sync of a folder stores the whole datastore. A sync interrupted (Ctrl-C, a "
    "crash) resumes on the next run without fetching again what it had. --full lists "
    "the whole datastore to find deletions and anything missed. Rows are de-identified "
    "unless --include-phi. Exit status: 0 up to date, 1 some image sets failed (they are "
    "retried by the next sync), 2 bad arguments or AWS configuration (nothing is "
    "requested), 130 interrupted (what was fetched is kept; rerun to resume)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sync`` command's options to ``parser``."""
    parser.add_argument("root", metavar="ROOT", help="dataset folder (created if missing)")
    parser.add_argument(
        "--datastore", metavar="ID", required=True, help="datastore id (32 characters)"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="list the whole datastore (one request per 50 image sets) to find deleted "
        "image sets and anything an incremental sync missed",
    )
    parser.add_argument(
        "--overlap-minutes",
        type=float,
        default=15.0,
        metavar="MINUTES",
        help="how far below the high-water mark each search starts (default: %(default)s)",
    )
    add_connection_arguments(parser)
    parser.add_argument(
        "--include-phi",
        action="store_true",
        help="keep PHI in the dataset (owner-only files); by default rows are de-identified",
    )
    add_uid_key_argument(parser)
    add_speed_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``hi-widgets sync``; return the exit status (see the command's help)."""
    import threading

    from tqdm import tqdm

    from hi_widgets.api.errors import HealthImagingError
    from hi_widgets.bulk import sync_datastore
    from hi_widgets.cli._versions_inputs import checked_client

    speed = speed_options(args)
    if isinstance(speed, str):
        return _fail(speed)
    if not args.overlap_minutes >= 0:
        return _fail(f"--overlap-minutes must be >= 0, got {args.overlap_minutes}")
    try:
        uid_key = uid_key_from_env(args)
    except ValueError as error:
        return _fail(str(error))
    client = checked_client(args)
    if isinstance(client, str):
        return _fail(client)
    bulk_log = logging.getLogger("hi_widgets.bulk")
    if not bulk_log.handlers:
        bulk_log.addHandler(logging.NullHandler())
    cancel = threading.Event()
    bar = tqdm(unit="image set", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True)
    try:
        with bar:
            result = sync_datastore(
                client,
                args.datastore,
                args.root,
                full=args.full,
                overlap=timedelta(minutes=args.overlap_minutes),
                include_phi=args.include_phi,
                uid_key=uid_key,
                **speed,
                progress=lambda _step: bar.update(1),
                cancel=cancel,
            )
    except KeyboardInterrupt:
        cancel.set()
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as error:
        return _fail(str(error))
    except HealthImagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    mark = "none" if result.high_water_mark is None else result.high_water_mark.isoformat()
    print(
        f"{result.datastore_id}: searched {result.searched}, fetched {result.fetched} image "
        f"sets, wrote {result.rows_written} rows ({result.rows_skipped} already stored), "
        f"{len(result.deleted)} deleted, {result.requests} requests; high-water mark {mark}"
    )
    for row in result.errors.itertuples(index=False):
        print(f"failed: {row.imageSetId}: {row.error}: {row.message}", file=sys.stderr)
    return 1 if not result.errors.empty else 0
