"""What a cell of a frame holds, as de-identification sees it: see :mod:`.deid`.

Missing values, dicts and lists (de-identified key by key), a dict or list written as text
(JSON, or Python's repr as a CSV gives it back), UIDs quoted in free text.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# Free text kept for its meaning (a status or error message) may still quote a UID.
TEXT_COLUMNS = frozenset({"message", "reason"})
# A UID in text: a 2.25 (UUID-derived) UID, or five components or more (not an IPv4
# address); a sentence's full stop after it is not part of it.
UID_IN_TEXT = re.compile(r"(?<!\d)(?<!\d\.)(?:2\.25\.\d+|\d+(?:\.\d+){4,})(?!\d|\.\d)")
LIST_CELLS = (list, tuple, np.ndarray)
# An S3 URI in text (a key often names a patient or an accession number); punctuation
# after it (a colon, a full stop) is not part of it.
S3_URI_IN_TEXT = re.compile(r"s3://[^\s'\"]*[^\s'\".,:;)]")


def missing(value: Any) -> bool:
    """Tell whether a cell is a missing value (None, NA, NaT, NaN), never for a list."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def label_text(label: Any) -> str:
    """Return a column label as a name (a MultiIndex column's levels as one path)."""
    if isinstance(label, tuple):
        return ".".join(map(str, label))
    return str(label)


def parsed(text: str) -> Any:
    """Return a dict or list written as text (JSON, or Python's repr in a CSV), else the text."""
    if text[:1] not in ("{", "["):
        return text
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def has_nested(series: pd.Series) -> bool:
    """Tell whether an object column holds a dict or a list in any cell."""
    return series.dtype == object and any(
        isinstance(v, (Mapping, *LIST_CELLS)) for v in series.array
    )
