"""What the command line prints for people: the sandbox's sample ids and example command."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import hi_widgets
from hi_widgets.export.files import read_frame

NEEDED = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_MEDICAL_IMAGING",
}


@pytest.mark.slow
def test_the_sandboxs_example_command_runs_as_printed(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(Path(hi_widgets.__file__).resolve().parents[1])
    command = [
        sys.executable,
        "-m",
        "hi_widgets.cli",
        "sandbox",
        "--port",
        "0",
        "--no-quotas",
    ]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        err = []
        while not err or not err[-1].startswith("Press Ctrl-C"):
            line = server.stderr.readline()
            assert line, "".join(err)
            err.append(line)
        exported = {}
        while not exported.keys() >= NEEDED:
            line = server.stdout.readline()
            assert line.startswith("export "), line
            key, value = shlex.split(line)[1].split("=", 1)
            exported[key] = value
        text = "".join(err)
        counts = [int(n) for n in re.findall(r"^  [0-9a-z]{32}  \((\d+) versions?\)$", text, re.M)]
        assert len(counts) == 3 and counts[0] == 73  # the long history first
        example = err[err.index("Try, in a shell with the lines above pasted:\n") + 1]
        argv = shlex.split(example)
        assert argv[:2] == ["hi-widgets", "versions"]
        run = subprocess.run(
            [sys.executable, "-m", "hi_widgets.cli", *argv[1:], "--no-progress"],
            env={**env, **exported},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert len(read_frame(tmp_path / "versions.csv")) == sum(counts)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
