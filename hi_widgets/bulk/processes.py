"""RequestProcesses: child processes that send a bulk call's requests, for raised quotas.

A bulk call in one process sends at most a few hundred requests per second, whatever its
``max_workers``: each request costs 2-4 ms of botocore CPU under one GIL. With
``processes=`` the call's requests go to child processes
(:mod:`hi_widgets.api.send_process`), each sending with its own copy of the client; the
call itself stays in this process: one rate limiter for the whole quota, the retries, the
page walks, the checkpoint, progress and cancel. Results, checkpoints and errors are those
of the same call without processes; only where the CPU is spent changes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hi_widgets.api.errors import ConnectionFailedError
from hi_widgets.api.send_process import ClientRecipe
from hi_widgets.api.single_attempt import client_verify
from hi_widgets.api.walk import Send

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds a child may take to import and say it is ready."""

STOP_TIMEOUT = 5.0
"""Seconds a child may take to finish its requests in flight when closed."""


def _child_environment() -> dict[str, str]:
    """Return this environment, with this very hi_widgets first on the import path.

    A notebook may import hi_widgets from a checkout it put on ``sys.path`` itself; the
    child must import the same code, not another installed copy (or none).
    """
    here = str(Path(__file__).resolve().parents[2])  # the folder holding hi_widgets/
    inherited = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (here, inherited)))}


_ALL_EXITED = "every request process has exited; close this RequestProcesses and start another"


