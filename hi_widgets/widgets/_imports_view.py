"""The explorer's Imports tab: a datastore's import jobs, a job's files, and a way to history.

"List import jobs" lists the jobs of the explorer form's datastore
(:func:`hi_widgets.fetch_import_jobs`) as a plot and a grid; "Open job" (or a row selected
in the grid) reads that job's output from S3 (:func:`hi_widgets.fetch_import_outcomes`):
its files, failures first and grouped by reason, the reasons as a plot, and the image sets
it made. A file's image set (or one of the job's) opens in the explorer's version history
with "Open version history". Both loads run on the explorer's runner (progress, Cancel).

Every action is also reachable without the grids: the job and image set pickers are
labelled drop-downs, so a keyboard alone goes from a job to an image set's history.
On screen the files are shown whole (S3 keys may carry names); the export hashes keys and
file names unless its PHI box is ticked (:mod:`hi_widgets.export.files`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import traitlets

from hi_widgets.api.import_jobs import fetch_import_jobs
from hi_widgets.api.import_outcomes import ImportOutcomes, failure_reasons, fetch_import_outcomes
from hi_widgets.plots.axes import figure_to_png
from hi_widgets.plots.imports import plot_failure_reasons, plot_import_jobs
from hi_widgets.widgets._base import action_button
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._frontend import PlotImage
from hi_widgets.widgets._grid import FrameGrid
from hi_widgets.widgets._preview_panel import show_png
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._status import StatusArea
from hi_widgets.widgets.identifiers import IdentifierForm

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["FILE_KEY_COLUMNS", "JOB_KEY_COLUMNS", "ImportsView", "files_in_order"]

JOB_KEY_COLUMNS = ("jobName", "jobStatus", "submittedAt", "endedAt", "duration", "message")
"""Columns of the jobs grid shown first."""

FILE_KEY_COLUMNS = (
    "status",
    "reason",
    "inputFile",
    "imageSetId",
    "imageSetVersion",
    "isPrimary",
    "message",
)
"""Columns of the files grid shown first."""

JOB_STATUSES = ("SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED")


def files_in_order(files: pd.DataFrame) -> pd.DataFrame:
    """Return a job's files as the Imports tab lists them: failures first, grouped by reason.

    Failures come first, then files imported with warnings, each grouped by reason (the
    most frequent reason first, ties by reason, each group in file order); then the
    files imported without a word, in their order.
    """
    status = files["status"].astype("string")
    group = status.map({"FAILURE": 0, "WARNING": 1}).fillna(2).astype(int)
    reason = files["reason"].astype("string").fillna("")
    reason = reason.where(group < 2, "")
    counts = pd.Series(list(zip(group, reason, strict=True))).value_counts()
    order = pd.DataFrame(
        {
            "group": group.to_numpy(),
            "rank": [-int(counts[key]) for key in zip(group, reason, strict=True)],
            "reason": reason.to_numpy(),
            "position": range(len(files)),
        }
    )
    positions = order.sort_values(["group", "rank", "reason", "position"], kind="stable").index
    result: pd.DataFrame = files.iloc[positions].reset_index(drop=True)
    return result


def _image_set_options(outcomes: ImportOutcomes) -> list[tuple[str, str]]:
    """(label, image set id) of every image set the job's files went to, most files first."""
    files = outcomes.files
    made = files["imageSetId"].dropna().astype(str)
    counts = made.value_counts()
    ids = list(counts.index)
    sets = outcomes.image_sets
    if "imageSetId" in sets.columns:
        ids += [str(i) for i in sets["imageSetId"].dropna() if str(i) not in counts.index]
    ids = list(dict.fromkeys(ids))
    return [(f"{i} · {int(counts.get(i, 0))} file(s)", i) for i in ids]


def _job_option(row: pd.Series) -> tuple[str, str]:
    name = row.get("jobName")
    name = name if isinstance(name, str) and name else "(no name)"
    when = row["submittedAt"]
    submitted = "" if pd.isna(when) else f" · {when:%Y-%m-%d %H:%M}Z"
    return f"{name} · {row['jobStatus']}{submitted} · {row['jobId']}", str(row["jobId"])


