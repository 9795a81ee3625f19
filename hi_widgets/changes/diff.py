"""What changed between two versions of an image set's metadata.

HealthImaging keeps every version of an image set, but no public tool shows what an
update changed. These functions flatten the metadata document (Patient / Study / Series /
Instances, as :func:`hi_widgets.api.fetch.get_image_set_metadata` returns it) into attribute
paths and compare two of them.

The metadata contains PHI (patient name, id, birth date, accession number, study date,
UIDs...): a diff does too. :func:`drop_phi_paths` de-identifies a diff by DICOM PS3.15
Annex E (:mod:`hi_widgets.export.deid`); exports do it by default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.fetch import get_image_set_metadata
from hi_widgets.api.ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
)
from hi_widgets.export.deid import PHI_PATH_PREFIXES, Deidentifier

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "CHANGE_KINDS",
    "DIFF_COLUMNS",
    "PHI_PATH_PREFIXES",
    "diff_metadata",
    "diff_versions",
    "drop_phi_paths",
    "empty_diff_frame",
    "flatten_metadata",
]

CHANGE_KINDS: tuple[str, ...] = ("added", "removed", "changed")
"""Categories of the ``change`` column of :func:`diff_metadata`."""

DIFF_COLUMNS: tuple[str, ...] = ("path", "change", "old", "new")
"""Columns of :func:`diff_metadata`, in order."""

_STRING = pd.StringDtype()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def flatten_metadata(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten an image set metadata document into ``{attribute path: value}``.

    Parameters
    ----------
    doc
        The decoded JSON document, e.g. from :func:`hi_widgets.get_image_set_metadata`.

    Returns
    -------
    dict
        Keys are dotted paths such as ``Study.DICOM.StudyDescription`` or
        ``Study.Series.<SeriesInstanceUID>.Instances.<SOPInstanceUID>.DICOM.SOPClassUID``
        (mapping keys are used as they are, so UIDs keep their own dots). A list of
        scalars (a multi-valued DICOM attribute) is one value, kept as a list; a list
        holding objects (such as ``ImageFrames``) is indexed: ``...ImageFrames[0].ID``.
        An empty object or list is a value of its own (``{}`` / ``[]``), so adding one
        still shows up in a diff.

    Examples
    --------
    >>> hw.flatten_metadata({"Study": {"DICOM": {"StudyID": "7", "StudyDescription": "CHEST"}}})
    {'Study.DICOM.StudyID': '7', 'Study.DICOM.StudyDescription': 'CHEST'}
    """
    if not isinstance(doc, Mapping):
        raise TypeError(f"metadata must be a JSON object (dict), got {type(doc).__name__}")
    flat: dict[str, Any] = {}
    _flatten(doc, "", flat)
    return flat


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        if not value and path:
            out[path] = {}
            return
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, (list, tuple)):
        if all(_is_scalar(item) for item in value):
            out[path] = list(value)
            return
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out)
    else:
        out[path] = value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    # JSON true == 1 in Python; a change of type is a change.
    return type(a) is type(b) and a == b


def empty_diff_frame() -> pd.DataFrame:
    """Return a diff frame with no rows and the full schema (see :func:`diff_metadata`)."""
    return _frame([], [], [], [])


def _frame(
    paths: list[str], changes: list[str], old: list[str | None], new: list[str | None]
) -> pd.DataFrame:
    result: pd.DataFrame = pd.DataFrame(
        {
            "path": pd.array(paths, dtype=_STRING),
            "change": pd.Categorical(changes, categories=list(CHANGE_KINDS)),
            "old": pd.array(old, dtype=_STRING),
            "new": pd.array(new, dtype=_STRING),
        },
        index=pd.RangeIndex(len(paths)),
    )
    return result


