"""The sandbox's request pipeline, independent of the HTTP server.

A request goes through two steps. :meth:`Service.admit` looks at the request line and
headers only, before any byte of the body is read: Host header (no DNS rebinding) ->
route (from the model) -> browser-made requests refused (:mod:`.browser`) -> SigV4
signature form, key, scope and clock skew (and the whole signature when a signed
``X-Amz-Content-SHA256`` lets it be checked now) -> the operation's body limit
(:mod:`.body_limits`). The HTTP server then reads the body, at most that limit, hashing it
as it arrives, and :meth:`Service.complete` goes on: the signature over the hash of the
body received -> per-operation denials -> injected faults and latency -> quotas ->
request parsing and validation (from the model) -> the operation (from the explicit
registry) -> serialisation (from the model). :meth:`Service.handle` does both for a body
already in hand.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.model import OperationModel, ServiceModel

from hi_widgets.sandbox.backend.errors import ServiceError
from hi_widgets.sandbox.runtime.faults import (
    FAULT_DROP,
    FAULT_ERROR,
    FAULT_THROTTLE,
    FaultInjector,
)
from hi_widgets.sandbox.runtime.quota_table import QuotaTable
from hi_widgets.sandbox.runtime.request_log import DROPPED, RequestLog, RequestLogEntry
from hi_widgets.sandbox.server.body_limits import MAX_BODY_BYTES, body_limits
from hi_widgets.sandbox.server.browser import browser_request_problem
from hi_widgets.sandbox.server.registry import OperationRegistry
from hi_widgets.sandbox.server.sigv4 import (
    MAX_CLOCK_SKEW,
    SIGNING_NAME,
    Signature,
    claimed_payload_hash,
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

__all__ = ["MAX_BODY_BYTES", "MAX_CONNECTIONS", "Admission", "Service", "host_allowed"]

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
"""AWS's words ("Troubleshoot signed requests for AWS APIs",
https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html)."""
PAYLOAD_HASH_MISMATCH = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)
"""S3's words for a body that does not hash to its signed X-Amz-Content-SHA256."""
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


@dataclass
class Admission:
    """A request whose headers passed :meth:`Service.admit`: what reading its body needs."""

    method: str
    target: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    operation: OperationModel
    labels: dict[str, str]
    body_limit: int
    """The most body bytes the operation accepts (:mod:`.body_limits`)."""
    signature: Signature | None = None
    """To verify over the body's hash; None when verification is off."""
    claimed_hash: str | None = None
    """A signed ``X-Amz-Content-SHA256`` already verified, which the body must hash to."""

    def too_large(self) -> str:
        """Return the message refusing a body over :attr:`body_limit`."""
        return (
            f"The request body is larger than {self.body_limit} bytes, the most "
            f"{self.operation.name} can carry"
        )


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
        self.body_limits = body_limits(model)
        """The most body bytes per operation, from the model's constraints."""
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

    def admit(
        self, method: str, target: str, headers: dict[str, str], *, has_body: bool = False
    ) -> Admission | Response:
        """Check a request from its request line and headers, before its body is read.

        Returns the :class:`Admission` the body step needs, or the refusal to send (the
        body is then never read; the server closes the connection after it).
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
        admission = Admission(
            method, target, headers, query, operation, labels, self.body_limits[operation.name]
        )
        try:
            problem = browser_request_problem(headers, has_body)
            if problem is not None:  # even with verification off: see .browser
                raise ServiceError("AccessDeniedException", problem)
            admission.signature, admission.claimed_hash = self._authenticate_headers(admission)
        except ServiceError as error:
            return self._error(operation.name, dict(labels), error)
        return admission

    def complete(
        self,
        admission: Admission,
        body: bytes | None,
        *,
        payload_hash: str | None = None,
        body_problem: str | None = None,
    ) -> Response | None:
        """Answer an admitted request once its body is read; None: drop the connection.

        ``payload_hash`` is the hex SHA-256 of ``body`` if the reader hashed it already.
        ``body`` is None when it could not be read; ``body_problem`` says why.
        """
        name = admission.operation.name
        labels = admission.labels
        params: dict[str, Any] = dict(labels)
        try:
            if body is None:
                raise ServiceError(
                    "ValidationException",
                    body_problem or "The request body is malformed or could not be read",
                )
            self._authenticate_body(admission, payload_hash or hashlib.sha256(body).hexdigest())
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
            params = parse_request(
                admission.operation, labels, admission.query, admission.headers, body
            )
            validate_request(admission.operation, params)
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
        response = serialize_response(admission.operation, output)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.log.append(RequestLogEntry(name, params, response.status, None))
        return response

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Response | None:
        """Answer one request whose body is already read; None: drop the connection.

        :meth:`admit`, then :meth:`complete`, as the HTTP server does around its read.
        """
        admitted = self.admit(method, target, headers, has_body=bool(body))
        if isinstance(admitted, Response):
            return admitted
        if body is not None and len(body) > admitted.body_limit:
            return self.complete(admitted, None, body_problem=admitted.too_large())
        return self.complete(admitted, body)

    def _authenticate_headers(self, admission: Admission) -> tuple[Signature | None, str | None]:
        """Check all of the signature the headers show; raise AccessDeniedException.

        Returns the signature still to verify over the body hash (None when verification
        is off) and the signed ``X-Amz-Content-SHA256`` the body must hash to, if any.
        """
        signature = read_signature(admission.headers, admission.query)
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
            return None, None
        if key not in self.secret_keys:
            raise ServiceError("AccessDeniedException", self._mismatch())
        problem = time_problem(signature, self.signing_time(), self.max_clock_skew)
        if problem is not None:
            raise ServiceError("AccessDeniedException", problem)
        claimed = claimed_payload_hash(admission.headers, signature)
        if claimed is not None and not self._signature_matches(admission, signature, claimed):
            raise ServiceError("AccessDeniedException", self._mismatch())
        return signature, claimed

    def _authenticate_body(self, admission: Admission, payload_hash: str) -> None:
        """Verify the signature over the hash of the body received."""
        signature = admission.signature
        if signature is None:  # verification is off
            return
        claimed = admission.claimed_hash
        if claimed is not None:  # the signature matched this claim before the body came
            if not hmac.compare_digest(claimed, payload_hash):
                raise ServiceError(
                    "AccessDeniedException", f"{PAYLOAD_HASH_MISMATCH} {SIGNATURE_MISMATCH}"
                )
            return
        if not self._signature_matches(admission, signature, payload_hash):
            raise ServiceError("AccessDeniedException", self._mismatch())

    def _signature_matches(
        self, admission: Admission, signature: Signature, payload_hash: str
    ) -> bool:
        assert self.secret_keys is not None
        return signature_matches(
            admission.method,
            admission.target,
            admission.headers,
            payload_hash,
            self.secret_keys[signature.access_key],
            signature,
        )

    @staticmethod
    def _mismatch() -> str:
        return (
            f"{SIGNATURE_MISMATCH} (The sandbox hashes the body it received into the "
            "canonical request; sign with the keys it prints: Sandbox.credentials())"
        )

    def _error(self, operation: str, params: dict[str, Any], error: ServiceError) -> Response:
        response = serialize_error(self.model, error.code, error.message)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.log.append(RequestLogEntry(operation, params, response.status, error.code))
        return response
