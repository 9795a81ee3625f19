"""ipywidgets front ends: ImageSetExplorer, VersionBrowser and BatchFetcher.

The widgets are thin: each action calls a plain function of the data layer
(:mod:`hi_widgets.fetch`, :mod:`hi_widgets.frames`, :mod:`hi_widgets.plots`,
:mod:`hi_widgets.export`, :mod:`hi_widgets.diff`) in a background thread.
"""

from .batch import BatchFetcher
from .explorer import ImageSetExplorer
from .version_browser import VersionBrowser

__all__ = ["BatchFetcher", "ImageSetExplorer", "VersionBrowser"]
