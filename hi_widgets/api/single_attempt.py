"""The single-attempt twin of a client that retries on its own.

The bulk calls (:mod:`hi_widgets.bulk`) retry and pace requests themselves, so botocore must
not retry underneath them (see that package's notes). A twin is built once per client
and kept (with its warm connection pool) while the client lives, so repeated calls do
not pay for building it. It shares the client's loaded service model (building one from
scratch costs ~150 ms of CPU) and parses timestamps straight to UTC: botocore's default
parser goes through the local time zone, which costs more CPU per response than anything
else in the parse at high request rates.
:func:`build_single_attempt_client` is the same recipe from parts, for a child process
that sends a parent's requests (:mod:`hi_widgets.api.send_process`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp

from hi_widgets.api.model import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

log = logging.getLogger(__name__)

_twins: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


class _GivenCredentials:
    """A botocore credential provider component that hands out one credentials object."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials


def _utc_timestamp(value: Any) -> datetime:
    if isinstance(value, (int, float)):  # JSON protocols send epoch seconds
        return datetime.fromtimestamp(value, timezone.utc)
    return parse_timestamp(value).astimezone(timezone.utc)


def build_single_attempt_client(
    credentials: Any,
    *,
    region_name: str | None,
    endpoint_url: str | None,
    config: Config,
    pool: int,
    verify: bool | str | None = None,
    loader: Any = None,
) -> HealthImagingClient:
    """Build a client that sends each request once, with ``pool`` connections, UTC times.

    ``credentials`` is a botocore credentials object (refreshing or not) or None;
    ``config`` the configuration to start from (a client's ``meta.config``); ``verify``
    the TLS verification as ``boto3.client(verify=...)`` takes it (see
    :func:`client_verify`); ``loader`` a loaded data loader to share (else the service
    model is loaded again).
    """
    session = botocore.session.Session()
    session.register_component("credential_provider", _GivenCredentials(credentials))
    if loader is not None:
        session.register_component("data_loader", loader)
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_utc_timestamp
    )
    single = config.merge(
        Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool,
            parameter_validation=False,  # identifiers are checked before any request
        )
    )
    client = session.create_client(
        SERVICE_NAME,
        region_name=region_name,
        endpoint_url=endpoint_url,
        verify=verify,
        config=single,
    )
    return cast("HealthImagingClient", client)  # botocore builds it from the same model


def client_verify(client: HealthImagingClient) -> bool | str | None:
    """Return how ``client`` verifies TLS: False, a CA bundle's path, or None (unknown).

    ``verify=`` is an argument of client creation, not part of its ``Config``, and a
    profile's ``ca_bundle`` is resolved then: a client built again from its parts must be
    given it, or it would trust another set of authorities than the user chose.
    """
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", None)  # botocore's own (private) attribute
    return verify if isinstance(verify, (bool, str)) else None


def _build_twin(client: HealthImagingClient, pool: int) -> HealthImagingClient:
    return build_single_attempt_client(
        # botocore's own (private) accessor: the same credentials object, refreshing or not
        getattr(client, "_get_credentials")(),  # noqa: B009
        region_name=client.meta.region_name,
        endpoint_url=client.meta.endpoint_url,
        config=client.meta.config,
        pool=pool,
        verify=client_verify(client),
        loader=getattr(client, "_loader", None),
    )


def single_attempt_client(client: HealthImagingClient, max_workers: int) -> HealthImagingClient:
    """Return ``client`` if botocore does not retry on it, else its single-attempt twin."""
    config = client.meta.config
    # Config sets its options as attributes at run time; the stubs declare them as __init__
    # arguments only.
    retries: dict[str, Any] = getattr(config, "retries", None) or {}
    if retries.get("total_max_attempts") == 1:
        return client
    if getattr(client, "_get_credentials", None) is None:  # pragma: no cover
        log.info("cannot derive a single-attempt client; botocore retries stay on")
        return client
    pool = max(max_workers, getattr(config, "max_pool_connections", None) or 10)
    with _twins_lock:
        twin = _twins.get(client)
        if twin is None or getattr(twin.meta.config, "max_pool_connections", 0) < pool:
            twin = _build_twin(client, pool)
            _twins[client] = twin
            weakref.finalize(client, twin.close)
    return twin
