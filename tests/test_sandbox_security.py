"""Only the sandbox's owner can drive it (issue 15, "The sandbox is reachable by any web page").

A real HTTP client (http.client and raw sockets) against a running sandbox: signatures are
verified by default in both forms, with the keys the sandbox prints; signing times outside
AWS's 15-minute skew are refused; Host headers that are not the sandbox's own address are
refused; bodies are capped however they are framed; connections and threads are bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from hi_widgets import sandbox


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(quotas=False) as running:
        yield running


@pytest.fixture(scope="module")
def target(sb):
    ds = sb.store.datastore_ids()[0]
    return ds, sb.store.image_set_ids(ds)[1]


def sign(sb, method, path, body=b"", *, when=None, host=None, secret=None, key=None):
    """Headers of a SigV4-signed request made by hand (any time, Host and keys)."""
    keys = sb.credentials()
    when = when or datetime.now(timezone.utc)
    netloc = host or urlsplit(sb.endpoint_url).netloc
    timestamp = when.strftime("%Y%m%dT%H%M%SZ")
    request = AWSRequest(
        method=method, url=f"http://{netloc}{path}", data=body, headers={"X-Amz-Date": timestamp}
    )
    request.context["timestamp"] = timestamp
    credentials = Credentials(
        key or keys["aws_access_key_id"], secret or keys["aws_secret_access_key"]
    )
    signer = SigV4Auth(credentials, "medical-imaging", sb.region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    return {
        "Host": netloc,
        "X-Amz-Date": timestamp,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, "
            f"Signature={signature}"
        ),
    }


def send(sb, method, path, headers, body=b""):
    """Send one request with exactly these headers; return (status, error type, message)."""
    connection = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
        message = json.loads(payload).get("message", "") if payload else ""
        return response.status, response.getheader("x-amzn-ErrorType"), message
    finally:
        connection.close()


def get_image_set_path(ds, image_set):
    return f"/datastore/{ds}/imageSet/{image_set}/getImageSet"


def test_a_correct_hand_signed_request_is_served(sb, target):
    path = get_image_set_path(*target)
    assert send(sb, "POST", path, sign(sb, "POST", path))[0] == 200


def test_a_cross_origin_form_post_cannot_delete(sb, target):
    # What a web page can send without a CORS preflight: a simple form POST, no signature.
    ds, image_set = target
    path = f"/datastore/{ds}/imageSet/{image_set}/deleteImageSet"
    headers = {
        "Host": urlsplit(sb.endpoint_url).netloc,
        "Origin": "http://evil.example",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    status, error, _ = send(sb, "POST", path, headers, b"a=b")
    assert (status, error) == (403, "AccessDeniedException")
    assert sb.store.versions(ds, image_set)[-1]["imageSetState"] == "ACTIVE"


def test_a_signature_from_an_unknown_key_or_secret_is_refused(sb, target):
    path = get_image_set_path(*target)
    for forged in (
        sign(sb, "POST", path, key="AKIAFORGEDFORGED", secret="x"),
        sign(sb, "POST", path, secret="not-the-printed-secret"),
    ):
        status, error, message = send(sb, "POST", path, forged)
        assert (status, error) == (403, "AccessDeniedException")
        assert "signature" in message


def test_presigned_query_strings_are_verified(sb):
    host = {"Host": urlsplit(sb.endpoint_url).netloc}
    client = sb.client(max_attempts=1)
    url = urlsplit(client.generate_presigned_url("list_datastores", Params={}))
    client.close()
    assert send(sb, "GET", f"{url.path}?{url.query}", host)[0] == 200
    # A presigned query string made with another sandbox's secret: no Authorization
    # header, a well-formed signature, the wrong key.
    stranger = sandbox.Sandbox(image_sets=1, clock=sandbox.ManualClock())  # never started
    foreign = boto3.Session(region_name=sb.region, **stranger.credentials()).client(
        "medical-imaging", endpoint_url=sb.endpoint_url, config=Config(inject_host_prefix=False)
    )
    forged = urlsplit(foreign.generate_presigned_url("list_datastores", Params={}))
    foreign.close()
    status, error, _ = send(sb, "GET", f"{forged.path}?{forged.query}", host)
    assert (status, error) == (403, "AccessDeniedException")
    tampered = url.query.replace("X-Amz-Expires=3600", "X-Amz-Expires=3599")
    assert send(sb, "GET", f"{url.path}?{tampered}", host)[0] == 403


@pytest.mark.parametrize(
    ("offset", "served"),
    [
        (timedelta(days=-365 * 6), False),  # a request signed years ago, replayed
        (timedelta(minutes=-16), False),
        (timedelta(minutes=16), False),
        (timedelta(minutes=-14), True),
        (timedelta(minutes=14), True),
    ],
)
def test_signing_time_must_be_within_fifteen_minutes(sb, target, offset, served):
    path = get_image_set_path(*target)
    headers = sign(sb, "POST", path, when=datetime.now(timezone.utc) + offset)
    status, error, message = send(sb, "POST", path, headers)
    if served:
        assert status == 200
    else:
        assert (status, error) == (403, "AccessDeniedException")
        assert "15 minutes" in message


def test_a_foreign_host_header_is_refused(sb, target):
    # DNS rebinding: a page on evil.example resolves its name to 127.0.0.1, so the browser
    # sends its own name as Host (and the signature would cover it).
    path = get_image_set_path(*target)
    port = sb.port
    for host, allowed in (
        (f"evil.example:{port}", False),
        (f"localhost.evil.example:{port}", False),
        (f"localhost:{port}", True),
        (f"127.0.0.1:{port}", True),
    ):
        status, error, message = send(sb, "POST", path, sign(sb, "POST", path, host=host))
        assert (status == 200) is allowed, (host, status, message)
        if not allowed:
            assert error == "AccessDeniedException" and "Host" in message
    no_host = {k: v for k, v in sign(sb, "POST", path).items() if k != "Host"}
    assert send(sb, "POST", path, no_host)[0] == 403


def test_allowed_hosts_admit_a_named_host():
    with sandbox.start(quotas=False, allowed_hosts=["imaging.lan"]) as named:
        ds = named.store.datastore_ids()[0]
        path = get_image_set_path(ds, named.store.image_set_ids(ds)[1])
        host = f"imaging.lan:{named.port}"
        assert send(named, "POST", path, sign(named, "POST", path, host=host))[0] == 200


def raw(sb) -> socket.socket:
    return socket.create_connection(("127.0.0.1", sb.port), timeout=10)


def read_response(connection: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_negative_chunk_size_is_refused_without_reading_the_stream(sb, target):
    path = get_image_set_path(*target)
    head = "".join(f"{k}: {v}\r\n" for k, v in sign(sb, "POST", path).items())
    with raw(sb) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n-1\r\n".encode()
            + b"x" * 65536
        )
        # The answer comes while the client keeps its stream open: nothing waits for EOF.
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 400")
    assert b"ValidationException" in response and b"Connection: close" in response


def test_a_chunked_body_over_the_cap_is_refused_before_it_is_sent(sb, target):
    path = get_image_set_path(*target)
    head = "".join(f"{k}: {v}\r\n" for k, v in sign(sb, "POST", path).items())
    with raw(sb) as connection:
        big = 64 * 1024 * 1024
        connection.sendall(
            f"POST {path} HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n{big:x}\r\n".encode()
        )
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 400") and b"larger than" in response


def test_connections_and_threads_are_bounded():
    with sandbox.start(quotas=False, max_connections=8) as small:
        before = threading.active_count()
        idle = [raw(small) for _ in range(8)]
        for connection in idle:  # one request each, then they stay open (keep-alive)
            path = "/datastore"
            head = "".join(f"{k}: {v}\r\n" for k, v in sign(small, "GET", path).items())
            connection.sendall(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
            assert connection.recv(12) == b"HTTP/1.1 200"
        excess = [raw(small) for _ in range(200)]
        for connection in excess:
            assert read_response(connection).startswith(b"HTTP/1.1 503")
            connection.close()
        assert small._server.connection_count == 8
        assert threading.active_count() <= before + 8
        for connection in idle:
            connection.close()
        assert small._server.wait_for_connections(0, timeout=10)
        client = small.client(max_attempts=1)
        assert client.list_datastores()["datastoreSummaries"]
        client.close()


def test_the_opt_out_serves_any_well_formed_signature():
    with sandbox.start(quotas=False, verify_signatures=False) as open_box:
        path = "/datastore"
        forged = sign(open_box, "GET", path, key="AKIAANYBODY", secret="whatever")
        assert send(open_box, "GET", path, forged)[0] == 200


def test_each_sandbox_has_its_own_secret_and_prints_it(sb):
    other = sandbox.Sandbox(image_sets=1, clock=sandbox.ManualClock())
    assert (
        other.credentials()["aws_secret_access_key"] != sb.credentials()["aws_secret_access_key"]
    )
    assert sb.env()["AWS_SECRET_ACCESS_KEY"] == sb.credentials()["aws_secret_access_key"]
    fixed = sandbox.Sandbox(image_sets=1, secret_access_key="mine", clock=sandbox.ManualClock())
    assert fixed.credentials()["aws_secret_access_key"] == "mine"
    assert "mine" not in repr(fixed)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_cli_port_out_of_range_is_a_clear_error(port):
    done = subprocess.run(
        [sys.executable, "-m", "hi_widgets.cli", "sandbox", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--port" in done.stderr and "0 to 65535" in done.stderr
    assert "Traceback" not in done.stderr


def test_sandbox_port_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match="port"):
        sandbox.Sandbox(port=99999)
