"""Matplotlib plots of version-history frames (see :func:`hi_widgets.frames.versions_frame`).

Every function takes an optional Axes and returns the Axes it drew on. Without one it
makes a new :class:`matplotlib.figure.Figure` with an Agg canvas: no pyplot, no figure
manager, nothing global, so plots are safe to make in threads and in widget callbacks and
never show twice in a notebook. Such a Figure, and the Axes returned, show themselves as
a PNG in Jupyter when they are the last expression of a cell (``plot_activity(df)``, no
trailing semicolon, or ``ax.figure``); :func:`figure_to_png` gives the bytes. Each plot
handles an empty frame (the Axes says so) and a frame of one row.

Workflow statuses have fixed colours (:data:`STATUS_COLORS`): blues for creation, greens
for finished updates, oranges for work in progress, purples for imports, reds for
failures, greys and black for deletion. Values the model does not know get a stable
colour from their name.
"""

from __future__ import annotations

import io
from datetime import timezone
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba, to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._plot_colors import (
    FAILURE_EDGE,
    HIGHLIGHT_EDGE,
    MISSING_COLOR,
    MISSING_LABEL,
    STATE_COLORS,
    STATUS_COLORS,
    is_failure,
    status_color,
)
from ._timeline_layout import (
    _date_numbers,
    _root_figure,
    _short_id,
    _thin_ticks,
    _timeline_rows,
    timeline_height,
    timeline_versions,
)

__all__ = [
    "NO_DATA_TEXT",
    "STATUS_COLORS",
    "figure_to_png",
    "plot_activity",
    "plot_state_counts",
    "plot_version_timeline",
    "status_color",
    "timeline_height",
    "timeline_png",
    "timeline_versions",
]

NO_DATA_TEXT = "No versions to show"
"""Text an Axes shows when the frame has no rows to plot."""

_MAX_PERIODS = 10_000


