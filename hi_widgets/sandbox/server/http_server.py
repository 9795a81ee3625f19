"""The sandbox's HTTP server: a stdlib threaded server with bounded resources.

* Headers before body: the pipeline's :meth:`~.pipeline.Service.admit` checks the
  request line and headers (Host, route, browser-made requests, the signature as far as
  the headers show it) before any byte of the body is read. A refused request is
  answered at once and its connection closed, its body never read.
* A client that sends ``Expect: 100-continue`` gets ``100 Continue`` only once its
  headers are admitted, so a refused body is not even sent.
* The body is read under its operation's limit (:mod:`.body_limits`) however it is
  framed (Content-Length or chunked), and hashed as it arrives for the signature check.
* Deadlines per request, not per ``recv``: a request head must arrive within
  ``header_timeout`` seconds of its first byte, its body within ``body_timeout`` seconds,
  and a connection may wait ``idle_timeout`` seconds for its next request; a client that
  trickles one byte at a time is cut off when its deadline passes.
* At most ``max_connections`` connections are served at once (a thread each). When all
  are taken, a new client is not turned away while some connection is only waiting for
  (or still receiving) a request head: the one waiting longest is closed to make room.
  Only connections busy with a request count against new clients, so idle or slow
  sockets cannot lock others out; a connection beyond that is answered ``503``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hi_widgets.sandbox.server.pipeline import MAX_CONNECTIONS, Admission, Service
from hi_widgets.sandbox.server.wire import Response

logger = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0
"""Seconds from the first byte of a request to the end of its headers."""
BODY_TIMEOUT = 30.0
"""Seconds for a whole request body to arrive (and for a response to be taken)."""
IDLE_TIMEOUT = 60.0
"""Seconds a connection may wait for its next request."""
MAX_HEAD_BYTES = 64 * 1024
"""Most bytes of a request line and headers (botocore sends about 1 kB)."""
_MAX_LINE = 8192
"""Longest chunk-size or trailer line accepted."""
_MAX_TRAILERS = 64
_READ_SIZE = 64 * 1024
_EVICTION_WAIT = 2.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"x-amzn-ErrorType: ServiceUnavailableException\r\nConnection: close\r\n"
    b"Content-Length: 62\r\n\r\n"
    b'{"message": "Too many open connections to the sandbox; retry"}'
)


class _DeadlineReader(io.RawIOBase):
    """A socket's read side with one deadline for a whole phase, not one per ``recv``.

    ``wait_for_request`` starts the idle phase; the first byte that arrives starts the
    head phase (``header_timeout`` from then, at most :data:`MAX_HEAD_BYTES`);
    ``read_body`` sets the body deadline. Past a deadline a read raises TimeoutError.
    """

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection
        self._deadline: float | None = None
        self._head_timeout: float | None = None  # set while idle: starts the head phase
        self._head_bytes: int | None = None

    def readable(self) -> bool:
        return True

    def wait_for_request(self, idle_timeout: float, header_timeout: float) -> None:
        self._deadline = time.monotonic() + idle_timeout
        self._head_timeout = header_timeout
        self._head_bytes = 0

    def read_body(self, body_timeout: float) -> None:
        self._deadline = time.monotonic() + body_timeout
        self._head_timeout = self._head_bytes = None

    def readinto(self, buffer: Any) -> int:
        remaining = None if self._deadline is None else self._deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("the request did not arrive before its deadline")
        self._connection.settimeout(remaining)
        count = self._connection.recv_into(buffer)
        if count and self._head_timeout is not None:  # the request's first bytes
            self._deadline = time.monotonic() + self._head_timeout
            self._head_timeout = None
        if self._head_bytes is not None:
            self._head_bytes += count
            if self._head_bytes > MAX_HEAD_BYTES + _READ_SIZE:
                raise ConnectionAbortedError(f"request head over {MAX_HEAD_BYTES} bytes")
        return count


class _BodyTooLarge(Exception):
    pass


class _BadFraming(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hi-widgets-sandbox"
    timeout = None  # deadlines are per request phase (_DeadlineReader), not per recv
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader holds a reference on the socket: drop it
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, _READ_SIZE)

    def handle_one_request(self) -> None:
        self._reader.wait_for_request(self.server.idle_timeout, self.server.header_timeout)
        self.server.mark_waiting(self.connection, True)
        try:
            super().handle_one_request()
        finally:
            self.server.mark_waiting(self.connection, False)

    # ---------------------------------------------------------------- the body

    def _announces_body(self) -> bool:
        if self.headers.get("Transfer-Encoding"):
            return True
        return self.headers.get("Content-Length", "0").strip() not in ("0", "")

    def _read_chunked(self, limit: int, digest: Any) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            size_text = line.split(b";")[0].strip()
            if len(line) > _MAX_LINE or not size_text or size_text.startswith((b"-", b"+")):
                raise _BadFraming("a malformed chunk size")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadFraming("a malformed chunk size") from None
            total += size
            if total > limit:
                raise _BodyTooLarge
            if size == 0:
                for _ in range(_MAX_TRAILERS):
                    trailer = self.rfile.readline(_MAX_LINE + 1)
                    if trailer in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
                raise _BadFraming("too many trailers")
            chunk = self._read_exactly(size, digest)
            if self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise _BadFraming("a chunk longer than its size")
            chunks.append(chunk)

    def _read_exactly(self, size: int, digest: Any) -> bytes:
        parts: list[bytes] = []
        left = size
        while left:
            part = self.rfile.read(min(left, _READ_SIZE))
            if not part:
                raise _BadFraming("the body ended early")
            digest.update(part)
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def _read_body(self, admission: Admission) -> tuple[bytes | None, str | None, str | None]:
        """Return ``(body, sha256 hex, problem)``; body None (and why) when unreadable."""
        digest = hashlib.sha256()
        limit = admission.body_limit
        self._reader.read_body(self.server.body_timeout)
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = self._read_chunked(limit, digest)
            elif self.headers.get("Transfer-Encoding"):
                raise _BadFraming("a transfer coding the sandbox does not speak")
            else:
                text = self.headers.get("Content-Length", "0").strip() or "0"
                if not text.isdigit():
                    raise _BadFraming("a malformed Content-Length")
                if int(text) > limit:
                    raise _BodyTooLarge
                body = self._read_exactly(int(text), digest)
        except _BodyTooLarge:
            return None, None, admission.too_large()
        except _BadFraming as error:
            return None, None, f"The request body is malformed: {error}"
        except TimeoutError:
            return (
                None,
                None,
                (f"The request body did not arrive within {self.server.body_timeout:g} seconds"),
            )
        return body, digest.hexdigest(), None

    # -------------------------------------------------------------- dispatching

    def handle_expect_100(self) -> bool:
        """Defer ``100 Continue`` until the headers are admitted (see :meth:`_dispatch`)."""
        return True

    def _send(self, response: Response) -> None:
        self.connection.settimeout(self.server.body_timeout)  # a client that never reads
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _dispatch(self) -> None:
        self.server.mark_waiting(self.connection, False)
        service = self.server.service
        has_body = self._announces_body()
        admitted = service.admit(self.command, self.path, dict(self.headers), has_body=has_body)
        if isinstance(admitted, Response):
            # Refused on its headers: the body is never read, so the stream is unusable.
            self.close_connection = self.close_connection or has_body
            self._send(admitted)
            return
        if self.headers.get("Expect", "").lower() == "100-continue":
            # Only now may the client send its body: a refused one is never sent at all.
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()
        body, payload_hash, problem = self._read_body(admitted)
        if body is None:  # answered and logged; the rest of the stream cannot be trusted
            self.close_connection = True
        response = service.complete(
            admitted, body, payload_hash=payload_hash, body_problem=problem
        )
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
    """A threaded HTTP server with a cap on connections that closes them on shutdown.

    Parameters
    ----------
    address
        ``(host, port)`` to bind.
    service
        The request pipeline.
    max_connections
        Connections served at once; each holds one thread.
    header_timeout, body_timeout, idle_timeout
        Seconds for a request head (from its first byte), for a body, and between
        requests on one connection (see the module docstring).
    """

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a pool of clients connecting at once
    # overflows it, and each dropped SYN costs the client a one-second retransmit.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        service: Service,
        max_connections: int = MAX_CONNECTIONS,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        for name, value in (
            ("header_timeout", header_timeout),
            ("body_timeout", body_timeout),
            ("idle_timeout", idle_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        self.service = service
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._waiting: dict[socket.socket, float] = {}
        """Connections waiting for, or receiving, a request head: since when."""
        self._tracking = threading.Condition()
        super().__init__(address, _Handler)

    def mark_waiting(self, connection: socket.socket, waiting: bool) -> None:
        """Record whether a connection is only waiting for a request (so may be closed)."""
        with self._tracking:
            if waiting:
                self._waiting[connection] = time.monotonic()
            else:
                self._waiting.pop(connection, None)

    def _make_room(self) -> bool:
        """Close the connection waiting longest for a request, if all slots are taken.

        Called with ``_tracking`` held; returns whether a slot is free.
        """
        if len(self._connection_threads) < self.max_connections:
            return True
        if not self._waiting:
            return False
        oldest = min(self._waiting, key=self._waiting.__getitem__)
        del self._waiting[oldest]
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)  # its thread sees EOF and ends
        return self._tracking.wait_for(
            lambda: len(self._connection_threads) < self.max_connections, _EVICTION_WAIT
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._tracking:
            busy = not self._make_room()
            if not busy:
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(request, client_address),
                    name=f"hi-widgets-sandbox-conn-{client_address[1]}",
                    daemon=True,
                )
                self._connections.add(request)
                self._connection_threads.add(thread)
                # Waiting for its first request from the start: a client that connects
                # and sends nothing can be closed for a newcomer too.
                self._waiting[request] = time.monotonic()
        if busy:
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking:
                self._connections.discard(request)
                self._waiting.pop(request, None)
                self._connection_threads.discard(threading.current_thread())
                self._tracking.notify_all()

    @property
    def connection_count(self) -> int:
        """Connections being served now."""
        with self._tracking:
            return len(self._connection_threads)

    def wait_for_connections(self, at_most: int, timeout: float) -> bool:
        """Wait until at most ``at_most`` connections are served; return whether they are."""
        with self._tracking:
            return self._tracking.wait_for(
                lambda: len(self._connection_threads) <= at_most, timeout
            )

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
