"""An argument parser that names unknown options and never guesses from abbreviations.

argparse accepts ``--datastor`` for ``--datastore`` (a prefix) and, when a required
option is missing, reports that before an unknown one: ``--image-sets`` (a typo) was
reported as a missing ``--image-set`` and never named. Both hide the real mistake.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any


class StrictParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` without abbreviations that refuses unknown options first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args`` after refusing any option this parser does not know."""
        tokens = list(sys.argv[1:] if args is None else args)
        unknown = self._first_unknown_option(tokens)
        if unknown is not None:
            known = [o for o in self._option_string_actions if o.startswith("--")]
            close = difflib.get_close_matches(unknown, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.error(f"unrecognized option {unknown}{hint}")
        return super().parse_known_args(tokens, namespace)

    def _first_unknown_option(self, tokens: list[str]) -> str | None:
        commands = self._subcommand_names()
        for token in tokens:
            if token == "--" or token in commands:
                return None  # the rest is positional, or the subcommand's to check
            if not token.startswith("-") or token == "-":
                continue
            if (
                self._negative_number_matcher.match(token)
                and not self._has_negative_number_optionals
            ):
                continue
            name = token.split("=", 1)[0] if token.startswith("--") else token[:2]
            if name not in self._option_string_actions:
                return name
        return None

    def _subcommand_names(self) -> set[str]:
        names: set[str] = set()
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                names.update(action.choices)
        return names
