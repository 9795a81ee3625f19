"""Plot of a change log (:func:`hi_widgets.fetch_changes`): attributes × versions.

One column per version, one row per attribute (sorted by level, then name), a cell
coloured by the kind of change the version made to the attribute. The top row shows what
each version is (see :data:`hi_widgets.changes.log.VERSION_KINDS`), and failed, errored and
cancelled versions are shaded over the full height, so a failed update or a revert
stands out in a long history. Drawn on a pyplot-free Figure, as :mod:`hi_widgets.plots.timeline`.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch

from hi_widgets.changes.log import LEVELS, VERSION_KINDS
from hi_widgets.plots.axes import _new_axes, _no_data

__all__ = ["CHANGE_COLORS", "KIND_COLORS", "plot_changes"]

CHANGE_COLORS: dict[str, str] = {
    "added": "#31a354",
    "removed": "#de2d26",
    "changed": "#3182bd",
    "mixed": "#756bb1",
}
"""Cell colour per change (``mixed``: several kinds of change to one attribute)."""

KIND_COLORS: dict[str, str] = {
    "initial": "#9ecae1",
    "modified": "#bdbdbd",
    "revert": "#fd8d3c",
    "unchanged": "#f0f0f0",
    "failed": "#67000d",
    "error": "#000000",
    "cancelled": "#dadaeb",
}
"""Colour of each version kind in the top row."""

# Full-height shading of the columns of versions that did not (or could not) change.
_COLUMN_SHADES = {"failed": "#fde0dd", "error": "#d9d9d9", "cancelled": "#f0f0f0"}
_VERSION_ROW = "(version)"
_COLUMNS = ("versionId", "kind", "level", "attribute", "change")
_TICK_PITCH = 1.6  # room a tick label needs, in multiples of its font size
_MAX_HEIGHT = 14.0


def _round_step(raw: float) -> int:
    """Return the smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``raw``."""
    step = 1
    while step < raw:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if step >= raw:
                break
    return step


def _rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the (level, attribute) rows, sorted by level order then name."""
    changed = frame.dropna(subset=["attribute"])
    pairs = set(zip(changed["level"].astype(str), changed["attribute"].astype(str), strict=True))
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(pairs, key=lambda pair: (order.get(pair[0], len(order)), pair[1].lower()))


def _image(
    frame: pd.DataFrame, versions: list[int], rows: list[tuple[str, str]]
) -> tuple[np.ndarray, set[str]]:
    """Return the RGBA cells (top row: version kinds) and the cell colours used."""
    column = {version: i for i, version in enumerate(versions)}
    row = {pair: i + 1 for i, pair in enumerate(rows)}
    image = np.ones((len(rows) + 1, len(versions), 4))
    kinds = frame.drop_duplicates("versionId").set_index("versionId")["kind"]
    for version, kind in kinds.items():
        x = column[int(version)]
        if kind in _COLUMN_SHADES:
            image[1:, x] = to_rgba(_COLUMN_SHADES[kind])
        image[0, x] = to_rgba(KIND_COLORS.get(str(kind), "#ffffff"))
    changed = frame.dropna(subset=["attribute"])
    groups = changed.groupby(
        [changed["versionId"].astype(int), changed["level"].astype(str), changed["attribute"]],
        sort=False,
        observed=True,
    )["change"]
    used = set()
    for (version, level, attribute), changes in groups:
        kinds_of_change = set(changes.dropna().astype(str))
        name = kinds_of_change.pop() if len(kinds_of_change) == 1 else "mixed"
        used.add(name)
        cell = (row[(str(level), str(attribute))], column[int(version)])
        image[cell] = to_rgba(CHANGE_COLORS[name])
    return image, used


