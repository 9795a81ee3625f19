"""``hi-widgets demo`` (cli.demo_app): serves the explorer app with Voila until Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest
from server_helpers import serving

from hi_widgets.cli import demo_app as app

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90  # s until the command prints the URL
STOP_TIMEOUT = 30  # s until it exits after Ctrl-C


def test_app_notebook_is_found_and_is_the_committed_one():
    notebook = app.find_app_notebook()
    assert notebook.name == "explorer-app.ipynb"
    committed = ROOT / "notebooks" / "explorer-app.ipynb"
    # From a wheel the notebook ships as hi_widgets/_app/explorer-app.ipynb: same content.
    assert notebook.read_bytes() == committed.read_bytes()
    nbformat.validate(nbformat.read(notebook, as_version=4))


def test_wheel_ships_the_app_notebook():
    # `hi-widgets demo` from an installed wheel needs the notebook inside the package.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"].get("wheel", {})
    force_include = wheel.get("force-include", {})
    assert force_include.get("notebooks/explorer-app.ipynb") == app.PACKAGED_APP_NOTEBOOK, (
        "pyproject.toml needs [tool.hatch.build.targets.wheel.force-include] "
        f'"notebooks/explorer-app.ipynb" = "{app.PACKAGED_APP_NOTEBOOK}"'
    )


def test_voila_command_uses_this_python_and_binds_loopback():
    command = app.voila_command(Path("/x/explorer-app.ipynb"), 9999)
    assert command[:3] == [sys.executable, "-m", "voila"]
    assert "--no-browser" in command
    assert "--port=9999" in command
    assert "--Voila.ip=127.0.0.1" in command
    assert "--Voila.port_retries=0" in command


def test_demo_parser_defaults():
    from hi_widgets.cli.main import build_parser

    args = build_parser().parse_args(["demo"])
    assert (args.port, args.ip, args.aws) == (app.DEFAULT_PORT, "127.0.0.1", False)
    assert args.func is app.run


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("myhost.example", False),
    ],
)
def test_loopback_addresses(ip, loopback):
    assert app.is_loopback(ip) is loopback
    error, warning = app.bind_problems(ip, use_aws=False, allow_remote_aws=False)
    assert error is None
    assert (warning is None) is loopback
    if not loopback:
        assert ip in warning and "other machines" in warning


def test_aws_off_loopback_needs_the_explicit_flag():
    error, warning = app.bind_problems("0.0.0.0", use_aws=True, allow_remote_aws=False)
    assert "--allow-remote-aws" in error and "credentials" in error and warning is None
    error, warning = app.bind_problems("0.0.0.0", use_aws=True, allow_remote_aws=True)
    assert error is None and "AWS" in warning
    assert app.bind_problems("127.0.0.1", use_aws=True, allow_remote_aws=False) == (None, None)


def test_hi_widgets_demo_refuses_aws_on_a_network_address_before_starting_anything():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(Path(app.__file__).resolve().parents[1])
    argv = [sys.executable, "-m", "hi_widgets.cli", "demo", "--ip", "0.0.0.0", "--aws"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--allow-remote-aws" in done.stderr
    assert "Starting" not in done.stdout  # Voila was never started


def test_demo_parser_has_the_remote_aws_flag_off_by_default():
    from hi_widgets.cli.main import build_parser

    assert build_parser().parse_args(["demo"]).allow_remote_aws is False
    args = build_parser().parse_args(["demo", "--aws", "--allow-remote-aws"])
    assert args.allow_remote_aws is True


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def _wait_for_url(lines: queue.Queue, output: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        output.append(line)
        match = re.search(r"hi_widgets explorer: (http://\S+)", line)
        if match:
            return match.group(1)
    pytest.fail("no URL printed by `hi-widgets demo`:\n" + "".join(output), pytrace=False)


def _restore_sigint() -> None:  # background jobs may inherit SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.timeout(START_TIMEOUT + STOP_TIMEOUT + 30)
def test_hi_widgets_demo_serves_the_app_until_ctrl_c(tmp_path):
    command = Path(sys.executable).parent / "hi-widgets"
    assert command.exists(), (
        f"the hi-widgets console script is not installed next to {sys.executable}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop(app.USE_AWS_ENV_VAR, None)
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [str(command), "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        preexec_fn=_restore_sigint,
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        url = _wait_for_url(lines, output, START_TIMEOUT)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200
            page = response.read().decode("utf-8", "replace")
        assert "HealthImaging image set explorer" in page
        assert "sandbox.start" not in page, "Voila must not show the app's code"

        group = _process_group(process.pid)  # the demo, Voila and its kernels
        assert process.pid in {member.pid for member in group} and len(group) >= 2, group
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert process.wait(timeout=STOP_TIMEOUT) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        reader.join(timeout=10)
    # Voila and its kernels are gone with it.
    _, alive = psutil.wait_procs(group, timeout=STOP_TIMEOUT)
    if alive:
        for leftover in alive:
            leftover.kill()
        pytest.fail(f"{alive} of `hi-widgets demo` outlived it:\n" + "".join(output))


def _process_group(pgid: int) -> list[psutil.Process]:
    """Return the processes of process group ``pgid`` (those still there)."""
    members = []
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) == pgid:
                members.append(candidate)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


@pytest.mark.slow
@pytest.mark.timeout(START_TIMEOUT + STOP_TIMEOUT + 30)
def test_binder_launch_links_open_the_lab_and_the_voila_app(tmp_path):
    # Binder runs `jupyter server` at the repository root; the README links open
    # ?urlpath=lab/tree/notebooks/01-quickstart.ipynb and
    # ?urlpath=voila/render/notebooks/explorer-app.ipynb (Voila's server extension).
    port, token = app.free_port("127.0.0.1"), "hi-widgets-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop(app.USE_AWS_ENV_VAR, None)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    argv = [
        str(Path(sys.executable).parent / "jupyter-server"),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={ROOT}",
    ]
    log_path = tmp_path / "server.log"
    with serving(
        argv,
        port,
        cwd=tmp_path,
        env=env,
        log_path=log_path,
        timeout=START_TIMEOUT,
        stop_timeout=STOP_TIMEOUT,
    ):
        base = f"http://127.0.0.1:{port}"
        lab = f"{base}/lab/tree/notebooks/01-quickstart.ipynb?token={token}"
        with urllib.request.urlopen(lab, timeout=60) as response:
            assert response.status == 200
        # /lab/tree answers for any path: check the notebook is where the link points.
        contents = f"{base}/api/contents/notebooks/01-quickstart.ipynb?content=0&token={token}"
        with urllib.request.urlopen(contents, timeout=60) as response:
            assert response.status == 200
        voila = f"{base}/voila/render/notebooks/explorer-app.ipynb?token={token}"
        with urllib.request.urlopen(voila, timeout=90) as response:
            assert response.status == 200
            page = response.read().decode("utf-8", "replace")
        assert "HealthImaging image set explorer" in page
