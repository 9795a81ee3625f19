"""``hi-widgets versions``: everything checked before the first request.

Destination, AWS configuration and identifiers are resolved here, so a bad argument or
configuration is reported once with the flag to fix, instead of failing every image set.
Each check returns its value or an error message.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ProfileNotFound

from hi_widgets.api.client import make_client
from hi_widgets.api.errors import CredentialsError, InvalidIdentifierError
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id
from hi_widgets.api.items import Item, read_id_file
from hi_widgets.export.files import FORMATS, check_destination

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile NAME (or set "
    "AWS_PROFILE), or run 'aws configure' / 'aws sso login --profile NAME'; for the local "
    "sandbox, run 'hi-widgets sandbox' and paste the lines it prints"
)


def check_output(args: argparse.Namespace) -> tuple[Path, str] | str:
    """Return (destination, format) or an error message, before any request."""
    try:
        return check_destination(args.output, args.format)
    except ValueError:
        return (
            f"-o {args.output}: cannot tell the file format; use --format "
            f"({', '.join(FORMATS)}) or a suffix such as .csv, .parquet, .json"
        )
    except OSError as error:
        return f"-o {args.output}: {error.strerror or error}"


def checked_client(
    args: argparse.Namespace, *, max_attempts: int = 1
) -> HealthImagingClient | str:
    """Return a client, or an error message naming the flag or variable to set.

    Profile, region and credentials are resolved here, before the first request, so a
    configuration problem is reported once instead of failing every image set.
    ``max_attempts``: 1 for a command that retries itself (``versions``), more to let
    botocore retry throttles and transient errors.
    """
    try:
        session = boto3.Session(profile_name=args.profile)
    except ProfileNotFound:
        source = "--profile" if args.profile else "AWS_PROFILE"
        name = args.profile or "(from AWS_PROFILE)"
        return (
            f"{source}: no profile {name} in the AWS config files (~/.aws/config, "
            "~/.aws/credentials); list them with 'aws configure list-profiles'"
        )
    region = args.region or session.region_name
    if not region:
        return (
            "no AWS region: pass --region (for example --region us-east-1), or set "
            "AWS_REGION or AWS_DEFAULT_REGION, or add a region to the profile"
        )
    profile = f"profile {session.profile_name}" if args.profile else "AWS credentials"
    try:
        credentials = session.get_credentials()
        frozen = None if credentials is None else credentials.get_frozen_credentials()
    except BotoCoreError as error:
        return f"cannot load the {profile}: {error}; {CREDENTIALS_HELP}"
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        if args.profile:
            return (
                f"--profile {args.profile}: the profile holds no credentials; add them "
                "('aws configure --profile NAME'), log in ('aws sso login --profile NAME'), "
                "or pick another --profile"
            )
        return f"no AWS credentials found: {CREDENTIALS_HELP}"
    try:
        return make_client(
            session=session,
            region=region,
            endpoint_url=args.endpoint_url,
            max_attempts=max_attempts,
        )
    except (CredentialsError, ValueError) as error:
        return str(error).replace("endpoint_url", "--endpoint-url")


def read_pairs(args: argparse.Namespace) -> list[Item] | str:
    """Return validated (datastoreId, imageSetId) pairs, or an error message.

    With ``--all`` the pairs are empty: the datastore's image sets are found by search.
    """
    try:
        datastore = None if args.datastore is None else validate_datastore_id(args.datastore)
    except InvalidIdentifierError as error:
        return f"--datastore: {error}"
    if args.all:
        return [] if datastore is not None else "give --datastore for --all"
    if args.from_file is not None:
        try:
            pairs, problems = read_id_file(args.from_file, datastore)
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read --from-file {args.from_file}: {error}"
        if problems:
            shown = "\n".join(f"  line {p.line}: {p.message}" for p in problems[:10])
            more = f"\n  and {len(problems) - 10} more" if len(problems) > 10 else ""
            return f"--from-file {args.from_file} has bad lines:\n{shown}{more}"
        if not pairs:
            return f"--from-file {args.from_file} holds no image set ids"
    elif datastore is None:
        return "give --datastore (or a datastoreId column in --from-file)"
    else:
        pairs = [(datastore, image_set) for image_set in args.image_sets]
    try:
        return [(validate_datastore_id(ds), validate_image_set_id(i)) for ds, i in pairs]
    except InvalidIdentifierError as error:
        return str(error)
