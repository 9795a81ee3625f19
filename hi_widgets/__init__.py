"""hi_widgets: Jupyter widgets, DataFrames and plots for AWS HealthImaging version histories.

Layers, from the bottom: :mod:`~hi_widgets.client` and :mod:`~hi_widgets.ids`,
:mod:`~hi_widgets.errors`, :mod:`~hi_widgets.fetch` (and :mod:`~hi_widgets.bulk`),
:mod:`~hi_widgets.frames`, :mod:`~hi_widgets.plots`, :mod:`~hi_widgets.export`, and the
ipywidgets front ends in :mod:`~hi_widgets.widgets`. :mod:`hi_widgets.sandbox` is a local
HealthImaging-compatible server for working without an AWS account.

Public names load on first use (PEP 562), so ``import hi_widgets.sandbox`` and the
command line start without pandas, matplotlib or ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "FetchResult": "bulk",
    "FetchStats": "bulk",
    "fetch_datastore": "bulk",
    "fetch_versions": "bulk",
    "refresh": "bulk",
    "changes_frame": "changes",
    "plot_changes": "changes_plot",
    "make_client": "client",
    "DatasetWrite": "dataset",
    "export_dataset": "dataset",
    "diff_metadata": "diff",
    "diff_versions": "diff",
    "flatten_metadata": "diff",
    "AccessDeniedError": "errors",
    "ConflictError": "errors",
    "ConnectionFailedError": "errors",
    "CredentialsError": "errors",
    "HealthImagingError": "errors",
    "InternalServerError": "errors",
    "InvalidIdentifierError": "errors",
    "ResourceNotFoundError": "errors",
    "ServiceQuotaExceededError": "errors",
    "ThrottlingError": "errors",
    "UnknownServiceError": "errors",
    "ValidationError": "errors",
    "deidentify": "deid",
    "export_frame": "export",
    "read_frame": "export",
    "to_bytes": "export",
    "get_image_set": "fetch",
    "get_image_set_metadata": "fetch",
    "iter_versions": "fetch",
    "list_datastores": "fetch",
    "search_image_sets": "fetch",
    "PHI_COLUMNS": "frames",
    "image_sets_frame": "frames",
    "versions_frame": "frames",
    "fetch_versions_frame": "queries",
    "search_frame": "queries",
    "plot_activity": "plots",
    "plot_state_counts": "plots",
    "plot_version_timeline": "plots",
    "FrameCache": "preview",
    "FramePreview": "preview",
    "plot_frames": "preview",
    "preview_image_set": "preview",
    "RECORD_FIELDS": "records",
    "BatchFetcher": "widgets",
    "ImageSetExplorer": "widgets",
    "VersionBrowser": "widgets",
}

__all__ = [
    "PHI_COLUMNS",
    "RECORD_FIELDS",
    "AccessDeniedError",
    "BatchFetcher",
    "ConflictError",
    "ConnectionFailedError",
    "CredentialsError",
    "DatasetWrite",
    "FetchResult",
    "FetchStats",
    "FrameCache",
    "FramePreview",
    "HealthImagingError",
    "ImageSetExplorer",
    "InternalServerError",
    "InvalidIdentifierError",
    "ResourceNotFoundError",
    "ServiceQuotaExceededError",
    "ThrottlingError",
    "UnknownServiceError",
    "ValidationError",
    "VersionBrowser",
    "__version__",
    "changes_frame",
    "deidentify",
    "diff_metadata",
    "diff_versions",
    "export_dataset",
    "export_frame",
    "fetch_datastore",
    "fetch_versions",
    "fetch_versions_frame",
    "flatten_metadata",
    "get_image_set",
    "get_image_set_metadata",
    "image_sets_frame",
    "iter_versions",
    "list_datastores",
    "make_client",
    "plot_activity",
    "plot_changes",
    "plot_frames",
    "plot_state_counts",
    "plot_version_timeline",
    "preview_image_set",
    "read_frame",
    "refresh",
    "search_frame",
    "search_image_sets",
    "to_bytes",
    "versions_frame",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from .bulk import FetchResult, FetchStats, fetch_datastore, fetch_versions, refresh
    from .changes import changes_frame
    from .changes_plot import plot_changes
    from .client import make_client
    from .dataset import DatasetWrite, export_dataset
    from .deid import deidentify
    from .diff import diff_metadata, diff_versions, flatten_metadata
    from .errors import (
        AccessDeniedError,
        ConflictError,
        ConnectionFailedError,
        CredentialsError,
        HealthImagingError,
        InternalServerError,
        InvalidIdentifierError,
        ResourceNotFoundError,
        ServiceQuotaExceededError,
        ThrottlingError,
        UnknownServiceError,
        ValidationError,
    )
    from .export import export_frame, read_frame, to_bytes
    from .fetch import (
        get_image_set,
        get_image_set_metadata,
        iter_versions,
        list_datastores,
        search_image_sets,
    )
    from .frames import PHI_COLUMNS, image_sets_frame, versions_frame
    from .plots import plot_activity, plot_state_counts, plot_version_timeline
    from .preview import FrameCache, FramePreview, plot_frames, preview_image_set
    from .queries import fetch_versions_frame, search_frame
    from .records import RECORD_FIELDS
    from .widgets import BatchFetcher, ImageSetExplorer, VersionBrowser
