"""Refusing what a web page can make a browser send to the sandbox.

A page on any site can make the browser send "simple" cross-origin requests without a
CORS preflight: GET, HEAD or POST with a body of type ``text/plain``,
``application/x-www-form-urlencoded`` or ``multipart/form-data`` (an HTML form, or
``fetch`` in ``no-cors`` mode). The page cannot read the answer, but the request still
runs: a form POST to ``/datastore/{id}/imageSet/{id}/deleteImageSet`` would delete.
Signatures stop that (a page cannot sign without the secret), but
``--no-verify-signatures`` turns them off, so the sandbox refuses such requests itself,
whatever the signature setting:

* an ``Origin`` header other than the sandbox's own (``http://`` + the Host header):
  browsers send it with every cross-origin POST and ``fetch``; SDKs never send one;
* a ``Content-Type`` that is not JSON (every SDK sends ``application/json`` with a
  rest-json body; a form can only send the three simple types);
* a non-empty body without a ``Content-Type``.
"""

from __future__ import annotations

JSON_MEDIA_TYPES = frozenset({"application/json"})
_JSON_SUFFIX = "+json"
_AMZ_JSON_PREFIX = "application/x-amz-json-"


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type in JSON_MEDIA_TYPES
        or media_type.endswith(_JSON_SUFFIX)
        or media_type.startswith(_AMZ_JSON_PREFIX)
    )


def browser_request_problem(headers: dict[str, str], has_body: bool) -> str | None:
    """Return why a request looks like one a web page made, or None if it does not.

    Parameters
    ----------
    headers
        The request headers (any case); the Host header has been checked already.
    has_body
        Whether the request announces a body (a non-zero Content-Length or chunks).
    """
    lower = {key.lower(): value for key, value in headers.items()}
    origin = lower.get("origin")
    if origin is not None:
        own = f"http://{lower.get('host', '')}".lower()
        if origin.strip().lower() != own:
            return (
                f"Cross-origin request refused: Origin {origin!r} is not this sandbox "
                f"({own}). The sandbox does not answer requests made by web pages"
            )
    content_type = lower.get("content-type")
    if content_type is not None and not _is_json(content_type):
        return (
            f"Content-Type {content_type!r} refused: requests carry JSON "
            "(application/json), as every AWS SDK sends it; form and text bodies are what "
            "a web page can send cross-site"
        )
    if content_type is None and has_body:
        return "A request body needs Content-Type: application/json"
    return None
