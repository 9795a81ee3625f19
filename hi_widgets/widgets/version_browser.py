"""VersionBrowser: one image set's versions, the selected one highlighted, and what changed."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import traitlets

from hi_widgets.api.errors import HealthImagingError, InvalidIdentifierError
from hi_widgets.api.fetch import get_image_set
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id, validate_version_id
from hi_widgets.api.progress import Progress
from hi_widgets.api.queries import fetch_history
from hi_widgets.changes.diff import diff_versions, drop_phi_paths
from hi_widgets.widgets._base import ActionWidget
from hi_widgets.widgets._changes_view import ChangesView, change_log_loader
from hi_widgets.widgets._diff_view import DIFF_COLUMNS, diff_display, diff_summary
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._frontend import VersionSlider
from hi_widgets.widgets._grid import FrameGrid
from hi_widgets.widgets._html import record_html
from hi_widgets.widgets._preview_panel import PreviewPanel, PreviewTarget
from hi_widgets.widgets._timeline import InteractiveTimeline

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["VersionBrowser"]

TAB_PROPERTIES, TAB_TIMELINE, TAB_DIFF, TAB_CHANGES, TAB_IMAGES = range(5)

DETAIL_FIELDS = ("imageSetArn", "lastAccessedAt", "storageTier")
"""Fields ListImageSetVersions does not return: one GetImageSet of the selected version."""

MAX_PAIRS_SEARCHED = 10
"""How many neighbouring pairs, newest first, the diff looks at for a change on opening."""

_PLACEHOLDER = [("—", 0)]


def _redact(df: pd.DataFrame, *, include_phi: bool) -> pd.DataFrame:
    return df if include_phi else drop_phi_paths(df)


def _values(widget: w.Dropdown) -> list[Any]:
    return [o[1] if isinstance(o, tuple) else o for o in widget.options]


class VersionBrowser(ActionWidget):
    """Browse the versions of one image set and diff the metadata of two of them.

    Versions load in the background as soon as the widget is built (the kernel stays
    responsive; :meth:`wait` blocks until they are in). Moving the version slider shows
    that version's properties and highlights it on the timeline. "Compare" fetches the
    metadata of the two chosen versions (GetImageSetMetadata), flattens it to attribute
    paths and shows the added, removed and changed attributes.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        The image set (checked here; a malformed id raises before any request).
    load
        Start loading versions at once (default). With False, call :meth:`load`.

    Attributes
    ----------
    versions : pandas.DataFrame or None
        Traitlet: the version history (oldest first).
    diff : pandas.DataFrame or None
        Traitlet: the last comparison (:func:`hi_widgets.changes.diff.diff_metadata`); contains
        PHI when patient attributes changed.
    result
        Traitlet: the versions frame after loading, the diff after Compare, the change
        log after loading it; :meth:`on_result` callbacks get the same.
    changes_view : ChangesView
        The Changes tab: the change log (``changes_view.changes``), a row opens its diff.
    preview : PreviewPanel
        The Images tab: frames of the selected version, on request.

    Raises
    ------
    InvalidIdentifierError
        If an identifier is malformed.

    Notes
    -----
    CSS classes: ``hi-version-browser`` (root), ``hi-browser-version`` (slider),
    ``hi-browser-properties``, ``hi-browser-timeline``, ``hi-diff-a``, ``hi-diff-b``,
    ``hi-compare``, ``hi-diff-table``, ``hi-diff-count``, ``hi-diff-export`` (its
    download link ``hi-download``; patient attributes are left out of exports unless
    "Include patient (PHI) attributes" is ticked), ``hi-changes`` (the Changes tab:
    ``hi-changes-load``, ``hi-changes-table``, ``hi-changes-plot``,
    ``hi-changes-export``), ``hi-preview`` (the Images tab: ``hi-preview-show``,
    ``hi-preview-image``, ``hi-preview-message``); status ``hi-status``, progress
    ``hi-progress``, cancel ``hi-cancel``.

    Examples
    --------
    >>> browser = hw.VersionBrowser(
    ...     client=client, datastore_id=datastore_id, image_set_id=image_set_id
    ... )
    >>> browser  # doctest: +SKIP
    """

    versions = traitlets.Instance(pd.DataFrame, allow_none=True, help="the version history")
    diff = traitlets.Instance(pd.DataFrame, allow_none=True, help="the last comparison")

    def __init__(
        self,
        client: HealthImagingClient,
        datastore_id: str,
        image_set_id: str,
        *,
        load: bool = True,
    ) -> None:
        datastore_id = validate_datastore_id(datastore_id)
        image_set_id = validate_image_set_id(image_set_id)
        if client is None:
            raise ValueError("client: expected a boto3 medical-imaging client, got None")
        super().__init__(client, unit="versions")
        self._client = client  # required here, so never None (unlike ActionWidget.client)
        self.datastore_id = datastore_id
        self.image_set_id = image_set_id
        self.diff_versions: tuple[int, int] | None = None
        self._details: dict[int, dict[str, Any]] = {}
        self._diff_opened = False
        self.title = w.HTML(
            f"<b>Image set</b> <code>{self.image_set_id}</code> "
            f"<small>(datastore <code>{self.datastore_id}</code>)</small>"
        )
        self.slider = VersionSlider(
            options=_PLACEHOLDER, value=0, description="Version", disabled=True
        )
        self.slider.layout = w.Layout(width="60%", min_width="20em", max_width="100%")
        self.slider.add_class("hi-browser-version")
        self.slider.observe(self._selected, names="value")
        self.properties = w.HTML(value="<i>Loading versions…</i>")
        self.properties.add_class("hi-browser-properties")
        self.timeline = InteractiveTimeline("hi-browser-timeline")
        self.timeline.observe(self._timeline_clicked, names="selected_version")
        self.from_version_id = w.Dropdown(options=_PLACEHOLDER, description="Old", disabled=True)
        self.from_version_id.add_class("hi-diff-a")
        self.to_version_id = w.Dropdown(options=_PLACEHOLDER, description="New", disabled=True)
        self.to_version_id.add_class("hi-diff-b")
        self.compare_button = w.Button(
            description="Compare",
            icon="exchange",
            disabled=True,
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.compare_button.add_class("hi-compare")
        self.runner.on_click(self.compare_button, self.compare)
        self.reload_button = w.Button(
            description="Reload",
            icon="refresh",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.reload_button.add_class("hi-reload")
        self.runner.on_click(self.reload_button, self.load)
        self.diff_summary = w.HTML(
            value="<i>Choose two versions and press Compare to see what changed.</i>"
        )
        self.diff_summary.add_class("hi-diff-summary")
        self.diff_table = FrameGrid(
            "change",
            grid_class="hi-diff-table",
            count_class="hi-diff-count",
            key_columns=DIFF_COLUMNS,
            html_columns=("where",),
            height="360px",
        )
        self.diff_export = ExportPanel(self.status, basename="metadata-diff", redact=_redact)
        self.diff_export.include_phi.description = "Include patient (PHI) attributes"
        self.diff_export.add_class("hi-diff-export")
        self.changes_view = ChangesView(
            self.runner,
            self.status,
            change_log_loader(client, datastore_id, image_set_id),
            open_pair=self.compare,
            publish=self._publish,
            basename=f"changes-{image_set_id}",
        )
        self.preview = PreviewPanel(
            self.runner,
            self.status,
            lambda: PreviewTarget(self._client, datastore_id, image_set_id, self.selected_version),
        )
        self.tabs = w.Tab(
            children=[
                w.VBox([self.properties]),
                self.timeline,
                w.VBox(
                    [
                        w.HBox([self.from_version_id, self.to_version_id, self.compare_button]),
                        self.diff_summary,
                        self.diff_table,
                        w.HTML("<b>Export the diff</b>"),
                        self.diff_export,
                    ]
                ),
                self.changes_view,
                self.preview,
            ],
            titles=("Properties", "Timeline", "Metadata diff", "Changes", "Images"),
        )
        self.tabs.observe(self._tab_opened, names="selected_index")
        self.children = [
            *self._leading_children(),
            w.HBox([self.title, self.reload_button]),
            self.slider,
            self.runner.box,
            self.status,
            self.tabs,
        ]
        self.add_class("hi-version-browser")
        if load:
            self.load()

    @property
    def selected_version(self) -> int | None:
        """The version number on the slider (None before versions are loaded)."""
        value = self.slider.value
        return int(value) if value else None

    @selected_version.setter
    def selected_version(self, version: int | str) -> None:
        self.slider.value = int(validate_version_id(version))

    def _update_buttons(self) -> None:
        loaded = self.versions is not None and not self.versions.empty
        self.compare_button.disabled = self.runner.busy or not loaded
        self.reload_button.disabled = self.runner.busy
        self.changes_view.load_button.disabled = self.runner.busy
        self.preview.show_button.disabled = self.runner.busy

    def load(self) -> bool:
        """Load (or reload) every version in the background.

        Returns
        -------
        bool
            False if a job is already running.
        """
        self._details.clear()
        self._diff_opened = False

        def job(cancel: threading.Event) -> pd.DataFrame:
            frame = fetch_history(
                self._client,
                self.datastore_id,
                self.image_set_id,
                progress=self.runner.report,
                cancel=cancel,
            )
            if len(frame) and not cancel.is_set():
                # The history is what was asked for: without details it still shows.
                with contextlib.suppress(HealthImagingError):
                    self._fetch_details(int(frame["versionId"].max()))
            return frame

        def done(frame: pd.DataFrame) -> None:
            cancelled = self.runner.cancelled
            if frame.empty:
                self.status.show(
                    "Cancelled before any version was loaded."
                    if cancelled
                    else "This image set has no versions.",
                    "warning",
                )
                return
            self._show_versions(frame)
            self.changes_view.mark_outdated(frame)
            message = f"{len(frame)} versions loaded."
            if cancelled:
                message = f"Cancelled: {len(frame)} versions loaded (partial)."
            self.status.show(message, "warning" if cancelled else "info")
            if not cancelled:
                self._publish(frame)

        return self.runner.start(job, on_success=done, label="Loading versions…")

    def _show_versions(self, frame: pd.DataFrame) -> None:
        self.versions = frame
        numbers = sorted(int(v) for v in frame["versionId"].dropna())
        options = [(str(n), n) for n in numbers]
        latest = numbers[-1]
        previous = numbers[-2] if len(numbers) > 1 else latest
        self.slider.unobserve(self._selected, names="value")
        try:
            self.slider.options = options
            self.slider.value = latest
        finally:
            self.slider.observe(self._selected, names="value")
        self.slider.disabled = False
        self.from_version_id.options = options
        self.from_version_id.value = previous
        self.to_version_id.options = options
        self.to_version_id.value = latest
        self.from_version_id.disabled = self.to_version_id.disabled = False
        self._render_selected(latest)

    def _selected(self, change: Mapping[str, Any]) -> None:
        if change["new"]:
            try:
                self._render_selected(int(change["new"]))
            except Exception as error:  # an observer must not raise into the front end
                self.status.show_error(error, context="Could not show the version")

    def _render_selected(self, version: int) -> None:
        frame = self.versions
        if frame is None:
            return
        rows = frame[frame["versionId"] == version]
        if rows.empty:
            self.properties.value = f"<i>Version {version} is not in the history.</i>"
            return
        if self.timeline.selected_version != version or self.timeline.frame is not frame:
            if self.timeline.frame is frame:
                self.timeline.highlight(version)
            else:
                self.timeline.set_frame(frame, highlight_version_id=version)
                self.timeline.selected_version = version
        record = {str(k): v for k, v in rows.iloc[0].items()}
        details = self._details.get(version)
        if details is not None:
            record.update({k: details.get(k) for k in DETAIL_FIELDS})
        self.properties.value = record_html(record, css_class="hi-record")
        if details is None and not self.runner.busy:
            self.runner.start(
                lambda _cancel: self._fetch_details(version),
                on_success=lambda _r: self._show_details(),
                label=f"Getting details of version {version}…",
                cancellable=False,
            )

    def _fetch_details(self, version: int) -> None:
        """GetImageSet of ``version`` and then of whatever is selected now (cached)."""
        while version not in self._details:
            record = get_image_set(self._client, self.datastore_id, self.image_set_id, version)
            self._details[version] = dict(record)
            version = self.selected_version or version

    def _show_details(self) -> None:
        version = self.selected_version
        if version is not None and self.versions is not None:
            self._render_selected(version)
        self.status.clear()

    def compare(
        self, from_version_id: int | str | None = None, to_version_id: int | str | None = None
    ) -> bool:
        """Diff the metadata of two versions in the background.

        Parameters
        ----------
        from_version_id, to_version_id
            Old and new version; default: the two dropdowns.

        Returns
        -------
        bool
            False if a job is already running or an argument is invalid (the status
            area says why).
        """
        if self.runner.busy:
            return False
        try:
            old = self.from_version_id.value if from_version_id is None else from_version_id
            new = self.to_version_id.value if to_version_id is None else to_version_id
            a, b = (int(validate_version_id(value)) for value in (old, new))
        except InvalidIdentifierError as error:
            self.status.show_error(error)
            return False
        if from_version_id is not None and a in _values(self.from_version_id):
            self.from_version_id.value = a
        if to_version_id is not None and b in _values(self.to_version_id):
            self.to_version_id.value = b

        def job(_cancel: threading.Event) -> pd.DataFrame:
            return diff_versions(self._client, self.datastore_id, self.image_set_id, a, b)

        return self.runner.start(
            job,
            on_success=lambda frame: self._show_diff(a, b, frame),
            on_error=self._compare_failed,
            label=f"Comparing versions {a} and {b}…",
            cancellable=False,
        )

    def _compare_failed(self, error: BaseException) -> None:
        """Show the error; an earlier diff stays, marked so, and is not offered for export."""
        self.status.show_error(error)
        if self.diff_versions is not None:
            a, b = self.diff_versions
            self.diff_table.set_note(
                f"The last comparison failed; this is the diff of versions {a} → {b}."
            )
            self.diff_export.set_frame(None, note="The last comparison failed: nothing to export.")

    def _show_diff(self, a: int, b: int, frame: pd.DataFrame) -> None:
        self._diff_opened = True
        self.diff = frame
        self.diff_versions = (a, b)
        self.diff_summary.value = diff_summary(a, b, frame)
        self.diff_table.set_frame(diff_display(frame))
        self.diff_export.set_frame(frame, basename=f"metadata-diff-{self.image_set_id}-v{a}-v{b}")
        self.tabs.selected_index = TAB_DIFF
        n = len(frame)
        self.status.show(
            f"Compared version {a} with {b}: {n} difference{'' if n == 1 else 's'}.", "info"
        )
        self._publish(frame)

    def _timeline_clicked(self, change: Mapping[str, Any]) -> None:
        """Select the version clicked on the timeline; diff it with the one before."""
        version = change["new"]
        if version is None or version not in _values(self.to_version_id):
            return
        self.slider.value = version
        older = [v for v in _values(self.from_version_id) if v < version]
        self.to_version_id.value = version
        self.from_version_id.value = older[-1] if older else version

    def _tab_opened(self, change: Mapping[str, Any]) -> None:
        if change["new"] == TAB_DIFF and not self._diff_opened and self.diff is None:
            self.compare_newest_change()
        elif change["new"] == TAB_CHANGES and (
            not self.changes_view.loaded or self.changes_view.outdated
        ):
            self.changes_view.load()

    def compare_newest_change(self) -> bool:
        """Show the newest pair of neighbouring versions whose metadata differs.

        Looks at up to :data:`MAX_PAIRS_SEARCHED` pairs, newest first, in the background;
        if all of them are identical, shows the newest pair and says so.

        Returns
        -------
        bool
            False if versions are not loaded yet or a job is running.
        """
        if self.runner.busy or self.versions is None or len(self.versions) < 2:
            return False
        self._diff_opened = True
        numbers = sorted(int(v) for v in self.versions["versionId"].dropna())
        pairs = list(zip(numbers[-2::-1], numbers[:0:-1], strict=True))[:MAX_PAIRS_SEARCHED]
        client, ds, image_set = self._client, self.datastore_id, self.image_set_id

        def job(cancel: threading.Event) -> tuple[int, int, pd.DataFrame, int]:
            first: tuple[int, int, pd.DataFrame] | None = None
            for searched, (a, b) in enumerate(pairs, start=1):
                frame = diff_versions(client, ds, image_set, a, b)
                first = first or (a, b, frame)
                if len(frame):
                    # Found: the search is over, so the bar is full ("1 / 1", not "1 / 10").
                    self.runner.report(Progress(searched, searched, "version pairs"))
                    return a, b, frame, searched
                self.runner.report(Progress(searched, len(pairs), "version pairs"))
                if cancel.is_set():
                    return a, b, frame, searched
            assert first is not None
            return (*first, len(pairs))

        def done(found: tuple[int, int, pd.DataFrame, int]) -> None:
            a, b, frame, searched = found
            self.from_version_id.value, self.to_version_id.value = a, b
            self._show_diff(a, b, frame)
            newest = pairs[0]
            if frame.empty and self.runner.cancelled:
                self.diff_summary.value = (
                    f"Cancelled after {searched} pairs; showing {a} → {b}, which is identical."
                )
            elif frame.empty:
                self.diff_summary.value = (
                    f"The newest {searched} pairs of versions are identical "
                    f"(no metadata changed); showing {a} → {b}."
                )
            elif (a, b) != newest:
                self.diff_summary.value += (
                    f" <small>(the newest change: versions {b} to {newest[1]} have "
                    "identical metadata)</small>"
                )

        return self.runner.start(
            job,
            on_success=done,
            label="Looking for the newest change…",
            unit="pairs compared",
        )
