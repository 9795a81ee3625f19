"""Shared test setup: no test writes into the user's cache folder (AWS isolation for every
test and doctest is in the root conftest.py)."""

import logging
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def session_cache_dir(tmp_path_factory):
    """Point hi-widgets' per-user cache at one temporary folder for the test session.

    Session-scoped so it is set before any module-scoped sandbox starts. Tests (and the
    processes they start) never write into the real home; the demo's template cache is
    still shared between them, as between a user's sandbox starts.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HI_WIDGETS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


# --------------------------------------------------------------------------- widget tests
# A widget test module gets one sandbox (``box``) for all its tests, and ``sb``: that
# sandbox with faults, denials and the request log reset around each test. A module can
# set ``SANDBOX_OPTIONS`` (keyword arguments of ``sandbox.start``) to start it otherwise.

WIDGET_SANDBOX_OPTIONS = {"seed": 0, "quotas": False}
DENIABLE_OPERATIONS = (
    "ListDatastores",
    "GetImageSet",
    "ListImageSetVersions",
    "SearchImageSets",
    "GetImageSetMetadata",
)


@pytest.fixture(scope="module")
def box(request):
    """One local sandbox for the test module (seed 0, no quotas unless the module says)."""
    from hi_widgets import sandbox

    options = getattr(request.module, "SANDBOX_OPTIONS", WIDGET_SANDBOX_OPTIONS)
    with sandbox.start(**options) as sb:
        yield sb


@pytest.fixture
def sb(box):
    """The module's sandbox, with faults, denials and the request log reset after each test."""
    box.set_faults()
    box.clear_requests()
    yield box
    box.set_faults()
    for operation in DENIABLE_OPERATIONS:
        box.allow(operation)


