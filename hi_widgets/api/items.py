"""Lists of image sets: the one parser for pasted text, id files and CSV, and pair checking.

The command line (``--from-file``), the batch widget (pasted text and uploaded CSV) and
:func:`hi_widgets.fetch_versions` all read their (datastoreId, imageSetId) pairs here, so
one input gives the same pairs everywhere.

Rules of :func:`parse_id_text`, line by line:

- blank lines and lines starting with ``#`` are skipped;
- a line naming an ``imageSetId`` column is a header: it sets the column order of the
  lines after it (``datastoreId`` is optional, other columns are ignored, so an exported
  versions CSV reads as is);
- otherwise a line is ``imageSetId`` (the default datastore) or ``datastoreId,imageSetId``
  (comma, semicolon, tab or spaces between them), unless a header with more columns
  came before, in which case it is a CSV row of that header (an empty datastoreId cell
  means the default datastore);
- every identifier is checked; each bad line becomes a :class:`LineProblem` naming its
  number, and the good ones are kept in input order, each pair once.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hi_widgets.api.errors import InvalidIdentifierError
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id

__all__ = [
    "Item",
    "LineProblem",
    "csv_to_lines",
    "parse_id_text",
    "read_id_file",
    "validated_pairs",
]

Item = tuple[str, str]
"""(datastoreId, imageSetId)."""

_SPLIT = re.compile(r"\s*[,;\t]\s*|\s+")
_DELIMITERS = (",", "\t", ";")
_IMAGE_SET, _DATASTORE = "imagesetid", "datastoreid"
_NO_DATASTORE = "no datastore: choose a default datastore, or write datastoreId,imageSetId"
_MAX_SHOWN = 5


@dataclass(frozen=True)
class LineProblem:
    """A line of input that cannot be fetched.

    Attributes
    ----------
    line
        1-based line number.
    text
        The line as written.
    message
        What is wrong and what is expected.
    """

    line: int
    text: str
    message: str


@dataclass(frozen=True)
class _Header:
    delimiter: str | None  # None: fields split on any separator (an ids-only header)
    image_set: int
    datastore: int | None
    width: int


def _cells(line: str) -> tuple[str | None, list[str]]:
    delimiter = next((d for d in _DELIMITERS if d in line), None)
    if delimiter is None:
        return None, line.split()
    return delimiter, [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter))]


def _header(line: str) -> _Header | None:
    delimiter, cells = _cells(line)
    names = [cell.lower() for cell in cells]
    if _IMAGE_SET not in names:
        return None
    datastore = names.index(_DATASTORE) if _DATASTORE in names else None
    if set(names) <= {_IMAGE_SET, _DATASTORE}:
        delimiter = None
    return _Header(delimiter, names.index(_IMAGE_SET), datastore, len(names))


def _check(datastore_id: str | None, image_set_id: str, default: str | None) -> Item:
    """Validate one pair; ``datastore_id`` None or blank means ``default``."""
    if datastore_id is None or not datastore_id.strip():
        if not default:
            raise ValueError(_NO_DATASTORE)
        try:
            datastore_id = validate_datastore_id(default)
        except InvalidIdentifierError as error:
            raise ValueError(f"the default datastore is invalid: {error.message}") from None
        return datastore_id, validate_image_set_id(image_set_id)
    return validate_datastore_id(datastore_id), validate_image_set_id(image_set_id)


def _fields(line: str, header: _Header | None) -> tuple[str | None, str]:
    if header is None or header.delimiter is None:
        fields = [f for f in _SPLIT.split(line) if f]
        if len(fields) == 1:
            return None, fields[0]
        if len(fields) != 2:
            raise ValueError(
                f"{len(fields)} fields; expected imageSetId or datastoreId,imageSetId"
            )
        if header is not None and header.datastore is None:
            raise ValueError("2 fields, but the header names only an imageSetId column")
        datastore_column = None if header is None else header.datastore
        if (
            header is not None
            and datastore_column is not None
            and header.image_set < datastore_column
        ):
            return fields[1], fields[0]
        return fields[0], fields[1]
    row = next(csv.reader([line], delimiter=header.delimiter))
    if len(row) != header.width:
        raise ValueError(f"{len(row)} fields; the header has {header.width} columns")
    datastore = None if header.datastore is None else row[header.datastore].strip()
    return datastore, row[header.image_set].strip()


def parse_id_text(
    text: str, default_datastore_id: str | None = None
) -> tuple[list[Item], list[LineProblem]]:
    """Parse a list of image sets (pasted text, an id file, a CSV) into checked pairs.

    Parameters
    ----------
    text
        One image set a line; see the module notes for the rules (comments, a header,
        ``imageSetId`` or ``datastoreId,imageSetId``).
    default_datastore_id
        Datastore of lines holding only an image set id (or an empty datastoreId cell).

    Returns
    -------
    items : list of tuple
        Valid (datastoreId, imageSetId) pairs in input order, duplicates removed.
    problems : list of LineProblem
        One per bad line (empty when everything is valid).

    Examples
    --------
    >>> ds, iset = "a" * 32, "b" * 32
    >>> text = "# wanted" + chr(10) + "datastoreId,imageSetId" + chr(10) + f"{ds},{iset}"
    >>> parse_id_text(text)[0] == [(ds, iset)]
    True
    """
    items: dict[Item, None] = {}
    problems: list[LineProblem] = []
    header: _Header | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = _header(line)
        if found is not None:
            header = found
            continue
        try:
            datastore_id, image_set_id = _fields(line, header)
            pair = _check(datastore_id, image_set_id, default_datastore_id)
        except InvalidIdentifierError as error:
            problems.append(LineProblem(number, raw, error.message))
        except (ValueError, csv.Error) as error:
            problems.append(LineProblem(number, raw, str(error)))
        else:
            items.setdefault(pair, None)
    return list(items), problems


def read_id_file(
    path: str | Path, default_datastore_id: str | None = None
) -> tuple[list[Item], list[LineProblem]]:
    """Read an id file or CSV (UTF-8, a BOM accepted) with :func:`parse_id_text`.

    Raises
    ------
    OSError, UnicodeDecodeError
        If the file cannot be read as UTF-8 text.
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    return parse_id_text(text, default_datastore_id)


