"""The one reader of GetImageSetMetadata's body: a gzip-compressed JSON document.

GetImageSetMetadata answers with a streaming body (``imageSetMetadataBlob``) holding the
image set's metadata document (Patient/Study/Series/Instances) as gzip-compressed JSON
(``contentEncoding: gzip``). :func:`read_metadata_blob` reads the stream while the request
is still being translated (so a body dropped half way is a retryable error of the
request); :func:`decode_metadata` turns the bytes into the document.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["decode_metadata", "read_metadata_blob"]

_GZIP_MAGIC = b"\x1f\x8b"


def read_metadata_blob(response: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the response's streaming ``imageSetMetadataBlob`` by its bytes; return it."""
    blob = response["imageSetMetadataBlob"]
    if not isinstance(blob, bytes | bytearray):
        with blob as body:
            response["imageSetMetadataBlob"] = body.read()
    return response


def decode_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """Return the metadata document of a response read by :func:`read_metadata_blob`.

    The bytes are gunzipped (by the response's encoding or their magic bytes) and parsed.
    """
    raw = response["imageSetMetadataBlob"]
    if raw[:2] == _GZIP_MAGIC or response.get("contentEncoding") == "gzip":
        raw = gzip.decompress(raw)
    document: dict[str, Any] = json.loads(raw)
    return document
