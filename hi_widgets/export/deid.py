"""De-identification by allow-list, by the DICOM standard: PS3.15 Annex E, basic profile.

Every export of hi_widgets (:func:`hi_widgets.export_frame`, :func:`hi_widgets.to_bytes`,
:func:`hi_widgets.export_dataset`, the widgets' downloads and Save, ``hi-widgets versions
-o``) goes through :func:`deidentify` unless the user asks to keep PHI. It decides per
column, whatever frame it is given, and fails closed: a column whose meaning it does not
know is left out, and named in a :class:`DeidentificationWarning`.

How a column is read
--------------------
* A HealthImaging field whose meaning is known and carries no PHI (:data:`SAFE_COLUMNS`:
  ``datastoreId``, ``imageSetId``, ``versionId``, states, HealthImaging's own timestamps,
  error columns...) is kept.
* A DICOM attribute is recognised by keyword or tag in any spelling (``PatientName``,
  ``patientName``, ``Patient Name``, ``PATIENT_NAME``, ``dicomPatientName``,
  ``DICOMPatientName``, ``(0010,0010)``, ``00100010``), also as a segment of a flattened
  metadata path (``Study.DICOM.AccessionNumber``,
  ``Study.Series.<uid>.Instances.<uid>.DICOM.SOPInstanceUID``), and treated by table
  E.1-1 of the Basic Application Level Confidentiality Profile (:data:`SOURCE`, held once
  as data in :data:`PROFILE`, all 620 rows).
* A cell holding a dict or a list (SearchImageSets' ``DICOMTags``, a metadata document)
  is de-identified recursively by the same rule, key by key.
* A name people choose (an S3 key or URI, a file or job name: ``HASHED_COLUMNS`` of
  :mod:`._deid_names`) is replaced by a keyed hash, also where a message quotes it.
* Anything else is unknown: left out, and named in the warning.

Actions, and what they mean in an export
-----------------------------------------
``X`` remove, ``Z`` replace by an empty value, ``D`` replace by a dummy value, and the
compound actions ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D`` (the choice depends on whether the
attribute is mandatory in the dataset's IOD) and ``X/Z/U*`` (a sequence: remove, or keep
with the UIDs inside replaced): an export is a table, not a DICOM dataset that must stay
valid against its IOD, so every one of them **removes** the attribute (the column, the
key of a dict, or the diff rows under it): an empty or dummy value would carry nothing.
``U`` replace the UID by another one, consistently: the same UID always gets the same
replacement within one export (or across exports given the same ``uid_key``), so rows
still join and the two sides of a diff still line up. The replacement is an HMAC-SHA256
of the UID under the key, written as a UUID-derived UID (``2.25.<integer>``, PS3.5 B.2);
UIDs used as keys (a flattened path's series and instance) are replaced the same way.
``K`` keep: standard attributes that the table does not name and that :data:`KEPT_ATTRIBUTES`
lists (``Modality``, ``SeriesNumber``, ``Rows``, ``SOPClassUID``...).

Beyond the table, and stricter than it: private attributes (odd group numbers) and the
whole ``Patient`` module of HealthImaging metadata are removed, and so is a patient
attribute newer than the table (``DICOMPatientFoo``). Dates and times (``StudyDate``,
``SeriesTime``, ``AcquisitionDateTime``...) are removed unless the user keeps them
(``keep_dates=True``, as the profile's Retain Longitudinal Temporal Information with Full
Dates option); the patient's birth date and time go in any case. HealthImaging's own
timestamps (``createdAt``, ``updatedAt``) are not DICOM attributes and are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from hi_widgets.export import _deid_names as names
from hi_widgets.export._deid_cells import (
    LIST_CELLS,
    TEXT_COLUMNS,
    UID_IN_TEXT,
    has_nested,
    label_text,
    missing,
    parsed,
)
from hi_widgets.export._deid_hash import hash_column, hash_name, hash_value, scrub_texts
from hi_widgets.export._deid_names import CONTAINER, HASH, KEEP, REMOVE, UID, UNKNOWN
from hi_widgets.export._deid_rows import CHANGES_COLUMNS, DIFF_COLUMNS, changes_rows, diff_rows
from hi_widgets.export._deid_table import SOURCE, TABLE

__all__ = [
    "KEPT_ATTRIBUTES",
    "PHI_COLUMNS",
    "PHI_PATH_PREFIXES",
    "PROFILE",
    "SAFE_COLUMNS",
    "SOURCE",
    "UID_COLUMNS",
    "DeidentificationWarning",
    "Deidentifier",
    "ProfileAttribute",
    "action_for",
    "deidentify",
]


class ProfileAttribute(NamedTuple):
    """One row of table E.1-1: an attribute and its basic-profile action."""

    keyword: str
    """DICOM keyword, e.g. ``"AccessionNumber"``."""
    tag: str
    """``"(GGGG,EEEE)"``, e.g. ``"(0008,0050)"``."""
    action: str
    """The action as the table writes it: ``X``, ``Z``, ``D``, ``U``, ``X/Z/D``..."""


def _parse(table: str) -> dict[str, ProfileAttribute]:
    rows = {}
    for line in table.strip().splitlines():
        tag, action, keyword = line.split()
        rows[keyword] = ProfileAttribute(keyword, tag, action)
    return rows


PROFILE: Mapping[str, ProfileAttribute] = _parse(TABLE)
"""Table E.1-1 of :data:`SOURCE` (basic profile), keyword -> :class:`ProfileAttribute`."""

KEPT_ATTRIBUTES: tuple[str, ...] = tuple(k for k, a in names.ACTIONS.items() if a == "K")
"""Standard attributes the table does not name that an export keeps (action ``K``)."""

SAFE_COLUMNS: Mapping[str, str] = names.SAFE_COLUMNS
"""HealthImaging columns whose meaning is known and carries no PHI: name -> meaning."""

PHI_PATH_PREFIXES: tuple[str, ...] = ("Patient.",)
"""Metadata paths under these prefixes (HealthImaging's patient module) are always removed."""

_SHOWN = 12  # names a warning lists before "and N more"


class DeidentificationWarning(UserWarning):
    """An export left out columns (or keys, or diff rows) whose meaning it does not know.

    Attributes
    ----------
    names
        Every name left out, UIDs in them already replaced.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        shown = ", ".join(self.names[:_SHOWN])
        more = f" and {len(self.names) - _SHOWN} more" if len(self.names) > _SHOWN else ""
        super().__init__(
            f"de-identification left out {len(self.names)} column(s), key(s) or diff "
            f"path(s) whose meaning it does not know (neither a known HealthImaging field "
            f"nor a DICOM attribute of its tables): {shown}{more}. Pass include_phi=True "
            "to keep everything."
        )


def action_for(name: str) -> str | None:
    """Return the basic-profile action for an attribute in any spelling, or a tag.

    Parameters
    ----------
    name
        A DICOM keyword (``"StudyDate"``), a SearchImageSets column (``"DICOMStudyDate"``),
        another spelling (``"study_date"``, ``"Study Date"``) or a tag (``"00080020"``,
        ``"(0008,0020)"``).

    Returns
    -------
    str or None
        The action of :data:`PROFILE` (``"Z"``, ``"X/Z/D"``, ``"U"``...); ``"K"`` for
        :data:`KEPT_ATTRIBUTES`; ``"X"`` for a private tag or a patient attribute the
        table does not name; None for a name that is no attribute the tables know (an
        export leaves it out too, unless it is one of :data:`SAFE_COLUMNS`).

    Examples
    --------
    >>> from hi_widgets.export.deid import action_for
    >>> action_for("Patient Name"), action_for("(0020,000D)"), action_for("Modality")
    ('Z', 'U', 'K')
    """
    keyword = names.attribute_keyword(name)
    if keyword == names.PRIVATE:
        return "X"
    if keyword is None:
        return "X" if names.read_attribute(name, False) == REMOVE else None
    return names.ACTIONS[keyword]


PHI_COLUMNS: tuple[str, ...] = tuple(
    c for c in names.SEARCH_COLUMNS if action_for(c) not in ("U", "K", None)
)
"""SearchImageSets columns an export removes (actions X, Z, D and their compounds)."""

UID_COLUMNS: tuple[str, ...] = tuple(c for c in names.SEARCH_COLUMNS if action_for(c) == "U")
"""SearchImageSets columns whose UIDs an export replaces (action U)."""


class Deidentifier:
    """Apply the basic profile by allow-list, with one key: one UID, one replacement.

    Parameters
    ----------
    uid_key
        Key of the HMAC that replaces UIDs. ``None`` draws a random one (UIDs are then
        consistent within what this object de-identifies, and cannot be linked back).
        Give the same key to several exports to keep their UIDs joinable.
    keep_dates
        Keep dates and times (the patient's birth date and time are removed anyway).
    """

    def __init__(self, *, uid_key: bytes | str | None = None, keep_dates: bool = False) -> None:
        if uid_key is None:
            uid_key = secrets.token_bytes(32)
        elif isinstance(uid_key, str):
            uid_key = uid_key.encode("utf-8")
        if not isinstance(uid_key, bytes) or not uid_key:
            raise ValueError("uid_key must be non-empty bytes or str, or None for a random key")
        self._key = uid_key
        self.keep_dates = bool(keep_dates)
        self._uids: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._readings: dict[str, tuple[str, str]] = {}
        self._unknown: dict[str, None] = {}

    def __repr__(self) -> str:  # never show the key
        return f"Deidentifier(keep_dates={self.keep_dates})"

    def uid(self, value: str) -> str:
        """Return the replacement of a UID: ``2.25.<HMAC-SHA256 of it, 128 bits>``."""
        known = self._uids.get(value)
        if known is None:
            digest = hmac.new(self._key, value.strip().encode("utf-8"), hashlib.sha256)
            known = self._uids[value] = f"2.25.{int.from_bytes(digest.digest()[:16], 'big')}"
        return known

    def name(self, value: str) -> str:
        """Return the replacement of a name (an S3 key, a file or job name): a keyed hash."""
        known = self._names.get(value)
        if known is None:
            known = self._names[value] = hash_name(self._key, value)
        return known

    def read(self, name: str) -> tuple[str, str]:
        """Return how an export treats a name, and the name with its UIDs replaced.

        The kind is ``"keep"``, ``"container"`` (a dict of named values), ``"uid"``,
        ``"remove"`` or ``"unknown"`` (see :mod:`hi_widgets.export._deid_names`).
        """
        known = self._readings.get(name)
        if known is None:
            if name in SAFE_COLUMNS:
                known = (KEEP, name)
            else:
                known = names.read_path(name, self.keep_dates, self.uid)
            self._readings[name] = known
        return known

    def removes(self, name: str) -> bool:
        """Tell whether an export leaves out the attribute (keyword, column or hex tag)."""
        return self.read(name)[0] in (REMOVE, UNKNOWN)

    def note(self, name: str) -> None:
        """Remember a name left out for its unknown meaning (the next warning names it)."""
        self._unknown[name] = None

    def _warn(self) -> None:
        if self._unknown:
            left_out, self._unknown = tuple(self._unknown), {}
            warnings.warn(DeidentificationWarning(left_out), stacklevel=3)

    def uid_value(self, value: Any) -> Any:
        """Replace the UID(s) of a UID attribute's value (text, JSON list or list)."""
        if missing(value):
            return value
        if isinstance(value, str):
            if value.startswith("["):  # a multi-valued UID attribute, as JSON
                values = parsed(value)
                if isinstance(values, list):
                    return json.dumps([self.uid_value(v) for v in values])
            return self.uid(value) if value else value
        if isinstance(value, LIST_CELLS):
            return [self.uid_value(v) for v in value]
        if isinstance(value, Mapping):
            return None  # a UID attribute holds UIDs, nothing else
        return self.uid(str(value))

    def value(self, value: Any, kind: str, where: str) -> Any:
        """De-identify one value of a name read as ``kind``; dicts and lists key by key."""
        if kind == UID:
            return self.uid_value(value)
        if kind == HASH:
            return hash_value(value, self.name)
        if isinstance(value, Mapping):
            return self._mapping(value, where)
        if isinstance(value, LIST_CELLS):
            items = [self.value(v, kind, where) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        if kind == CONTAINER and not missing(value):
            named = parsed(value) if isinstance(value, str) else value
            if isinstance(named, (Mapping, list)):
                cleaned = self.value(named, CONTAINER, where)
                return json.dumps(cleaned, sort_keys=True, ensure_ascii=False, default=str)
            self.note(f"{where} (a value that is not a set of named values)")
            return None
        return value

    def _mapping(self, value: Mapping[Any, Any], where: str) -> dict[str, Any] | None:
        out = {}
        for key, item in value.items():
            kind, name = self.read(str(key))
            if kind == REMOVE:
                continue
            if kind == UNKNOWN:
                self.note(f"{where}.{name}" if where else name)
                continue
            cleaned = self.value(item, kind, f"{where}.{name}" if where else name)
            if cleaned is None and isinstance(item, Mapping) and item:
                continue  # nothing was left of it
            out[name] = cleaned
        # An empty mapping (or nothing left of one) is no value: Parquet cannot store a
        # struct without fields, and an export would fail on it.
        return out or None

    def uid_column(self, series: pd.Series) -> pd.Series:
        """Replace the UIDs of a column (categories of a categorical, once each)."""
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = [self.uid_value(v) for v in series.cat.categories]
            if len(set(map(str, categories))) == len(categories):
                return series.cat.rename_categories(categories)
            series = series.astype(object)
        try:  # each distinct UID once: a study's UID repeats on every row of its versions
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists of UIDs): one by one
            mapped = series.map(self.uid_value, na_action="ignore")
        else:
            replaced = np.array([self.uid_value(v) for v in uniques] + [None], dtype=object)
            mapped = pd.Series(replaced[codes], index=series.index, dtype=object)
        if isinstance(series.dtype, pd.StringDtype):
            return mapped.astype(series.dtype)
        return mapped.astype(object)

    def text(self, value: Any) -> Any:
        """Replace the UIDs quoted in free text (a message) as their attribute's would be."""
        if not isinstance(value, str):
            return value
        return UID_IN_TEXT.sub(lambda match: self.uid(match.group(0)), value)

    def _column(self, series: pd.Series, kind: str, name: str) -> pd.Series | None:
        """Return the column's new values, or None when they stay as they are."""
        if kind == UID:
            return self.uid_column(series)
        if kind == HASH:
            return hash_column(series, self.name)
        if name in TEXT_COLUMNS and kind == KEEP:
            present = series.notna().to_numpy(dtype=bool)
            if not present.any():  # most versions carry no message
                return None
            values = series.to_numpy(dtype=object)
            quoting = [
                i
                for i in present.nonzero()[0]
                if isinstance(values[i], str) and UID_IN_TEXT.search(values[i])
            ]
            if not quoting:
                return None
            values = values.copy()
            values[quoting] = [self.text(values[i]) for i in quoting]
            out = pd.Series(values, index=series.index, dtype=object)
            return cast(
                "pd.Series[Any]", out.astype(series.dtype) if series.dtype != object else out
            )
        if kind == CONTAINER or has_nested(series):
            return series.astype(object).map(lambda v: self.value(v, kind, name))
        return None

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """De-identify a frame column by column (a diff or change log also row by row).

        Columns of unknown meaning are left out and named in a
        :class:`DeidentificationWarning`. The input is not modified.
        """
        out = self._frame(df)
        self._warn()
        return out

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        columns = {c for c in df.columns if isinstance(c, str)}
        done: frozenset[str] = frozenset()  # columns already de-identified row by row
        if columns >= CHANGES_COLUMNS:
            df, done = changes_rows(self, df), DIFF_COLUMNS | {"series", "seriesInstanceUID"}
        elif columns >= DIFF_COLUMNS:
            df, done = diff_rows(self, df, version_rows=False), DIFF_COLUMNS
        positions: list[int] = []
        labels: list[Any] = []
        changed: dict[int, pd.Series] = {}
        for position, label in enumerate(df.columns):
            text = label_text(label)
            if text in done:
                positions.append(position)
                labels.append(label)
                continue
            kind, name = self.read(text)
            if kind == REMOVE:
                continue
            if kind == UNKNOWN:
                self.note(name)
                continue
            values = self._column(df.iloc[:, position], kind, name)
            if values is not None:
                changed[len(positions)] = values
            positions.append(position)
            labels.append(label if name == text else name)
        hashed = [p for p in positions if self.read(label_text(df.columns[p]))[0] == HASH]
        changed.update(scrub_texts(df, positions, labels, changed, hashed, self.name))
        out = df.iloc[:, positions].copy(deep=False)
        out.columns = pd.Index(labels) if labels else out.columns
        for position, values in changed.items():
            out.isetitem(position, values.set_axis(out.index))
        return cast(pd.DataFrame, out)

    def diff(self, diff: pd.DataFrame) -> pd.DataFrame:
        """De-identify a diff (:func:`hi_widgets.changes.diff.diff_metadata`).

        Rows of removed attributes (or under them) go, and so do rows of attributes of
        unknown meaning (named in a :class:`DeidentificationWarning`); UIDs in paths and
        in the values of UID attributes are replaced.
        """
        out = diff_rows(self, diff, version_rows=False)
        self._warn()
        return out

    def changes(self, log: pd.DataFrame) -> pd.DataFrame:
        """De-identify a change log (:func:`hi_widgets.fetch_changes`).

        Attribute rows as in :meth:`diff`; version rows (no attribute: ``initial``,
        ``failed``, ``unchanged``...) stay. UIDs are replaced in paths, in the values of
        UID attributes and of whole series or instances, and in ``seriesInstanceUID``;
        a ``series`` label ends in the replacement's digits instead of the UID's.
        """
        out = changes_rows(self, log)
        self._warn()
        return out


def deidentify(
    df: pd.DataFrame,
    *,
    uid_key: bytes | str | None = None,
    keep_dates: bool = False,
) -> pd.DataFrame:
    """Return a frame de-identified by the basic profile of PS3.15 Annex E, by allow-list.

    Parameters
    ----------
    df
        Any frame (not modified). Each column is kept if its meaning is known and safe
        (:data:`SAFE_COLUMNS`, :data:`KEPT_ATTRIBUTES`), treated by table E.1-1 if it names
        a DICOM attribute in any spelling or path (:data:`PROFILE`), and otherwise left
        out and named in a :class:`DeidentificationWarning`. Dicts and lists in cells are
        de-identified key by key; a diff or change log row by row.
    uid_key
        HMAC key for UID replacement; ``None``: a random key for this call.
    keep_dates
        Keep dates and times (not the patient's birth date).

    Returns
    -------
    pandas.DataFrame
        Removed and unknown columns left out, UIDs replaced (in values, and in column
        names of flattened metadata), everything else as it was.

    Examples
    --------
    >>> image_sets = hw.fetch_image_sets(client, datastore_id)
    >>> safe = hw.deidentify(image_sets)
    >>> "DICOMPatientName" in safe.columns
    False
    >>> safe["DICOMStudyInstanceUID"].iloc[0].startswith("2.25.")  # a keyed-hash UID
    True
    >>> import pandas as pd
    >>> hw.deidentify(pd.DataFrame({"Patient Name": ["DOE^JANE"], "Modality": ["CT"]}))
      Modality
    0       CT
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    return Deidentifier(uid_key=uid_key, keep_dates=keep_dates).frame(df)
