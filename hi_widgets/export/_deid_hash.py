"""Names people choose (S3 keys and URIs, file and job names) replaced by a keyed hash.

An import job's input files are named by whoever put them in S3, and folders and files
named after a patient (``DOE^JANE/``) or an accession number (``ACC12345.dcm``) are
common. A name is never kept in a default export: it becomes ``hmac-<24 hex digits>``,
an HMAC-SHA256 of the whole name under the export's key (the same key that replaces
UIDs), so the same file has the same replacement in every row and every export given
that key, and rows still join. Free text that quotes a name (an import failure's
``message``) has it replaced the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hi_widgets.export._deid_cells import (
    LIST_CELLS,
    S3_URI_IN_TEXT,
    TEXT_COLUMNS,
    label_text,
    missing,
    parsed,
)

PREFIX = "hmac-"
_DOMAIN = b"hi_widgets name\x00"  # a name's hash never equals a UID's under the same key


def hash_name(key: bytes, name: str) -> str:
    """Return the keyed hash that replaces ``name``: ``hmac-`` and 24 hex digits (96 bits)."""
    digest = hmac.new(key, _DOMAIN + name.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:24]


def hash_value(value: Any, name: Callable[[str], str]) -> Any:
    """Replace a cell's name(s): text, or each item of a list; missing stays missing."""
    if isinstance(value, LIST_CELLS):
        return [hash_value(item, name) for item in value]
    if missing(value):
        return value
    if isinstance(value, str) and value[:1] == "[":  # a list written as text (a CSV)
        items = parsed(value)
        if isinstance(items, list):
            return str([hash_value(item, name) for item in items])
    return name(value if isinstance(value, str) else str(value))


def hash_column(series: pd.Series, name: Callable[[str], str]) -> pd.Series:
    """Replace every name of a column, each distinct name hashed once."""
    try:
        codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists of names): one by one
        mapped: pd.Series = series.astype(object).map(lambda v: hash_value(v, name))
        return mapped
    replaced = np.array([hash_value(v, name) for v in uniques] + [None], dtype=object)
    out: pd.Series = pd.Series(replaced[codes], index=series.index, dtype=object)
    if isinstance(series.dtype, pd.StringDtype):
        typed: pd.Series = out.astype(series.dtype)
        return typed
    return out


def scrub_text(text: str, quoted: Sequence[str], name: Callable[[str], str]) -> str:
    """Replace S3 URIs, and the names in ``quoted`` (longest first), inside free text."""
    text = S3_URI_IN_TEXT.sub(lambda match: name(match.group(0)), text)
    for item in sorted(quoted, key=len, reverse=True):
        if item and item in text:
            text = text.replace(item, name(item))
    return text


def scrub_texts(
    df: pd.DataFrame,
    positions: Sequence[int],
    labels: Sequence[Any],
    changed: Mapping[int, pd.Series],
    hashed: Sequence[int],
    name: Callable[[str], str],
) -> dict[int, pd.Series]:
    """Scrub the kept free-text columns of a frame being de-identified.

    ``positions`` and ``labels``: the kept columns (their position in ``df``, their new
    label); ``changed``: new values already decided, by output position; ``hashed``:
    positions in ``df`` of the columns whose names each row's text may quote. Returns
    the text columns that changed, by output position.
    """
    sources = [df.iloc[:, p] for p in hashed]
    out = {}
    for index, label in enumerate(labels):
        if label_text(label) not in TEXT_COLUMNS:
            continue
        text = changed.get(index, df.iloc[:, positions[index]])
        scrubbed = scrub_rows(text, sources, name)
        if scrubbed is not None:
            out[index] = scrubbed
    return out


def scrub_rows(
    text: pd.Series, sources: Sequence[pd.Series], name: Callable[[str], str]
) -> pd.Series | None:
    """Scrub a text column row by row, quoting each row's names in ``sources``.

    Returns the new column, or None when no row quotes a name or an S3 URI.
    """
    if not sources and not text.astype("string").str.contains("s3://", regex=False).any():
        return None  # the common case (a versions frame's messages): nothing to look for
    values = text.to_numpy(dtype=object)
    names = [s.to_numpy(dtype=object) for s in sources]
    changed = False
    out = values.copy()
    for row in np.flatnonzero(text.notna().to_numpy(dtype=bool)):
        value = values[row]
        if not isinstance(value, str):
            continue
        quoted = [str(n[row]) for n in names if isinstance(n[row], str)]
        new = scrub_text(value, quoted, name)
        if new != value:
            out[row] = new
            changed = True
    if not changed:
        return None
    result: pd.Series = pd.Series(out, index=text.index, dtype=object)
    if text.dtype != object:
        result = result.astype(text.dtype)
    return result
