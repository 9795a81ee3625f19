"""The ``hi-widgets`` command line.

Each subcommand registers itself in :func:`build_parser` through an ``_add_<name>``
function and runs through the ``func`` default it sets, so subcommands stay independent.
Building the parser imports nothing heavy (tests/test_imports.py checks it); a command
imports the data layer (pandas, boto3) inside its ``_run_<name>`` function, when it runs.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from ._version import __version__

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
EXPORT_FORMATS = ("csv", "parquet", "json")  # hi_widgets.export.FORMATS, without the import


# ----------------------------------------------------------------------- sandbox command


def _add_sandbox(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="serve the local HealthImaging sandbox until Ctrl-C",
        description=(
            "Serve a local AWS HealthImaging-compatible sandbox with deterministic demo "
            "data, and print the environment lines that point boto3 and the AWS CLI at it."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port (0: any free port; default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="demo data seed (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every response"
    )
    parser.add_argument(
        "--no-quotas", action="store_true", help="do not enforce the per-operation quotas"
    )
    parser.add_argument(
        "--quota-scale",
        type=_positive_float,
        default=1.0,
        metavar="FACTOR",
        help=(
            "multiply every published quota rate and burst by FACTOR, as after a granted "
            "quota increase (bursts stay at least 1; default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--image-sets",
        type=int,
        default=30,
        help="image sets in the first demo datastore (default: %(default)s)",
    )
    parser.add_argument(
        "--update-delay",
        type=float,
        default=2.0,
        help="seconds that UPDATING/COPYING/DELETING last (default: %(default)s)",
    )
    parser.add_argument(
        "--verify-signatures",
        action="store_true",
        help="check SigV4 signatures against the printed dummy secret",
    )
    parser.add_argument(
        "--shell",
        choices=("sh", "powershell", "cmd"),
        default="sh",
        help="syntax of the printed environment lines (default: %(default)s)",
    )
    parser.set_defaults(func=_run_sandbox)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _scaled_quotas(factor: float) -> dict[str, tuple[float, float]] | None:
    """Return the published quotas, every rate and burst multiplied by ``factor``."""
    from .sandbox.quotas import DEFAULT_RATES

    if factor == 1:
        return None
    return {
        operation: (rate * factor, max(1.0, burst * factor))
        for operation, (rate, burst) in DEFAULT_RATES.items()
    }


def env_lines(env: dict[str, str], shell: str = "sh") -> list[str]:
    """Format environment variables as lines to paste into a shell."""
    if shell == "powershell":
        return [f"$env:{key} = '{value}'" for key, value in env.items()]
    if shell == "cmd":
        return [f"set {key}={value}" for key, value in env.items()]
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def _run_sandbox(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    from . import sandbox

    if args.host not in LOOPBACK_HOSTS:
        print(
            f"warning: binding {args.host}; the sandbox is reachable from other machines",
            file=sys.stderr,
        )
    stop = stop or threading.Event()
    try:
        running = sandbox.start(
            seed=args.seed,
            latency_ms=args.latency_ms,
            quotas=not args.no_quotas,
            host=args.host,
            port=args.port,
            image_sets=args.image_sets,
            update_delay=args.update_delay,
            verify_signatures=args.verify_signatures,
            quota_rates=_scaled_quotas(args.quota_scale),
        )
    except OSError as error:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({error.strerror or error}); "
            "pick another --port, or --port 0 for any free port",
            file=sys.stderr,
        )
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        datastores = running.store.datastore_ids()
        quotas = "off" if args.no_quotas else "on"
        if not args.no_quotas and args.quota_scale != 1:
            quotas += f", x{args.quota_scale:g}"
        print(
            f"HealthImaging sandbox serving on {running.endpoint_url} (seed {args.seed}, "
            f"quotas {quotas}); datastores: {', '.join(datastores)}",
            file=sys.stderr,
        )
        print("Paste these lines into your shell, then use boto3 or the AWS CLI:", file=sys.stderr)
        for line in env_lines(running.env(), args.shell):
            print(line)
        print("Press Ctrl-C to stop.", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        while not stop.wait(0.25):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("sandbox stopped", file=sys.stderr)
    return 0


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
    source.add_argument(
        "--all",
        action="store_true",
        help="every image set of --datastore (SearchImageSets; fetched over the GetImageSet "
        "and ListImageSetVersions quotas at once; --strategy does not apply)",
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
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="record each completed image set in PATH; rerunning the same command with "
        "it (after Ctrl-C or a crash) fetches only what is missing",
    )
    parser.set_defaults(func=_run_versions)


def _run_versions(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bulk import fetch_datastore, fetch_versions
    from .client import make_client
    from .errors import CredentialsError, HealthImagingError, InvalidIdentifierError
    from .export import SUFFIXES, export_frame
    from .ids import validate_datastore_id
    from .items import read_id_file

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:
        datastore = None if args.datastore is None else validate_datastore_id(args.datastore)
    except InvalidIdentifierError as error:
        return fail(f"--datastore: {error}")
    if args.from_file is not None:
        try:
            pairs, problems = read_id_file(args.from_file, datastore)
        except (OSError, UnicodeDecodeError) as error:
            return fail(f"cannot read --from-file {args.from_file}: {error}")
        if problems:
            shown = "\n".join(f"  line {p.line}: {p.message}" for p in problems[:10])
            more = f"\n  and {len(problems) - 10} more" if len(problems) > 10 else ""
            return fail(f"--from-file {args.from_file} has bad lines:\n{shown}{more}")
        if not pairs:
            return fail(f"--from-file {args.from_file} holds no image set ids")
    elif datastore is None:
        return fail(f"give --datastore for {'--all' if args.all else 'the --image-set ids'}")
    elif args.all:
        pairs = []
    else:
        pairs = [(datastore, image_set) for image_set in args.image_sets]
    whole_datastore = datastore if args.all else None
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
        total=None if args.all else len(dict.fromkeys(pairs)),
        unit="image set",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )
    try:
        with bar:
            if whole_datastore is not None:
                result = _fetch_until_interrupted(
                    lambda cancel: fetch_datastore(
                        client,
                        whole_datastore,
                        max_workers=args.max_workers,
                        progress=lambda done, total, item: bar.update(1),
                        cancel=cancel,
                        checkpoint=args.checkpoint,
                    )
                )
            else:
                result = _fetch_until_interrupted(
                    lambda cancel: fetch_versions(
                        client,
                        pairs,
                        strategy=args.strategy,
                        max_workers=args.max_workers,
                        progress=lambda done, total, item: bar.update(1),
                        cancel=cancel,
                        checkpoint=args.checkpoint,
                    )
                )
    except (InvalidIdentifierError, ValueError) as error:  # ValueError: a foreign checkpoint
        return fail(str(error))
    except HealthImagingError as error:  # --all: the datastore's search failed
        print(f"error: {error}", file=sys.stderr)
        return 1
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
