"""A child process that sends HealthImaging requests for its parent.

One process spends 2-4 ms of CPU on each request (botocore signs, sends and parses it), and
its threads share one GIL, so it sends at most a few hundred requests per second however
many threads it has (``docs/quotas.md``). :class:`hi_widgets.bulk.RequestProcesses` starts
children running :func:`serve` and hands them the requests of a bulk call; the parent keeps
everything else (the rate limiter, retries, walks, checkpoint, progress, cancel).

The parent starts a child as ``python -m hi_widgets.api.send_process FD``, FD being its end
of a socket pair (not through :mod:`multiprocessing`'s spawn, which would import the
parent's ``__main__`` again). Messages are pickled tuples
(:class:`multiprocessing.connection.Connection`):

parent to child
    ``("client", key, recipe, frozen)``: build a single-attempt client from ``recipe``
    (:class:`ClientRecipe`) signing with ``frozen`` (botocore's ``ReadOnlyCredentials``,
    or None for unsigned requests); ``("credentials", key, frozen)``: sign with these
    from now on (the parent's refreshed); ``("call", id,
    key, operation, params)``: send one request; ``("forget", key)``: close that client;
    ``("stop",)``: answer the requests in flight and exit.
child to parent
    ``("ready", pid)`` once imported; ``(id, True, response)`` or ``(id, False, error)`` for
    each call, ``error`` a :class:`~hi_widgets.api.errors.HealthImagingError` (translated
    here, as :func:`~hi_widgets.api.walk.direct_send` does) or a RuntimeError describing an
    unexpected failure.

The child runs in a session of its own and ignores SIGINT: Ctrl-C in a terminal or a
notebook interrupts the parent, which decides what stops. It exits when the parent's end
closes, including when the parent dies.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.loaders import create_loader

from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.model import SERVICE_NAME
from hi_widgets.api.single_attempt import build_single_attempt_client
from hi_widgets.api.walk import direct_send

MAX_THREADS = 512
"""Threads of one child at most (made as requests arrive): one per request in flight."""


@dataclass(frozen=True)
class ClientRecipe:
    """What a child needs to build a client like the parent's (credentials come apart)."""

    region_name: str | None
    endpoint_url: str | None
    config: Config
    pool: int
    verify: bool | str | None


class _HeldCredentials(Credentials):
    """Credentials the parent replaces as its own refresh; read as one frozen tuple."""

    def __init__(self, frozen: ReadOnlyCredentials) -> None:
        super().__init__(*cast("tuple[str, str]", frozen[:2]))
        self.replace(frozen)

    def replace(self, frozen: ReadOnlyCredentials) -> None:
        # Signers read get_frozen_credentials(): one reference swap, never two sets mixed.
        self._frozen = frozen
        self.__dict__.update(frozen._asdict())

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return self._frozen

    def __repr__(self) -> str:
        return "<credentials from the parent process>"


class _Clients:
    """The clients of one child, by the parent's key, built as the parent announces them.

    They share one loader, so the service model is read once per child (at its start),
    not once per bulk call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loader = create_loader()
        for kind in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            self._loader.load_service_model(SERVICE_NAME, kind)
        self._sends: dict[int, Any] = {}
        self._clients: dict[int, Any] = {}
        self._credentials: dict[int, _HeldCredentials | None] = {}

    def add(self, key: int, recipe: ClientRecipe, frozen: ReadOnlyCredentials | None) -> None:
        held = None if frozen is None else _HeldCredentials(frozen)
        client = build_single_attempt_client(
            held,
            region_name=recipe.region_name,
            endpoint_url=recipe.endpoint_url,
            config=recipe.config,
            pool=recipe.pool,
            verify=recipe.verify,
            loader=self._loader,
        )
        with self._lock:
            self._credentials[key] = held
            self._clients[key], self._sends[key] = client, direct_send(client)

    def credentials(self, key: int, frozen: ReadOnlyCredentials) -> None:
        with self._lock:
            held = self._credentials.get(key)
        if held is not None:
            held.replace(frozen)

    def send(self, key: int) -> Any:
        with self._lock:
            return self._sends[key]

    def forget(self, key: int) -> None:
        with self._lock:
            self._sends.pop(key, None)
            self._credentials.pop(key, None)
            client = self._clients.pop(key, None)
        if client is not None:
            client.close()


def serve(connection: Connection) -> None:
    """Answer the parent's messages on ``connection`` until it closes (module notes)."""
    clients = _Clients()  # loads the service model before the child says it is ready
    replies = threading.Lock()

    def call(request_id: int, key: int, operation: str, params: dict[str, Any]) -> None:
        reply: tuple[Any, ...]
        try:
            reply = (request_id, True, clients.send(key)(operation, params))
        except HealthImagingError as error:
            reply = (request_id, False, error)
        except Exception as error:  # the parent fails this image set, not the call
            reply = (request_id, False, RuntimeError(f"{type(error).__name__}: {error}"))
        with replies:
            connection.send(reply)

    with ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="hi-send") as threads:
        connection.send(("ready", os.getpid()))  # the service model is loaded
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):  # the parent closed its end, or died
                break
            kind = message[0]
            if kind == "call":
                threads.submit(call, *message[1:])
            elif kind == "client":
                clients.add(*message[1:])
            elif kind == "credentials":
                clients.credentials(message[1], message[2])
            elif kind == "forget":
                clients.forget(message[1])
            elif kind == "stop":
                break


def main(argv: list[str]) -> int:
    """Entry point of ``python -m hi_widgets.api.send_process FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    (fd,) = argv
    with Connection(socket.socket(fileno=int(fd)).detach()) as connection:
        try:
            serve(connection)
        except (BrokenPipeError, ConnectionResetError):  # the parent went away mid-reply
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