@pytest.fixture
def no_swallowed_callback_errors(caplog):
    """Fail the test if ipywidgets logged (and swallowed) an exception from a callback.

    Widget modules use it for every test: ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    caplog.set_level(logging.WARNING)
    yield
    swallowed = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert not swallowed, swallowed


class RequestGate:
    """Holds a client's ``nth`` request of one operation before it is sent.

    ``reached`` is set when that request is about to go out; it then waits (bounded)
    until :meth:`release`. Earlier requests pass straight through; later ones too, unless
    ``and_later``: then every request from the ``nth`` on is held until the release.
    """

    def __init__(
        self, client, operation: str, nth: int, timeout: float, and_later: bool = False
    ) -> None:
        self.nth = nth
        self.and_later = and_later
        self.timeout = timeout
        self.count = 0
        self.reached = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        client.meta.events.register(f"before-send.medical-imaging.{operation}", self._hook)

    def _hook(self, **_kwargs):
        with self._lock:
            self.count += 1
            held = self.count == self.nth or (self.and_later and self.count > self.nth)
        if held:
            self.reached.set()
            if not self.released.wait(self.timeout):
                raise TimeoutError("RequestGate was never released")
        return None  # send the request as usual

    def wait_reached(self) -> None:
        assert self.reached.wait(self.timeout), "the held request was never sent"

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def hold_request():
    """Make a :class:`RequestGate`: ``hold_request(client, "GetImageSet", nth=1)``.

    Lets a test act while a widget's job is certainly still running (busy buttons,
    Cancel) without relying on latency and timing. Every gate is released at teardown.
    """
    gates = []

    def make(
        client, operation: str, nth: int = 1, timeout: float = 120.0, and_later: bool = False
    ) -> RequestGate:
        gate = RequestGate(client, operation, nth, timeout, and_later)
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        gate.release()


# ------------------------------------------------------------------------------ S3 tests
# A real S3 endpoint over HTTP: moto in server mode, one per test session. Tests reach it
# through boto3's standard configuration (AWS_ENDPOINT_URL_S3), as a user's S3-compatible
# server would be reached; nothing in boto3 is mocked.

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def s3_server():
    """Start moto's S3 server on a free loopback port; yields its endpoint URL."""
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_endpoint(s3_server, monkeypatch):
    """The S3 endpoint, with the environment pointing boto3's S3 clients at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


@pytest.fixture
def s3_bucket(s3_endpoint):
    """A new, empty bucket on the S3 endpoint (its name is unique per test)."""
    import uuid

    import boto3

    name = f"hi-widgets-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def stubbed():
    """A one-attempt medical-imaging client under ``botocore.stub.Stubber``: (client, stub).

    Stubber checks every request and response against the real service model; the test
    fails if a stubbed response is left unused.
    """
    import boto3
    from botocore.stub import Stubber

    from hi_widgets.api.client import make_client

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = make_client(session=session, max_attempts=1)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


# ------------------------------------------------------------- `hi-widgets sandbox` in-process
SERVE_TIMEOUT = 120  # s: a safety net only; the wait ends on an event


@dataclass
class ServedCommand:
    """``hi-widgets sandbox`` running in a thread, and what it printed."""

    stop: threading.Event
    thread: threading.Thread
    exports: dict[str, str]
    stderr: str

    def client(self, **retries):
        """A boto3 client configured only from the printed ``export`` lines."""
        import boto3
        import botocore.config

        return boto3.Session(
            aws_access_key_id=self.exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.exports["AWS_SECRET_ACCESS_KEY"],
            region_name=self.exports["AWS_DEFAULT_REGION"],
        ).client(
            "medical-imaging",
            endpoint_url=self.exports["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
            config=botocore.config.Config(inject_host_prefix=False, retries=retries or None),
        )

    def shut_down(self) -> None:
        self.stop.set()
        self.thread.join(SERVE_TIMEOUT)
        assert not self.thread.is_alive(), "the sandbox command did not stop"


@pytest.fixture
def serve_sandbox_command(capsys, monkeypatch):
    """Run ``hi-widgets sandbox ARGS`` in a thread; return a :class:`ServedCommand`.

    Waits, on an event, for the point right after the ``export`` lines are printed (the
    command prints its sample image sets next); stops the thread on teardown.
    """
    from hi_widgets.cli.main import build_parser
    from hi_widgets.sandbox import command

    printed = threading.Event()
    sample_lines = command.sample_lines

    def sample_lines_then_signal(store):
        printed.set()
        return sample_lines(store)

    monkeypatch.setattr(command, "sample_lines", sample_lines_then_signal)
    served: list[ServedCommand] = []

    def serve(argv):
        args = build_parser().parse_args(["sandbox", "--port", "0", *argv])
        stop = threading.Event()
        status = []
        thread = threading.Thread(
            target=lambda: status.append(command.run(args, stop)), daemon=True
        )
        thread.start()
        while not printed.wait(0.5):  # wake up only to notice a thread that gave up
            assert thread.is_alive(), f"the sandbox exited with {status}"
        captured = capsys.readouterr()
        exports = dict(
            shlex.split(line)[1].split("=", 1)
            for line in captured.out.splitlines()
            if line.startswith("export ")
        )
        served.append(ServedCommand(stop, thread, exports, captured.err))
        return served[-1]

    yield serve
    for running in served:
        running.shut_down()


# -------------------------------------------------------------------------- browser tests
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium, launched by Playwright (which never downloads one here).

    Missing chromium skips the test, except in CI (``CI`` set), where it fails it.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing(
            "chromium is not on PATH; install it with `make browser-deps` "
            "(apt-get install chromium). Playwright never downloads a browser here."
        )
    from playwright.sync_api import sync_playwright  # the test extra only

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _missing(reason: str) -> None:
    """Skip a browser test for a missing tool, or fail it in CI (which must run them)."""
    if _in_ci():
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ARTIFACTS = ROOT / "test-artifacts"
APP_NOTEBOOK = ROOT / "notebooks" / "explorer-app.ipynb"
VOILA_START_TIMEOUT = 60  # s until voila listens on its port
AXE_JS = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's ``axe.min.js``, installed from npm by ``make axe`` (or HI_WIDGETS_AXE_JS)."""
    path = Path(os.environ.get("HI_WIDGETS_AXE_JS", AXE_JS))
    if not path.is_file():
        _missing(f"axe-core is not installed at {path}; run `make axe` (npm install)")
    return path


@pytest.fixture
def voila_app(tmp_path) -> Iterator[str]:
    """Serve notebooks/explorer-app.ipynb with the venv's voila on a free local port."""
    from server_helpers import serving

    from hi_widgets.cli import demo_app as app

    voila = Path(sys.executable).parent / "voila"
    if not voila.exists():
        pytest.fail(f"voila is not installed next to {sys.executable}", pytrace=False)
    port = app.free_port("127.0.0.1")
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("AWS_") or name == "HI_WIDGETS_APP_USE_AWS":
            del env[name]
    (tmp_path / "aws-config").write_text("")
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    log_path = tmp_path / "voila.log"
    argv = [
        str(voila),
        str(APP_NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
    ]
    try:
        with serving(
            argv, port, cwd=tmp_path, env=env, log_path=log_path, timeout=VOILA_START_TIMEOUT
        ):
            yield f"http://127.0.0.1:{port}/"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "voila.log")
