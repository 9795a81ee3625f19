"""ExportPanel: format, include-PHI, a browser download and save to a path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from ..export import FORMATS, export_frame, to_bytes
from ._html import download_link_html
from ._status import StatusArea

EAGER_DOWNLOAD_ROWS = 20_000
"""Above this many rows the download link is built only when "Prepare download" is pressed."""


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
