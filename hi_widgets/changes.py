"""The change log of an image set: which attributes each version changed, and how.

:func:`changes_frame` lists the versions of an image set (ListImageSetVersions), fetches
the metadata document of every version (GetImageSetMetadata, a small thread pool sending
through a :class:`~hi_widgets.ratelimit.RateLimiter` at the published quotas, retrying
throttling and 5xx answers), and compares each version with the one before it.
:func:`changes_from_documents` is the comparison alone, for documents already at hand.

Reading the frame
-----------------
Every version in scope has at least one row, so nothing happens silently. The ``kind``
column says what the version is:

``initial``
    The first version of the frame: there is nothing before it to compare with. One row.
``modified``
    One row per attribute it added, removed or changed.
``revert``
    Its document equals an earlier version's (not the one just before it): the rows
    show what it changed back, and ``revertedTo`` names the earliest version whose
    document it restores.
``unchanged``
    Its document equals the previous version's (a copy that changed no metadata). One row.
``failed``
    Its workflow status is a failure (UPDATE_FAILED, COPY_FAILED, ...). Its document
    normally equals the previous one's: one row, ``message`` holding the service's reason.
    Should it differ, the rows show the difference, still marked ``failed``.
``error``
    Its metadata could not be fetched; ``message`` says why. The next version is compared
    with the last one fetched (``previousVersionId`` says which).
``cancelled``
    Not fetched because the call was cancelled.

The one-row kinds have no ``level``, ``attribute``, ``path`` or ``change``.

A whole series or instance added or removed is one row (``attribute`` ``SeriesInstanceUID``
or ``SOPInstanceUID``, the UID as the value), not one row per attribute inside it. The
frame is complete, PHI included (patient attributes, accession numbers, dates...): export
it with the export module's de-identification rules.
"""

from __future__ import annotations

import json
import numbers
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._changes_fetch import ProgressCallback, fetch_documents
from .bulk._engine import Engine, make_limiter
from .bulk._twin import single_attempt_client
from .diff import CHANGE_KINDS, diff_metadata, flatten_metadata
from .errors import InvalidIdentifierError
from .frames import TIME_UNIT, apply_schema
from .ids import validate_datastore_id, validate_image_set_id, validate_version_id
from .ratelimit import RateLimiter

__all__ = [
    "CHANGES_COLUMNS",
    "LEVELS",
    "VERSION_KINDS",
    "changes_frame",
    "changes_from_documents",
    "empty_changes_frame",
]

CHANGES_COLUMNS: tuple[str, ...] = (
    "versionId",
    "previousVersionId",
    "updatedAt",
    "workflowStatus",
    "kind",
    "revertedTo",
    "level",
    "series",
    "seriesInstanceUID",
    "attribute",
    "path",
    "change",
    "old",
    "new",
    "message",
)
"""Columns of :func:`changes_frame`, in order."""

LEVELS: tuple[str, ...] = ("ImageSet", "Patient", "Study", "Series", "Instance")
"""Categories of the ``level`` column (``ImageSet``: top-level keys such as SchemaVersion)."""

VERSION_KINDS: tuple[str, ...] = (
    "initial",
    "modified",
    "revert",
    "unchanged",
    "failed",
    "error",
    "cancelled",
)
"""Categories of the ``kind`` column (see the module notes)."""

_STRING = pd.StringDtype()


# -------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class _Entity:
    """One Patient / Study / Series / Instance (or the top level) of a document."""

    level: str
    series_uid: str | None
    uid: str | None  # the series or instance UID for Series and Instance
    prefix: str
    content: Mapping[str, Any]
    canonical: str


def _canonical(value: Any) -> str:
    # json.dumps tells 1, 1.0 and true apart, as diff_metadata does.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _entity(level: str, series: Any, uid: Any, prefix: str, content: Any) -> _Entity:
    if not isinstance(content, Mapping):
        content = {"": content}
    return _Entity(level, series, uid, prefix, content, _canonical(content))


