"""Identifier fields: datastore, image set, version, with live validation and search.

Validation uses :mod:`hi_widgets.api.ids` (the same checks the data layer makes before any
request), so a message appears next to a field as soon as its value is wrong and the
owner's buttons stay disabled; no request is ever sent for a malformed identifier.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hi_widgets.api.errors import AccessDeniedError, HealthImagingError, InvalidIdentifierError
from hi_widgets.api.fetch import list_datastores
from hi_widgets.api.ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
)

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "LATEST",
    "DatastoreField",
    "IdentifierForm",
    "VersionField",
    "check_field",
]

LATEST = ""
"""Version value meaning "the latest version"."""

_ID_HINT = "32 lower-case letters and digits"


def _field_layout() -> w.Layout:
    # Wide enough for a whole 32-character id (or datastore name and id) after the label.
    return w.Layout(width="40em", max_width="100%")


def _id_text(description: str, placeholder: str, css_class: str) -> w.Text:
    """Return an identifier text field that reports every keystroke (for live checks)."""
    text = w.Text(
        value="",
        placeholder=placeholder,
        description=description,
        continuous_update=True,
        layout=_field_layout(),
    )
    text.add_class(css_class)
    return text


def check_field(field: str, value: Any) -> str | None:
    """Return a message about ``value`` for ``field``, or None when it is valid.

    Parameters
    ----------
    field
        ``"datastoreId"``, ``"imageSetId"`` or ``"versionId"`` (blank = latest).
    value
        The field's text.

    Returns
    -------
    str or None
        "Required: ..." for an empty identifier, the
        :class:`~hi_widgets.api.errors.InvalidIdentifierError` message for a malformed one.
    """
    validators: dict[str, Callable[[Any], Any]] = {
        "datastoreId": validate_datastore_id,
        "imageSetId": validate_image_set_id,
        "versionId": validate_optional_version_id,
    }
    if field != "versionId" and (value is None or not str(value).strip()):
        return f"Required: the {field} ({_ID_HINT})."
    try:
        validators[field](value)
    except InvalidIdentifierError as error:
        return error.message
    return None


def _message_widget(css: str) -> w.HTML:
    message = w.HTML(value="")
    message.add_class("hi-field-message")
    message.add_class(css)
    return message


def _show_message(widget: w.HTML, text: str | None) -> None:
    if not text:
        widget.value = ""
        return
    color = "#555" if text.startswith("Required") else "#b00020"
    widget.value = f"<span style='color:{color};font-size:90%'>{html.escape(text)}</span>"


def _on_enter(text: w.Text, callback: Callable[[], None]) -> None:
    """Call ``callback`` when Enter is pressed in ``text``.

    The ipywidgets 8 front end sends a ``{"event": "submit"}`` message on Enter;
    ``Text.on_submit`` is deprecated, so this listens for the message itself and keeps
    ``continuous_update=True`` for live validation.
    """

    def handler(_widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        if isinstance(content, Mapping) and content.get("event") == "submit":
            callback()

    text.on_msg(handler)


class DatastoreField:
    """A datastore chooser: a dropdown of ListDatastores, or free text when not allowed.

    Both widgets carry the CSS class ``hi-datastore``; only one is on screen.

    Attributes
    ----------
    box : ipywidgets.HBox
        The field and its validation message.
    dropdown : ipywidgets.Dropdown
        "name (id)" labels, ids as values.
    text : ipywidgets.Text
        Free text.
    """

    def __init__(self, on_change: Callable[[], object], on_submit: Callable[[], None]) -> None:
        self.dropdown = w.Dropdown(options=[], description="Datastore", layout=_field_layout())
        self.dropdown.add_class("hi-datastore")
        self.text = _id_text("Datastore", _ID_HINT, "hi-datastore")
        self.message = _message_widget("hi-datastore-message")
        self.note = w.HTML(value="")
        self.note.add_class("hi-datastore-note")
        self.box = w.HBox([self.text, self.message, self.note])
        self.dropdown.observe(lambda _c: on_change(), names="value")
        self.text.observe(lambda _c: on_change(), names="value")
        _on_enter(self.text, on_submit)

    @property
    def uses_dropdown(self) -> bool:
        """True when the dropdown (not free text) is on screen."""
        return self.box.children[0] is self.dropdown

    @property
    def value(self) -> str:
        """The datastore id shown ("" when none)."""
        if self.uses_dropdown:
            return self.dropdown.value or ""
        result: str = self.text.value
        return result

    @value.setter
    def value(self, datastore_id: str) -> None:
        ids = [v for _label, v in self.dropdown.options]
        if self.uses_dropdown and datastore_id in ids:
            self.dropdown.value = datastore_id
        else:
            self.use_text()
            self.text.value = datastore_id

    def use_dropdown(self, summaries: Sequence[Mapping[str, Any]]) -> None:
        """Offer these datastores (ListDatastores summaries) in the dropdown."""
        current = self.value
        options = [
            (f"{s.get('datastoreName') or '(no name)'} ({s['datastoreId']})", s["datastoreId"])
            for s in summaries
        ]
        self.dropdown.options = options
        ids = [v for _label, v in options]
        if ids:
            self.dropdown.value = current if current in ids else ids[0]
        self.box.children = (self.dropdown, self.message, self.note)
        self.note.value = ""

    def use_text(self, note: str = "") -> None:
        """Switch to free text, optionally with a note saying why."""
        if self.uses_dropdown:
            self.text.value = self.dropdown.value or self.text.value
        self.box.children = (self.text, self.message, self.note)
        self.note.value = (
            f"<span style='color:#555;font-size:90%'>{html.escape(note)}</span>" if note else ""
        )

    def load(self, client: HealthImagingClient) -> list[dict[str, Any]]:
        """List datastores (blocking) and fill the dropdown; fall back to text if denied.

        Returns
        -------
        list of dict
            The summaries (empty when listing was denied).

        Raises
        ------
        HealthImagingError
            For failures other than AccessDenied (the field falls back to text first).
        """
        try:
            summaries = list_datastores(client)
        except AccessDeniedError:
            self.use_text("Listing datastores is not allowed for these credentials: type the id.")
            return []
        except HealthImagingError:
            self.use_text("Could not list datastores: type the id.")
            raise
        if summaries:
            self.use_dropdown(summaries)
        else:
            self.use_text("No datastores found: type an id.")
        return summaries


class VersionField:
    """A version chooser: text (blank = latest), then a dropdown once versions are known.

    Both widgets carry the CSS class ``hi-version``; only one is on screen.
    """

    def __init__(self, on_change: Callable[[], None], on_submit: Callable[[], None]) -> None:
        self.text = _id_text("Version", "latest", "hi-version")
        self.dropdown = w.Dropdown(
            options=[("latest", LATEST)],
            value=LATEST,
            description="Version",
            layout=_field_layout(),
        )
        self.dropdown.add_class("hi-version")
        self.message = _message_widget("hi-version-message")
        self.box = w.HBox([self.text, self.message])
        self.text.observe(lambda _c: on_change(), names="value")
        self.dropdown.observe(lambda _c: on_change(), names="value")
        _on_enter(self.text, on_submit)
        self.known_for: tuple[str, str] | None = None

    @property
    def uses_dropdown(self) -> bool:
        """True when the dropdown is on screen."""
        return self.box.children[0] is self.dropdown

    @property
    def value(self) -> str:
        """The version text ("" for latest)."""
        result: str = self.dropdown.value if self.uses_dropdown else self.text.value
        return result

    @value.setter
    def value(self, version: str | int | None) -> None:
        text = "" if version is None else str(version)
        values = [v for _label, v in self.dropdown.options]
        if self.uses_dropdown and text in values:
            self.dropdown.value = text
        else:
            self.use_text()
            self.text.value = text

    def use_versions(self, numbers: Sequence[int], key: tuple[str, str] | None = None) -> None:
        """Offer these version numbers (newest first) with "latest" on top."""
        current = self.value.strip()
        options = [("latest", LATEST)] + [(str(n), str(n)) for n in sorted(numbers, reverse=True)]
        self.dropdown.options = options
        self.dropdown.value = current if current in [v for _l, v in options] else LATEST
        self.box.children = (self.dropdown, self.message)
        self.known_for = key

    def use_text(self) -> None:
        """Back to free text (e.g. when the image set changed)."""
        if self.uses_dropdown:
            self.text.value = self.dropdown.value
            self.box.children = (self.text, self.message)
        self.known_for = None


class IdentifierForm(w.VBox):
    """Datastore, image set and version fields with validation messages beside them.

    Parameters
    ----------
    on_change
        Called with ``valid`` (bool) after every change.
    on_submit
        Called when Enter is pressed in a text field and the form is valid.
    """

    def __init__(
        self,
        on_change: Callable[[bool], None] | None = None,
        on_submit: Callable[[], None] | None = None,
    ) -> None:
        self._on_change = on_change
        self._on_submit = on_submit
        self.datastore = DatastoreField(self._changed, self._submitted)
        self.image_set = _id_text("Image set", _ID_HINT, "hi-image-set")
        self.image_set_message = _message_widget("hi-image-set-message")
        self.image_set.observe(lambda _c: self._changed(), names="value")
        _on_enter(self.image_set, self._submitted)
        self.version = VersionField(self._changed, self._submitted)
        self.errors: dict[str, str | None] = {}
        super().__init__(
            [
                self.datastore.box,
                w.HBox([self.image_set, self.image_set_message]),
                self.version.box,
            ]
        )
        self.add_class("hi-identifiers")
        self.validate()

    def _changed(self) -> None:
        # Known versions belong to one image set: forget them when it changes.
        key = (self.datastore.value.strip(), self.image_set.value.strip())
        if self.version.known_for is not None and self.version.known_for != key:
            self.version.use_text()
        valid = self.validate()
        if self._on_change is not None:
            self._on_change(valid)

    def _submitted(self) -> None:
        if self.validate() and self._on_submit is not None:
            self._on_submit()

    def validate(self) -> bool:
        """Check every field, show messages next to the fields, return True if all valid."""
        self.errors = {
            "datastoreId": check_field("datastoreId", self.datastore.value),
            "imageSetId": check_field("imageSetId", self.image_set.value),
            "versionId": check_field("versionId", self.version.value),
        }
        _show_message(self.datastore.message, self.errors["datastoreId"])
        _show_message(self.image_set_message, self.errors["imageSetId"])
        _show_message(self.version.message, self.errors["versionId"])
        return self.valid

    @property
    def valid(self) -> bool:
        """True when every field holds a valid value."""
        return not any(self.errors.values())

    def values(self) -> tuple[str, str, str | None]:
        """Return ``(datastore_id, image_set_id, version_id or None)``, validated.

        Raises
        ------
        InvalidIdentifierError
            If a field is invalid.
        """
        return (
            validate_datastore_id(self.datastore.value),
            validate_image_set_id(self.image_set.value),
            validate_optional_version_id(self.version.value),
        )
