"""AWS Signature Version 4 on the server side: read, verify and date-check a signature.

Both forms botocore produces are verified: the ``Authorization`` header and the
presigned query string (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``). The canonical request is
rebuilt with botocore's own signer from the request exactly as received, so whatever
botocore signs, this recomputes, with one exception: the payload hash is always the hash
of the body the sandbox received, as for every service but S3 ("Create a canonical
request", https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
An ``X-Amz-Content-SHA256`` header is not a substitute for it (and ``UNSIGNED-PAYLOAD``
never matches): a signed 64-hex header only lets the signature be checked before the body
is read (:func:`claimed_payload_hash`), and the body must then hash to it.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGNING_NAME = "medical-imaging"
MAX_CLOCK_SKEW = timedelta(minutes=15)
"""AWS refuses a request whose signing time is more than 15 minutes from its own clock."""
_CREDENTIAL = re.compile(
    r"(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request"
)
MAX_PRESIGNED_SECONDS = 604800
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Signature:
    """The parts of a SigV4 signature as the request carries them."""

    access_key: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool
    expires: int | None = None

    @property
    def signed_at(self) -> datetime | None:
        """The signing time, or None if ``X-Amz-Date`` is malformed."""
        try:
            return datetime.strptime(self.timestamp, _TIMESTAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            return None


def read_signature(headers: dict[str, str], query: dict[str, list[str]]) -> Signature | None:
    """Return the request's SigV4 signature, or None if it carries no well-formed one.

    Parameters
    ----------
    headers
        The request headers (any case).
    query
        The parsed query string (``urllib.parse.parse_qs``).
    """
    lower = {key.lower(): value for key, value in headers.items()}
    authorization = lower.get("authorization", "")
    if authorization:
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return None
        fields = dict(
            part.strip().partition("=")[::2]
            for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
        )
        credential = _CREDENTIAL.fullmatch(fields.get("Credential", ""))
        signature = fields.get("Signature", "")
        signed = fields.get("SignedHeaders", "")
        timestamp = lower.get("x-amz-date", "")
        if not (credential and re.fullmatch(r"[0-9a-f]{64}", signature) and signed and timestamp):
            return None
        return Signature(
            credential["key"],
            credential["region"],
            credential["service"],
            tuple(signed.split(";")),
            signature,
            timestamp,
            presigned=False,
        )

    def one(name: str) -> str:
        values = query.get(name, [])
        return values[0] if len(values) == 1 else ""

    if one("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return None
    credential = _CREDENTIAL.fullmatch(one("X-Amz-Credential"))
    signature = one("X-Amz-Signature")
    signed = one("X-Amz-SignedHeaders")
    expires = one("X-Amz-Expires")
    if not (
        credential
        and re.fullmatch(r"[0-9a-f]{64}", signature)
        and signed
        and one("X-Amz-Date")
        and expires.isdigit()
    ):
        return None
    return Signature(
        credential["key"],
        credential["region"],
        credential["service"],
        tuple(signed.split(";")),
        signature,
        one("X-Amz-Date"),
        presigned=True,
        expires=int(expires),
    )


def signed_access_key(headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
    """Return the access key id of a well-formed ``medical-imaging`` signature, or None."""
    signature = read_signature(headers, query)
    if signature is None or signature.service != SIGNING_NAME:
        return None
    return signature.access_key


def claimed_payload_hash(headers: dict[str, str], signature: Signature) -> str | None:
    """Return the signed ``X-Amz-Content-SHA256`` value if it is a SHA-256 hex digest.

    With it the signature can be verified from the headers alone, before the body is
    read; the body must then hash to exactly this value. ``UNSIGNED-PAYLOAD``, an unsigned
    header or anything else gives None: the body is read (under its cap) and hashed first.
    """
    if "x-amz-content-sha256" not in signature.signed_headers:
        return None
    lower = {key.lower(): value for key, value in headers.items()}
    value = lower.get("x-amz-content-sha256", "").strip().lower()
    return value if _HEX_SHA256.fullmatch(value) else None


def signature_matches(
    method: str,
    target: str,
    headers: dict[str, str],
    payload_hash: str,
    secret_key: str,
    signature: Signature,
) -> bool:
    """Recompute the SigV4 signature of a request and compare it (constant time).

    Parameters
    ----------
    method, target, headers
        The request as received (``target`` is the raw path and query string).
    payload_hash
        The hex SHA-256 of the body as received (or, before the body is read, the
        value :func:`claimed_payload_hash` found, which the body must match later).
    secret_key
        The secret access key that belongs to the signature's access key id.
    signature
        What :func:`read_signature` found in the request.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    if "host" not in lower or any(name not in lower for name in signature.signed_headers):
        return False
    split = urlsplit(target)
    query = split.query
    if signature.presigned:  # the canonical query holds every parameter but the signature
        query = "&".join(p for p in split.query.split("&") if not p.startswith("X-Amz-Signature="))
    request = AWSRequest(
        method=method,
        url=f"http://{lower['host']}{split.path}" + (f"?{query}" if query else ""),
        headers={name: lower[name] for name in signature.signed_headers},
    )
    request.context["timestamp"] = signature.timestamp
    credentials = Credentials(signature.access_key, secret_key)
    signer_class = SigV4QueryAuth if signature.presigned else SigV4Auth
    signer = signer_class(credentials, signature.service, signature.region)
    # botocore would take a client's X-Amz-Content-SHA256 header as the payload line:
    # the server puts the hash of what it received there instead.
    canonical = signer.canonical_request(request).rsplit("\n", 1)[0] + "\n" + payload_hash
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signature.signature)


def time_problem(
    signature: Signature, now: datetime, max_skew: timedelta | None = MAX_CLOCK_SKEW
) -> str | None:
    """Return why the signature's time is not acceptable at ``now``, or None if it is.

    The signing time of a header-signed request must be within ``max_skew`` of ``now``
    (AWS: 15 minutes); a presigned request is valid from its signing time until
    ``X-Amz-Expires`` seconds later (at most 7 days).
    """
    signed_at = signature.signed_at
    if signed_at is None:
        return f"X-Amz-Date {signature.timestamp!r} is not a yyyyMMddTHHmmssZ time"
    if signature.expires is not None:  # presigned: valid from signing until it expires
        if signature.expires > MAX_PRESIGNED_SECONDS:
            return f"X-Amz-Expires must be at most {MAX_PRESIGNED_SECONDS} seconds (7 days)"
        if max_skew is not None and signed_at - now > max_skew:
            return "The presigned request is signed in the future"
        if now > signed_at + timedelta(seconds=signature.expires):
            return "The presigned request has expired (X-Amz-Expires)"
        return None
    if max_skew is not None and abs(now - signed_at) > max_skew:
        return (
            f"Signature not yet current or expired: the request was signed at "
            f"{signed_at:%Y-%m-%dT%H:%M:%SZ}, more than {max_skew.total_seconds() / 60:g} "
            f"minutes from the sandbox's time {now:%Y-%m-%dT%H:%M:%SZ}"
        )
    return None
