"""What unauthenticated and slow clients cost a sandbox process (issue 21's probes).

Run: ``.venv/bin/python benchmarks/sandbox_abuse.py [--clients 64]``

Starts ``python -m hi_widgets.sandbox`` and, against it:

* ``--clients`` unsigned requests at once, each announcing a 16 MB body (Content-Length,
  then chunked) and sending it: the sandbox's peak RSS growth (``VmHWM``) is printed.
  Target: under 100 MB (issue 21 measured 1.1 GB and 2.1 GB before the fix).
* ``--clients`` sockets trickling a request head one byte a second, then a boto3 call:
  printed is whether it succeeded and how long it took. Target: it succeeds (before the
  fix every call got 503 for as long as the sockets ran).

Prints each figure with ``ok`` or ``MISS``; exits 0 either way (a report, not a test).
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

BODY = 16 * 1024 * 1024
RSS_TARGET = 100 * 1024 * 1024
EXPORT = re.compile(r"export (\w+)=(\S+)")


def _start() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "hi_widgets.sandbox", "--port", "0", "--image-sets", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        match = EXPORT.match(line)
        if match:
            env[match[1]] = match[2].strip("'")
        if "AWS_DEFAULT_REGION" in env:
            return process, env
    raise SystemExit("the sandbox did not start")


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _unsigned_upload(port: int, chunked: bool) -> None:
    path = "/datastore/" + "0" * 32 + "/imageSet/" + "0" * 32 + "/copyImageSet"
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            connection.sendall(head.encode())
            piece = b"x" * (1 << 20)
            for _ in range(BODY >> 20):
                connection.sendall(
                    f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
                )
            while connection.recv(65536):
                pass
    except OSError:
        pass  # refused and closed early: what the sandbox should do


def _uploads(port: int, clients: int, chunked: bool) -> None:
    threads = [
        threading.Thread(target=_unsigned_upload, args=(port, chunked)) for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _slowloris(port: int, clients: int, stop: threading.Event) -> None:
    sockets = []
    for _ in range(clients):
        connection = socket.create_connection(("127.0.0.1", port), timeout=60)
        connection.sendall(b"GET /datastore HTTP/1.1\r\nX-Slow: ")
        sockets.append(connection)
    while not stop.wait(1.0):
        for connection in list(sockets):
            try:
                connection.send(b"a")
            except OSError:  # closed by the sandbox: open another, as an attacker would
                sockets.remove(connection)
                replacement = socket.create_connection(("127.0.0.1", port), timeout=60)
                replacement.sendall(b"GET /datastore HTTP/1.1\r\nX-Slow: ")
                sockets.append(replacement)
    for connection in sockets:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    process, env = _start()
    port = int(env["AWS_ENDPOINT_URL_MEDICAL_IMAGING"].rsplit(":", 1)[1])
    try:
        baseline = _peak_rss(process.pid)
        for chunked in (False, True):
            _uploads(port, args.clients, chunked)
            grew = _peak_rss(process.pid) - baseline
            verdict = "ok" if grew < RSS_TARGET else "MISS"
            framing = "chunked" if chunked else "Content-Length"
            print(
                f"{args.clients} unsigned 16 MB bodies ({framing}): peak RSS grew "
                f"{grew / 1e6:.1f} MB (target < {RSS_TARGET / 1e6:.0f} MB) {verdict}"
            )
        stop = threading.Event()
        attacker = threading.Thread(target=_slowloris, args=(port, args.clients, stop))
        attacker.start()
        time.sleep(3)  # let the slow sockets take every slot and trickle for a while
        client = boto3.client(
            "medical-imaging",
            endpoint_url=env["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
        )
        started = time.perf_counter()
        try:
            client.list_datastores()
            outcome = "succeeded"
        except Exception as error:  # a report: say what happened
            outcome = f"failed ({error})"
        took = time.perf_counter() - started
        stop.set()
        attacker.join()
        verdict = "ok" if outcome == "succeeded" else "MISS"
        print(
            f"boto3 ListDatastores with {args.clients} slow sockets trickling: {outcome} in "
            f"{took:.2f} s {verdict}"
        )
    finally:
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
