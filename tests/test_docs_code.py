"""Every page's Python, pasted in order into one fresh interpreter, runs (issue 22).

A reader copies the blocks of a page one after the other; so does this test: the
```python blocks of the README and of each docs page are joined and run in a new
process, in an empty folder, with no AWS settings (the pages use the local sandbox).
Blocks meant only to be read are fenced as something else (```text, a {code-block}).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)


def _code(page: Path) -> str:
    return "\n".join(BLOCK.findall(page.read_text(encoding="utf-8")))


PAGES_WITH_CODE = [page for page in PAGES if _code(page)]


def test_the_pages_hold_code_to_check():
    names = {page.name for page in PAGES_WITH_CODE}
    assert {"README.md", "getting-started.md"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.name)
def test_each_pages_code_runs_when_pasted_in_order(page, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    done = subprocess.run(
        [sys.executable, "-c", _code(page)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{page.name}:\n{done.stderr[-3000:]}"
