"""The explorer's Live tab: what following a LOCKED image set observed, labelled as such."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from hi_widgets.widgets._grid import FrameGrid

__all__ = ["OBSERVED_NOTE", "ObservePanel"]

OBSERVED_NOTE = (
    "Observed by this client while polling GetImageSet: each state's first and last poll, "
    "and how long it lasted <b>as observed</b> (at least / at most, as precise as the "
    "polling). AWS reports no operation durations; a settled history cannot give them."
)


class ObservePanel(w.VBox):
    """A grid of observed states (:func:`hi_widgets.observed_frame`) under an explanation.

    Attributes
    ----------
    note : ipywidgets.HTML
        Says the times are observed (class ``hi-observed-note``).
    table : FrameGrid
        The observed states (grid class ``hi-observed-table``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.note = w.HTML(
            value="<i>Follow an image set while it is LOCKED to see how long its states "
            "last, as observed.</i>"
        )
        self.note.add_class("hi-observed-note")
        self.table = FrameGrid(
            "observed state",
            grid_class="hi-observed-table",
            key_columns=("versionId", "imageSetState", "imageSetWorkflowStatus"),
            height="240px",
        )
        # Its own class: ".hi-grid-note" in the explorer's tabs is the Versions grid's.
        self.table.note.remove_class("hi-grid-note")
        self.table.note.add_class("hi-observed-grid-note")
        self.children = [self.note, self.table]
        self.add_class("hi-observe")

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show an observed frame, with the note that its times are the client's."""
        self.note.value = OBSERVED_NOTE
        self.table.set_frame(frame)
