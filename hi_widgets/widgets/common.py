"""Building blocks shared by the hi_widgets widgets.

* :class:`StatusArea`: one message line plus a "Details" toggle; shows hi_widgets errors
  without a traceback.
* :class:`BackgroundRunner`: runs one job at a time in a thread, with a cancel Event, a
  progress bar, and buttons disabled while it runs (re-enabled in ``finally``).
* :class:`FrameTable`: a DataFrame as a paged HTML table with a row count.
* :class:`ExportPanel`: format, include-PHI, a browser download link and save-to-path.
* :func:`figure_png`, :func:`download_link_html`, :func:`frame_html`, :func:`record_html`:
  plain functions the widgets use and a notebook can call too.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import ipywidgets as w
import pandas as pd

from ..errors import HealthImagingError

log = logging.getLogger("hi_widgets.widgets")

__all__ = [
    "BackgroundRunner",
    "ExportPanel",
    "FrameTable",
    "StatusArea",
    "download_link_html",
    "figure_png",
    "format_value",
    "frame_html",
    "record_html",
]

_MIME = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


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
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
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


def frame_html(frame: pd.DataFrame, *, css_class: str = "hi-table") -> str:
    """Render a DataFrame as an escaped HTML table (``<thead>`` and one ``<tr>`` a row).

    Parameters
    ----------
    frame
        Any DataFrame; timestamps as ISO text, missing values blank.
    css_class
        Extra class of the ``<table>``.

    Returns
    -------
    str
        HTML.
    """
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [format_value(v) for v in shown[column].tolist()]
    return shown.to_html(index=False, border=0, classes=css_class, escape=True, na_rep="")


def figure_png(figure: Any, *, dpi: int = 100) -> bytes:
    """Return a matplotlib Figure (or an Axes' figure) as PNG bytes, without pyplot.

    Parameters
    ----------
    figure
        A ``matplotlib.figure.Figure`` or an ``Axes``.
    dpi
        Resolution.

    Returns
    -------
    bytes
        PNG data, for ``ipywidgets.Image(value=...)``.
    """
    figure = getattr(figure, "figure", figure) if not hasattr(figure, "savefig") else figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


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
        mime = _MIME.get(filename.rpartition(".")[2], "application/octet-stream")
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
        self.message = w.HTML(value="")
        self.message.add_class("hi-status")
        self.toggle = w.ToggleButton(
            value=False, description="Details", layout=w.Layout(width="auto", display="none")
        )
        self.toggle.add_class("hi-status-details-toggle")
        self.details = w.HTML(value="", layout=w.Layout(display="none"))
        self.details.add_class("hi-status-details")
        self.toggle.observe(self._on_toggle, names="value")
        self.kind = ""
        self.text = ""
        super().__init__([w.HBox([self.message, self.toggle]), self.details])

    def _on_toggle(self, change: Mapping[str, Any]) -> None:
        self.details.layout.display = "block" if change["new"] else "none"

    def show(self, text: str, kind: str = "info", details: str | None = None) -> None:
        """Show a message; ``kind`` is ``"info"``, ``"warning"``, ``"error"`` or ``""``."""
        color = self._COLORS.get(kind, "inherit")
        self.kind = kind
        self.text = text
        self.message.value = (
            f"<span class='hi-status-{kind or 'plain'}' style='color:{color}'>"
            f"{html.escape(text)}</span>"
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
        "12 / 57 versions".
    cancel_button : ipywidgets.Button
        Class ``hi-cancel``; enabled only while a job runs.
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
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="40%"))
        self.progress.add_class("hi-progress")
        self.progress_label = w.Label(value="")
        self.progress_label.add_class("hi-progress-label")
        self.cancel_button = w.Button(
            description="Cancel", icon="stop", disabled=True, button_style="warning"
        )
        self.cancel_button.add_class("hi-cancel")
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.box = w.HBox([self.cancel_button, self.progress, self.progress_label])
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._running = False
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
        self.cancel_button.disabled = True
        if self.busy:
            self.status.show("Cancelling…", "warning")

    def report(self, done: int, total: int | None) -> None:
        """Progress callback for the data layer: ``(done, total or None)``."""
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
            False if a job was already running (nothing started).
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
            self.cancel_button.disabled = not cancellable
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
            thread.start()
            return True

    def _run(
        self,
        job: Callable[[threading.Event], Any],
        cancel: threading.Event,
        on_success: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        try:
            result = job(cancel)
            if on_success is not None:
                on_success(result)
            self.progress.bar_style = "warning" if cancel.is_set() else "success"
        except Exception as error:  # shown in the widget, never lost
            self.last_error = error
            self.progress.bar_style = "danger"
            try:
                if on_error is not None:
                    on_error(error)
                else:
                    self.status.show_error(error)
            except Exception:
                log.exception("hi_widgets could not show an error in the widget")
        finally:
            self.cancel_button.disabled = True
            self._running = False
            self._set_busy(False)

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
    ) -> None:
        self.noun = noun
        self.columns = list(columns) if columns is not None else None
        self.frame: pd.DataFrame | None = None
        self.page = 0
        self.count = w.Label(value=f"0 {noun}s")
        if count_class:
            self.count.add_class(count_class)
        self.table = w.HTML(value="", layout=w.Layout(overflow="auto", max_height="480px"))
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
        size = self.page_size.value or max(len(frame), 1)
        start = self.page * size
        part = frame.iloc[start : start + size]
        self.table.value = frame_html(part)
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
        from ..export import FORMATS

        self.status = status
        self.basename = basename
        self.redact = redact
        self.frame: pd.DataFrame | None = None
        formats = list(FORMATS) if not isinstance(FORMATS, Mapping) else list(FORMATS.keys())
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
        self.format.observe(self._refresh, names="value")
        self.include_phi.observe(self._refresh, names="value")
        super().__init__(
            [
                w.HBox([self.format, self.include_phi]),
                self.download,
                w.HBox([self.path, self.save_button]),
            ]
        )

    def set_frame(self, frame: pd.DataFrame | None, basename: str | None = None) -> None:
        """Export this frame from now on; rebuilds the download link."""
        self.frame = frame
        if basename:
            self.basename = basename
        self.path.placeholder = f"{self.basename}.{self.format.value}"
        self._refresh()

    def payload(self) -> bytes:
        """Return the file contents for the chosen format and PHI setting."""
        from ..export import to_bytes

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
        self.path.placeholder = f"{self.basename}.{self.format.value}"
        if self.frame is None:
            self.download.value = "<i>Nothing to export yet.</i>"
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
        from ..export import export_frame

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
        where = str(written) if written is not None else path
        self.status.show(f"Saved {len(frame)} rows to {where}.", "info")
        return where


def swap_child(box: w.Box, old: w.Widget, new: w.Widget) -> None:
    """Replace ``old`` by ``new`` among ``box.children`` (a single trait assignment)."""
    box.children = tuple(new if child is old else child for child in box.children)


def labelled(items: Iterable[w.Widget]) -> w.HBox:
    """Lay widgets out in a row."""
    return w.HBox(list(items))
