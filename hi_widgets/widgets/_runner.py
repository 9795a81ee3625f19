"""The background runner: one job at a time in a thread, with progress and cancel.

This is the only threading code of the widgets. Thread rule: a worker thread only
assigns widget traits (ipywidgets syncs them) and never uses ``with output:``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from hi_widgets.api.progress import Progress
from hi_widgets.widgets._status import StatusArea

log = logging.getLogger("hi_widgets.widgets")


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
        self.cancel_button = w.Button(
            description="Cancel",
            icon="stop",
            disabled=True,
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.cancel_button.add_class("hi-cancel")
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.box = w.HBox([self.cancel_button, self.progress, self.progress_label])
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        self._reported = False
        self._counts: tuple[int, int | None] = (0, None)
        self._label = ""
        self._unit = unit
        self._returned = False
        self._cancelled = False
        self._return_focus: w.DOMWidget | None = None
        self._clicked: w.DOMWidget | None = None  # the button whose click runs now
        self.last_error: BaseException | None = None

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self._running

    @property
    def cancel_event(self) -> threading.Event:
        """The Event of the current (or last) job; set by :meth:`cancel`."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        """Whether the last job was cut short by Cancel.

        Decided once, when the job returned: a Cancel that arrives after the job had
        already fetched everything it reported (``done == total``), or after it returned,
        does not count, so an action ends with one outcome, never "done" and "cancelled".
        """
        return self._cancelled

    def cancel(self) -> None:
        """Ask the running job to stop before its next request."""
        if self._returned:  # too late: the result is in and being shown
            return
        self._cancel.set()
        self._enable_cancel(False)
        if self.busy:
            self.status.show("Cancelling…", "warning")

    def on_click(
        self,
        button: w.Button,
        action: Callable[[], Any],
        *,
        focus_after: w.DOMWidget | None = None,
    ) -> None:
        """Make ``button`` run ``action()``; a job it starts keeps the keyboard focus near.

        See :meth:`start`: the focus moves to Cancel while the job runs and returns to
        ``button`` afterwards, or to ``focus_after`` (for an action that shows its
        result somewhere that hides the button, such as another tab).
        """

        def clicked(_button: w.Button) -> None:
            self._clicked = button if focus_after is None else focus_after
            try:
                action()
            finally:
                self._clicked = None

        button.on_click(clicked)

    def report(self, progress: Progress) -> None:
        """Progress callback for the data layer (:class:`~hi_widgets.api.progress.Progress`)."""
        done, total = progress.done, progress.total
        self._reported = True
        self._counts = (int(done), int(total) if total else None)
        if total:
            self.progress.max = max(int(total), 1)
            self.progress.value = min(int(done), self.progress.max)
            self.progress_label.value = f"{done} / {total} {self._unit}"
        else:
            self.progress.max = max(int(done), 1)
            self.progress.value = int(done)
            self.progress_label.value = f"{done} {self._unit}"

    def start(
        self,
        job: Callable[[threading.Event], Any],
        *,
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        label: str = "Working…",
        cancellable: bool = True,
        unit: str | None = None,
    ) -> bool:
        """Start ``job(cancel_event)`` in a thread unless one is running.

        ``on_success(result)`` runs in the worker thread after the job returns;
        exceptions from the job or from ``on_success`` go to ``on_error`` (default: the
        status area). Busy state is reset in ``finally``.

        Keyboard focus: a button registered with :meth:`on_click` is disabled while its
        job runs, which would drop the focus to the page's body. Its cancellable job
        moves the focus to Cancel, and when the job ended it goes back to the button.
        A job not started by such a click leaves the focus alone.

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
            self._counts = (0, None)
            self._returned = False
            self._cancelled = False
            self._label = label
            self._unit = unit or self.unit
            self._show_progress(True)
            self._enable_cancel(cancellable)
            self.status.show(label, "")
            self._running = True
            self._return_focus = self._clicked
            self._set_busy(True)
            if cancellable and self._clicked is not None:
                self.cancel_button.focus()
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
            self._returned = True
            self._enable_cancel(False)
            done, total = self._counts
            self._cancelled = cancel.is_set() and not (total is not None and done >= total)
            if on_success is not None:
                on_success(result)
            outcome = "cancelled" if self._cancelled else "done"
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
            self._returned = True
            self._enable_cancel(False)
            self._show_outcome(outcome)
            self._running = False
            self._set_busy(False)
            target = self._return_focus
            if target is not None and not getattr(target, "disabled", False):
                target.focus()

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