def diff_metadata(old: Mapping[str, Any], new: Mapping[str, Any]) -> pd.DataFrame:
    """Compare two metadata documents attribute by attribute.

    Parameters
    ----------
    old, new
        Metadata documents (nested dicts as decoded from JSON), or already flattened
        ``{path: value}`` dicts from :func:`flatten_metadata`.

    Returns
    -------
    pandas.DataFrame
        One row per attribute path that differs, sorted by path, with columns
        ``path`` (string), ``change`` (categorical: added / removed / changed),
        ``old`` and ``new`` (string: text as it is, other values as JSON; missing
        where the attribute does not exist on that side). Equal documents give an
        empty frame with the same schema.

    Examples
    --------
    >>> old = {"Study": {"DICOM": {"StudyDescription": "CHEST"}}}
    >>> new = {"Study": {"DICOM": {"StudyDescription": "CHEST CT", "StudyID": "7"}}}
    >>> for row in hw.diff_metadata(old, new).itertuples():
    ...     print(row.path, "|", row.change, "|", row.old, "|", row.new)
    Study.DICOM.StudyDescription | changed | CHEST | CHEST CT
    Study.DICOM.StudyID | added | <NA> | 7
    """
    a = flatten_metadata(old)  # idempotent: an already flat dict comes back as it is
    b = flatten_metadata(new)
    paths, changes, olds, news = [], [], [], []
    for path in sorted(a.keys() | b.keys()):
        if path not in b:
            change, before, after = "removed", a[path], None
        elif path not in a:
            change, before, after = "added", None, b[path]
        elif not _same(a[path], b[path]):
            change, before, after = "changed", a[path], b[path]
        else:
            continue
        paths.append(path)
        changes.append(change)
        olds.append(_text(before) if change != "added" else None)
        news.append(_text(after) if change != "removed" else None)
    return _frame(paths, changes, olds, news)


def diff_versions(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    from_version_id: str | int | None,
    to_version_id: str | int | None,
) -> pd.DataFrame:
    """Fetch the metadata of two versions of an image set and diff them.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        The image set; checked before any request.
    from_version_id, to_version_id
        The version compared from (``old`` column) and to (``new`` column); None or
        blank means the latest.

    Returns
    -------
    pandas.DataFrame
        See :func:`diff_metadata`. Contains PHI when patient attributes changed.

    Raises
    ------
    InvalidIdentifierError
        Before any request, if an identifier or version is malformed.
    HealthImagingError
        If GetImageSetMetadata fails for either version.

    Examples
    --------
    >>> changes = hw.diff_versions(client, datastore_id, image_set_id, 1, 2)
    >>> changes[["path", "change"]].to_string(index=False)
    '...Study.DICOM.StudyDescription changed...'
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    validate_optional_version_id(from_version_id)
    validate_optional_version_id(to_version_id)
    old = get_image_set_metadata(client, datastore_id, image_set_id, from_version_id)
    new = get_image_set_metadata(client, datastore_id, image_set_id, to_version_id)
    return diff_metadata(old, new)


def drop_phi_paths(
    diff: pd.DataFrame,
    *,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
) -> pd.DataFrame:
    """Return a diff de-identified by DICOM PS3.15 Annex E (basic profile).

    Rows go when any attribute on their path is one the profile removes (actions X, Z,
    D and their compounds: ``AccessionNumber``, ``StudyDate``, ``StudyDescription``,
    ``InstitutionName``...; see :data:`hi_widgets.export.deid.PROFILE`), when the path is a
    private tag, or when it lies in the patient module (:data:`PHI_PATH_PREFIXES`: also
    ``Patient`` itself or a list under it). UIDs in paths (series and instance keys) and
    in the values of UID attributes are replaced by a keyed hash, the same on both sides,
    so the rows still line up.

    Parameters
    ----------
    diff
        A frame from :func:`diff_metadata`.
    keep_dates
        Keep rows of DICOM dates and times (not the patient's birth date).
    uid_key
        HMAC key for the UID replacements; ``None``: a random key for this call.

    Returns
    -------
    pandas.DataFrame
        The remaining rows, same schema, fresh index. Use it before sharing a diff.
    """
    return Deidentifier(uid_key=uid_key, keep_dates=keep_dates).diff(diff)
