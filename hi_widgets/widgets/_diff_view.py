"""How the version browser shows a metadata diff: the attribute first, then where it is.

A diff path such as ``Study.Series.2.25.3328…3846.DICOM.Modality`` repeats a 40-digit
series UID in every row and gets cut off before the attribute. The grid shows
``Modality`` first and the place as a short label that stays the same across diffs
(``Series …753846``: the UID's last six digits), with the whole UID as a tooltip.
"""

from __future__ import annotations

import html
import re

import pandas as pd

__all__ = ["DIFF_COLUMNS", "change_counts", "diff_display", "diff_summary", "place_label"]

DIFF_COLUMNS = ("attribute", "where", "change", "old", "new", "path")
"""Columns of :func:`diff_display`, in order."""

_LEVEL_UID = re.compile(r"(Series|Instances)\.([0-9.]+?)\.(?=DICOM|Instances|Series|$)")
_SHORT = 6
_ENTITY_UID = re.compile(
    r"^(?P<entity>.*(?P<level>Series|Instances)\.[0-9.]+?)\.DICOM\."
    r"(?:SeriesInstanceUID|SOPInstanceUID)$"
)


def _short(uid: str) -> str:
    digits = uid.replace(".", "")
    return uid if len(uid) <= _SHORT + 2 else "…" + digits[-_SHORT:]


def place_label(path: str) -> tuple[str, str, str]:
    """Split a diff path into ``(attribute, place, place_html)``.

    Parameters
    ----------
    path
        A path of :func:`hi_widgets.changes.diff.diff_metadata`, e.g.
        ``Study.Series.<uid>.Instances.<uid>.DICOM.SOPClassUID``.

    Returns
    -------
    attribute : str
        The last part after ``DICOM.`` (or the last segment).
    place : str
        ``Study``, ``Patient``, ``Series …753846`` or ``Series …753846 › instance …0042``.
    place_html : str
        ``place`` with each UID's full value as a ``title`` tooltip (escaped).
    """
    head, sep, attribute = path.rpartition(".DICOM.")
    if not sep:
        head, _, attribute = path.rpartition(".")
    texts, htmls = [], []
    for match in _LEVEL_UID.finditer(head + "."):
        level = "Series" if match.group(1) == "Series" else "instance"
        uid = match.group(2)
        text = f"{level} {_short(uid)}"
        texts.append(text)
        htmls.append(f"<span title='{html.escape(uid, quote=True)}'>{html.escape(text)}</span>")
    if not texts:
        level = head.split(".", 1)[0] if head else "—"
        return attribute, level, html.escape(level)
    return attribute, " › ".join(texts), " › ".join(htmls)


def diff_display(diff: pd.DataFrame) -> pd.DataFrame:
    """Return a diff frame as the grid shows it (:data:`DIFF_COLUMNS`; ``where`` is HTML).

    The full ``path`` stays as the last column so nothing is lost.
    """
    parts = [place_label(str(p)) for p in diff["path"]]
    result: pd.DataFrame = pd.DataFrame(
        {
            "attribute": [a for a, _t, _h in parts],
            "where": [h for _a, _t, h in parts],
            "change": diff["change"].astype("string").to_numpy(),
            "old": diff["old"].to_numpy(),
            "new": diff["new"].to_numpy(),
            "path": diff["path"].to_numpy(),
        },
        index=range(len(diff)),
    )
    return result


def change_counts(diff: pd.DataFrame) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Count a diff's changes as the change log counts them.

    A series or instance added or removed whole is one change (the change log's one
    row), not one per attribute inside it: a reverted instance is "1 removed", not
    "422 removed".

    Returns
    -------
    counts : dict
        ``added``, ``removed``, ``changed`` to the number of changes.
    wholes : dict
        ``added`` / ``removed`` to notes such as ``"instance (422 attributes)"``.
    """
    paths = diff["path"].astype(str).tolist()
    changes = diff["change"].astype(str).tolist()
    entities: dict[str, tuple[str, str]] = {}  # prefix -> (change, level)
    for path, change in zip(paths, changes, strict=True):
        match = _ENTITY_UID.match(path)
        if match and change in ("added", "removed"):
            level = "series" if match["level"] == "Series" else "instance"
            entities[match["entity"] + "."] = (change, level)
    counts = dict.fromkeys(("added", "removed", "changed"), 0)
    inside: dict[str, int] = dict.fromkeys(entities, 0)
    for path, change in zip(paths, changes, strict=True):
        # The innermost whole entity holding this path, if its change is this one.
        holders = [e for e in entities if path.startswith(e) and entities[e][0] == change]
        if holders:
            inside[max(holders, key=len)] += 1
        else:
            counts[change] = counts.get(change, 0) + 1
    wholes: dict[str, list[str]] = {"added": [], "removed": []}
    nested = {e for e in entities for o in entities if o != e and e.startswith(o)}
    for entity, (change, level) in entities.items():
        if entity in nested:  # an instance inside a series added or removed whole
            continue
        counts[change] += 1
        n = inside[entity] + sum(inside[e] for e in nested if e.startswith(entity))
        wholes[change].append(f"{level} ({n} attributes)")
    return counts, wholes


def diff_summary(old: int, new: int, diff: pd.DataFrame) -> str:
    """Return the diff's one-line HTML summary, counted as :func:`change_counts` does."""
    if not len(diff):
        return f"Version {old} → {new}: identical (no metadata changed)."
    counts, wholes = change_counts(diff)
    parts = []
    for kind in ("added", "removed", "changed"):
        whole = f" ({'; '.join(wholes[kind])})" if wholes.get(kind) else ""
        parts.append(f"{counts[kind]} {kind}{html.escape(whole)}")
    return f"Version {old} → {new}: " + ", ".join(parts)
