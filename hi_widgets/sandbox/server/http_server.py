"""The sandbox's HTTP server: a stdlib threaded server with bounded resources.

* One thread per connection, at most ``max_connections`` at once: a connection beyond
  that is answered ``503`` and closed by the accepting thread, so idle or slow clients
  cannot make the process grow without bound.
* Request bodies are capped at :data:`~hi_widgets.sandbox.server.pipeline.MAX_BODY_BYTES` however
  they are framed (Content-Length or chunked); a malformed or oversized body is answered
  through the pipeline (so it is logged) and the connection is closed, since the rest of
  the stream cannot be trusted.
* Idle keep-alive connections close after :attr:`_Handler.timeout` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hi_widgets.sandbox.server.pipeline import MAX_BODY_BYTES, MAX_CONNECTIONS, Service
from hi_widgets.sandbox.server.wire import Response

logger = logging.getLogger(__name__)

_MAX_LINE = 8192
"""Longest chunk-size or trailer line accepted."""
_MAX_TRAILERS = 64
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"x-amzn-ErrorType: ServiceUnavailableException\r\nConnection: close\r\n"
    b"Content-Length: 62\r\n\r\n"
    b'{"message": "Too many open connections to the sandbox; retry"}'
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hi-widgets-sandbox"
    timeout = 60  # idle keep-alive connections close after a minute
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    server: SandboxHTTPServer

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            size_text = line.split(b";")[0].strip()
            if len(line) > _MAX_LINE or not size_text or size_text.startswith((b"-", b"+")):
                return None
            try:
                size = int(size_text, 16)
            except ValueError:
                return None
            total += size
            if total > MAX_BODY_BYTES:
                return None
            if size == 0:
                for _ in range(_MAX_TRAILERS):
                    trailer = self.rfile.readline(_MAX_LINE + 1)
                    if trailer in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
                return None
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
                return None
            chunks.append(chunk)

    def _read_body(self) -> bytes | None:
        """Return the request body, or None if it is malformed or too large."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        if self.headers.get("Transfer-Encoding"):
            return None  # a transfer coding the sandbox does not speak
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        if not text.strip().isdigit():
            return None
        length = int(text)
        if length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    def _send(self, response: Response) -> None:
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
    """A threaded HTTP server with a cap on connections that closes them on shutdown.

    Parameters
    ----------
    address
        ``(host, port)`` to bind.
    service
        The request pipeline.
    max_connections
        Connections served at once; each holds one thread.
    """

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a pool of clients connecting at once
    # overflows it, and each dropped SYN costs the client a one-second retransmit.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], service: Service, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.service = service
        self.max_connections = max_connections
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._tracking = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._tracking:
            busy = len(self._connection_threads) >= self.max_connections
            if not busy:
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(request, client_address),
                    name=f"hi-widgets-sandbox-conn-{client_address[1]}",
                    daemon=True,
                )
                self._connections.add(request)
                self._connection_threads.add(thread)
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
