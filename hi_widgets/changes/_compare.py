"""How two metadata documents of an image set differ, entity by entity.

A document is split into its entities (the top level, Patient, Study, each Series and
each Instance); equal entities are skipped by comparing their canonical JSON, a series or
instance added or removed is one row, and the attribute-level differences of all other
entities go through one :func:`~hi_widgets.changes.diff.diff_metadata` call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hi_widgets.changes.diff import diff_metadata, flatten_metadata

LEVELS: tuple[str, ...] = ("ImageSet", "Patient", "Study", "Series", "Instance")
"""Categories of the ``level`` column (``ImageSet``: top-level keys such as SchemaVersion)."""


@dataclass(frozen=True)
class Entity:
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


def _entity(level: str, series: Any, uid: Any, prefix: str, content: Any) -> Entity:
    if not isinstance(content, Mapping):
        content = {"": content}
    return Entity(level, series, uid, prefix, content, _canonical(content))


def _entities(doc: Mapping[str, Any]) -> dict[tuple[Any, ...], Entity]:
    """Split a metadata document into its entities, keyed by (level, uids...)."""
    out: dict[tuple[Any, ...], Entity] = {}
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


class Parsed(tuple[Any, ...]):
    """A document already split into entities, with its canonical text."""


def parse(doc: Mapping[str, Any]) -> tuple[dict[tuple[Any, ...], Entity], str]:
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


def _entity_rows(old: Entity | None, new: Entity | None) -> list[dict[str, Any]]:
    """Change rows of one entity between two documents (none when equal).

    Attribute-level differences are left as one pending row holding both contents under
    ``_diff``; :func:`expand_diffs` turns them into rows.
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


def expand_diffs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace every pending entity diff by its attribute rows.

    All pairs go through one :func:`~hi_widgets.changes.diff.diff_metadata` call (each pair's
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


def document_rows(
    old: dict[tuple[Any, ...], Entity],
    new: dict[tuple[Any, ...], Entity],
    order: Callable[[tuple[Any, ...]], Any],
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(old.keys() | new.keys(), key=order):
        series = ("Series", key[1]) if key[0] == "Instance" else None
        if series is not None and (series not in old or series not in new):
            continue  # inside a series added or removed as a whole: that series' row says it
        rows.extend(_entity_rows(old.get(key), new.get(key)))
    return rows


class SeriesLabels:
    """Short stable labels ``S1 (…a1b2c3)`` by order of first appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.labels: dict[str, str] = {}

    def see(self, entities: Iterable[Entity]) -> None:
        for entity in entities:
            uid = entity.series_uid
            if uid is not None and uid not in self.numbers:
                self.numbers[uid] = number = len(self.numbers) + 1
                self.labels[uid] = f"S{number} (…{str(uid)[-6:]})"

    def order(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """Sort key of an entity: by level, each series right before its instances."""
        if len(key) == 1:
            return (LEVELS.index(key[0]), 0, "")
        return (LEVELS.index("Series"), self.numbers[key[1]], "" if len(key) == 2 else str(key[2]))
