"""The search panel: SearchImageSets criteria with their operators, and the results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
import pandas as pd

from hi_widgets.widgets._grid import FrameGrid

__all__ = ["DATE_FIELDS", "RESULT_COLUMNS", "SearchPanel"]

RESULT_COLUMNS = ("imageSetId", "versionId", "createdAt", "updatedAt", "isPrimary")
"""What the results grid shows: no DICOM tag (they carry patient data)."""


DATE_FIELDS = {"Created": "created", "Updated": "updated"}
"""Date fields SearchImageSets filters with BETWEEN: the choice's label to its keyword."""


class SearchPanel(w.VBox):
    """Search criteria and results; choosing a result fills the image set field.

    The fields name the operator SearchImageSets applies: identifiers match exactly
    (EQUAL), dates are a range (BETWEEN). The results grid shows image set ids, versions,
    states and times only: no patient data is put in widget state (the whole frame,
    with its DICOM tags, is :attr:`frame`, a Python attribute).

    CSS class ``hi-search`` on the panel; the button is ``hi-search-button`` and the
    results grid ``hi-search-results`` (select a row to pick it).

    Parameters
    ----------
    on_pick
        Called with the image set id the user chose.
    """

    def __init__(self, on_pick: Callable[[str], None]) -> None:
        self._on_pick = on_pick
        style = {"description_width": "11em"}
        wide = w.Layout(width="30em", max_width="100%")

        def text(description: str, css: str, placeholder: str = "exact value") -> w.Text:
            field = w.Text(description=description, placeholder=placeholder, style=style)
            field.layout = wide
            field.add_class(css)
            return field

        self.patient_id = text("Patient ID =", "hi-search-patient-id")
        self.accession_number = text("Accession number =", "hi-search-accession")
        self.study_instance_uid = text("Study UID =", "hi-search-study-uid")
        self.series_instance_uid = text("Series UID =", "hi-search-series-uid")
        self.study_id = text("Study ID =", "hi-search-study-id")
        self.date_field = w.Dropdown(
            options=list(DATE_FIELDS.items()),
            value="created",
            description="Date",
            style=style,
            layout=w.Layout(width="20em"),
        )
        self.date_field.add_class("hi-search-date-field")
        self.date_from = w.DatePicker(description="between", style={"description_width": "5em"})
        self.date_to = w.DatePicker(description="and", style={"description_width": "3em"})
        for widget, css in (
            (self.date_from, "hi-search-from"),
            (self.date_to, "hi-search-to"),
        ):
            widget.add_class(css)
        self.button = w.Button(
            description="Search",
            icon="search",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.button.add_class("hi-search-button")
        self.results = FrameGrid(
            "image set",
            grid_class="hi-search-results",
            key_columns=RESULT_COLUMNS,
            height="220px",
            select=True,
        )
        self.count = self.results.count
        self.results.on_select(self._picked)
        self.frame: pd.DataFrame | None = None
        help_text = w.HTML(
            "<div class='hi-search-help' style='white-space:normal;line-height:1.4'>"
            "<small>Identifiers match <b>exactly</b> (operator EQUAL): <code>DEMO</code> "
            "finds patient ID <code>DEMO</code> only, not <code>DEMO-0001</code>. Dates "
            "are a range of whole UTC days (operator BETWEEN, both days included). At "
            "most two criteria (SearchImageSets' limit).</small></div>"
        )
        super().__init__(
            [
                help_text,
                w.HBox([self.patient_id, self.accession_number], layout=_wrap()),
                w.HBox([self.study_instance_uid, self.series_instance_uid], layout=_wrap()),
                w.HBox([self.study_id], layout=_wrap()),
                w.HBox([self.date_field, self.date_from, self.date_to], layout=_wrap()),
                w.HBox([self.button]),
                self.results,
            ]
        )
        self.add_class("hi-search")

    def criteria(self) -> dict[str, Any]:
        """Keyword arguments for :func:`fetch_image_sets` from the fields."""
        field = self.date_field.value
        return {
            "patient_id": self.patient_id.value.strip() or None,
            "accession_number": self.accession_number.value.strip() or None,
            "study_instance_uid": self.study_instance_uid.value.strip() or None,
            "series_instance_uid": self.series_instance_uid.value.strip() or None,
            "study_id": self.study_id.value.strip() or None,
            f"{field}_between": (self.date_from.value, self.date_to.value),
        }

    def set_results(self, frame: pd.DataFrame | None) -> None:
        """Show search results (call from any thread); None clears them."""
        self.frame = frame
        shown = None if frame is None else frame[[c for c in RESULT_COLUMNS if c in frame]]
        self.results.set_frame(shown)
        if frame is None:
            self.count.value = ""

    def _picked(self, change: Mapping[str, Any]) -> None:
        shown = self.results.frame
        if change["new"] and shown is not None and change["new"][0] < len(shown):
            self._on_pick(str(shown["imageSetId"].iloc[change["new"][0]]))


def _wrap() -> w.Layout:
    # Fields wrap onto the next line in a narrow notebook rather than being cut off.
    return w.Layout(flex_flow="row wrap")
