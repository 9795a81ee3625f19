"""InteractiveTimeline: the version timeline on matplotlib's Jupyter canvas (ipympl).

Hovering a bar names the version (id, state, workflow status, times, message), clicking
it sets :attr:`InteractiveTimeline.selected_version`, and the toolbar zooms and pans.
The figure is made without pyplot (no global figure list, nothing shown twice); the
static PNG (:func:`hi_widgets.plots.timeline.timeline_png`) stays the fallback for exports and
front ends without widgets.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import pandas as pd
import traitlets
from matplotlib.figure import Figure

from hi_widgets.plots.timeline import plot_version_timeline, timeline_height, timeline_versions
from hi_widgets.widgets._frontend import WidthProbe
from hi_widgets.widgets._html import format_cell, format_duration

__all__ = ["InteractiveTimeline", "interactive_height", "tooltip_text", "version_text"]

WIDTH_INCHES = 10.0  # until the front end says how wide the output area is
MIN_WIDTH_INCHES = 4.0
DPI = 100
TOOLBAR_PX = 64  # ipympl's toolbar on the left of the canvas, with its margins
ROW_PX = 11  # a version's row on the interactive timeline: bars about 9 px, easy to hover
MAX_HEIGHT_INCHES = 12.0
PICK_RADIUS = 3.0  # points around a bar that still hover it


def interactive_height(frame: pd.DataFrame) -> float:
    """Figure height (inches) of the interactive timeline: rows tall enough to hover.

    The static plot (:func:`hi_widgets.plots.timeline.timeline_height`) packs up to 5
    inches; on screen each row gets at least :data:`ROW_PX` (up to 12 inches).
    """
    rows = len(timeline_versions(frame)) if len(frame) else 0
    if len(frame) and frame[["datastoreId", "imageSetId"]].drop_duplicates().shape[0] > 1:
        rows = frame[["datastoreId", "imageSetId"]].drop_duplicates().shape[0]
    wanted = 1.3 + rows * ROW_PX / DPI
    return max(timeline_height(frame), min(MAX_HEIGHT_INCHES, wanted))


def version_text(row: pd.Series) -> str:
    """One line about a version.

    ``v12 · ACTIVE · UPDATED · last changed … · 5 min 29 s after the previous version ·
    image set created … · message``. ``createdAt`` is the image set's creation time (the
    same on every version), so it is named as such; no duration is shown, since AWS does
    not say when an operation started.
    """
    parts = [f"v{row.get('versionId')}"]
    for column in ("imageSetState", "imageSetWorkflowStatus"):
        value = row.get(column)
        if value is not None and not pd.isna(value):
            parts.append(str(value))
    updated = format_cell(row.get("updatedAt"))
    if updated:
        parts.append(f"last changed {updated}")
    since = format_duration(row.get("sincePrevious"))
    if since:
        parts.append(f"{since} after the previous version")
    created = format_cell(row.get("createdAt"))
    if created:
        parts.append(f"image set created {created}")
    message = row.get("message")
    if message is not None and not pd.isna(message) and str(message):
        parts.append(str(message))
    return " · ".join(parts)


def tooltip_text(row: pd.Series, width: int = 48) -> str:
    """:func:`version_text` as the in-plot tooltip shows it, whole: wrapped, not cut.

    Version, state and workflow status share the first line; each other fact (times,
    message) starts a line of its own, wrapped at ``width`` characters.
    """
    parts = version_text(row).split(" · ")
    head = [p for p in parts[:3] if not p.startswith(("created ", "updated ", "took "))]
    rest = parts[len(head) :]
    lines = [line for part in rest for line in textwrap.wrap(part, width) or [""]]
    return "\n".join([" · ".join(head), *lines])


class InteractiveTimeline(w.VBox):
    """A versions frame's timeline with hover, click-to-select, zoom and pan.

    Parameters
    ----------
    css_class
        Class added to the canvas widget.

    Attributes
    ----------
    selected_version : int or None
        Traitlet: the version last clicked (or set with :meth:`highlight`).
    hovered_version : int or None
        Traitlet: the version under the mouse.
    hover : ipywidgets.HTML
        Says which version is under the mouse (class ``hi-timeline-hover``).
    canvas : ipympl.backend_nbagg.Canvas
        The figure's widget (class ``hi-timeline-canvas``).
    rows : pandas.DataFrame
        The versions in bar order (:func:`hi_widgets.plots.timeline.timeline_versions`).
    """

    selected_version = traitlets.Int(None, allow_none=True)
    hovered_version = traitlets.Int(None, allow_none=True)

    def __init__(self, css_class: str = "hi-timeline") -> None:
        # ipympl loads IPython display machinery: only when a timeline is built.
        from ipympl.backend_nbagg import Canvas, FigureManager

        self.width_inches = WIDTH_INCHES
        self.figure = Figure(figsize=(WIDTH_INCHES, 2.25), dpi=DPI)
        self.canvas = Canvas(self.figure)
        # A manager without pyplot's Gcf: the canvas needs one to answer the front end.
        self._manager = FigureManager(self.canvas, 0)
        self.canvas.header_visible = False
        self.canvas.footer_visible = False
        self.canvas.resizable = False
        self.canvas.toolbar_visible = "visible"
        self.canvas.toolbar_position = "left"
        self.canvas.add_class("hi-timeline-canvas")
        self.canvas.add_class(css_class)
        self.hover = w.HTML(value="<i>Hover over a version for details; click to select it.</i>")
        self.hover.add_class("hi-timeline-hover")
        self.rows = pd.DataFrame()
        self.frame: pd.DataFrame | None = None
        self._bars: Any = None
        self._annotation: Any = None
        # The figure is drawn in the kernel at a size in inches: the probe says how wide
        # the output area is (JupyterLab with its side panel open is narrower than 1280).
        self.probe = WidthProbe()
        self.probe.add_class("hi-timeline-probe")
        self.probe.observe(self._area_resized, names="width")
        super().__init__([self.hover, self.probe, self.canvas], layout=w.Layout(width="100%"))
        self.add_class("hi-interactive-timeline")

    def fit(self, width_px: int) -> None:
        """Make the figure ``width_px`` wide (CSS pixels; at least 4 inches), keeping the zoom."""
        inches = max(MIN_WIDTH_INCHES, width_px / DPI)
        if abs(inches - self.width_inches) * DPI < 8:
            return
        self.width_inches = inches
        if self.frame is not None:
            self._draw(self.selected_version, keep_view=True)

    def _area_resized(self, change: Mapping[str, Any]) -> None:
        if change["new"] > 0:
            self.fit(int(change["new"]) - TOOLBAR_PX)

    def set_frame(self, frame: pd.DataFrame, highlight_version_id: int | None = None) -> None:
        """Draw ``frame``'s timeline (zoom is reset), optionally outlining a version."""
        self.frame = frame
        self._draw(highlight_version_id, keep_view=False)

    def highlight(self, version: int | None) -> None:
        """Outline ``version`` (keeping the zoom) and make it :attr:`selected_version`."""
        self.selected_version = version
        if self.frame is not None:
            self._draw(version, keep_view=True)

    def _draw(self, highlight_version_id: int | None, keep_view: bool) -> None:
        frame = self.frame
        if frame is None:
            return
        view = None
        if keep_view and self.figure.axes:
            view = (self.figure.axes[0].get_xlim(), self.figure.axes[0].get_ylim())
        # Draw on a new figure and swap it in only when drawing worked: a failure leaves
        # the timeline on screen as it was.
        figure = Figure(figsize=(self.width_inches, interactive_height(frame)), dpi=DPI)
        ax = figure.add_subplot()
        plot_version_timeline(frame, ax=ax, highlight_version_id=highlight_version_id)
        figure.tight_layout()
        if view is not None:
            ax.set_xlim(view[0])
            ax.set_ylim(view[1])
        figure.set_canvas(self.canvas)
        self.canvas.figure = self.figure = figure
        # Canvas callbacks live on the figure: connect them to each new one.
        self.canvas.mpl_connect("motion_notify_event", self._on_move)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.rows = timeline_versions(frame).reset_index(drop=True)
        self._bars = next((c for c in ax.collections if c.get_gid() == "versions"), None)
        if self._bars is not None:
            # A few points of slack make thin bars easy to hover; of two bars in reach,
            # version_at takes the nearer.
            self._bars.set_pickradius(PICK_RADIUS)
        self._annotation = ax.annotate(
            "",
            xy=(0, 0),
            xytext=(12, 12),
            textcoords="offset points",
            fontsize="small",
            bbox={"boxstyle": "round", "fc": "#ffffe0", "ec": "0.5"},
            zorder=10,
            visible=False,
            annotation_clip=False,
        )
        width, height = self.figure.bbox.size
        self._manager.resize(width, height)
        self.canvas.draw_idle()

    def version_at(self, event: Any) -> int | None:
        """Return the index in :attr:`rows` of the bar under a mouse event, or None."""
        if self._bars is None or event.inaxes is None:
            return None
        hit, info = self._bars.contains(event)
        if not hit or not len(info.get("ind", ())):
            return None
        paths = self._bars.get_paths()
        y = event.ydata

        def distance(index: int) -> float:
            ys = paths[index].vertices[:, 1]
            return float(max(ys.min() - y, y - ys.max(), 0.0))  # 0 inside the bar

        # The nearest bar (by its edge); among equals, the last drawn, which is on top.
        return min(reversed([int(i) for i in info["ind"]]), key=distance)

    def _on_move(self, event: Any) -> None:
        index = self.version_at(event)
        version = None if index is None else int(self.rows["versionId"].iloc[index])
        if version == self.hovered_version:
            return
        self.hovered_version = version
        if index is None:
            self._annotation.set_visible(False)
        else:
            row = self.rows.iloc[index]
            text = version_text(row)
            self.hover.value = f"<span class='hi-timeline-hover-text'>{html.escape(text)}</span>"
            self._place_annotation(event, tooltip_text(row))
        self.canvas.draw_idle()

    def _place_annotation(self, event: Any, text: str) -> None:
        """Show ``text`` beside the mouse, on the side where it stays inside the axes.

        Right of the mouse it would run over the legend (or off the figure) near the
        right edge, below it off the bottom: it opens towards the middle of the axes.
        """
        ax = event.inaxes
        x0, y0, width, height = ax.bbox.bounds
        right = event.x < x0 + width / 2
        above = event.y < y0 + height / 2
        annotation = self._annotation
        annotation.xy = (event.xdata, event.ydata)
        annotation.set_text(text)
        annotation.set_position((12 if right else -12, 12 if above else -12))
        annotation.set_horizontalalignment("left" if right else "right")
        annotation.set_verticalalignment("bottom" if above else "top")
        annotation.set_visible(True)

    def _on_click(self, event: Any) -> None:
        toolbar = self._manager.toolbar
        if event.button != 1 or (toolbar is not None and str(getattr(toolbar, "mode", ""))):
            return  # zooming or panning, not choosing
        index = self.version_at(event)
        if index is not None:
            self.highlight(int(self.rows["versionId"].iloc[index]))
