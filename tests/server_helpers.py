"""Run a server command (Jupyter, Voila) for the length of a test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from hi_widgets.cli import demo_app as app


@contextlib.contextmanager
def serving(
    argv: list[str],
    port: int,
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float,
    stop_timeout: float = 15.0,
) -> Iterator[subprocess.Popen]:
    """Run ``argv`` (output in ``log_path``) until it serves on 127.0.0.1:``port``; yield it.

    Fails the test if the server exits or does not answer within ``timeout`` seconds.
    Afterwards it is terminated (its process group killed if it has not stopped within
    ``stop_timeout`` seconds) and reaped.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if not app.wait_until_serving("127.0.0.1", port, process, timeout):
                name = Path(argv[0]).name
                pytest.fail(f"{name} did not serve on port {port}; see {log_path}", pytrace=False)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
