"""Typed pandas DataFrames of image set versions and SearchImageSets results.

Every frame here has a fixed schema, even when it is empty:

* timestamps are ``datetime64[us, UTC]`` (the same unit on pandas 2.2 and 3.x);
* ``versionId`` and DICOM integer tags are ``Int64``;
* ``imageSetState``, ``imageSetWorkflowStatus`` and ``storageTier`` are categoricals whose
  categories are the enum of the installed botocore model, followed by any value the model
  does not know yet (sorted), so a new service value is kept rather than turned into NaN;
* ``forced``, ``isPrimary`` and ``isLatest`` are nullable ``boolean``;
* identifiers, messages, ARNs and DICOM text tags are pandas ``string`` (``pd.StringDtype()``).

Frames are built column by column from plain lists (no per-row appends), so 100,000
records take about as long as ``pd.DataFrame(records)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, Literal, cast

import numpy as np
import pandas as pd
from botocore.model import StructureShape

from hi_widgets.api.model import image_set_states, service_model, storage_tiers, workflow_statuses
from hi_widgets.api.records import RECORD_FIELDS

__all__ = [
    "DERIVED_COLUMNS",
    "TIME_UNIT",
    "VERSION_COLUMNS",
    "VERSION_KEY",
    "apply_schema",
    "changed_at",
    "empty_versions_frame",
    "image_sets_dtypes",
    "image_sets_frame",
    "versions_dtypes",
    "versions_frame",
]

TIME_UNIT: Final[Literal["us"]] = "us"
"""Resolution of every timestamp and time-difference column."""

DERIVED_COLUMNS: tuple[str, ...] = ("changedAt", "sincePrevious", "isLatest")
"""Columns :func:`versions_frame` computes: when the version was last changed (``updatedAt``,
or the image set's ``createdAt`` for a version 1 without ``updatedAt``), the time since the
previous version's ``changedAt``, and the latest-version flag.

No column says how long an operation took: AWS gives the image set's creation time
(``createdAt``, the same on every version) and each version's last change (``updatedAt``),
never when an operation started."""

VERSION_COLUMNS: tuple[str, ...] = (*RECORD_FIELDS, *DERIVED_COLUMNS)
"""Columns of a versions frame, in order."""

VERSION_KEY: tuple[str, ...] = ("datastoreId", "imageSetId", "versionId")
"""Columns identifying one row of a versions frame."""

_STRING = pd.StringDtype()
_TIMESTAMP = pd.DatetimeTZDtype(unit=TIME_UNIT, tz="UTC")
_TIMEDELTA = np.dtype(f"timedelta64[{TIME_UNIT}]")

# Column kind -> conversion; the categorical kinds name their model enum.
_VERSION_KINDS: dict[str, str] = {
    "datastoreId": "string",
    "imageSetId": "string",
    "versionId": "Int64",
    "imageSetState": "category:state",
    "imageSetWorkflowStatus": "category:workflow",
    "createdAt": "timestamp",
    "updatedAt": "timestamp",
    "deletedAt": "timestamp",
    "message": "string",
    "imageSetArn": "string",
    "forced": "boolean",
    "isPrimary": "boolean",
    "lastAccessedAt": "timestamp",
    "storageTier": "category:tier",
    "changedAt": "timestamp",
    "sincePrevious": "timedelta",
    "isLatest": "boolean",
}

_SUMMARY_KINDS: dict[str, str] = {
    "datastoreId": "string",
    "imageSetId": "string",
    "versionId": "Int64",
    "createdAt": "timestamp",
    "updatedAt": "timestamp",
    "lastAccessedAt": "timestamp",
    "storageTier": "category:tier",
    "isPrimary": "boolean",
}


def _enum(kind: str) -> tuple[str, ...]:
    name = kind.partition(":")[2]
    if name == "state":
        return image_set_states()
    if name == "workflow":
        return workflow_statuses()
    return storage_tiers()


@lru_cache(maxsize=1)
def _dicom_tag_kinds() -> dict[str, str]:
    """DICOM tag columns of SearchImageSets in model order, integer tags as ``Int64``."""
    shape = service_model().shape_for("DICOMTags")
    assert isinstance(shape, StructureShape)
    return {
        name: ("Int64" if member.type_name in ("integer", "long") else "string")
        for name, member in shape.members.items()
    }


def _dtype_of(kind: str) -> Any:
    if kind == "string":
        return _STRING
    if kind == "timestamp":
        return _TIMESTAMP
    if kind == "timedelta":
        return _TIMEDELTA
    if kind.startswith("category:"):
        return pd.CategoricalDtype(list(_enum(kind)), ordered=False)
    return pd.api.types.pandas_dtype(kind)


def versions_dtypes() -> dict[str, Any]:
    """Return the dtype of every column of a versions frame, in column order.

    Returns
    -------
    dict
        Column name to dtype. Categorical dtypes list the model's enum; a frame holding
        values the model does not know has those appended (sorted) to its categories.
    """
    return {column: _dtype_of(kind) for column, kind in _VERSION_KINDS.items()}


def image_sets_dtypes() -> dict[str, Any]:
    """Return the dtype of every column of :func:`image_sets_frame`, in column order.

    Returns
    -------
    dict
        Column name to dtype; DICOM tags follow the summary fields in model order.
    """
    kinds = {**_SUMMARY_KINDS, **_dicom_tag_kinds()}
    return {column: _dtype_of(kind) for column, kind in kinds.items()}


def __getattr__(name: str) -> Any:
    # Lazy constants: the botocore model is loaded on first use, not at import.
    if name == "VERSIONS_DTYPES":
        return versions_dtypes()
    if name == "IMAGE_SETS_DTYPES":
        return image_sets_dtypes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _as_objects(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    if isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        # pandas documents na_value=None (missing values become None); the stubs omit it.
        objects = values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload, arg-type]
        return np.asarray(objects, dtype=object)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _categorical(values: Any, base: Sequence[str]) -> pd.Categorical:
    objects = _as_objects(values)
    present = pd.unique(objects)
    known = set(base)
    extra = sorted({v for v in present if isinstance(v, str) and v not in known})
    categories = [*base, *extra]
    # Non-string values (never produced by the service) are kept as their text.
    odd = [v for v in present if not isinstance(v, str) and not pd.isna(v)]
    if odd:
        objects = np.array([v if isinstance(v, str) or pd.isna(v) else str(v) for v in objects])
        return _categorical(objects, base)
    return pd.Categorical(objects, categories=categories, ordered=False)


def _timestamps(values: Any) -> pd.arrays.DatetimeArray:
    if isinstance(getattr(values, "dtype", None), pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(values).tz_convert("UTC")
    else:
        objects = _as_objects(values)
        if pd.api.types.infer_dtype(objects, skipna=True) in ("string", "mixed"):
            index = pd.to_datetime(objects, utc=True, format="ISO8601")
        else:
            index = pd.to_datetime(objects, utc=True)
    result: pd.arrays.DatetimeArray = index.as_unit(TIME_UNIT).array
    return result


def _convert(values: Any, kind: str) -> Any:
    if kind == "string":
        if isinstance(values, pd.api.extensions.ExtensionArray) or hasattr(values, "dtype"):
            return pd.array(_as_objects(values), dtype=_STRING)
        return pd.array(values, dtype=_STRING)
    if kind == "timestamp":
        return _timestamps(values)
    if kind == "timedelta":
        return _timedeltas(values)
    if kind.startswith("category:"):
        return _categorical(values, _enum(kind))
    if kind == "Int64":
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "mixed", "mixed-integer"):
            values = pd.to_numeric(_as_objects(values))  # e.g. "3" from a file or raw response
        return pd.array(values, dtype="Int64")
    if kind == "boolean":
        return pd.array(_booleans(values), dtype="boolean")
    raise ValueError(f"unknown column kind {kind!r}")  # pragma: no cover - internal


def _timedeltas(values: Any) -> Any:
    """Durations from timedeltas, or from seconds (numbers or text, as files hold them)."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and pd.api.types.is_timedelta64_dtype(dtype):
        return pd.TimedeltaIndex(values).as_unit(TIME_UNIT).array
    objects = _as_objects(values)
    try:
        seconds = pd.to_numeric(objects).astype("float64")
    except (ValueError, TypeError):
        return pd.to_timedelta(objects).as_unit(TIME_UNIT).array
    microseconds = np.round(np.asarray(seconds) * 1e6)
    return pd.to_timedelta(microseconds, unit="us").as_unit(TIME_UNIT).array


_TRUE = {"true", "True", "TRUE", "1"}
_FALSE = {"false", "False", "FALSE", "0"}


def _booleans(values: Any) -> Any:
    objects = _as_objects(values) if hasattr(values, "dtype") else values
    if pd.api.types.infer_dtype(objects, skipna=True) not in ("string", "mixed"):
        return objects
    # Text from a CSV file: "True"/"False".
    return [
        True if v in _TRUE else False if v in _FALSE else None if isinstance(v, str) else v
        for v in objects
    ]


def _columns_from(records: Any, fields: Sequence[str]) -> tuple[dict[str, Any], int]:
    """Split records (mappings or a DataFrame) into one list per field."""
    if isinstance(records, pd.DataFrame):
        n = len(records)
        return {f: (records[f].array if f in records.columns else [None] * n) for f in fields}, n
    rows = records if isinstance(records, list) else list(records)
    if not rows:
        return {f: [] for f in fields}, 0
    try:  # fast path: every row has every field (normalized records do)
        getter = itemgetter(*fields)
        columns = zip(*map(getter, rows), strict=True) if len(fields) > 1 else [map(getter, rows)]
        return {f: list(column) for f, column in zip(fields, columns, strict=True)}, len(rows)
    except KeyError:
        return {f: [row.get(f) for row in rows] for f in fields}, len(rows)


def versions_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Build the typed version-history frame from normalized records.

    Parameters
    ----------
    records
        Normalized records (see :func:`hi_widgets.api.records.normalize_image_set`), any
        iterable of mappings; missing keys count as missing values. A DataFrame with those
        columns (for example a file read back with :func:`hi_widgets.export.files.read_frame`) is
        accepted too and re-typed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VERSION_COLUMNS` with the dtypes of :func:`versions_dtypes`; one row
        per (datastoreId, imageSetId, versionId), the last record winning when the same
        version comes more than once (a re-fetch); sorted by imageSetId, then versionId
        (then datastoreId), with a fresh ``RangeIndex``. Derived columns (none of them
        moves when ``createdAt`` does, except where ``createdAt`` is version 1's only time):

        * ``changedAt``: when the version was made or last changed, see :func:`changed_at`;
        * ``sincePrevious``: ``changedAt`` minus the ``changedAt`` of the image set's
          previous version in the frame that has one (NaT for its first one), the time
          between two
          versions, *not* how long the operation took (AWS does not say when an
          operation started);
        * ``isLatest``: true for the highest versionId of each image set (false where
          versionId is missing).

        ``createdAt`` is the image set's creation time, the same on every version.
        Empty input gives an empty frame with the full schema.

    Examples
    --------
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> len(versions), str(versions["versionId"].dtype), str(versions["updatedAt"].dt.tz)
    (73, 'Int64', 'UTC')
    >>> versions["imageSetState"].cat.categories.tolist()
    ['ACTIVE', 'LOCKED', 'DELETED']
    """
    columns, n = _columns_from(records, RECORD_FIELDS)
    data = {field: _convert(columns[field], _VERSION_KINDS[field]) for field in RECORD_FIELDS}
    frame = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
    if n:
        frame = frame.drop_duplicates(subset=list(VERSION_KEY), keep="last")
        frame = frame.sort_values(
            ["imageSetId", "versionId", "datastoreId"], na_position="last", ignore_index=True
        )
    frame["changedAt"] = changed_at(frame)
    groups = frame.groupby(["datastoreId", "imageSetId"], dropna=False, sort=False)
    # Sorted by version within each image set: the previous row with a time is the
    # previous version (a version without any time is skipped, not a gap in the chain).
    previous = groups["changedAt"].shift(1).groupby(groups.ngroup()).ffill()
    frame["sincePrevious"] = (frame["changedAt"] - previous).astype(_TIMEDELTA)
    latest = groups["versionId"].transform("max")
    frame["isLatest"] = (frame["versionId"] == latest).fillna(False).astype("boolean")
    result: pd.DataFrame = frame
    return result


def changed_at(df: pd.DataFrame) -> pd.Series:
    """Return when each version was made or last changed: the version time AWS gives.

    Parameters
    ----------
    df
        A frame with ``updatedAt`` and, for the fallback, ``createdAt`` and ``versionId``.

    Returns
    -------
    pandas.Series
        UTC timestamps, index of ``df``: ``updatedAt``; where it is missing and the row is
        version 1, ``createdAt`` (the ListImageSetVersions example in the AWS CLI
        reference gives version 1 no ``updatedAt``; version 1 is made when the image set
        is created). Other versions without ``updatedAt`` give NaT: ``createdAt`` is the
        image set's creation time, not theirs.
    """
    updated = _convert(df["updatedAt"].array, "timestamp") if "updatedAt" in df else None
    if updated is None:
        updated = pd.array([pd.NaT] * len(df), dtype=_TIMESTAMP)
    result = pd.Series(updated, index=df.index, name="changedAt")
    if "createdAt" in df and "versionId" in df:
        created = pd.Series(_convert(df["createdAt"].array, "timestamp"), index=df.index)
        first = pd.Series(_convert(df["versionId"].array, "Int64"), index=df.index) == 1
        use_created = result.isna() & first.fillna(False).astype(bool)
        result = result.where(~use_created, created)
    return cast("pd.Series[Any]", result.astype(_TIMESTAMP))


def empty_versions_frame() -> pd.DataFrame:
    """Return a versions frame with no rows and the full schema.

    Returns
    -------
    pandas.DataFrame
        Same columns and dtypes as :func:`versions_frame`.
    """
    return versions_frame([])


def _summary_fields(summary: Mapping[str, Any], datastore_id: str | None) -> dict[str, Any]:
    return {
        "datastoreId": summary.get("datastoreId", datastore_id),
        "imageSetId": summary.get("imageSetId"),
        "versionId": summary.get("version", summary.get("versionId")),
        "createdAt": summary.get("createdAt"),
        "updatedAt": summary.get("updatedAt"),
        "lastAccessedAt": summary.get("lastAccessedAt"),
        "storageTier": summary.get("storageTier"),
        "isPrimary": summary.get("isPrimary"),
    }


def image_sets_frame(
    summaries: Iterable[Mapping[str, Any]], *, datastore_id: str | None = None
) -> pd.DataFrame:
    """Build a typed frame from SearchImageSets summaries, DICOM tags flattened.

    Parameters
    ----------
    summaries
        Items of ``imageSetsMetadataSummaries`` (all pages), as boto3 returns them.
    datastore_id
        Filled into the ``datastoreId`` column (summaries do not carry it).

    Returns
    -------
    pandas.DataFrame
        One row per summary, in input order. Columns ``datastoreId``, ``imageSetId``,
        ``versionId`` (the summary's ``version``), ``createdAt``, ``updatedAt``,
        ``lastAccessedAt``, ``storageTier``, ``isPrimary``, then every ``DICOMTags`` member
        of the installed model under its own name (``DICOMPatientName``, ...; integers as
        ``Int64``, text as ``string``), then any tag the model does not know (sorted, as
        ``string``). :data:`hi_widgets.PHI_COLUMNS` lists the patient columns. Empty input
        gives the full schema.

    Examples
    --------
    >>> summaries = hw.search_image_sets(client, datastore_id)
    >>> image_sets = hw.image_sets_frame(summaries, datastore_id=datastore_id)
    >>> len(image_sets), int(image_sets["versionId"].max())
    (30, 73)
    """
    rows = list(summaries)
    tag_kinds = _dicom_tag_kinds()
    flat = []
    extra: set[str] = set()
    for summary in rows:
        tags = summary.get("DICOMTags") or {}
        extra.update(k for k in tags if k not in tag_kinds)
        flat.append({**_summary_fields(summary, datastore_id), **tags})
    kinds = {**_SUMMARY_KINDS, **tag_kinds, **dict.fromkeys(sorted(extra), "string")}
    columns, n = _columns_from(flat, list(kinds))
    data = {name: _convert(columns[name], kind) for name, kind in kinds.items()}
    result: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
    return result


def apply_schema(df: pd.DataFrame) -> pd.DataFrame:
    """Give known columns of any frame their hi_widgets dtype (e.g. after reading a CSV).

    Parameters
    ----------
    df
        A frame whose columns are a subset of the versions or image-set columns, possibly
        with text timestamps (ISO-8601), time differences in seconds and
        ``"True"``/``"False"``.

    Returns
    -------
    pandas.DataFrame
        A new frame, same rows and column order; known columns converted, others as they
        were. Unlike :func:`versions_frame` it neither sorts, de-duplicates nor derives.
    """
    kinds = {**_SUMMARY_KINDS, **_dicom_tag_kinds(), **_VERSION_KINDS}
    data = {
        column: (_convert(df[column].array, kinds[column]) if column in kinds else df[column])
        for column in df.columns
    }
    result: pd.DataFrame = pd.DataFrame(data, index=df.index, columns=df.columns)
    return result
