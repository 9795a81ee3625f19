"""hi_widgets: Jupyter widgets, DataFrames and plots for AWS HealthImaging version histories.

Layers, from the bottom: :mod:`~hi_widgets.client` and :mod:`~hi_widgets.ids`,
:mod:`~hi_widgets.errors`, :mod:`~hi_widgets.fetch` (and :mod:`~hi_widgets.bulk`),
:mod:`~hi_widgets.frames`, :mod:`~hi_widgets.plots`, :mod:`~hi_widgets.export`, and the
ipywidgets front ends in :mod:`~hi_widgets.widgets`. :mod:`hi_widgets.sandbox` is a local
HealthImaging-compatible server for working without an AWS account.
"""

from ._version import __version__
from .bulk import FetchResult, FetchStats, fetch_versions, refresh
from .client import make_client
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
from .records import RECORD_FIELDS
from .widgets import BatchFetcher, ImageSetExplorer, VersionBrowser

__all__ = [
    "PHI_COLUMNS",
    "RECORD_FIELDS",
    "AccessDeniedError",
    "BatchFetcher",
    "ConflictError",
    "ConnectionFailedError",
    "CredentialsError",
    "FetchResult",
    "FetchStats",
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
    "diff_metadata",
    "diff_versions",
    "export_frame",
    "fetch_versions",
    "flatten_metadata",
    "get_image_set",
    "get_image_set_metadata",
    "image_sets_frame",
    "iter_versions",
    "list_datastores",
    "make_client",
    "plot_activity",
    "plot_state_counts",
    "plot_version_timeline",
    "read_frame",
    "refresh",
    "search_image_sets",
    "to_bytes",
    "versions_frame",
]
