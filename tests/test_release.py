"""The release: one version, a changelog, and the built wheel working in a clean venv.

The slow tests build the sdist and the wheel with ``python -m build`` (the wheel from the
sdist, so the sdist is complete), check both with ``twine check --strict``, install the
wheel with its ``app`` extra into a fresh ``python -m venv`` (pip may reach PyPI for the
dependencies) and use it as a user would: ``hi-widgets --help``, ``hi-widgets demo``
until it serves the app page, and a notebook executed by the venv's own kernel. Nothing
of the checkout is on the path there (no PYTHONPATH, the working folder is a temporary one).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import hi_widgets
from hi_widgets._version import __version__

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = ROOT / "CHANGELOG.md"
NOTEBOOK = ROOT / "notebooks" / "01-quickstart.ipynb"
INSTALL_TIMEOUT = 3000  # s for pip to install the wheel and its dependencies (a busy machine)
DEMO_TIMEOUT = 180  # s until the demo prints its URL, and for the app page to render


# ------------------------------------------------------------------------------ fast


def test_the_version_is_written_in_one_place():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.M)
    assert re.search(
        r'^\[tool\.hatch\.version\]\npath = "hi_widgets/_version.py"$', pyproject, re.M
    )
    assert not re.search(r"^version\s*=", pyproject, re.M)
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # The version literal, quoted as code writes it; the changelog names it in prose.
    literal = re.compile(rf"""["']{re.escape(__version__)}["']""")
    holders = [
        name
        for name in tracked
        if name.endswith((".py", ".toml", ".cfg", ".md", ".yml", ".yaml", ".json", ".ipynb"))
        and literal.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    ]
    assert holders == ["hi_widgets/_version.py"]
    assert hi_widgets.__version__ == __version__


def test_the_changelog_keeps_a_changelog():
    text = CHANGELOG.read_text()
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/en/1.1.0/" in text
    assert "https://semver.org/spec/v2.0.0.html" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[0] == "Unreleased"
    sections = re.findall(r"^### (\w+)", text, re.M)
    assert sections and set(sections) <= {
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    }
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    assert "issue 19" in unreleased
    # Every released version has its heading with its date (ISO 8601).
    for version in headings[1:]:
        assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$", text, re.M)


# ------------------------------------------------------------------------------ slow


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a user's shell: no checkout on the path, no AWS, own Jupyter dirs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "JUPYTER", "PYTHON", "VIRTUAL_ENV", "HI_WIDGETS_"))
        and k != "IPYTHONDIR"
    }
    (tmp / "aws-config").write_text("")
    env.update(
        AWS_CONFIG_FILE=str(tmp / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        IPYTHONDIR=str(tmp / "ipython"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel, built as a release is."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
    )
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with the wheel installed with its ``app`` extra; its bin folder, env."""
    home = tmp_path_factory.mktemp("user")
    env = _clean_env(home)
    folder = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    (wheel,) = dist.glob("*.whl")
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[app]"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    yield bin_dir, env
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(4800)
def test_the_sdist_and_wheel_pass_twine_check_strict(dist):
    sdist = dist / f"hi_widgets-{__version__}.tar.gz"
    wheel = dist / f"hi_widgets-{__version__}-py3-none-any.whl"
    assert sorted(dist.iterdir()) == sorted([sdist, wheel])
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"hi_widgets-{__version__}.dist-info/METADATA").decode()
    assert "hi_widgets/_app/explorer-app.ipynb" in names  # what `hi-widgets demo` serves
    assert f"Version: {__version__}\n" in metadata
    assert "Provides-Extra: app" in metadata


@pytest.mark.slow
@pytest.mark.timeout(4800)
def test_the_installed_command_answers_help_and_version(venv):
    bin_dir, env = venv
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import hi_widgets; print(hi_widgets.__file__)"],
        env=env,
        cwd=bin_dir.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(bin_dir.parent)  # the wheel, not the checkout
    helped = subprocess.run(
        [str(bin_dir / "hi-widgets"), "--help"], env=env, capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("sandbox", "demo", "versions"))
    version = subprocess.run(
        [str(bin_dir / "hi-widgets"), "--version"], env=env, capture_output=True, text=True
    )
    assert version.stdout.strip() == f"hi-widgets {__version__}"


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@pytest.mark.slow
@pytest.mark.timeout(4800)
def test_the_installed_demo_serves_the_app(venv, tmp_path):
    bin_dir, env = venv
    demo = subprocess.Popen(
        [str(bin_dir / "hi-widgets"), "demo", "--port", "0"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, printed), daemon=True).start()
    seen: list[str] = []
    try:
        url = None
        while url is None:
            line = printed.get(timeout=DEMO_TIMEOUT)  # an event: the next line printed
            assert line is not None, "demo exited before serving:\n" + "".join(seen)
            seen.append(line)
            found = re.search(r"hi_widgets explorer: (http://\S+)", line)
            url = found.group(1) if found else None
        # Voila answers once its kernel has run the app notebook: the page holds the widgets.
        with urllib.request.urlopen(url, timeout=DEMO_TIMEOUT) as response:
            assert response.status == 200
            page = response.read().decode()
        assert "application/vnd.jupyter.widget-view+json" in page
        assert "local sandbox" in page  # the app's own text: it runs on the demo sandbox
        assert "Traceback" not in page
    finally:
        demo.send_signal(signal.SIGTERM)  # the demo stops Voila and its kernel
        try:
            status = demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert status == 143, "".join(seen)


RUN_NOTEBOOK = """
import sys
import nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import sys, hi_widgets; print(sys.prefix); print(hi_widgets.__file__)"
))
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
print(nb.cells[-1].outputs[0]["text"], end="")
"""


@pytest.mark.slow
@pytest.mark.timeout(4800)
def test_a_notebook_runs_in_the_installed_kernel(venv, tmp_path):
    bin_dir, env = venv
    notebook = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    ran = subprocess.run(
        [str(bin_dir / "python"), "-c", RUN_NOTEBOOK, str(notebook)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stderr[-5000:]
    prefix, module = ran.stdout.splitlines()[-2:]
    venv_dir = bin_dir.parent
    assert Path(prefix).resolve() == venv_dir.resolve()  # the venv's kernel, no other
    assert Path(module).resolve().is_relative_to(venv_dir.resolve())
