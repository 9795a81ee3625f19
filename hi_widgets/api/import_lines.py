"""The lines of an import job's output (``*.ndjson``) as typed columns, block by block.

AWS's developer guide ("Understanding import jobs",
https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html)
shows three kinds of line, one per input file:

- ``SUCCESS/success.ndjson``: ``{"inputFile", "importResponse": {"imageSetId",
  "imageSetVersion", "isPrimary"}}``;
- ``WARNING/warning.ndjson``: the same, imported, with ``importResponse.warnings``, a list
  of ``{"warning_reason_code", "type", "message"}``;
- ``FAILURE/failure.ndjson``: ``{"inputFile", "exception": {"exceptionType", "message"}}``.

A line's status follows from its own fields (``exception`` -> FAILURE, warnings ->
WARNING, else SUCCESS), so every file is parsed with one schema. Blocks of complete lines
are parsed by pyarrow's JSON reader (C++, no Python object per line); a block it refuses
(the guide's own example writes ``"isPrimary": True``, which is not JSON) is parsed line
by line, leniently, and a line that is no JSON object is counted, never fatal.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

__all__ = [
    "FILE_COLUMNS",
    "LINE_SCHEMA",
    "OUTCOME_STATUSES",
    "LineColumns",
    "normalize_reason",
    "split_lines",
]

OUTCOME_STATUSES: tuple[str, ...] = ("SUCCESS", "WARNING", "FAILURE")
"""What happened to one input file: imported, imported with warnings, not imported."""

FILE_COLUMNS: tuple[str, ...] = (
    "inputFile",
    "status",
    "imageSetId",
    "imageSetVersion",
    "isPrimary",
    "exceptionType",
    "message",
    "reason",
)
"""Columns of an outcomes ``files`` frame, in order."""

_WARNING = pa.struct(
    [("warning_reason_code", pa.int64()), ("type", pa.string()), ("message", pa.string())]
)
LINE_SCHEMA = pa.schema(
    [
        ("inputFile", pa.string()),
        (
            "importResponse",
            pa.struct(
                [
                    ("imageSetId", pa.string()),
                    ("imageSetVersion", pa.int64()),
                    ("isPrimary", pa.bool_()),
                    ("warnings", pa.list_(_WARNING)),
                ]
            ),
        ),
        ("exception", pa.struct([("exceptionType", pa.string()), ("message", pa.string())])),
    ]
)
"""The fields read from every line; others are ignored."""

_PARSE = pa_json.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore")
_STRING_COLUMNS = ("inputFile", "imageSetId", "exceptionType", "message", "reason")

# Specifics that differ between files with the same problem, most specific first, as
# RE2 patterns (pyarrow's): a token's start is ``(^|\s)``, kept by the ``\1``.
_SPECIFICS = (
    (r"(^|\s)s3://\S+", r"\1<s3-uri>"),
    (r"(^|\s)[^\s/]*/\S*", r"\1<path>"),  # a key or a path (the file's own, often)
    (r"(^|\s)\S+?\.(?:dcm|dicom|DCM|DICOM|ima|IMA)\b", r"\1<file>"),
    (r"\b\d+(?:\.\d+){3,}\b", "<uid>"),
    (r"\b[0-9a-f]{32}\b", "<id>"),
    (r"'[^']*'|\"[^\"]*\"", "<value>"),
    (r"\b\d+(?:\.\d+)?\b", "<n>"),
    (r"\s+", " "),
)


def normalize_reason(exception_type: str | None, message: str | None) -> str | None:
    """Return a failure's reason for grouping: its type and its message without specifics.

    File names, keys and S3 URIs, UIDs, 32-character ids, quoted values and numbers are
    replaced by placeholders, so the same problem in many files reads the same. (The
    frames compute it for a whole column at once, by the same rules.)

    Examples
    --------
    >>> from hi_widgets.api.import_lines import normalize_reason
    >>> normalize_reason("ValidationException", "The file is 1204 bytes, more than 1024")
    'ValidationException: The file is <n> bytes, more than <n>'
    >>> normalize_reason(None, "Cannot read in/PATIENT^JANE/1.dcm: UID 1.2.840.10008.5.1 bad")
    'Cannot read <path> UID <uid> bad'
    """
    reason = _reasons(pa.array([exception_type], pa.string()), pa.array([message], pa.string()))
    value = reason[0].as_py()
    return None if value is None else str(value)


def split_lines(chunks: Iterable[bytes], block_bytes: int) -> Iterator[bytes]:
    """Regroup a byte stream into blocks of whole lines of about ``block_bytes``.

    A line longer than ``block_bytes`` comes whole in a block of its own; the last line
    need not end in a newline.
    """
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        size += len(chunk)
        if size < block_bytes:
            continue
        data = b"".join(pending)
        cut = data.rfind(b"\n")
        if cut < 0:  # one long line so far
            pending, size = [data], len(data)
            continue
        yield data[: cut + 1]
        rest = data[cut + 1 :]
        pending, size = ([rest] if rest else []), len(rest)
    if size:
        yield b"".join(pending)


def _lenient(line: bytes) -> Any:
    text = line.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        # Python's literals, as the developer guide's success example writes them.
        fixed = re.sub(r"(?<=[:\[,])\s*(True|False|None)\b", _json_literal, text)
        return json.loads(fixed)


def _json_literal(match: re.Match[str]) -> str:
    return {"True": "true", "False": "false", "None": "null"}[match.group(1)]


def _coerce(record: Mapping[str, Any]) -> dict[str, Any]:
    """Fit one parsed line to :data:`LINE_SCHEMA` (numbers as text, booleans as text)."""
    response = record.get("importResponse")
    exception = record.get("exception")
    out: dict[str, Any] = {"inputFile": _text(record.get("inputFile"))}
    if isinstance(response, Mapping):
        version = response.get("imageSetVersion")
        primary = response.get("isPrimary")
        if isinstance(primary, str):
            primary = {"true": True, "false": False}.get(primary.lower())
        warnings = response.get("warnings")
        out["importResponse"] = {
            "imageSetId": _text(response.get("imageSetId")),
            "imageSetVersion": int(str(version)) if str(version).strip().isdigit() else None,
            "isPrimary": primary if isinstance(primary, bool) else None,
            "warnings": [
                {
                    "warning_reason_code": None,
                    "type": _text(w.get("type")),
                    "message": _text(w.get("message")),
                }
                for w in warnings
                if isinstance(w, Mapping)
            ]
            if isinstance(warnings, list)
            else None,
        }
    if isinstance(exception, Mapping):
        out["exception"] = {
            "exceptionType": _text(exception.get("exceptionType")),
            "message": _text(exception.get("message")),
        }
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class LineColumns:
    """Typed columns built from blocks of lines; only the columns are kept, never the text.

    Call :meth:`add_block` with each block of whole lines, then :meth:`frame`.
    """

    rows: int = 0
    unreadable: int = 0
    """Lines that are not a JSON object (skipped)."""
    examples_unreadable: list[str] = field(default_factory=list)
    _chunks: list[pa.Table] = field(default_factory=list, repr=False)

    def add_block(self, block: bytes, where: str = "") -> int:
        """Parse a block of whole lines; return how many rows it added."""
        if not block or block.isspace():
            return 0
        try:
            table = pa_json.read_json(
                io.BytesIO(block),
                # One thread: blocks are small, and each thread of pyarrow's pool keeps
                # its own allocator heap (a third more peak memory, for no speed here).
                read_options=pa_json.ReadOptions(
                    use_threads=False, block_size=max(1 << 20, len(block) + 1)
                ),
                parse_options=_PARSE,
            )
        except pa.ArrowInvalid:
            table = self._line_by_line(block, where)
        return self.add_table(table)

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add parsed lines (dicts of the three documented shapes); return the rows added."""
        return self.add_table(
            pa.Table.from_pylist([_coerce(r) for r in records], schema=LINE_SCHEMA)
        )

    def add_table(self, table: pa.Table) -> int:
        """Add a table of :data:`LINE_SCHEMA`; return the rows added."""
        added = int(table.num_rows)
        if added:
            self._chunks.append(_columns(table))
            self.rows += added
        return added

    def _line_by_line(self, block: bytes, where: str) -> pa.Table:
        records = []
        for number, line in enumerate(block.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                parsed = _lenient(line)
            except ValueError:
                parsed = None
            if not isinstance(parsed, Mapping):
                self.unreadable += 1
                if len(self.examples_unreadable) < 5:
                    self.examples_unreadable.append(f"{where} line {number} of a block")
                continue
            records.append(_coerce(parsed))
        return pa.Table.from_pylist(records, schema=LINE_SCHEMA)

    def frame(self) -> pd.DataFrame:
        """Return the ``files`` frame (:data:`FILE_COLUMNS`) of every row added."""
        if self._chunks:
            table = pa.concat_tables(self._chunks)
        else:
            table = _columns(LINE_SCHEMA.empty_table())
        self._chunks = []
        data: dict[str, Any] = {}
        for name in FILE_COLUMNS:
            column = table.column(name)
            if name in _STRING_COLUMNS:
                data[name] = pd.arrays.ArrowStringArray(column)
            elif name == "status":
                codes = np.asarray(column.to_numpy(), dtype=np.int8)
                data[name] = pd.Categorical.from_codes(
                    codes,  # type: ignore[call-overload]  # the stubs want a sequence
                    categories=list(OUTCOME_STATUSES),
                )
            elif name == "imageSetVersion":
                data[name] = pd.array(column.to_pandas(types_mapper=_nullable), dtype="Int64")
            else:
                data[name] = pd.array(column.to_pandas(types_mapper=_nullable), dtype="boolean")
        frame: pd.DataFrame = pd.DataFrame(data, columns=list(FILE_COLUMNS))
        return frame


def _nullable(dtype: pa.DataType) -> Any:
    if dtype == pa.int64():
        return pd.Int64Dtype()
    if dtype == pa.bool_():
        return pd.BooleanDtype()
    return None


def _columns(table: pa.Table) -> pa.Table:
    """Flatten one parsed block into the ``files`` columns (strings as large_string)."""
    response = table.column("importResponse").combine_chunks()
    exception = table.column("exception").combine_chunks()
    warnings = pc.struct_field(response, "warnings")
    warned = pc.fill_null(pc.greater(pc.list_value_length(warnings), 0), False)
    failed = exception.is_valid()
    status = pc.if_else(failed, 2, pc.if_else(warned, 1, 0)).cast(pa.int8())
    exception_type = pc.struct_field(exception, "exceptionType")
    message = pc.struct_field(exception, "message")
    if pc.any(warned).as_py():
        exception_type, message = _with_warnings(warnings, warned, exception_type, message)
    reason = _reasons(exception_type, message)
    return pa.table(
        {
            "inputFile": table.column("inputFile").cast(pa.large_string()),
            "status": status,
            "imageSetId": pc.struct_field(response, "imageSetId").cast(pa.large_string()),
            "imageSetVersion": pc.struct_field(response, "imageSetVersion"),
            "isPrimary": pc.struct_field(response, "isPrimary"),
            "exceptionType": exception_type.cast(pa.large_string()),
            "message": message.cast(pa.large_string()),
            "reason": reason.cast(pa.large_string()),
        }
    )


def _with_warnings(
    warnings: pa.Array, warned: pa.Array, exception_type: pa.Array, message: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Put the warnings' types and messages (``; ``-joined) in the rows that have them."""
    types, messages = exception_type.to_pylist(), message.to_pylist()
    for row in np.flatnonzero(warned.to_numpy(zero_copy_only=False)):
        items = warnings[int(row)].as_py() or []
        types[row] = "; ".join(dict.fromkeys(str(w.get("type") or "") for w in items)) or None
        messages[row] = "; ".join(str(w.get("message") or "") for w in items) or None
    return pa.array(types, pa.string()), pa.array(messages, pa.string())


def _reasons(exception_type: pa.Array, message: pa.Array) -> pa.Array:
    """Each row's :func:`normalize_reason`, for a whole column at once (pyarrow's RE2)."""
    text = message
    for pattern, replacement in _SPECIFICS:
        text = pc.replace_substring_regex(text, pattern=pattern, replacement=replacement)
    text = pc.utf8_trim(text, characters=" :")
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    both = pc.binary_join_element_wise(exception_type, text, ": ")
    return pc.coalesce(both, text, exception_type)
