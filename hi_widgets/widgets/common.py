"""Building blocks shared by the hi_widgets widgets.

* :class:`StatusArea`: one message line plus a "Details" toggle; shows hi_widgets errors
  without a traceback.
* :class:`BackgroundRunner`: runs one job at a time in a thread, with a cancel Event, a
  progress bar, and buttons disabled while it runs (re-enabled in ``finally``).
* :class:`FrameTable`: a DataFrame as a paged HTML table with a row count.
* :class:`ExportPanel`: format, include-PHI, a browser download link and save-to-path.
* :class:`RunnerMixin`, :class:`ConnectedMixin`: busy / wait / cancel / close, the
  connection panel, datastore listing and result callbacks, written once for the widgets.
* :func:`figure_png`, :func:`download_link_html`, :func:`frame_html`, :func:`record_html`,
  :func:`plot_image`: plain functions the widgets use and a notebook can call too.

Thread rule: a worker thread only assigns widget traits (ipywidgets syncs them) and
never uses ``with output:``.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

import ipywidgets as w
import pandas as pd

from ..errors import HealthImagingError
from ..export import FORMATS, MEDIA_TYPES, export_frame, to_bytes

log = logging.getLogger("hi_widgets.widgets")

EAGER_DOWNLOAD_ROWS = 20_000
"""Above this many rows the download link is built only when "Prepare download" is pressed."""

__all__ = [
    "BackgroundRunner",
    "ConnectedMixin",
    "ExportPanel",
    "FrameTable",
    "RunnerMixin",
    "StatusArea",
    "download_link_html",
    "figure_png",
    "format_cell",
    "format_value",
    "frame_html",
    "plot_image",
    "record_html",
]

# --------------------------------------------------------------------------- formatting


def format_value(value: Any) -> str:
    """Return a readable text for one cell: ISO timestamps, blank for missing values."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists and other non-scalars
        pass
    if isinstance(value, datetime):  # pd.Timestamp too
        return value.isoformat()
    return str(value)


def record_html(record: Mapping[str, Any], *, css_class: str = "hi-record") -> str:
    """Render a record (one image set version) as a two-column HTML table.

    Parameters
    ----------
    record
        Field name to value; every field is shown, missing values as a dash.
    css_class
        Class of the ``<table>``.

    Returns
    -------
    str
        HTML; values are escaped.
    """
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(key))}</th>"
        f"<td>{html.escape(format_value(value)) or '—'}</td></tr>"
        for key, value in record.items()
    )
    return f"<table class='{css_class}'><tbody>{rows}</tbody></table>"


def format_cell(value: Any) -> str:
    """Return the short text of a table cell: timestamps as ``2025-03-01 12:00:05Z`` (UTC).

    Time zone aware timestamps are converted to UTC and end in ``Z``; naive ones are
    shown as they are, without the ``Z``. Everything else as :func:`format_value`.
    """
    text = format_value(value)
    if text and isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return text


_CELL_STYLE = "text-align:left;white-space:nowrap;padding:2px 10px 2px 4px"
_HEAD_STYLE = _CELL_STYLE + ";position:sticky;top:0;background:var(--jp-layout-color1,#fff)"


def _cell_html(value: Any, max_chars: int | None) -> str:
    text = format_cell(value)
    if max_chars and len(text) > max_chars:
        shown = text[: max_chars - 1].rstrip() + "…"
        title = html.escape(text, quote=True)
        return f"<td title=\"{title}\" style='{_CELL_STYLE}'>{html.escape(shown)}</td>"
    return f"<td style='{_CELL_STYLE}'>{html.escape(text)}</td>"


