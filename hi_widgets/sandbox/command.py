"""The sandbox's command line: ``hi-widgets sandbox`` and ``python -m hi_widgets.sandbox``.

The argument parser lives here, in the sandbox package, so the sandbox runs on its own
(``python -m hi_widgets.sandbox``) without importing the rest of hi_widgets. Like every
command module it gives :data:`HELP`, :data:`DESCRIPTION`, :func:`add_arguments` and
:func:`run`, which :data:`hi_widgets.cli.main.COMMANDS` registers as ``hi-widgets
sandbox``. Building the parser imports only the standard library; the server is imported
when :func:`run` runs.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hi_widgets.limits.quotas import QUOTA_TABLE_SOURCE, scaled_quotas

if TYPE_CHECKING:
    from hi_widgets.sandbox.backend.operations import Backend

HELP = "serve the local HealthImaging sandbox until Ctrl-C"
DESCRIPTION = (
    "Serve a local AWS HealthImaging-compatible sandbox with deterministic demo data, and "
    "print the environment lines that point boto3 and the AWS CLI at it. Exit status: 0 "
    "after Ctrl-C or SIGTERM, 1 if it cannot listen on the address, 2 for a bad option value."
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_ENV = "HI_WIDGETS_SANDBOX_SECRET_ACCESS_KEY"
"""The environment variable holding a pinned secret access key."""
SECRET_ON_ARGV = (
    "--secret-access-key is not accepted: a secret on the command line is visible to "
    "every local user in /proc/<pid>/cmdline and in `ps`. Set the environment variable "
    f"{SECRET_ENV}, or pass --secret-access-key-file PATH (a file only you can read: "
    "chmod 600)"
)


class _RefuseSecretOnArgv(argparse.Action):
    """The removed ``--secret-access-key``: an error that never repeats the value."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(SECRET_ON_ARGV)


def read_secret_file(path: str) -> str:
    """Return the secret in ``path``; refuse a file that others may read or write.

    Raises
    ------
    ValueError
        If the file cannot be read, is not a regular file owned by the current user
        with no group or other permissions, or holds no secret.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ValueError(
            f"--secret-access-key-file {path}: cannot open it ({error.strerror or error})"
        ) from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"--secret-access-key-file {path}: not a regular file")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ValueError(f"--secret-access-key-file {path}: owned by another user")
        if info.st_mode & 0o077:
            raise ValueError(
                f"--secret-access-key-file {path}: other users may read or change it "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
            )
        secret = handle.read(4096).strip()
    if not secret:
        raise ValueError(f"--secret-access-key-file {path}: the file is empty")
    return secret


def pinned_secret(args: argparse.Namespace) -> str | None:
    """Return the secret to pin: from ``--secret-access-key-file``, else the environment."""
    path = getattr(args, "secret_access_key_file", None)
    if path:
        return read_secret_file(path)
    return os.environ.get(SECRET_ENV) or None


SDK_NOTES = (
    "(AWS_REGION is what the AWS SDK for JavaScript v3 reads, AWS_DEFAULT_REGION boto3 and "
    "the AWS CLI; the JavaScript v3 SDK ignores AWS_DISABLE_HOST_PREFIX_INJECTION: create "
    "its client with disableHostPrefix: true. Every SDK's option: docs/sandbox.md.)",
)
"""Printed after the export lines: what the environment does not cover."""


def _checked(
    convert: Callable[[str], float], accept: Callable[[float], bool], expected: str
) -> Callable[[str], Any]:
    """Return an argparse ``type`` that converts a value and accepts only good ones."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_port = _checked(int, lambda v: 0 <= v <= 65535, "a port number from 0 to 65535")
_count = _checked(int, lambda v: v >= 1, "a whole number >= 1")
_positive_float = _checked(float, lambda v: 0 < v < math.inf, "a positive number")
_non_negative_float = _checked(float, lambda v: 0 <= v < math.inf, "a number >= 0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to ``parser``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8080,
        help="port, 0 to 65535 (0: any free port; default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="demo data seed (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=0.0,
        help="latency added to every response",
    )
    parser.add_argument(
        "--no-quotas",
        action="store_true",
        help=(
            "do not enforce the per-operation quotas (default: enforced at the published "
            f"rates and bursts of {QUOTA_TABLE_SOURCE})"
        ),
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
        type=_count,
        default=30,
        help="image sets in the first demo datastore (default: %(default)s)",
    )
    parser.add_argument(
        "--update-delay",
        type=_non_negative_float,
        default=2.0,
        help="seconds that UPDATING/COPYING/DELETING last (default: %(default)s)",
    )
    parser.add_argument(
        "--verify-signatures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "check every SigV4 signature against the printed keys and the 15-minute "
            "clock skew (default: on; --no-verify-signatures serves any well-formed "
            "signature, for clients with keys of their own)"
        ),
    )
    parser.add_argument(
        "--secret-access-key-file",
        metavar="PATH",
        help=(
            "pin the secret the sandbox hands out and verifies to the content of PATH, a "
            f"file only you can read (chmod 600); or set {SECRET_ENV}. Default: random "
            "at each start. Never on the command line, where every local user can read it"
        ),
    )
    parser.add_argument(  # removed: refused with an error that names the alternatives
        "--secret-access-key", nargs="?", action=_RefuseSecretOnArgv, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--allow-aws-s3",
        action="store_true",
        help=(
            "let import jobs and --import s3:// read from AWS itself, with the "
            "environment's AWS credentials (default: refused; point AWS_ENDPOINT_URL_S3 "
            "at a local S3-compatible server instead)"
        ),
    )
    parser.add_argument(
        "--demo-s3",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "also serve a local S3 (moto) with the output of the demo's import jobs, and "
            "print AWS_ENDPOINT_URL_S3 for it; import jobs then read and write there "
            "(default: on when moto[server] is installed, e.g. with the app extra)"
        ),
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help=(
            "a host name clients may use besides IP addresses and localhost (repeatable); "
            "other names in the Host header are refused (DNS rebinding)"
        ),
    )
    parser.add_argument(
        "--import",
        dest="import_from",
        action="append",
        metavar="SOURCE",
        help=(
            "load DICOM P10 files at start-up into a datastore 'imported-dicom': an "
            "s3://bucket/prefix URI (boto3's S3 configuration, e.g. AWS_ENDPOINT_URL_S3) or "
            "a local file or folder; repeat for several"
        ),
    )
    parser.add_argument(
        "--shell",
        choices=("sh", "powershell", "cmd"),
        default="sh",
        help="syntax of the printed environment lines (default: %(default)s)",
    )


