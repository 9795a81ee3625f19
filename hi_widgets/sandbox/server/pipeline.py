"""The sandbox's request pipeline, independent of the HTTP server.

Every request goes through :meth:`Service.handle`, in the order the real service applies
its checks: Host header (no DNS rebinding) -> route (from the model) -> SigV4 signature
(verified with the sandbox's keys, within the clock skew) -> per-operation denials ->
injected faults and latency -> quotas -> request parsing and validation (from the model)
-> the operation (from the explicit registry) -> serialisation (from the model).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.model import ServiceModel

from hi_widgets.sandbox.backend.errors import ServiceError
from hi_widgets.sandbox.runtime.faults import (
    FAULT_DROP,
    FAULT_ERROR,
    FAULT_THROTTLE,
    FaultInjector,
)
from hi_widgets.sandbox.runtime.quota_table import QuotaTable
from hi_widgets.sandbox.runtime.request_log import DROPPED, RequestLog, RequestLogEntry
from hi_widgets.sandbox.server.registry import OperationRegistry
from hi_widgets.sandbox.server.sigv4 import (
    MAX_CLOCK_SKEW,
    SIGNING_NAME,
    read_signature,
    signature_matches,
    time_problem,
)
from hi_widgets.sandbox.server.validate import validate_request
from hi_widgets.sandbox.server.wire import (
    Response,
    Router,
    parse_request,
    serialize_error,
    serialize_response,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Requests with a larger body are refused (the largest model member is ~260 kB)."""
MAX_CONNECTIONS = 64
"""Connections served at once (one thread each); more are answered 503 and closed."""


