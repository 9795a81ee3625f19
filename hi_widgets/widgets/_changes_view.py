"""The version browser's Changes tab: the change log as a grid and a plot, a row opens its diff.

The log (:func:`hi_widgets.fetch_changes`) loads in the background on the browser's
runner (progress, Cancel). On screen it is complete, PHI included; its export goes
through :mod:`hi_widgets.export.files`, which de-identifies a change log row by row unless the
user ticks the PHI box (:meth:`hi_widgets.export.deid.Deidentifier.changes`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import traitlets

from hi_widgets.api.progress import Progress, ProgressCallback
from hi_widgets.changes.log import fetch_changes
from hi_widgets.plots.axes import figure_to_png
from hi_widgets.plots.changes import plot_changes
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._frontend import PlotImage
from hi_widgets.widgets._grid import FrameGrid
from hi_widgets.widgets._preview_panel import show_png
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._status import StatusArea

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["CHANGES_KEY_COLUMNS", "MAX_WORKERS", "ChangesView", "change_log_loader"]

CHANGES_KEY_COLUMNS = (
    "versionId",
    "kind",
    "level",
    "series",
    "attribute",
    "change",
    "old",
    "new",
    "updatedAt",
    "workflowStatus",
    "previousVersionId",
    "revertedTo",
    "message",
)
"""Columns the grid shows first (the rest, the full path and series UID, follow)."""

MAX_WORKERS = 8
"""Threads fetching metadata documents; the GetImageSetMetadata quota bounds the speed."""


def _summary(frame: pd.DataFrame) -> str:
    kinds = frame.drop_duplicates("versionId")["kind"].value_counts()
    parts = [f"{int(n)} {kind}" for kind, n in kinds.items() if n]
    versions = frame["versionId"].nunique()
    return f"{versions} versions: " + ", ".join(parts) if parts else "No versions."


class ChangesView(w.VBox):
    """The change log of one image set: summary, plot, grid (click a row: its diff), export.

    Parameters
    ----------
    runner, status
        The owning widget's background runner and status area.
    load_log
        ``load_log(progress, cancel) -> DataFrame``: fetches the change log.
    open_pair
        ``open_pair(old, new) -> bool``: shows the diff of two versions (False if it
        could not start).
    publish
        Called with a complete change log once it is shown.
    basename
        File name (without extension) of the export.

    Attributes
    ----------
    changes : pandas.DataFrame or None
        Traitlet (not synced): the change log shown (partial after a Cancel, see
        :attr:`complete`). Contains PHI.
    complete : bool
        Whether :attr:`changes` covers every version.
    outdated : bool
        Whether versions loaded since have versions :attr:`changes` does not cover
        (see :meth:`mark_outdated`).
    grid : FrameGrid
        Class ``hi-changes-table``; its count ``hi-changes-count``.
    plot : PlotImage
        Class ``hi-changes-plot``: :func:`hi_widgets.plot_changes` as a PNG.
    export : ExportPanel
        Class ``hi-changes-export``; de-identified unless its PHI box is ticked.
    """

    changes = traitlets.Instance(pd.DataFrame, allow_none=True, help="the change log shown")

    def __init__(
        self,
        runner: BackgroundRunner,
        status: StatusArea,
        load_log: Callable[[ProgressCallback, threading.Event], pd.DataFrame],
        open_pair: Callable[[int, int], bool],
        publish: Callable[[pd.DataFrame], None],
        basename: str = "changes",
    ) -> None:
        self.runner = runner
        self.status = status
        self._load_log = load_log
        self._open_pair = open_pair
        self._publish = publish
        self.complete = False
        self.outdated = False
        self.load_button = w.Button(
            description="Load change log",
            icon="list",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.load_button.add_class("hi-changes-load")
        runner.on_click(self.load_button, self.load)
        self.summary = w.HTML(
            value="<i>The change log lists what every version changed, attribute by "
            "attribute (one GetImageSetMetadata per version).</i>"
        )
        self.summary.add_class("hi-changes-summary")
        self.plot = PlotImage(layout=w.Layout(max_width="100%", display="none"))
        self.plot.add_class("hi-changes-plot")
        self.grid = FrameGrid(
            "change",
            grid_class="hi-changes-table",
            count_class="hi-changes-count",
            key_columns=CHANGES_KEY_COLUMNS,
            height="320px",
            select=True,
        )
        self.grid.on_select(self._row_selected)
        self.export = ExportPanel(status, basename=basename)
        self.export.include_phi.description = "Include PHI (patient attributes, dates, UIDs)"
        self.export.add_class("hi-changes-export")
        hint = w.HTML(
            "<small>Select a row to see the diff of that version with the one before it.</small>"
        )
        super().__init__(
            [
                w.HBox([self.load_button, self.summary]),
                self.plot,
                hint,
                self.grid,
                w.HTML("<b>Export the change log</b>"),
                self.export,
            ]
        )
        self.add_class("hi-changes")

    @property
    def loaded(self) -> bool:
        """Whether a change log is shown."""
        return self.changes is not None

    def load(self) -> bool:
        """Load (or reload) the change log in the background.

        Returns
        -------
        bool
            False if a job is already running.
        """

        def job(cancel: threading.Event) -> pd.DataFrame:
            frame = self._load_log(self.runner.report, cancel)
            # Versions skipped by Cancel count as done in the log's progress: report what
            # was fetched, so the runner calls the outcome cancelled, not done.
            kinds = frame.drop_duplicates("versionId")["kind"]
            if (kinds == "cancelled").any():
                fetched = int((kinds != "cancelled").sum())
                self.runner.report(Progress(fetched, len(kinds), "documents"))
            return frame

        return self.runner.start(
            job,
            on_success=self._show,
            on_error=self._failed,
            label="Loading the change log…",
            unit="versions",
        )

    def _show(self, frame: pd.DataFrame) -> None:
        cancelled = self.runner.cancelled
        png = figure_to_png(plot_changes(frame), width=10.0)
        self.complete = not cancelled
        self.outdated = False
        self.changes = frame
        self.grid.set_frame(
            frame,
            note="Cancelled: versions not fetched are marked cancelled." if cancelled else "",
        )
        show_png(
            self.plot, png, alt=f"Plot of the change log, version by version: {_summary(frame)}"
        )
        self.summary.value = html.escape(_summary(frame))
        versions = frame["versionId"].nunique()
        fetched = int((frame.drop_duplicates("versionId")["kind"] != "cancelled").sum())
        if cancelled:
            self.status.show(
                f"Cancelled: change log of {fetched} of {versions} versions (partial).", "warning"
            )
        else:
            self.status.show(f"Change log of {versions} versions: {len(frame)} rows.", "info")
        self.export.set_frame(frame)
        if not cancelled:
            self._publish(frame)

    def mark_outdated(self, versions: pd.DataFrame) -> bool:
        """Mark the log shown as out of date if ``versions`` has versions it does not cover.

        The log stays on screen (and exportable, as what it is) with a note; the next visit
        to the tab loads it again. Returns whether it was out of date.
        """
        if self.changes is None:
            return False
        logged = set(self.changes["versionId"].dropna().astype(int))
        now = set(versions["versionId"].dropna().astype(int))
        if now <= logged:
            return False
        self.complete = False
        note = (
            f"Out of date: the image set now has {len(now)} versions, this change log covers "
            f"{len(logged)}. Load it again to see the rest."
        )
        self.grid.set_note(note)
        self.export.set_frame(self.changes, note=note)
        self.outdated = True
        return True

    def _failed(self, error: BaseException) -> None:
        """Show the error; a log shown before stays, marked so, and is not offered."""
        self.status.show_error(error, context="Could not load the change log")
        if self.changes is not None:
            self.grid.set_note("The last load failed; this is the change log loaded before.")
            self.export.set_frame(None, note="The last load failed: nothing to export.")

    def _row_selected(self, change: Mapping[str, Any]) -> None:
        try:
            rows = change["new"]
            frame = self.grid.frame
            if not rows or frame is None or rows[0] >= len(frame):
                return
            self.open_row(rows[0])
        except Exception as error:  # an observer must not raise into the front end
            self.status.show_error(error, context="Could not open the diff")

    def open_row(self, position: int) -> bool:
        """Open the diff of the row's version with the one it was compared with.

        Returns
        -------
        bool
            False if there is nothing to compare (the first version) or a job is running.
        """
        frame = self.grid.frame
        if frame is None:
            return False
        row = frame.iloc[position]
        version, previous = row["versionId"], row["previousVersionId"]
        if pd.isna(previous):
            self.status.show(
                f"Version {version} is the first one: there is nothing before it to compare.",
                "warning",
            )
            return False
        if self.runner.busy:
            self.status.show("Busy: select the row again when the running job ended.", "warning")
            return False
        return self._open_pair(int(previous), int(version))


def change_log_loader(
    client: HealthImagingClient, datastore_id: str, image_set_id: str
) -> Callable[[ProgressCallback, threading.Event], pd.DataFrame]:
    """Return the ``load_log`` of :class:`ChangesView` for one image set."""

    def load(progress: ProgressCallback, cancel: threading.Event) -> pd.DataFrame:
        return fetch_changes(
            client,
            datastore_id,
            image_set_id,
            max_workers=MAX_WORKERS,
            progress=progress,
            cancel=cancel,
        )

    return load