def _entities(doc: Mapping[str, Any]) -> dict[tuple, _Entity]:
    """Split a metadata document into its entities, keyed by (level, uids...)."""
    out: dict[tuple, _Entity] = {}
    top = {k: v for k, v in doc.items() if k not in ("Patient", "Study")}
    if top:
        out[("ImageSet",)] = _entity("ImageSet", None, None, "", top)
    if "Patient" in doc:
        out[("Patient",)] = _entity("Patient", None, None, "Patient", doc["Patient"])
    study = doc.get("Study")
    if study is None:
        return out
    all_series = study.get("Series") if isinstance(study, Mapping) else None
    if not isinstance(all_series, Mapping):
        out[("Study",)] = _entity("Study", None, None, "Study", study)
        return out
    out[("Study",)] = _entity(
        "Study", None, None, "Study", {k: v for k, v in study.items() if k != "Series"}
    )
    for series_uid, series in all_series.items():
        prefix = f"Study.Series.{series_uid}"
        instances = series.get("Instances") if isinstance(series, Mapping) else None
        if isinstance(instances, Mapping):
            own = {k: v for k, v in series.items() if k != "Instances"}
        else:
            own, instances = series, {}
        out[("Series", series_uid)] = _entity("Series", series_uid, series_uid, prefix, own)
        for sop_uid, instance in instances.items():
            out[("Instance", series_uid, sop_uid)] = _entity(
                "Instance", series_uid, sop_uid, f"{prefix}.Instances.{sop_uid}", instance
            )
    return out


class _Parsed(tuple):
    """A document already split into entities, with its canonical text."""


def _parse(doc: Mapping[str, Any]) -> tuple[dict[tuple, _Entity], str]:
    if not isinstance(doc, Mapping):
        raise TypeError(f"a metadata document must be a JSON object, got {type(doc).__name__}")
    return _entities(doc), _canonical(doc)


def _attribute(relative_path: str) -> str:
    """Return the DICOM keyword (or metadata key) of the element a relative path is in."""
    path = relative_path.removeprefix("DICOM.")
    for i, char in enumerate(path):
        if char in ".[":
            return path[:i]
    return path


def _join(prefix: str, path: str) -> str:
    if not path:
        return prefix
    return f"{prefix}.{path}" if prefix else path


_WHOLE_ENTITY_KEYWORD = {"Series": "SeriesInstanceUID", "Instance": "SOPInstanceUID"}
_TAG = "\x1f"  # separates a pair's number from its paths in the combined diff


def _entity_rows(old: _Entity | None, new: _Entity | None) -> list[dict[str, Any]]:
    """Change rows of one entity between two documents (none when equal).

    Attribute-level differences are left as one pending row holding both contents under
    ``_diff``; :func:`_expand_diffs` turns them into rows.
    """
    entity = new if new is not None else old
    assert entity is not None
    base = {"level": entity.level, "seriesInstanceUID": entity.series_uid}
    if old is not None and new is not None and old.canonical == new.canonical:
        return []
    if entity.level in _WHOLE_ENTITY_KEYWORD and (old is None or new is None):
        added = old is None
        return [
            {
                **base,
                "attribute": _WHOLE_ENTITY_KEYWORD[entity.level],
                "path": entity.prefix,
                "change": "added" if added else "removed",
                "old": None if added else entity.uid,
                "new": entity.uid if added else None,
            }
        ]
    contents = ({} if old is None else old.content, {} if new is None else new.content)
    return [{**base, "path": entity.prefix, "_diff": contents}]


def _expand_diffs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace every pending entity diff by its attribute rows.

    All pairs go through one :func:`~hi_widgets.diff.diff_metadata` call (each pair's
    flattened paths behind a tag of its own), as a DataFrame per pair would cost more
    than fetching the documents.
    """
    pending = [row for row in rows if "_diff" in row]
    if not pending:
        return rows
    sides: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for number, row in enumerate(pending):
        for side, content in zip(sides, row["_diff"], strict=True):
            side.update(
                (f"{number}{_TAG}{path}", v) for path, v in flatten_metadata(content).items()
            )
    diff = diff_metadata(*sides)
    found: dict[int, list[tuple[str, str, Any, Any]]] = {}
    columns = [[None if pd.isna(v) else v for v in diff[c]] for c in ("old", "new")]
    for tagged, change, old, new in zip(diff["path"], diff["change"], *columns, strict=True):
        number, _, path = tagged.partition(_TAG)
        found.setdefault(int(number), []).append((path, change, old, new))
    index = {id(row): number for number, row in enumerate(pending)}
    out = []
    for row in rows:
        if "_diff" not in row:
            out.append(row)
            continue
        head = {k: v for k, v in row.items() if k != "_diff"}
        out.extend(
            {
                **head,
                "attribute": _attribute(path),
                "path": _join(row["path"], path),
                "change": change,
                "old": old,
                "new": new,
            }
            for path, change, old, new in sorted(found.get(index[id(row)], []))
        )
    return out


def _document_rows(
    old: dict[tuple, _Entity], new: dict[tuple, _Entity], order: Callable[[tuple], Any]
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(old.keys() | new.keys(), key=order):
        series = ("Series", key[1]) if key[0] == "Instance" else None
        if series is not None and (series not in old or series not in new):
            continue  # inside a series added or removed as a whole: that series' row says it
        rows.extend(_entity_rows(old.get(key), new.get(key)))
    return rows


class _SeriesLabels:
    """Short stable labels ``S1 (…a1b2c3)`` by order of first appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.labels: dict[str, str] = {}

    def see(self, entities: Iterable[_Entity]) -> None:
        for entity in entities:
            uid = entity.series_uid
            if uid is not None and uid not in self.numbers:
                self.numbers[uid] = number = len(self.numbers) + 1
                self.labels[uid] = f"S{number} (…{str(uid)[-6:]})"

    def order(self, key: tuple) -> tuple:
        """Sort key of an entity: by level, each series right before its instances."""
        if len(key) == 1:
            return (LEVELS.index(key[0]), 0, "")
        return (LEVELS.index("Series"), self.numbers[key[1]], "" if len(key) == 2 else str(key[2]))


