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
        assert " versions --datastore " in example
        # As printed, in a new shell whose PATH has no venv in it (issue 22: a bare
        # `hi-widgets` was "command not found" there).
        run = subprocess.run(
            ["/bin/sh", "-c", example.strip() + " --no-progress"],
            env={**env, **exported, "PATH": "/usr/bin:/bin"},
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


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # Issue 22: a typo was reported as a missing option, never named.
        (
            ["versions", "--datastore", "x", "--image-sets", "y"],
            "--image-sets (did you mean --image-set?)",
        ),
        # ... and an abbreviation was accepted as if it were the option.
        (
            ["versions", "--datastor", "x", "--image-set", "y"],
            "--datastor (did you mean --datastore?)",
        ),
        (["sandbox", "--prot", "8080"], "--prot (did you mean --port?)"),
        (["--verison"], "--verison (did you mean --version?)"),
        (["demo", "--bogus"], "unrecognized option --bogus"),
    ],
)
def test_unknown_options_and_abbreviations_are_named(capsys, argv, said):
    from hi_widgets.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert said in capsys.readouterr().err


def test_option_values_that_look_like_numbers_are_not_options():
    from hi_widgets.cli.main import build_parser

    args = build_parser().parse_args(["sandbox", "--port", "0", "--quota-scale", "2"])
    assert args.port == 0


def test_every_command_is_registered_one_way():
    # Issue 19: the sandbox, demo and versions commands were added three different ways.
    import argparse
    import ast

    from hi_widgets.cli import main

    parser = main.build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == [command.name for command in main.COMMANDS]
    for command in main.COMMANDS:
        sub = subparsers.choices[command.name]
        assert sub.description == command.description
        assert sub.get_default("func") is command.run
        assert "Exit status" in command.description
    # Only main.py adds subcommands or chooses what runs them.
    package = Path(hi_widgets.__file__).parent
    for path in [*package.joinpath("cli").glob("*.py"), package / "sandbox" / "command.py"]:
        if path.name == "main.py":
            continue
        calls = {
            node.func.attr
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"add_parser", "set_defaults", "add_subparsers"}, path.name
