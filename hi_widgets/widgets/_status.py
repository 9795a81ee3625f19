"""The status area: one message line plus a "Details" toggle."""

from __future__ import annotations

import html
import logging
import traceback
from collections.abc import Mapping
from typing import Any, ClassVar

import ipywidgets as w

from hi_widgets.api.errors import HealthImagingError

log = logging.getLogger("hi_widgets.widgets")


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
        # The message takes the room left by the toggle and wraps (min_width 0 lets it
        # shrink), so a long message never pushes the toggle out of view.
        self.message = w.HTML(value="", layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.message.add_class("hi-status")
        self.toggle = w.ToggleButton(
            value=False,
            description="Details",
            layout=w.Layout(width="auto", flex="0 0 auto", display="none"),
        )
        self.toggle.add_class("hi-status-details-toggle")
        self.details = w.HTML(value="", layout=w.Layout(display="none"))
        self.details.add_class("hi-status-details")
        self.toggle.observe(self._on_toggle, names="value")
        self.kind = ""
        self.text = ""
        line = w.HBox(
            [self.message, self.toggle], layout=w.Layout(width="100%", align_items="flex-start")
        )
        super().__init__([line, self.details])

    def _on_toggle(self, change: Mapping[str, Any]) -> None:
        self.details.layout.display = "block" if change["new"] else "none"

    def show(self, text: str, kind: str = "info", details: str | None = None) -> None:
        """Show a message; ``kind`` is ``"info"``, ``"warning"``, ``"error"`` or ``""``."""
        color = self._COLORS.get(kind, "inherit")
        self.kind = kind
        self.text = text
        self.message.value = (
            f"<div class='hi-status-{kind or 'plain'}' style='color:{color};line-height:1.4;"
            f"white-space:normal;overflow-wrap:anywhere;padding:4px 0'>"
            f"{html.escape(text)}</div>"
            if text
            else ""
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
