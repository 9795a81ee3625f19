"""hi_widgets: Jupyter widgets, DataFrames and plots for AWS HealthImaging version histories.

Layers, from the bottom: :mod:`~hi_widgets.api.client` and :mod:`~hi_widgets.api.ids`,
:mod:`~hi_widgets.api.errors`, :mod:`~hi_widgets.api.fetch` (and :mod:`~hi_widgets.bulk`),
:mod:`~hi_widgets.api.tables`, :mod:`~hi_widgets.plots`, :mod:`~hi_widgets.export.files`, and the
ipywidgets front ends in :mod:`~hi_widgets.widgets`. :mod:`hi_widgets.sandbox` is a local
HealthImaging-compatible server for working without an AWS account.

Public names load on first use (PEP 562), so ``import hi_widgets.sandbox`` and the
command line start without pandas, matplotlib or ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hi_widgets._version import __version__

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "FetchResult": "bulk",
    "FetchStats": "bulk",
    "RequestProcesses": "bulk",
    "StreamedDataset": "bulk",
    "fetch_datastore": "bulk",
    "fetch_versions": "bulk",
    "refresh": "bulk",
    "SyncResult": "bulk",
    "sync_datastore": "bulk",
    "fetch_changes": "changes.log",
    "plot_changes": "plots.changes",
    "make_client": "api.client",
    "Progress": "api.progress",
    "DatasetWrite": "export.dataset",
    "export_dataset": "export.dataset",
    "diff_metadata": "changes.diff",
    "diff_versions": "changes.diff",
    "flatten_metadata": "changes.diff",
    "AccessDeniedError": "api.errors",
    "ConflictError": "api.errors",
    "ConnectionFailedError": "api.errors",
    "CredentialsError": "api.errors",
    "HealthImagingError": "api.errors",
    "InternalServerError": "api.errors",
    "InvalidIdentifierError": "api.errors",
    "ResourceNotFoundError": "api.errors",
    "ServiceQuotaExceededError": "api.errors",
    "ThrottlingError": "api.errors",
    "UnknownServiceError": "api.errors",
    "ValidationError": "api.errors",
    "deidentify": "export.deid",
    "export_frame": "export.files",
    "read_frame": "export.files",
    "to_bytes": "export.files",
    "get_image_set": "api.fetch",
    "get_image_set_metadata": "api.fetch",
    "iter_versions": "api.fetch",
    "list_datastores": "api.fetch",
    "search_image_sets": "api.fetch",
    "PHI_COLUMNS": "export.deid",
    "image_sets_frame": "api.tables",
    "versions_frame": "api.tables",
    "fetch_history": "api.queries",
    "fetch_image_sets": "api.queries",
    "plot_activity": "plots.counts",
    "plot_state_counts": "plots.counts",
    "plot_version_timeline": "plots.timeline",
    "plot_failure_reasons": "plots.imports",
    "plot_import_jobs": "plots.imports",
    "ImageFrameCache": "images.preview",
    "ImagePreview": "images.preview",
    "plot_previews": "plots.images",
    "preview_image_set": "images.preview",
    "RECORD_FIELDS": "api.records",
    "ImageSetRecord": "api.records",
    "iter_observations": "api.observe",
    "IMPORT_JOB_COLUMNS": "api.import_jobs",
    "fetch_import_jobs": "api.import_jobs",
    "get_import_job": "api.import_jobs",
    "import_jobs_frame": "api.import_jobs",
    "ImportOutcomes": "api.import_outcomes",
    "ImportOutputError": "api.import_outcomes",
    "failure_reasons": "api.import_outcomes",
    "fetch_import_outcomes": "api.import_outcomes",
    "import_files_frame": "api.import_outcomes",
    "observed_frame": "api.observe",
    "BatchFetcher": "widgets",
    "ImageSetExplorer": "widgets",
    "VersionBrowser": "widgets",
}

__all__ = [
    "IMPORT_JOB_COLUMNS",
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
    "HealthImagingError",
    "ImageFrameCache",
    "ImagePreview",
    "ImageSetExplorer",
    "ImageSetRecord",
    "ImportOutcomes",
    "ImportOutputError",
    "InternalServerError",
    "InvalidIdentifierError",
    "Progress",
    "RequestProcesses",
    "ResourceNotFoundError",
    "ServiceQuotaExceededError",
    "StreamedDataset",
    "SyncResult",
    "ThrottlingError",
    "UnknownServiceError",
    "ValidationError",
    "VersionBrowser",
    "__version__",
    "deidentify",
    "diff_metadata",
    "diff_versions",
    "export_dataset",
    "export_frame",
    "failure_reasons",
    "fetch_changes",
    "fetch_datastore",
    "fetch_history",
    "fetch_image_sets",
    "fetch_import_jobs",
    "fetch_import_outcomes",
    "fetch_versions",
    "flatten_metadata",
    "get_image_set",
    "get_image_set_metadata",
    "get_import_job",
    "image_sets_frame",
    "import_files_frame",
    "import_jobs_frame",
    "iter_observations",
    "iter_versions",
    "list_datastores",
    "make_client",
    "observed_frame",
    "plot_activity",
    "plot_changes",
    "plot_failure_reasons",
    "plot_import_jobs",
    "plot_previews",
    "plot_state_counts",
    "plot_version_timeline",
    "preview_image_set",
    "read_frame",
    "refresh",
    "search_image_sets",
    "sync_datastore",
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
    from hi_widgets.api.client import make_client
    from hi_widgets.api.errors import (
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
    from hi_widgets.api.fetch import (
        get_image_set,
        get_image_set_metadata,
        iter_versions,
        list_datastores,
        search_image_sets,
    )
    from hi_widgets.api.import_jobs import (
        IMPORT_JOB_COLUMNS,
        fetch_import_jobs,
        get_import_job,
        import_jobs_frame,
    )
    from hi_widgets.api.import_outcomes import (
        ImportOutcomes,
        ImportOutputError,
        failure_reasons,
        fetch_import_outcomes,
        import_files_frame,
    )
    from hi_widgets.api.observe import iter_observations, observed_frame
    from hi_widgets.api.progress import Progress
    from hi_widgets.api.queries import fetch_history, fetch_image_sets
    from hi_widgets.api.records import RECORD_FIELDS, ImageSetRecord
    from hi_widgets.api.tables import image_sets_frame, versions_frame
    from hi_widgets.bulk import (
        FetchResult,
        FetchStats,
        RequestProcesses,
        StreamedDataset,
        SyncResult,
        fetch_datastore,
        fetch_versions,
        refresh,
        sync_datastore,
    )
    from hi_widgets.changes.diff import diff_metadata, diff_versions, flatten_metadata
    from hi_widgets.changes.log import fetch_changes
    from hi_widgets.export.dataset import DatasetWrite, export_dataset
    from hi_widgets.export.deid import PHI_COLUMNS, deidentify
    from hi_widgets.export.files import export_frame, read_frame, to_bytes
    from hi_widgets.images.preview import ImageFrameCache, ImagePreview, preview_image_set
    from hi_widgets.plots.changes import plot_changes
    from hi_widgets.plots.counts import plot_activity, plot_state_counts
    from hi_widgets.plots.images import plot_previews
    from hi_widgets.plots.imports import plot_failure_reasons, plot_import_jobs
    from hi_widgets.plots.timeline import plot_version_timeline
    from hi_widgets.widgets import BatchFetcher, ImageSetExplorer, VersionBrowser