class _Child:
    """One child process and its end of the socket pair, seen from the parent."""

    def __init__(self, number: int) -> None:
        self.number = number
        mine, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hi_widgets.api.send_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=_child_environment(),
                start_new_session=True,  # Ctrl-C interrupts the parent only
            )
        self.connection = Connection(mine.detach())
        self.in_flight = 0
        self.last_chosen = -1
        self._sent_credentials: dict[int, Any] = {}
        self._write = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._alive = True
        self.stopping = False
        self._reader: threading.Thread | None = None

    def wait_ready(self, timeout: float) -> None:
        """Wait for the child's "ready"; raise RuntimeError if it exits or takes too long."""
        if not self.connection.poll(timeout):
            self.process.kill()
            raise RuntimeError(f"request process {self.number} was not ready in {timeout:g} s")
        try:
            self.connection.recv()
        except EOFError:
            raise RuntimeError(
                f"request process {self.number} exited as it started "
                f"(exit status {self.process.wait()}); its error is on stderr"
            ) from None
        self._reader = threading.Thread(
            target=self._read, name=f"hi-send-reader-{self.number}", daemon=True
        )
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._alive and self.process.poll() is None

    def post(self, message: tuple[Any, ...]) -> None:
        with self._write:
            self.connection.send(message)

    def add_client(self, key: int, recipe: ClientRecipe, frozen: Any) -> None:
        """Have the child build client ``key``, signing with ``frozen`` credentials."""
        self.post(("client", key, recipe, frozen))
        self._sent_credentials[key] = frozen

    def set_credentials(self, key: int, frozen: Any) -> None:
        """Send the credentials of client ``key`` if they changed since last sent."""
        if frozen is not None and self._sent_credentials.get(key) != frozen:
            self.post(("credentials", key, frozen))
            self._sent_credentials[key] = frozen

    def forget(self, key: int) -> None:
        self._sent_credentials.pop(key, None)
        with contextlib.suppress(OSError):
            self.post(("forget", key))

    def call(self, key: int, operation: str, params: dict[str, Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._write:
            request_id = next(self._ids)
            self._pending[request_id] = future
            self.in_flight += 1
            try:
                self.connection.send(("call", request_id, key, operation, params))
            except OSError:
                self._pending.pop(request_id, None)
                self.in_flight -= 1
                raise
        return future

    def _read(self) -> None:
        try:
            while True:
                request_id, ok, payload = self.connection.recv()
                with self._write:
                    future = self._pending.pop(request_id)
                    self.in_flight -= 1
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(payload)
        except (EOFError, OSError):
            pass
        with self._write:
            self._alive = False
            pending, self._pending = list(self._pending.values()), {}
            self.in_flight = 0
        if not self.stopping:
            log.warning(
                "request process %d (pid %d) exited; %d requests in flight are sent again "
                "on the others",
                self.number,
                self.process.pid,
                len(pending),
            )
        for future in pending:  # retryable: the call sends them again on another child
            future.set_exception(self._lost())

    def _lost(self) -> ConnectionFailedError:
        return ConnectionFailedError(
            f"request process {self.number} exited (status {self.process.poll()}) while "
            "requests were in flight",
            operation=None,
        )

    def stop(self, timeout: float) -> None:
        """Ask the child to answer what is in flight and exit; kill it if it hangs."""
        self.stopping = True
        with contextlib.suppress(OSError):
            self.post(("stop",))
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._reader is not None:
            self._reader.join()  # it ends at the end of the stream: the child has exited
        self.connection.close()


class RequestProcesses:
    """Child processes that send the requests of bulk calls, to use more than one core.

    Pass to ``processes=`` of :func:`~hi_widgets.fetch_versions` or
    :func:`~hi_widgets.fetch_datastore` (or give those an integer to start and stop
    processes for one call). Starting a child costs about a second of CPU (Python,
    botocore and the service model); keep one ``RequestProcesses`` open for many calls.
    Any number of calls may use it at once, with the same or different clients.

    Parameters
    ----------
    processes
        Children to start (at least 1). Each one sends requests with its own copy of the
        client: the same region, endpoint, configuration and credentials (refreshed
        credentials are handed on as the parent refreshes them). Event handlers
        registered on the client are not copied.

    Notes
    -----
    Only the sending moves: the rate limiter (one bucket per operation for all the
    children), retries, checkpoint, progress and cancel stay in the calling process, so a
    call returns what it would without processes. A child that dies fails its requests in
    flight as dropped connections, which are retried on the others. The children run in
    a session of their own (Ctrl-C interrupts only the caller) and exit when it closes them
    or exits.

    Examples
    --------
    >>> pairs = [(datastore_id, image_set_id)]
    >>> with hw.RequestProcesses(2) as processes:
    ...     result = hw.fetch_versions(client, pairs, processes=processes)
    >>> len(result.frame), result.stats.requests
    (73, 2)
    """

    def __init__(self, processes: int = 2) -> None:
        _check_count(processes)
        self._children: list[_Child] = []
        self._keys = itertools.count()
        self._ticks = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        # Children are stopped when this object is closed or collected, or at exit.
        self._finalizer = weakref.finalize(self, _stop_children, self._children)
        try:
            self._children.extend(_Child(number) for number in range(processes))
            for child in self._children:
                child.wait_ready(START_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        alive = sum(child.alive for child in self._children)
        state = "closed" if self._closed else f"{alive} of {len(self._children)} running"
        return f"RequestProcesses({len(self._children)}: {state})"

    def __enter__(self) -> RequestProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the children."""
        return [child.process.pid for child in self._children]

    def close(self) -> None:
        """Stop the children once their requests in flight are answered; idempotent."""
        with self._lock:
            self._closed = True
        self._finalizer()

    @contextlib.contextmanager
    def _sender(self, client: Any, connections: int) -> Iterator[Send]:
        """Yield a :data:`~hi_widgets.api.walk.Send` sending through the children.

        One attempt per request, like :func:`~hi_widgets.api.walk.direct_send` over the
        client's single-attempt twin; errors come back as the same HealthImagingErrors.
        """
        get_credentials = getattr(client, "_get_credentials", None)
        if get_credentials is None:
            raise TypeError(
                "processes= needs a boto3 client: its region, endpoint, configuration and "
                f"credentials are handed to the child processes; got {type(client).__name__}"
            )
        credentials = get_credentials()

        def frozen() -> Any:
            # Refreshing credentials refresh here, in the parent, and are handed on.
            return None if credentials is None else credentials.get_frozen_credentials()

        meta = client.meta
        recipe = ClientRecipe(
            meta.region_name, meta.endpoint_url, meta.config, connections, client_verify(client)
        )
        with self._lock:
            if self._closed:
                raise ValueError("processes: this RequestProcesses is closed")
            key = next(self._keys)
            alive = [child for child in self._children if child.alive]
            if not alive:
                raise RuntimeError(_ALL_EXITED)
            for child in alive:
                with contextlib.suppress(OSError):  # it died just now: its reader sees it
                    child.add_client(key, recipe, frozen())

        def send(operation: str, params: dict[str, Any]) -> dict[str, Any]:
            child = self._least_busy()
            try:
                child.set_credentials(key, frozen())
                future = child.call(key, operation, params)
            except OSError:
                raise child._lost() from None
            result: dict[str, Any] = future.result()
            return result

        try:
            yield send
        finally:
            for child in self._children:
                child.forget(key)

    def _least_busy(self) -> _Child:
        """Pick the child with the fewest requests in flight; on a tie, the longest unused."""
        with self._lock:
            alive = [child for child in self._children if child.alive]
            if not alive:
                raise RuntimeError(_ALL_EXITED)
            child = min(alive, key=lambda child: (child.in_flight, child.last_chosen))
            child.last_chosen = next(self._ticks)
            return child


def _stop_children(children: list[_Child]) -> None:
    for child in children:
        child.stop(STOP_TIMEOUT)


Processes = int | RequestProcesses | None
"""The ``processes=`` argument of the bulk calls."""


def check_processes(processes: Processes) -> None:
    """Raise ValueError for a bad ``processes=``, before any request or child starts."""
    if processes is not None and not isinstance(processes, RequestProcesses):
        _check_count(processes, " or a hi_widgets.RequestProcesses")


def _check_count(processes: object, alternatives: str = "") -> None:
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be an integer >= 1{alternatives}, got {processes!r}")


def open_sender(
    stack: contextlib.ExitStack, processes: Processes, client: Any, connections: int
) -> Send | None:
    """Return the Send of one call's ``processes=`` (None: send from this process).

    An integer starts that many children for the call, closed with ``stack``. Each child
    keeps up to ``connections`` (the call's requests in flight at most) open.
    """
    if processes is None:
        return None
    if not isinstance(processes, RequestProcesses):
        processes = stack.enter_context(RequestProcesses(processes))
    return stack.enter_context(processes._sender(client, connections))
