"""Building a boto3 ``medical-imaging`` client for AWS or for a local endpoint."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from hi_widgets._version import __version__
from hi_widgets.api.errors import CredentialsError, translate
from hi_widgets.api.model import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

ENDPOINT_ENV_VAR = "AWS_ENDPOINT_URL_MEDICAL_IMAGING"
RETRY_MODES = ("standard", "adaptive", "legacy")


def _check_endpoint(endpoint_url: str) -> str:
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint_url must be an http(s) URL such as http://127.0.0.1:8080, "
            f"got {endpoint_url!r}"
        )
    return endpoint_url


def make_client(
    *,
    session: boto3.Session | None = None,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 5,
    retry_mode: str = "standard",
    config: Config | None = None,
) -> HealthImagingClient:
    """Return a boto3 ``medical-imaging`` client configured for hi_widgets.

    Parameters
    ----------
    session
        A boto3 session to build the client from; default: a new session.
    profile
        A named profile from the AWS config files (not with ``session``).
    region
        AWS region; default: the session's region.
    endpoint_url
        A custom endpoint, such as the local sandbox. Default: the
        ``AWS_ENDPOINT_URL_MEDICAL_IMAGING`` environment variable, then AWS.
    max_attempts
        Total attempts per request, including retries (1 means no retry).
    retry_mode
        botocore retry mode, one of :data:`RETRY_MODES`: ``"standard"``, ``"adaptive"``
        (standard plus client-side rate limiting) or ``"legacy"`` (botocore's older
        rules). :func:`hi_widgets.fetch_versions` replaces these retries with its own.
    config
        Extra botocore ``Config``, merged over hi_widgets' defaults.

    Returns
    -------
    botocore.client.BaseClient
        A ``medical-imaging`` client. With a custom endpoint, host-prefix injection is
        off, so data-plane calls go to the endpoint itself instead of ``runtime-<host>``.

    Raises
    ------
    CredentialsError
        If the profile does not exist or no region can be found.
    ValueError
        If an argument is malformed.

    Examples
    --------
    >>> import boto3
    >>> session = boto3.Session(region_name="us-east-1", **sb.credentials())
    >>> sandbox_client = hw.make_client(session=session, endpoint_url=sb.endpoint_url)
    >>> [d["datastoreName"] for d in hw.list_datastores(sandbox_client)]
    ['demo-radiology', 'demo-oncology']
    """
    if session is not None and profile is not None:
        raise ValueError("pass either session or profile, not both")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if retry_mode not in RETRY_MODES:
        raise ValueError(f"retry_mode must be one of {RETRY_MODES}, got {retry_mode!r}")
    if endpoint_url is not None:
        _check_endpoint(endpoint_url)
    custom_endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV_VAR)

    with translate("CreateClient"):
        session = session or boto3.Session(profile_name=profile)
    region = region or session.region_name
    if not region:
        raise CredentialsError(
            "No AWS region is set: pass region= (for example 'us-east-1'), set "
            "AWS_DEFAULT_REGION, or add a region to your profile. For the local sandbox, "
            "paste the export lines `hi-widgets sandbox` printed (they set the region, "
            "the endpoint and the keys), or use `hi_widgets.sandbox.start().client()`.",
            operation="CreateClient",
        )
    retries: Any = {"total_max_attempts": max_attempts, "mode": retry_mode}
    defaults = Config(
        retries=retries,
        user_agent_extra=f"hi-widgets/{__version__}",
    )
    if custom_endpoint:
        # Otherwise botocore sends data-plane calls to runtime-<endpoint host>.
        defaults = defaults.merge(Config(inject_host_prefix=False))
    if config is not None:
        defaults = defaults.merge(config)
    with translate("CreateClient"):
        result: HealthImagingClient = session.client(
            SERVICE_NAME,  # type: ignore[call-overload]  # the stubs want a literal name
            region_name=region,
            endpoint_url=endpoint_url,
            config=defaults,
        )
        return result
