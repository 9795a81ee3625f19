"""What every plot shares: new Axes, the empty state, checks, the UTC axis, PNG output.

Without an Axes a plot makes a new :class:`matplotlib.figure.Figure` with an Agg canvas: no
pyplot, no figure manager, nothing global, so plots are safe to make in threads and in
widget callbacks and never show twice in a notebook. Such a Figure, and the Axes returned,
show themselves as a PNG in Jupyter when they are the last expression of a cell;
:func:`figure_to_png` gives the bytes.
"""

from __future__ import annotations

import io
from datetime import timezone

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hi_widgets.plots._timeline_layout import (
    _root_figure,
)

__all__ = ["NO_DATA_TEXT", "figure_to_png"]

NO_DATA_TEXT = "No versions to show"
"""Text an Axes shows when the frame has no rows to plot."""


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
            "hi_widgets.api.tables.versions_frame()"
        )


def _utc_date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(tz=timezone.utc)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=timezone.utc)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("time (UTC)")


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
