"""De-identification of frames whose PHI is in rows: a metadata diff and a change log.

A diff row names its attribute in ``path`` and carries its values in ``old`` and ``new``;
the row is read by its path as a column is by its name (:mod:`._deid_names`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from hi_widgets.export._deid_cells import missing
from hi_widgets.export._deid_names import CONTAINER, KEEP, REMOVE, UID, UNKNOWN, read_attribute

if TYPE_CHECKING:
    from hi_widgets.export.deid import Deidentifier

DIFF_COLUMNS = frozenset({"path", "old", "new"})
"""A diff (hi_widgets.changes.diff.DIFF_COLUMNS), possibly with more columns."""
CHANGES_COLUMNS = frozenset({"versionId", "kind", "attribute", "path", "old", "new"})
"""A change log (hi_widgets.changes.log.CHANGES_COLUMNS): a diff with version rows."""
# The columns of a change log that describe one attribute's change (blank in a version row).
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


def _series(values: list[Any], index: pd.Index, dtype: Any) -> pd.Series:
    try:
        return cast("pd.Series[Any]", pd.Series(values, index=index, dtype=dtype))
    except (TypeError, ValueError):  # e.g. replacement UIDs in a numeric column
        return cast("pd.Series[Any]", pd.Series(values, index=index, dtype=object))


def diff_rows(deid: Deidentifier, diff: pd.DataFrame, version_rows: bool) -> pd.DataFrame:
    """Keep the rows whose path an export keeps; replace UIDs in paths and values."""
    keep, paths, olds, news = [], [], [], []
    attributes = diff["attribute"] if "attribute" in diff.columns else [None] * len(diff)
    for position, (path, old, new, attribute) in enumerate(
        zip(diff["path"], diff["old"], diff["new"], attributes, strict=True)
    ):
        if not isinstance(path, str):
            if version_rows and missing(old) and missing(new):  # no attribute, no value
                keep.append(position)
                paths.append(path)
                olds.append(old)
                news.append(new)
            continue
        kind, new_path = deid.read(path)
        if kind == REMOVE:
            continue
        if kind == UNKNOWN:
            deid.note(new_path)
            continue
        # A whole series or instance added or removed: the path ends in its UID, which
        # is also the value; its ``attribute`` (SeriesInstanceUID...) says so.
        if isinstance(attribute, str) and read_attribute(attribute, False) == UID:
            kind = UID
        keep.append(position)
        paths.append(new_path)
        olds.append(_row_value(deid, old, kind, new_path))
        news.append(_row_value(deid, new, kind, new_path))
    out = diff.iloc[keep].reset_index(drop=True)
    for column, values in (("path", paths), ("old", olds), ("new", news)):
        out[column] = _series(values, out.index, diff[column].dtype)
    return cast(pd.DataFrame, out)


def _row_value(deid: Deidentifier, value: Any, kind: str, where: str) -> Any:
    if missing(value):
        return value
    if kind == UID:
        return deid.uid_value(value)
    if kind == CONTAINER or (kind == KEEP and not isinstance(value, str)):
        return deid.value(value, kind, where)
    return value


def changes_rows(deid: Deidentifier, log: pd.DataFrame) -> pd.DataFrame:
    """De-identify a change log row by row, keeping one row for every version."""
    numbered = log.assign(_position=range(len(log)))
    out = diff_rows(deid, numbered, version_rows=True)
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
        return cast(pd.DataFrame, out)
    uids = deid.uid_column(out["seriesInstanceUID"])
    if "series" in out.columns:
        out["series"] = pd.Series(
            [
                label
                if missing(label) or missing(uid)
                else _SERIES_LABEL_TAIL.sub("", str(label))
                + f" (…{str(uid).replace('.', '')[-6:]})"
                for label, uid in zip(out["series"], uids, strict=True)
            ],
            index=out.index,
            dtype=out["series"].dtype,
        )
    out["seriesInstanceUID"] = uids
    return cast(pd.DataFrame, out)