def csv_to_lines(data: bytes) -> str:
    """Turn an uploaded CSV (``imageSetId`` and optional ``datastoreId`` columns) into text.

    Parameters
    ----------
    data
        The file's bytes (UTF-8; a BOM is accepted).

    Returns
    -------
    str
        One ``datastoreId,imageSetId`` (or ``imageSetId``) a line, for
        :func:`parse_id_text`.

    Raises
    ------
    ValueError
        If the file has no ``imageSetId`` column or is not UTF-8 CSV.
    """
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"could not read the CSV file: {error}") from error
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError("could not read the CSV file: it is empty")
    names = [cell.strip().lower() for cell in rows[0]]
    if _IMAGE_SET not in names:
        raise ValueError(
            "the CSV file needs an imageSetId column (and optionally datastoreId); "
            f"it has {[cell.strip() for cell in rows[0]]}"
        )
    image_set = names.index(_IMAGE_SET)
    datastore = names.index(_DATASTORE) if _DATASTORE in names else None
    lines = []
    for row in rows[1:]:
        cells = [cell.strip() for cell in row] + [""] * (len(names) - len(row))
        ds = cells[datastore] if datastore is not None else ""
        lines.append(f"{ds},{cells[image_set]}" if ds else cells[image_set])
    return "\n".join(lines)


def _labelled_pairs(items: Any) -> list[tuple[Any, Any, str]]:
    """(datastoreId, imageSetId, label) for each item; the label names it in errors."""
    pandas = sys.modules.get("pandas")  # not loaded: items cannot be a DataFrame
    if pandas is not None and isinstance(items, pandas.DataFrame):
        missing = [c for c in ("datastoreId", "imageSetId") if c not in items.columns]
        if missing:
            raise ValueError(
                f"items DataFrame needs columns datastoreId and imageSetId; missing {missing}"
            )
        return [
            (ds, iset, f"row {label!r}")
            for label, ds, iset in zip(
                items.index, items["datastoreId"], items["imageSetId"], strict=True
            )
        ]
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(
            "items must be (datastoreId, imageSetId) pairs or a DataFrame with those "
            f"columns, got {type(items).__name__}"
        )
    pairs = []
    for position, item in enumerate(items):
        values = None
        if not isinstance(item, (str, bytes)) and isinstance(item, Iterable):
            values = tuple(item)
        if values is None or len(values) != 2:
            raise TypeError(
                f"item {position} must be a (datastoreId, imageSetId) pair, got {item!r}"
            )
        pairs.append((values[0], values[1], f"item {position}"))
    return pairs


def validated_pairs(items: Any) -> list[Item]:
    """Check every identifier of pairs or a DataFrame; return the distinct pairs in order.

    Parameters
    ----------
    items
        (datastoreId, imageSetId) pairs, or a DataFrame with those columns.

    Raises
    ------
    InvalidIdentifierError
        Naming every bad item (the first five), before anything is fetched.
    TypeError, ValueError
        If ``items`` has the wrong shape.
    """
    labelled = _labelled_pairs(items)
    seen: dict[Item, None] = {}
    bad: list[tuple[str, InvalidIdentifierError]] = []
    for ds, iset, label in labelled:
        try:
            seen.setdefault((validate_datastore_id(ds), validate_image_set_id(iset)), None)
        except InvalidIdentifierError as error:
            bad.append((label, error))
    if bad:
        shown = "; ".join(f"{where}: {error.message}" for where, error in bad[:_MAX_SHOWN])
        more = f"; and {len(bad) - _MAX_SHOWN} more" if len(bad) > _MAX_SHOWN else ""
        first = bad[0][1]
        raise InvalidIdentifierError(
            first.field,
            first.value,
            first.expected,
            message=f"{len(bad)} of {len(labelled)} items have an invalid identifier; "
            f"nothing was fetched. {shown}{more}",
        )
    return list(seen)
