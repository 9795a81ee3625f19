"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel, without AWS.

The kernel is the ``python3`` kernel of the interpreter running the tests (jupyter_client
starts it with ``sys.executable``), so it sees the same installed hi_widgets. AWS
credential variables are removed and the AWS config files point at empty files, so a
developer's real profile can never leak into a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = {
    "01-quickstart.ipynb",
    "02-version-history.ipynb",
    "03-bulk-and-export.ipynb",
    "04-real-aws.ipynb",
    "05-what-changed.ipynb",
    "06-imports.ipynb",
    "explorer-app.ipynb",
}
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds for any one cell
NOTEBOOK_TIMEOUT = 240  # seconds for a whole notebook, kernel start included

# Everything through which botocore could find real credentials, a profile or an endpoint.
AWS_ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_MEDICAL_IMAGING",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "HI_WIDGETS_APP_USE_AWS",
)

pytestmark = pytest.mark.notebooks


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """Environment of the kernel: no AWS credentials, profile, region or endpoint."""
    for name in AWS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-empty"
    empty.mkdir()
    (empty / "config").write_text("")
    (empty / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    # No instance metadata service here: don't wait for its timeouts.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # debugpy in the kernel warns on stderr about frozen modules otherwise.
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def test_every_notebook_is_present():
    assert {nb.name for nb in NOTEBOOKS} >= EXPECTED


def test_kernel_is_this_interpreter():
    spec = KernelSpecManager().get_kernel_spec("python3")
    # jupyter_client swaps a bare "python" for sys.executable when it starts the kernel.
    assert spec.argv[0] in ("python", "python3", sys.executable), spec.argv


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: commit notebooks without outputs"
            assert cell["execution_count"] is None, f"{path.name}: stale execution counts"
        assert not cell.get("metadata", {}).get("execution"), f"{path.name}: timing metadata"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, nb["metadata"].keys()
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, no_aws):
    nb = nbformat.read(path, as_version=4)
    workdir = tmp_path / "run"
    workdir.mkdir()
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        allow_errors=False,
        # Run in a scratch directory: notebooks that write files (exports) write there.
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)

    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
    leaked = [
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr" and "Traceback" in output.get("text", "")
    ]
    assert not leaked, f"{path.name} printed tracebacks: {leaked}"


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
def test_explorer_app_asked_for_aws_without_credentials_uses_the_sandbox(
    tmp_path, no_aws, monkeypatch
):
    # `hi-widgets demo --aws` on a machine without credentials: the app still works.
    monkeypatch.setenv("HI_WIDGETS_APP_USE_AWS", "1")
    nb = nbformat.read(NOTEBOOK_DIR / "explorer-app.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print(source, client.meta.endpoint_url)"))
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT, resources=resources).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "local sandbox" in printed and "no AWS credentials were found" in printed, printed
    assert "http://127.0.0.1:" in printed, printed