def _failed(status: Any) -> bool:
    return isinstance(status, str) and status.endswith("_FAILED")


def _error_text(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{type(error).__name__}: {message}"


def changes_from_documents(
    documents: Mapping[int, Mapping[str, Any] | BaseException | None],
    records: Mapping[int, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Build the change log from metadata documents already fetched.

    Parameters
    ----------
    documents
        Version number to its decoded metadata document. An exception in place of a
        document makes an ``error`` row (its text in ``message``); None a ``cancelled`` row.
    records
        Version number to its record (:func:`hi_widgets.records.normalize_image_set`, or any
        mapping with ``updatedAt``, ``imageSetWorkflowStatus`` and ``message``). A version
        in ``records`` but not in ``documents`` counts as cancelled.

    Returns
    -------
    pandas.DataFrame
        As :func:`changes_frame`.
    """
    records = records or {}
    labels = _SeriesLabels()
    rows: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    previous: tuple[int, dict[tuple, _Entity], str] | None = None
    for version_id in sorted({*map(int, documents), *map(int, records)}):
        record = records.get(version_id, {})
        status = record.get("imageSetWorkflowStatus")
        head = {
            "versionId": version_id,
            "previousVersionId": None if previous is None else previous[0],
            "updatedAt": record.get("updatedAt"),
            "workflowStatus": status,
            "message": record.get("message"),
        }
        doc = documents.get(version_id)
        if isinstance(doc, BaseException):
            rows.append({**head, "kind": "error", "message": _error_text(doc)})
            continue
        if doc is None:
            rows.append({**head, "kind": "cancelled"})
            continue
        entities, canonical = doc if isinstance(doc, _Parsed) else _parse(doc)
        labels.see(entities.values())
        if previous is None:
            rows.append({**head, "kind": "initial"})
        elif canonical == previous[2]:
            rows.append({**head, "kind": "failed" if _failed(status) else "unchanged"})
        else:
            reverted = first_seen.get(canonical)
            kind = (
                "failed" if _failed(status) else "revert" if reverted is not None else "modified"
            )
            extra = {"kind": kind, "revertedTo": reverted if kind == "revert" else None}
            rows.extend(
                {**head, **extra, **row}
                for row in _document_rows(previous[1], entities, labels.order)
            )
        first_seen.setdefault(canonical, version_id)
        previous = (version_id, entities, canonical)
    rows = _expand_diffs(rows)
    for row in rows:
        uid = row.get("seriesInstanceUID")
        row["series"] = None if uid is None else labels.labels.get(uid)
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    def column(name: str) -> list[Any]:
        return [row.get(name) for row in rows]

    typed = apply_schema(
        pd.DataFrame(
            {
                "updatedAt": pd.Series(column("updatedAt"), dtype=object),
                "imageSetWorkflowStatus": pd.Series(column("workflowStatus"), dtype=object),
            }
        )
    )

    def category(name: str, categories: Iterable[str]) -> pd.Categorical:
        return pd.Categorical(column(name), categories=list(categories))

    data = {
        "versionId": pd.array(column("versionId"), dtype="Int64"),
        "previousVersionId": pd.array(column("previousVersionId"), dtype="Int64"),
        "updatedAt": typed["updatedAt"].dt.as_unit(TIME_UNIT).array,
        "workflowStatus": typed["imageSetWorkflowStatus"].array,
        "kind": category("kind", VERSION_KINDS),
        "revertedTo": pd.array(column("revertedTo"), dtype="Int64"),
        "level": category("level", LEVELS),
        **{
            name: pd.array(column(name), dtype=_STRING)
            for name in ("series", "seriesInstanceUID", "attribute", "path")
        },
        "change": category("change", CHANGE_KINDS),
        **{name: pd.array(column(name), dtype=_STRING) for name in ("old", "new", "message")},
    }
    return pd.DataFrame(data, columns=list(CHANGES_COLUMNS), index=pd.RangeIndex(len(rows)))


def empty_changes_frame() -> pd.DataFrame:
    """Return a change log with no rows and the full schema of :func:`changes_frame`."""
    return _frame([])


# ------------------------------------------------------------------------------ public


def _validated_versions(versions: Any) -> list[int] | None:
    if versions is None:
        return None
    if isinstance(versions, (str, bytes, int)) or not isinstance(versions, Iterable):
        raise TypeError(
            f"versions must be a list of version numbers (or None for all), got {versions!r}"
        )
    out = []
    for position, value in enumerate(versions):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)  # numpy and pandas integers, e.g. from a frame's column
        try:
            out.append(int(validate_version_id(value)))
        except InvalidIdentifierError as error:
            raise InvalidIdentifierError(f"versions[{position}]", value, error.expected) from None
    return sorted(set(out))


def changes_frame(
    client: Any,
    datastore_id: str,
    image_set_id: str,
    *,
    versions: Iterable[int | str] | None = None,
    max_workers: int = 8,
    rates: Mapping[str, tuple[float, float]] | RateLimiter | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """Return the change log of an image set: one row per attribute each version changed.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client. If it retries on its own, a single-attempt
        twin is used, as :func:`hi_widgets.fetch_versions` does, so retries go through the
        rate limiter.
    datastore_id, image_set_id
        The image set; checked before any request.
    versions
        Version numbers to include (ints or digit strings); default every version. Each
        is compared with the previous one *of the selection*: ``versions=[1, 73]`` gives
        what changed from 1 to 73. Checked before any request; a version the image set
        does not have raises ResourceNotFoundError.
    max_workers
        Threads fetching metadata documents; the GetImageSetMetadata quota (50/s, burst
        100), not this, bounds the speed of long histories.
    rates
        Quota overrides (``{"GetImageSetMetadata": (rate, burst), ...}``) for raised
        quotas, or a :class:`~hi_widgets.ratelimit.RateLimiter` shared with other calls.
    progress
        Called as ``progress(done, total)`` after each metadata document (or its failure),
        from the calling thread. If it raises, the fetch stops and the exception propagates.
    cancel
        When set, no further request is sent; versions not fetched get ``cancelled`` rows
        and the rows already computed are returned.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGES_COLUMNS`, ordered by ``versionId`` then level, series and
        path: ``versionId`` and ``previousVersionId`` (the version compared with) and
        ``revertedTo`` (``Int64``), ``updatedAt`` (UTC), ``workflowStatus`` (categorical
        of the model's enum, unknown values kept), ``kind`` (categorical
        :data:`VERSION_KINDS`), ``level`` (categorical :data:`LEVELS`), ``series`` (a
        short label such as ``S2 (…4a1b9c)``) and ``seriesInstanceUID``, ``attribute``
        (the DICOM keyword), ``path`` (as :func:`hi_widgets.flatten_metadata` spells it),
        ``change`` (categorical added / removed / changed), ``old``, ``new`` (text, JSON
        for non-text values) and ``message`` (the version's message, or the fetch error).
        Every version has at least one row (see the module notes for ``kind``). Contains
        PHI.

    Raises
    ------
    InvalidIdentifierError
        Before any request: a malformed identifier, or a malformed entry of ``versions``
        (the error's ``field`` names it, e.g. ``versions[2]``).
    HealthImagingError
        If listing the versions fails, or if no metadata document at all could be
        fetched (then nothing is lost by raising). Failures of single versions become
        ``error`` rows instead.

    Examples
    --------
    >>> log = hw.changes_frame(client, datastore_id, image_set_id, versions=[1, 2])
    >>> log[["versionId", "attribute", "change"]].to_dict("records")
    [...{'versionId': 2, 'attribute': 'StudyDescription', 'change': 'changed'}...]
    """
    ids = {
        "datastoreId": validate_datastore_id(datastore_id),
        "imageSetId": validate_image_set_id(image_set_id),
    }
    wanted = _validated_versions(versions)
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
    limiter = make_limiter(rates)
    if wanted == []:
        return empty_changes_frame()
    engine = Engine(single_attempt_client(client, max_workers), limiter, "list", cancel)
    records, outcomes = fetch_documents(
        engine, ids, wanted, max_workers, progress, lambda doc: _Parsed(_parse(doc))
    )
    documents = {v: outcomes.get(v) for v in records}
    errors = [d for d in documents.values() if isinstance(d, BaseException)]
    fetched = any(isinstance(d, _Parsed) for d in documents.values())
    if errors and not fetched and not engine.stopped():
        raise errors[0]
    return changes_from_documents(documents, records)
