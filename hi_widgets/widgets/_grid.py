"""FrameGrid: a DataFrame in an interactive data grid (itables' DataTables widget).

Why itables' ``ITable``: it is an anywidget whose JavaScript (DataTables with its
ColumnControl, FixedColumns and Scroller extensions) ships inside the Python package, so
it works offline and needs no front-end extension in JupyterLab 4, Notebook 7 and Voila;
it sorts, filters, keeps the header in view, scrolls inside its own box and pins
columns. ipydatagrid also does most of this but needs its lab extension and has had no
release since 2024-12.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import pandas as pd
from itables.widget import ITable

from hi_widgets.widgets._html import format_cell, format_duration

__all__ = ["GRID_KEYS", "VERSION_KEY_COLUMNS", "FrameGrid", "display_frame"]

GRID_KEYS = (33, 34, 35, 36, 37, 38, 39, 40)
"""Key codes KeyTable handles in a grid: Page Up/Down, End, Home and the arrow keys."""

VERSION_KEY_COLUMNS = ("versionId", "imageSetState", "imageSetWorkflowStatus", "updatedAt")
"""Columns of a versions frame that come first and stay visible at 1280 px."""


def display_frame(
    frame: pd.DataFrame,
    *,
    key_columns: Sequence[str] = (),
    hide_columns: Sequence[str] = (),
    html_columns: Sequence[str] = (),
    clip_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Return ``frame`` as the grid shows it: key columns first, cells as readable text.

    Timestamps become compact UTC (``2025-03-01 12:00:05Z``, which also sorts right),
    time differences such as ``sincePrevious`` ``1 min 46 s`` (an ordered categorical,
    which the grid sorts by length),
    missing values blank; integers stay numbers so they sort as numbers. With
    ``html_columns`` those columns are passed as HTML and every other text is escaped;
    ``clip_columns`` are cut with an ellipsis, their whole text as a tooltip (HTML too).
    """
    html_columns = (*html_columns, *clip_columns)
    frame = frame.drop(columns=[c for c in hide_columns if c in frame.columns])
    first = [c for c in key_columns if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    shown: dict[str, Any] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_timedelta64_dtype(series):
            shown[column] = _durations_in_order(series)
        elif pd.api.types.is_integer_dtype(series) and not series.isna().any():
            shown[column] = series.astype("int64")
        else:
            texts = [format_cell(v) for v in series]
            if column in clip_columns:
                texts = [_clipped(t) for t in texts]
            elif html_columns and column not in html_columns:
                texts = [html.escape(t) for t in texts]
            shown[column] = texts
    result: pd.DataFrame = pd.DataFrame(
        shown, index=range(len(frame)), columns=list(frame.columns)
    )
    return result


def _clipped(text: str) -> str:
    escaped = html.escape(text, quote=True)
    return f"<span class='hi-cell-clip' title='{escaped}'>{escaped}</span>" if text else ""


def _durations_in_order(series: pd.Series) -> pd.Categorical:
    # itables sorts an ordered categorical by its rank: categories in duration order make
    # "2 h 5 min" sort after "4.2 s", as text they would not. Formatting is monotonic, so
    # each wording covers one run of the sorted values.
    texts = [format_duration(v) for v in series]
    ordered = dict.fromkeys(format_duration(v) for v in series.dropna().sort_values())
    return pd.Categorical([t or None for t in texts], categories=list(ordered), ordered=True)


class FrameGrid(w.VBox):
    """A DataFrame in a sortable, filterable grid with a row count.

    Parameters
    ----------
    noun
        Counted thing for the count label, e.g. ``"version"`` gives "57 versions".
    grid_class, count_class
        CSS classes added to the grid widget (and this box) and the count label.
    key_columns
        Columns shown first; the first of them is pinned while scrolling sideways.
    hide_columns
        Columns not to show (e.g. identifiers shown above the grid already).
    height
        CSS height of the rows' area; rows scroll inside it under a fixed header.
    html_columns
        Columns whose cells are HTML (e.g. with a ``title`` tooltip); the rest is escaped.
    clip_columns
        Long text columns (messages): cut with an ellipsis, the whole text as a tooltip.
    scroll
        Rows scroll inside ``height`` under a fixed header, the first key column pinned.
        DataTables then draws the header as a table of its own, sized when drawn: a grid
        drawn in a hidden tab (a batch's errors) would not line up, so it takes False
        (one table, pages of rows).
    select
        Let the user select one row (see ``grid.selected_rows``).

    Attributes
    ----------
    frame : pandas.DataFrame or None
        The frame given to :meth:`set_frame`.
    shown : pandas.DataFrame or None
        What the grid holds (see :func:`display_frame`).
    count : ipywidgets.Label
    grid : itables.widget.ITable
    """

    def __init__(
        self,
        noun: str = "row",
        *,
        grid_class: str = "hi-grid",
        count_class: str | None = None,
        key_columns: Sequence[str] = (),
        hide_columns: Sequence[str] = (),
        height: str = "420px",
        html_columns: Sequence[str] = (),
        clip_columns: Sequence[str] = (),
        select: bool = False,
        scroll: bool = True,
    ) -> None:
        self.noun = noun
        self.html_columns = tuple(html_columns)
        self.clip_columns = tuple(clip_columns)
        self.key_columns = tuple(key_columns)
        self.hide_columns = tuple(hide_columns)
        self.frame: pd.DataFrame | None = None
        self.shown: pd.DataFrame | None = None
        self.count = w.Label(value=f"0 {noun}s")
        if count_class:
            self.count.add_class(count_class)
        self.note = w.HTML(value="")
        self.note.add_class("hi-grid-note")
        self._options: dict[str, Any] = {
            "classes": "display compact nowrap cell-border",
            "scrollX": True,
            "scrollY": height,
            "scrollCollapse": True,
            "paging": True,
            "pageLength": 100,
            "lengthMenu": [25, 50, 100, 500, 2000],
            "fixedColumns": {"left": 1},
            "columnControl": ["order", "searchDropdown"],
            "ordering": {"indicators": False, "handler": False},
            # DataTables sizes the header (a table of its own) from the rows when it
            # draws them; a grid drawn in a hidden tab gets a header 0 px wide. Only with
            # autoWidth does it watch its box and size the header again when shown.
            "autoWidth": True,
            "showIndex": False,
            "maxBytes": 0,  # never down-sample: every row is reachable
            "style": "width:100%;margin:0",
            # KeyTable: the arrow keys, Home and End move a focused cell, which
            # static/page_fixes.js scrolls into view (KeyTable's own scrolling does not
            # work here), so every row is readable without a mouse. In a grid that
            # scrolls, KeyTable leaves Page Up/Down to the browser: they scroll the rows.
            # Tab is not among its keys: it leaves the grid instead of walking every cell.
            "keys": {"keys": list(GRID_KEYS), "blurable": True},
        }
        if not scroll:
            for option in ("scrollX", "scrollY", "scrollCollapse", "fixedColumns"):
                del self._options[option]
        if html_columns or clip_columns:
            self._options["allow_html"] = True
        if select:
            self._options["select"] = {"style": "single"}
        self.grid_class = grid_class
        # The DataTables widget is made with the first frame: each one loads a large
        # script in the browser, and anywidget gives a model two seconds to start, which
        # a page of empty grids on a busy machine overran. Until then, a line of text
        # (an empty DataTable is also a header without names).
        self._grid: ITable | None = None
        self._on_select: list[Any] = []
        self.empty = w.HTML(value=f"<i>No {noun}s yet.</i>")
        self.empty.add_class("hi-grid-empty")
        self._header = w.HBox([self.count, self.note])
        super().__init__([self._header, self.empty], layout=w.Layout(width="100%"))
        self.add_class(grid_class)  # the grid's class is on the box too, grid or not

    @property
    def grid(self) -> ITable:
        """The itables DataTables widget (made on first use)."""
        if self._grid is None:
            self._make_grid(pd.DataFrame({f"no {self.noun}s yet": []}), self._options)
        assert self._grid is not None
        return self._grid

    def _make_grid(self, shown: pd.DataFrame, options: dict[str, Any]) -> None:
        grid = ITable(shown, **options)
        grid.add_class("hi-grid")
        grid.add_class(self.grid_class)
        grid.layout = w.Layout(width="100%")
        for callback in self._on_select:
            grid.observe(callback, names="selected_rows")
        self._grid = grid
        self.children = [self._header, grid]

    def on_select(self, callback: Any) -> None:
        """Call ``callback(change)`` when the user selects rows (``selected_rows``)."""
        self._on_select.append(callback)
        if self._grid is not None:
            self._grid.observe(callback, names="selected_rows")

    def set_frame(self, frame: pd.DataFrame | None, note: str = "") -> None:
        """Show a new frame (None clears the grid); ``note`` is shown next to the count."""
        self.frame = frame
        n = 0 if frame is None else len(frame)
        self.count.value = f"{n} {self.noun}" + ("" if n == 1 else "s")
        self.shown = (
            None
            if frame is None
            else display_frame(
                frame,
                key_columns=self.key_columns,
                hide_columns=self.hide_columns,
                html_columns=self.html_columns,
                clip_columns=self.clip_columns,
            )
        )
        options = dict(self._options)
        if self.shown is not None:
            # itables sends a categorical as its rank but lets DataTables guess the type
            # from the text: ranks would then sort as text ("10" before "2").
            ranked = [
                i
                for i, dtype in enumerate(self.shown.dtypes)
                if isinstance(dtype, pd.CategoricalDtype)
            ]
            if ranked:
                options["columnDefs"] = [{"targets": ranked, "type": "num"}]
        if self.shown is None:
            if self._grid is not None:
                self._grid.update(pd.DataFrame({f"no {self.noun}s yet": []}), **options)
        elif self._grid is None:
            self._make_grid(self.shown, options)
        else:
            self._grid.update(self.shown, **options)
        self.set_note(note)

    def set_note(self, note: str, kind: str = "warning") -> None:
        """Say something about the rows shown, e.g. that they belong to earlier inputs."""
        color = "#8a5300" if kind == "warning" else "inherit"
        self.note.value = (
            f"<span class='hi-grid-note-{kind}' style='color:{color};margin-left:1em'>"
            f"{html.escape(note)}</span>"
            if note
            else ""
        )
