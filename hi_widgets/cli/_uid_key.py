"""``--uid-key-env NAME``: the HMAC key for replacement UIDs, read from the environment.

One option for every command that writes de-identified rows (``versions``, ``sync``), so
they take the key the same way. The key itself is never a command-line argument: it
would be in the shell's history and in every process listing.
"""

from __future__ import annotations

import argparse
import os

OPTION = "--uid-key-env"


def add_uid_key_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--uid-key-env NAME`` (``args.uid_key_env``) to ``parser``."""
    parser.add_argument(
        OPTION,
        metavar="NAME",
        help="environment variable holding the HMAC key for replacement UIDs (the same "
        "key on every run keeps them joinable; a key is never read from the command line)",
    )


def uid_key_from_env(args: argparse.Namespace) -> str | None:
    """Return the key ``--uid-key-env`` names (None without the option).

    Raises
    ------
    ValueError
        Naming the option, if the variable is unset or empty, or if ``--include-phi``
        keeps the UIDs as they are (the key would not be used).
    """
    name = args.uid_key_env
    if name is None:
        return None
    if getattr(args, "include_phi", False):
        raise ValueError(
            f"{OPTION}: --include-phi keeps the UIDs as they are, so the key would not be "
            "used; pass one or the other"
        )
    key = os.environ.get(name)
    if not key:
        raise ValueError(f"{OPTION}: the environment variable {name} is unset or empty")
    return key
