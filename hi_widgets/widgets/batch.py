"""BatchFetcher: many image sets in (pasted or a CSV), every version out, errors kept apart."""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hi_widgets.api.items import LineProblem, csv_to_lines, parse_id_text
from hi_widgets.api.progress import Progress
from hi_widgets.plots.axes import figure_to_png
from hi_widgets.plots.counts import plot_state_counts
from hi_widgets.widgets._base import ActionWidget
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._grid import VERSION_KEY_COLUMNS, FrameGrid
from hi_widgets.widgets._html import plot_image
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._timeline import InteractiveTimeline
from hi_widgets.widgets.identifiers import DatastoreField

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

    from hi_widgets.bulk import FetchResult

__all__ = ["BatchFetcher"]


def problems_html(problems: Sequence[LineProblem]) -> str:
    """Render line problems as an HTML list (escaped)."""
    if not problems:
        return ""
    items = "".join(
        f"<li>line {p.line}: <code>{html.escape(p.text.strip()) or '(blank)'}</code> — "
        f"{html.escape(p.message)}</li>"
        for p in problems
    )
    return (
        f"<div style='color:#b00020'>{len(problems)} line"
        f"{'' if len(problems) == 1 else 's'} to fix before fetching:<ul>{items}</ul></div>"
    )


class BatchFetcher(ActionWidget):
    """Fetch the version histories of many image sets at once.

    Paste image set ids (one a line, or ``datastoreId,imageSetId``) or upload a CSV with an
    ``imageSetId`` column (and optionally ``datastoreId``). Every line is validated before
    any request; bad lines are listed with their line numbers and the Fetch button stays
    disabled. Fetching uses :func:`hi_widgets.bulk.fetch_versions` (concurrent, within the
    quotas) in the background with progress and Cancel; results show as the combined
    versions table, a per-item errors table (nothing is lost when some fail), a timeline,
    state counts and Export.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client; without one, a connection panel is shown.
    max_workers
        Initial number of concurrent workers.
    checkpoint
        Initial checkpoint file (the Checkpoint field; empty: none). Each completed image
        set is appended to it, so fetching again with the same file and ids (after a
        Cancel or a kernel restart) fetches only what is missing; see
        :func:`hi_widgets.bulk.fetch_versions`. A file written for other ids is refused
        in the status area.
    sandbox_options, client_options
        Passed to the connection panel.

    Attributes
    ----------
    result
        Traitlet: the last complete :class:`hi_widgets.bulk.FetchResult` (``.frame``,
        ``.errors``, ``.stats``, ``.pending``), or None; :meth:`on_result` callbacks get
        the same. :attr:`last_result` is the last one shown, cancelled or not.
    items : list of tuple
        The valid ``(datastore_id, image_set_id)`` pairs of the input.
    problems : list of LineProblem
        The input's bad lines.

    Notes
    -----
    CSS classes: ``hi-batch`` (root), ``hi-batch-ids`` (textarea), ``hi-batch-upload``,
    ``hi-datastore`` (default datastore), ``hi-batch-problems``, ``hi-batch-summary``,
    ``hi-batch-checkpoint``, ``hi-batch-fetch``, ``hi-cancel``, ``hi-progress``, ``hi-status``,
    ``hi-batch-versions-table``, ``hi-batch-version-count``, ``hi-batch-errors-table``,
    ``hi-batch-error-count``, ``hi-batch-timeline``, ``hi-batch-state-counts``,
    ``hi-download``, ``hi-connection``.

    Examples
    --------
    >>> batch = hw.BatchFetcher(client=client)
    >>> batch  # doctest: +SKIP
    """

    def __init__(
        self,
        client: HealthImagingClient | None = None,
        *,
        max_workers: int = 8,
        checkpoint: str | os.PathLike[str] | None = None,
        sandbox_options: Mapping[str, Any] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            client,
            unit="image sets",
            sandbox_options=sandbox_options,
            client_options=client_options,
        )
        self.last_result: FetchResult | None = None
        self.items: list[tuple[str, str]] = []
        self.problems: list[LineProblem] = []
        self.datastore = DatastoreField(self._validate, lambda: None)
        self.datastore.text.description = "Default datastore"
        self.datastore.dropdown.description = "Default datastore"
        for field in (self.datastore.text, self.datastore.dropdown):
            field.style = {"description_width": "initial"}
        self.ids = w.Textarea(
            value="",
            placeholder="one image set id a line, or datastoreId,imageSetId",
            description="Image sets",
            continuous_update=True,
            rows=8,
            layout=w.Layout(width="95%"),
        )
        self.ids.add_class("hi-batch-ids")
        self.ids.observe(lambda _c: self._validate(), names="value")
        self.upload = w.FileUpload(accept=".csv,text/csv", multiple=False, description="CSV…")
        self.upload.add_class("hi-batch-upload")
        self.upload.observe(self._uploaded, names="value")
        self.problems_box = w.HTML(value="")
        self.problems_box.add_class("hi-batch-problems")
        self.summary = w.Label(value="")
        self.summary.add_class("hi-batch-summary")
        self.workers = w.BoundedIntText(
            value=max_workers, min=1, max=64, description="Workers", layout={"width": "160px"}
        )
        self.workers.add_class("hi-batch-workers")
        self.checkpoint = w.Text(
            value="" if checkpoint is None else os.fspath(checkpoint),
            placeholder="optional file, to resume after a cancel or restart",
            description="Checkpoint",
            layout=w.Layout(width="95%"),
        )
        self.checkpoint.add_class("hi-batch-checkpoint")
        self.fetch_button = w.Button(
            description="Fetch all versions",
            icon="history",
            disabled=True,
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.fetch_button.add_class("hi-batch-fetch")
        self.runner.on_click(self.fetch_button, self.fetch)

        self.table = FrameGrid(
            "version",
            grid_class="hi-batch-versions-table",
            count_class="hi-batch-version-count",
            key_columns=("imageSetId", *VERSION_KEY_COLUMNS),
            hide_columns=("imageSetArn",),
        )
        self.errors_table = FrameGrid(
            "error",
            grid_class="hi-batch-errors-table",
            count_class="hi-batch-error-count",
            key_columns=("imageSetId", "error", "message"),
            clip_columns=("message",),
            scroll=False,
        )
        self.timeline = InteractiveTimeline("hi-batch-timeline")
        self.state_counts = plot_image(
            "hi-batch-state-counts",
            fill=False,
            alt="Bar chart: how many versions are in each state and workflow status",
        )
        self.export = ExportPanel(self.status, basename="batch-versions")
        self.tabs = w.Tab(
            children=[
                self.table,
                self.errors_table,
                self.timeline,
                self.state_counts,
                self.export,
            ],
            titles=("Versions", "Errors", "Timeline", "Status counts", "Export"),
        )

        self.children = [
            *self._leading_children(),
            self.datastore.box,
            self.ids,
            self.checkpoint,
            self._action_row(self.upload, self.workers, self.fetch_button, after=(self.summary,)),
            self.problems_box,
            self.runner.box,
            self.status,
            self.tabs,
        ]
        self.add_class("hi-batch")
        self._validate()
        if client is not None:
            self.load_datastores()

    # ------------------------------------------------------------------ state

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the running job ended (at most ``timeout`` seconds).

        Parameters
        ----------
        timeout
            Seconds to wait at most; None waits as long as the job runs.

        Returns
        -------
        bool
            True if nothing is running any more.
        """
        return super().wait(timeout)

    def _update_buttons(self) -> None:
        ready = bool(self.items) and not self.problems and self.client is not None
        self.fetch_button.disabled = self.runner.busy or not ready
        self.summary.value = self._summary_text()

    def _summary_text(self) -> str:
        """Say what Fetch would do, or why it is disabled (never "ready" beside a grey button)."""
        n = len(self.items)
        if not n:
            return ""
        sets = f"{n} image set{'' if n == 1 else 's'}"
        if self.problems:
            return f"{sets}; fix the lines below first"
        if self.client is None:
            return f"{sets}; connect first"
        if self.runner.busy:
            return f"{sets}; wait for the running job"
        return f"{sets} ready"

    def _datastore_field(self) -> DatastoreField:
        return self.datastore

    def _revalidate(self) -> bool:
        return self._validate()

    def _validate(self) -> bool:
        datastore = self.datastore.value.strip() or None
        self.items, self.problems = parse_id_text(self.ids.value, datastore)
        self.problems_box.value = problems_html(self.problems)
        self._update_buttons()
        return bool(self.items) and not self.problems

    def _uploaded(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        self.upload.value = ()  # so the same file can be chosen again
        try:
            self.ids.value = csv_to_lines(bytes(upload["content"]))
        except ValueError as error:
            self.status.show(f"{upload.get('name', 'CSV')}: {error}", "error")
            return
        self.status.show(
            f"Loaded {upload.get('name', 'the CSV file')}: {len(self.items)} image sets.", "info"
        )

    # ------------------------------------------------------------------ actions

    def fetch(self) -> bool:
        """Fetch every version of every listed image set in the background.

        Returns
        -------
        bool
            True if the fetch started (input valid, connected, not busy).
        """
        if not self._connected():
            return False
        if not self._validate():
            if self.problems:
                self.status.show("Fix the lines listed above first.", "warning")
            else:
                self.status.show("Nothing to fetch: paste image set ids first.", "warning")
            return False
        from hi_widgets.bulk import fetch_versions  # pandas-heavy; only when fetching

        client, items, workers = self._require_client(), list(self.items), int(self.workers.value)
        checkpoint = self.checkpoint.value.strip() or None
        progress = _MonotonicProgress(self.runner)

        def job(cancel: threading.Event) -> FetchResult:
            return fetch_versions(
                client,
                items,
                max_workers=workers,
                progress=progress,
                cancel=cancel,
                checkpoint=checkpoint,
            )

        def done(result: FetchResult) -> None:
            self.last_result = result
            self.show_result(result)
            if self.runner.cancelled or result.pending:
                self.status.show(_cancelled_summary(result), "warning")
                return
            text = _summary(result)
            self.status.show(text, "warning" if len(result.errors) else "info")
            self._publish(result)

        n = len(items)
        # The last result's download would pass for this run's while it runs.
        self.export.set_frame(None, note="Fetching: the new result is offered when it is in.")
        return self.runner.start(
            job,
            on_success=done,
            on_error=self._failed,
            label=f"Fetching {n} image set{'' if n == 1 else 's'}…",
        )

    def _failed(self, error: BaseException) -> None:
        """Show the error; earlier results stay, marked so, and are not offered for export."""
        self.status.show_error(error)
        if self.last_result is not None:
            self.table.set_note("The last fetch failed; these versions are from before.")
            self.export.set_frame(None, note="The last fetch failed: nothing to export.")

    def show_result(self, result: FetchResult) -> None:
        """Show a FetchResult: versions, errors, plots and export.

        The plots are drawn first: if that fails, every tab keeps what it showed.

        Parameters
        ----------
        result
            What :func:`hi_widgets.fetch_versions` (or a refresh) returned.
        """
        frame, errors = result.frame, result.errors
        state_counts = figure_to_png(plot_state_counts(frame))
        self.timeline.set_frame(frame)
        self.table.set_frame(frame)
        self.errors_table.set_frame(errors)
        self.export.set_frame(frame)
        self.tabs.selected_index = 0 if len(frame) or not len(errors) else 1
        self.state_counts.value = state_counts


def _summary(result: FetchResult) -> str:
    # FetchStats.summary() is the one wording; the error count is said plainly in front
    # because the Errors tab holds the details.
    errors = len(result.errors)
    return f"{errors} error{'' if errors == 1 else 's'}; {result.summary()}."


def _cancelled_summary(result: FetchResult) -> str:
    # Said once: "cancelled" and the pending count are not repeated from the stats line.
    stats, errors = result.stats, len(result.errors)
    return (
        f"Cancelled (partial): {stats.completed} of {stats.items} image sets fetched "
        f"({stats.versions} versions), {len(result.pending)} not fetched, "
        f"{errors} error{'' if errors == 1 else 's'}."
    )


class _MonotonicProgress:
    """Progress callback for worker threads: counts never go backwards on screen."""

    def __init__(self, runner: BackgroundRunner) -> None:
        self.runner = runner
        self.lock = threading.Lock()
        self.best = 0

    def __call__(self, progress: Progress) -> None:
        with self.lock:
            if progress.done < self.best:
                return
            self.best = progress.done
            self.runner.report(progress)