def env_lines(env: dict[str, str], shell: str = "sh") -> list[str]:
    """Format environment variables as lines to paste into a shell."""
    if shell == "powershell":
        return [f"$env:{key} = '{value}'" for key, value in env.items()]
    if shell == "cmd":
        return [f"set {key}={value}" for key, value in env.items()]
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def sample_lines(store: Backend, samples: int = 3) -> list[str]:
    """Lines naming a few demo image set ids and a ready-to-paste ``versions`` command.

    The longest history (73 versions in the default demo) comes first: it is the one
    worth looking at.
    """
    datastores = store.datastore_ids()
    image_sets = store.image_set_ids(datastores[0]) if datastores else []
    if not image_sets:
        return []
    datastore = datastores[0]
    counts = {i: store.version_count(datastore, i) for i in image_sets}
    longest = max(image_sets, key=counts.__getitem__)
    picked = [longest, *[i for i in image_sets if i != longest][: samples - 1]]
    lines = [f"Sample image sets in datastore {datastore}:"]
    lines += [f"  {i}  ({counts[i]} version{'s' * (counts[i] != 1)})" for i in picked]
    lines.append("Try, in a shell with the lines above pasted:")
    lines.append(
        f"  {cli_command()} versions --datastore {datastore} --image-set {' '.join(picked)} "
        "-o versions.csv"
    )
    return lines


def cli_command() -> str:
    """Return the ``hi-widgets`` command as a new shell can run it, without an active venv.

    The script installed beside this interpreter, by its absolute path; else the
    interpreter itself running the package (a checkout used through ``PYTHONPATH``).
    """
    script = Path(sys.executable).with_name("hi-widgets")
    if script.is_file() and os.access(script, os.X_OK) and not os.environ.get("PYTHONPATH"):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m hi_widgets.cli"


def _import_sources(sources: list[str] | None) -> str | list[str] | None:
    # One S3 URI is read as a bucket prefix; local paths may be several.
    if not sources:
        return None
    if len(sources) == 1 and sources[0].startswith("s3://"):
        return sources[0]
    if any(source.startswith("s3://") for source in sources):
        raise ValueError("--import takes one s3:// URI, or local files and folders")
    return sources


def _demo_s3(args: argparse.Namespace, available: Callable[[], bool]) -> bool:
    choice = getattr(args, "demo_s3", None)
    return available() if choice is None else bool(choice)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C, SIGTERM or ``stop`` is set; return the exit status."""
    # The server, backend and demo data load when the sandbox runs, not with the parser.
    from hi_widgets.sandbox.runner import start
    from hi_widgets.sandbox.server.local_s3 import moto_available

    if args.host not in LOOPBACK_HOSTS:
        print(
            f"warning: binding {args.host}; the sandbox is reachable from other machines "
            "(clients must sign with the printed keys; name this host with --allowed-host "
            "if they reach it by a DNS name)",
            file=sys.stderr,
        )
    stop = stop or threading.Event()
    try:
        secret = pinned_secret(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        running = start(
            seed=args.seed,
            latency_ms=args.latency_ms,
            quotas=not args.no_quotas,
            host=args.host,
            port=args.port,
            image_sets=args.image_sets,
            update_delay=args.update_delay,
            verify_signatures=args.verify_signatures,
            secret_access_key=secret,
            allow_aws_s3=getattr(args, "allow_aws_s3", False),
            allowed_hosts=args.allowed_host,
            quota_rates=scaled_quotas(args.quota_scale) if args.quota_scale != 1 else None,
            import_from=_import_sources(getattr(args, "import_from", None)),
            demo_s3=_demo_s3(args, moto_available),
        )
    except OSError as error:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({error.strerror or error}); "
            "pick another --port, or --port 0 for any free port",
            file=sys.stderr,
        )
        return 1
    except (ValueError, OverflowError) as error:
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
        print(
            "Paste these lines into your shell, then use boto3, the AWS CLI or another AWS SDK:",
            file=sys.stderr,
        )
        for line in env_lines(running.env(), args.shell):
            print(line)
        for line in SDK_NOTES:
            print(line, file=sys.stderr)
        if running.s3_endpoint_url is not None:
            print(
                f"Local S3 (moto) on {running.s3_endpoint_url}: import jobs read and write "
                "there; the demo jobs' output is under s3://hi-widgets-demo-import-output/",
                file=sys.stderr,
            )
        for line in sample_lines(running.store):
            print(line, file=sys.stderr)
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


def build_parser(prog: str = "python -m hi_widgets.sandbox") -> argparse.ArgumentParser:
    """Return the stand-alone parser of the sandbox command."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, allow_abbrev=False)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox command; return the exit status."""
    args = build_parser().parse_args(argv)
    return run(args)
