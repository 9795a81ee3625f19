"""The speed options of the bulk commands: ``--max-workers``, ``--quota``, ``--processes``.

``versions`` and ``sync`` share them; :func:`speed_options` checks them before any request
and returns the keyword arguments of the bulk call.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-workers``, ``--quota`` (repeatable) and ``--processes``."""
    parser.add_argument(
        "--max-workers", type=int, default=8, help="concurrent requests (default: %(default)s)"
    )
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="OPERATION=RATE/BURST",
        help="a raised quota of this account, e.g. ListImageSetVersions=250/500 "
        "(repeatable; default: the published quotas)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="send the requests from N child processes, for raised quotas beyond what one "
        "process sends (a few hundred requests per second)",
    )


def speed_options(args: argparse.Namespace) -> dict[str, Any] | str:
    """Return ``max_workers``, ``quota_rates`` and ``processes`` for the bulk call, or an error."""
    from hi_widgets.limits.quotas import check_quota

    if args.max_workers < 1:
        return "--max-workers must be at least 1"
    if args.processes is not None and args.processes < 1:
        return f"--processes must be at least 1, got {args.processes}"
    quotas: dict[str, tuple[float, float]] = {}
    for given in args.quota:
        operation, _, numbers = given.partition("=")
        rate, _, burst = numbers.partition("/")
        try:
            pair = float(rate), float(burst)
        except ValueError:
            return f"--quota {given}: expected OPERATION=RATE/BURST, e.g. GetImageSet=250/500"
        try:
            quota = check_quota(operation.strip(), *pair)
        except ValueError as error:
            return f"--quota {given}: {error}"
        quotas[operation.strip()] = (quota.rate, quota.burst)
    return {
        "max_workers": args.max_workers,
        "quota_rates": quotas or None,
        "processes": args.processes,
    }
