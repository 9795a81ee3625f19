"""Serve the explorer as a Voila app on this machine (``hi-widgets demo`` / ``make demo``).

The app is the notebook ``explorer-app.ipynb``: its kernel starts the local sandbox (or,
when asked, connects to real AWS) and shows :class:`hi_widgets.ImageSetExplorer`. Voila runs
the notebook and shows only the widgets, never the code. Registered in
:data:`hi_widgets.cli.main.COMMANDS`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

APP_NOTEBOOK = "explorer-app.ipynb"
PACKAGED_APP_NOTEBOOK = f"hi_widgets/_app/{APP_NOTEBOOK}"
"""Where wheels carry notebooks/explorer-app.ipynb (pyproject: hatch ``force-include``)."""
USE_AWS_ENV_VAR = "HI_WIDGETS_APP_USE_AWS"
DEFAULT_PORT = 8866
START_TIMEOUT = 120.0  # seconds until Voila answers HTTP
DEFAULT_CULL_AFTER = 60  # seconds a kernel without a page may idle before it is stopped
# jupyter_server's culler also stops a kernel still *starting* (Voila starts it before the
# page connects): the timeout must outlast a kernel's start on a slow machine.
MIN_CULL_AFTER = 10

HELP = "serve the explorer as a Voila app on the local sandbox until Ctrl-C"
DESCRIPTION = (
    "Serve the ImageSetExplorer as a Voila web app on this machine. The app's "
    "kernel starts the local sandbox with demo data, so no AWS account is needed. "
    "Exit status: 0 after Ctrl-C, 143 after SIGTERM, 2 if refused (--aws on an "
    "address other machines can reach, without --allow-remote-aws) or Voila is not "
    "installed, otherwise Voila's own status if it stops or does not start."
)


def find_app_notebook() -> Path:
    """Return the path of the explorer app notebook.

    Installed from a wheel, the notebook ships inside the package as
    ``hi_widgets/_app/explorer-app.ipynb``; in a source checkout (editable install) it is
    ``notebooks/explorer-app.ipynb``.

    Returns
    -------
    pathlib.Path
        An existing ``.ipynb`` file.

    Raises
    ------
    FileNotFoundError
        If neither location has the notebook.
    """
    packaged = Path(str(resources.files("hi_widgets"))).joinpath(
        *PACKAGED_APP_NOTEBOOK.split("/")[1:]
    )
    checkout = Path(__file__).resolve().parents[2] / "notebooks" / APP_NOTEBOOK
    for candidate in (packaged, checkout):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{APP_NOTEBOOK} is neither in the installed package ({packaged}) nor in a source "
        f"checkout ({checkout}); reinstall hi-widgets"
    )


def voila_command(
    notebook: Path, port: int, ip: str = "127.0.0.1", cull_after: int = DEFAULT_CULL_AFTER
) -> list[str]:
    """Return the command line that serves ``notebook`` with Voila.

    Voila runs under this interpreter, so its kernel is this environment's Python with
    this hi_widgets installed. Every page load starts a kernel (and the app's sandbox in
    it); a kernel whose page was closed or reloaded is stopped once it has been idle for
    ``cull_after`` seconds (jupyter_server's idle culler; kernels with a page open are
    never culled), so reloads do not pile up kernels.

    Parameters
    ----------
    notebook
        The ``.ipynb`` to serve.
    port
        TCP port; Voila fails instead of silently moving to another port.
    ip
        Interface to bind; the default serves this machine only.
    cull_after
        Seconds a kernel without a page may stay idle before it is stopped (at least
        :data:`MIN_CULL_AFTER`: a kernel still starting counts as idle).

    Returns
    -------
    list of str
    """
    if cull_after < MIN_CULL_AFTER:
        raise ValueError(f"cull_after must be at least {MIN_CULL_AFTER} s, got {cull_after}")
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--Voila.port_retries=0",
        f"--MappingKernelManager.cull_idle_timeout={cull_after}",
        f"--MappingKernelManager.cull_interval={max(1, min(30, cull_after // 2))}",
        "--MappingKernelManager.cull_connected=False",
    ]


def free_port(ip: str) -> int:
    """Return a TCP port that is free on ``ip`` right now."""
    with socket.socket() as sock:
        sock.bind((ip, 0))
        result: int = sock.getsockname()[1]
        return result


def wait_until_serving(
    ip: str, port: int, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT
) -> bool:
    """Wait until ``process`` accepts connections; False if it exits or the deadline passes.

    Only a TCP connection is made: an HTTP request for the app page would start a kernel.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((ip, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (kill it after 15 s) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def is_loopback(ip: str) -> bool:
    """Tell whether ``ip`` (an address or ``localhost``) serves this machine only."""
    if ip.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def bind_problems(ip: str, use_aws: bool, allow_remote_aws: bool) -> tuple[str | None, str | None]:
    """Return (error, warning) about serving the app on ``ip``; both None on loopback.

    With ``--aws`` the app acts with this machine's AWS credentials and can save files
    on it, for anyone who can reach the address: refused off loopback unless allowed.
    """
    if is_loopback(ip):
        return None, None
    if use_aws and not allow_remote_aws:
        return (
            f"refusing to serve the app with --aws on {ip}: anyone who can reach {ip} "
            "would act with this machine's AWS credentials and save files on it. Use "
            "--ip 127.0.0.1 (and an SSH tunnel to reach it), or pass --allow-remote-aws "
            "if every machine on that network is trusted",
            None,
        )
    data = "real AWS with this machine's credentials" if use_aws else "the demo sandbox"
    return None, (
        f"warning: serving on {ip}: the app (with {data}, and Save writing files on this "
        "machine) is reachable from other machines; there is no login"
    )


def serve(
    port: int = DEFAULT_PORT,
    ip: str = "127.0.0.1",
    use_aws: bool = False,
    allow_remote_aws: bool = False,
    cull_after: int = DEFAULT_CULL_AFTER,
) -> int:
    """Serve the explorer app with Voila until Ctrl-C.

    Parameters
    ----------
    port
        TCP port; 0 picks a free one. The URL is printed once the app answers.
    ip
        Interface to bind (default: this machine only).
    use_aws
        Connect the explorer to real AWS with the default credentials instead of starting
        the local sandbox (it still falls back to the sandbox if no credentials exist).
    allow_remote_aws
        Allow ``use_aws`` on an address other machines can reach (refused otherwise).
    cull_after
        Seconds the kernel of a closed or reloaded page may stay idle before it (and its
        sandbox) is stopped.

    Returns
    -------
    int
        Exit status: 0 after Ctrl-C, 2 if refused, non-zero if Voila failed.
    """
    error, warning = bind_problems(ip, use_aws, allow_remote_aws)
    if cull_after < MIN_CULL_AFTER:
        error = f"--cull-after must be at least {MIN_CULL_AFTER} seconds, got {cull_after}"
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if find_spec("voila") is None:
        print(
            "Voila is not installed: pip install 'hi-widgets[app]' (or run `make demo`).",
            file=sys.stderr,
        )
        return 2
    notebook = find_app_notebook()
    if port == 0:
        port = free_port(ip)
    env = dict(os.environ)
    if use_aws:
        env[USE_AWS_ENV_VAR] = "1"
    else:
        env.pop(USE_AWS_ENV_VAR, None)
    host = f"[{ip}]" if ":" in ip else ip
    url = f"http://{host}:{port}/"
    backend = "real AWS (default credentials)" if use_aws else "the local sandbox"
    print(f"Starting the hi_widgets explorer on {url} (data: {backend}) ...", flush=True)
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        # `kill <pid>` of this command must not leave Voila and its kernel running.
        previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = subprocess.Popen(voila_command(notebook, port, ip, cull_after), env=env)
    try:
        if not wait_until_serving(ip, port, process):
            stop_process(process)
            print(
                f"Voila did not start on {url} (is the port in use? try --port 0).",
                file=sys.stderr,
            )
            return process.returncode or 1
        print(f"\n  hi_widgets explorer: {url}\n  Press Ctrl-C to stop.\n", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        print("\nStopping the explorer ...", flush=True)
        return 0
    finally:
        stop_process(process)
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` command's options to ``parser``."""
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port for the app (default {DEFAULT_PORT}; 0 picks a free port)",
    )
    parser.add_argument(
        "--ip", default="127.0.0.1", help="interface to bind (default: 127.0.0.1 only)"
    )
    parser.add_argument(
        "--aws",
        action="store_true",
        help="use real AWS with your default credentials instead of the local sandbox",
    )
    parser.add_argument(
        "--allow-remote-aws",
        action="store_true",
        help=(
            "allow --aws with an --ip other machines can reach (they would act with your "
            "AWS credentials; refused without this flag)"
        ),
    )
    parser.add_argument(
        "--cull-after",
        type=int,
        default=DEFAULT_CULL_AFTER,
        metavar="SECONDS",
        help=(
            "stop the kernel (and sandbox) of a closed or reloaded page after it has been "
            f"idle this long (default {DEFAULT_CULL_AFTER})"
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Run the ``demo`` command from parsed arguments; return the exit status."""
    return serve(
        port=args.port,
        ip=args.ip,
        use_aws=args.aws,
        allow_remote_aws=args.allow_remote_aws,
        cull_after=args.cull_after,
    )
