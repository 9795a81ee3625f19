"""The version timeline: one bar per version on a time axis, coloured by workflow status.

A bar ends when AWS says the version was made or last changed (``updatedAt``; version 1
without it: the image set's ``createdAt``) and starts at the previous version's time: it
shows the time since the previous version, not how long an operation took (AWS does not
say when an operation started). ``createdAt`` is the image set's creation time, the same
on every version, so it never starts a bar.

Workflow statuses have fixed colours (:data:`~hi_widgets.plots.colors.STATUS_COLORS`):
blues for creation, greens for finished updates, oranges for work in progress, purples
for imports, reds for failures, greys and black for deletion. Values the model does not
know get a stable colour from their name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba, to_rgba_array
from matplotlib.patches import Patch

from hi_widgets.plots._timeline_layout import (
    _short_id,
    _thin_ticks,
    _timeline_rows,
    timeline_height,
    timeline_versions,
)
from hi_widgets.plots.axes import (
    _new_axes,
    _no_data,
    _require,
    _utc_date_axis,
    figure_to_png,
)
from hi_widgets.plots.colors import (
    FAILURE_EDGE,
    HIGHLIGHT_EDGE,
    MISSING_LABEL,
    is_failure,
    status_color,
)

__all__ = ["plot_version_timeline", "timeline_height", "timeline_png", "timeline_versions"]


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
    df: pd.DataFrame, ax: Axes | None = None, *, highlight_version_id: int | None = None
) -> Axes:
    """Draw each version as a bar in time, coloured by workflow status.

    Rows: one per image set, earliest first; for a frame of a single image set, one per
    version instead (labelled ``v1``, ``v2``, ...). Image set rows are labelled with the
    first 8 characters of the id and ``…``. With more rows than labels fit the axes'
    height, only the first and every n-th row are labelled (n = 2, 5, 10, 20, 25, ...).

    A bar ends at the version's ``changedAt`` (when it was made or last changed:
    ``updatedAt``, or ``createdAt`` for a version 1 without ``updatedAt``, see
    :func:`hi_widgets.api.tables.changed_at`) and starts at the ``changedAt`` of the
    previous version of the same image set: its length is the time since the previous
    version (``sincePrevious`` in the frame), so the bars of an image set tile its row
    without overlapping. It is *not* how long the operation took, which AWS does not
    report. A first version is a tick at its time. Bars shorter than 0.4 % of the time
    span are widened to it (to the left, so each still ends at its version's time) so
    that every version stays visible. Versions with no time at all are not drawn.

    Marks: failed versions (``*_FAILED``) get a dark red edge and a red ``X`` at the end
    of the bar (the time the failure was recorded); versions with a ``deletedAt`` get a
    black ``▼`` there;
    ``highlight_version_id`` outlines that version (in every image set). The legend lists
    the statuses present (missing status as ``(none)``). The x axis is a concise date
    axis in UTC.

    Parameters
    ----------
    df
        A versions frame (:func:`hi_widgets.api.tables.versions_frame`).
    ax
        Axes to draw on; default a new Figure (no pyplot).
    highlight_version_id
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
    _require(df, ("datastoreId", "imageSetId", "versionId", "updatedAt"))
    ax = _new_axes(ax, height=timeline_height(df))
    if len(df) == 0:
        return _no_data(ax)
    frame, labels, single = _timeline_rows(df)
    plotted = frame[~np.isnan(frame["_start"].to_numpy())]
    if len(plotted) == 0:
        return _no_data(ax, "No version has a time to show")

    start = plotted["_start"].to_numpy()
    end = plotted["_end"].to_numpy()
    deleted = plotted["_deleted"].to_numpy()
    right = float(np.nanmax(np.r_[end, deleted]))
    span = right - float(np.nanmin(start))
    min_width = span * 0.004 if span > 0 else 1.0 / 24.0
    start = np.minimum(start, end - min_width)
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
    if highlight_version_id is not None:
        chosen = (plotted["versionId"] == highlight_version_id).fillna(False).to_numpy(dtype=bool)
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
    ax.update_datalim(np.column_stack([[np.nanmin(start), max(right, np.nanmax(end))], [0, 0]]))
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


TIMELINE_WIDTH = 12.0
"""Width (inches) :func:`timeline_png` renders at: wider than most notebook containers, so
the browser scales the image down (sharp) rather than up."""
TIMELINE_DPI = 144


def timeline_png(df: pd.DataFrame, *, highlight_version_id: int | None = None) -> bytes:
    """Plot a versions frame's timeline and return it as PNG bytes (the static fallback).

    Parameters
    ----------
    df
        A versions frame (:func:`hi_widgets.api.tables.versions_frame`).
    highlight_version_id
        A version number to mark.

    Returns
    -------
    bytes
        PNG data, :data:`TIMELINE_WIDTH` inches wide at :data:`TIMELINE_DPI`.
    """
    ax = plot_version_timeline(df, highlight_version_id=highlight_version_id)
    return figure_to_png(ax, dpi=TIMELINE_DPI, width=TIMELINE_WIDTH)
