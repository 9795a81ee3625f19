"""Hand-made SigV4 requests to a sandbox: any time, Host, keys, headers and body."""

from __future__ import annotations

import http.client
import json
import socket
from datetime import datetime, timezone
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

JSON = {"Content-Type": "application/json"}


def sign(
    sb,
    method,
    path,
    body=b"",
    *,
    when=None,
    host=None,
    secret=None,
    key=None,
    headers=None,
    payload_hash=None,
):
    """Headers of a SigV4-signed request (the extra ``headers`` are signed too).

    ``payload_hash`` replaces the hash of ``body`` in the canonical request, as a client
    that sends ``X-Amz-Content-SHA256`` does.
    """
    keys = sb.credentials()
    when = when or datetime.now(timezone.utc)
    netloc = host or urlsplit(sb.endpoint_url).netloc
    timestamp = when.strftime("%Y%m%dT%H%M%SZ")
    extra = dict(headers or {})
    if payload_hash is not None:
        extra["X-Amz-Content-SHA256"] = payload_hash
    request = AWSRequest(
        method=method,
        url=f"http://{netloc}{path}",
        data=body,
        headers={"X-Amz-Date": timestamp, **extra},
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
        **extra,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, "
            f"Signature={signature}"
        ),
    }


def send(sb, method, path, headers, body=b""):
    """Send one request with exactly these headers; return (status, error type, message)."""
    connection = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=30)
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


def raw(sb, timeout=30) -> socket.socket:
    """A plain TCP connection to the sandbox."""
    return socket.create_connection(("127.0.0.1", sb.port), timeout=timeout)


def read_response(connection: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received
