"""ActionWidget: the one base class of the widgets whose actions run in the background.

It owns what every action widget shares: the status area, the background runner (busy,
wait, cancel), the connection panel shown when no client was given, datastore listing,
and the results, which users observe as the ``result`` traitlet or through
:meth:`ActionWidget.on_result`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets

from hi_widgets.widgets._frontend import page_fixes
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._status import StatusArea
from hi_widgets.widgets.connection import ConnectionPanel
from hi_widgets.widgets.identifiers import DatastoreField

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["ActionWidget", "action_button"]


def action_button(description: str, icon: str, css_class: str, **kwargs: Any) -> w.Button:
    """Return an action button as wide as its text, disabled until the widget enables it."""
    button = w.Button(
        description=description,
        icon=icon,
        disabled=True,
        layout=w.Layout(width="auto", min_width="fit-content"),
        **kwargs,
    )
    button.add_class(css_class)
    return button


class ActionWidget(w.VBox):
    """Base of the widgets whose actions run in a background thread.

    A subclass builds its own controls after calling ``super().__init__`` (which makes
    :attr:`status`, :attr:`runner` and, without a client, :attr:`connection`), sets
    ``self.children`` (starting with :meth:`_leading_children`), and overrides
    :meth:`_update_buttons`; one that picks a datastore also overrides
    :meth:`_datastore_field` and :meth:`_revalidate`.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client, or None to show a connection panel.
    unit
        Word after the counts in the progress label ("versions", "image sets").
    sandbox_options, client_options
        Passed to the connection panel (see :class:`ConnectionPanel`).

    Attributes
    ----------
    result
        Traitlet (not synced to the front end) holding the outcome of the last
        successful action; observe it with ``widget.observe(callback, names="result")``.
        Observers run in the worker thread.
    client
        The client in use (None until connected).
    status : StatusArea
    runner : BackgroundRunner
    connection : ConnectionPanel or None
    """

    result = traitlets.Any(None, allow_none=True, help="outcome of the last successful action")

    def __init__(
        self,
        client: HealthImagingClient | None = None,
        *,
        unit: str = "versions",
        sandbox_options: Mapping[str, Any] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self._callbacks: list[Callable[[Any], None]] = []
        self.status = StatusArea()
        self.runner = BackgroundRunner(self.status, self._busy_changed, unit=unit)
        self.page_fixes = page_fixes()
        self.connection: ConnectionPanel | None = None
        if client is None:
            self.connection = ConnectionPanel(
                sandbox_options=sandbox_options, client_options=client_options
            )
            self.runner.on_click(self.connection.connect_button, self.connect)

    # ------------------------------------------------------------------ subclass hooks

    def _datastore_field(self) -> DatastoreField | None:
        """Return the datastore field that :meth:`connect` and :meth:`load_datastores` fill."""
        return None

    def _revalidate(self) -> Any:
        """Check the input again (after connecting or listing datastores)."""

    def _update_buttons(self) -> None:
        """Enable or disable the widget's buttons for its state."""

    # ------------------------------------------------------------------ runner

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
        if self.connection is not None:
            self.connection.connect_button.disabled = self.runner.busy

    def _action_row(self, *widgets: w.Widget, after: tuple[w.Widget, ...] = ()) -> w.HBox:
        """Return a row of the action buttons with Cancel beside them (not a row below).

        ``after`` follows Cancel (e.g. a summary); the runner's own row keeps the
        progress bar and its label.
        """
        self.runner.box.children = (self.runner.progress, self.runner.progress_label)
        row = w.HBox(
            [*widgets, self.runner.cancel_button, *after],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        row.add_class("hi-actions")
        return row

    def _leading_children(self) -> list[w.Widget]:
        """Return the first children: the stylesheet and, without a client, a connection panel."""
        return [self.page_fixes] + ([] if self.connection is None else [self.connection])

    def _require_client(self) -> HealthImagingClient:
        """Return the client; only called once :meth:`_connected` said there is one."""
        if self.client is None:
            raise RuntimeError("no client yet: connect first")
        return self.client

    def _connected(self) -> bool:
        """Return True if a job may start now; say "Connect first" without a client."""
        if self.runner.busy:
            return False
        if self.client is None:
            self.status.show("Connect first (connection panel above).", "warning")
            return False
        return True

    # ------------------------------------------------------------------ results

    def on_result(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Call ``callback(result)`` after each successful action (in the worker thread).

        An exception the callback raises is shown in the status area (and logged), not
        swallowed. Observing the ``result`` traitlet does the same in the ipywidgets way.
        """
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def _publish(self, result: Any) -> None:
        """Set :attr:`result` and call every :meth:`on_result` callback."""
        try:
            self.result = result
        except Exception as error:  # an observer raised: show it, still call the others
            self.status.show_error(error, context="result observer failed")
        # Every callback runs; one failing does not starve the others.
        for callback in list(self._callbacks):
            try:
                callback(result)
            except Exception as error:
                self.status.show_error(error, context="on_result callback failed")

    # ------------------------------------------------------------------ connection

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
            field = self._datastore_field()
            if field is not None:
                field.load(client)
            return client

        def done(_client: HealthImagingClient) -> None:
            self.status.show(panel.info.value, "info")
            self._revalidate()

        return self.runner.start(job, on_success=done, label="Connecting…", cancellable=False)

    def load_datastores(self) -> bool:
        """List datastores in the background to fill the datastore dropdown."""
        field = self._datastore_field()
        if field is None:
            return False

        def job(_cancel: threading.Event) -> Any:
            return field.load(self._require_client())

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
        # getattr: ipywidgets closes from __del__ too, also after a failed __init__.
        runner, connection = getattr(self, "runner", None), getattr(self, "connection", None)
        if runner is not None:
            runner.cancel()
        if connection is not None:
            connection.close()
        super().close()
