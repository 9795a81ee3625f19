"""Identifier validation, done before any request is sent.

botocore does not check the service's identifier patterns client-side, so a typo would
otherwise cost a round trip and come back as a terse ValidationException.
"""

from __future__ import annotations

import re
from typing import Any

from hi_widgets.api.errors import InvalidIdentifierError

_ID_RE = re.compile(r"[0-9a-z]{32}", re.ASCII)
_VERSION_RE = re.compile(r"[0-9]{1,10}", re.ASCII)
_ID_EXPECTED = "32 characters, lower-case letters a-z and digits 0-9 only"
_VERSION_EXPECTED = "a version number: digits only, 1 or greater"
_JOB_ID_RE = re.compile(r"[0-9a-z]{1,32}", re.ASCII)
_JOB_ID_EXPECTED = "1 to 32 characters, lower-case letters a-z and digits 0-9 only"


def _validate_id(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifierError(field, value, f"a string of {_ID_EXPECTED}")
    text = value.strip()
    if not _ID_RE.fullmatch(text):
        hint = ""
        if text and len(text) != 32:
            hint = f" (got {len(text)} characters)"
        elif text.lower() != text and _ID_RE.fullmatch(text.lower()):
            hint = " (it contains upper-case letters)"
        raise InvalidIdentifierError(field, value, _ID_EXPECTED + hint)
    return text


def validate_datastore_id(value: Any) -> str:
    """Return the datastore id without surrounding whitespace, or raise.

    Raises
    ------
    InvalidIdentifierError
        If the value is not 32 lower-case letters and digits.
    """
    return _validate_id("datastoreId", value)


def validate_image_set_id(value: Any) -> str:
    """Return the image set id without surrounding whitespace, or raise.

    Raises
    ------
    InvalidIdentifierError
        If the value is not 32 lower-case letters and digits.
    """
    return _validate_id("imageSetId", value)


def validate_version_id(value: Any) -> str:
    """Return a version id as the canonical decimal string the API expects, or raise.

    Accepts a string of digits (surrounding whitespace stripped) or a positive ``int``.

    Raises
    ------
    InvalidIdentifierError
        If the value is not a whole number of at least 1.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidIdentifierError("versionId", value, _VERSION_EXPECTED)
    if not _VERSION_RE.fullmatch(text) or int(text) < 1:
        raise InvalidIdentifierError("versionId", value, _VERSION_EXPECTED)
    return str(int(text))


def validate_optional_version_id(value: Any) -> str | None:
    """Like :func:`validate_version_id`, but ``None`` or a blank string mean "latest"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return validate_version_id(value)


def validate_job_id(value: Any) -> str:
    """Return an import job id without surrounding whitespace, or raise.

    GetDICOMImportJob documents the pattern ``[0-9a-z]+`` and 1 to 32 characters.

    Raises
    ------
    InvalidIdentifierError
        If the value is not 1 to 32 lower-case letters and digits.
    """
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _JOB_ID_RE.fullmatch(text):
        raise InvalidIdentifierError("jobId", value, _JOB_ID_EXPECTED)
    return text
