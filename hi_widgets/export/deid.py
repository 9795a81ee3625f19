"""De-identification by the DICOM standard: the basic profile of PS3.15 Annex E, one table.

Every export of hi_widgets (:func:`hi_widgets.export_frame`, :func:`hi_widgets.to_bytes`,
the widgets' downloads and Save, the metadata diff, ``hi-widgets versions``) goes through
:func:`deidentify` unless the user asks to keep PHI. The rule is the Basic Application
Level Confidentiality Profile: table E.1-1 of DICOM PS3.15, Annex E (:data:`SOURCE`),
held once in :data:`PROFILE` (keyword -> tag and action; every row of the table, 620
attributes, kept as data in ``hi_widgets/export/_deid_table.py``).

Actions, and what they mean in an export
-----------------------------------------
``X`` remove, ``Z`` replace by an empty value, ``D`` replace by a dummy value, and the
compound actions ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D`` (the choice depends on whether the
attribute is mandatory in the dataset's IOD) and ``X/Z/U*`` (a sequence: remove, or keep
with the UIDs inside replaced): an export is a table, not a DICOM dataset that must stay
valid against its IOD, so every one of them **removes** the attribute (the column, or
the diff rows under it).
``U`` replace the UID by another one, consistently: the same UID always gets the same
replacement within one export (or across exports given the same ``uid_key``), so rows
still join and the two sides of a diff still line up. The replacement is an HMAC-SHA256
of the UID under the key, written as a UUID-derived UID (``2.25.<integer>``, PS3.5 B.2).
Anything else is kept (``K``), as in the profile: attributes not in the table are not
identifying (``Modality``, ``SeriesNumber``, ``SOPClassUID``...).

Beyond the table, and stricter than it: private attributes (odd group numbers) and the
whole ``Patient`` module of HealthImaging metadata are removed (the profile removes
private attributes too, unless a Retain Safe Private option applies). Dates and times
(``StudyDate``, ``SeriesTime``, ``AcquisitionDateTime``...) are removed unless the user
keeps them (``keep_dates=True``, as the profile's Retain Longitudinal Temporal
Information with Full Dates option); the patient's birth date and time go in any case.
HealthImaging's own timestamps (``createdAt``, ``updatedAt``) are not DICOM attributes
and are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

from hi_widgets.export._deid_table import SOURCE, TABLE

__all__ = [
    "PHI_COLUMNS",
    "PHI_PATH_PREFIXES",
    "PROFILE",
    "SOURCE",
    "UID_COLUMNS",
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

_BY_TAG: dict[str, str] = {
    attribute.tag.strip("()").replace(",", ""): keyword for keyword, attribute in PROFILE.items()
}

PHI_PATH_PREFIXES: tuple[str, ...] = ("Patient.",)
"""Metadata paths under these prefixes (HealthImaging's patient module) are always removed."""

# SearchImageSets' DICOMTags members whose name is not "DICOM" + the DICOM keyword.
_COLUMN_ALIASES = {
    "DICOMPatientId": "PatientID",
    "DICOMStudyId": "StudyID",
    "DICOMSeriesModality": "Modality",
    "DICOMSeriesBodyPart": "BodyPartExamined",
}
_SEARCH_COLUMNS = (
    "DICOMPatientId",
    "DICOMPatientName",
    "DICOMPatientBirthDate",
    "DICOMPatientSex",
    "DICOMStudyInstanceUID",
    "DICOMStudyId",
    "DICOMStudyDescription",
    "DICOMNumberOfStudyRelatedSeries",
    "DICOMNumberOfStudyRelatedInstances",
    "DICOMAccessionNumber",
    "DICOMSeriesInstanceUID",
    "DICOMSeriesModality",
    "DICOMSeriesBodyPart",
    "DICOMSeriesNumber",
    "DICOMStudyDate",
    "DICOMStudyTime",
)
# A DICOMPatient* column the table does not name (a tag newer than this module) is PHI.
_PATIENT_COLUMN = "DICOMPatient"
_ALWAYS_REMOVED = ("PatientBirthDate", "PatientBirthTime")
_UID_SEGMENT = re.compile(r"^\d+$")
_INDEX = re.compile(r"\[\d+\]")
_PRIVATE_TAG = re.compile(r"^[0-9A-Fa-f]{3}[13579BDFbdf][0-9A-Fa-f]{4}$")
# A path under a prefix, the prefix's root itself ("Patient" replaced by a value) or a
# list under it ("Patient[0]...").
_PHI_PATH = re.compile(
    "|".join(rf"{re.escape(p.rstrip('.'))}(?:$|[.\[])" for p in PHI_PATH_PREFIXES)
)
# A diff (hi_widgets.changes.diff.DIFF_COLUMNS), possibly with more columns a front end added.
_DIFF_COLUMNS = {"path", "old", "new"}
# A change log (hi_widgets.changes.log.CHANGES_COLUMNS): a diff with version rows and UIDs.
_CHANGES_COLUMNS = {"versionId", "kind", "attribute", "path", "old", "new"}
_CHANGE_ROW_COLUMNS = (
    "level",
    "series",
    "seriesInstanceUID",
    "attribute",
    "path",
    "change",
    "old",
    "new",
)
_SERIES_LABEL_TAIL = re.compile(r" \(…\d+\)$")  # "S2 (…753846)": a UID's last digits


def _column_keyword(column: Any) -> str | None:
    if not isinstance(column, str):
        return None
    if column in _COLUMN_ALIASES:
        return _COLUMN_ALIASES[column]
    if column.startswith("DICOM") and len(column) > 5:
        return column[5:]
    return column


def _is_digits(segment: str) -> bool:
    return bool(_UID_SEGMENT.match(segment))


def _is_temporal(keyword: str) -> bool:
    return keyword.endswith(("Date", "Time", "DateTime")) and keyword not in _ALWAYS_REMOVED


def action_for(name: str) -> str:
    """Return the basic-profile action for an attribute, a frame column or a tag.

    Parameters
    ----------
    name
        A DICOM keyword (``"StudyDate"``), a SearchImageSets column (``"DICOMStudyDate"``)
        or a tag as 8 hex digits (``"00080020"``).

    Returns
    -------
    str
        The action of :data:`PROFILE` (``"Z"``, ``"X/Z/D"``, ``"U"``...), ``"X"`` for a
        private tag or a patient column the table does not name, ``"K"`` otherwise.
    """
    if _PRIVATE_TAG.match(name):
        return "X"
    keyword = _BY_TAG.get(name.upper()) or _column_keyword(name) or name
    if keyword in PROFILE:
        return PROFILE[keyword].action
    if name.startswith(_PATIENT_COLUMN):
        return "X"
    return "K"


PHI_COLUMNS: tuple[str, ...] = tuple(c for c in _SEARCH_COLUMNS if action_for(c) not in "UK")
"""SearchImageSets columns an export removes (actions X, Z, D and their compounds)."""

UID_COLUMNS: tuple[str, ...] = tuple(c for c in _SEARCH_COLUMNS if action_for(c) == "U")
"""SearchImageSets columns whose UIDs an export replaces (action U)."""


class Deidentifier:
    """Apply the basic profile with one key: the same UID gets the same replacement.

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

    def __repr__(self) -> str:  # never show the key
        return f"Deidentifier(keep_dates={self.keep_dates})"

    def uid(self, value: str) -> str:
        """Return the replacement of a UID: ``2.25.<HMAC-SHA256 of it, 128 bits>``."""
        known = self._uids.get(value)
        if known is None:
            digest = hmac.new(self._key, value.strip().encode("utf-8"), hashlib.sha256)
            known = self._uids[value] = f"2.25.{int.from_bytes(digest.digest()[:16], 'big')}"
        return known

    def removes(self, name: str) -> bool:
        """Tell whether an export leaves out the attribute (keyword, column or hex tag)."""
        action = action_for(name)
        if action in ("U", "K"):
            return False
        keyword = _BY_TAG.get(name.upper()) or _column_keyword(name) or name
        return not (self.keep_dates and _is_temporal(keyword))

    def _uid_value(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            if value.startswith("["):  # a multi-valued UID attribute, as JSON
                with contextlib.suppress(ValueError, TypeError):
                    return json.dumps([self.uid(str(v)) for v in json.loads(value)])
            return self.uid(value)
        return value

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """De-identify a frame's columns (``DICOM<Keyword>`` or ``<Keyword>`` names).

        Removed attributes' columns are dropped; UID columns get their replacements; a
        change log goes through :meth:`changes`, any other diff frame (with ``path``,
        ``old`` and ``new`` columns) through :meth:`diff`. The input is not modified.
        """
        if set(df.columns) >= _CHANGES_COLUMNS:
            df = self.changes(df)
        elif set(df.columns) >= _DIFF_COLUMNS:
            df = self.diff(df)
        drop = [c for c in df.columns if isinstance(c, str) and self.removes(c)]
        out = df.drop(columns=drop) if drop else df
        uids = [c for c in out.columns if isinstance(c, str) and action_for(c) == "U"]
        if uids:
            out = out.copy(deep=False)
            for column in uids:
                out[column] = self._map(out[column])
        return out

    def _map(self, series: pd.Series) -> pd.Series:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return series.cat.rename_categories(
                [self._uid_value(v) for v in series.cat.categories]
            )
        mapped = series.map(self._uid_value, na_action="ignore")
        return mapped.astype(series.dtype) if series.dtype != object else mapped

    def _path(self, path: str) -> tuple[str | None, str | None]:
        """Return the path with its UIDs replaced and its last keyword, or Nones.

        (None, None) when any segment of the path is an attribute the profile removes.
        """
        if _PHI_PATH.match(path):
            return None, None
        out: list[str] = []
        keyword = None
        # Mapping keys are used as they are, so a UID key ("1.2.840...") spans several
        # all-digit segments; a lone all-digit segment is a name (a tag such as 00091001).
        for digits, group in itertools.groupby(path.split("."), _is_digits):
            segments = list(group)
            if digits and len(segments) > 1:
                out.append(self.uid(".".join(segments)))
                continue
            for segment in segments:
                name = _INDEX.sub("", segment)
                if name and self.removes(name):
                    return None, None
                keyword = name
                out.append(segment)
        return ".".join(out), keyword

    def diff(self, diff: pd.DataFrame) -> pd.DataFrame:
        """De-identify a diff (:func:`hi_widgets.changes.diff.diff_metadata`).

        Rows of removed attributes (or under them) go; UIDs in paths and in the values of
        UID attributes are replaced.
        """
        return self._diff_rows(diff, version_rows=False)

    def _diff_rows(self, diff: pd.DataFrame, version_rows: bool) -> pd.DataFrame:
        keep, paths, olds, news = [], [], [], []
        attributes = diff["attribute"] if "attribute" in diff.columns else [None] * len(diff)
        for position, (path, old, new, attribute) in enumerate(
            zip(diff["path"], diff["old"], diff["new"], attributes, strict=True)
        ):
            if not isinstance(path, str):
                if version_rows and pd.isna(old) and pd.isna(new):  # no attribute, no value
                    keep.append(position)
                    paths.append(path)
                    olds.append(old)
                    news.append(new)
                continue
            new_path, keyword = self._path(path)
            if new_path is None:
                continue
            # A whole series or instance added or removed: the path ends in its UID, which
            # is also the value; its ``attribute`` (SeriesInstanceUID...) says so.
            uid = any(
                isinstance(name, str) and action_for(name) == "U" for name in (keyword, attribute)
            )
            keep.append(position)
            paths.append(new_path)
            olds.append(self._uid_value(old) if uid and not pd.isna(old) else old)
            news.append(self._uid_value(new) if uid and not pd.isna(new) else new)
        out = diff.iloc[keep].reset_index(drop=True)
        for column, values in (("path", paths), ("old", olds), ("new", news)):
            out[column] = pd.Series(values, index=out.index, dtype=diff[column].dtype)
        result: pd.DataFrame = out
        return result

    def changes(self, log: pd.DataFrame) -> pd.DataFrame:
        """De-identify a change log (:func:`hi_widgets.fetch_changes`).

        Attribute rows as in :meth:`diff`; version rows (no attribute: ``initial``,
        ``failed``, ``unchanged``...) stay. UIDs are replaced in paths, in the values of
        UID attributes and of whole series or instances, and in ``seriesInstanceUID``;
        a ``series`` label ends in the replacement's digits instead of the UID's.
        """
        numbered = log.assign(_position=range(len(log)))
        out = self._diff_rows(numbered, version_rows=True)
        # A version all of whose rows went keeps one row without them, so the log still
        # lists every version (with its time and status), as a versions export does.
        gone = ~log["versionId"].isin(out["versionId"]) & log["versionId"].notna()
        if gone.any():
            first = numbered[gone].drop_duplicates("versionId")
            first.loc[:, [c for c in _CHANGE_ROW_COLUMNS if c in first.columns]] = None
            out = pd.concat([out, first.astype(out.dtypes.to_dict())])
        out = out.sort_values("_position", kind="stable").drop(columns="_position")
        out = out.reset_index(drop=True)
        if "seriesInstanceUID" not in out.columns:
            result: pd.DataFrame = out
            return result
        uids = self._map(out["seriesInstanceUID"])
        if "series" in out.columns:
            out["series"] = pd.Series(
                [
                    label
                    if pd.isna(label) or pd.isna(uid)
                    else _SERIES_LABEL_TAIL.sub("", str(label))
                    + f" (…{str(uid).replace('.', '')[-6:]})"
                    for label, uid in zip(out["series"], uids, strict=True)
                ],
                index=out.index,
                dtype=out["series"].dtype,
            )
        out["seriesInstanceUID"] = uids
        result = out
        return result


def deidentify(
    df: pd.DataFrame,
    *,
    uid_key: bytes | str | None = None,
    keep_dates: bool = False,
) -> pd.DataFrame:
    """Return a frame de-identified by the basic profile of PS3.15 Annex E.

    Parameters
    ----------
    df
        Any frame: columns named ``DICOM<Keyword>`` (SearchImageSets) or ``<Keyword>``
        are matched against :data:`PROFILE`; a diff frame from
        :func:`hi_widgets.changes.diff.diff_metadata` is de-identified row by row. Not modified.
    uid_key
        HMAC key for UID replacement; ``None``: a random key for this call.
    keep_dates
        Keep dates and times (not the patient's birth date).

    Returns
    -------
    pandas.DataFrame
        Removed attributes left out, UIDs replaced, everything else as it was.

    Examples
    --------
    >>> image_sets = hw.fetch_image_sets(client, datastore_id)
    >>> safe = hw.deidentify(image_sets)
    >>> "DICOMPatientName" in safe.columns
    False
    >>> safe["DICOMStudyInstanceUID"].iloc[0].startswith("2.25.")  # a keyed-hash UID
    True
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    return Deidentifier(uid_key=uid_key, keep_dates=keep_dates).frame(df)
