"""Counts over versions: how many reached each state, and activity per period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from hi_widgets.api.tables import changed_at
from hi_widgets.plots._timeline_layout import (
    _date_numbers,
)
from hi_widgets.plots.axes import _new_axes, _no_data, _require, _utc_date_axis
from hi_widgets.plots.colors import (
    MISSING_COLOR,
    STATE_COLORS,
    status_color,
)
from hi_widgets.plots.timeline import _labels, _status_order

__all__ = ["plot_activity", "plot_state_counts"]


_MAX_PERIODS = 10_000


def plot_state_counts(
    df: pd.DataFrame, ax: Axes | None = None, *, by: str = "imageSetWorkflowStatus"
) -> Axes:
    """Draw the number of versions per workflow status (or state, or any column).

    Parameters
    ----------
    df
        A versions frame.
    ax
        Axes to draw on; default a new Figure (no pyplot).
    by
        Column to count: ``"imageSetWorkflowStatus"`` (default), ``"imageSetState"``,
        ``"storageTier"`` or any other column of ``df``.

    Returns
    -------
    matplotlib.axes.Axes
        Horizontal bars, one per value present (category order, missing values as
        ``(none)`` last), each labelled with its count; statuses and states in their
        :data:`STATUS_COLORS` / :data:`STATE_COLORS`.

    Raises
    ------
    ValueError
        If ``by`` is not a column of ``df``.

    Examples
    --------
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> ax = hw.plot_state_counts(versions)
    >>> ax.figure is not None
    True
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if by not in df.columns:
        raise ValueError(f"by must be a column of df, e.g. 'imageSetWorkflowStatus'; got {by!r}")
    values = df[by]
    present = _status_order(values) if len(df) else []
    ax = _new_axes(ax, height=min(8.0, 1.5 + 0.35 * max(len(present), 1)))
    if not present:
        return _no_data(ax)
    counts = values.astype(object).value_counts()  # missing values are counted apart
    heights = [int(values.isna().sum()) if s is None else int(counts.get(s, 0)) for s in present]
    palette = STATE_COLORS if by == "imageSetState" else None
    colors = [status_color(s, palette) for s in present]
    if by not in ("imageSetWorkflowStatus", "imageSetState"):
        colors = ["#4c72b0" if s is not None else MISSING_COLOR for s in present]
    labels = _labels(present)
    positions = np.arange(len(present))
    bars = ax.barh(positions, heights, color=colors, gid="counts")
    ax.bar_label(bars, padding=3, fontsize="small")
    ax.set_yticks(positions, labels)
    ax.set_ylim(len(present) - 0.5, -0.5)
    ax.set_xlabel("versions")
    ax.set_title(f"Versions by {by}", loc="left", fontsize="medium")
    ax.margins(x=0.12)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    return ax


_PERIOD_NAMES = {
    "s": "second",
    "S": "second",
    "min": "minute",
    "T": "minute",
    "h": "hour",
    "H": "hour",
    "D": "day",
    "B": "business day",
    "W": "week",
    "M": "month",
    "Q": "quarter",
    "Y": "year",
    "A": "year",
}


def _period_words(freqstr: str) -> str:
    """``"D"`` -> ``"day"``, ``"2W-SUN"`` -> ``"2 weeks"``; unknown aliases as given."""
    rule = freqstr.split("-")[0]
    count = rule.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    name = _PERIOD_NAMES.get(rule[len(count) :])
    if name is None:
        return freqstr
    return name if count in ("", "1") else f"{count} {name}s"


def plot_activity(df: pd.DataFrame, freq: str = "D", ax: Axes | None = None) -> Axes:
    """Draw the number of versions made or changed per period.

    Each version counts once, at its ``changedAt`` (``updatedAt``, or ``createdAt`` for a
    version 1 without it; see :func:`hi_widgets.api.tables.changed_at`). ``createdAt``
    alone would put every version at the image set's creation: AWS gives every version
    of an image set the same ``createdAt``.

    Parameters
    ----------
    df
        A versions frame (uses ``changedAt``, or ``updatedAt``, ``createdAt`` and
        ``versionId`` when it has no ``changedAt``; rows without a time are not counted).
    freq
        A pandas period alias: ``"h"``, ``"D"`` (default), ``"W"``, ``"M"``, ``"Q"``,
        ``"Y"``. Periods are taken in UTC; periods without versions show as gaps (zero).
    ax
        Axes to draw on; default a new Figure (no pyplot).

    Returns
    -------
    matplotlib.axes.Axes
        One bar per period from the first to the last version, spanning the period, on a
        concise UTC date axis.

    Raises
    ------
    ValueError
        If ``freq`` is not a period alias pandas knows, or would make more than 10,000
        bars (choose a coarser period).

    Examples
    --------
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> ax = hw.plot_activity(versions, freq="W")
    >>> ax.figure is not None
    True
    """
    if "changedAt" in df:
        times = df["changedAt"].dropna()
    else:
        _require(df, ("updatedAt",))
        times = changed_at(df).dropna()
    ax = _new_axes(ax, height=3.5)
    if len(times) == 0:
        return _no_data(ax)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    periods = times.dt.to_period(freq)
    first, last = periods.min(), periods.max()
    n_periods = (last.ordinal - first.ordinal) + 1
    if n_periods > _MAX_PERIODS:
        raise ValueError(
            f"freq={freq!r} gives {n_periods} periods (more than {_MAX_PERIODS}); "
            "choose a coarser freq such as 'D', 'W' or 'M'"
        )
    every = pd.period_range(first, last, freq=first.freq)
    counts = periods.value_counts().reindex(every, fill_value=0)
    starts = _date_numbers(pd.Series(every.start_time))
    ends = _date_numbers(pd.Series((every + 1).start_time))
    ax.bar(
        starts,
        counts.to_numpy(),
        width=(ends - starts) * 0.9,
        align="edge",
        color="#1f77b4",
        gid="activity",
    )
    _utc_date_axis(ax)
    ax.set_ylabel(f"versions per {_period_words(first.freqstr)}")
    ax.set_title(
        f"{int(counts.sum())} versions, by time made or last changed",
        loc="left",
        fontsize="medium",
    )
    locator: Any = ax.yaxis.get_major_locator()  # a MaxNLocator: it takes integer=
    locator.set_params(integer=True)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    return ax
