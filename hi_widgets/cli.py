"""The ``hi-widgets`` command line.

Each subcommand registers itself in :func:`build_parser` through an ``_add_<name>``
function and runs through the ``func`` default it sets, so subcommands stay independent.
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
        "--shell",
        choices=("sh", "powershell", "cmd"),
        default="sh",
        help="syntax of the printed environment lines (default: %(default)s)",
    )
    parser.set_defaults(func=_run_sandbox)


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
        print(
            f"HealthImaging sandbox serving on {running.endpoint_url} (seed {args.seed}, "
            f"quotas {'off' if args.no_quotas else 'on'}); datastores: {', '.join(datastores)}",
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