def frame_html(
    frame: pd.DataFrame,
    *,
    css_class: str = "hi-table",
    max_chars: int | None = 60,
    max_height: str | None = "480px",
) -> str:
    """Render a DataFrame as an escaped, scrollable HTML table.

    One ``<tr>`` a row inside ``<tbody>``; cells do not wrap, timestamps are compact UTC
    (:func:`format_cell`), missing values blank. The table sits in a ``<div>`` (class
    ``hi-table-scroll``) that scrolls sideways, so a wide table is never cut off, and
    down beyond ``max_height`` with the header row kept in view.

    Parameters
    ----------
    frame
        Any DataFrame.
    css_class
        Extra class of the ``<table>`` (its classes are ``dataframe`` and this one).
    max_chars
        Longer texts are cut to this many characters with ``…``; the whole text is the
        cell's ``title`` (a tooltip). None keeps every text whole.
    max_height
        CSS height beyond which the table scrolls; None for no limit.

    Returns
    -------
    str
        HTML.
    """
    head = "".join(f"<th style='{_HEAD_STYLE}'>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(_cell_html(value, max_chars) for value in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    height = f";max-height:{max_height};overflow-y:auto" if max_height else ""
    return (
        f"<div class='hi-table-scroll' style='overflow-x:auto;max-width:100%{height}'>"
        f"<table class='dataframe {html.escape(css_class, quote=True)}' "
        f"style='border-collapse:collapse'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def figure_png(figure: Any, *, dpi: int = 100, width: float | None = None) -> bytes:
    """Return a matplotlib Figure (or an Axes' figure) as PNG bytes, without pyplot.

    Parameters
    ----------
    figure
        A ``matplotlib.figure.Figure`` or an ``Axes``.
    dpi
        Resolution.
    width
        Figure width in inches to render at (the height is kept); default as it is.

    Returns
    -------
    bytes
        PNG data, for ``ipywidgets.Image(value=...)``.
    """
    figure = getattr(figure, "figure", figure) if not hasattr(figure, "savefig") else figure
    if width is not None:
        figure.set_size_inches(width, figure.get_figheight())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def plot_image(css_class: str, *, fill: bool = True) -> w.Image:
    """Return an empty PNG ``Image`` widget for a plot.

    Parameters
    ----------
    css_class
        Class added to the widget.
    fill
        Scale the image to the container's width (height in proportion); render the
        PNG at least that wide so it is scaled down, never blurred. With False the image
        keeps its own size, shrunk only when the container is narrower.

    Returns
    -------
    ipywidgets.Image
    """
    layout = (
        w.Layout(width="100%", height="auto", object_fit="contain")
        if fill
        else w.Layout(max_width="100%", height="auto")
    )
    image = w.Image(format="png", value=b"", layout=layout)
    image.add_class(css_class)
    return image


def download_link_html(data: bytes, filename: str, *, mime: str | None = None) -> str:
    """Return an ``<a download>`` link holding ``data`` as a base64 ``data:`` URL.

    Works in JupyterLab, Notebook and Voila without a server round trip.

    Parameters
    ----------
    data
        File contents.
    filename
        Name the browser saves the file under.
    mime
        Media type; default from the file extension.

    Returns
    -------
    str
        HTML of a link styled as a button (class ``hi-download-link``).
    """
    if mime is None:
        mime = MEDIA_TYPES.get(filename.rpartition(".")[2], "application/octet-stream")
    payload = base64.b64encode(data).decode("ascii")
    name = html.escape(filename, quote=True)
    return (
        f"<a class='hi-download-link jupyter-button mod-primary' download='{name}' "
        f"href='data:{mime};base64,{payload}' "
        f"style='padding:4px 12px;text-decoration:none;display:inline-block'>"
        f"Download {html.escape(filename)} ({len(data):,} bytes)</a>"
    )


# --------------------------------------------------------------------------- status


class StatusArea(w.VBox):
    """A status line (class ``hi-status``) with a "Details" toggle.

    Attributes
    ----------
    message : ipywidgets.HTML
        The status line. Its text is the error message itself (no traceback).
    details : ipywidgets.HTML
        Hidden until the toggle is pressed.
    """

    _COLORS: ClassVar[dict[str, str]] = {
        "error": "#b00020",
        "warning": "#8a5300",
        "info": "#1b5e20",
        "": "inherit",
    }

    def __init__(self) -> None:
        # The message takes the room left by the toggle and wraps (min_width 0 lets it
        # shrink), so a long message never pushes the toggle out of view.
        self.message = w.HTML(value="", layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.message.add_class("hi-status")
        self.toggle = w.ToggleButton(
            value=False,
            description="Details",
            layout=w.Layout(width="auto", flex="0 0 auto", display="none"),
        )
        self.toggle.add_class("hi-status-details-toggle")
        self.details = w.HTML(value="", layout=w.Layout(display="none"))
        self.details.add_class("hi-status-details")
        self.toggle.observe(self._on_toggle, names="value")
        self.kind = ""
        self.text = ""
        line = w.HBox(
            [self.message, self.toggle], layout=w.Layout(width="100%", align_items="flex-start")
        )
        super().__init__([line, self.details])

    def _on_toggle(self, change: Mapping[str, Any]) -> None:
        self.details.layout.display = "block" if change["new"] else "none"

    def show(self, text: str, kind: str = "info", details: str | None = None) -> None:
        """Show a message; ``kind`` is ``"info"``, ``"warning"``, ``"error"`` or ``""``."""
        color = self._COLORS.get(kind, "inherit")
        self.kind = kind
        self.text = text
        self.message.value = (
            f"<div class='hi-status-{kind or 'plain'}' style='color:{color};line-height:1.4;"
            f"white-space:normal;overflow-wrap:anywhere;padding:4px 0'>"
            f"{html.escape(text)}</div>"
            if text
            else ""
        )
        self.details.value = (
            f"<pre style='white-space:pre-wrap'>{html.escape(details)}</pre>" if details else ""
        )
        self.toggle.value = False
        self.toggle.layout.display = "inline-flex" if details else "none"

    def show_error(self, error: BaseException, *, context: str | None = None) -> None:
        """Show an exception: a hi_widgets error's message, or type and text otherwise.

        Details are ``error.details()`` for hi_widgets errors and the traceback for
        anything else (which is also logged, so it is never lost).
        """
        prefix = f"{context}: " if context else ""
        if isinstance(error, HealthImagingError):
            self.show(prefix + error.message, "error", error.details())
            return
        log.error("hi_widgets: %s", context or "widget action failed", exc_info=error)
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.show(f"{prefix}{type(error).__name__}: {error}", "error", details)

    def clear(self) -> None:
        """Remove the message."""
        self.show("", "")


# --------------------------------------------------------------------------- runner

ProgressFn = Callable[[int, "int | None"], None]


class BackgroundRunner:
    """Run one job at a time in a daemon thread, with progress, cancel and a status area.

    Parameters
    ----------
    status
        Where outcomes and errors are shown.
    on_busy_change
        Called (in the caller's or the worker's thread) with ``True`` when a job starts
        and ``False`` when it ended, so the owner can disable and re-enable its buttons.
    unit
        Word after the counts in the progress label ("versions", "image sets").

    Attributes
    ----------
    progress : ipywidgets.IntProgress
        Class ``hi-progress``; ``value`` is items done, ``max`` the total when known.
    progress_label : ipywidgets.Label
        "12 / 57 versions" while a job runs; afterwards its outcome ("Done: 57 / 57
        versions", "Cancelled at 12 / 57 versions", "Fetching versions failed").
    cancel_button : ipywidgets.Button
        Class ``hi-cancel``; enabled (and styled as a warning) only while a job runs.

    Notes
    -----
    Bar and label are hidden while nothing has run, and after a job that succeeded
    without reporting progress (listing datastores, connecting, searching).
    """

    def __init__(
        self,
        status: StatusArea,
        on_busy_change: Callable[[bool], None] | None = None,
        unit: str = "versions",
    ) -> None:
        self.status = status
        self.unit = unit
        self._on_busy_change = on_busy_change
        self.progress = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(width="40%", display="none")
        )
        self.progress.add_class("hi-progress")
        self.progress_label = w.Label(value="", layout=w.Layout(display="none"))
        self.progress_label.add_class("hi-progress-label")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.add_class("hi-cancel")
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.box = w.HBox([self.cancel_button, self.progress, self.progress_label])
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        self._reported = False
        self._label = ""
        self.last_error: BaseException | None = None

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self._running

    @property
    def cancel_event(self) -> threading.Event:
        """The Event of the current (or last) job; set by :meth:`cancel`."""
        return self._cancel

    def cancel(self) -> None:
        """Ask the running job to stop before its next request."""
        self._cancel.set()
        self._enable_cancel(False)
        if self.busy:
            self.status.show("Cancelling…", "warning")

    def report(self, done: int, total: int | None) -> None:
        """Progress callback for the data layer: ``(done, total or None)``."""
        self._reported = True
        if total:
            self.progress.max = max(int(total), 1)
            self.progress.value = min(int(done), self.progress.max)
            self.progress_label.value = f"{done} / {total} {self.unit}"
        else:
            self.progress.max = max(int(done), 1)
            self.progress.value = int(done)
            self.progress_label.value = f"{done} {self.unit}"

    def start(
        self,
        job: Callable[[threading.Event], Any],
        *,
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        label: str = "Working…",
        cancellable: bool = True,
    ) -> bool:
        """Start ``job(cancel_event)`` in a thread unless one is running.

        ``on_success(result)`` runs in the worker thread after the job returns;
        exceptions from the job or from ``on_success`` go to ``on_error`` (default: the
        status area). Busy state is reset in ``finally``.

        Returns
        -------
        bool
            False if nothing was started: a job was already running, or no thread
            could be started (the status area says so; the owner's buttons are
            re-enabled).
        """
        with self._lock:
            if self.busy:
                return False
            self._cancel = threading.Event()
            cancel = self._cancel
            self.last_error = None
            self.progress.value = 0
            self.progress.max = 1
            self.progress.bar_style = "info"
            self.progress_label.value = label
            self._reported = False
            self._label = label
            self._show_progress(True)
            self._enable_cancel(cancellable)
            self.status.show(label, "")
            self._running = True
            self._set_busy(True)
            thread = threading.Thread(
                target=self._run,
                args=(job, cancel, on_success, on_error),
                name="hi_widgets-worker",
                daemon=True,
            )
            self._thread = thread
            try:
                thread.start()
            except RuntimeError as error:  # "can't start new thread": nothing runs
                self._thread = None
                self.last_error = error
                self._enable_cancel(False)
                self._show_outcome("failed")
                self._running = False
                self._set_busy(False)
                self.status.show_error(error, context=f"{label.rstrip('…. ')} did not start")
                return False
            return True

    def _run(
        self,
        job: Callable[[threading.Event], Any],
        cancel: threading.Event,
        on_success: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        outcome = "failed"
        try:
            result = job(cancel)
            if on_success is not None:
                on_success(result)
            outcome = "cancelled" if cancel.is_set() else "done"
        except Exception as error:  # shown in the widget, never lost
            self.last_error = error
            try:
                if on_error is not None:
                    on_error(error)
                else:
                    self.status.show_error(error)
            except Exception:
                log.exception("hi_widgets could not show an error in the widget")
        finally:
            self._enable_cancel(False)
            self._show_outcome(outcome)
            self._running = False
            self._set_busy(False)

    def _enable_cancel(self, enabled: bool) -> None:
        # A disabled button in warning orange looks clickable: neutral unless usable.
        self.cancel_button.disabled = not enabled
        self.cancel_button.button_style = "warning" if enabled else ""

    def _show_progress(self, bar: bool, label: bool | None = None) -> None:
        self.progress.layout.display = "" if bar else "none"
        self.progress_label.layout.display = "" if (bar if label is None else label) else "none"

    def _show_outcome(self, outcome: str) -> None:
        """Leave bar and label saying how the job ended (or hide them: nothing to say)."""
        counts = self.progress_label.value if self._reported else ""
        action = self._label.rstrip("…. ")
        if outcome == "done":
            self.progress.bar_style = "success"
            self.progress_label.value = f"Done: {counts}" if counts else ""
            self._show_progress(bool(counts))
        elif outcome == "cancelled":
            self.progress.bar_style = "warning"
            self.progress_label.value = f"Cancelled at {counts}" if counts else "Cancelled"
            self._show_progress(bool(counts), label=True)
        else:
            self.progress.bar_style = "danger"
            self.progress_label.value = f"{action} failed" + (f" at {counts}" if counts else "")
            self._show_progress(bool(counts), label=True)

    def _set_busy(self, busy: bool) -> None:
        if self._on_busy_change is None:
            return
        try:
            self._on_busy_change(busy)
        except Exception:
            log.exception("hi_widgets could not update button states")

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until the running job (if any) ended, at most ``timeout`` seconds.

        Returns
        -------
        bool
            True if no job is running any more.
        """
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return not self.busy


# --------------------------------------------------------------------------- table


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


# --------------------------------------------------------------------------- export


class ExportPanel(w.VBox):
    """Export a DataFrame: format, include-PHI (off), browser download, save to a path.

    Parameters
    ----------
    status
        Where save outcomes and errors are shown.
    basename
        File name without extension for downloads and the default path.
    redact
        ``redact(frame, include_phi) -> frame`` applied before writing, for frames whose
        PHI is in rows rather than in :data:`hi_widgets.frames.PHI_COLUMNS` (e.g. a
        metadata diff); PHI columns are dropped by :mod:`hi_widgets.export` anyway.
    """

    def __init__(
        self,
        status: StatusArea,
        basename: str = "versions",
        redact: Callable[[pd.DataFrame, bool], pd.DataFrame] | None = None,
    ) -> None:
        self.status = status
        self.basename = basename
        self.redact = redact
        self.frame: pd.DataFrame | None = None
        formats = list(FORMATS)
        self.format = w.Dropdown(options=formats, value=formats[0], description="Format")
        self.format.add_class("hi-export-format")
        self.include_phi = w.Checkbox(value=False, description="Include PHI columns")
        self.include_phi.add_class("hi-include-phi")
        self.download = w.HTML(value="<i>Nothing to export yet.</i>")
        self.download.add_class("hi-download")
        self.path = w.Text(
            value="",
            placeholder=f"{basename}.csv",
            description="Save to path",
            continuous_update=True,
        )
        self.path.add_class("hi-export-path")
        self.save_button = w.Button(description="Save", icon="save", disabled=True)
        self.save_button.add_class("hi-export-save")
        self.save_button.on_click(lambda _b: self.save())
        self.prepare_button = w.Button(description="Prepare download", icon="download")
        self.prepare_button.add_class("hi-prepare-download")
        self.prepare_button.layout.display = "none"
        self.prepare_button.on_click(lambda _b: self.prepare_download())
        self.format.observe(self._refresh, names="value")
        self.include_phi.observe(self._refresh, names="value")
        super().__init__(
            [
                w.HBox([self.format, self.include_phi]),
                w.HBox([self.prepare_button, self.download]),
                w.HBox([self.path, self.save_button]),
            ]
        )

    def set_frame(self, frame: pd.DataFrame | None, basename: str | None = None) -> None:
        """Export this frame from now on; rebuilds the download link.

        Include-PHI is unticked again: a consent given for one frame does not carry over.
        """
        self.frame = frame
        if basename:
            self.basename = basename
        self.path.placeholder = f"{self.basename}.{self.format.value}"
        if self.include_phi.value:
            self.include_phi.value = False  # its observer rebuilds the link
        else:
            self._refresh()

    def payload(self) -> bytes:
        """Return the file contents for the chosen format and PHI setting."""
        return to_bytes(self.prepared(), self.format.value, include_phi=self.include_phi.value)

    def prepared(self) -> pd.DataFrame:
        """Return the frame as it will be written (after ``redact``, before PHI columns)."""
        if self.frame is None:
            raise ValueError("nothing to export yet")
        if self.redact is None:
            return self.frame
        return self.redact(self.frame, self.include_phi.value)

    def _refresh(self, _change: Any = None) -> None:
        self.save_button.disabled = self.frame is None
        self.prepare_button.layout.display = "none"
        self.path.placeholder = f"{self.basename}.{self.format.value}"
        if self.frame is None:
            self.download.value = "<i>Nothing to export yet.</i>"
            return
        if len(self.frame) > EAGER_DOWNLOAD_ROWS:
            # The link embeds the whole file in widget state: build it only on request.
            self.download.value = f"<i>{len(self.frame):,} rows.</i>"
            self.prepare_button.layout.display = ""
            return
        self.prepare_download()

    def prepare_download(self) -> None:
        """Build the download link for the current frame, format and PHI setting."""
        self.prepare_button.layout.display = "none"
        if self.frame is None:
            return
        try:
            data = self.payload()
        except Exception as error:
            self.download.value = "<i>Download unavailable (see status).</i>"
            self.status.show_error(error, context="Export failed")
            return
        self.download.value = download_link_html(data, f"{self.basename}.{self.format.value}")

    def save(self) -> str | None:
        """Write the frame to the path in the text field (atomic, via export_frame).

        Returns
        -------
        str or None
            The path written, or None if it failed (the status area says why).
        """
        path = self.path.value.strip() or self.path.placeholder
        if self.frame is None:
            self.status.show("Nothing to export yet: fetch something first.", "warning")
            return None
        try:
            frame = self.prepared()
            written = export_frame(
                frame, path, format=self.format.value, include_phi=self.include_phi.value
            )
        except Exception as error:
            self.status.show_error(error, context=f"Could not save {path}")
            return None
        self.status.show(f"Saved {len(frame)} rows to {written}.", "info")
        return str(written)


# --------------------------------------------------------------------------- widget mixins


class RunnerMixin:
    """``busy``, ``wait`` and ``cancel`` of a widget whose actions run on ``self.runner``."""

    runner: BackgroundRunner

    @property
    def busy(self) -> bool:
        """True while an action runs in the background."""
        return self.runner.busy

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until the running action ended (at most ``timeout`` seconds).

        Returns
        -------
        bool
            True if nothing is running any more.
        """
        return self.runner.wait(timeout)

    def cancel(self) -> None:
        """Stop the running action before its next request."""
        self.runner.cancel()

    def _busy_changed(self, _busy: bool) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        """Enable or disable the widget's buttons for its state (override)."""


class ConnectedMixin(RunnerMixin):
    """A widget with a client or, without one, a connection panel; lists datastores.

    The widget sets ``status``, ``runner`` and ``client``, calls :meth:`_init_connection`
    and provides ``_datastore_field`` (a ``DatastoreField`` to fill) and ``_revalidate``.
    """

    status: StatusArea
    client: Any
    connection: Any
    _callbacks: list[Callable[[Any], None]]

    def _init_connection(
        self,
        client: Any,
        sandbox_options: Mapping[str, Any] | None,
        client_options: Mapping[str, Any] | None,
    ) -> list[w.Widget]:
        """Make the connection panel when there is no client; return it as children."""
        from .connection import ConnectionPanel

        self._callbacks = []
        self.connection = None
        if client is not None:
            return []
        self.connection = ConnectionPanel(
            sandbox_options=sandbox_options, client_options=client_options
        )
        self.connection.connect_button.on_click(lambda _b: self.connect())
        return [self.connection]

    @property
    def _datastore_field(self) -> Any:
        raise NotImplementedError

    def _revalidate(self) -> Any:
        """Check the input again (after connecting or listing datastores)."""

    def _update_connect_button(self) -> None:
        if self.connection is not None:
            self.connection.connect_button.disabled = self.runner.busy

    def _connected(self) -> bool:
        """Return True if a job may start now; say "Connect first" without a client."""
        if self.runner.busy:
            return False
        if self.client is None:
            self.status.show("Connect first (connection panel above).", "warning")
            return False
        return True

    def on_result(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Call ``callback(result)`` after each successful action (in the worker thread).

        An exception the callback raises is shown in the status area (and logged), not
        swallowed.
        """
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def _notify(self, result: Any) -> None:
        # Every callback runs; one failing does not starve the others.
        for callback in list(self._callbacks):
            try:
                callback(result)
            except Exception as error:
                self.status.show_error(error, context="on_result callback failed")

    def connect(self) -> bool:
        """Connect with the connection panel's choice (in the background), then list datastores.

        Returns
        -------
        bool
            False if nothing was started (busy, or no connection panel).
        """
        if self.connection is None or self.runner.busy:
            return False
        panel = self.connection

        def job(_cancel: threading.Event) -> Any:
            client = panel.connect()
            self.client = client
            self._datastore_field.load(client)
            return client

        def done(_client: Any) -> None:
            self.status.show(panel.info.value, "info")
            self._revalidate()

        return self.runner.start(job, on_success=done, label="Connecting…", cancellable=False)

    def load_datastores(self) -> bool:
        """List datastores in the background to fill the datastore dropdown."""

        def job(_cancel: threading.Event) -> Any:
            return self._datastore_field.load(self.client)

        def done(summaries: Any) -> None:
            self._revalidate()
            if summaries:
                self.status.show(f"{len(summaries)} datastores available.", "info")
            else:
                self.status.clear()

        return self.runner.start(
            job, on_success=done, label="Listing datastores…", cancellable=False
        )

    def close(self) -> None:
        """Close the widget (and stop a sandbox the connection panel started)."""
        self.runner.cancel()
        if self.connection is not None:
            self.connection.close()
        super().close()  # type: ignore[misc]