class ImportsView(w.VBox):
    """The Imports tab: jobs of a datastore (plot, grid), a job's files, links to history.

    Parameters
    ----------
    runner, status
        The owning widget's background runner and status area.
    get_client
        Returns the client in use (None before connecting).
    form
        The owner's identifier form: its datastore is the one whose jobs are listed, and
        "Open version history" puts the image set in it.
    fetch_history
        ``fetch_history() -> bool``: fetches the version history of the form's image set
        (False if it could not start).
    publish
        Called with the jobs frame after a complete listing, and with the
        :class:`~hi_widgets.api.import_outcomes.ImportOutcomes` after a job opened.
    history_focus
        Where the keyboard focus goes once that history is in (default: the "Open
        version history" button; the explorer gives its "Fetch all versions", since the
        history shows in another tab, which hides the button).

    Attributes
    ----------
    jobs : pandas.DataFrame or None
        Traitlet (not synced): the jobs listed (partial after a Cancel).
    outcomes : ImportOutcomes or None
        The open job's outcomes (:attr:`job_id`); ``files`` may contain PHI.
    job_id : str or None
        The job whose outcomes are shown.
    s3_client
        The boto3 S3 client that reads job output; None (default): the local S3 of a
        sandbox the connection panel started, else one with boto3's standard
        configuration (profile, region, ``AWS_ENDPOINT_URL_S3``). For a sandbox of your
        own: ``sb.s3_client()`` (``sandbox.start(demo_s3=True)``).
    files_grid, jobs_grid : FrameGrid
        Classes ``hi-imports-files`` and ``hi-imports-jobs``; select a row to pick it.
    export : ExportPanel
        Class ``hi-imports-export``: the files frame, keys and file names hashed unless
        its PHI box is ticked.
    """

    jobs = traitlets.Instance(pd.DataFrame, allow_none=True, help="the jobs listed")

    def __init__(
        self,
        runner: BackgroundRunner,
        status: StatusArea,
        get_client: Callable[[], HealthImagingClient | None],
        form: IdentifierForm,
        fetch_history: Callable[[], bool],
        publish: Callable[[Any], None],
        history_focus: w.DOMWidget | None = None,
        default_s3_client: Callable[[], Any] = lambda: None,
    ) -> None:
        self.runner = runner
        self.status = status
        self._get_client = get_client
        self._form = form
        self._fetch_history = fetch_history
        self._publish = publish
        self.outcomes: ImportOutcomes | None = None
        self.job_id: str | None = None
        self.s3_client: Any = None
        self._default_s3_client = default_s3_client
        self.datastore_id = ""  # whose jobs are listed
        self.status_filter = w.Dropdown(
            options=[("any", "")] + [(s, s) for s in JOB_STATUSES],
            value="",
            description="Job status",
            layout=w.Layout(width="auto"),
        )
        self.status_filter.add_class("hi-imports-status")
        self.list_button = action_button("List import jobs", "list", "hi-imports-list")
        runner.on_click(self.list_button, self.list_jobs)
        self.summary = w.HTML(
            "<i>List the import jobs of the datastore chosen above: when each ran, how it "
            "ended, and what happened to every file.</i>"
        )
        self.summary.add_class("hi-imports-summary")
        self.jobs_plot = PlotImage(layout=w.Layout(max_width="100%", display="none"))
        self.jobs_plot.add_class("hi-imports-plot")
        self.jobs_grid = FrameGrid(
            "import job",
            grid_class="hi-imports-jobs",
            count_class="hi-imports-job-count",
            key_columns=JOB_KEY_COLUMNS,
            hide_columns=("datastoreId", "dataAccessRoleArn"),
            clip_columns=("message",),
            height="240px",
            select=True,
        )
        self.jobs_grid.on_select(self._job_selected)
        self.job_picker = w.Dropdown(
            options=[], description="Job", layout=w.Layout(width="auto", max_width="100%")
        )
        self.job_picker.add_class("hi-imports-job")
        self.open_button = action_button("Open job", "folder-open", "hi-imports-open")
        runner.on_click(self.open_button, self.open_job)
        self.job_summary = w.HTML("<i>Open a job to see its files.</i>")
        self.job_summary.add_class("hi-imports-job-summary")
        self.reasons_plot = PlotImage(layout=w.Layout(max_width="100%", display="none"))
        self.reasons_plot.add_class("hi-imports-reasons-plot")
        self.files_grid = FrameGrid(
            "file",
            grid_class="hi-imports-files",
            count_class="hi-imports-file-count",
            key_columns=FILE_KEY_COLUMNS,
            clip_columns=("message",),
            height="320px",
            select=True,
        )
        self.files_grid.on_select(self._file_selected)
        self.image_set_picker = w.Dropdown(
            options=[], description="Image set", layout=w.Layout(width="auto", max_width="100%")
        )
        self.image_set_picker.add_class("hi-imports-image-set")
        self.history_button = action_button(
            "Open version history",
            "history",
            "hi-imports-history",
            tooltip="Fetch all versions of the image set in the Versions tab",
        )
        runner.on_click(self.history_button, self.open_history, focus_after=history_focus)
        self.export = ExportPanel(status, basename="import-files")
        self.export.include_phi.description = "Include PHI (S3 keys, file names)"
        self.export.add_class("hi-imports-export")
        row = {"flex_flow": "row wrap", "align_items": "center"}
        super().__init__(
            [
                w.HBox([self.status_filter, self.list_button, self.summary], layout=row),
                self.jobs_plot,
                w.HTML("<small>Select a job (row or list) and open it to see its files.</small>"),
                self.jobs_grid,
                w.HBox([self.job_picker, self.open_button, self.job_summary], layout=row),
                self.reasons_plot,
                self.files_grid,
                w.HBox([self.image_set_picker, self.history_button], layout=row),
                w.HTML("<b>Export the job's files</b>"),
                self.export,
            ]
        )
        self.add_class("hi-imports")
        self.job_picker.observe(lambda _c: self.update_buttons(), names="value")
        self.image_set_picker.observe(lambda _c: self.update_buttons(), names="value")

    # ------------------------------------------------------------------ state

    def update_buttons(self, blocked: bool | None = None) -> None:
        """Enable the buttons that can act now (``blocked``: the owner's busy/connected)."""
        if blocked is None:
            blocked = self.runner.busy or self._get_client() is None
        self.list_button.disabled = blocked or not self._datastore()
        self.open_button.disabled = blocked or not self.job_picker.value
        self.history_button.disabled = blocked or not self.image_set_picker.value

    def _datastore(self) -> str:
        """Return the form's datastore id, "" while it is not a valid one."""
        return "" if self._form.errors.get("datastoreId") else self._form.datastore.value.strip()

    def _job_row(self, job_id: str) -> pd.Series | None:
        if self.jobs is None:
            return None
        rows = self.jobs[self.jobs["jobId"] == job_id]
        return None if rows.empty else rows.iloc[0]

    # ------------------------------------------------------------------ jobs

    def list_jobs(self) -> bool:
        """List the import jobs of the form's datastore in the background.

        Returns
        -------
        bool
            True if the listing started (connected, a datastore chosen, not busy).
        """
        client, datastore_id = self._get_client(), self._datastore()
        if self.runner.busy or client is None or not datastore_id:
            if not datastore_id:
                self.status.show("Choose a datastore first (above).", "warning")
            return False
        status = self.status_filter.value or None

        def job(cancel: threading.Event) -> pd.DataFrame:
            return fetch_import_jobs(
                client, datastore_id, status=status, progress=self.runner.report, cancel=cancel
            )

        def done(frame: pd.DataFrame) -> None:
            self.show_jobs(frame, datastore_id, complete=not self.runner.cancelled)

        return self.runner.start(
            job,
            on_success=done,
            on_error=lambda e: self.status.show_error(e, context="Could not list import jobs"),
            label="Listing import jobs…",
            unit="jobs",
        )

    def show_jobs(self, df: pd.DataFrame, datastore_id: str, *, complete: bool = True) -> None:
        """Show a jobs frame: plot, grid, and the job picker (newest job chosen)."""
        now = pd.Timestamp.now("UTC")
        png = figure_to_png(plot_import_jobs(df, now=now), width=10.0)
        self.datastore_id = datastore_id
        self.jobs = df
        counts = df["jobStatus"].value_counts()
        words = ", ".join(f"{int(n)} {s}" for s, n in counts.items() if n) or "none"
        text = f"{len(df)} import jobs in datastore {datastore_id}: {words}."
        show_png(self.jobs_plot, png, alt=f"Import jobs on a time axis by status. {text}")
        note = "" if complete else "Cancelled: the jobs listed so far (partial)."
        self.jobs_grid.set_frame(df, note=note)
        self.summary.value = html.escape(text)
        newest = df.sort_values("submittedAt", ascending=False, kind="stable")
        self.job_picker.options = [_job_option(row) for _, row in newest.iterrows()]
        self.job_picker.value = str(newest["jobId"].iloc[0]) if len(newest) else None
        if complete:
            self.status.show(text, "info")
            self._publish(df)
        else:
            self.status.show(f"Cancelled: {len(df)} import jobs listed so far.", "warning")
        self.update_buttons()

    def _job_selected(self, change: Mapping[str, Any]) -> None:
        try:
            rows, shown = change["new"], self.jobs_grid.frame
            if rows and shown is not None and rows[0] < len(shown):
                self.job_picker.value = str(shown.iloc[rows[0]]["jobId"])
                if not self.runner.busy:
                    self.open_job()
        except Exception as error:  # an observer must not raise into the front end
            self.status.show_error(error, context="Could not open the job")

    # ------------------------------------------------------------------ one job

    def open_job(self, job_id: str | None = None) -> bool:
        """Read the files of a job (default: the one picked) from its output in S3.

        Returns
        -------
        bool
            True if the load started.
        """
        job_id = job_id or self.job_picker.value
        client = self._get_client()
        row = None if job_id is None else self._job_row(job_id)
        if self.runner.busy or client is None or row is None:
            return False
        datastore_id = self.datastore_id
        if row["jobStatus"] in ("SUBMITTED", "IN_PROGRESS"):
            self.status.show(
                f"Job {job_id} is {row['jobStatus']}: its files are listed once it ended.",
                "warning",
            )
            return False

        chosen = self.s3_client
        known = row.get("outputS3Uri")  # known: no GetDICOMImportJob needed
        output = str(known) if isinstance(known, str) and known else None

        def job(cancel: threading.Event) -> ImportOutcomes:
            s3_client = chosen if chosen is not None else self._default_s3_client()
            return fetch_import_outcomes(
                client,
                datastore_id,
                job_id,
                output_s3_uri=output,
                s3_client=s3_client,
                progress=self.runner.report,
                cancel=cancel,
            )

        return self.runner.start(
            job,
            on_success=lambda outcomes: self.show_outcomes(outcomes, job_id),
            on_error=lambda e: self.status.show_error(
                e, context=f"Could not read the output of job {job_id}"
            ),
            label="Reading the job's output…",
            unit="files",
        )

    def show_outcomes(self, outcomes: ImportOutcomes, job_id: str) -> None:
        """Show a job's outcomes: reasons plot, files (failures first), image sets, export."""
        cancelled = self.runner.cancelled or not outcomes.complete
        files = files_in_order(outcomes.files)
        reasons = failure_reasons(outcomes.files)
        png = figure_to_png(plot_failure_reasons(reasons), width=10.0)
        failed = int((files["status"] == "FAILURE").sum())
        warned = int((files["status"] == "WARNING").sum())
        self.outcomes, self.job_id = outcomes, job_id
        text = (
            f"Job {job_id}: {len(files)} files, {len(files) - failed} imported"
            + (f" ({warned} with warnings)" if warned else "")
            + f", {failed} failed ({len(reasons)} reasons)."
        )
        row = self._job_row(job_id)
        if files.empty and row is not None and row["jobStatus"] == "FAILED":
            text = f"Job {job_id} FAILED before importing any file: {row['message']}"
        self.job_summary.value = html.escape(text)
        alt = "; ".join(f"{r.reason}: {r.count}" for r in reasons.itertuples()) or "none"
        show_png(self.reasons_plot, png, alt=f"Failure reasons of job {job_id}, counted: {alt}")
        note = "Cancelled: the files read so far (partial)." if cancelled else ""
        self.files_grid.set_frame(files, note=note)
        self.image_set_picker.options = _image_set_options(outcomes)
        options = self.image_set_picker.options
        self.image_set_picker.value = options[0][1] if options else None
        self.export.basename = f"import-files-{job_id}"
        self.export.set_frame(files, note=note)
        if cancelled:
            self.status.show(f"Cancelled: {len(files)} files of job {job_id} read.", "warning")
        else:
            self.status.show(text, "info")
            self._publish(outcomes)
        self.update_buttons()

    def _file_selected(self, change: Mapping[str, Any]) -> None:
        try:
            rows, shown = change["new"], self.files_grid.frame
            if not rows or shown is None or rows[0] >= len(shown):
                return
            row = shown.iloc[rows[0]]
            if pd.isna(row["imageSetId"]):
                self.status.show(f"{row['inputFile']} failed: {row['message']}", "warning")
            else:
                self.image_set_picker.value = str(row["imageSetId"])
                self.status.show(
                    f"{row['inputFile']} went to image set {row['imageSetId']}: "
                    "Open version history to see its versions.",
                    "info",
                )
        except Exception as error:  # an observer must not raise into the front end
            self.status.show_error(error, context="Could not pick the file's image set")

    def open_history(self, image_set_id: str | None = None) -> bool:
        """Open the version history of an image set of the job (default: the one picked).

        The image set (and the datastore of the jobs listed) go into the owner's form,
        whose history fetch then starts.

        Parameters
        ----------
        image_set_id
            An image set id; default the image set picker's.

        Returns
        -------
        bool
            True if the history fetch started.
        """
        image_set_id = image_set_id or self.image_set_picker.value
        if not image_set_id or not self.datastore_id or self.runner.busy:
            return False
        self._form.datastore.value = self.datastore_id
        self._form.image_set.value, self._form.version.value = image_set_id, ""
        return self._fetch_history()
