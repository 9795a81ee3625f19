"""The Voila app in a real browser: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches the ``chromium`` found on PATH
(``make browser-deps`` apt-installs it). Without chromium the tests are skipped with the
reason, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
APP_NOTEBOOK = ROOT / "notebooks" / "explorer-app.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60  # s until voila answers HTTP
APP_RENDER_TIMEOUT = 90_000  # ms until the kernel has run the notebook and widgets show
ACTION_TIMEOUT = 60_000  # ms for one fetch to finish and show in the page

pytestmark = pytest.mark.browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Debian chromium, launched by Playwright without any download."""
    executable = _find_chromium()
    if executable is None:
        reason = (
            "chromium is not on PATH; install it with `make browser-deps` "
            "(apt-get install chromium). Playwright never downloads a browser here."
        )
        if _in_ci():
            pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.25)
    raise TimeoutError(f"voila did not answer {url} within {timeout:.0f}s: {last_error}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def voila_app(tmp_path, monkeypatch) -> Iterator[str]:
    """Serve notebooks/explorer-app.ipynb with the venv's voila on a free local port."""
    voila = Path(sys.executable).parent / "voila"
    if not voila.exists():
        pytest.fail(f"voila is not installed next to {sys.executable}", pytrace=False)
    port = _free_port()
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
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(voila),
                str(APP_NOTEBOOK),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--Voila.port_retries=0",
                "--show_tracebacks=True",
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_for_http(url, process, SERVER_START_TIMEOUT)
            yield url
        finally:
            _stop(process)
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log_path, ARTIFACTS / "voila.log")


def test_chromium_launches_and_renders(page):
    page.set_content("<main><h1 class='probe'>hi_widgets</h1></main>")
    assert page.inner_text(".probe") == "hi_widgets"
