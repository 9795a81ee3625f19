"""Opaque nextToken values of the sandbox's paginated operations.

A token is URL-safe base64 of a small JSON object whose ``"k"`` names the operation, so a
token from one operation (or a tampered one) is a ValidationException, never a crash.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hi_widgets.sandbox.backend.errors import validation_error

MAX_PAGE = 50
"""The service's page size limit (maxResults 1..50)."""

_TOKEN_FIELDS: dict[str, dict[str, type]] = {
    "ListDatastores": {"o": int},
    "SearchImageSets": {"o": int, "q": str},
    "ListImageSetVersions": {"i": str, "v": int},
    "ListDICOMImportJobs": {"o": int},
}
"""The fields of each operation's nextToken payload."""


def make_token(payload: dict[str, Any]) -> str:
    """Encode a nextToken payload (it must carry ``"k"``: the operation name)."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def read_token(token: str | None, kind: str) -> dict[str, Any] | None:
    """Decode a nextToken of operation ``kind``; a malformed token is a ValidationException."""
    if token is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError):
        raise validation_error("The nextToken is not valid") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise validation_error("The nextToken is not valid for this operation")
    for key, expected in _TOKEN_FIELDS[kind].items():
        value = payload.get(key)
        if (
            not isinstance(value, expected)
            or isinstance(value, bool)
            or (isinstance(value, int) and value < 0)
        ):
            raise validation_error("The nextToken is not valid")
    return payload


def page_size(max_results: int | None) -> int:
    """Return the page size for an optional ``maxResults``."""
    return int(max_results or MAX_PAGE)
