"""Small front-end pieces the ipywidgets library lacks, as anywidgets (offline, no extension).

- :class:`PageFixes` carries ``static/page.css`` (contrast, target sizes, DataTables'
  hidden header) and names the grid's keyboard input, which DataTables' KeyTable leaves
  without an accessible name (WCAG 2.2 AA); it scrolls KeyTable's focused cell into
  view, keeps a grid's rows under its header when Tab scrolls the header, and gives
  Voila's page its ``main`` landmark (see ``static/page_fixes.js`` for why each).
- :class:`WidthProbe` reports the width its container gives it, so a figure drawn in the
  kernel (the ipympl timeline) can fit the output area.
- :class:`VersionSlider` is a labelled native range input over a list of options:
  ipywidgets' slider handle has no accessible name and no label for screen readers.
- :class:`PlotImage` is a PNG with ``alt`` text: ipywidgets' ``Image`` has no ``alt``, and
  its ``tooltip`` never reaches the ``<img>`` (its view reads a ``description`` it lacks).
"""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import traitlets

__all__ = ["PageFixes", "PlotImage", "VersionSlider", "WidthProbe", "page_fixes"]

_STATIC = pathlib.Path(__file__).parent / "static"


class PageFixes(anywidget.AnyWidget):
    """An invisible widget that loads the widgets' stylesheet and fixes into the page once."""

    _esm = _STATIC / "page_fixes.js"
    _css = _STATIC / "page.css"


_PAGE_FIXES: list[PageFixes] = []


def page_fixes() -> PageFixes:
    """Return the one :class:`PageFixes` of the kernel (one model, shown by every widget).

    anywidget gives each model two seconds to initialize in the browser; one shared model
    instead of one per widget keeps a busy page's start inside that.
    """
    if not _PAGE_FIXES:
        _PAGE_FIXES.append(PageFixes())
    return _PAGE_FIXES[0]


class WidthProbe(anywidget.AnyWidget):
    """Reports its container's width in CSS pixels (``width``; 0 until shown)."""

    _esm = _STATIC / "width_probe.js"
    width = traitlets.Int(0).tag(sync=True)


class VersionSlider(anywidget.AnyWidget):
    """A slider over ``options`` (``(label, value)`` pairs) with a visible, linked label.

    It keeps the part of ``ipywidgets.SelectionSlider``'s interface the widgets use:
    ``options``, ``value`` (one of the options' values), ``description``, ``disabled``.
    The value is sent when the handle is released or a key moved it.
    """

    _esm = _STATIC / "version_slider.js"
    options = traitlets.List(traitlets.Tuple(traitlets.Unicode(), traitlets.Int())).tag(sync=True)
    value = traitlets.Int(0).tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    @traitlets.validate("value")
    def _known_value(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        values = [v for _label, v in self.options]
        if values and value not in values:
            raise traitlets.TraitError(f"value: expected one of the options' values, got {value}")
        return int(value)


class PlotImage(anywidget.AnyWidget):
    """A PNG picture (``value``, bytes) with its text alternative (``alt``).

    ``width`` (CSS pixels as text, "" for the picture's own) and ``fill`` (scale to the
    container's width) size it; it never grows wider than its container. The widget's
    CSS classes are on the ``<img>`` too.
    """

    _esm = _STATIC / "plot_image.js"
    value = traitlets.Bytes(b"").tag(sync=True)
    alt = traitlets.Unicode("").tag(sync=True)
    width = traitlets.Unicode("").tag(sync=True)
    fill = traitlets.Bool(False).tag(sync=True)