def _labels_that_fit(ax: Axes, along: str) -> int:
    """Return how many tick labels fit along the axes' height (``"y"``) or width (``"x"``)."""
    setting = matplotlib.rcParams["ytick.labelsize" if along == "y" else "xtick.labelsize"]
    size = FontProperties(size=setting).get_size_in_points()
    figure = ax.get_figure(root=True)
    assert figure is not None, "the axes belong to a figure"
    width, height = figure.get_size_inches()
    box = ax.get_position()
    if along == "y":
        return max(2, int(height * box.height * 72.0 / (size * _TICK_PITCH)))
    # A version number is up to ~4 digits wide.
    return max(2, int(width * box.width * 72.0 / (size * 3.2)))


def _set_ticks(ax: Axes, versions: list[int], labels: list[str]) -> None:
    step = _round_step(len(versions) / _labels_that_fit(ax, "x"))
    xs = [i for i, v in enumerate(versions) if i == 0 or v % step == 0]
    if step > 1:  # keep labels apart: drop the first when the next round one is too close
        xs = [x for j, x in enumerate(xs) if not (j == 0 and len(xs) > 1 and xs[1] < step / 2)]
    ax.set_xticks(xs, [str(versions[x]) for x in xs])
    step = _round_step(len(labels) / _labels_that_fit(ax, "y"))
    ys = list(range(0, len(labels), step))
    ax.set_yticks(ys, [labels[y] for y in ys])
    ax.tick_params(axis="both", length=2)


def _legend(ax: Axes, frame: pd.DataFrame, used: set[str]) -> None:
    names = {"added": "added", "removed": "removed", "changed": "changed", "mixed": "several"}
    handles = [
        Patch(color=CHANGE_COLORS[c], label=label) for c, label in names.items() if c in used
    ]
    kinds = set(frame["kind"].dropna().astype(str))
    handles += [
        Patch(color=KIND_COLORS[k], label=f"version: {k}") for k in VERSION_KINDS if k in kinds
    ]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize="small",
        frameon=False,
    )


def plot_changes(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Plot which attributes each version changed: attributes × versions.

    Parameters
    ----------
    df
        A change log from :func:`hi_widgets.fetch_changes` (columns ``versionId``,
        ``kind``, ``level``, ``attribute`` and ``change`` at least).
    ax
        Axes to draw on; default a new pyplot-free Figure, its height grown with the
        number of attributes so that every label is readable.

    Returns
    -------
    matplotlib.axes.Axes
        Rows ``Level: attribute`` sorted by level (Patient, Study, Series, Instance) then
        name, under a top row showing each version's kind; cells coloured by change
        (:data:`CHANGE_COLORS`). Version ticks are thinned to round numbers, and
        attribute labels to what fits the height of a given ``ax``, so labels never
        overlap. An empty frame gives an Axes saying so.

    Examples
    --------
    >>> log = hw.fetch_changes(client, datastore_id, image_set_id)
    >>> ax = hw.plot_changes(log)
    >>> ax.figure is not None
    True
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [column for column in _COLUMNS if column not in df.columns]
    if missing:
        raise ValueError(
            f"df lacks the column(s) {', '.join(missing)}; build it with "
            "hi_widgets.fetch_changes()"
        )
    df = df.dropna(subset=["versionId"])
    rows = _rows(df)
    ax = _new_axes(ax, height=min(_MAX_HEIGHT, 1.6 + 0.25 * (len(rows) + 1)))
    if df.empty:
        return _no_data(ax, "No changes to show")
    versions = sorted(int(v) for v in df["versionId"].unique())
    image, used = _image(df, versions, rows)
    ax.imshow(image, aspect="auto", interpolation="nearest")
    # Thin white lines between cells, so neighbouring versions of one colour stay apart.
    ax.set_xticks(np.arange(len(versions) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 2) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    ax.axhline(0.5, color="0.3", linewidth=0.8)
    _set_ticks(ax, versions, [_VERSION_ROW, *(f"{level}: {name}" for level, name in rows)])
    ax.set_xlabel("version")
    ax.set_title(f"Attribute changes over {len(versions)} versions", loc="left")
    _legend(ax, df, used)
    return ax