class _DisplayFigure(Figure):
    """A Figure that Jupyter shows as a PNG, without pyplot or a figure manager."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


class _DisplayAxes(Axes):
    """Axes that Jupyter shows as the PNG of their figure, when a cell ends with a plot."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def _new_axes(ax: Axes | None, height: float = 4.0) -> Axes:
    if ax is not None:
        return ax
    figure = _DisplayFigure(figsize=(9.0, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot(axes_class=_DisplayAxes)


def _no_data(ax: Axes, text: str = NO_DATA_TEXT) -> Axes:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _require(df: pd.DataFrame, columns: tuple[str, ...]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(
            f"df lacks the column(s) {', '.join(missing)}; build it with "
            "hi_widgets.frames.versions_frame()"
        )


def _utc_date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("time (UTC)")


def _status_order(statuses: pd.Series) -> list[Any]:
    """Present statuses, in category order (model enum, then unknown), missing last."""
    if isinstance(statuses.dtype, pd.CategoricalDtype):
        counts = statuses.value_counts(sort=False)
        present: list[Any] = [value for value, count in counts.items() if count > 0]
    else:
        present = sorted(statuses.dropna().astype(str).unique())
    if statuses.isna().any():
        present.append(None)
    return present


def _labels(values: list[Any]) -> list[str]:
    return [MISSING_LABEL if value is None else str(value) for value in values]


def plot_version_timeline(
    df: pd.DataFrame, ax: Axes | None = None, *, highlight_version: int | None = None
) -> Axes:
    """Draw each version as a bar in time, coloured by workflow status.

    Rows: one per image set, earliest first; for a frame of a single image set, one per
    version instead (labelled ``v1``, ``v2``, ...). Image set rows are labelled with the
    first 8 characters of the id and ``…``. With more rows than labels fit the axes'
    height, only the first and every n-th row are labelled (n = 2, 5, 10, 20, 25, ...).

    A bar runs from the version's ``createdAt`` to the ``createdAt`` of the next version
    of the same image set, i.e. the time it was the current version, so the bars of an
    image set tile its row without overlapping. The latest version's bar runs to its
    ``updatedAt`` or ``deletedAt``, whichever is later. A missing ``createdAt`` uses the
    ``updatedAt``. Bars shorter than 0.4 % of the time span are widened to it so that
    every version stays visible.

    Marks: failed versions (``*_FAILED``) get a dark red edge and a red ``X`` at the end
    of the bar; versions with a ``deletedAt`` get a black ``▼`` there;
    ``highlight_version`` outlines that version (in every image set). The legend lists
    the statuses present (missing status as ``(none)``). The x axis is a concise date
    axis in UTC.

    Parameters
    ----------
    df
        A versions frame (:func:`hi_widgets.frames.versions_frame`).
    ax
        Axes to draw on; default a new Figure (no pyplot).
    highlight_version
        A versionId to outline, e.g. the one selected in a version browser.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes. Artists carry ids for tests and widgets: the bars are the
        ``PolyCollection`` with gid ``"versions"``, then ``"failures"``,
        ``"deletions"`` (scatter) and ``"highlight"`` (PolyCollection) when present.

    Examples
    --------
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> ax = hw.plot_version_timeline(versions)
    >>> ax.get_xlabel()
    'time (UTC)'
    """
    _require(df, ("datastoreId", "imageSetId", "versionId", "createdAt", "updatedAt"))
    ax = _new_axes(ax, height=timeline_height(df))
    if len(df) == 0:
        return _no_data(ax)
    frame, labels, single = _timeline_rows(df)
    plotted = frame[~np.isnan(frame["_start"].to_numpy())]
    if len(plotted) == 0:
        return _no_data(ax, "No version has a time to show")

    start = plotted["_start"].to_numpy()
    end = plotted["_end"].to_numpy()
    span = float(np.nanmax(end) - np.nanmin(start))
    min_width = span * 0.004 if span > 0 else 1.0 / 24.0
    end = np.maximum(end, start + min_width)
    y = plotted["_row"].to_numpy(dtype=float)
    half = 0.4 if not single else 0.35
    verts = np.stack(
        [
            np.column_stack([start, y - half]),
            np.column_stack([start, y + half]),
            np.column_stack([end, y + half]),
            np.column_stack([end, y - half]),
        ],
        axis=1,
    )

    status_column = "imageSetWorkflowStatus"
    statuses = (
        plotted[status_column]
        if status_column in plotted
        else pd.Series([None] * len(plotted), index=plotted.index, dtype=object)
    )
    present = _status_order(statuses)
    palette = to_rgba_array([status_color(s) for s in present])
    keys = statuses.astype(object).where(statuses.notna(), None).to_numpy()
    index_of = {s: i for i, s in enumerate(present)}
    codes = np.fromiter((index_of[k] for k in keys), dtype=int, count=len(keys))
    failed = np.fromiter((is_failure(k) for k in keys), dtype=bool, count=len(keys))

    # Marks shrink with the row height so that thousands of rows stay readable.
    dense = len(labels) > 60
    marker_size = max(4.0, 36.0 * 60.0 / len(labels)) if dense else 36.0
    edge = np.tile(to_rgba("white", 0.6), (len(plotted), 1))
    edge[failed] = to_rgba(FAILURE_EDGE)
    widths = np.where(failed, 0.6 if dense else 1.5, 0.0 if dense else 0.3)
    bars = PolyCollection(
        list(verts), facecolors=palette[codes], edgecolors=edge, linewidths=widths, gid="versions"
    )
    ax.add_collection(bars, autolim=True)

    if failed.any():
        ax.scatter(
            end[failed],
            y[failed],
            marker="X",
            s=marker_size,
            color="#de2d26",
            edgecolors=FAILURE_EDGE,
            linewidths=0.0 if dense else 0.5,
            zorder=3,
            gid="failures",
        )
    deleted = plotted["_deleted"].to_numpy()
    has_deleted = ~np.isnan(deleted)
    if has_deleted.any():
        ax.scatter(
            deleted[has_deleted],
            y[has_deleted],
            marker="v",
            s=marker_size * 1.1,
            color="black",
            zorder=4,
            gid="deletions",
        )
    if highlight_version is not None:
        chosen = (plotted["versionId"] == highlight_version).fillna(False).to_numpy(dtype=bool)
        if chosen.any():
            ax.add_collection(
                PolyCollection(
                    verts[chosen].copy(),
                    facecolors="none",
                    edgecolors=HIGHLIGHT_EDGE,
                    linewidths=2.5,
                    zorder=5,
                    gid="highlight",
                )
            )

    handles = [
        Patch(
            facecolor=palette[i],
            edgecolor=FAILURE_EDGE if is_failure(s) else "none",
            linewidth=1.5 if is_failure(s) else 0,
            label=label,
        )
        for i, (s, label) in enumerate(zip(present, _labels(present), strict=True))
    ]
    ax.legend(
        handles=handles,
        title="workflow status",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )
    ax.update_datalim(np.column_stack([[np.nanmin(start), np.nanmax(end)], [0, 0]]))
    ax.autoscale_view(scaley=False)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    _thin_ticks(ax, labels)
    _utc_date_axis(ax)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if single:
        ax.set_ylabel("version")
        ax.set_title(
            f"Image set {_short_id(plotted['imageSetId'].iloc[0])}: {len(plotted)} version(s)",
            loc="left",
            fontsize="medium",
        )
    else:
        ax.set_ylabel("image set")
        ax.set_title(
            f"{len(labels)} image sets, {len(plotted)} versions", loc="left", fontsize="medium"
        )
    return ax


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
    """Draw the number of versions created per period.

    Parameters
    ----------
    df
        A versions frame (uses ``createdAt``; rows without it are not counted).
    freq
        A pandas period alias: ``"h"``, ``"D"`` (default), ``"W"``, ``"M"``, ``"Q"``,
        ``"Y"``. Periods are taken in UTC; periods without versions show as gaps (zero).
    ax
        Axes to draw on; default a new Figure (no pyplot).

    Returns
    -------
    matplotlib.axes.Axes
        One bar per period from the first to the last version created, spanning the
        period, on a concise UTC date axis.

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
    _require(df, ("createdAt",))
    created = df["createdAt"].dropna()
    ax = _new_axes(ax, height=3.5)
    if len(created) == 0:
        return _no_data(ax)
    if isinstance(created.dtype, pd.DatetimeTZDtype):
        created = created.dt.tz_convert("UTC").dt.tz_localize(None)
    periods = created.dt.to_period(freq)
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
    ax.set_ylabel(f"versions created per {_period_words(first.freqstr)}")
    ax.set_title(f"{int(counts.sum())} versions created", loc="left", fontsize="medium")
    locator: Any = ax.yaxis.get_major_locator()  # a MaxNLocator: it takes integer=
    locator.set_params(integer=True)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    return ax


def figure_to_png(figure: Figure | Axes, *, dpi: float = 100, width: float | None = None) -> bytes:
    """Render a figure to PNG bytes with Agg (no pyplot), e.g. for an ``Image`` widget.

    The image is cropped to what is drawn (``bbox_inches="tight"``): blank margins go,
    and labels or a legend placed outside the figure are kept whole rather than cut off.

    Parameters
    ----------
    figure
        The figure, or an Axes of it (e.g. what a plot function of this module returns).
    dpi
        Resolution.
    width
        Figure width in inches to render at (the height is kept); default as it is.

    Returns
    -------
    bytes
        The PNG file content.
    """
    fig = _root_figure(figure)
    if width is not None:
        fig.set_size_inches(width, fig.get_figheight())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


TIMELINE_WIDTH = 12.0
"""Width (inches) :func:`timeline_png` renders at: wider than most notebook containers, so
the browser scales the image down (sharp) rather than up."""
TIMELINE_DPI = 144


def timeline_png(frame: pd.DataFrame, *, highlight_version: int | None = None) -> bytes:
    """Plot a versions frame's timeline and return it as PNG bytes (the static fallback).

    Parameters
    ----------
    frame
        A versions frame (:func:`hi_widgets.frames.versions_frame`).
    highlight_version
        A version number to mark.

    Returns
    -------
    bytes
        PNG data, :data:`TIMELINE_WIDTH` inches wide at :data:`TIMELINE_DPI`.
    """
    ax = plot_version_timeline(frame, highlight_version=highlight_version)
    return figure_to_png(ax, dpi=TIMELINE_DPI, width=TIMELINE_WIDTH)
