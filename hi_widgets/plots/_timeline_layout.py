"""Where the version timeline puts things: rows, bar spans, tick labels, figure size.

Shared by :func:`hi_widgets.plots.timeline.plot_version_timeline` and the widgets' interactive
timeline, which must know which bar is which version.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from hi_widgets.api.tables import changed_at

__all__ = ["timeline_height", "timeline_versions"]

_MAX_TICK_LABELS = 30
_TICK_PITCH = 1.7  # room a y tick label needs, in multiples of its font size


def _root_figure(artist: Figure | Axes) -> Figure:
    """Return the top-level Figure of an Axes (or of a sub-figure's Axes)."""
    figure: Any = artist if isinstance(artist, Figure) else artist.figure
    while not isinstance(figure, Figure):  # a SubFigure sits inside its parent
        figure = figure.figure
    return figure


def _date_numbers(series: pd.Series) -> np.ndarray:
    """Matplotlib date numbers (days) of UTC timestamps; NaT becomes NaN."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = pd.to_datetime(series).to_numpy(dtype="datetime64[us]")
    return np.asarray(mdates.date2num(values), dtype=float)  # type: ignore[no-untyped-call]


def _short_id(value: Any) -> str:
    text = "?" if value is None or value is pd.NA else str(value)
    return text if len(text) <= 9 else f"{text[:8]}…"


def _timeline_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], bool]:
    """Sort versions, give each its y row, start, end; return the frame and row labels.

    A version's bar ends at its ``changedAt`` (the time AWS gives for it, see
    :func:`hi_widgets.api.tables.changed_at`) and starts at the ``changedAt`` of the image
    set's previous version that has one: the time since the previous version. A first
    version starts where it ends (the minimum width is applied when drawing).
    ``createdAt``, the image set's creation time, never stretches a bar.
    """
    frame = df.loc[:, [c for c in df.columns if c != "_row"]].copy()
    if "deletedAt" not in frame:
        frame["deletedAt"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    frame["_set"] = (
        frame["datastoreId"].astype("string").fillna("")
        + "/"
        + frame["imageSetId"].astype("string").fillna("")
    )
    frame = frame.sort_values(["_set", "versionId"], na_position="last", kind="stable")
    single = frame["_set"].nunique(dropna=False) == 1
    changed = pd.Series(
        _date_numbers(frame["changedAt"] if "changedAt" in frame else changed_at(frame)),
        index=frame.index,
    )
    by_set = changed.groupby(frame["_set"], sort=False)
    previous = by_set.shift(1).groupby(frame["_set"], sort=False).ffill().to_numpy()
    end = changed.to_numpy()
    start = np.where(np.isnan(previous), end, np.fmin(previous, end))
    frame["_start"] = start
    frame["_end"] = end
    frame["_deleted"] = _date_numbers(frame["deletedAt"])
    if single:
        frame["_row"] = np.arange(len(frame))
        labels = [f"v{v}" if v is not pd.NA else "v?" for v in frame["versionId"]]
    else:
        sets = frame.groupby("_set", sort=False).agg(
            first=("_start", "min"), imageSetId=("imageSetId", "first")
        )
        sets = sets.reset_index().sort_values(["first", "_set"], na_position="last")
        rows = pd.Series(np.arange(len(sets)), index=sets["_set"].to_numpy())
        frame["_row"] = rows.reindex(frame["_set"].to_numpy()).to_numpy(dtype=int)
        labels = [_short_id(value) for value in sets["imageSetId"]]
    return frame, labels, single


def _nice_step(raw: float) -> int:
    """Return the smallest of 1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, ... >= raw."""
    raw = max(1.0, float(raw))
    magnitude = 10 ** int(np.floor(np.log10(raw)))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw and float(step).is_integer():
            return int(step)
    result: int = 10 * magnitude
    return result


def _thin_ticks(ax: Axes, labels: list[str]) -> None:
    """Label as many rows as fit the axes' height without overlap, at a round step.

    With a step of n > 1 the labelled rows are the first and every n-th (``v1``, ``v5``,
    ``v10``, ... for versions 1, 2, 3, ...).
    """
    n = len(labels)
    font = FontProperties(size=matplotlib.rcParams["ytick.labelsize"]).get_size_in_points()
    height_pt = _root_figure(ax).get_figheight() * ax.get_position().height * 72.0
    fit = max(2, int(height_pt / (font * _TICK_PITCH)))
    step = _nice_step(n / min(fit, _MAX_TICK_LABELS))
    ticks = np.arange(0, n) if step == 1 else np.unique(np.r_[0, np.arange(step - 1, n, step)])
    ax.set_yticks(ticks, [labels[i] for i in ticks])


def timeline_height(df: pd.DataFrame) -> float:
    """Return the figure height (inches) :func:`plot_version_timeline` uses for ``df``.

    A row per image set, or per version for a frame of one image set.
    """
    if len(df) == 0:
        return 2.25
    n_sets = df[["datastoreId", "imageSetId"]].drop_duplicates().shape[0]
    if n_sets == 1:
        return min(5.0, 1.8 + 0.05 * len(df))
    result: float = min(12.0, 2.0 + 0.25 * n_sets)
    return result


def timeline_versions(df: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of ``df`` in the order :func:`plot_version_timeline` draws its bars.

    Row ``i`` is the version of path ``i`` of the ``"versions"`` PolyCollection, so a
    widget can tell which version is under the mouse (versions without any time are not
    drawn and not returned).
    """
    if len(df) == 0:
        result: pd.DataFrame = df.iloc[0:0]
        return result
    frame, _labels, _single = _timeline_rows(df)
    drawn = frame[~np.isnan(frame["_start"].to_numpy())]
    result = drawn.drop(columns=[c for c in drawn.columns if c.startswith("_")])
    return result
