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
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="file to write")
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
    output = Path(args.output)
    if args.format is None and output.suffix.lower() not in SUFFIXES:
        return fail(
            f"cannot tell the format of {args.output}: use --format or a suffix among "
            f"{', '.join(SUFFIXES)}"
        )
    if not output.parent.is_dir():
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
    export_frame(result.frame, output, format=args.format, include_phi=args.include_phi)
    print(f"wrote {output}: {result.summary()}", file=sys.stderr)
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
