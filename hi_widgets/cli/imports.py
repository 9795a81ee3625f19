"""``hi-widgets imports``: export a datastore's import jobs, or one job's outcomes, to a file.

Built like ``versions`` (:mod:`.versions`): the same checks before the first request
(identifiers, destination, AWS configuration), the same writer that never replaces good
data with less, the same de-identification (S3 keys, file and job names become keyed
hashes unless ``--include-phi``) and the same exit statuses. :func:`add_arguments` imports
nothing heavy; :func:`run` imports the data layer when the command runs. Registered in
:data:`hi_widgets.cli.main.COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING, Any

from hi_widgets.cli._connection_options import add_connection_arguments
from hi_widgets.cli.versions import EXPORT_FORMATS

if TYPE_CHECKING:
    import pandas as pd

    from hi_widgets.api.progress import Progress

JOB_STATUSES = ("SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED")  # the model's, unimported

HELP = "export a datastore's import jobs, or one import job's per-file outcomes, to a file"
DESCRIPTION = (
    "Without --job: list the datastore's DICOM import jobs (every page; with their S3 "
    "URIs from GetDICOMImportJob unless --no-details) and write them to a CSV, Parquet "
    "or JSON file. With --job: read that job's output from S3 (boto3's standard "
    "configuration: --profile, --region, AWS_ENDPOINT_URL_S3) and write one row per "
    "input file (status, image set, failure reason), or with --reasons one row per "
    "failure reason. The file is de-identified unless --include-phi: S3 keys and URIs, "
    "file and job names become keyed hashes. An interrupted run (Ctrl-C) never replaces "
    "an existing file: it writes beside it (NAME.partial-<time>.EXT) unless --force. "
    "Exit status: 0 all fetched and written, 1 HealthImaging or S3 failed (nothing "
    "written), 2 bad arguments, identifiers, destination or AWS configuration (nothing "
    "is requested), 3 the rows could not be written to -o (the fallback file they went "
    "to, if any, is named), 130 interrupted (what was fetched is saved)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``imports`` command's options to ``parser``."""
    parser.add_argument(
        "--datastore", metavar="ID", required=True, help="datastore id (32 characters)"
    )
    parser.add_argument(
        "--job", metavar="ID", help="import job id: export its per-file outcomes instead"
    )
    parser.add_argument(
        "--status",
        choices=JOB_STATUSES,
        nargs="+",
        action="extend",
        help="without --job: only jobs in these statuses (the service's filter)",
    )
    parser.add_argument(
        "--no-details",
        action="store_true",
        help="without --job: skip GetDICOMImportJob (no inputS3Uri/outputS3Uri columns)",
    )
    parser.add_argument(
        "--reasons",
        action="store_true",
        help="with --job: one row per failure reason (count, example files)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="file to write")
    parser.add_argument(
        "--format", choices=EXPORT_FORMATS, help="file format (default: from the suffix)"
    )
    add_connection_arguments(
        parser,
        profile_help="AWS profile name (HealthImaging and S3)",
        endpoint_help="HealthImaging endpoint, e.g. the local sandbox (http://127.0.0.1:8080); "
        "S3 is reached through boto3's configuration (AWS_ENDPOINT_URL_S3)",
    )
    parser.add_argument(
        "--include-phi",
        action="store_true",
        help="keep S3 keys, file and job names in the file (owner-only); by default "
        "they become keyed hashes",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="let an interrupted run replace an existing output file",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _check_ids(args: argparse.Namespace) -> str | None:
    from hi_widgets.api.errors import InvalidIdentifierError
    from hi_widgets.api.ids import validate_datastore_id, validate_job_id

    try:
        args.datastore = validate_datastore_id(args.datastore)
    except InvalidIdentifierError as error:
        return f"--datastore: {error}"
    try:
        args.job = None if args.job is None else validate_job_id(args.job)
    except InvalidIdentifierError as error:
        return f"--job: {error}"
    if args.job is None and args.reasons:
        return "--reasons needs --job (the failure reasons are one job's)"
    if args.job is not None and (args.status or args.no_details):
        return "--status and --no-details list jobs: not with --job"
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``hi-widgets imports``; return the exit status (see the command's help)."""
    # Deferred: the data layer (pandas, pyarrow, tqdm) loads only when the command runs.
    from tqdm import tqdm

    from hi_widgets.cli._versions_inputs import check_output, checked_client
    from hi_widgets.cli._versions_output import NOT_WRITTEN, save_frame
    from hi_widgets.cli.versions import _fetch_until_interrupted

    problem = _check_ids(args)
    if problem is not None:
        return _fail(problem)
    if "://" in args.output or args.output.endswith("/"):
        return _fail(f"-o {args.output}: imports writes one file (a .csv, .parquet or .json)")
    client = checked_client(args, max_attempts=5)
    if isinstance(client, str):
        return _fail(client)
    destination = check_output(args)
    if isinstance(destination, str):
        return _fail(destination)
    target, fmt = destination
    noun = "reasons" if args.reasons else "files" if args.job else "jobs"
    bar = tqdm(
        total=None,
        unit="file" if args.job else "job",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def progress(step: Progress) -> None:
        if step.total is not None and bar.total != step.total:
            bar.total = step.total
        bar.n = step.done
        bar.refresh()

    def fetch(cancel: threading.Event) -> tuple[pd.DataFrame, bool]:
        return _fetch(args, client, progress, cancel)

    from hi_widgets.api.errors import HealthImagingError
    from hi_widgets.api.import_outcomes import ImportOutputError

    try:
        with bar:
            frame, complete = _fetch_until_interrupted(
                fetch, f"stopping, then saving the {noun} fetched so far"
            )
    except (HealthImagingError, ImportOutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    saved = save_frame(
        frame,
        target,
        fmt,
        args,
        complete=complete,
        summary=lambda: f"{len(frame)} {noun}" + ("" if complete else " (interrupted)"),
        noun=noun,
    )
    if not saved:
        return NOT_WRITTEN
    if not complete:
        print(f"interrupted: {target} holds the {noun} fetched before Ctrl-C", file=sys.stderr)
        return 130
    return 0


def _fetch(
    args: argparse.Namespace, client: Any, progress: Any, cancel: threading.Event
) -> tuple[pd.DataFrame, bool]:
    """Fetch what the command exports: ``(frame, complete)``."""
    import boto3

    from hi_widgets.api.import_jobs import fetch_import_jobs
    from hi_widgets.api.import_outcomes import failure_reasons, fetch_import_outcomes

    if args.job is None:
        jobs = fetch_import_jobs(
            client,
            args.datastore,
            status=args.status,
            details=not args.no_details,
            progress=progress,
            cancel=cancel,
        )
        return jobs, not cancel.is_set()
    s3 = boto3.Session(profile_name=args.profile, region_name=args.region).client("s3")
    outcomes = fetch_import_outcomes(
        client, args.datastore, args.job, s3_client=s3, progress=progress, cancel=cancel
    )
    frame = failure_reasons(outcomes.files) if args.reasons else outcomes.files
    return frame, outcomes.complete
