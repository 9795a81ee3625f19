"""ImageSetExplorer: identifiers in; properties, version history, timeline and files out.

"Follow while LOCKED" polls the image set while an operation runs and shows, in the Live
tab, how long each state lasted as this client observed it: the one duration AWS does
not report (:mod:`hi_widgets.api.observe`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import traitlets

from hi_widgets.api.fetch import get_image_set
from hi_widgets.api.observe import Clock, iter_observations, observed_frame
from hi_widgets.api.progress import Progress
from hi_widgets.api.queries import fetch_history, fetch_image_sets
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.widgets._base import ActionWidget, action_button
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._grid import VERSION_KEY_COLUMNS, FrameGrid
from hi_widgets.widgets._html import record_html
from hi_widgets.widgets._imports_view import ImportsView
from hi_widgets.widgets._observe_panel import ObservePanel
from hi_widgets.widgets._preview_panel import PreviewPanel, PreviewTarget
from hi_widgets.widgets._search import SearchPanel
from hi_widgets.widgets._timeline import InteractiveTimeline
from hi_widgets.widgets.identifiers import DatastoreField, IdentifierForm

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["ImageSetExplorer"]

TAB_PROPERTIES, TAB_VERSIONS, TAB_TIMELINE, TAB_EXPORT, TAB_IMAGES, TAB_LIVE = range(6)


class ImageSetExplorer(ActionWidget):
    """Explore one image set: its properties, whole version history, timeline and export.

    Display it as a cell's result. Actions run in a background thread (the kernel stays
    responsive) with a progress bar and a Cancel button; errors appear in the status area
    with details on demand, and never clear results already shown.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client (see :func:`hi_widgets.make_client`). Without
        one, a connection panel (AWS profile / region / endpoint, or the local sandbox)
        is shown.
    datastore_id, image_set_id, version_id
        Initial field values.
    sandbox_options, client_options
        Passed to the connection panel (see :class:`ConnectionPanel`).

    Attributes
    ----------
    record : dict or None
        Traitlet: the last record from "Get image set".
    versions : pandas.DataFrame or None
        Traitlet: the last version history from "Fetch all versions" (partial if
        cancelled, see :attr:`versions_complete`).
    result
        Traitlet: the record (dict) after "Get image set", the versions DataFrame after
        a complete "Fetch all versions"; :meth:`on_result` callbacks get the same.
    client
        The client in use (None until connected).
    preview : PreviewPanel
        The Images tab: a few frames of the form's image set (and version), on request.
    live : ObservePanel
        The Live tab: the states "Follow while LOCKED" observed (:meth:`follow`).
    imports : ImportsView
        The Imports tab: the datastore's import jobs and a job's files; a file's image
        set opens in the Versions tab (``imports.open_history``). Results are published.
    observed : pandas.DataFrame or None
        The last :func:`hi_widgets.observed_frame` of :meth:`follow`.

    Examples
    --------
    >>> explorer = hw.ImageSetExplorer(
    ...     client=client, datastore_id=datastore_id, image_set_id=image_set_id
    ... )
    >>> explorer  # doctest: +SKIP
    """

    record = traitlets.Instance(dict, allow_none=True, help="the last Get image set record")
    versions = traitlets.Instance(pd.DataFrame, allow_none=True, help="the last history")

    def __init__(
        self,
        client: HealthImagingClient | None = None,
        *,
        datastore_id: str = "",
        image_set_id: str = "",
        version_id: str | int | None = None,
        sandbox_options: dict[str, Any] | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            client,
            unit="versions",
            sandbox_options=sandbox_options,
            client_options=client_options,
        )
        self.versions_complete = False
        self._datastore = ""  # the last valid datastore id of the form
        self._shown_key: tuple[str, str] | None = None  # whose versions are on screen
        self.form = IdentifierForm(on_change=self._form_changed, on_submit=self._submit)
        self.get_button = action_button("Get image set", "download", "hi-get")
        self.fetch_button = action_button("Fetch all versions", "history", "hi-fetch-all")
        self.follow_button = action_button(
            "Follow while LOCKED",
            "eye",
            "hi-follow",
            tooltip="Poll the image set until its operation ends; time the states as seen",
        )
        self.runner.on_click(self.get_button, self.get)
        self.runner.on_click(self.fetch_button, self.fetch_all)
        self.runner.on_click(self.follow_button, self.follow)
        self.observed: pd.DataFrame | None = None

        self.search = SearchPanel(on_pick=self._picked)
        self.runner.on_click(self.search.button, self.run_search)
        # A button that shows the search panel, not an Accordion: ipywidgets' accordion
        # header is a div the keyboard cannot reach (tabindex -1).
        self.search_toggle = w.ToggleButton(
            value=False,
            description="Search image sets",
            icon="search",
            tooltip="Show or hide the search criteria",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.search_toggle.add_class("hi-search-toggle")
        self.search.layout.display = "none"
        self.search_toggle.observe(self._toggle_search, names="value")

        self.properties = w.HTML(value="<i>Get an image set to see its properties.</i>")
        self.properties.add_class("hi-properties")
        # One image set: its ids are in the form and the status line, not in every row.
        self.table = FrameGrid(
            "version",
            grid_class="hi-versions-table",
            count_class="hi-version-count",
            key_columns=VERSION_KEY_COLUMNS,
            hide_columns=("datastoreId", "imageSetId", "imageSetArn"),
        )
        self.timeline = InteractiveTimeline("hi-timeline")
        # A version clicked on the timeline becomes the form's version (for Get).
        self.timeline.observe(self._timeline_clicked, names="selected_version")
        self.export = ExportPanel(self.status, basename="versions")
        self.export.add_class("hi-versions-export")  # the Imports tab has an export too
        self.preview = PreviewPanel(self.runner, self.status, self._preview_target)
        self.live = ObservePanel()
        self.imports = ImportsView(
            self.runner,
            self.status,
            lambda: self.client,
            self.form,
            self.fetch_all,
            self._publish,
            history_focus=self.fetch_button,
            default_s3_client=lambda: self.connection.s3_client() if self.connection else None,
        )
        tabs = [self.properties, self.table, self.timeline, self.export, self.preview]
        self.tabs = w.Tab(
            children=[*tabs, self.live, self.imports],
            titles=("Properties", "Versions", "Timeline", "Export", "Images", "Live", "Imports"),
        )
        self.tabs.add_class("hi-tabs")

        self.children = [
            *self._leading_children(),
            self.form,
            self.search_toggle,
            self.search,
            self._action_row(self.get_button, self.fetch_button, self.follow_button),
            self.runner.box,
            self.status,
            self.tabs,
        ]
        self.add_class("hi-explorer")

        if datastore_id:
            self.form.datastore.value = datastore_id
        if image_set_id:
            self.form.image_set.value = image_set_id
        if version_id is not None:
            self.form.version.value = str(version_id)
        self._update_buttons()
        if client is not None:
            self.load_datastores()

    # ------------------------------------------------------------------ state

    def _form_changed(self, _valid: bool) -> None:
        datastore = self.form.datastore.value.strip()
        if not self.form.errors.get("datastoreId") and datastore != self._datastore:
            if self._datastore:
                # Another datastore: the image set id and search results of the old
                # one mean nothing there.
                self.form.image_set.value = ""
                self.search.set_results(None)
            self._datastore = datastore
        self._update_buttons()
        self._mark_results()

    def _update_buttons(self) -> None:
        blocked = self.runner.busy or self.client is None or not self.form.valid
        self.get_button.disabled = blocked
        self.fetch_button.disabled = blocked
        self.follow_button.disabled = blocked
        self.preview.show_button.disabled = blocked
        self.imports.update_buttons(self.runner.busy or self.client is None)
        datastore_ok = not self.form.errors.get("datastoreId")
        self.search.button.disabled = self.runner.busy or self.client is None or not datastore_ok

    def _datastore_field(self) -> DatastoreField:
        return self.form.datastore

    def _revalidate(self) -> bool:
        return self.form.validate()

    def _can_run(self) -> bool:
        return self._connected() and self.form.validate()

    def _preview_target(self) -> PreviewTarget | None:
        if not self._can_run():
            return None
        datastore_id, image_set_id, version = self.form.values()
        return PreviewTarget(self._require_client(), datastore_id, image_set_id, version)

    def _submit(self) -> None:
        """Enter in a field: the main action ("Get image set")."""
        self.get()

    def _timeline_clicked(self, change: Mapping[str, Any]) -> None:
        if change["new"] is not None and self._shown_key == self._form_key():
            self.form.version.value = str(change["new"])

    def _form_key(self) -> tuple[str, str]:
        return (self.form.datastore.value.strip(), self.form.image_set.value.strip())

    def _toggle_search(self, change: Mapping[str, Any]) -> None:
        self.search.layout.display = "" if change["new"] else "none"

    def _picked(self, image_set_id: str) -> None:
        self.form.image_set.value = image_set_id

    # ------------------------------------------------------------------ actions

    def get(self) -> bool:
        """Run "Get image set" for the fields' values in the background.

        Returns
        -------
        bool
            True if the action started (fields valid, connected, not busy).
        """
        if not self._can_run():
            return False
        datastore_id, image_set_id, version = self.form.values()
        client = self._require_client()

        def job(_cancel: threading.Event) -> ImageSetRecord:
            return get_image_set(client, datastore_id, image_set_id, version)

        def done(record: ImageSetRecord) -> None:
            self.record = dict(record)
            self.runner.report(Progress(1, 1, "versions"))
            self.properties.value = record_html(record, css_class="hi-record")
            self.tabs.selected_index = TAB_PROPERTIES
            self._mark_results()
            self.status.show(
                f"Image set {image_set_id}, version {record.get('versionId')}: "
                f"{record.get('imageSetState')} / {record.get('imageSetWorkflowStatus')}.",
                "info",
            )
            self._publish(self.record)  # the same object: result is record

        what = f"version {version}" if version else "latest version"
        return self.runner.start(
            job,
            on_success=done,
            on_error=self._failed,
            label=f"Getting {what}…",
        )

    def fetch_all(self) -> bool:
        """Run "Fetch all versions" in the background (progress, cancellable).

        Returns
        -------
        bool
            True if the action started.
        """
        if not self._can_run():
            return False
        datastore_id, image_set_id, _version = self.form.values()
        client = self._require_client()

        def job(cancel: threading.Event) -> pd.DataFrame:
            return fetch_history(
                client, datastore_id, image_set_id, progress=self.runner.report, cancel=cancel
            )

        def done(frame: pd.DataFrame) -> None:
            cancelled = self.runner.cancelled
            if cancelled and frame.empty:
                self.status.show("Cancelled before any version was fetched.", "warning")
                return
            self.show_versions(frame, complete=not cancelled)
            numbers = [int(v) for v in frame["versionId"].dropna()]
            if not cancelled:
                self.form.version.use_versions(numbers, key=(datastore_id, image_set_id))
                self.status.show(
                    f"{len(frame)} versions of image set {image_set_id}.",
                    "info",
                )
                self._publish(frame)
            else:
                self.status.show(
                    f"Cancelled: showing the {len(frame)} versions fetched so far (partial).",
                    "warning",
                )

        return self.runner.start(
            job,
            on_success=done,
            on_error=self._failed,
            label="Fetching versions…",
        )

    def follow(
        self,
        *,
        timeout: float = 900.0,
        first_interval: float = 1.0,
        max_interval: float = 30.0,
        clock: Clock | None = None,
    ) -> bool:
        """Poll the form's image set until it is no longer LOCKED; show what was observed.

        Runs in the background (Cancel stops it between polls); the Live tab shows
        :func:`hi_widgets.observed_frame` of the polls, durations labelled as observed.

        Parameters
        ----------
        timeout, first_interval, max_interval, clock
            As in :func:`hi_widgets.iter_observations`.

        Returns
        -------
        bool
            True if the action started.
        """
        if not self._can_run():
            return False
        datastore_id, image_set_id, _version = self.form.values()
        client = self.client

        def job(cancel: threading.Event) -> list[dict[str, Any]]:
            polls: list[dict[str, Any]] = []
            for poll in iter_observations(
                client,
                datastore_id,
                image_set_id,
                timeout=timeout,
                first_interval=first_interval,
                max_interval=max_interval,
                clock=clock,
                cancel=cancel,
            ):
                polls.append(poll)
                self.runner.report(Progress(len(polls), None, "polls"))
            return polls

        def done(polls: list[dict[str, Any]]) -> None:
            frame = observed_frame(polls)
            self.observed = frame
            self.live.set_frame(frame)
            self.tabs.selected_index = TAB_LIVE
            last = polls[-1] if polls else None
            if last is None:
                self.status.show("Stopped before any poll was answered.", "warning")
            elif last["imageSetState"] == "LOCKED":
                self.status.show(
                    f"Still LOCKED ({last['imageSetWorkflowStatus']}) when following stopped.",
                    "warning",
                )
            else:
                self.status.show(
                    f"Image set {image_set_id}: {last['imageSetState']} / "
                    f"{last['imageSetWorkflowStatus']} (version {last['versionId']}) after "
                    f"{len(polls)} polls; durations in the Live tab are observed.",
                    "info",
                )

        return self.runner.start(
            job,
            on_success=done,
            on_error=self._failed,
            label="Following the image set…",
            unit="polls",
        )

    def _failed(self, error: BaseException) -> None:
        """Show the error; results on screen stay, marked as earlier, and are not offered."""
        self.status.show_error(error)
        if self._shown_key is not None:
            self._mark_results(failed=True)
            self.export.set_frame(
                None, note="The last action failed: nothing to export for these inputs."
            )

    def _mark_results(self, failed: bool = False) -> None:
        """Say when the versions on screen are not those of the form's image set."""
        if self._shown_key is None:
            return
        datastore, image_set = self._shown_key
        now = self._form_key()
        if failed:
            self.table.set_note(
                f"The last action failed; these versions are of image set {image_set}, "
                "fetched before."
            )
        elif now != self._shown_key:
            where = "" if now[0] == datastore else f" in datastore {datastore}"
            self.table.set_note(
                f"These versions are of image set {image_set}{where}, not the one in the form."
            )
        else:
            self.table.set_note("")

    def show_versions(self, df: pd.DataFrame, *, complete: bool = True) -> None:
        """Show a versions frame in the Versions, Timeline and Export tabs.

        The timeline is drawn first: if that fails, every tab keeps what it showed.

        Parameters
        ----------
        df
            A versions frame (:func:`hi_widgets.versions_frame`).
        complete
            False when the history was cut short (cancelled): the tabs say so.
        """
        self.timeline.set_frame(df)
        self.versions_complete = complete  # first: observers of `versions` read it
        self.versions = df
        ids = df["imageSetId"].dropna().unique()
        datastores = df["datastoreId"].dropna().unique()
        self._shown_key = (
            (str(datastores[0]), str(ids[0])) if len(ids) == 1 and len(datastores) == 1 else None
        )
        self.table.set_frame(df)
        basename = f"versions-{ids[0]}" if len(ids) == 1 else "versions"
        self.export.set_frame(df, basename=basename)
        self.tabs.selected_index = TAB_VERSIONS

    def run_search(self) -> bool:
        """Search image sets in the chosen datastore with the search panel's criteria.

        Returns
        -------
        bool
            True if the search started (connected, a datastore chosen, not busy).
        """
        if self.runner.busy or self.client is None:
            return False
        datastore_id = self.form.datastore.value
        criteria = self.search.criteria()
        client = self._require_client()

        def job(_cancel: threading.Event) -> pd.DataFrame:
            return fetch_image_sets(client, datastore_id, **criteria)

        def done(frame: pd.DataFrame) -> None:
            self.search.set_results(frame)
            self.status.show(f"Search found {len(frame)} image sets.", "info")

        return self.runner.start(
            job,
            on_success=done,
            label="Searching…",
            cancellable=False,
        )
