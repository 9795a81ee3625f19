"""Starting and controlling a sandbox: :func:`start` and :class:`Sandbox`."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal

from hi_widgets._version import __version__
from hi_widgets.api.model import SERVICE_NAME, service_model
from hi_widgets.sandbox.backend.domain import DEFAULT_REGION
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.demo.data import populate
from hi_widgets.sandbox.demo.import_jobs import add_demo_import_jobs, write_outputs
from hi_widgets.sandbox.dicom.limits import ImportLimits
from hi_widgets.sandbox.runtime.clock import Clock, ManualClock, SystemClock
from hi_widgets.sandbox.runtime.faults import FaultInjector, Faults
from hi_widgets.sandbox.runtime.quota_table import QuotaTable
from hi_widgets.sandbox.runtime.request_log import RequestLog, RequestLogEntry
from hi_widgets.sandbox.runtime.sdk_session import shared_botocore_session
from hi_widgets.sandbox.server.http_server import (
    BODY_TIMEOUT,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    SandboxHTTPServer,
)
from hi_widgets.sandbox.server.local_s3 import LocalS3, s3_client
from hi_widgets.sandbox.server.pipeline import MAX_CONNECTIONS, Service
from hi_widgets.sandbox.server.registry import OperationRegistry

ACCESS_KEY_ID = "HIWIDGETSSANDBOXDUMMYKEY"
SECRET_PREFIX = "hi-widgets-sandbox-dummy-secret-"
"""Every sandbox secret starts so; the rest is random per sandbox (see ``Sandbox``)."""


class Sandbox:
    """A local HealthImaging-compatible server with deterministic demo data.

    Use :func:`start` (a context manager) rather than building one by hand.

    Parameters
    ----------
    seed
        Seed of the demo data (and of the ids of image sets created later).
    latency_ms
        Fixed latency added to every response (shortcut for ``faults.latency_ms``).
    quotas
        Enforce the per-operation token buckets (published HealthImaging defaults).
    host, port
        Where to listen; port 0 picks a free port. Keep ``127.0.0.1`` unless you mean to
        expose the sandbox.
    clock
        The clock for state transitions, new timestamps and quota refills; default: the
        real clock. Pass a :class:`~hi_widgets.sandbox.ManualClock` for determinism.
    update_delay
        Seconds (per ``clock``) that UPDATING, COPYING, DELETING and CREATING last.
    faults
        Initial :class:`~hi_widgets.sandbox.Faults`.
    image_sets
        Size of the first demo datastore (default 30); raise it for benchmarks. Its
        version histories are written when first read (100,000 image sets start in about
        30 s of CPU and 400 MB; see :mod:`hi_widgets.sandbox.demo.deferred`).
    region
        Region reported in ARNs and by :meth:`env`.
    access_key_ids
        If given, only requests signed with these access key ids are served (the sandbox's
        own dummy key is not added automatically).
    quota_rates
        Overrides of the quota rates: ``{"GetImageSet": (rate_per_s, burst), ...}``.
    verify_signatures
        Recompute every SigV4 signature (header and presigned query forms) with the
        sandbox's secret, and refuse requests signed with anything else or outside the
        clock skew. On by default. ``False`` is the opt-out for tests whose clients sign
        with keys the sandbox cannot know: any well-formed signature is then served.
    secret_access_key
        The secret the sandbox hands out (:meth:`credentials`, :meth:`env`, the printed
        lines). Default: random for each sandbox, so a web page cannot sign requests to
        it; pass one to keep it stable across restarts (the command takes it from the
        environment or a file, never from its arguments).
    max_clock_skew
        Seconds a header signature's time may be from the sandbox's time (AWS: 900,
        15 minutes); ``None``: no limit. The sandbox's time is its ``clock``, except that
        a :class:`ManualClock` moves state and quotas, not signing time: clients sign
        with the real time, so with a ManualClock the real time is used.
    allowed_hosts
        Host names accepted in the Host header besides IP literals and ``localhost``
        (DNS rebinding protection); ``["*"]`` accepts any.
    max_connections
        Connections served at once (one thread each). When all are taken, the one
        waiting longest for a request is closed for a newcomer; only when every one is
        busy with a request is a newcomer answered 503.
    header_timeout, body_timeout, idle_timeout
        Seconds for a request's headers to arrive (from its first byte), for its body,
        and for a connection's next request: whole deadlines, not per read, so a client
        trickling bytes is cut off too.
    allow_aws_s3
        Let import jobs (and ``import_from``) read S3 from AWS itself. Off by default:
        without an S3 endpoint of its own (``AWS_ENDPOINT_URL_S3``) boto3 would send
        the environment's AWS credentials to AWS, so such an import is refused.
    import_limits
        What one input object and one import job may read, decompress and hold
        (:class:`~hi_widgets.sandbox.ImportLimits`); a file over a limit is
        listed in the job's ``failure.ndjson``.
    import_from
        DICOM to load at start-up into an extra ACTIVE datastore named
        ``import_datastore_name``: an ``s3://bucket/prefix`` URI (read with boto3's
        standard S3 configuration, so ``AWS_ENDPOINT_URL_S3`` may point at any
        S3-compatible server), or local files and folders. Files that are not DICOM are
        skipped.
    import_datastore_name
        Name of that datastore.
    demo_s3
        Also serve a local S3 (moto, :mod:`~hi_widgets.sandbox.server.local_s3`; needs
        the ``app`` extra) holding the output of the demo's import jobs; :meth:`env`
        then adds ``AWS_ENDPOINT_URL_S3``, and import jobs read and write there.

    Examples
    --------
    >>> sb.endpoint_url
    'http://127.0.0.1:...'
    >>> sorted(sb.env())
    ['AWS_ACCESS_KEY_ID', ...'AWS_ENDPOINT_URL_MEDICAL_IMAGING', ...]
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency_ms: float = 0,
        quotas: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        update_delay: float = 2.0,
        faults: Faults | None = None,
        image_sets: int = 30,
        region: str = DEFAULT_REGION,
        access_key_ids: Iterable[str] | None = None,
        quota_rates: Mapping[str, tuple[float, float]] | None = None,
        verify_signatures: bool = True,
        secret_access_key: str | None = None,
        max_clock_skew: float | None = 900.0,
        allowed_hosts: Iterable[str] = (),
        max_connections: int = MAX_CONNECTIONS,
        import_from: str | Iterable[str] | None = None,
        import_datastore_name: str = "imported-dicom",
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        allow_aws_s3: bool = False,
        import_limits: ImportLimits | None = None,
        demo_s3: bool = False,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if max_clock_skew is not None and not max_clock_skew > 0:
            raise ValueError(f"max_clock_skew must be > 0 seconds or None, got {max_clock_skew!r}")
        self.seed = seed
        self.region = region
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = Backend(self.clock, region=region, update_delay=update_delay, id_seed=seed)
        populate(self.store, seed=seed, image_sets=image_sets)
        self._demo_jobs = add_demo_import_jobs(self.store, seed=seed)
        self._demo_s3 = demo_s3
        self._s3: LocalS3 | None = None
        self._aws_s3_factory = self.store.s3_client_factory
        self.store.allow_aws_s3 = allow_aws_s3
        self.store.import_limits = import_limits if import_limits is not None else ImportLimits()
        if import_from is not None:
            self.store.import_at_startup(import_from, import_datastore_name)
        if faults is None:
            faults = Faults(latency_ms=latency_ms)
        elif latency_ms:
            faults = dataclasses.replace(faults, latency_ms=latency_ms)
        self._log = RequestLog()
        self._quotas = QuotaTable(self.clock.monotonic, enabled=quotas, quota_rates=quota_rates)
        self._faults = FaultInjector(faults)
        self._secret = secret_access_key or SECRET_PREFIX + secrets.token_hex(12)
        model = service_model()
        signing_clock = SystemClock() if isinstance(self.clock, ManualClock) else self.clock
        self._allowed_hosts = frozenset(allowed_hosts)
        self._service = Service(
            model,
            OperationRegistry.for_backend(model, self.store),
            self._quotas,
            self._faults,
            self._log,
            access_key_ids,
            {ACCESS_KEY_ID: self._secret} if verify_signatures else None,
            account_id=self.store.account_id,
            signing_time=signing_clock.now,
            max_clock_skew=timedelta(seconds=max_clock_skew) if max_clock_skew else None,
            allowed_hosts=self._allowed_hosts,
            region=region,
        )
        self._max_connections = max_connections
        self._timeouts = {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "idle_timeout": idle_timeout,
        }
        for name, value in self._timeouts.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        self._host = host
        self._port = port
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._session: Any = None  # boto3.Session of client(), made on first use
        self._session_lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Sandbox:
        """Bind the socket and serve from a daemon thread; return ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._server = SandboxHTTPServer(
            (self._host, self._port), self._service, self._max_connections, **self._timeouts
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hi-widgets-sandbox-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        if self._demo_s3:
            try:
                self._start_s3()
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and the socket, join the thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        if self._s3 is not None:
            self._s3.stop()
            self._s3, self.store.s3_client_factory = None, self._aws_s3_factory
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint_url if self._server is not None else "stopped"
        return f"<Sandbox {where} seed={self.seed}>"

    # ----------------------------------------------------------------- endpoints

    @property
    def endpoint_url(self) -> str:
        """The URL to pass as ``endpoint_url``, e.g. ``"http://127.0.0.1:54321"``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        name = f"[{name}]" if ":" in name else name
        return f"http://{name}:{port}"

    def _start_s3(self) -> None:
        def client(url: str) -> Any:
            return s3_client(url, self.region, self.credentials(), shared_botocore_session())

        def prepare(url: str) -> None:
            with contextlib.closing(client(url)) as writer:
                write_outputs(self.demo_import_jobs, writer)  # writes their histories

        loopback = "::1" if ":" in self._host else "127.0.0.1"  # moto checks no signatures
        self._s3 = LocalS3(loopback, 0, prepare, self._allowed_hosts).start()
        url = self._s3.endpoint_url
        self.store.s3_client_factory = lambda: client(url)

    @property
    def demo_import_jobs(self) -> list[Any]:
        """The demo's import jobs (:mod:`~hi_widgets.sandbox.demo.import_jobs`), oldest first."""
        self.store.import_jobs()  # completes them
        return list(self._demo_jobs)

    @property
    def s3_endpoint_url(self) -> str | None:
        """The local S3's endpoint URL (``demo_s3=True``), else None."""
        return self._s3.endpoint_url if self._s3 is not None else None

    def s3_client(self) -> Any:
        """Return a boto3 S3 client for the local S3, once it serves (``demo_s3=True``)."""
        if self._s3 is None:
            raise RuntimeError("the sandbox serves no S3: start it with demo_s3=True")
        self._s3.wait()
        return self.store.s3_client_factory()

    @property
    def port(self) -> int:
        """The port the sandbox listens on."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._server.server_address[1])

    def credentials(self) -> dict[str, str]:
        """Return the dummy credentials the sandbox hands out (and verifies)."""
        return {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": self._secret}

    def client(
        self,
        *,
        max_attempts: int = 5,
        retry_mode: Literal["standard", "adaptive", "legacy"] = "standard",
        config: Any = None,
        session: Any = None,
    ) -> Any:
        """Return a boto3 ``medical-imaging`` client for this sandbox.

        Parameters
        ----------
        max_attempts
            Total attempts per request, including retries (1: no retry).
        retry_mode
            botocore retry mode (``"standard"``, ``"adaptive"`` or ``"legacy"``).
        config
            A ``botocore.config.Config`` merged over the sandbox's defaults.
        session
            The boto3 session to build from; default: one holding the sandbox's keys.

        Returns
        -------
        botocore.client.BaseClient
            A client for the sandbox's endpoint, host-prefix injection off (data-plane
            calls would otherwise go to ``runtime-127.0.0.1``).
        """
        # boto3 loads slowly and only clients of the sandbox need it, not the server.
        import boto3
        from botocore.config import Config

        shared = session is None
        if shared:
            with self._session_lock:
                if self._session is None:
                    keys = self.credentials()
                    self._session = boto3.Session(
                        aws_access_key_id=keys["aws_access_key_id"],
                        aws_secret_access_key=keys["aws_secret_access_key"],
                        region_name=self.region,
                        botocore_session=shared_botocore_session(),
                    )
            session = self._session
        merged = Config(
            inject_host_prefix=False,
            retries={"total_max_attempts": max_attempts, "mode": retry_mode},
            user_agent_extra=f"hi-widgets/{__version__}",
        )
        if config is not None:
            merged = merged.merge(config)
        # One session for all of this sandbox's clients, and one data loader for every
        # sandbox's session: botocore's service data is read once per process (a new
        # loader re-reads it, ~0.07 s a client). Sessions are not thread-safe, so clients
        # are made one at a time.
        with self._session_lock if shared else contextlib.nullcontext():
            return session.client(
                SERVICE_NAME,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=merged,
            )

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS SDKs and the AWS CLI at the sandbox.

        What each reads: the service-specific endpoint ``AWS_ENDPOINT_URL_MEDICAL_IMAGING``
        and ``AWS_DISABLE_HOST_PREFIX_INJECTION`` (botocore, the AWS CLI and the SDKs the
        AWS SDKs and Tools Reference Guide lists for those settings); the region as
        ``AWS_REGION`` (the AWS SDK for JavaScript v3 and most other SDKs) and
        ``AWS_DEFAULT_REGION`` (boto3 and the AWS CLI). An SDK that ignores the host prefix
        setting needs its client option (the JavaScript v3 SDK: ``disableHostPrefix:
        true``); docs/sandbox.md lists them. With ``demo_s3``, ``AWS_ENDPOINT_URL_S3``
        points boto3's S3 clients (and the AWS CLI's) at the local S3.
        """
        return {
            "AWS_ENDPOINT_URL_MEDICAL_IMAGING": self.endpoint_url,
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": self._secret,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **({"AWS_ENDPOINT_URL_S3": self._s3.endpoint_url} if self._s3 is not None else {}),
        }

    # ------------------------------------------------------------------ controls

    @property
    def requests(self) -> list[RequestLogEntry]:
        """A snapshot of the request log, oldest first."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._log.clear()

    def deny(self, operation: str, *, image_set_ids: Iterable[str] | None = None) -> None:
        """Answer AccessDeniedException to ``operation``, or only for ``image_set_ids``."""
        self._service.deny(operation, image_set_ids)

    def allow(self, operation: str) -> None:
        """Undo :meth:`deny`."""
        self._service.allow(operation)

    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._faults.faults

    def set_faults(
        self,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        error_rate: float = 0.0,
        throttle_rate: float = 0.0,
        drop_rate: float = 0.0,
        seed: int = 0,
        operations: Iterable[str] | None = None,
    ) -> None:
        """Replace the fault settings (and restart their random sequence from ``seed``)."""
        self._faults.configure(
            Faults(
                latency_ms=latency_ms,
                jitter_ms=jitter_ms,
                error_rate=error_rate,
                throttle_rate=throttle_rate,
                drop_rate=drop_rate,
                seed=seed,
                operations=frozenset(operations) if operations is not None else None,
            )
        )

    def set_quotas(
        self, enabled: bool, quota_rates: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        """Turn quotas on or off; ``quota_rates`` overrides ``{"Op": (rate, burst)}``.

        Every bucket starts full again.
        """
        self._quotas.configure(enabled, quota_rates)


def start(**options: Any) -> Sandbox:
    """Start a sandbox in a background thread and return it (also a context manager).

    The keyword arguments are those of :class:`Sandbox`.

    Examples
    --------
    >>> from hi_widgets import sandbox
    >>> with sandbox.start(seed=0) as local:
    ...     [d["datastoreName"] for d in local.client().list_datastores()["datastoreSummaries"]]
    ['demo-radiology', 'demo-oncology']
    """
    return Sandbox(**options).start()


# help(), Jupyter and IDEs show Sandbox's keyword arguments for start(). (typeshed gives
# functions no __signature__ attribute, though inspect reads it.)
start.__signature__ = inspect.signature(Sandbox).replace(  # type: ignore[attr-defined]
    return_annotation="Sandbox"
)
