"""ExportPanel: format, include-PHI, a browser download built on request, save to a path.

The download is built only when the user presses the button and travels to the browser
in one message: no file (and no PHI) sits in widget state, so none is saved into the
notebook file. Save writes under ``exports/`` by default (ignored by git), asks before
replacing a file, and never writes one format under another format's suffix. Both go
through :mod:`hi_widgets.export.files`, so both are de-identified by allow-list unless
Include PHI is ticked, and a file that keeps PHI is owner-only; columns left out for their
unknown meaning are named in the status area (a warning would be lost in a widget).
"""

from __future__ import annotations

import html
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anywidget
import ipywidgets as w
import pandas as pd
import traitlets

from hi_widgets.export.deid import DeidentificationWarning
from hi_widgets.export.files import FORMATS, MEDIA_TYPES, SUFFIXES, export_frame, to_bytes
from hi_widgets.widgets._status import StatusArea

__all__ = ["DEFAULT_EXPORT_FOLDER", "DownloadButton", "ExportPanel"]

DEFAULT_EXPORT_FOLDER = "exports"
"""Folder (relative to the kernel's working directory) Save writes to by default."""

_T = TypeVar("_T")
_SHOWN = 8  # column names the status lists before "and N more"


def _left_out(write: Callable[[], _T]) -> tuple[_T, str]:
    """Run an export; return its result and what it left out for its unknown meaning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeidentificationWarning)
        result = write()
    names: list[str] = []
    for warning in caught:
        if isinstance(warning.message, DeidentificationWarning):
            names.extend(warning.message.names)
        else:  # not ours to report: pass it on as it came
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if not names:
        return result, ""
    names = list(dict.fromkeys(names))
    shown = ", ".join(names[:_SHOWN]) + (
        f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    )
    return result, (
        f"Left out {len(names)} column(s) of unknown meaning (not known to be free of PHI): "
        f"{shown}. Tick Include PHI to keep them."
    )


class Redact(Protocol):
    """``redact(df, include_phi=...) -> df``: a frame as it may be exported."""

    def __call__(self, df: pd.DataFrame, *, include_phi: bool) -> pd.DataFrame: ...


class DownloadButton(anywidget.AnyWidget):
    """A button whose file is built by ``build()`` when pressed, then saved by the browser.

    Only ``description``, ``filename`` and ``disabled`` are synced; the bytes go in one
    custom message (``{"event": "file"}`` with the data as a buffer).

    Parameters
    ----------
    build
        Returns ``(filename, data)``; called in the kernel on each press.
    on_error
        Called with an exception ``build`` raised (the widget shows its own errors).
    """

    _esm = pathlib.Path(__file__).parent / "static" / "download_button.js"
    description = traitlets.Unicode("Download").tag(sync=True)
    filename = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        build: Callable[[], tuple[str, bytes]],
        on_error: Callable[[BaseException], None],
    ) -> None:
        super().__init__()
        self._build = build
        self._on_error = on_error
        self.on_msg(self._on_message)

    def _on_message(
        self, _widget: Any, content: Mapping[str, Any], _buffers: Sequence[Any]
    ) -> None:
        if isinstance(content, Mapping) and content.get("event") == "download":
            self.send_file()

    def send_file(self) -> tuple[str, bytes] | None:
        """Build the file and send it to the browser; return it (None if it failed)."""
        if self.disabled:
            return None
        try:
            filename, data = self._build()
        except Exception as error:
            self._on_error(error)
            return None
        mime = MEDIA_TYPES.get(filename.rpartition(".")[2], "application/octet-stream")
        self.send({"event": "file", "filename": filename, "mime": mime}, buffers=[data])
        return filename, data


def _target(text: str, basename: str, format: str) -> Path:
    """Return the absolute path to save to, with the format's suffix.

    A relative path is taken from the kernel's working directory (a notebook's folder);
    a name without a suffix gets the format's; a suffix that is no export format is
    refused (a known one chose the format already, see ``ExportPanel``).
    """
    path = Path(text.strip() or f"{DEFAULT_EXPORT_FOLDER}/{basename}.{format}").expanduser()
    if path.is_dir() or text.strip().endswith(("/", "\\")):
        path = path / f"{basename}.{format}"
    suffix = path.suffix.lower()
    if not suffix:
        path = path.with_name(f"{path.name}.{format}")
    elif SUFFIXES.get(suffix) != format:
        known = ", ".join(SUFFIXES)
        raise ValueError(
            f"Save to path: {str(path)!r} ends in {suffix!r}, which is not the {format} "
            f"format; use a name ending in one of {known} (the format follows it)"
        )
    return path.absolute()


class ExportPanel(w.VBox):
    """Export a DataFrame: format, include-PHI (off), browser download, save to a path.

    Parameters
    ----------
    status
        Where save outcomes and errors are shown.
    basename
        File name without extension for downloads and the default path.
    redact
        ``redact(df, include_phi=...) -> df`` applied before writing (e.g. a metadata
        diff's own de-identification); the download and Save de-identify whatever it
        returns anyway (:mod:`hi_widgets.export.files`), unless Include PHI is ticked.
    """

    def __init__(
        self,
        status: StatusArea,
        basename: str = "versions",
        redact: Redact | None = None,
    ) -> None:
        self.status = status
        self.basename = basename
        self.redact = redact
        self.frame: pd.DataFrame | None = None
        self._confirm: Path | None = None  # the existing file the user may overwrite
        self._note = ""
        auto = w.Layout(width="auto")
        self.format = w.Dropdown(options=list(FORMATS), value=FORMATS[0], description="Format")
        self.format.add_class("hi-export-format")
        self.include_phi = w.Checkbox(
            value=False, description="Include PHI columns", indent=False, layout=auto
        )
        self.include_phi.add_class("hi-include-phi")
        self.download_button = DownloadButton(self._download_file, self._download_failed)
        self.download_button.add_class("hi-download-button")
        self.download = w.HTML(value="<i>Nothing to export yet.</i>")
        self.download.add_class("hi-download")
        self.path = w.Text(
            value="",
            placeholder=f"{DEFAULT_EXPORT_FOLDER}/{basename}.csv",
            description="Save to path",
            continuous_update=True,
            style={"description_width": "initial"},
            layout=w.Layout(width="36em", max_width="100%"),
        )
        self.path.add_class("hi-export-path")
        # Where Save's outcome is said, next to the button (the status line is far above).
        self.save_message = w.HTML(value="", layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.save_message.add_class("hi-export-message")
        self.save_button = w.Button(
            description="Save",
            icon="save",
            disabled=True,
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.save_button.add_class("hi-export-save")
        self.save_button.on_click(lambda _b: self.save())
        self.overwrite_button = w.Button(
            description="Overwrite",
            icon="exclamation-triangle",
            button_style="danger",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.overwrite_button.add_class("hi-export-overwrite")
        self.overwrite_button.layout.display = "none"
        self.overwrite_button.on_click(lambda _b: self.save(overwrite=True))
        for widget in (self.format, self.include_phi):
            widget.observe(self._refresh, names="value")
        self.path.observe(self._path_changed, names="value")
        super().__init__(
            [
                w.HBox([self.format, self.include_phi]),
                w.HBox([self.download_button, self.download]),
                w.HBox(
                    [self.path, self.save_button, self.overwrite_button, self.save_message],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
            ]
        )

    def set_frame(
        self, frame: pd.DataFrame | None, basename: str | None = None, note: str = ""
    ) -> None:
        """Export this frame from now on (None: nothing; ``note`` says why).

        Include-PHI is unticked again: a consent given for one frame does not carry over.
        """
        self.frame = frame
        if basename:
            self.basename = basename
        self._note = note
        if self.include_phi.value:
            self.include_phi.value = False  # its observer refreshes
        else:
            self._refresh()

    @property
    def filename(self) -> str:
        """Name of the download for the current frame and format."""
        return f"{self.basename}.{self.format.value}"

    def payload(self) -> bytes:
        """Return the file contents for the chosen format and PHI setting."""
        data, note = _left_out(self._payload)
        if note:
            self.status.show(note, "warning")
        return data

    def _payload(self) -> bytes:
        return to_bytes(self.prepared(), self.format.value, include_phi=self.include_phi.value)

    def prepared(self) -> pd.DataFrame:
        """Return the frame given to the export (after ``redact``, before de-identification)."""
        if self.frame is None:
            raise ValueError("nothing to export yet")
        if self.redact is None:
            return self.frame
        return self.redact(self.frame, include_phi=self.include_phi.value)

    def _download_file(self) -> tuple[str, bytes]:
        return self.filename, self.payload()

    def _download_failed(self, error: BaseException) -> None:
        self.status.show_error(error, context="Export failed")

    def _refresh(self, _change: Any = None) -> None:
        self._ask_overwrite(None)
        empty = self.frame is None
        self.save_button.disabled = empty
        self.download_button.disabled = empty
        self.download_button.filename = "" if empty else self.filename
        self.download_button.description = "Download" if empty else f"Download {self.filename}"
        self.path.placeholder = f"{DEFAULT_EXPORT_FOLDER}/{self.basename}.{self.format.value}"
        if self.frame is None:
            self.download.value = f"<i>{html.escape(self._note or 'Nothing to export yet.')}</i>"
        else:
            rows = len(self.frame)
            note = f" <i>{html.escape(self._note)}</i>" if self._note else ""
            self.download.value = f"<span>{rows:,} row{'' if rows == 1 else 's'}</span>{note}"

    def _path_changed(self, change: Mapping[str, Any]) -> None:
        """Choose the format of a path ending in a format's suffix (``.parquet``)."""
        self._ask_overwrite(None)
        self._say("", "")
        format = SUFFIXES.get(Path(str(change["new"]).strip()).suffix.lower())
        if format is not None and format != self.format.value:
            self.format.value = format

    def _say(self, text: str, kind: str, *, status: bool = True) -> None:
        """Say Save's outcome beside the button and in the status area."""
        colors = {"error": "#b00020", "warning": "#8a5300", "info": "#1b5e20"}
        self.save_message.value = (
            f"<span class='hi-export-message-{kind}' role='status' "
            f"style='color:{colors.get(kind, 'inherit')};overflow-wrap:anywhere'>"
            f"{html.escape(text)}</span>"
            if text
            else ""
        )
        if text and status:
            self.status.show(text, kind)

    def _ask_overwrite(self, path: Path | None) -> None:
        self._confirm = path
        self.overwrite_button.layout.display = "none" if path is None else ""

    def save(self, overwrite: bool = False) -> str | None:
        """Write the frame to the path in the text field (atomic, via export_frame).

        The format is the dropdown's, which a path ending in a format's suffix chose; a
        name without a suffix gets the format's, a suffix that is no format is refused. A
        relative path is under the kernel's working directory (the notebook's folder); the
        message gives the absolute path. An existing file is replaced only with
        ``overwrite`` (the Overwrite button, shown after Save found the file).

        Returns
        -------
        str or None
            The absolute path written, or None if nothing was written (the message beside
            the button and the status area say why).
        """
        if self.frame is None:
            self._say("Nothing to export yet: fetch something first.", "warning")
            return None
        try:
            target = _target(self.path.value, self.basename, self.format.value)
        except ValueError as error:
            self._say(str(error), "error")
            return None
        if target.exists() and not (overwrite and self._confirm == target):
            self._ask_overwrite(target)
            self._say(
                f"{target} already exists: press Overwrite to replace it, or change the path.",
                "warning",
            )
            return None
        self._ask_overwrite(None)
        try:
            if target.parent == Path(DEFAULT_EXPORT_FOLDER).absolute():
                target.parent.mkdir(exist_ok=True)
            frame = self.prepared()
            written, note = _left_out(
                lambda: export_frame(
                    frame, target, format=self.format.value, include_phi=self.include_phi.value
                )
            )
        except Exception as error:
            self.status.show_error(error, context=f"Could not save {target}")
            self._say(self.status.text, "error", status=False)  # the status has details
            return None
        written = Path(written).absolute()
        saved = f"Saved {len(frame):,} rows to {written}."
        self._say(f"{saved} {note}" if note else saved, "warning" if note else "info")
        return str(written)
