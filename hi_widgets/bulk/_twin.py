"""The single-attempt twin of a client that retries on its own (see the package notes)."""

from __future__ import annotations

import logging
from typing import Any

import botocore.session
from botocore.config import Config

from ..model import SERVICE_NAME

log = logging.getLogger(__name__)


class _GivenCredentials:
    """A botocore credential provider component that hands out one credentials object."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials


def single_attempt_client(client: Any, max_workers: int) -> Any:
    """Return ``client`` if botocore does not retry on it, else a single-attempt twin."""
    config = client.meta.config
    retries = config.retries or {}
    if retries.get("total_max_attempts") == 1:
        return client
    getter = getattr(client, "_get_credentials", None)
    if getter is None:  # pragma: no cover - a botocore without the accessor
        log.info("cannot derive a single-attempt client; botocore retries stay on")
        return client
    session = botocore.session.Session()
    session.register_component("credential_provider", _GivenCredentials(getter()))
    pool = max(max_workers, config.max_pool_connections or 10)
    twin_config = config.merge(
        Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=pool)
    )
    return session.create_client(
        SERVICE_NAME,
        region_name=client.meta.region_name,
        endpoint_url=client.meta.endpoint_url,
        config=twin_config,
    )


def close_twin(used: Any, given: Any) -> None:
    """Close the connection pool of a twin client (never the caller's own client)."""
    if used is not given:
        used.close()
