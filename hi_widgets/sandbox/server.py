"""The HTTP side of the sandbox: the request pipeline and a threaded stdlib server.

Every request goes through :meth:`Service.handle`, in the order the real service applies
its checks: route (from the model) -> SigV4 signature present -> per-operation denials ->
injected faults and latency -> quotas -> request parsing and validation (from the model)
-> the operation itself -> serialisation (from the model).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ServiceModel

from .exceptions import ServiceError
from .faults import FAULT_DROP, FAULT_ERROR, FAULT_THROTTLE, FaultInjector
from .quotas import QuotaTable
from .registry import OperationRegistry
from .requestlog import DROPPED, RequestLog, RequestLogEntry
from .validate import validate_request
from .wire import Response, Router, parse_request, serialize_error, serialize_response

logger = logging.getLogger(__name__)

SIGNING_NAME = "medical-imaging"
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Requests with a larger body are refused (the largest model member is ~260 kB)."""
_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request"
)


def signed_access_key(headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
    """Return the access key id of a SigV4-signed request, or None if it is not signed.

    Only the form of the signature is checked (header or presigned query string, credential
    scope for ``medical-imaging``, signed headers and signature present); the sandbox does
    not know real secrets, so it cannot verify the HMAC itself.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    authorization = lower.get("authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256 "):
        match = _CREDENTIAL.search(authorization)
        if (
            match
            and match["service"] == SIGNING_NAME
            and "SignedHeaders=" in authorization
            and re.search(r"Signature=[0-9a-f]{64}", authorization)
            and ("x-amz-date" in lower or "date" in lower)
        ):
            return match["key"]
        return None
    if query.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query:
        match = _CREDENTIAL.search("Credential=" + query.get("X-Amz-Credential", [""])[0])
        if match and match["service"] == SIGNING_NAME:
            return match["key"]
    return None


def signature_matches(
    method: str, target: str, headers: dict[str, str], body: bytes, secret_key: str
) -> bool:
    """Recompute the SigV4 signature of a header-signed request and compare it.

    Parameters
    ----------
    method, target, headers, body
        The request as received (``target`` is the raw path and query string).
    secret_key
        The secret access key that belongs to the request's access key id.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    authorization = lower.get("authorization", "")
    match = _CREDENTIAL.search(authorization)
    signed = re.search(r"SignedHeaders=([^,\s]+)", authorization)
    signature = re.search(r"Signature=([0-9a-f]{64})", authorization)
    timestamp = lower.get("x-amz-date")
    if not (match and signed and signature and timestamp and "host" in lower):
        return False
    names = signed.group(1).split(";")
    if any(name not in lower for name in names):
        return False
    request = AWSRequest(
        method=method,
        url=f"http://{lower['host']}{target}",
        headers={name: lower[name] for name in names},
        data=body,
    )
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(match["key"], secret_key), match["service"], match["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signature.group(1))


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
    account_id
        The account named in access-denied messages.
    secret_keys
        If given (``{access_key_id: secret_access_key}``), header signatures are verified:
        only these access keys are served, and only with a matching signature.
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
        account_id: str = "123456789012",
    ) -> None:
        self.model = model
        self.router = Router(model)
        self.operations = operations
        self.account_id = account_id
        self.quotas = quotas
        self.faults = faults
        self.log = log
        self.access_key_ids = frozenset(access_key_ids) if access_key_ids is not None else None
        self.secret_keys = dict(secret_keys) if secret_keys is not None else None
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
            key = signed_access_key(headers, query)
            if key is None:
                raise ServiceError(
                    "AccessDeniedException",
                    "Missing or malformed SigV4 signature: requests must carry an "
                    "'Authorization: AWS4-HMAC-SHA256 Credential=...' header",
                )
            if self.access_key_ids is not None and key not in self.access_key_ids:
                raise ServiceError(
                    "AccessDeniedException",
                    f"The access key id {key} is not allowed by this sandbox",
                )
            if self.secret_keys is not None and not (
                key in self.secret_keys
                and signature_matches(method, target, headers, body, self.secret_keys[key])
            ):
                raise ServiceError(
                    "AccessDeniedException",
                    "The request signature we calculated does not match the signature you "
                    "provided (or the access key is unknown to this sandbox)",
                )
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

    def _error(self, operation: str, params: dict[str, Any], error: ServiceError) -> Response:
        response = serialize_error(self.model, error.code, error.message)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.log.append(RequestLogEntry(operation, params, response.status, error.code))
        return response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hi-widgets-sandbox"
    timeout = 60  # idle keep-alive connections close after a minute
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    server: SandboxHTTPServer

    def _read_body(self) -> bytes | None:
        """Return the request body, or None if it is malformed or too large."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    return None
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:  # answered and logged as a ValidationException; the rest of the
            self.close_connection = True  # stream cannot be trusted, so close it after
        response = self.server.service.handle(self.command, self.path, dict(self.headers), body)
        if response is None:
            self.close_connection = True
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log replaces stderr logging."""


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that can close its keep-alive connections on shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a pool of clients connecting at once
    # overflows it, and each dropped SYN costs the client a one-second retransmit.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.service = service
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._tracking = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"hi-widgets-sandbox-conn-{client_address[1]}",
            daemon=True,
        )
        with self._tracking:
            self._connections.add(request)
            self._connection_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking:
                self._connections.discard(request)
                self._connection_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error from %s", client_address, exc_info=True)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut down open client connections and wait for their threads to end."""
        with self._tracking:
            connections = list(self._connections)
            threads = list(self._connection_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def server_close(self) -> None:
        self.close_connections()
        super().server_close()
