"""The ``hi-widgets`` command line.

Every command is registered one way: a row of :data:`COMMANDS` names the command and
the module that owns it, which gives ``HELP``, ``DESCRIPTION``, ``add_arguments(parser)``
(its options only) and ``run(args) -> exit status``. Building the parser imports nothing
heavy (no pandas, matplotlib or ipywidgets); a command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import NamedTuple

from hi_widgets._version import __version__
from hi_widgets.cli import demo_app, imports, sync, versions
from hi_widgets.cli._strict_parser import StrictParser
from hi_widgets.cli.versions import EXPORT_FORMATS
from hi_widgets.sandbox import command as sandbox_command

__all__ = ["COMMANDS", "EXPORT_FORMATS", "Command", "build_parser", "main"]


class Command(NamedTuple):
    """One ``hi-widgets`` command: its name, help, options and what runs it."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = tuple(
    Command(name, module.HELP, module.DESCRIPTION, module.add_arguments, module.run)
    for name, module in (
        # The sandbox owns its command (it also runs alone: python -m hi_widgets.sandbox).
        ("sandbox", sandbox_command),
        ("demo", demo_app),
        ("versions", versions),
        ("imports", imports),
        ("sync", sync),
    )
)
"""Every ``hi-widgets`` command, in the order ``--help`` lists them."""


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
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.add_arguments(sub)
        sub.set_defaults(func=command.run)
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
