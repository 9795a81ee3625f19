"""FrameTable: a DataFrame as a paged HTML table with a row count."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import pandas as pd

from ._html import frame_html


class FrameTable(w.VBox):
    """A DataFrame shown as an HTML table, paged, with a row count.

    Parameters
    ----------
    noun
        Counted thing for the count label, e.g. ``"version"`` gives "57 versions".
    table_class, count_class
        CSS classes added to the table HTML widget and the count label.
    page_size
        Rows a page at first; the page-size dropdown offers 25, 50, 100, 500 and "All".
    columns
        Columns to show, in this order (default: all).
    hide_columns
        Columns not to show, e.g. identifiers that are the same in every row and shown
        above the table already.
    max_chars
        Longer cell texts are cut with ``…`` (whole text in the tooltip); see
        :func:`frame_html`.

    Notes
    -----
    The count label always gives the number of rows of the whole frame; the page label
    says which rows are on screen ("rows 1–50 of 57"). Choose "All" in the page-size
    dropdown (class ``hi-page-size``) to put every row in the table.
    """

    PAGE_SIZES: tuple[tuple[str, int], ...] = (
        ("25", 25),
        ("50", 50),
        ("100", 100),
        ("500", 500),
        ("All", 0),
    )

    def __init__(
        self,
        noun: str = "row",
        *,
        table_class: str = "hi-table",
        count_class: str | None = None,
        page_size: int = 50,
        columns: Sequence[str] | None = None,
        hide_columns: Sequence[str] = (),
        max_chars: int | None = 60,
    ) -> None:
        self.noun = noun
        self.columns = list(columns) if columns is not None else None
        self.hide_columns = tuple(hide_columns)
        self.max_chars = max_chars
        self.frame: pd.DataFrame | None = None
        self.page = 0
        self.count = w.Label(value=f"0 {noun}s")
        if count_class:
            self.count.add_class(count_class)
        # frame_html's own <div> scrolls both ways; the widget only gives it the width.
        self.table = w.HTML(value="", layout=w.Layout(width="100%"))
        self.table.add_class(table_class)
        self.page_size = w.Dropdown(
            options=list(self.PAGE_SIZES),
            value=page_size,
            description="Rows a page",
            layout=w.Layout(width="190px"),
            style={"description_width": "initial"},
        )
        self.page_size.add_class("hi-page-size")
        self.prev_button = w.Button(description="◀ Prev", disabled=True, layout={"width": "80px"})
        self.prev_button.add_class("hi-page-prev")
        self.next_button = w.Button(description="Next ▶", disabled=True, layout={"width": "80px"})
        self.next_button.add_class("hi-page-next")
        self.page_label = w.Label(value="")
        self.page_label.add_class("hi-page-label")
        self.prev_button.on_click(lambda _b: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _b: self.show_page(self.page + 1))
        self.page_size.observe(lambda _c: self.show_page(0), names="value")
        bar = w.HBox([self.count, self.prev_button, self.next_button, self.page_label])
        super().__init__([w.HBox([bar, self.page_size]), self.table])

    @property
    def pages(self) -> int:
        """Number of pages of the current frame (at least 1)."""
        n = 0 if self.frame is None else len(self.frame)
        size = self.page_size.value or max(n, 1)
        return max(1, -(-n // size))

    def set_frame(self, frame: pd.DataFrame | None) -> None:
        """Show a new frame from its first page (None clears the table)."""
        self.frame = frame
        n = 0 if frame is None else len(frame)
        self.count.value = f"{n} {self.noun}" + ("" if n == 1 else "s")
        self.show_page(0)

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based; clamped)."""
        self.page = max(0, min(page, self.pages - 1))
        frame = self.frame
        if frame is None:
            self.table.value = ""
            self.page_label.value = ""
            self.prev_button.disabled = self.next_button.disabled = True
            return
        if self.columns is not None:
            frame = frame[[c for c in self.columns if c in frame.columns]]
        if self.hide_columns:
            frame = frame.drop(columns=[c for c in self.hide_columns if c in frame.columns])
        size = self.page_size.value or max(len(frame), 1)
        start = self.page * size
        part = frame.iloc[start : start + size]
        self.table.value = frame_html(part, max_chars=self.max_chars)
        if len(frame):
            self.page_label.value = f"rows {start + 1}–{start + len(part)} of {len(frame)}"
        else:
            self.page_label.value = ""
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1
