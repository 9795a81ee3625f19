"""ipywidgets front ends: ImageSetExplorer, VersionBrowser and BatchFetcher.

The widgets are thin: each action calls a plain function of the data layer
(:mod:`hi_widgets.api.fetch`, :mod:`hi_widgets.api.tables`, :mod:`hi_widgets.plots.timeline`,
:mod:`hi_widgets.export.files`, :mod:`hi_widgets.changes.diff`) in a background thread.
"""

from hi_widgets.widgets.batch import BatchFetcher
from hi_widgets.widgets.explorer import ImageSetExplorer
from hi_widgets.widgets.version_browser import VersionBrowser

__all__ = ["BatchFetcher", "ImageSetExplorer", "VersionBrowser"]
