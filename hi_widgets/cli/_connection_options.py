"""The connection options every command that calls AWS shares (read by ``checked_client``).

Kept apart from :mod:`._versions_inputs` so that building the parser (``--help``) does not
import boto3.
"""

from __future__ import annotations

import argparse

ENDPOINT_HELP = "custom endpoint, e.g. the local sandbox (http://127.0.0.1:8080)"


def add_connection_arguments(
    parser: argparse.ArgumentParser,
    *,
    profile_help: str = "AWS profile name",
    endpoint_help: str = ENDPOINT_HELP,
) -> None:
    """Add ``--profile``, ``--region`` and ``--endpoint-url`` (read by ``checked_client``)."""
    parser.add_argument("--profile", help=profile_help)
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--endpoint-url", help=endpoint_help)
