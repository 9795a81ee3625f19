"""The ``hi-widgets`` command line.

Each subcommand registers itself in :func:`build_parser` and runs through the ``func``
default it sets, so subcommands stay independent. Building the parser imports nothing
heavy (no pandas, matplotlib or ipywidgets); a command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from hi_widgets._version import __version__
from hi_widgets.cli import demo_app as app
from hi_widgets.cli import versions
from hi_widgets.cli._strict_parser import StrictParser
from hi_widgets.cli.versions import EXPORT_FORMATS
from hi_widgets.sandbox import command as sandbox_command

__all__ = ["EXPORT_FORMATS", "build_parser", "main"]


# ----------------------------------------------------------------------- sandbox command


def _add_sandbox(subparsers: argparse._SubParsersAction[Any]) -> None:
    # The sandbox owns its options (it also runs alone: python -m hi_widgets.sandbox).
    parser = subparsers.add_parser(
        "sandbox", help=sandbox_command.HELP, description=sandbox_command.DESCRIPTION
    )
    sandbox_command.add_arguments(parser)


# -------------------------------------------------------------------------- demo command


def _add_demo(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="serve the explorer as a Voila app on the local sandbox until Ctrl-C",
        description=(
            "Serve the ImageSetExplorer as a Voila web app on this machine. The app's "
            "kernel starts the local sandbox with demo data, so no AWS account is needed. "
            "Exit status: 0 after Ctrl-C, 143 after SIGTERM, 2 if refused (--aws on an "
            "address other machines can reach, without --allow-remote-aws) or Voila is not "
            "installed, otherwise Voila's own status if it stops or does not start."
        ),
    )
    app.add_arguments(parser)
    parser.set_defaults(func=app.run)


# ---------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hi-widgets`` argument parser with every subcommand.

    Examples
    --------
    >>> from hi_widgets.cli.main import build_parser
    >>> args = build_parser().parse_args(["versions", "--datastore", datastore_id,
    ...                                   "--image-set", image_set_id, "-o", "versions.csv"])
    >>> args.command, args.image_sets == [image_set_id]
    ('versions', True)
    """
    parser = StrictParser(
        prog="hi-widgets",
        description="AWS HealthImaging version histories: local sandbox, demo, exports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=StrictParser
    )
    _add_sandbox(subparsers)
    _add_demo(subparsers)
    versions.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hi-widgets`` command; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name; default: ``sys.argv[1:]``.

    Examples
    --------
    >>> from hi_widgets.cli.main import main
    >>> main(["versions", "--datastore", "not-an-id", "--image-set", image_set_id,
    ...       "-o", "versions.csv"])  # bad arguments: exit status 2, nothing requested
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)
