"""A local S3 endpoint for the sandbox: moto's S3 in server mode, started in the background.

Import jobs read their input from S3 and write their output there, and a user reads that
output with boto3's S3 client. With no AWS account (Binder, CI) that S3 must be local;
:class:`LocalS3` serves moto's S3 (the ``moto[server]`` package, in the ``app`` extra)
on a loopback port. Why moto rather than an S3 of the sandbox's own: it is a maintained,
complete S3 (ListObjectsV2, ranges, multipart, errors as S3 words them), so a user can
also upload DICOM there and run a real StartDICOMImportJob against the sandbox.

The socket is bound and listening when the object is made, so the endpoint URL is known
at once (the sandbox prints it as ``AWS_ENDPOINT_URL_S3``); importing moto (about a
second) and ``prepare`` (the demo's buckets and job output) run on a daemon thread, on a
private port, before the public socket is served. A request that arrives meanwhile waits
in the socket's backlog and is answered once everything is in place: nobody sees a
half-written demo. Request lines are not logged (moto's handler would print each one).

moto checks no signatures, so the endpoint listens on a loopback address only, and it
refuses what a web page could make a browser send: a Host header naming someone else's
domain (DNS rebinding; :func:`~.pipeline.host_allowed`, as the sandbox itself) and any
request with an ``Origin`` header or a CORS preflight (SDKs and the AWS CLI send
neither), so no site the user visits can read or write the buckets.

moto keeps one S3 state per process: every LocalS3 of a process (and any other moto
server in it) serves the same buckets.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from importlib import util
from typing import Any
from xml.sax.saxutils import escape

from hi_widgets.sandbox.server.pipeline import host_allowed

LOGGER = logging.getLogger(__name__)
MOTO_MISSING = (
    "the local S3 needs moto's server (pip install 'hi-widgets[app]', or "
    "pip install 'moto[server]')"
)
START_TIMEOUT = 60.0
"""Seconds :meth:`LocalS3.wait` waits by default for moto to load and ``prepare`` to end."""


def moto_available() -> bool:
    """Return whether moto's server can be imported (without importing it).

    Examples
    --------
    >>> from hi_widgets import sandbox
    >>> sandbox.moto_available() in (True, False)
    True
    """
    return util.find_spec("moto") is not None and util.find_spec("werkzeug") is not None


def s3_client(
    endpoint_url: str, region: str, credentials: dict[str, str], botocore_session: Any = None
) -> Any:
    """Return a boto3 S3 client for ``endpoint_url`` (path-style, as for any local S3).

    ``botocore_session`` (optional) shares its loaded service data: S3's model is large.
    """
    import boto3
    from botocore.config import Config

    return boto3.session.Session(botocore_session=botocore_session).client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
        aws_access_key_id=credentials["aws_access_key_id"],
        aws_secret_access_key=credentials["aws_secret_access_key"],
    )


class LocalS3:
    """moto's S3 on ``host:port`` (0: any free port), served from a daemon thread.

    Parameters
    ----------
    host, port
        Where to listen: a loopback address (``127.0.0.1``, ``::1`` or ``localhost``).
    allowed_hosts
        Host names accepted in the Host header besides IP literals and ``localhost``.
    prepare
        Called on the serving thread with the endpoint URL of a private moto server
        sharing this one's state, before the public socket is served (the demo writes
        its buckets and job output through it).

    Raises
    ------
    ValueError
        If moto's server is not installed, or ``host`` is not a loopback address.
    OSError
        If the address cannot be bound.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prepare: Callable[[str], None] | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        if not moto_available():
            raise ValueError(MOTO_MISSING)
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(
                f"the local S3 listens on a loopback address only (it checks no "
                f"signatures), not {host!r}"
            )
        self._allowed_hosts = frozenset(allowed_hosts)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=128)
        self._prepare = prepare
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = False
        self._server: Any = None
        self.error: BaseException | None = None
        """What went wrong while starting (moto failed to load, or ``prepare`` raised)."""
        self._thread = threading.Thread(
            target=self._run, name=f"hi-widgets-s3-{self.port}", daemon=True
        )

    @property
    def port(self) -> int:
        """The port the S3 endpoint listens on."""
        return int(self._socket.getsockname()[1])

    @property
    def endpoint_url(self) -> str:
        """The endpoint URL, e.g. ``"http://127.0.0.1:54321"``."""
        host = str(self._socket.getsockname()[0])
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> LocalS3:
        """Load moto, run ``prepare`` and serve, on the daemon thread; return at once."""
        self._thread.start()
        return self

    def wait(self, timeout: float = START_TIMEOUT) -> bool:
        """Wait until the endpoint serves; False if ``timeout`` passed first.

        Raises
        ------
        RuntimeError
            If moto could not be loaded (nothing is served).
        """
        ready = self._ready.wait(timeout)
        if ready and self._server is None and self.error is not None:
            raise RuntimeError(f"the local S3 did not start: {self.error}") from self.error
        return ready

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and close the socket (a start still under way stops after it)."""
        with self._lock:
            self._stopping = True
            server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()
        self._socket.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            moto_app, handler = _moto_app()
            app = _guarded(moto_app, self._allowed_hosts)
        except Exception as error:  # an incomplete install: nothing can be served
            LOGGER.warning("the local S3 cannot start: %s", error)
            self.error = error
            self._socket.close()  # waiting clients get an error rather than a hang
            self._ready.set()
            return
        if self._prepare is not None and not self._stopping:
            self._run_prepare(app, handler)
        from werkzeug.serving import make_server

        with self._lock:
            if self._stopping:
                self._ready.set()
                return
            host = str(self._socket.getsockname()[0])
            self._server = make_server(
                host, self.port, app, threaded=True, request_handler=handler,
                fd=self._socket.fileno(),
            )  # fmt: skip
        self._ready.set()
        self._server.serve_forever(poll_interval=0.1)

    def _run_prepare(self, app: Any, handler: Any) -> None:
        from werkzeug.serving import make_server

        private = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
        serving = threading.Thread(
            target=private.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        serving.start()
        try:
            assert self._prepare is not None
            self._prepare(f"http://127.0.0.1:{private.server_port}")
        except Exception as error:  # the endpoint still serves, without the demo output
            LOGGER.warning("the local S3 started without the demo's objects: %s", error)
            self.error = error
        finally:
            private.shutdown()
            private.server_close()
            serving.join()


def request_problem(environ: dict[str, Any], allowed_hosts: frozenset[str]) -> str | None:
    """Return why the local S3 refuses a request (WSGI ``environ``), or None."""
    if not host_allowed(environ.get("HTTP_HOST"), allowed_hosts):
        return (
            f"Host {environ.get('HTTP_HOST')!r} refused: the local S3 answers requests to "
            "an IP address or localhost only"
        )
    if "HTTP_ORIGIN" in environ or environ.get("REQUEST_METHOD") == "OPTIONS":
        return "Cross-origin request refused: the local S3 does not answer web pages"
    return None


def _guarded(app: Any, allowed_hosts: frozenset[str]) -> Any:
    """Wrap a WSGI app so that :func:`request_problem` requests get an S3 AccessDenied."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        problem = request_problem(environ, allowed_hosts)
        if problem is None:
            return app(environ, start_response)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{escape(problem)}</Message></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        start_response("403 Forbidden", headers)
        return [body]

    return guarded


def _moto_app() -> tuple[Any, Any]:
    """Return moto's WSGI application and a request handler that logs no request lines."""
    # What moto's ThreadedMotoServer serves (moto.server re-exports these three names);
    # the server itself is built here to serve a socket bound beforehand, quietly.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    class QuietHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            if type == "error":
                LOGGER.debug("local S3: " + message, *args)

    return DomainDispatcherApplication(create_backend_app), QuietHandler