def host_allowed(host_header: str | None, extra: frozenset[str]) -> bool:
    """Return whether a Host header names this sandbox, not someone else's domain.

    An IP literal or ``localhost`` is accepted (a DNS rebinding attack needs a domain
    name of the attacker's, which resolves to 127.0.0.1 only for the attack), and so is
    any name in ``extra``; ``"*"`` in ``extra`` accepts every Host.
    """
    if "*" in extra:
        return True
    if not host_header:
        return False
    name = urlsplit(f"//{host_header}").hostname
    if name is None:
        return False
    if name == "localhost" or name in extra:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Service:
    """The sandbox's request pipeline, independent of the HTTP server.

    Parameters
    ----------
    model
        The botocore service model that routes, parses, validates and serialises.
    operations
        The registry of the operations answered (nothing else is reachable).
    quotas
        Per-operation token buckets.
    faults
        The fault injector.
    log
        Where each request is recorded.
    access_key_ids
        If given, only requests signed with one of these access key ids are served.
    secret_keys
        ``{access_key_id: secret_access_key}``: every signature (header or presigned query
        form) is recomputed with the secret of its key and must match; only these keys are
        served. None turns verification off (only the signature's form is checked): the
        documented opt-out for tests whose clients sign with keys the sandbox cannot know.
    account_id
        The account named in access-denied messages.
    signing_time
        The "now" that signing times are compared with (default: the real time).
    max_clock_skew
        How far a header signature's time may be from ``signing_time`` (AWS: 15 minutes);
        None: no limit. Only checked while ``secret_keys`` is set.
    allowed_hosts
        Host names accepted in the Host header besides IP literals and ``localhost``
        (``"*"``: any; see :func:`host_allowed`).
    region
        The sandbox's region: a signature whose credential scope names another region is
        refused as AWS refuses it (403 InvalidSignatureException, "Credential should be
        scoped to a valid region, not '...'."). None: any region.
    """

    def __init__(
        self,
        model: ServiceModel,
        operations: OperationRegistry,
        quotas: QuotaTable,
        faults: FaultInjector,
        log: RequestLog,
        access_key_ids: Iterable[str] | None = None,
        secret_keys: dict[str, str] | None = None,
        *,
        account_id: str = "123456789012",
        signing_time: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        max_clock_skew: timedelta | None = MAX_CLOCK_SKEW,
        allowed_hosts: Iterable[str] = (),
        region: str | None = None,
    ) -> None:
        self.model = model
        self.region = region
        self.router = Router(model)
        self.operations = operations
        self.quotas = quotas
        self.faults = faults
        self.log = log
        self.access_key_ids = frozenset(access_key_ids) if access_key_ids is not None else None
        self.secret_keys = dict(secret_keys) if secret_keys is not None else None
        self.account_id = account_id
        self.signing_time = signing_time
        self.max_clock_skew = max_clock_skew
        self.allowed_hosts = frozenset(allowed_hosts)
        self._denials: dict[str, frozenset[str] | None] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ denials

    def deny(self, operation: str, image_set_ids: Iterable[str] | None = None) -> None:
        """Answer AccessDeniedException to ``operation`` (optionally for some image sets)."""
        if operation not in self.model.operation_names:
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            self._denials[operation] = (
                frozenset(image_set_ids) if image_set_ids is not None else None
            )

    def allow(self, operation: str) -> None:
        """Undo :meth:`deny` for ``operation``."""
        with self._lock:
            self._denials.pop(operation, None)

    def _denied(self, operation: str, labels: dict[str, str]) -> bool:
        with self._lock:
            if operation not in self._denials:
                return False
            image_set_ids = self._denials[operation]
        if image_set_ids is None:
            return True
        return bool({labels.get("imageSetId"), labels.get("sourceImageSetId")} & image_set_ids)

    # ----------------------------------------------------------------- pipeline

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Response | None:
        """Answer one HTTP request; None means: drop the connection without a response.

        ``body`` is None when it could not be read (malformed framing or too large).
        """
        host = {k.lower(): v for k, v in headers.items()}.get("host")
        if not host_allowed(host, self.allowed_hosts):
            # DNS rebinding: a page of another origin that resolves its own name to this
            # address reaches the sandbox with its name in the Host header.
            return self._error(
                "",
                {},
                ServiceError(
                    "AccessDeniedException",
                    f"Host {host!r} is not an address of this sandbox (use its IP address "
                    "or localhost, or start it with allowed_hosts)",
                ),
            )
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        matched = self.router.match(method, split.path, query)
        if matched is None:
            return self._error(
                "",
                {},
                ServiceError(
                    "UnknownOperationException",
                    f"No HealthImaging operation matches {method} {split.path}",
                ),
            )
        operation, labels = matched
        name = operation.name
        params: dict[str, Any] = dict(labels)
        try:
            if body is None:
                raise ServiceError(
                    "ValidationException",
                    f"The request body is malformed or larger than {MAX_BODY_BYTES} bytes",
                )
            self._authenticate(method, target, headers, query, body)
            if self._denied(name, labels):
                raise ServiceError(
                    "AccessDeniedException",
                    f"User: arn:aws:iam::{self.account_id}:user/sandbox is not "
                    f"authorized to perform: medical-imaging:{name}",
                )
            decision = self.faults.decide(name)
            if decision.delay_s > 0:
                time.sleep(decision.delay_s)
            if decision.action == FAULT_DROP:
                self.log.append(RequestLogEntry(name, params, 0, DROPPED))
                return None
            if decision.action == FAULT_ERROR:
                raise ServiceError("InternalServerException", "Injected internal server error")
            if decision.action == FAULT_THROTTLE:
                raise ServiceError("ThrottlingException", "Rate exceeded (injected fault)")
            if not self.quotas.try_acquire(name):
                raise ServiceError("ThrottlingException", "Rate exceeded")
            params = parse_request(operation, labels, query, headers, body)
            validate_request(operation, params)
            output = self.operations[name](params)
        except ServiceError as error:
            return self._error(name, params, error)
        except Exception as error:  # a sandbox bug must still answer like the service
            logger.exception("sandbox failure in %s", name)
            return self._error(
                name,
                params,
                ServiceError("InternalServerException", f"Sandbox failure: {error!r}"),
            )
        response = serialize_response(operation, output)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.log.append(RequestLogEntry(name, params, response.status, None))
        return response

    def _authenticate(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        query: dict[str, list[str]],
        body: bytes,
    ) -> None:
        """Raise AccessDeniedException unless the request is signed as this sandbox wants."""
        signature = read_signature(headers, query)
        if signature is None or signature.service != SIGNING_NAME:
            raise ServiceError(
                "AccessDeniedException",
                "Missing or malformed SigV4 signature: requests must be signed for "
                f"{SIGNING_NAME} ('Authorization: AWS4-HMAC-SHA256 Credential=...' or a "
                "presigned X-Amz-Signature query string)",
            )
        if self.region is not None and signature.region != self.region:
            # What AWS answers a signature scoped to another region (for example
            # https://github.com/aws/aws-sdk-js-v3/issues/5576, a rest-json service).
            raise ServiceError(
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region, not '{signature.region}'.",
            )
        key = signature.access_key
        if self.access_key_ids is not None and key not in self.access_key_ids:
            raise ServiceError(
                "AccessDeniedException", f"The access key id {key} is not allowed by this sandbox"
            )
        if self.secret_keys is None:
            return
        if key not in self.secret_keys or not signature_matches(
            method, target, headers, body, self.secret_keys[key], signature
        ):
            raise ServiceError(
                "AccessDeniedException",
                "The request signature we calculated does not match the signature you "
                "provided (sign with the keys the sandbox prints: Sandbox.credentials())",
            )
        problem = time_problem(signature, self.signing_time(), self.max_clock_skew)
        if problem is not None:
            raise ServiceError("AccessDeniedException", problem)

    def _error(self, operation: str, params: dict[str, Any], error: ServiceError) -> Response:
        response = serialize_error(self.model, error.code, error.message)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.log.append(RequestLogEntry(operation, params, response.status, error.code))
        return response
